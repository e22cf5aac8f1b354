"""Load the server can say no to: past what it can take, a start is refused at once with 429 and a
Retry-After (on HTTP and on the client channel), a refused start leaves no run behind, and the Python
client retries with the same request id, so every start it was asked for happens exactly once.

The rule itself (a standing queue, not a burst) is checked with a clock the test moves; the benchmark
(``bench/run.py W6``) measures where it starts to refuse on this machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from mainspring import Client
from mainspring.errors import ResourceExhaustedError
from mainspring.server._admission import Admission
from support import ServerProcess

NS = "/api/v1/namespaces/default"


def test_a_standing_queue_is_refused_and_a_burst_is_not() -> None:
    now = [0.0]
    gate = Admission(target=0.05, interval=0.1, limit=100, floor=2, clock=lambda: now[0])
    # A burst: 50 at once, all taken in, however slowly they finish.
    burst = [gate.admit("starts") for _ in range(50)]
    now[0] = 0.2
    for ticket in burst[:10]:
        gate.done(ticket)  # slow (0.2 s each): a queue is standing from now
    assert gate.in_flight == 40
    now[0] = 0.25
    gate.admit("starts")  # not for long enough yet
    now[0] = 0.31
    with pytest.raises(ResourceExhaustedError) as refused:
        gate.admit("starts")
    assert refused.value.status == 429 and refused.value.retry_after == gate.retry_after
    assert "retry after" in refused.value.message
    # One that finishes quickly ends it.
    quick = burst[10]
    now[0] = quick + 0.01
    gate.done(quick)
    gate.admit("starts")
    # The hard limit holds whatever the timing.
    while gate.in_flight < 100:
        gate.admit("starts")
    with pytest.raises(ResourceExhaustedError):
        gate.admit("starts")
    assert gate.refused == 2


def test_an_event_loop_that_stays_late_refuses_starts_too() -> None:
    now = [0.0]
    gate = Admission(target=0.05, interval=0.1, limit=100, floor=2, clock=lambda: now[0])
    tickets = [gate.admit("starts") for _ in range(3)]
    gate.lateness(0.2)  # one late wake-up (a long pause) is not a standing queue
    now[0] = 0.05
    gate.lateness(0.0)
    now[0] = 0.2
    gate.admit("starts")
    gate.lateness(0.08)
    now[0] = 0.31
    gate.lateness(0.09)
    with pytest.raises(ResourceExhaustedError):
        gate.admit("starts")
    # With fewer than ``floor`` in flight nothing is refused, however late the loop is.
    for ticket in tickets:
        gate.done(ticket)
    gate.done(0.2)
    assert gate.in_flight == 0
    gate.admit("starts")
    now[0] = 0.4
    gate.lateness(0.0)
    gate.admit("starts")
    gate.admit("starts")


def test_overloaded_starts_get_429_leave_nothing_behind_and_the_client_retries(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "busy.db", extra_args=["--max-pending-starts", "3"]).start()
    try:

        async def burst(round_: int) -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url + NS, timeout=60) as http:
                return await asyncio.gather(
                    *(
                        http.post(
                            "/workflows",
                            json={"workflow_id": f"raw-{round_}-{i}", "workflow_type": "wf", "task_queue": "q"},
                        )
                        for i in range(200)
                    )
                )

        refused: list[httpx.Response] = []
        accepted: list[httpx.Response] = []
        for round_ in range(5):  # a burst almost always overlaps more than 3 starts; try again if not
            answers = asyncio.run(burst(round_))
            refused += [r for r in answers if r.status_code == 429]
            accepted += [r for r in answers if r.status_code == 201]
            assert len(refused) + len(accepted) == 200 * (round_ + 1), {r.status_code for r in answers}
            if refused:
                break
        assert refused, "no start was refused"
        for r in refused:
            assert r.headers["retry-after"] == "1"
            body = r.json()
            assert body["code"] == "overloaded" and 0 < body["details"]["retry_after"] <= 1, body
        with httpx.Client(base_url=server.url + NS) as http:
            listed: set[str] = set()
            token = None
            while True:
                page = http.get("/workflows", params={"limit": 1000, **({"page_token": token} if token else {})})
                listed |= {e["workflow_id"] for e in page.json()["executions"]}
                token = page.json()["next_page_token"]
                if not token:
                    break
        # Exactly the accepted starts made runs; no refused one did.
        assert listed == {r.json()["workflow_id"] for r in accepted}

        async def through_the_client() -> list[str]:
            async with await Client.connect(server.address) as client:
                handles = await asyncio.gather(
                    *(client.start_workflow("wf", i, id=f"sdk-{i}", task_queue="q") for i in range(300))
                )
                return [h.run_id or "" for h in handles]

        refused_before = httpx.get(server.url + "/api/v1/health").json()["load"]["starts_refused"]
        run_ids = asyncio.run(through_the_client())
        # Some of those were refused on the channel and retried by the client (with their request ids).
        assert httpx.get(server.url + "/api/v1/health").json()["load"]["starts_refused"] > refused_before
        assert len(set(run_ids)) == 300 and all(run_ids)
        with httpx.Client(base_url=server.url + NS) as http:
            page = http.get("/workflows", params={"limit": 1000, "workflow_id_prefix": "sdk-"}).json()
        assert sorted(e["run_id"] for e in page["executions"]) == sorted(run_ids)
        assert "Traceback" not in server.log()
    finally:
        server.stop()
