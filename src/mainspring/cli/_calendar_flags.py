"""``--calendar JSON``: a calendar time of a schedule in Temporal's CLI form, read into the API's ranges.

``temporal schedule create --calendar '{"dayOfWeek":"Fri","hour":"3","minute":"30"}'`` carries over unchanged:
each field is text in cron's item syntax (``*``, ``5``, ``1-5``, ``*/15``, ``0-30/10``, items joined by commas),
or a number; months and days of the week may be named (``Jan``, ``MON-FRI``, Sunday is 0). Keys in camelCase,
as Temporal prints them, or in snake_case. A field not given takes Temporal's default: second, minute and
hour ``0``, every day of every month and year.
"""

from __future__ import annotations

import json
from typing import Any

from ._common import EXIT_INVALID, fail

__all__ = ["parse_calendar"]

#: field: (API name, lowest, highest, default text).
_FIELDS = {
    "second": ("second", 0, 59, "0"),
    "minute": ("minute", 0, 59, "0"),
    "hour": ("hour", 0, 23, "0"),
    "dayofmonth": ("day_of_month", 1, 31, "*"),
    "month": ("month", 1, 12, "*"),
    "year": ("year", 1970, 9999, "*"),
    "dayofweek": ("day_of_week", 0, 6, "*"),
}
_MONTHS = {
    m: i
    for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


def _number(field: str, text: str, names: dict[str, int]) -> int:
    word = text.strip().lower()
    if word[:3] in names and word.isalpha():
        return names[word[:3]]
    try:
        return int(word)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a number" + (" or a name" if names else "")) from None


def _ranges(field: str, value: Any) -> list[dict[str, int]] | None:
    """The ranges of one field; None for ``*`` of the year (every year: the API's empty list)."""
    api, low, high, _ = _FIELDS[field]
    names = _MONTHS if api == "month" else _DAYS if api == "day_of_week" else {}
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{api} takes text such as '1-5' or a number, not {json.dumps(value)}")
    out = []
    for item in str(value).split(","):
        span, _, step_text = item.strip().partition("/")
        step = _number(api, step_text, {}) if step_text else 0
        if step_text and step < 1:
            raise ValueError(f"{api}: the step in {item.strip()!r} must be at least 1")
        if span.strip() == "*":
            if api == "year" and not step:
                return None
            start, end = low, high
        else:
            first, dash, last = span.partition("-")
            start = _number(api, first, names)
            end = _number(api, last, names) if dash else (high if step else start)
        if api == "day_of_week" and end == 7:  # cron's other Sunday
            end = 6 if start < 7 else 0
            start = min(start, end)
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"{api}: {item.strip()!r} is outside {low}-{high}")
        out.append({"start": start, "end": end, "step": step})
    return out


def parse_calendar(text: str) -> dict[str, Any]:
    """One ``--calendar`` value as the API's calendar object; a one-line CLI error naming the problem."""
    try:
        given = json.loads(text)
    except ValueError as e:
        fail(f'--calendar takes a JSON object such as \'{{"dayOfWeek":"Mon-Fri","hour":"9"}}\': {e}', EXIT_INVALID)
    if not isinstance(given, dict):
        fail('--calendar takes a JSON object such as \'{"dayOfWeek":"Mon-Fri","hour":"9"}\'', EXIT_INVALID)
    values: dict[str, Any] = {}
    comment = None
    for key, value in given.items():
        norm = str(key).replace("_", "").lower()
        if norm == "comment":
            comment = str(value)
        elif norm in _FIELDS:
            values[norm] = value
        else:
            known = "second, minute, hour, dayOfMonth, month, year, dayOfWeek, comment"
            fail(f"--calendar: unknown field {key!r}; the fields are {known}", EXIT_INVALID)
    calendar: dict[str, Any] = {"comment": comment}
    try:
        for field, (api, _, _, default) in _FIELDS.items():
            calendar[api] = _ranges(field, values.get(field, default)) or []
    except ValueError as e:
        fail(f"--calendar: {e}", EXIT_INVALID)
    return calendar
