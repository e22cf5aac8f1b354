"""List filters (Temporal's visibility query language, built-in attributes): the parser's tree for each operator
and its precedence, its refusals pointing at the token at fault; the SQL both stores run for it (on SQLite and a
real PostgreSQL), with paging in each order and counts; and the whole way through a real server: the HTTP API
(400 with the position), the client, and the CLI's list, count and replay."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from inprocess import running_worker
from mainspring import Client, WorkflowStatus, workflow
from mainspring._visibility._ast import (
    BUILTIN,
    STATUS_NAMES,
    And,
    Attribute,
    Between,
    Comparison,
    InList,
    IsNull,
    Not,
    Or,
    StartsWith,
    VisibilityQuery,
)
from mainspring._visibility._parser import MAX_DEPTH, MAX_QUERY_LENGTH, parse_query
from mainspring.errors import InvalidArgumentError, InvalidQueryError
from mainspring.storage import ExecutionRecord, ExecutionWrite, ListQuery, StorageError, Store, store_from_url
from support import ServerProcess, run_cli

NS = "/api/v1/namespaces/default"


# --- the parser -------------------------------------------------------------------------------------------


def _where(text: str) -> object:
    return parse_query(text).where


def test_each_operator_gives_its_node_with_typed_values() -> None:
    for op in ("=", "!=", "<", "<=", ">", ">="):
        node = _where(f"WorkflowId {op} 'a'")
        assert isinstance(node, Comparison) and node.op == op and node.value == "a"
    assert _where("WorkflowId <> 'a'") == Comparison(_attr("WorkflowId"), "!=", "a")
    node = _where("ExecutionStatus IN ('Running', 'TimedOut', 'CONTINUED_AS_NEW')")
    assert isinstance(node, InList) and not node.negated
    assert node.values == (WorkflowStatus.RUNNING, WorkflowStatus.TIMED_OUT, WorkflowStatus.CONTINUED_AS_NEW)
    node = _where("RunId NOT IN ('x')")
    assert isinstance(node, InList) and node.negated and node.values == ("x",)
    node = _where("StartTime BETWEEN '2026-11-01T00:00:00Z' AND '2026-11-02T01:00:00+01:00'")
    assert isinstance(node, Between)
    assert node.low == datetime(2026, 11, 1, tzinfo=UTC) and node.high == datetime(2026, 11, 2, tzinfo=UTC)
    assert _where("TaskQueue STARTS_WITH 'pre'") == StartsWith(_attr("TaskQueue"), "pre")
    assert _where("TaskQueue NOT STARTS_WITH 'pre'") == StartsWith(_attr("TaskQueue"), "pre", negated=True)
    assert _where("CloseTime IS NULL") == IsNull(_attr("CloseTime"))
    assert _where("CloseTime IS NOT NULL") == IsNull(_attr("CloseTime"), negated=True)
    node = _where("ExecutionDuration > '1h30m'")
    assert isinstance(node, Comparison) and node.value == timedelta(hours=1, minutes=30)
    # Nanoseconds, as Go writes them, are cut to microseconds; keywords in any case; both quotes; escapes.
    node = _where("starttime > '2026-11-01T00:00:00.123456789Z'".replace("starttime", "StartTime"))
    assert isinstance(node, Comparison) and node.value == datetime(2026, 11, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert _where("WorkflowId = \"it's\" and not WorkflowType = 'o''k\\'s'") == And(
        (Comparison(_attr("WorkflowId"), "=", "it's"), Not(Comparison(_attr("WorkflowType"), "=", "o'k's")))
    )


def _attr(name: str) -> Attribute:
    return BUILTIN[name]


def test_precedence_not_over_and_over_or_and_parentheses_first() -> None:
    a, b, c = (Comparison(_attr("WorkflowId"), "=", v) for v in "abc")
    assert _where("WorkflowId='a' OR WorkflowId='b' AND WorkflowId='c'") == Or((a, And((b, c))))
    assert _where("(WorkflowId='a' OR WorkflowId='b') AND WorkflowId='c'") == And((Or((a, b)), c))
    assert _where("NOT WorkflowId='a' AND WorkflowId='b'") == And((Not(a), b))
    assert _where("NOT (WorkflowId='a' AND WorkflowId='b')") == Not(And((a, b)))
    assert _where("WorkflowId='a' AND WorkflowId='b' AND WorkflowId='c'") == And((a, b, c))


def test_order_by_and_the_default_order() -> None:
    q = parse_query("")
    assert q.where is None and q.order_by.is_default
    q = parse_query("ORDER BY CloseTime asc")
    assert q.where is None and q.order_by.attribute.name == "CloseTime" and not q.order_by.descending
    q = parse_query("WorkflowType = 'order' ORDER BY StartTime")
    assert q.order_by.is_default
    full = parse_query(
        "WorkflowType = 'order' AND ExecutionStatus = 'Running' AND StartTime > '2026-11-01T00:00:00Z' "
        "AND WorkflowId IN ('a', 'b') ORDER BY StartTime DESC"
    )
    assert isinstance(full.where, And) and len(full.where.operands) == 4


def _refused(text: str) -> InvalidQueryError:
    with pytest.raises(InvalidQueryError) as info:
        parse_query(text)
    e = info.value
    assert isinstance(e, InvalidArgumentError) and e.code == "invalid_query"
    assert e.details["query"] == text[:MAX_QUERY_LENGTH]
    return e


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("WorkflowTyp = 'x'", 1, "unknown attribute 'WorkflowTyp'; did you mean 'WorkflowType'?"),
        ("workflowid = 'x'", 1, "did you mean 'WorkflowId'?"),
        ("WorkflowId = 'a' AND Colour = 'red'", 22, "unknown attribute 'Colour'"),
        ("ExecutionStatus = 'Runing'", 19, "unknown ExecutionStatus 'Runing'; use one of Running, Completed"),
        ("StartTime > 'yesterday'", 13, "takes an RFC 3339 time such as '2026-11-01T00:00:00Z'"),
        ("StartTime > '2026-13-01T00:00:00Z'", 13, "RFC 3339"),
        ("CloseTime < '2026-11-01'", 13, "RFC 3339"),
        ("ExecutionDuration > 'long'", 21, "takes a duration such as '90s'"),
        ("WorkflowId = 3", 14, "takes a value in quotes"),
        ("ExecutionStatus > 'Running'", 17, "ExecutionStatus does not take >"),
        ("StartTime STARTS_WITH '2026'", 1, "StartTime does not take STARTS_WITH"),
        ("WorkflowId = 'a' ORDER BY WorkflowId", 27, "cannot order by WorkflowId; order by StartTime, CloseTime"),
        ("WorkflowId = 'a' AND", 21, "the query ends too soon"),
        ("WorkflowId = 'a' WorkflowType = 'b'", 18, "unexpected 'WorkflowType'; expected"),
        ("WorkflowId == 'a'", 13, "unexpected '='"),
        ("WorkflowId = 'a' ; DROP TABLE executions", 18, "unexpected character ';'"),
        ("(WorkflowId = 'a'", 18, "expected"),
        ("WorkflowId = 'unterminated", 14, "closing quote is missing"),
        ("WorkflowId IN ()", 16, "expected a number, a value in quotes or true or false"),
    ],
)
def test_refusals_point_at_the_token_at_fault(text: str, column: int, says: str) -> None:
    e = _refused(text)
    assert says in e.message, e.message
    assert (e.line, e.column, e.position) == (1, column, column - 1), e.message
    # The caret line sits under the column.
    first, shown, caret = e.message.split("\n")
    assert first.startswith(f"invalid query at column {column}: ")
    assert shown == "  " + text and caret == "  " + " " * (column - 1) + "^"


def test_a_refusal_on_a_later_line_names_the_line() -> None:
    e = _refused("WorkflowId = 'a'\n  AND Nope = 'b'")
    assert (e.line, e.column, e.position) == (2, 7, 23)
    assert "line 2, column 7" in e.message and "  AND Nope = 'b'\n" in e.message


def test_hostile_input_is_a_value_or_a_clear_refusal() -> None:
    q = parse_query("WorkflowId = ' OR 1=1 --'")
    assert q.where == Comparison(_attr("WorkflowId"), "=", " OR 1=1 --")
    e = _refused("WorkflowId = 'a' OR " * 300)
    assert f"at most {MAX_QUERY_LENGTH:,} are taken" in e.message and e.position == MAX_QUERY_LENGTH
    deep = "(" * 1000 + "WorkflowId = 'a'" + ")" * 1000
    e = _refused(deep)
    assert f"nests deeper than {MAX_DEPTH} levels" in e.message and e.position == MAX_DEPTH
    assert "nests deeper" in _refused("NOT " * 200 + "WorkflowId = 'a'").message
    assert "IN list holds at most" in _refused("RunId IN (" + ",".join(["'x'"] * 501) + ")").message
    parse_query("(" * MAX_DEPTH + "WorkflowId = 'a'" + ")" * MAX_DEPTH)  # as deep as is taken


# --- both stores --------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'vq.db'}" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    )
    s = store_from_url(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


#: (workflow id, type, task queue, status, start offset in hours, duration in hours or None while running)
ROWS = [
    ("order-1", "order", "tq-a", WorkflowStatus.RUNNING, 0, None),
    ("order-2", "order", "tq-a", WorkflowStatus.COMPLETED, 1, 0.5),
    ("order-3", "order", "tq-b", WorkflowStatus.FAILED, 2, 3),
    ("Order-4", "order", "tq-b", WorkflowStatus.TIMED_OUT, 3, 1),
    ("ship-1", "ship", "tq-a", WorkflowStatus.RUNNING, 4, None),
    ("ship-2", "ship", "tq-b", WorkflowStatus.TERMINATED, 5, 2),
    ("ship-3", "ship", "tq-b", WorkflowStatus.COMPLETED, 6, 0.25),
    ("é-1", "ship", "tq-c", WorkflowStatus.CANCELED, 7, 4),
]


async def _fill(store: Store) -> dict[str, ExecutionRecord]:
    records = {}
    for wid, wtype, tq, status, start_h, duration_h in ROWS:
        start = T0 + start_h * 3600
        rec = ExecutionRecord(
            namespace="default",
            workflow_id=wid,
            run_id=f"run-{wid}",
            workflow_type=wtype,
            task_queue=tq,
            status=status,
            start_time=start,
            close_time=None if duration_h is None else start + duration_h * 3600,
            next_event_id=2,
            version=1,
        )
        await store.write(ExecutionWrite(rec, None))
        records[wid] = rec
    other = ExecutionRecord(
        "elsewhere", "order-1", "run-elsewhere", "order", "tq-a", WorkflowStatus.RUNNING, T0, None, 2, 1
    )
    await store.create_namespace("elsewhere")
    await store.write(ExecutionWrite(other, None))
    return records


async def _ids(store: Store, text: str, **fields: object) -> list[str]:
    records, _ = await store.list_executions("default", ListQuery(filter=parse_query(text), **fields))  # type: ignore[arg-type]
    return [r.workflow_id for r in records]


async def test_filters_select_the_same_runs_on_both_stores(store: Store) -> None:
    await _fill(store)
    ids = _ids
    assert await ids(store, "WorkflowType = 'order'") == ["Order-4", "order-3", "order-2", "order-1"]
    assert await ids(store, "WorkflowType != 'order'") == ["é-1", "ship-3", "ship-2", "ship-1"]
    assert await ids(store, "ExecutionStatus = 'Running'") == ["ship-1", "order-1"]
    assert await ids(store, "ExecutionStatus IN ('Completed', 'Failed')") == ["ship-3", "order-3", "order-2"]
    assert await ids(store, "ExecutionStatus NOT IN ('Running') AND TaskQueue = 'tq-a'") == ["order-2"]
    assert await ids(store, "StartTime >= '2026-11-01T06:00:00Z'") == ["é-1", "ship-3"]
    assert await ids(store, "StartTime < '2026-11-01T01:00:00Z'") == ["order-1"]
    assert await ids(store, "StartTime BETWEEN '2026-11-01T02:00:00Z' AND '2026-11-01T03:00:00Z'") == [
        "Order-4",
        "order-3",
    ]
    assert await ids(store, "CloseTime IS NULL") == ["ship-1", "order-1"]
    assert len(await ids(store, "CloseTime IS NOT NULL")) == 6
    assert await ids(store, "CloseTime > '2026-11-01T10:00:00Z'") == ["é-1"]
    # Two-valued: a running run has no close time, so NOT of a comparison on it holds for that run.
    assert await ids(store, "NOT CloseTime > '2026-11-01T05:00:00Z' AND WorkflowType = 'order'") == [
        "Order-4",
        "order-3",
        "order-2",
        "order-1",
    ]
    assert await ids(store, "ExecutionDuration >= '2h'") == ["é-1", "ship-2", "order-3"]
    assert await ids(store, "ExecutionDuration < '30m'") == ["ship-3"]
    # Byte order on both stores: "O" sorts before "o", "é" after every ASCII letter.
    assert await ids(store, "WorkflowId STARTS_WITH 'order-'") == ["order-3", "order-2", "order-1"]
    assert await ids(store, "WorkflowId NOT STARTS_WITH 'o' AND WorkflowType = 'order'") == ["Order-4"]
    assert await ids(store, "WorkflowId > 'ship-2'") == ["é-1", "ship-3"]
    assert await ids(store, "WorkflowId BETWEEN 'O' AND 'order-2'") == ["Order-4", "order-2", "order-1"]
    assert await ids(store, "WorkflowId IN ('order-1', 'ship-1', 'nope')") == ["ship-1", "order-1"]
    assert await ids(store, "RunId = 'run-ship-2'") == ["ship-2"]
    assert await ids(store, "(WorkflowType = 'ship' OR TaskQueue = 'tq-a') AND NOT ExecutionStatus = 'Running'") == [
        "é-1",
        "ship-3",
        "ship-2",
        "order-2",
    ]
    # ANDed with ListQuery's own fields.
    assert await ids(store, "TaskQueue = 'tq-b'", workflow_type="ship") == ["ship-3", "ship-2"]
    # Values that look like SQL are values: nothing matches, and nothing is harmed.
    assert await ids(store, "WorkflowId = ' OR 1=1 --'") == []
    assert await ids(store, "WorkflowId = 'x''; DELETE FROM executions; --'") == []
    assert await ids(store, "WorkflowType = '%s' OR WorkflowType = '?'") == []
    assert len(await ids(store, "")) == 8


async def test_pages_in_every_order(store: Store) -> None:
    await _fill(store)

    async def walk(text: str) -> list[str]:
        seen: list[str] = []
        token: str | None = None
        while True:
            q = ListQuery(filter=parse_query(text), limit=3, page_token=token)
            records, token = await store.list_executions("default", q)
            seen += [r.workflow_id for r in records]
            if token is None:
                return seen

    by_start = [r[0] for r in sorted(ROWS, key=lambda r: r[4])]
    assert await walk("") == by_start[::-1]
    assert await walk("ORDER BY StartTime ASC") == by_start
    closed = sorted((r for r in ROWS if r[5] is not None), key=lambda r: r[4] + r[5])  # type: ignore[operator]
    # CloseTime: running runs (no close time) after every closed one, ties by run id.
    running = sorted((r[0] for r in ROWS if r[5] is None), reverse=True)
    assert await walk("ORDER BY CloseTime DESC") == running + [r[0] for r in closed][::-1]
    assert await walk("ORDER BY CloseTime ASC") == [r[0] for r in closed] + running[::-1]
    assert await walk("WorkflowType = 'ship' ORDER BY StartTime ASC") == ["ship-1", "ship-2", "ship-3", "é-1"]

    # A token of one order is refused by a listing in another, not read wrongly.
    _, token = await store.list_executions("default", ListQuery(filter=parse_query("ORDER BY CloseTime ASC"), limit=2))
    assert token is not None
    for other in ("", "ORDER BY StartTime ASC", "ORDER BY CloseTime DESC"):
        with pytest.raises(StorageError, match="invalid page token"):
            await store.list_executions("default", ListQuery(filter=parse_query(other), page_token=token))
    # The default order's tokens are the ones listings always gave.
    _, plain = await store.list_executions("default", ListQuery(limit=2))
    _, filtered = await store.list_executions("default", ListQuery(filter=parse_query(""), limit=2))
    assert plain == filtered


async def test_counts_in_all_and_by_status(store: Store) -> None:
    await _fill(store)
    assert await store.count_executions("default", None) == (8, [])
    assert await store.count_executions("default", parse_query("WorkflowType = 'order'")) == (4, [])
    total, groups = await store.count_executions("default", parse_query("TaskQueue != 'tq-c'"), True)
    assert total == 7
    assert dict(groups) == {
        WorkflowStatus.RUNNING: 2,
        WorkflowStatus.COMPLETED: 2,
        WorkflowStatus.FAILED: 1,
        WorkflowStatus.TIMED_OUT: 1,
        WorkflowStatus.TERMINATED: 1,
    }
    assert await store.count_executions("default", parse_query("WorkflowId = ' OR 1=1 --'"), True) == (0, [])
    assert await store.count_executions("elsewhere", None) == (1, [])


def test_only_whole_namespace_and_status_only_counts_read_the_count_table() -> None:
    from mainspring.storage._visibility_sql import SQLITE, count_sql

    def table(text: str | None, grouped: bool = True) -> bool:
        q = ListQuery(filter=None if text is None else parse_query(text))
        return "FROM run_counts" in count_sql("default", q, SQLITE, grouped)[0]

    for text in (None, "", "ORDER BY StartTime ASC", "ExecutionStatus = 'Running'", "ExecutionStatus != 'Failed'"):
        assert table(text) and table(text, grouped=False), text
    assert table("ExecutionStatus IN ('Completed', 'Failed') OR NOT ExecutionStatus = 'Running'")
    for text in (
        "WorkflowType = 'order'",
        "ExecutionStatus = 'Running' AND WorkflowType = 'order'",
        "CloseTime IS NULL",
    ):
        assert not table(text) and not table(text, grouped=False), text
    # A field of the listing other than the filter: counted by scan.
    assert "FROM run_counts" not in count_sql("default", ListQuery(workflow_type="order"), SQLITE, True)[0]


# --- through a real server ----------------------------------------------------------------------------------


@workflow.defn(name="VqEcho")
async def echo(ctx: workflow.Context, text: str) -> str:
    return text


@workflow.defn(name="VqIdle")
async def idle(ctx: workflow.Context, text: str) -> str:
    await ctx.sleep(timedelta(hours=1))
    return text


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _some_runs(client: Client, task_queue: str, tag: str) -> None:
    """Three completed VqEcho runs, two running VqIdle runs (no worker), one of them then terminated."""
    async with running_worker(client, task_queue, workflows=[echo]):
        for i in range(3):
            h = await client.start_workflow(echo, f"x{i}", id=f"{tag}-echo-{i}", task_queue=task_queue)
            assert await h.result(timeout=30) == f"x{i}"
    for i in range(2):
        await client.start_workflow(idle, "y", id=f"{tag}-idle-{i}", task_queue=f"{task_queue}-nobody")
    await client.get_workflow_handle(f"{tag}-idle-1").terminate(reason="test")


async def test_iterating_a_listing_without_a_limit_yields_every_run(client: Client, task_queue: str) -> None:
    # Temporal's `async for wf in client.list_workflows(query)` walks every run; a bare await is one page.
    tag = _tag()
    for i in range(130):
        await client.start_workflow(idle, "y", id=f"{tag}-many-{i:03d}", task_queue=f"{task_queue}-nobody")
    mine = f"WorkflowId STARTS_WITH '{tag}'"
    ids = [wf.id async for wf in client.list_workflows(mine, page_size=50)]
    assert sorted(ids) == [f"{tag}-many-{i:03d}" for i in range(130)]
    assert len([wf async for wf in client.list_workflows(mine, limit=120)]) == 120
    assert len((await client.list_workflows(mine)).executions) == 100
    for i in range(130):
        await client.get_workflow_handle(f"{tag}-many-{i:03d}").terminate(reason="done")


async def test_the_api_and_the_client_take_a_query(server: ServerProcess, client: Client, task_queue: str) -> None:
    tag = _tag()
    before = datetime.now(UTC) - timedelta(seconds=1)
    await _some_runs(client, task_queue, tag)
    mine = f"WorkflowId STARTS_WITH '{tag}'"

    page = await client.list_workflows(query=f"{mine} AND WorkflowType = 'VqEcho' ORDER BY StartTime ASC")
    assert [e["workflow_id"] for e in page.executions] == [f"{tag}-echo-{i}" for i in range(3)]
    found = [wf.id async for wf in client.list_workflows(query=f"{mine} AND ExecutionStatus = 'Running'")]
    assert found == [f"{tag}-idle-0"]
    # The query first and positional, as Temporal's samples call it.
    assert [wf.id async for wf in client.list_workflows(f"{mine} AND ExecutionStatus = 'Running'")] == found
    # Paging with a query, in its order, one run a page.
    asc = [wf.id async for wf in client.list_workflows(query=f"{mine} ORDER BY StartTime ASC", page_size=1)]
    assert asc == [f"{tag}-echo-{i}" for i in range(3)] + [f"{tag}-idle-0", f"{tag}-idle-1"]
    since = before.isoformat().replace("+00:00", "Z")
    closed = f"{mine} AND CloseTime > '{since}' AND ExecutionStatus IN ('Completed', 'Terminated')"
    assert len([wf async for wf in client.list_workflows(query=closed)]) == 4
    # With the other filters too.
    page = await client.list_workflows(workflow_type="VqIdle", query=mine)
    assert {e["workflow_id"] for e in page.executions} == {f"{tag}-idle-0", f"{tag}-idle-1"}

    count = await client.count_workflows(mine)
    assert count.count == 5 and list(count.groups) == []
    count = await client.count_workflows(mine, group_by="ExecutionStatus")
    assert count.count == 5
    assert {tuple(g.group_values): g.count for g in count.groups} == {
        ("Completed",): 3,
        ("Running",): 1,
        ("Terminated",): 1,
    }
    assert (await client.count_workflows()).count >= 5

    with pytest.raises(InvalidQueryError) as info:
        await client.list_workflows(query="WorkflowId = 'a' AND Colour = 'red'")
    assert info.value.column == 22 and info.value.position == 21 and "Colour" in info.value.message
    with pytest.raises(InvalidQueryError, match="did you mean 'ExecutionStatus'"):
        await client.count_workflows("ExecutionStatu = 'Running'")

    def get(path: str, **params: str) -> httpx.Response:
        return httpx.get(server.url + NS + path, params=params)

    r = get("/workflows", query="StartTime > 'soon'")
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_query" and "RFC 3339" in body["message"]
    assert body["details"] == {"query": "StartTime > 'soon'", "position": 12, "line": 1, "column": 13}
    r = get("/workflows/count", query="WorkflowId = ")
    assert r.status_code == 400 and r.json()["details"]["column"] == 14
    r = get("/workflows/count", group_by="WorkflowType")
    assert r.status_code == 400 and "cannot group by 'WorkflowType'" in r.json()["message"]
    # Hostile input: a value, or a 400 in words.
    r = get("/workflows", query="WorkflowId = ' OR 1=1 --'")
    assert r.status_code == 200 and r.json()["executions"] == []
    r = get("/workflows", query="(" * 5000)
    assert r.status_code == 400 and "at most 4,096" in r.json()["message"]
    r = get("/workflows", query="(" * 2100 + "WorkflowId = 'a'" + ")" * 2100)
    assert r.status_code == 400 and "4,096" in r.json()["message"]
    r = get("/workflows", query="(" * 100 + "WorkflowId = 'a'" + ")" * 100)
    assert r.status_code == 400 and "nests deeper" in r.json()["message"]
    # A token of one order handed to another: a 400, not wrong pages.
    first = get("/workflows", query=f"{mine} ORDER BY CloseTime ASC", limit="1").json()
    r = get("/workflows", query=mine, page_token=first["next_page_token"])
    assert r.status_code == 400 and "another order" in r.json()["message"]
    assert "Traceback" not in server.log()


@workflow.defn(name="VqChain")
async def chain(ctx: workflow.Context, n: int) -> int:
    if n > 0:
        ctx.continue_as_new(n - 1)
    return n


async def test_whole_namespace_counts_follow_continue_as_new_resets_and_deletes(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    """The counts of the whole namespace (and of statuses alone) are read from the count table the commits
    keep: they agree with the runs listed, and with a count that scans, after every kind of change."""
    tag = _tag()
    await _some_runs(client, task_queue, tag)  # 3 completed, 1 running, 1 terminated
    async with running_worker(client, task_queue, workflows=[chain]):
        h = await client.start_workflow(chain, 1, id=f"{tag}-chain", task_queue=task_queue)
        assert await h.result(timeout=30) == 0  # a ContinuedAsNew run, then a Completed one
    # Reset of a completed run (no worker now: its new run stays Running), and a terminated run deleted.
    await client.get_workflow_handle(f"{tag}-echo-0").reset(reset_type="FirstWorkflowTask")
    await client.get_workflow_handle(f"{tag}-idle-1").delete()

    async def listed() -> dict[tuple[str, ...], int]:
        by: dict[tuple[str, ...], int] = {}
        async for wf in client.list_workflows():
            key = (STATUS_NAMES[WorkflowStatus(wf.status)],)
            by[key] = by.get(key, 0) + 1
        return by

    expected = {("Completed",): 4, ("ContinuedAsNew",): 1, ("Running",): 2}
    assert await listed() == expected
    count = await client.count_workflows(group_by="ExecutionStatus")
    assert count.count == 7 and {tuple(g.group_values): g.count for g in count.groups} == expected
    scanned = await client.count_workflows("WorkflowType != 'none'", group_by="ExecutionStatus")
    assert scanned == count
    assert (await client.count_workflows()).count == 7
    assert (await client.count_workflows("ExecutionStatus = 'Running'")).count == 2
    by_status = await client.count_workflows(
        "ExecutionStatus IN ('Completed', 'Terminated')", group_by="ExecutionStatus"
    )
    assert by_status.count == 4 and [tuple(g.group_values) for g in by_status.groups] == [("Completed",)]
    counted = await asyncio.to_thread(
        run_cli, "workflow", "count", "--group-by", "ExecutionStatus", address=server.address
    )
    assert counted.stdout.splitlines() == ["Total: 7", "  Completed: 4", "  ContinuedAsNew: 1", "  Running: 2"]


async def test_the_cli_lists_counts_and_replays_by_query(
    server: ServerProcess, client: Client, task_queue: str, tmp_path: Path
) -> None:
    tag = _tag()
    await _some_runs(client, task_queue, tag)
    mine = f"WorkflowId STARTS_WITH '{tag}'"

    def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, address=server.address, env=env)

    listed = await asyncio.to_thread(cli, "workflow", "list", "--query", f"{mine} AND ExecutionStatus = 'Completed'")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split()[1] for line in listed.stdout.splitlines()[1:]) == [f"{tag}-echo-{i}" for i in range(3)]
    listed = await asyncio.to_thread(
        cli, "workflow", "list", "--type", "VqIdle", "-q", f"{mine} ORDER BY StartTime ASC", "-o", "json"
    )
    assert [e["workflow_id"] for e in json.loads(listed.stdout)["executions"]] == [f"{tag}-idle-0", f"{tag}-idle-1"]

    counted = await asyncio.to_thread(cli, "workflow", "count", "--query", mine)
    assert counted.returncode == 0 and counted.stdout == "Total: 5\n", counted.stderr
    counted = await asyncio.to_thread(cli, "workflow", "count", "-q", mine, "--group-by", "ExecutionStatus")
    assert counted.stdout.splitlines() == ["Total: 5", "  Completed: 3", "  Running: 1", "  Terminated: 1"]
    counted = await asyncio.to_thread(
        cli, "workflow", "count", "-q", mine, "--group-by", "ExecutionStatus", "-o", "json"
    )
    assert json.loads(counted.stdout)["count"] == 5

    bad = await asyncio.to_thread(cli, "workflow", "list", "--query", "WorkflowTyp = 'x'")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: invalid query at column 1: unknown attribute")
    assert "did you mean 'WorkflowType'?" in bad.stderr and "\n  ^\n" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = await asyncio.to_thread(cli, "workflow", "count", "-q", "StartTime > 'x'", "-o", "json")
    assert bad.returncode == 2 and json.loads(bad.stderr)["details"]["column"] == 13

    (tmp_path / "vq_flows.py").write_text("from test_visibility_query import echo, idle\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    replayed = await asyncio.to_thread(
        cli,
        "workflow",
        "replay",
        "--module",
        "vq_flows",
        "--query",
        f"{mine} AND ExecutionStatus = 'Completed'",
        "--limit",
        "2",
        "-o",
        "json",
        env=env,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout) == {"replayed": 2, "failed": 0, "failures": []}
    refused = await asyncio.to_thread(cli, "workflow", "replay", "--module", "vq_flows", "--query", "Nope = 1", env=env)
    assert refused.returncode == 2 and "unknown attribute 'Nope'" in refused.stderr


def test_the_parser_is_loaded_only_when_a_query_comes() -> None:
    # The server starts without lark: the first query pays for it (about 0.1 s), a start does not.
    code = "import sys, mainspring.server, mainspring.storage; print('lark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_queries_are_quick() -> None:
    parse_query("WorkflowId = 'warm'")
    text = " OR ".join(f"(WorkflowId = 'w{i}' AND StartTime > '2026-11-01T00:00:00Z')" for i in range(60))
    assert len(text) < MAX_QUERY_LENGTH
    began = time.perf_counter()
    q = parse_query(text)
    assert time.perf_counter() - began < 1.0
    assert isinstance(q, VisibilityQuery) and isinstance(q.where, Or) and len(q.where.operands) == 60
