"""Typed search attributes and the memo a workflow changes (``server.features.search_attributes``,
``mainspring.common``, ``workflow._search_attributes``), against real server processes: the registry and its CLI,
attributes given at the start and filtered on (client and CLI), upserted by workflow code and filtered on, a
replay after the worker restarts that upserts nothing twice, the refusals naming the attribute (API 400 JSON and
the CLI's exit status), and the filter test again on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import running_worker
from mainspring import Client, InvalidArgumentError, workflow
from mainspring.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from mainspring.errors import InvalidQueryError
from support import ServerProcess, run_cli

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
ITEMS = SearchAttributeKey.for_int("CustomIntField")
STAGE = SearchAttributeKey.for_keyword("CustomKeywordField")
TAGS = SearchAttributeKey.for_keyword_list("Tags")
WHEN = SearchAttributeKey.for_datetime("CustomDatetimeField")


def _new_id() -> str:
    return f"sa-{uuid.uuid4().hex[:8]}"


def _cli(server: ServerProcess, *args: str) -> Any:
    return run_cli(*args, address=server.address)


async def _ids(client: Client, query: str) -> list[str]:
    return sorted([w.id async for w in client.list_workflows(query=query)])


@workflow.defn
async def staged(ctx: workflow.Context, stages: int) -> str:
    """Upserts its stage at each step, waits for a signal between steps, and keeps a memo of its progress."""
    seen = ctx.typed_search_attributes.get(CUSTOMER)
    got: list[None] = []
    ctx.set_signal_handler("go", lambda: got.append(None))
    for i in range(stages):
        ctx.upsert_search_attributes([STAGE.value_set(f"stage-{i}"), ITEMS.value_set(i)])
        ctx.upsert_memo({"progress": i, "started_by": None})
        await ctx.wait_condition(lambda i=i: len(got) > i)  # type: ignore[misc]
    ctx.upsert_search_attributes({"CustomKeywordField": "done", "CustomIntField": None})
    return f"{seen}:{ctx.search_attributes.get('CustomKeywordField')}"


@workflow.defn
async def chained(ctx: workflow.Context, runs: int) -> str:
    """Upserts in its first run, then continues as new: the next run keeps the attributes and the memo."""
    if runs > 1:
        ctx.upsert_search_attributes([STAGE.value_set("first")])
        ctx.upsert_memo({"from": "first"})
        ctx.continue_as_new(runs - 1)
    return f"{ctx.typed_search_attributes.get(STAGE)}:{ctx.memo.get('from')}"


@workflow.defn
async def bad_upsert(ctx: workflow.Context) -> None:
    ctx.upsert_search_attributes({"CustomIntField": "not a number"})
    await ctx.sleep(1)


# --- the registry -----------------------------------------------------------------------------------------------


def test_registry_round_trip_and_refusals_on_the_cli(server: ServerProcess) -> None:
    r = _cli(server, "operator", "search-attribute", "create", "--name", "CustomerId", "--type", "Keyword")
    assert r.returncode == 0, r.stderr
    assert "CustomerId (Keyword) registered" in r.stdout
    r = _cli(server, "operator", "search-attribute", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    listed = {a["name"]: (a["type"], a["builtin"]) for a in json.loads(r.stdout)}
    assert listed["CustomerId"] == ("Keyword", False)
    assert listed["WorkflowType"] == ("Keyword", True) and listed["StartTime"] == ("Datetime", True)
    assert listed["BuildId"] == ("KeywordList", True)
    # start-dev registers Temporal's dev-server set.
    for name, type_name in {
        "CustomKeywordField": "Keyword",
        "CustomTextField": "Text",
        "CustomIntField": "Int",
        "CustomDoubleField": "Double",
        "CustomBoolField": "Bool",
        "CustomDatetimeField": "Datetime",
    }.items():
        assert listed[name] == (type_name, False)
    # Refusals, each naming the attribute.
    r = _cli(server, "operator", "search-attribute", "create", "--name", "CustomerId", "--type", "Int")
    assert r.returncode != 0 and "'CustomerId'" in r.stderr and "Keyword" in r.stderr, r.stderr
    r = _cli(server, "operator", "search-attribute", "create", "--name", "CustomerId", "--type", "Keyword")
    assert r.returncode != 0 and "'CustomerId' is registered already" in r.stderr, r.stderr
    r = _cli(server, "operator", "search-attribute", "create", "--name", "9lives", "--type", "Keyword")
    assert r.returncode != 0 and "'9lives' is not an identifier" in r.stderr, r.stderr
    r = _cli(server, "operator", "search-attribute", "create", "--name", "x" * 65, "--type", "Keyword")
    assert r.returncode != 0 and "at most 64 characters" in r.stderr, r.stderr
    r = _cli(server, "operator", "search-attribute", "create", "--name", "WorkflowId", "--type", "Keyword")
    assert r.returncode != 0 and "'WorkflowId' is built in" in r.stderr, r.stderr
    r = _cli(server, "operator", "search-attribute", "remove", "--name", "StartTime")
    assert r.returncode != 0 and "'StartTime' is built in" in r.stderr, r.stderr
    # Remove, and it is gone.
    r = _cli(server, "operator", "search-attribute", "remove", "--name", "CustomerId")
    assert r.returncode == 0, r.stderr
    r = _cli(server, "operator", "search-attribute", "remove", "--name", "CustomerId")
    assert r.returncode != 0 and "'CustomerId' is not registered" in r.stderr, r.stderr
    r = _cli(server, "operator", "search-attribute", "list")
    assert "CustomerId" not in r.stdout and "CustomIntField" in r.stdout


# --- set at the start, filtered on --------------------------------------------------------------------------------


async def _start_three(client: Client, prefix: str) -> None:
    await client.start_workflow(
        "wf",
        None,
        id=f"{prefix}-a",
        task_queue="nobody",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(CUSTOMER, "alice"),
                SearchAttributePair(ITEMS, 5),
                SearchAttributePair(TAGS, ["red", "big"]),
                SearchAttributePair(WHEN, datetime(2026, 1, 2, tzinfo=UTC)),
            ]
        ),
    )
    await client.start_workflow(
        "wf",
        None,
        id=f"{prefix}-b",
        task_queue="nobody",
        search_attributes={"CustomerId": "bob", "CustomIntField": 2, "Tags": ["blue"], "CustomBoolField": True},
    )
    await client.start_workflow("wf", None, id=f"{prefix}-c", task_queue="nobody")


async def _check_filters(client: Client, prefix: str) -> None:
    a, b, c = f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"
    assert await _ids(client, "CustomerId = 'alice'") == [a]
    assert await _ids(client, "CustomIntField > 3") == [a]
    assert await _ids(client, "CustomIntField <= 5 AND CustomIntField >= 2") == [a, b]
    assert await _ids(client, "CustomIntField IS NULL") == [c]
    assert await _ids(client, "CustomIntField IS NOT NULL") == [a, b]
    assert await _ids(client, "Tags = 'red'") == [a]
    assert await _ids(client, "Tags IN ('blue', 'big')") == [a, b]
    assert await _ids(client, "Tags != 'red'") == [b]
    assert await _ids(client, "CustomBoolField = true") == [b]
    assert await _ids(client, "CustomDatetimeField > '2026-01-01T00:00:00Z'") == [a]
    assert await _ids(client, "CustomerId STARTS_WITH 'al'") == [a]
    assert await _ids(client, "NOT CustomerId = 'alice'") == [b, c]
    ordered = [
        w.id async for w in client.list_workflows(query="CustomIntField IS NOT NULL ORDER BY CustomIntField ASC")
    ]
    assert ordered == [b, a]
    ordered = [w.id async for w in client.list_workflows(query="ORDER BY CustomIntField DESC")]
    assert ordered == [a, b, c]  # runs without a value last
    # Pages by the custom order hold every run once.
    paged = [w.id async for w in client.list_workflows(query="ORDER BY CustomIntField ASC", page_size=1)]
    assert paged == [b, a, c]
    assert (await client.count_workflows(query="CustomerId IN ('alice', 'bob')")).count == 2
    # A listing shows each run's attributes, typed, as describe does (Temporal's WorkflowExecution fields).
    listed = {w.id: w async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{prefix}'")}
    assert listed[a].typed_search_attributes.get(CUSTOMER) == "alice"
    assert listed[a].typed_search_attributes.get(TAGS) == ["red", "big"]
    assert listed[a].typed_search_attributes.get(WHEN) == datetime(2026, 1, 2, tzinfo=UTC)
    assert listed[b].search_attributes["CustomIntField"] == 2 and listed[b].search_attributes["CustomBoolField"]
    assert listed[c].search_attributes == {} and len(listed[c].typed_search_attributes) == 0
    # An unknown attribute keeps its positioned error (and a hint).
    with pytest.raises(
        InvalidQueryError, match=r"column 24: unknown attribute 'CustomerIdd'; did you mean 'CustomerId'"
    ):
        await _ids(client, "CustomIntField = 1 AND CustomerIdd = 'x'")
    with pytest.raises(InvalidQueryError, match="CustomIntField is an Int: it takes a whole number"):
        await _ids(client, "CustomIntField = 1.5")


async def test_attributes_given_at_the_start_are_described_and_filtered_on(server: ServerProcess) -> None:
    for name, type_name in (("CustomerId", "Keyword"), ("Tags", "KeywordList")):
        assert (
            _cli(server, "operator", "search-attribute", "create", "--name", name, "--type", type_name).returncode == 0
        )
    async with await Client.connect(server.address) as client:
        await _start_three(client, "s")
        d = await client.get_workflow_handle("s-a").describe()
        assert d.typed_search_attributes[CUSTOMER] == "alice"
        assert d.typed_search_attributes[ITEMS] == 5
        assert d.typed_search_attributes.get(TAGS) == ["red", "big"]
        assert d.typed_search_attributes[WHEN] == datetime(2026, 1, 2, tzinfo=UTC)
        assert d.search_attributes["CustomDatetimeField"] == "2026-01-02T00:00:00Z"
        await _check_filters(client, "s")
    # The CLI: start with attributes, filter, describe (text and JSON).
    r = _cli(
        server,
        "workflow", "start", "--type", "wf", "-t", "nobody", "-w", "s-cli",
        "--search-attribute", 'CustomerId="carol"', "--search-attribute", "CustomIntField=9",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = _cli(server, "workflow", "list", "--query", "CustomerId = 'carol'", "-o", "json")
    assert r.returncode == 0, r.stderr
    executions = json.loads(r.stdout)["executions"]
    assert [w["workflow_id"] for w in executions] == ["s-cli"], executions
    r = _cli(server, "workflow", "describe", "-w", "s-cli")
    assert 'CustomerId = "carol" (Keyword)' in r.stdout and "CustomIntField = 9 (Int)" in r.stdout, r.stdout
    r = _cli(server, "workflow", "describe", "-w", "s-cli", "-o", "json")
    assert json.loads(r.stdout)["search_attributes"]["CustomIntField"] == {"type": "Int", "value": 9}


async def test_signal_with_start_takes_search_attributes(server: ServerProcess) -> None:
    async with await Client.connect(server.address) as client:
        await client.start_workflow(
            "wf",
            None,
            id="sws",
            task_queue="nobody",
            start_signal="go",
            search_attributes={"CustomKeywordField": "via-signal"},
        )
        assert await _ids(client, "CustomKeywordField = 'via-signal'") == ["sws"]
        with pytest.raises(InvalidArgumentError, match="unknown search attribute 'Nope'"):
            await client.start_workflow(
                "wf", None, id="sws-2", task_queue="nobody", start_signal="go", search_attributes={"Nope": 1}
            )


async def test_unknown_names_and_wrong_types_are_refused_naming_the_attribute(server: ServerProcess) -> None:
    base = {"workflow_id": "bad", "workflow_type": "wf", "task_queue": "nobody"}
    url = f"{server.url}/api/v1/namespaces/default/workflows"
    async with httpx.AsyncClient() as http:
        for attrs, words in (
            ({"Nope": "x"}, ["unknown search attribute 'Nope'"]),
            ({"CustomIntField": "3"}, ["'CustomIntField'", "type Int"]),
            ({"CustomIntField": 1.5}, ["'CustomIntField'", "type Int"]),
            ({"CustomBoolField": 1}, ["'CustomBoolField'", "type Bool"]),
            ({"CustomDatetimeField": "yesterday"}, ["'CustomDatetimeField'", "RFC 3339"]),
            ({"CustomKeywordField": ["a"]}, ["'CustomKeywordField'", "type Keyword"]),
            ({"WorkflowType": "x"}, ["'WorkflowType' is built in"]),
        ):
            r = await http.post(url, json={**base, "search_attributes": attrs})
            assert r.status_code == 400, (attrs, r.text)
            body = r.json()
            for word in words:
                assert word in body["message"], (attrs, body)
        # Non-finite doubles: JSON has no NaN, but Python's encoder writes one; the server refuses it.
        r = await http.post(
            url,
            content=b'{"workflow_id":"bad","workflow_type":"wf","task_queue":"nobody",'
            b'"search_attributes":{"CustomDoubleField":NaN}}',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400, r.text
    async with await Client.connect(server.address) as client:
        with pytest.raises(InvalidArgumentError, match="'CustomIntField' is of type Int"):
            await client.start_workflow("wf", None, id="bad", task_queue="q", search_attributes={"CustomIntField": "x"})
        with pytest.raises(ValueError, match="finite"):
            await client.start_workflow(
                "wf", None, id="bad", task_queue="q", search_attributes={"CustomDoubleField": float("inf")}
            )
        with pytest.raises(TypeError, match="'CustomIntField' is a Int"):
            await client.start_workflow(
                "wf",
                None,
                id="bad",
                task_queue="q",
                search_attributes=TypedSearchAttributes([SearchAttributePair(ITEMS, "x")]),  # type: ignore[arg-type]
            )
    r = _cli(server, "workflow", "start", "--type", "wf", "-t", "q", "-w", "bad", "--search-attribute", "Nope=1")
    assert r.returncode != 0 and "unknown search attribute 'Nope'" in r.stderr, r.stderr


# --- upserted by workflow code ----------------------------------------------------------------------------------


async def test_workflow_upserts_are_filtered_on_and_replay_does_not_repeat_them(
    server: ServerProcess, task_queue: str
) -> None:
    _cli(server, "operator", "search-attribute", "create", "--name", "CustomerId", "--type", "Keyword")
    async with await Client.connect(server.address) as client:
        wid = _new_id()
        async with running_worker(client, task_queue, workflows=[staged], max_cached_workflows=0):
            handle = await client.start_workflow(
                staged,
                2,
                id=wid,
                task_queue=task_queue,
                search_attributes={"CustomerId": "dana"},
                memo={"started_by": "t"},
            )
            await wait_until_async(lambda: _ids(client, "CustomKeywordField = 'stage-0'"), [wid])
            d = await handle.describe()
            assert d.memo == {"progress": 0}
            assert d.typed_search_attributes[ITEMS] == 0
        # A new worker (no cache: every task replays the whole history) takes the run on.
        async with running_worker(client, task_queue, workflows=[staged], max_cached_workflows=0):
            await handle.signal("go")
            await wait_until_async(lambda: _ids(client, "CustomKeywordField = 'stage-1' AND CustomIntField = 1"), [wid])
            await handle.signal("go")
            assert await handle.result() == "dana:done"
        events = await handle.fetch_history()
        upserts = [e for e in events if e["event_type"] == "UpsertWorkflowSearchAttributes"]
        memos = [e for e in events if e["event_type"] == "WorkflowPropertiesModified"]
        assert len(upserts) == 3 and len(memos) == 2  # none twice, though each task replayed the others
        assert await _ids(client, "CustomKeywordField = 'done'") == [wid]
        assert await _ids(client, "CustomIntField IS NULL AND CustomerId = 'dana'") == [wid]
        d = await handle.describe()
        assert d.search_attributes == {"CustomerId": "dana", "CustomKeywordField": "done"}
        assert d.memo == {"progress": 1}
        r = _cli(server, "workflow", "describe", "-w", wid, "-o", "json")
        assert json.loads(r.stdout)["memo"] == {"progress": 1}


async def test_continue_as_new_keeps_the_attributes_and_the_memo(server: ServerProcess, task_queue: str) -> None:
    async with (
        await Client.connect(server.address) as client,
        running_worker(client, task_queue, workflows=[chained]),
    ):
        wid = _new_id()
        handle = await client.start_workflow(chained, 2, id=wid, task_queue=task_queue)
        assert await handle.result() == "first:first"
        d = await client.get_workflow_handle(wid).describe()
        assert d.previous_run_id is not None
        assert d.search_attributes == {"CustomKeywordField": "first"} and d.memo == {"from": "first"}
        assert await _ids(client, "CustomKeywordField = 'first'") == [wid, wid]


async def test_a_refused_upsert_fails_the_task_naming_the_attribute(server: ServerProcess, task_queue: str) -> None:
    async with (
        await Client.connect(server.address) as client,
        running_worker(client, task_queue, workflows=[bad_upsert]),
    ):
        handle = await client.start_workflow(bad_upsert, id=_new_id(), task_queue=task_queue)

        async def failed_task() -> Any:
            d = await handle.describe()
            return (d.pending_workflow_task or {}).get("last_failure")

        failure = await wait_until_async(failed_task, None, negate=True)
        assert "'CustomIntField' is of type Int" in json.dumps(failure), failure
        await handle.terminate()


async def wait_until_async(read: Any, expected: Any, *, negate: bool = False, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await read()
        if (got != expected) if negate else (got == expected):
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited for {expected!r}, last got {got!r}")
        await asyncio.sleep(0.1)


# --- PostgreSQL ----------------------------------------------------------------------------------------------------


async def test_filters_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    server = ServerProcess(postgres_url, log_path=tmp_path / "server.log").start()
    try:
        for name, type_name in (("CustomerId", "Keyword"), ("Tags", "KeywordList")):
            r = _cli(server, "operator", "search-attribute", "create", "--name", name, "--type", type_name)
            assert r.returncode == 0, r.stderr
        async with await Client.connect(server.address) as client:
            await _start_three(client, "pg")
            await _check_filters(client, "pg")
    finally:
        server.stop()


@pytest.mark.sqlite_only
async def test_a_store_copy_to_postgres_keeps_the_registry_and_the_filters(tmp_path: Path, postgres_url: str) -> None:
    dev = tmp_path / "dev.db"
    server = ServerProcess(dev, log_path=tmp_path / "dev.log").start()
    try:
        for name, type_name in (("CustomerId", "Keyword"), ("Tags", "KeywordList")):
            r = _cli(server, "operator", "search-attribute", "create", "--name", name, "--type", type_name)
            assert r.returncode == 0, r.stderr
        async with await Client.connect(server.address) as client:
            await _start_three(client, "cp")
    finally:
        server.stop()
    r = run_cli("store", "copy", "--from", "sqlite:///" + str(dev), "--to", postgres_url, timeout=60)
    assert r.returncode == 0, r.stderr
    server = ServerProcess(postgres_url, log_path=tmp_path / "pg.log").start()
    try:
        async with await Client.connect(server.address) as client:
            await _check_filters(client, "cp")
    finally:
        server.stop()
