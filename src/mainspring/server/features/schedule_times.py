"""When a schedule's actions are due: its spec (``api.schedules.ScheduleSpecModel``) read once into ``DueTimes``.

Cron text is parsed by croniter, never here, and calendar specs become croniter expressions too (with a seconds
field, and ``day_or=False``: a calendar's day of month and day of week must both match, as Temporal's do,
where cron's rule is either). Both are evaluated in the spec's time zone (zoneinfo), so a daily 09:00 in
Europe/Paris is 08:00 UTC in winter and 07:00 UTC in summer. Across a transition croniter's rules hold: a
wall-clock time the spring change skips is due at the first instant after the gap (02:30 on the last Sunday of
March is 03:00 CEST), and one the autumn change repeats is due both times it happens. Intervals are counted
from the Unix epoch and know no time zone (every hour is every 3600 s). A time that a ``skip`` calendar
matches (to the second, in the spec's time zone) is not due, as in Temporal: the next one after it is.

A spec is checked when it is read: invalid cron text, an unknown time zone, an offset not less than its
interval, ``end_at`` before ``start_at``, a spec with nothing that fires, or one whose times never come (``0 0
30 2 *``) are each refused with a message naming the problem.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from ...api.schedules import ScheduleCalendarModel, ScheduleRangeModel, ScheduleSpecModel
from ...errors import InvalidArgumentError

__all__ = ["DueTimes", "rfc3339"]

#: How far ahead a spec is searched for its first time before it is called one that never fires.
_HORIZON = 100 * 366 * 24 * 3600.0
#: The shortest interval: each run's workflow id names its due time to the second.
_MIN_EVERY = 1.0
#: How many due times in a row ``skip`` may remove before the spec is called one that never fires (a
#: minutely spec skipped on weekends passes ~2,900 times in a row: well within).
_MAX_SKIPPED = 100_000


def rfc3339(t: float) -> str:
    """``t`` as RFC 3339 in UTC, to the second (``2026-12-03T10:00:00Z``), as Temporal names a scheduled run."""
    return datetime.fromtimestamp(math.floor(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refuse(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, code="invalid_schedule")


def _field(name: str, ranges: list[ScheduleRangeModel], low: int, high: int) -> str:
    """A calendar field as a cron field: ``start-end/step`` items joined by commas."""
    if not ranges:
        raise _refuse(f"calendar field {name!r} is empty: it would match nothing")
    items = []
    for r in ranges:
        end = r.end or r.start
        if not low <= r.start <= high or not low <= end <= high or end < r.start:
            raise _refuse(f"calendar field {name!r} has range {r.start}-{end}; it must be within {low}-{high}")
        item = str(r.start) if end == r.start else f"{r.start}-{end}"
        if r.step > 1:
            item = f"{r.start}-{end}/{r.step}"
        items.append(item)
    return ",".join(items)


class _Cron:
    """One croniter expression in a time zone, with the years it may fire in (all if empty)."""

    def __init__(self, text: str, zone: tzinfo, *, day_or: bool, years: frozenset[int] = frozenset()) -> None:
        self.text = text
        self.zone = zone
        self.day_or = day_or
        self.years = years

    def matches(self, t: float) -> bool:
        """Whether ``t`` (a whole second) is one of this expression's times."""
        nxt = self.next_after(t - 1.0, t)
        return nxt is not None and abs(nxt - t) < 1e-3

    def next_after(self, t: float, until: float) -> float | None:
        it = croniter(self.text, datetime.fromtimestamp(t, self.zone), day_or=self.day_or)
        # croniter gives up on dates that never come (CroniterBadDateError) after searching some years.
        for _ in range(10_000):
            try:
                nxt = float(it.get_next(float))
            except CroniterBadDateError:
                return None
            if nxt > until:
                return None
            if not self.years or datetime.fromtimestamp(nxt, self.zone).year in self.years:
                return nxt
            if self.years and datetime.fromtimestamp(nxt, self.zone).year > max(self.years):
                return None
        return None


class DueTimes:
    """A schedule's due times (nominal: before jitter), read from its spec; ``InvalidArgumentError`` (code
    ``invalid_schedule``) naming what is wrong if the spec is refused."""

    def __init__(self, spec: ScheduleSpecModel) -> None:
        self.spec = spec
        self.zone = self._zone(spec.time_zone_name)
        self.start_at = spec.start_at
        self.end_at = spec.end_at
        self.jitter = spec.jitter or 0.0
        if self.start_at is not None and self.end_at is not None and self.end_at < self.start_at:
            raise _refuse(
                f"end_at ({rfc3339(self.end_at)}) is before start_at ({rfc3339(self.start_at)}): the schedule "
                "would never fire"
            )
        self.intervals: list[tuple[float, float]] = []
        for i in spec.intervals:
            if i.every < _MIN_EVERY:
                raise _refuse(f"interval every={i.every:g}s is too short; the shortest is {_MIN_EVERY:g}s")
            if i.offset >= i.every:
                raise _refuse(f"interval offset {i.offset:g}s must be less than its every={i.every:g}s")
            self.intervals.append((i.every, i.offset))
        self.crons: list[_Cron] = []
        for text in spec.cron_expressions:
            self.crons.append(self._cron(text))
        for c in spec.calendars:
            self.crons.append(self._calendar(c))
        if not self.intervals and not self.crons:
            raise _refuse("the spec has no interval, cron expression or calendar: the schedule would never fire")
        self.skips = [self._calendar(c) for c in spec.skip]

    @staticmethod
    def _zone(name: str | None) -> tzinfo:
        if not name or name == "UTC":
            return UTC
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # (OSError: zoneinfo looks the name up as a file, and a name of 300 characters is a file name too
            # long for the system, which a fuzzer found to be a 500.)
            shown = name if len(name) <= 80 else name[:77] + "..."
            raise _refuse(f"unknown time zone {shown!r}: give an IANA name such as 'Europe/Paris' or 'UTC'") from None

    def _cron(self, text: str) -> _Cron:
        stripped = text.strip()
        try:
            # Checked here, and by a first expansion: croniter refuses text it cannot read in either.
            croniter(stripped, datetime.fromtimestamp(0, self.zone))
        except (CroniterBadCronError, CroniterError, ValueError, KeyError) as e:
            raise _refuse(f"cron expression {text!r} is not valid: {e}") from None
        return _Cron(stripped, self.zone, day_or=True)

    def _calendar(self, c: ScheduleCalendarModel) -> _Cron:
        fields = [
            _field("minute", c.minute, 0, 59),
            _field("hour", c.hour, 0, 23),
            _field("day_of_month", c.day_of_month, 1, 31),
            _field("month", c.month, 1, 12),
            _field("day_of_week", c.day_of_week, 0, 6),
            _field("second", c.second, 0, 59),
        ]
        years: set[int] = set()
        for r in c.year:
            end = r.end or r.start
            years.update(range(r.start, end + 1, max(r.step, 1)))
        text = " ".join(fields)
        try:
            croniter(text, datetime.fromtimestamp(0, self.zone))
        except (CroniterBadCronError, CroniterError, ValueError, KeyError) as e:
            raise _refuse(f"calendar {c.comment or text!r} is not valid: {e}") from None
        return _Cron(text, self.zone, day_or=False, years=frozenset(years))

    def next_after(self, t: float) -> float | None:
        """The first due time after ``t`` (strictly), from ``start_at`` to ``end_at``, that no ``skip`` calendar
        matches; None if there is none."""
        for _ in range(_MAX_SKIPPED):
            nxt = self._next_unskipped(t)
            if nxt is None or not any(s.matches(math.floor(nxt)) for s in self.skips):
                return nxt
            t = nxt
        return None

    def _next_unskipped(self, t: float) -> float | None:
        if self.start_at is not None and t < self.start_at:
            t = self.start_at - 1e-6  # start_at itself may be due
        until = self.end_at if self.end_at is not None else t + _HORIZON
        best: float | None = None
        for every, offset in self.intervals:
            nxt = (math.floor((t - offset) / every) + 1) * every + offset
            if best is None or nxt < best:
                best = nxt
        for cron in self.crons:
            nxt2 = cron.next_after(t, until if best is None else min(until, best))
            if nxt2 is not None and (best is None or nxt2 < best):
                best = nxt2
        if best is None or best > until:
            return None
        return best

    def next_times(self, t: float, count: int) -> list[float]:
        """Up to ``count`` due times after ``t``."""
        out: list[float] = []
        while len(out) < count:
            nxt = self.next_after(t)
            if nxt is None:
                break
            out.append(nxt)
            t = nxt
        return out

    def check_fires(self, now: float) -> None:
        """Refuse a spec none of whose times comes after ``now``."""
        if self.next_after(now) is None:
            what = ", ".join(repr(c) for c in self.spec.cron_expressions) or "its spec"
            if self.end_at is not None and self.end_at <= now:
                raise _refuse(f"end_at ({rfc3339(self.end_at)}) has passed: the schedule would never fire")
            raise _refuse(f"{what} never comes to pass (no due time in 100 years): the schedule would never fire")

    def jitter_of(self, schedule_id: str, nominal: float) -> float:
        """How long after ``nominal`` its action starts: up to ``jitter``, the same on every server and after a
        restart (drawn from a hash of the schedule and the time, not a random number)."""
        if not self.jitter:
            return 0.0
        digest = hashlib.sha256(f"{schedule_id}/{nominal!r}".encode()).digest()
        return self.jitter * int.from_bytes(digest[:8], "big") / 2**64
