"""One run in the engine's memory (``Execution``), what a transition leaves to do once it is durable
(``Effects``), and the small pure helpers transitions share: run ids, times and events as JSON, the
failures the server makes, retry intervals, the size a payload is stored at.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .._time import rfc3339
from ..api.enums import EventType, WorkflowStatus
from ..api.fields import MAX_SECONDS
from ..storage import ExecutionRecord, ExecutionWrite, HistoryEvent
from ._matching import Session
from ._state import ActivityInfo, ExecutionState

__all__ = [
    "MAX_PAYLOAD_DEPTH",
    "Effects",
    "Execution",
    "FollowOn",
    "cancelled_failure",
    "event_json",
    "iso",
    "new_run_id",
    "outcome_of",
    "own_event_json",
    "payload_size",
    "retry_interval",
    "terminated_failure",
    "wt_retry_delay",
]


def new_run_id() -> str:
    """A new run id: a UUID version 7 (RFC 9562), whose first 48 bits are the time in milliseconds.

    Time-ordered on purpose: the store's tables and indexes are keyed by run id, so runs started
    together sit together, and a commit that advances many of them (which is what group commit does
    under load) rewrites a few shared pages rather than one page per run. With random (version 4) ids
    each W2 workflow cost ~87 KB of WAL and the writer thread was the limit.
    """
    # The 74 random bits come from the process's random generator (seeded from os.urandom at start):
    # ids need to be unique, not secret, and this is one call instead of a system call per id.
    value = (time.time_ns() // 1_000_000 & _MS_MASK) << 80 | _random_bits(80)
    h = f"{(value & _VERSION_CLEAR) | _VERSION_7:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_MS_MASK = (1 << 48) - 1
_random_bits = random.getrandbits  # reseeded in a forked child by the random module itself
_VERSION_CLEAR = ~((0xF << 76) | (0x3 << 62))
_VERSION_7 = (0x7 << 76) | (0x2 << 62)


def iso(t: float | None) -> str | None:
    """Unix seconds as an RFC 3339 UTC string with microseconds (None stays None)."""
    return None if t is None else rfc3339(t)


#: The attributes of a command's event that repeat the command's payload: left out of the events a
#: worker is sent back as the record of its own commands (it has them; see ``own_event_json``).
_OWN_PAYLOADS = frozenset(("input", "result", "failure", "details"))


def own_event_json(e: HistoryEvent) -> dict[str, Any]:
    """``event_json`` of an event a worker's own command just caused, without the payload it sent
    (a 1 MB activity input or workflow result is not sent back to where it came from)."""
    attrs = e.attributes
    if not _OWN_PAYLOADS.isdisjoint(attrs):
        attrs = {k: v for k, v in attrs.items() if k not in _OWN_PAYLOADS}
    return {
        "event_id": e.event_id,
        "event_time": iso(e.event_time),
        "event_type": e.event_type.value,
        "attributes": attrs,
    }


def event_json(e: HistoryEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "event_time": iso(e.event_time),
        "event_type": e.event_type.value,
        "attributes": e.attributes,
    }


#: At most this many of a run's latest events are kept in memory (``Execution.tail``).
_TAIL_MAX = 256


class Execution:
    """One run's in-memory working copy: the stored record, its parsed state, and its lock."""

    __slots__ = (
        "chained",
        "creating",
        "events",
        "follow_on",
        "lock",
        "lost",
        "record",
        "started_extra",
        "state",
        "successor",
        "tail",
        "tail_first",
        "writing",
    )

    def __init__(self, record: ExecutionRecord, state: ExecutionState, *, new: bool = False) -> None:
        self.record = record
        self.state = state
        self.lock = asyncio.Lock()
        #: Events collected by the transition in progress, written by ``Engine._commit``.
        self.events: list[HistoryEvent] = []
        #: The latest events of the history, from event ``tail_first`` to the last one written (or
        #: being written): a workflow task is handed out from them without reading the store. A run
        #: started by this process has them all at first; one loaded from the store, none.
        self.tail: list[HistoryEvent] = []
        self.tail_first = 1 if new else record.next_event_id
        #: The write that creates the run, while it is in progress (see ``Engine.start_workflow``).
        self.creating: asyncio.Future[None] | None = None
        #: ``creating`` is the write that closed the run before this one (a continue-as-new, a retry): this
        #: run's own writes queue behind it instead of waiting for it (``EngineCore._commit``).
        self.chained = False
        #: The latest write submitted, while it is in progress (see ``EngineCore._submit_commit``).
        self.writing: asyncio.Future[None] | None = None
        #: A write of this copy failed: it is out of the cache, and the run is being reloaded.
        self.lost = False
        #: What the WorkflowTaskStarted last handed out told the workflow about its history (see
        #: ``Limits.started_attributes``): the event is written later, with the same attributes.
        self.started_extra: dict[str, Any] = {}
        #: The create of the run that follows this one (a continue-as-new), written with the transition in
        #: progress, all or nothing (``ExecutionWrite.follow_on``; see ``features.continue_as_new``).
        self.follow_on: FollowOn | None = None
        #: The run that followed this one (continue-as-new, a retry), while both are in memory: an operation on
        #: the workflow id (no run id) goes on to it (``EngineCore._execution``).
        self.successor: Execution | None = None

    def remember(self, events: list[HistoryEvent]) -> None:
        """Keep ``events`` (just written) in the tail; forget what a sticky worker already has."""
        tail = self.tail
        if events and events[0].event_id != self.tail_first + len(tail):
            # Not next to the tail (never expected: writes settle in order): keep nothing rather than a
            # tail with a gap, so that workflow tasks read their history from the store.
            tail.clear()
            self.tail_first = events[-1].event_id + 1
            return
        tail.extend(events)
        keep_from = self.state.sticky_event_id + 1 if self.state.sticky_session is not None else 1
        drop = max(keep_from - self.tail_first, len(tail) - _TAIL_MAX, 0)
        if drop:
            drop = min(drop, len(tail))
            del tail[:drop]
            self.tail_first += drop

    def history_from_tail(self, first: int) -> list[HistoryEvent] | None:
        """Events ``first`` .. the last one written, if the tail holds them all, else None."""
        if first < self.tail_first or self.tail_first + len(self.tail) != self.record.next_event_id:
            return None
        return self.tail[first - self.tail_first :]

    @property
    def running(self) -> bool:
        return self.record.status is WorkflowStatus.RUNNING

    def pinned(self) -> bool:
        """True while forgetting it would lose memory-only facts (a task is out) or a transition under
        way (a lock held, a write in flight). O(1): the cache asks it of every run it considers evicting."""
        st = self.state
        if self.lock.locked() or self.creating is not None or self.writing is not None:
            return True
        if st.wt is not None and st.wt.started:
            return True
        return st.started_activities > 0  # a count, kept by the state: O(1) however many are pending


@dataclass(slots=True)
class FollowOn:
    """The next run's create, to write with a transition's commit (``Execution.follow_on``)."""

    write: ExecutionWrite
    #: Called with the commit's future as soon as it is submitted (the next run goes on from there).
    submitted: Callable[[asyncio.Future[None]], None]


@dataclass(slots=True)
class Effects:
    """What to do once a transition is durable."""

    offer_wt: bool = False
    activities: list[ActivityInfo] | None = None
    closed: bool = False
    #: Running activity attempts whose workers are to be told to stop them: (session, task token).
    stop_activities: list[tuple[Session, str]] | None = None
    #: Activities the workflow cancelled before they started: ended after the task's other commands.
    cancel_now: list[ActivityInfo] | None = None
    #: Anything else to do, in order, after what the features registered (``Transition.then``).
    then: list[Callable[[], None]] | None = None

    def may_answer_first(self) -> bool:
        """True if nothing here must reach a worker before the answer does (see _commit_behind):
        an activity the workflow cancelled is told to stop before the next one is handed out."""
        return self.stop_activities is None

    def stop_activity(self, session: Session, token: str) -> None:
        if self.stop_activities is None:
            self.stop_activities = []
        self.stop_activities.append((session, token))


def cancelled_failure(request: dict[str, Any] | None) -> dict[str, Any]:
    """The failure of a run that ended cancelled, from its cancellation request."""
    reason = (request or {}).get("reason") or ""
    return {
        "message": reason or "the workflow was cancelled",
        "type": "CancelledError",
        "kind": "cancelled",
        "non_retryable": True,
    }


def terminated_failure(reason: str | None) -> dict[str, Any]:
    """The failure of a run that was terminated."""
    return {
        "message": reason or "the workflow was terminated",
        "type": "TerminatedError",
        "kind": "terminated",
        "non_retryable": True,
    }


def outcome_of(
    closing: HistoryEvent | None, cancel_request: dict[str, Any] | None
) -> tuple[Any, dict[str, Any] | None]:
    """(result, failure) of a closed run, from the event that closed it (the one stored copy)."""
    if closing is None:
        return None, None
    attrs = closing.attributes
    etype = closing.event_type
    if etype is EventType.WORKFLOW_EXECUTION_COMPLETED:
        return attrs.get("result"), None
    if etype is EventType.WORKFLOW_EXECUTION_FAILED:
        return None, attrs.get("failure")
    if etype is EventType.WORKFLOW_EXECUTION_CANCELED:
        return None, cancelled_failure(cancel_request)
    if etype is EventType.WORKFLOW_EXECUTION_TERMINATED:
        return None, terminated_failure(attrs.get("reason"))
    if etype is EventType.WORKFLOW_EXECUTION_TIMED_OUT:
        return None, attrs.get("failure")
    return None, None


def retry_interval(retry: dict[str, Any], failed_attempt: int) -> float:
    initial = float(retry.get("initial_interval") or 1.0)
    coefficient = float(retry.get("backoff_coefficient") or 2.0)
    maximum = retry.get("maximum_interval")
    cap = min(float(maximum) if maximum else initial * 100, MAX_SECONDS)
    try:
        wait = initial * coefficient ** (failed_attempt - 1)
    except OverflowError:  # a high attempt with a large coefficient: far past any cap
        return cap
    return float(max(min(wait, cap), 0.0))


def wt_retry_delay(attempt: int) -> float:
    # The first retry is quick (another worker may know the code); then back off to at most 10 s.
    return float(min(0.2 * 2 ** (attempt - 2), 10.0))


#: Payloads may nest this deep. What the server stores and sends nests a payload a few levels deeper
#: (state -> activities -> id -> input; a frame -> answer -> history -> event -> attributes), and orjson
#: refuses more than 254 levels: the margin keeps every one of those writable.
MAX_PAYLOAD_DEPTH = 200
_DEPTH_MARGIN = 254 - MAX_PAYLOAD_DEPTH


def payload_size(value: Any) -> int:
    """The size of ``value`` as stored, in bytes; ValueError if it cannot be stored as it is (nested
    deeper than MAX_PAYLOAD_DEPTH, or an integer beyond 64 bits)."""
    try:
        size = len(orjson.dumps(value))
        if size < 2 * MAX_PAYLOAD_DEPTH or not isinstance(value, dict | list):
            # Too short to nest that deep (the common case), or not a container at all (a 1 MB string):
            # one encoding.
            return size
        # Wrapped in _DEPTH_MARGIN lists, orjson's own depth limit checks the payload's depth as part
        # of an encoding (a walk over it in Python would cost more than encoding it again).
        wrapped = value
        for _ in range(_DEPTH_MARGIN):
            wrapped = [wrapped]
        orjson.dumps(wrapped)
        return size
    except orjson.JSONEncodeError as e:
        if "ecursion" in str(e):
            raise ValueError(f"it is nested more than {MAX_PAYLOAD_DEPTH} levels deep") from None
        raise ValueError(f"it cannot be stored as JSON ({e}); integers must fit in 64 bits") from None
