"""Listing and counting runs in SQL, for both stores: the ``ListQuery`` fields and its list filter (the tree of
``mainspring._visibility``) become one parameterised statement. Values are never written into the SQL text:
every one is a placeholder, so a value that looks like SQL (``' OR 1=1 --``) is only a value.

The two stores differ in the placeholder (``?`` against ``%s``) and in how text compares: SQLite compares
bytes, PostgreSQL by the database's collation, so PostgreSQL's ranges over text (a prefix, ``<``, BETWEEN,
the run id that breaks ties between pages) say ``COLLATE "C"`` to get SQLite's order.

Two-valued logic: a comparison on an attribute a run may lack (CloseTime, ExecutionDuration while it runs) is
false for that run, never NULL, so that ``NOT CloseTime > '...'`` holds for a running run, as it does in
Temporal.

Pages: keyset on (the order's key, run id), both in the order's direction. The token of the default order
(StartTime DESC) is the one listings always had; another order's token names its order, and a token handed
to a listing in another order is refused rather than read wrongly.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._visibility._ast import (
    DEFAULT_ORDER,
    And,
    Attribute,
    Between,
    Comparison,
    Expr,
    InList,
    IsNull,
    Kind,
    Not,
    Or,
    OrderBy,
    StartsWith,
    Value,
)
from ..api.enums import WorkflowStatus
from ._base import ExecutionRecord, ListQuery, StorageError

__all__ = ["POSTGRES", "SQLITE", "Dialect", "count_sql", "list_sql", "next_page_token", "where_sql"]

#: What ORDER BY CloseTime sorts a running run (no close time) by: after every closed run, as if it closed
#: in the far future (first in DESC, last in ASC), the same in both stores.
_NOT_CLOSED = 1.0e15
#: The highest character: ``prefix <= x < prefix + _TOP`` is "x starts with prefix" in byte order.
_TOP = "\U0010ffff"


@dataclass(frozen=True)
class Dialect:
    """What differs between the stores' SQL."""

    #: The parameter placeholder.
    p: str
    #: Appended to a text column compared by range, to compare in byte order.
    byte_order: str


SQLITE = Dialect("?", "")
POSTGRES = Dialect("%s", ' COLLATE "C"')


def _sql_value(v: Value) -> Any:
    if isinstance(v, WorkflowStatus):
        return v.value
    if isinstance(v, datetime):
        return v.timestamp()
    if isinstance(v, timedelta):
        return v.total_seconds()
    return v


def _operand(a: Attribute, d: Dialect, ranged: bool) -> str:
    if a.kind is Kind.DURATION:
        return "(close_time - start_time)"
    if ranged and a.kind is Kind.KEYWORD:
        return a.column + d.byte_order
    return a.column


def _guard(a: Attribute, sql: str) -> str:
    """Two-valued: false, not NULL, for a run without a value (see the module's docstring)."""
    if not a.nullable:
        return sql
    column = "close_time" if a.kind is Kind.DURATION else a.column
    return f"({column} IS NOT NULL AND {sql})"


def where_sql(e: Expr, d: Dialect, params: list[Any]) -> str:
    """``e`` as a SQL condition; appends its values to ``params``, in order."""
    if isinstance(e, And | Or):
        joiner = " AND " if isinstance(e, And) else " OR "
        return "(" + joiner.join(where_sql(o, d, params) for o in e.operands) + ")"
    if isinstance(e, Not):
        return "(NOT " + where_sql(e.operand, d, params) + ")"
    if isinstance(e, IsNull):
        column = "close_time" if e.attribute.kind is Kind.DURATION else e.attribute.column
        return f"({column} IS {'NOT ' if e.negated else ''}NULL)"
    a = e.attribute
    if isinstance(e, Comparison):
        ranged = e.op not in ("=", "!=")
        params.append(_sql_value(e.value))
        sql = f"{_operand(a, d, ranged)} {'<>' if e.op == '!=' else e.op} {d.p}"
    elif isinstance(e, InList):
        params.extend(_sql_value(v) for v in e.values)
        sql = f"{_operand(a, d, False)} IN ({', '.join([d.p] * len(e.values))})"
    elif isinstance(e, Between):
        params += [_sql_value(e.low), _sql_value(e.high)]
        sql = f"{_operand(a, d, True)} BETWEEN {d.p} AND {d.p}"
    else:
        assert isinstance(e, StartsWith)
        params += [e.prefix, e.prefix + _TOP]
        col = _operand(a, d, True)
        sql = f"{col} >= {d.p} AND {col} < {d.p}"
    sql = _guard(a, sql)
    if getattr(e, "negated", False):
        return f"(NOT ({sql}))"
    return f"({sql})"


def _order_key(o: OrderBy) -> str:
    if o.attribute.column == "close_time":
        return f"COALESCE(close_time, {_NOT_CLOSED!r})"
    return o.attribute.column


def _filters(namespace: str, q: ListQuery, d: Dialect) -> tuple[list[str], list[Any]]:
    p = d.p
    where = [f"namespace={p}"]
    params: list[Any] = [namespace]
    if q.status is not None:
        where.append(f"status={p}")
        params.append(q.status.value)
    if q.workflow_type:
        where.append(f"workflow_type={p}")
        params.append(q.workflow_type)
    if q.workflow_id is not None:
        where.append(f"workflow_id={p}")
        params.append(q.workflow_id)
    if q.workflow_id_prefix:
        where.append(f"workflow_id{d.byte_order} >= {p} AND workflow_id{d.byte_order} < {p}")
        params += [q.workflow_id_prefix, q.workflow_id_prefix + _TOP]
    if q.started_after is not None:
        where.append(f"start_time>={p}")
        params.append(q.started_after)
    if q.started_before is not None:
        where.append(f"start_time<{p}")
        params.append(q.started_before)
    if q.filter is not None and q.filter.where is not None:
        where.append(where_sql(q.filter.where, d, params))
    return where, params


def list_sql(namespace: str, q: ListQuery, d: Dialect, columns: str) -> tuple[str, tuple[Any, ...], int]:
    """The statement for one page of ``list_executions`` (``columns`` selected), its parameters, and the page
    size (the statement reads one more, to know whether there is a next page). ``StorageError`` if the page
    token is not one of this order's."""
    order = q.filter.order_by if q.filter is not None else DEFAULT_ORDER
    where, params = _filters(namespace, q, d)
    key = _order_key(order)
    run_id = "run_id" + d.byte_order
    direction, cmp = ("DESC", "<") if order.descending else ("ASC", ">")
    if q.page_token:
        value, after = _decode(q.page_token, order)
        where.append(f"({key} {cmp} {d.p} OR ({key} = {d.p} AND {run_id} {cmp} {d.p}))")
        params += [value, value, after]
    limit = max(1, min(q.limit, 1000))
    sql = (
        f"SELECT {columns} FROM executions WHERE {' AND '.join(where)} "
        f"ORDER BY {key} {direction}, {run_id} {direction} LIMIT {d.p}"
    )
    return sql, (*params, limit + 1), limit


def next_page_token(q: ListQuery, last: ExecutionRecord) -> str:
    """The token of the page after the one that ended with ``last``."""
    order = q.filter.order_by if q.filter is not None else DEFAULT_ORDER
    if order.attribute.column == "close_time":
        value = last.close_time if last.close_time is not None else _NOT_CLOSED
    else:
        value = last.start_time
    raw = f"{value!r}|{last.run_id}" if order.is_default else f"{_tag(order)}|{value!r}|{last.run_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _tag(order: OrderBy) -> str:
    return f"{order.attribute.name}:{'desc' if order.descending else 'asc'}"


def _decode(token: str, order: OrderBy) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if order.is_default and ":" in raw.split("|", 1)[0]:  # another order's token (those are tagged)
            raise StorageError(
                f"invalid page token {token!r}: it is of a listing in another order; "
                "ask for the next page with the same query"
            )
        parts = raw.split("|", 2) if not order.is_default else ["", *raw.split("|", 1)]
        if len(parts) != 3:
            raise ValueError("not a page token")
        tag, value, run_id = parts
        if not order.is_default and tag != _tag(order):
            raise StorageError(
                f"invalid page token {token!r}: it is of a listing in another order; "
                "ask for the next page with the same query"
            )
        return float(value), run_id
    except (ValueError, UnicodeDecodeError) as e:
        raise StorageError(f"invalid page token {token!r}") from e


def count_sql(namespace: str, q: ListQuery, d: Dialect, group_by_status: bool) -> tuple[str, tuple[Any, ...]]:
    """The statement that counts the runs ``q`` selects (its page token and limit aside): one row of the
    count, or with ``group_by_status`` a (status, count) row for each status that has runs."""
    where, params = _filters(namespace, q, d)
    if group_by_status:
        sql = f"SELECT status, COUNT(*) FROM executions WHERE {' AND '.join(where)} GROUP BY status ORDER BY status"
    else:
        sql = f"SELECT COUNT(*) FROM executions WHERE {' AND '.join(where)}"
    return sql, tuple(params)


def count_rows(rows: Sequence[tuple[Any, ...]], group_by_status: bool) -> tuple[int, list[tuple[WorkflowStatus, int]]]:
    """What ``count_sql``'s statement read, as ``Store.count_executions`` answers it."""
    if not group_by_status:
        return int(rows[0][0]) if rows else 0, []
    groups = [(WorkflowStatus(r[0]), int(r[1])) for r in rows]
    return sum(n for _, n in groups), groups
