"""A burst of signals to one run, against a real server: they share group commits (a signal's transition lets
go of the run's lock once its write is submitted, and is answered once it is durable), and still each is
recorded once, in one order that the workflow's handler sees too, a retry with the same request id included.
"""

from __future__ import annotations

import asyncio
import uuid

from inprocess import events_of, running_worker
from mainspring import Client, workflow


@workflow.defn(name="BurstSink")
class Sink:
    def __init__(self) -> None:
        self.seen: list[int] = []

    @workflow.run
    async def run(self, ctx: workflow.Context, n: int) -> list[int]:
        await ctx.wait_condition(lambda: len(self.seen) >= n)
        return self.seen

    @workflow.signal
    def add(self, i: int) -> None:
        self.seen.append(i)


async def test_a_burst_with_retries_is_recorded_once_each_in_the_order_the_handler_sees(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    n = 300
    async with running_worker(client, tq, workflows=[Sink]):
        handle = await client.start_workflow(Sink.run, n, id=f"burst-{uuid.uuid4().hex[:8]}", task_queue=tq)
        # Each signal sent twice at once with its request id: the second may arrive while the first's write
        # is still in flight, and must neither record it again nor answer before it is durable.
        sends = [handle.signal(Sink.add, i, request_id=f"r-{i}") for i in range(n) for _ in range(2)]
        await asyncio.gather(*sends)
        result = await asyncio.wait_for(handle.result(), 60)
    recorded = [e["attributes"]["input"] for e in await events_of(handle, "WorkflowExecutionSignaled")]
    assert sorted(recorded) == list(range(n))
    assert result == recorded
