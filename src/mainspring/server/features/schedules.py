"""Schedules: workflows started at due times (``schedule_times``), Temporal's model.

Each schedule is one row of the store (``Store.create_schedule``...): its spec, action, policy and state as the
user gave them, and what it has done (``info``): its counts, the runs it started, the due times it buffered,
and ``last_time``, the latest due time it has dealt with. The server keeps no other state of its own: at start it
reads every schedule and sets a reminder on the engine's timer wheel for its next due time (so the
time-skipping test clock skips to it), and a reminder that finds nothing due does nothing.

Exactly once per due time: a run's workflow id is the action's id followed by the due time (``daily-
2026-12-03T10:00:00Z``), started with id_reuse_policy REJECT_DUPLICATE and a request id of its own. A server
that started a run and stopped before it recorded ``last_time`` deals with that time again after a restart, and
the start meets the run it made (running or closed): it is recorded, not started twice. Due times missed while
the server was down run when it is back if they are within the catch-up window; older ones are counted in
``num_actions_missed_catchup_window`` and skipped.

Overlap (``policy.overlap``) is decided against the runs the schedule started that still run (read from the
engine, following a run to the one that continued it). The engine says when one of them closes
(``on_commit``), and the schedule looks again: a buffered time starts then, and ``pause_on_failure`` pauses
the schedule if it failed or timed out.

Each run carries the action's memo and search attributes, and Temporal's built-ins of a scheduled run:
``TemporalScheduledById`` (the schedule's id) and ``TemporalScheduledStartTime`` (the time that was due), so
``TemporalScheduledById = 'daily'`` lists its runs (a trigger's or a backfill's too).

Every change is a conditional write on the row's version, made under a lock of the schedule's in this server;
a write that lost to another server's is made again from the stored row (the starts it made are idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ... import _search_attributes as sa
from ...api import models as m
from ...api.enums import WorkflowIDReusePolicy, WorkflowStatus
from ...api.schedules import (
    BackfillModel,
    CreateScheduleRequest,
    PatchScheduleRequest,
    ScheduleModel,
    ScheduleOverlapPolicy,
    UpdateScheduleRequest,
)
from ...errors import AlreadyStartedError, InvalidArgumentError, NotFoundError, RPCError
from ...storage import StorageError, StoredSchedule
from .schedule_times import DueTimes, rfc3339
from .search_attributes import SearchAttributes

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._execution import Effects, Execution
    from .cancellation import Cancellation

__all__ = ["Schedules"]

log = logging.getLogger("mainspring.server.schedules")

#: How many recent actions describe shows (Temporal keeps 10).
_RECENT = 10
#: How many next times describe shows.
_NEXT = 10
#: How many due times one look deals with; more (a per-second schedule after a long downtime) are dealt with
#: by the next look, at once.
_BATCH = 1000
#: How many times a backfill may start at once.
_MAX_BACKFILL = 1000
#: How long after a failed start (the store failed) the schedule tries again.
_RETRY = 5.0
_ATTEMPTS = 5
#: The closes ``pause_on_failure`` pauses on (Temporal's: a failure or a timeout).
_FAILED = frozenset({WorkflowStatus.FAILED, WorkflowStatus.TIMED_OUT})

Key = tuple[str, str]


class Start(Protocol):
    """Starts a run through the engine's start path (``Engine._start``), with built-in search attributes."""

    def __call__(
        self, namespace: str, req: m.StartWorkflowRequest, *, system_attributes: dict[str, list[Any]] | None = None
    ) -> Awaitable[tuple[str, bool]]: ...


def _new_info(now: float) -> dict[str, Any]:
    return {
        "num_actions": 0,
        "num_actions_missed_catchup_window": 0,
        "num_actions_skipped_overlap": 0,
        "running_actions": [],
        "recent_actions": [],
        "buffered": [],
        "created_at": now,
        "last_updated_at": None,
        "last_time": now,
        # The user's changes (create, update, pause...), not the scheduler's writes: update's conflict token.
        "revision": 1,
    }


class Schedules:
    """The scheduler: the schedule operations, and firing due schedules on the engine's timer wheel."""

    def __init__(self, core: EngineCore, start: Start, cancellation: Cancellation) -> None:
        self.core = core
        self._start = start
        self.cancellation = cancellation
        #: Each schedule's reminder generation: a reminder of an older one is stale, and does nothing.
        self._generation: dict[Key, int] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        #: The runs schedules started that were running when last looked at: their close wakes the schedule.
        self._by_run: dict[str, Key] = {}
        core.on_commit(self._on_commit)
        core.features[Schedules] = self

    # --- start, reminders -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read every schedule and arm its reminder (each looks at once: a restart catches up)."""
        for row in await self.core.store.list_schedules(None):
            key = (row.namespace, row.schedule_id)
            self._remind(key, self.core.clock.now())
        count = len(self._generation)
        if count:
            log.info("loaded %d schedules", count)

    def _remind(self, key: Key, when: float) -> None:
        generation = self._generation.get(key, 0) + 1
        self._generation[key] = generation
        self.core.timers.schedule(when, self._fire, key, generation)

    async def _fire(self, key: Key, generation: int) -> None:
        if self._generation.get(key) != generation or self.core.stopping:
            return
        await self._change(key, None)

    def _on_commit(self, ex: Execution, fx: Effects) -> None:
        if fx.closed:
            key = self._by_run.pop(ex.record.run_id, None)
            if key is not None and key in self._generation:
                self._remind(key, self.core.clock.now())

    # --- the operations -------------------------------------------------------------------------------------

    async def create(self, namespace: str, req: CreateScheduleRequest) -> dict[str, Any]:
        self.core.check_namespace(namespace)
        now = self.core.clock.now()
        times = self._times(req.schedule)
        await self._check_action(namespace, req.schedule)
        doc = {"schedule": req.schedule.model_dump(mode="json"), "info": _new_info(now)}
        row = StoredSchedule(namespace, req.schedule_id, json.dumps(doc), 1)
        if not await self.core.store.create_schedule(row):
            raise AlreadyStartedError(
                f"schedule {req.schedule_id!r} already exists in namespace {namespace!r}: delete it first, or "
                "update it",
                code="schedule_already_running",
                details={"schedule_id": req.schedule_id},
            )
        key = (namespace, req.schedule_id)
        self._generation.setdefault(key, 0)
        nxt = times.next_after(now)
        if nxt is not None:
            self._remind(key, nxt + times.jitter_of(req.schedule_id, nxt))
        return self._describe(row, doc)

    async def _check_action(self, namespace: str, schedule: ScheduleModel) -> None:
        """Refuse an action no run could start with: its input too large, a search attribute unknown or of
        another type (400 naming it), so the schedule is not saved to fail at each time."""
        self.core._check_payload("the schedule's workflow input", schedule.action.input)
        if schedule.action.memo is not None:
            self.core._check_payload("the schedule's workflow memo", schedule.action.memo)
        await self.core.feature(SearchAttributes).at_start(namespace, schedule.action.search_attributes)

    async def describe(self, namespace: str, schedule_id: str) -> dict[str, Any]:
        row = await self._row((namespace, schedule_id))
        return self._describe(row, json.loads(row.body))

    async def list_all(self, namespace: str, *, page_size: int = 1000, page_token: str | None = None) -> dict[str, Any]:
        """A page of the namespace's schedules, by id, each described; the token of the next page (the last id
        given, so that schedules made or deleted meanwhile neither repeat nor hide others)."""
        self.core.check_namespace(namespace)
        rows = await self.core.store.list_schedules(namespace, after=page_token or "", limit=page_size + 1)
        more = len(rows) > page_size
        rows = rows[:page_size]
        return {
            "schedules": [self._describe(r, json.loads(r.body)) for r in rows],
            "next_page_token": rows[-1].schedule_id if more and rows else None,
        }

    async def update(self, namespace: str, req: UpdateScheduleRequest) -> dict[str, Any]:
        self._times(req.schedule)
        await self._check_action(namespace, req.schedule)

        def change(doc: dict[str, Any], version: int, now: float) -> None:
            revision = doc["info"].get("revision", 1)
            if req.conflict_token is not None and req.conflict_token != revision:
                raise AlreadyStartedError(
                    f"schedule {req.schedule_id!r} changed since it was described (conflict token "
                    f"{req.conflict_token}, now {revision}): describe it again and make the update on that",
                    code="schedule_conflict",
                )
            doc["schedule"] = req.schedule.model_dump(mode="json")
            info = doc["info"]
            info["last_updated_at"] = now
            # The new spec's times from now on: the old spec's missed times are not the new one's to catch up.
            info["last_time"] = max(info["last_time"], now)

        return await self._change((namespace, req.schedule_id), change)

    async def patch(self, namespace: str, req: PatchScheduleRequest) -> dict[str, Any]:
        def change(doc: dict[str, Any], version: int, now: float) -> None:
            state = doc["schedule"]["state"]
            info = doc["info"]
            if req.pause is not None:
                state["paused"], state["note"] = True, req.pause or "paused"
            if req.unpause is not None:
                state["paused"], state["note"] = False, req.unpause or "unpaused"
                # Times that passed while paused are not caught up (Temporal's rule).
                info["last_time"] = max(info["last_time"], now)
            if req.trigger:
                overlap = req.trigger_overlap or doc["schedule"]["policy"]["overlap"]
                info["buffered"].append({"at": float(int(now)), "overlap": overlap, "manual": True})
            for b in req.backfill:
                info["buffered"] += self._backfill(doc, b)

        return await self._change((namespace, req.schedule_id), change)

    async def delete(self, namespace: str, schedule_id: str) -> dict[str, Any]:
        key = (namespace, schedule_id)
        async with self._lock(key):
            await self._row(key)
            await self.core.store.delete_schedule(namespace, schedule_id)
            self._generation.pop(key, None)
            self._locks.pop(key, None)
            for run_id in [r for r, k in self._by_run.items() if k == key]:
                del self._by_run[run_id]
        return {"ok": True}

    # --- reading and writing ----------------------------------------------------------------------------------

    def _times(self, schedule: ScheduleModel) -> DueTimes:
        times = DueTimes(schedule.spec)
        times.check_fires(self.core.clock.now())
        return times

    def _backfill(self, doc: dict[str, Any], b: BackfillModel) -> list[dict[str, Any]]:
        if b.end_at < b.start_at:
            raise InvalidArgumentError(
                f"backfill end_at ({rfc3339(b.end_at)}) is before its start_at ({rfc3339(b.start_at)})",
                code="invalid_schedule",
            )
        times = DueTimes(ScheduleModel.model_validate(doc["schedule"]).spec)
        overlap = b.overlap or doc["schedule"]["policy"]["overlap"]
        out: list[dict[str, Any]] = []
        t = b.start_at - 1e-6
        while True:
            nxt = times.next_after(t)
            if nxt is None or nxt > b.end_at:
                return out
            if len(out) >= _MAX_BACKFILL:
                raise InvalidArgumentError(
                    f"the backfill holds more than {_MAX_BACKFILL} due times: backfill a shorter span at a time",
                    code="invalid_schedule",
                )
            out.append({"at": nxt, "overlap": overlap, "manual": True})
            t = nxt

    def _lock(self, key: Key) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _row(self, key: Key) -> StoredSchedule:
        self.core.check_namespace(key[0])
        row = await self.core.store.get_schedule(*key)
        if row is None:
            raise NotFoundError(f"schedule {key[1]!r} not found in namespace {key[0]!r}", code="schedule_not_found")
        return row

    async def _change(self, key: Key, change: Callable[[dict[str, Any], int, float], None] | None) -> dict[str, Any]:
        """Apply ``change`` (None: only look whether something is due), act on what is due, write the row on the
        condition of its version (again from the stored row if another server wrote it meanwhile), and set the
        next reminder. The answer is the schedule's description."""
        async with self._lock(key):
            for _ in range(_ATTEMPTS):
                try:
                    row = await self._row(key)
                except NotFoundError:
                    if change is None:  # deleted (by another server): its reminders stop
                        self._generation.pop(key, None)
                        return {}
                    raise
                doc = json.loads(row.body)
                now = self.core.clock.now()
                if change is not None:
                    change(doc, row.version, now)
                    doc["info"]["revision"] = doc["info"].get("revision", 1) + 1
                again = await self._act(key, doc, now)
                new = StoredSchedule(row.namespace, row.schedule_id, json.dumps(doc), row.version + 1)
                if await self.core.store.update_schedule(new, row.version):
                    self._arm(key, doc, again)
                    return self._describe(new, doc)
            raise StorageError(f"schedule {key[1]!r} kept being changed by another server: try again")

    def _arm(self, key: Key, doc: dict[str, Any], again: float | None) -> None:
        """Set the schedule's next reminder: at ``again`` if given, else at its next due time."""
        info = doc["info"]
        for r in info["running_actions"]:
            self._by_run[r["run_id"]] = key
        if again is not None:
            self._remind(key, again)
            return
        times = DueTimes(ScheduleModel.model_validate(doc["schedule"]).spec)
        nxt = times.next_after(info["last_time"])
        if nxt is not None:
            self._remind(key, nxt + times.jitter_of(key[1], nxt))

    # --- acting ---------------------------------------------------------------------------------------------

    async def _act(self, key: Key, doc: dict[str, Any], now: float) -> float | None:
        """Deal with what is due at ``now``: the buffered times, then the spec's times since ``last_time``.
        When to look again if sooner than the next due time: now if more times are due than one look deals
        with, soon if a start failed for a reason that passes (the store); else None."""
        schedule = ScheduleModel.model_validate(doc["schedule"])
        info = doc["info"]
        state = doc["schedule"]["state"]
        await self._refresh(key, schedule, doc)
        times = DueTimes(schedule.spec)
        stopped = state["paused"] or (state["limited_actions"] and state["remaining_actions"] <= 0)
        due: list[dict[str, Any]] = []
        again: float | None = None
        for _ in range(_BATCH):
            nxt = times.next_after(info["last_time"])
            if nxt is None or nxt + times.jitter_of(key[1], nxt) > now:
                break
            info["last_time"] = nxt
            if stopped:
                continue  # paused: the time passes without an action
            if now - nxt > schedule.policy.catchup_window:
                info["num_actions_missed_catchup_window"] += 1
                continue
            due.append({"at": nxt, "overlap": schedule.policy.overlap.value, "manual": False})
        else:
            again = now  # more are due: the next look deals with them
        waiting: list[dict[str, Any]] = []
        for item in [*info["buffered"], *due]:
            if state["limited_actions"] and state["remaining_actions"] <= 0:
                break
            if state["paused"] and not item["manual"]:
                continue
            policy = ScheduleOverlapPolicy(item["overlap"])
            running = info["running_actions"]
            if running and policy is not ScheduleOverlapPolicy.ALLOW_ALL:
                if policy is ScheduleOverlapPolicy.SKIP:
                    info["num_actions_skipped_overlap"] += 1
                    continue
                if policy is ScheduleOverlapPolicy.BUFFER_ALL:
                    waiting.append(item)
                    continue
                if policy in (ScheduleOverlapPolicy.BUFFER_ONE, ScheduleOverlapPolicy.CANCEL_OTHER):
                    if waiting:
                        info["num_actions_skipped_overlap"] += 1
                        continue
                    if policy is ScheduleOverlapPolicy.CANCEL_OTHER:
                        await self._end_running(key, running, terminate=False)
                    waiting.append(item)
                    continue
                # TERMINATE_OTHER: end them, and start this one now.
                await self._end_running(key, running, terminate=True)
                info["running_actions"] = []
            if waiting:  # an earlier one waits: this one waits behind it (the order of due times is kept)
                waiting.append(item)
                continue
            started = await self._start_one(key, schedule, item, now)
            if started is None:
                waiting.append(item)
                again = now + _RETRY
                continue
            if started:
                self._record(info, state, item, started, now)
        info["buffered"] = waiting
        return again

    async def _refresh(self, key: Key, schedule: ScheduleModel, doc: dict[str, Any]) -> None:
        """Drop the runs that closed from ``running_actions`` (following a run to the one that continued it),
        and pause the schedule if one failed and ``pause_on_failure`` says so."""
        info = doc["info"]
        still: list[dict[str, str]] = []
        for r in info["running_actions"]:
            try:
                rec = await self.core._find(key[0], r["workflow_id"], None)
            except NotFoundError:
                continue  # deleted
            if rec.status is WorkflowStatus.RUNNING:
                still.append({"workflow_id": rec.workflow_id, "run_id": rec.run_id})
                continue
            self._by_run.pop(r["run_id"], None)
            if schedule.policy.pause_on_failure and rec.status in _FAILED:
                state = doc["schedule"]["state"]
                state["paused"] = True
                state["note"] = f"paused: workflow {rec.workflow_id!r} (run {rec.run_id}) {rec.status.value.lower()}"
                log.info("schedule %s paused: its run %s %s", key[1], rec.workflow_id, rec.status.value)
        info["running_actions"] = still

    async def _end_running(self, key: Key, running: list[dict[str, str]], *, terminate: bool) -> None:
        for r in running:
            why = f"schedule {key[1]!r}: a new action is due (overlap policy " + (
                "TERMINATE_OTHER)" if terminate else "CANCEL_OTHER)"
            )
            try:
                if terminate:
                    await self.cancellation.terminate(
                        key[0],
                        m.TerminateWorkflowRequest(workflow_id=r["workflow_id"], run_id=r["run_id"], reason=why),
                        f"schedule {key[1]}",
                    )
                else:
                    await self.cancellation.request_cancel(
                        key[0],
                        m.CancelWorkflowRequest(workflow_id=r["workflow_id"], run_id=r["run_id"], reason=why),
                        f"schedule {key[1]}",
                    )
            except (InvalidArgumentError, NotFoundError):
                pass  # it closed meanwhile, or its cancellation was asked already

    async def _start_one(
        self, key: Key, schedule: ScheduleModel, item: dict[str, Any], now: float
    ) -> tuple[str, str, bool] | bool | None:
        """Start the run of ``item``'s due time: (workflow id, run id, still running), False if it cannot be
        started (its input refused: logged, and the time is dropped), None if it should be tried again."""
        action = schedule.action
        workflow_id = f"{action.workflow_id}-{rfc3339(item['at'])}"
        body = action.model_dump(exclude_none=True)
        body.update(
            workflow_id=workflow_id,
            request_id=f"schedule/{key[0]}/{key[1]}/{workflow_id}",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        try:
            # Temporal's built-ins of a scheduled run: which schedule started it, and when its action was due.
            system: dict[str, list[Any]] = {
                sa.SCHEDULED_BY_ID: ["Keyword", key[1]],
                sa.SCHEDULED_START_TIME: ["Datetime", float(item["at"])],
            }
            req = m.StartWorkflowRequest.model_validate(body)
            run_id, created = await self._start(key[0], req, system_attributes=system)
            if not created:  # this request id's run, made before a restart: it may have closed since
                rec = await self.core._find(key[0], workflow_id, run_id)
                return workflow_id, run_id, rec.status is WorkflowStatus.RUNNING
            return workflow_id, run_id, True
        except AlreadyStartedError as e:
            # Started before (by this schedule before a restart, or its retry): that run is this time's.
            details = e.details if isinstance(e.details, dict) else {}
            run_id = str(details.get("run_id", ""))
            return workflow_id, run_id, details.get("status") is None
        except StorageError as e:
            log.warning("schedule %s could not start %s (tried again in %gs): %s", key[1], workflow_id, _RETRY, e)
            return None
        except RPCError as e:
            log.error("schedule %s could not start %s: %s", key[1], workflow_id, e)
            return False

    @staticmethod
    def _record(info: dict[str, Any], state: dict[str, Any], item: dict[str, Any], started: Any, now: float) -> None:
        workflow_id, run_id, running = started
        info["num_actions"] += 1
        if state["limited_actions"]:
            state["remaining_actions"] = max(0, state["remaining_actions"] - 1)
        info["recent_actions"] = [
            *info["recent_actions"],
            {"scheduled_at": item["at"], "started_at": now, "workflow_id": workflow_id, "run_id": run_id},
        ][-_RECENT:]
        if running:
            info["running_actions"].append({"workflow_id": workflow_id, "run_id": run_id})

    # --- answers --------------------------------------------------------------------------------------------

    def _describe(self, row: StoredSchedule, doc: dict[str, Any]) -> dict[str, Any]:
        info = doc["info"]
        state = doc["schedule"]["state"]
        next_times: list[float] = []
        if not state["paused"] and not (state["limited_actions"] and state["remaining_actions"] <= 0):
            times = DueTimes(ScheduleModel.model_validate(doc["schedule"]).spec)
            after = max(info["last_time"], self.core.clock.now())
            next_times = [t + times.jitter_of(row.schedule_id, t) for t in times.next_times(after, _NEXT)]
        return {
            "schedule_id": row.schedule_id,
            "schedule": doc["schedule"],
            "info": {
                "num_actions": info["num_actions"],
                "num_actions_missed_catchup_window": info["num_actions_missed_catchup_window"],
                "num_actions_skipped_overlap": info["num_actions_skipped_overlap"],
                "running_actions": info["running_actions"],
                "recent_actions": info["recent_actions"],
                "next_action_times": next_times,
                "buffered_actions": len(info["buffered"]),
                "created_at": info["created_at"],
                "last_updated_at": info["last_updated_at"],
            },
            "conflict_token": info.get("revision", 1),
        }
