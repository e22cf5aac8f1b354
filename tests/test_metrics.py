"""Prometheus metrics (``--metrics-port``) of a real server running the hello example with a real worker,
read back with Prometheus' own text-format parser (``prometheus_client.parser``): workflow starts and closes
by namespace, type and status; operation latency and errors by operation (HTTP routes and the worker
channel alike); the store's commits; the execution cache; task queue backlogs and workers. Labels carry no
workflow or run ids. Without the flag nothing listens and nothing is counted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support import EXAMPLES, ON_POSTGRES, ServerProcess, WorkerProcess, free_port, run_cli, running, wait_until

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "mainspring.json"
UI_WORKER = Path(__file__).resolve().parent / "workers" / "ui_worker.py"
HELLO_INPUT = '--input={"code":"python","kind":"typesafe"}'


def scrape(port: int) -> dict[str, list[Any]]:
    """Every sample by metric family name (samples: name, labels, value)."""
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def value(families: dict[str, list[Any]], sample: str, **labels: str) -> float:
    family = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum").removesuffix("_bucket")
    for s in families.get(family, []):
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return 0.0


def test_the_metrics_count_a_workflow_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "m.db", extra_args=["--metrics-port", str(port)])
    worker = WorkerProcess(EXAMPLES / "hello" / "worker.py", server.address, log_path=tmp_path / "w.log")
    with running(server, worker):
        server.start()
        assert f"Metrics     http://127.0.0.1:{port}/metrics" in server.log()
        worker.start()
        started = run_cli(
            "workflow",
            "execute",
            "--task-queue=hello-task-queue",
            "--type=sdk_example_workflow",
            "--workflow-id=metrics-hello-1",
            HELLO_INPUT,
            address=server.address,
        )
        assert started.returncode == 0, started.stderr
        # A run no worker takes: its workflow task waits in the backlog.
        waiting = run_cli(
            "workflow", "start", "--task-queue=nobody-polls", "--type=Lonely", "--workflow-id=metrics-lonely",
            address=server.address,
        )  # fmt: skip
        assert waiting.returncode == 0, waiting.stderr
        # An error answer: a workflow that does not exist.
        missing = httpx.get(
            f"{server.url}/api/v1/namespaces/default/workflows/describe", params={"workflow_id": "no-such"}
        )
        assert missing.status_code == 404

        m = scrape(port)
        ns = {"namespace": "default"}
        assert value(m, "mainspring_workflow_started_total", **ns, workflow_type="sdk_example_workflow") == 1
        assert value(m, "mainspring_workflow_started_total", **ns, workflow_type="Lonely") == 1
        closed = {"workflow_type": "sdk_example_workflow", "status": "COMPLETED"}
        assert value(m, "mainspring_workflow_closed_total", **ns, **closed) == 1
        assert value(m, "mainspring_operation_duration_seconds_count", operation="start_workflow") == 2
        # The worker's calls over its channel are operations of the same table.
        assert value(m, "mainspring_operation_duration_seconds_count", operation="complete_workflow_task") >= 1
        assert value(m, "mainspring_operation_duration_seconds_count", operation="complete_activity_task") == 1
        assert value(m, "mainspring_operation_errors_total", operation="describe_workflow", code="not_found") == 1
        assert value(m, "mainspring_store_commit_duration_seconds_count") >= 3
        assert value(m, "mainspring_store_commit_writes_sum") >= value(m, "mainspring_store_commit_writes_count")
        assert value(m, "mainspring_execution_cache_lookups_total", result="hit") >= 1
        assert value(m, "mainspring_execution_cache_runs") >= 1
        backlog = {"task_queue": "nobody-polls", "kind": "workflow"}
        assert value(m, "mainspring_task_queue_backlog", **ns, **backlog) == 1
        assert value(m, "mainspring_task_queue_workers", **ns, task_queue="hello-task-queue") == 1
        assert [s.labels["version"] for s in m["mainspring_build_info"]] != []
        if ON_POSTGRES:  # the one server holds the store's lease
            assert value(m, "mainspring_shard_leases_held") == 1
        else:
            assert "mainspring_shard_leases_held" not in m
        # Bounded labels: ids are not among them.
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "metrics-hello-1" not in text and "metrics-lonely" not in text and "no-such" not in text

        # The port serves GET /metrics and nothing else.
        other = httpx.get(f"http://127.0.0.1:{port}/api/v1/health")
        assert other.status_code == 404 and json.loads(other.text)["code"] == "not_found"
        assert httpx.post(f"http://127.0.0.1:{port}/metrics").status_code == 404
        assert httpx.head(f"http://127.0.0.1:{port}/metrics").status_code == 200


def test_without_the_flag_nothing_listens(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "off.db")
    with running(server):
        server.start()
        assert "Metrics" not in server.log()
        wait_until(server.healthy, 10, what="the server")
        try:
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            raise AssertionError("something answered on the metrics port")
        except httpx.ConnectError:
            pass


def test_a_bad_metrics_port_is_refused(tmp_path: Path) -> None:
    r = run_cli("server", "start-dev", "--db-filename", str(tmp_path / "x.db"), "--metrics-port", "70000")
    assert r.returncode == 2 and "--metrics-port" in r.stderr and "65535" in r.stderr
    taken = ServerProcess(tmp_path / "a.db")
    with running(taken):
        taken.start()
        r = run_cli(
            "server", "start-dev", "--db-filename", str(tmp_path / "b.db"), "--port", "0", "--ui-port", "0",
            "--metrics-port", str(taken.port),
        )  # fmt: skip
        assert r.returncode != 0 and "--metrics-port" in r.stderr, r.stderr


def test_activity_attempts_failures_and_waits_are_counted(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "a.db", extra_args=["--metrics-port", str(port)])
    worker = WorkerProcess(UI_WORKER, server.address, log_path=tmp_path / "ui.log")
    with running(server, worker):
        server.start()
        worker.start(wait_ready=False)
        wait_until(lambda: "polling task queue" in worker.log(), 30, what="the UI worker to start")
        common = ("--task-queue=ui-task-queue", "-o", "json")
        flaky = run_cli(
            "workflow", "execute", *common, "--type=ui_progress_workflow", "--workflow-id=m-progress",
            '--input={"seconds": 0.1}', address=server.address,
        )  # fmt: skip
        assert flaky.returncode == 0, flaky.stderr
        failing = run_cli(
            "workflow", "execute", *common, "--type=ui_failing_workflow", "--workflow-id=m-failing",
            '--input="no funds"', address=server.address,
        )  # fmt: skip
        assert failing.returncode != 0
        m = scrape(port)
        ns = {"namespace": "default"}
        assert value(m, "mainspring_activity_attempts_total", **ns, activity_type="ui_progress") == 2
        assert value(m, "mainspring_activity_attempts_total", **ns, activity_type="ui_decline_card") == 1
        failures = "mainspring_activity_attempt_failures_total"
        assert value(m, failures, **ns, activity_type="ui_progress", outcome="RETRIED") == 1
        assert value(m, failures, **ns, activity_type="ui_decline_card", outcome="NON_RETRYABLE_FAILURE") == 1
        closed = "mainspring_workflow_closed_total"
        assert value(m, closed, **ns, workflow_type="ui_failing_workflow", status="FAILED") == 1
        assert value(m, closed, **ns, workflow_type="ui_progress_workflow", status="COMPLETED") == 1
        waits = "mainspring_task_schedule_to_start_seconds_count"
        assert value(m, waits, **ns, kind="activity") == 3
        assert value(m, waits, **ns, kind="workflow") >= 2

        # The Grafana dashboard in the repo asks only for what the server exposes.
        assert httpx.get(f"{server.url}/api/v1/namespaces/default/workflows/describe?workflow_id=none").status_code
        exposed = {s.name for samples in scrape(port).values() for s in samples}
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        assert len(exprs) >= 12
        for expr in exprs:
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
            for name in re.findall(r"mainspring_[a-z_]+", expr):
                if name == "mainspring_shard_leases_held" and not ON_POSTGRES:
                    continue  # PostgreSQL only
                assert name in exposed, f"the dashboard asks for {name}, which the server does not expose"


def test_a_standby_is_seen_on_its_metrics_port_and_counts_once_it_serves(tmp_path: Path, postgres_url: str) -> None:
    pa, pb = free_port(), free_port()
    a = ServerProcess(postgres_url, extra_args=["--metrics-port", str(pa)], log_path=tmp_path / "a.log")
    b = ServerProcess(postgres_url, extra_args=["--standby", "--metrics-port", str(pb)], log_path=tmp_path / "b.log")
    with running(a, b):
        a.start()
        b.launch()

        def standing_by() -> bool:
            try:
                return value(scrape(pb), "mainspring_standby") == 1
            except (httpx.HTTPError, AssertionError):
                return False

        wait_until(standing_by, 30, what="B's metrics port to answer as a standby")
        assert value(scrape(pb), "mainspring_shard_leases_held") == 0
        assert value(scrape(pa), "mainspring_shard_leases_held") == 1
        a.stop()  # B takes the store over, and its metrics port serves the real metrics
        wait_until(b.healthy, 30, what="B to take over")
        m = scrape(pb)
        assert value(m, "mainspring_shard_leases_held") == 1 and "mainspring_standby" not in m
