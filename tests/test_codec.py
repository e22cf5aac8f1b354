"""Payload codecs end to end: a worker process and a client that both encrypt (examples/encryption's
AES-GCM codec) run a workflow with an activity, a signal and a query, and the result comes back clear,
while the server never sees clear text: not in its SQLite file (and its WAL), not in the history it
serves. A worker without the codec fails the workflow task, saying why, and the workflow waits for one
that has it. Compression, and the wire mark's and ``DataConverter``'s own behaviour, without a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import mainspring.converter
from inprocess import eventually, running_worker
from mainspring import Client, activity, workflow
from mainspring._codec import CodecError, WireCodec
from mainspring._payload_mark import PAYLOAD_KEY, encoding_of, is_encoded
from mainspring.converter import DataConverter, EncodedPayloadError, Payload, PayloadCodec, decode
from mainspring.testing import WorkflowEnvironment
from mainspring.worker import Replayer, WorkflowHistory
from support import EXAMPLES, ON_POSTGRES, ServerProcess, WorkerProcess

sys.path.insert(0, str(EXAMPLES / "encryption"))
from codec import CompressionCodec, CompressThenEncrypt, EncryptionCodec
from workflows import EncryptedOrder, Order

WORKER = EXAMPLES / "encryption" / "worker.py"
SECRET = "4929-SECRET-CARD-7781"
NOTE = "NOTE-ONLY-THE-CLIENT-KNOWS"


def encrypting() -> DataConverter:
    return dataclasses.replace(mainspring.converter.default(), payload_codec=EncryptionCodec())


@pytest.fixture
async def codec_client(server: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(server.address, data_converter=encrypting())
    try:
        yield c
    finally:
        await c.close()


def _store_bytes(server: ServerProcess) -> bytes:
    db = Path(server.db)
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


@pytest.mark.skipif(ON_POSTGRES, reason="reads the SQLite file's bytes")
async def test_the_round_trip_is_clear_to_the_sdk_and_ciphertext_to_the_server(
    server: ServerProcess, codec_client: Client, task_queue: str, tmp_path: Path
) -> None:
    worker = WorkerProcess(WORKER, server.address, args=["--task-queue", task_queue], log_path=tmp_path / "w.log")
    worker.start()
    try:
        wid = f"enc-{uuid.uuid4().hex[:8]}"
        handle = await codec_client.start_workflow(
            EncryptedOrder.run, Order(customer="Ada", card_number=SECRET), id=wid, task_queue=task_queue
        )

        async def receipt() -> str | None:
            got = await handle.query(EncryptedOrder.current_receipt)
            return got or None

        assert await eventually(receipt, timeout=20, what="the activity's receipt") == f"charged card {SECRET} of Ada"
        await handle.signal(EncryptedOrder.add_note, NOTE)
        assert await handle.result() == f"charged card {SECRET} of Ada; note: {NOTE}"
        # The SDK's own view of the history is decoded...
        clear = await handle.fetch_history()
        started = clear[0]["attributes"]["input"]
        assert started == {"customer": "Ada", "card_number": SECRET}
        # ...the server's is not: every payload it holds is a mark, and no secret is anywhere in it.
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            raw = await http.get("/api/v1/namespaces/default/workflows/history", params={"workflow_id": wid})
            described = (
                await http.get("/api/v1/namespaces/default/workflows/describe", params={"workflow_id": wid})
            ).text
        assert raw.status_code == 200, raw.text
        assert SECRET not in raw.text and NOTE not in raw.text and "Ada" not in raw.text
        events = raw.json()["events"]
        assert is_encoded(events[0]["attributes"]["input"])
        assert encoding_of(events[0]["attributes"]["input"]) == "binary/encrypted"
        assert SECRET not in described and NOTE not in described
        # The exported (encoded) history replays with the codec, and without it fails saying why.
        exported = WorkflowHistory.from_json(wid, raw.json())
        await Replayer(workflows=[EncryptedOrder], data_converter=encrypting()).replay_workflow(exported)
        blind = await Replayer(workflows=[EncryptedOrder]).replay_workflow(exported, raise_on_replay_failure=False)
        assert "no payload codec is configured" in str(blind.replay_failure)
        assert is_encoded(exported.events[0]["attributes"]["input"])  # the caller's copy is left encoded
        # Checkpoint nothing: the WAL may hold the latest writes, so both files are read.
        stored = _store_bytes(server)
        assert SECRET.encode() not in stored and NOTE.encode() not in stored
        assert b"charged card" not in stored
    finally:
        worker.stop()


@pytest.mark.skipif(ON_POSTGRES, reason="reads the SQLite file's bytes")
async def test_compressed_then_encrypted_end_to_end(server: ServerProcess, task_queue: str, tmp_path: Path) -> None:
    args = ["--task-queue", task_queue, "--compress"]
    worker = WorkerProcess(WORKER, server.address, args=args, log_path=tmp_path / "w.log").start()
    converter = dataclasses.replace(mainspring.converter.default(), payload_codec=CompressThenEncrypt())
    try:
        async with await Client.connect(server.address, data_converter=converter) as client:
            order = Order(customer="Ada " * 500, card_number=SECRET)  # compresses well
            wid = f"enc-{uuid.uuid4().hex[:8]}"
            handle = await client.start_workflow(EncryptedOrder.run, order, id=wid, task_queue=task_queue)
            await handle.signal(EncryptedOrder.add_note, NOTE)
            assert (await handle.result()).endswith(f"note: {NOTE}")
    finally:
        worker.stop()
    assert SECRET.encode() not in _store_bytes(server)


async def test_a_worker_without_the_codec_fails_the_task_saying_why_and_one_with_it_finishes(
    server: ServerProcess, codec_client: Client, task_queue: str, tmp_path: Path
) -> None:
    plain = WorkerProcess(
        WORKER, server.address, args=["--task-queue", task_queue, "--no-codec"], log_path=tmp_path / "plain.log"
    )
    plain.start()
    wid = f"enc-{uuid.uuid4().hex[:8]}"
    try:
        handle = await codec_client.start_workflow(
            EncryptedOrder.run, Order(customer="Ada", card_number=SECRET), id=wid, task_queue=task_queue
        )

        async def task_failure() -> dict[str, Any] | None:
            events = await handle.fetch_history()
            failed = [e for e in events if e["event_type"] == "WorkflowTaskFailed"]
            return failed[0] if failed else None

        failed = await eventually(task_failure, timeout=20, what="the workflow task to fail")
        message = str(failed["attributes"])
        assert "no payload codec is configured" in message and "binary/encrypted" in message
        assert (await handle.describe()).status.name == "RUNNING"  # the task fails, not the workflow
    finally:
        plain.stop()
    good = WorkerProcess(WORKER, server.address, args=["--task-queue", task_queue], log_path=tmp_path / "good.log")
    good.start()
    try:
        await handle.signal(EncryptedOrder.add_note, NOTE)
        assert await asyncio.wait_for(handle.result(), 60) == f"charged card {SECRET} of Ada; note: {NOTE}"
    finally:
        good.stop()


async def test_a_client_without_the_codec_reads_marks_and_cannot_decode_them(
    server: ServerProcess, codec_client: Client, client: Client, task_queue: str, tmp_path: Path
) -> None:
    worker = WorkerProcess(WORKER, server.address, args=["--task-queue", task_queue], log_path=tmp_path / "w.log")
    worker.start()
    try:
        wid = f"enc-{uuid.uuid4().hex[:8]}"
        handle = await codec_client.start_workflow(
            EncryptedOrder.run, Order(customer="Ada", card_number=SECRET), id=wid, task_queue=task_queue
        )
        await handle.signal(EncryptedOrder.add_note, NOTE)
        await handle.result()
        blind = client.get_workflow_handle(wid)
        with pytest.raises(EncodedPayloadError, match="no payload codec"):
            await blind.result()
        history = await blind.fetch_history()
        assert is_encoded(history[0]["attributes"]["input"])
    finally:
        worker.stop()


# --- in process: the codec on every path the SDK has (child workflows, continue-as-new, updates, failures)


@activity.defn(name="codec_local")
def codec_local(text: str) -> str:
    return text[::-1]


@workflow.defn(name="CodecChild")
async def codec_child(ctx: workflow.Context, text: str) -> str:
    return text.upper()


@workflow.defn(name="CodecParent")
class CodecParent:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self, ctx: workflow.Context, rounds: int) -> str:
        child = await ctx.execute_child_workflow(codec_child, f"child-{SECRET}", id=f"{ctx.info.workflow_id}-c{rounds}")
        self.seen.append(child)
        # A local activity's result is in a marker's details: encoded too, and read back on replay.
        self.seen.append(
            (await ctx.execute_local_activity(codec_local, SECRET[::-1], start_to_close_timeout=timedelta(seconds=5)))
            + "-local"
        )
        if rounds > 0:
            ctx.continue_as_new(rounds - 1)
        await ctx.wait_condition(lambda: len(self.seen) > 2)
        if "fail" in self.seen:
            # The details are encoded; a failure's message and stack are not (as in Temporal without
            # encode_common_attributes): the message says nothing secret.
            raise mainspring.ApplicationError("declined", {"card": SECRET}, non_retryable=True)
        return " ".join(sorted(self.seen))

    @workflow.signal
    def note(self, text: str) -> None:
        self.seen.append(text)

    @workflow.update
    def add(self, text: str) -> int:
        self.seen.append(text)
        return len(self.seen)


@pytest.mark.skipif(ON_POSTGRES, reason="reads the SQLite file's bytes")
async def test_children_continue_as_new_updates_and_failures_are_encoded(
    server: ServerProcess, codec_client: Client, task_queue: str
) -> None:
    # No cache: every task replays the history from the server, so what was encoded must decode.
    async with running_worker(
        codec_client, task_queue, workflows=[CodecParent, codec_child], activities=[codec_local], max_cached_workflows=0
    ):
        wid = f"enc-{uuid.uuid4().hex[:8]}"
        handle = await codec_client.start_workflow(CodecParent.run, 1, id=wid, task_queue=task_queue)

        async def continued() -> bool:
            return (await codec_client.get_workflow_handle(wid).describe()).run_id != handle.run_id

        await eventually(continued, timeout=20, what="the continue-as-new")

        async def update() -> int | None:
            try:
                return await codec_client.get_workflow_handle(wid).execute_update(CodecParent.add, f"up-{SECRET}")
            except Exception:
                return None

        assert await eventually(update, timeout=20, what="the update after continue-as-new") >= 1
        got = await codec_client.get_workflow_handle(wid).result()
        assert got == f"{SECRET}-local CHILD-{SECRET.upper()} up-{SECRET}"
        # Signal-with-start: its signal's payload is encoded as well.
        sws = await codec_client.start_workflow(
            CodecParent.run,
            0,
            id=wid + "-s",
            task_queue=task_queue,
            start_signal="note",
            start_signal_args=[f"s-{SECRET}"],
        )
        assert (await sws.result()).endswith(f"s-{SECRET}")

        failing = await codec_client.start_workflow(CodecParent.run, 0, id=wid + "-f", task_queue=task_queue)

        async def fail_update() -> int | None:
            try:
                return await failing.execute_update(CodecParent.add, "fail")
            except Exception:
                return None

        await eventually(fail_update, timeout=20, what="the update")
        with pytest.raises(mainspring.WorkflowFailureError) as info:
            await failing.result()
        cause = info.value.cause
        assert isinstance(cause, mainspring.ApplicationError) and cause.details == ({"card": SECRET},)
    stored = _store_bytes(server)
    assert SECRET.encode() not in stored and SECRET.upper().encode() not in stored


@activity.defn
async def declining(card: str) -> str:
    raise mainspring.ApplicationError(f"card {card} declined", {"card": card}, type="Declined", non_retryable=True)


@workflow.defn
async def charging(ctx: workflow.Context, card: str) -> str:
    return await ctx.execute_activity(declining, card, start_to_close_timeout=timedelta(seconds=10))


@pytest.mark.skipif(ON_POSTGRES, reason="reads the SQLite file's bytes")
async def test_failure_messages_and_stacks_are_encoded_when_asked(server: ServerProcess, task_queue: str) -> None:
    # As Temporal's encode_common_attributes: the server sees "Encoded failure"; the SDK the message and stack.
    converter = dataclasses.replace(encrypting(), encode_failure_attributes=True)
    async with await Client.connect(server.address, data_converter=converter) as client:
        async with running_worker(client, task_queue, workflows=[charging], activities=[declining]):
            wid = f"enc-{uuid.uuid4().hex[:8]}"
            with pytest.raises(mainspring.WorkflowFailureError) as info:
                await client.execute_workflow(charging, SECRET, id=wid, task_queue=task_queue)
        cause = info.value.cause
        while cause is not None and not isinstance(cause, mainspring.ApplicationError):
            cause = getattr(cause, "cause", None)
        assert isinstance(cause, mainspring.ApplicationError), info.value
        assert cause.message == f"card {SECRET} declined" and cause.type == "Declined"
        assert cause.details == ({"card": SECRET},)
        clear = await client.get_workflow_handle(wid).fetch_history()
        failed = next(e for e in clear if e["event_type"] == "ActivityTaskFailed")["attributes"]["failure"]
        assert failed["message"] == f"card {SECRET} declined" and "declining" in failed["stack"]
        assert "encoded_attributes" not in failed
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        raw = await http.get("/api/v1/namespaces/default/workflows/history", params={"workflow_id": wid})
    assert raw.status_code == 200
    text = raw.text
    assert SECRET not in text, text[max(0, text.find(SECRET) - 400) : text.find(SECRET) + 100]
    assert "declined" not in text and "Traceback" not in text and ".py" not in text  # the message, the stack
    served = next(e for e in raw.json()["events"] if e["event_type"] == "ActivityTaskFailed")["attributes"]
    assert served["failure"]["message"] == "Encoded failure" and served["failure"]["type"] == "Declined"
    assert is_encoded(served["failure"]["encoded_attributes"])
    assert SECRET.encode() not in _store_bytes(server)


# --- no server: the mark and the converter


class Reverse(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload({"encoding": b"binary/reversed"}, p.SerializeToString()[::-1]) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload.FromString(p.data[::-1]) for p in payloads]


def test_default_is_temporal_shaped_and_replace_adds_a_codec() -> None:
    assert mainspring.converter.default() is DataConverter.default
    assert DataConverter.default.payload_codec is None
    codec = Reverse()
    converter = dataclasses.replace(mainspring.converter.default(), payload_codec=codec)
    assert converter.payload_codec is codec and DataConverter.default.payload_codec is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        converter.payload_codec = None  # type: ignore[misc]


async def test_a_request_body_has_its_payload_fields_encoded_in_one_codec_call_and_is_left_unchanged() -> None:
    calls: list[int] = []

    class Counting(Reverse):
        async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
            calls.append(len(payloads))
            return await super().encode(payloads)

    wire = WireCodec(Counting())
    body = {
        "workflow_id": "w",
        "search_attributes": {"Customer": "Ada"},
        "input": {"card": SECRET},
        "memo": {"a": 1, "b": None},
        "commands": [
            {"type": "CompleteWorkflow", "result": [1, b"x".hex()]},
            {"type": "FailWorkflow", "failure": {"message": "m", "details": [SECRET, 2], "cause": {"details": [3]}}},
            {"type": "RecordMarker", "details": {"result": 5}},
        ],
        "heartbeat_details": None,
        # A worker's registration: the JSON schema of a dataclass with fields named like payload fields.
        "workflow_types": [{"name": "w", "input_schema": {"properties": {"result": {"type": "string"}}}}],
    }
    before = repr(body)
    out = await wire.encode_body(body)
    assert repr(body) == before  # a copy: the worker keeps its clear commands
    assert calls == [7]
    assert SECRET not in repr(out) and out["search_attributes"] == {"Customer": "Ada"}
    assert out["memo"]["b"] is None and out["heartbeat_details"] is None and out["workflow_id"] == "w"
    assert out["workflow_types"] == body["workflow_types"]
    assert is_encoded(out["input"]) and is_encoded(out["memo"]["a"])
    assert [is_encoded(d) for d in out["commands"][1]["failure"]["details"]] == [True, True]
    assert encoding_of(out["input"]) == "binary/reversed"
    # Decoding finds every mark, anywhere, and gives the body back.
    assert await wire.decode_body(out) == body
    assert await wire.decode_body(out["input"]) == {"card": SECRET}


async def test_compression_and_encryption_chain_and_a_codec_that_breaks_the_contract_is_named() -> None:
    big = {"text": "abc" * 10_000}
    zipped = await WireCodec(CompressionCodec()).encode_values([big])
    assert encoding_of(zipped[0]) == "binary/zlib" and len(str(zipped)) < 2000
    both = WireCodec(CompressThenEncrypt())
    marks = await both.encode_values([big, SECRET])
    assert encoding_of(marks[0]) == "binary/encrypted"
    assert await both.decode_values(marks) == [big, SECRET]

    class Dropping(Reverse):
        async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return []

    with pytest.raises(CodecError, match="returned 0 payloads for 1"):
        await WireCodec(Dropping()).encode_values([1])
    with pytest.raises(CodecError, match="InvalidTag"):
        await WireCodec(EncryptionCodec(key=b"k" * 32)).decode_values(marks[1:])


def test_decoding_a_mark_without_a_codec_raises_a_clear_error_and_user_data_that_looks_alike_is_left() -> None:
    mark = {PAYLOAD_KEY: {"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="}, "data": ""}}
    for tp in (Any, dict, Order):
        with pytest.raises(EncodedPayloadError, match="encoding 'binary/encrypted'"):
            decode(mark, tp)
    assert decode({PAYLOAD_KEY: 1, "other": 2}, Any) == {PAYLOAD_KEY: 1, "other": 2}
    assert decode([mark], Any) == [mark]  # only a payload as a whole is a mark


async def test_the_test_environment_takes_a_data_converter() -> None:
    async with await WorkflowEnvironment.start_time_skipping(data_converter=encrypting()) as env:
        async with running_worker(env.client, "codec-env", workflows=[codec_child]):
            handle = await env.client.start_workflow(codec_child, SECRET, id="codec-env", task_queue="codec-env")
            assert await handle.result() == SECRET.upper()
        blind = await Client.connect(env.address)
        try:
            events = await blind.get_workflow_handle("codec-env").fetch_history()
            assert is_encoded(events[0]["attributes"]["input"]) and SECRET not in repr(events)
        finally:
            await blind.close()
