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
import dataclasses
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
    #: The placeholder of a number compared with ``search_attribute_values.num`` (PostgreSQL's is NUMERIC: a
    #: float parameter compared as a float would not use the index).
    num: str
    #: Tell the planner to start from the values' index when a filter requires a custom attribute's value
    #: (SQLite, which keeps no statistics: it would otherwise walk the namespace's newest-first index and probe
    #: each run, linear in the runs). PostgreSQL's planner weighs both ways by its statistics.
    drive_from_values: bool = False
    #: Put before the executions columns a filter compares (SQLite's unary ``+``: the column's value, but no
    #: index on it), when the statement is driven from the values' index.
    unindexed: str = ""


SQLITE = Dialect("?", "", "?", drive_from_values=True)
POSTGRES = Dialect("%s", ' COLLATE "C"', "CAST(%s AS NUMERIC)")

#: Custom search attributes (``Attribute.custom``) are rows of this table, one per value (see migration 9): a
#: condition on one is "the run has a row of that name whose value ...", an ``IN`` over the table's index
#: (name, kw) or (name, num), so a selective filter reads a few index entries and the runs they name.
_VALUES = "search_attribute_values"
_TEXT_KINDS = (Kind.KEYWORD, Kind.TEXT, Kind.KEYWORD_LIST)


def _sql_value(v: Value) -> Any:
    if isinstance(v, bool):
        return 1 if v else 0
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
        return d.unindexed + a.column + d.byte_order
    return d.unindexed + a.column


def _guard(a: Attribute, sql: str) -> str:
    """Two-valued: false, not NULL, for a run without a value (see the module's docstring)."""
    if not a.nullable:
        return sql
    column = "close_time" if a.kind is Kind.DURATION else a.column
    return f"({column} IS NOT NULL AND {sql})"


def _custom_sql(e: Expr, d: Dialect, params: list[Any]) -> str:
    """A predicate on a custom search attribute (see ``_VALUES``); two-valued as the rest: a run without a value
    matches no comparison."""
    a = e.attribute  # type: ignore[union-attr]
    p = d.p
    has = f"run_id IN (SELECT run_id FROM {_VALUES} WHERE name = {p}"
    if isinstance(e, IsNull):
        params.append(a.values_name)
        return f"({'' if e.negated else 'NOT '}{has}))"
    text = a.kind in _TEXT_KINDS
    col, v = ("kw", p) if text else ("num", d.num)
    params.append(a.values_name)
    if isinstance(e, Comparison):
        if e.op == "!=" and a.kind is Kind.KEYWORD_LIST:  # has a list, and the value is not in it
            params += [a.values_name, _sql_value(e.value)]
            return f"({has}) AND NOT {has} AND kw = {p}))"
        params.append(_sql_value(e.value))
        sql = f"{has} AND {col} {'<>' if e.op == '!=' else e.op} {v})"
    elif isinstance(e, InList):
        params.extend(_sql_value(x) for x in e.values)
        sql = f"{has} AND {col} IN ({', '.join([v] * len(e.values))}))"
    elif isinstance(e, Between):
        params += [_sql_value(e.low), _sql_value(e.high)]
        sql = f"{has} AND {col} BETWEEN {v} AND {v})"
    else:
        assert isinstance(e, StartsWith)
        params += [e.prefix, e.prefix + _TOP]
        sql = f"{has} AND kw >= {p} AND kw < {p})"
    if getattr(e, "negated", False):
        return f"(NOT ({sql}))"
    return f"({sql})"


def where_sql(e: Expr, d: Dialect, params: list[Any]) -> str:
    """``e`` as a SQL condition; appends its values to ``params``, in order."""
    if isinstance(e, And | Or):
        joiner = " AND " if isinstance(e, And) else " OR "
        return "(" + joiner.join(where_sql(o, d, params) for o in e.operands) + ")"
    if isinstance(e, Not):
        return "(NOT " + where_sql(e.operand, d, params) + ")"
    if e.attribute.custom:
        return _custom_sql(e, d, params)
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


def _requires_value(e: Expr | None) -> bool:
    """True if every run ``e`` selects has a value of some custom attribute it names with a selective test
    (=, IN, BETWEEN, STARTS_WITH, ranges: not !=, NOT or IS [NOT] NULL)."""
    if isinstance(e, And):
        return any(_requires_value(o) for o in e.operands)
    if isinstance(e, Comparison):
        return e.attribute.custom and e.op != "!="
    if isinstance(e, InList | Between | StartsWith):
        return e.attribute.custom and not e.negated
    return False


def _filters(namespace: str, q: ListQuery, d: Dialect) -> tuple[list[str], list[Any]]:
    p = d.p
    # ``+namespace``: SQLite then reads the run ids the values' index gives and each run by its key, a few
    # rows for a selective filter such as ``CustomerId = 'c-1'`` (index search_attribute_values_kw), instead of
    # every run of the namespace (see Dialect.drive_from_values).
    driven = d.drive_from_values and q.filter is not None and _requires_value(q.filter.where)
    if driven:
        d = dataclasses.replace(d, unindexed="+")
    u = d.unindexed
    where = [f"{u}namespace={p}"]
    params: list[Any] = [namespace]
    if q.status is not None:
        where.append(f"{u}status={p}")
        params.append(q.status.value)
    if q.workflow_type:
        where.append(f"{u}workflow_type={p}")
        params.append(q.workflow_type)
    if q.workflow_id is not None:
        where.append(f"{u}workflow_id={p}")
        params.append(q.workflow_id)
    if q.workflow_id_prefix:
        where.append(f"{u}workflow_id{d.byte_order} >= {p} AND {u}workflow_id{d.byte_order} < {p}")
        params += [q.workflow_id_prefix, q.workflow_id_prefix + _TOP]
    if q.started_after is not None:
        where.append(f"{u}start_time>={p}")
        params.append(q.started_after)
    if q.started_before is not None:
        where.append(f"{u}start_time<{p}")
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
    if order.attribute.custom:
        return _custom_order_sql(where, params, q, order, d, columns)
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


def _custom_order_sql(
    where: list[str], params: list[Any], q: ListQuery, order: OrderBy, d: Dialect, columns: str
) -> tuple[str, tuple[Any, ...], int]:
    """ORDER BY a custom search attribute: runs without a value last in either direction; pages by offset (the
    token says which order it is of, and how many runs came before)."""
    col = "kw" if order.attribute.kind in _TEXT_KINDS else "num"
    key = f"(SELECT {col} FROM {_VALUES} v WHERE v.run_id = executions.run_id AND v.name = {d.p})"
    offset = _decode_offset(q.page_token, order) if q.page_token else 0
    limit = max(1, min(q.limit, 1000))
    direction = "DESC" if order.descending else "ASC"
    run_id = "run_id" + d.byte_order
    sql = (
        f"SELECT {columns} FROM executions WHERE {' AND '.join(where)} "
        f"ORDER BY {key} {direction} NULLS LAST, {run_id} {direction} LIMIT {d.p} OFFSET {d.p}"
    )
    return sql, (*params, order.attribute.values_name, limit + 1, offset), limit


def _decode_offset(token: str, order: OrderBy) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        tag, _, offset = raw.rpartition("|")
        if tag != "@" + _tag(order):
            raise StorageError(
                f"invalid page token {token!r}: it is of a listing in another order; "
                "ask for the next page with the same query"
            )
        return max(0, int(offset))
    except (ValueError, UnicodeDecodeError) as e:
        raise StorageError(f"invalid page token {token!r}") from e


def next_page_token(q: ListQuery, last: ExecutionRecord) -> str:
    """The token of the page after the one that ended with ``last``."""
    order = q.filter.order_by if q.filter is not None else DEFAULT_ORDER
    if order.attribute.custom:
        before = _decode_offset(q.page_token, order) if q.page_token else 0
        raw = f"@{_tag(order)}|{before + max(1, min(q.limit, 1000))}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
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


def _statuses(e: Expr) -> frozenset[WorkflowStatus] | None:
    """The statuses a filter on ExecutionStatus alone selects (=, !=, [NOT] IN, and AND, OR, NOT of those);
    None if it names anything else, or compares statuses by order."""
    if isinstance(e, And | Or):
        sets = [_statuses(o) for o in e.operands]
        if any(x is None for x in sets):
            return None
        known = [x for x in sets if x is not None]
        if isinstance(e, And):
            return frozenset.intersection(*known)
        return frozenset.union(*known)
    if isinstance(e, Not):
        inner = _statuses(e.operand)
        return None if inner is None else frozenset(WorkflowStatus) - inner
    if e.attribute.kind is not Kind.STATUS:
        return None
    if isinstance(e, Comparison) and e.op in ("=", "!="):
        one = frozenset({WorkflowStatus(_sql_value(e.value))})
        return one if e.op == "=" else frozenset(WorkflowStatus) - one
    if isinstance(e, InList):
        some = frozenset(WorkflowStatus(_sql_value(v)) for v in e.values)
        return frozenset(WorkflowStatus) - some if e.negated else some
    return None


def count_sql(namespace: str, q: ListQuery, d: Dialect, group_by_status: bool) -> tuple[str, tuple[Any, ...], bool]:
    """The statement that counts the runs ``q`` selects (its page token and limit aside), its parameters, and
    whether its rows are (status, count) pairs (else one row, the count). A count of the whole namespace, or
    of some statuses (nothing else filtered), reads ``run_counts`` (migrations sqlite/0011, postgres/0007): a
    few rows whatever the number of runs. Any other filter counts the runs it selects."""
    only_filter = q == ListQuery(filter=q.filter)
    where_expr = q.filter.where if q.filter is not None else None
    statuses = frozenset(WorkflowStatus) if where_expr is None else _statuses(where_expr)
    if only_filter and statuses is not None:
        # Summed over PostgreSQL's slots (one row each in SQLite); a status whose runs were all deleted keeps
        # a row of 0, left out like a status that never had any.
        chosen = sorted(s.value for s in statuses)
        marks = ", ".join([d.p] * len(chosen)) or "NULL"
        sql = (
            f"SELECT status, SUM(runs) FROM run_counts WHERE namespace={d.p} AND status IN ({marks}) "
            "GROUP BY status HAVING SUM(runs) > 0 ORDER BY status"
        )
        return sql, (namespace, *chosen), True
    where, params = _filters(namespace, q, d)
    if group_by_status:
        sql = f"SELECT status, COUNT(*) FROM executions WHERE {' AND '.join(where)} GROUP BY status ORDER BY status"
    else:
        sql = f"SELECT COUNT(*) FROM executions WHERE {' AND '.join(where)}"
    return sql, tuple(params), group_by_status


def count_rows(
    rows: Sequence[tuple[Any, ...]], pairs: bool, group_by_status: bool
) -> tuple[int, list[tuple[WorkflowStatus, int]]]:
    """What ``count_sql``'s statement read (``pairs``: as it said), as ``Store.count_executions`` answers it."""
    if not pairs:
        return int(rows[0][0]) if rows else 0, []
    groups = [(WorkflowStatus(r[0]), int(r[1])) for r in rows]
    return sum(n for _, n in groups), groups if group_by_status else []
