"""The CLI starts fast because it imports only what the command needs: `mainspring --help`, `workflow list`
and `workflow describe` load neither the SDK's asynchronous client (asyncio, aiohttp) nor pydantic nor the
server. Checked by the modules a real CLI process imports (``python -X importtime``), not by timing it:
bench/run.py cli measures the time.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support import PYTHON, ServerProcess, WorkerProcess, wait_until

HEAVY = (
    "asyncio",
    "aiohttp",
    "yarl",
    "pydantic",
    "orjson",
    "starlette",
    "uvicorn",
    "mainspring.server",
    "mainspring.storage",
    "mainspring.client._client",
    "mainspring.worker",
    "mainspring.workflow",
    "mainspring.converter",
)


def imported(*args: str, address: str | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``mainspring ARGS`` under ``-X importtime``; the process and the modules it imported."""
    env = {**os.environ, **({"MAINSPRING_ADDRESS": address} if address else {})}
    r = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "mainspring", *args], capture_output=True, text=True, env=env, timeout=60
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "mainspring.cli" in modules, r.stderr[-2000:]
    return r, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_imports_nothing_heavy() -> None:
    r, modules = imported("--help")
    assert r.returncode == 0 and "Commands:" in r.stdout
    assert heavy(modules) == []


def test_list_and_describe_import_nothing_heavy(server: ServerProcess) -> None:
    r, modules = imported(
        "workflow",
        "start",
        "--task-queue",
        "q",
        "--type",
        "t",
        "--workflow-id",
        "w1",
        address=server.address,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "aiohttp" in modules  # starting uses the SDK's client (and this check sees imports)
    for args in (["workflow", "list"], ["workflow", "describe", "--workflow-id", "w1"]):
        r, modules = imported(*args, address=server.address)
        assert r.returncode == 0 and "w1" in r.stdout, (args, r.stdout, r.stderr[-2000:])
        assert heavy(modules) == [], args


def test_the_package_root_loads_its_names_on_first_use() -> None:
    # What `import mainspring` made available when it imported everything up front still works.
    code = """
import sys
import mainspring
assert "pydantic" not in sys.modules and "aiohttp" not in sys.modules, "imported up front"
assert mainspring.errors.ApplicationError is mainspring.ApplicationError
from mainspring import *  # noqa: F403
assert all(getattr(mainspring, name) is not None for name in mainspring.__all__)
assert Client is mainspring.client.Client and callable(workflow.defn)  # noqa: F405
try:
    mainspring.no_such_name
except AttributeError:
    print("ok")
"""
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_the_other_one_request_commands_import_nothing_heavy(server: ServerProcess, tmp_path: Path) -> None:
    # show, stack, cancel, terminate and the namespace commands are plain requests too (and still work).
    worker = Path(__file__).resolve().parent / "workers" / "newcomer_worker.py"
    a = server.address
    w = WorkerProcess(worker, a, log_path=tmp_path / "worker.log").start()
    try:
        start = ["workflow", "start", "--task-queue", "newcomer", "--type", "nap_workflow", "--input", "60"]
        for wid in ("nap-1", "nap-2"):
            r, _ = imported(*start, "--workflow-id", wid, address=a)
            assert r.returncode == 0, r.stderr[-2000:]

        def waiting() -> bool:
            r, _ = imported("workflow", "stack", "--workflow-id", "nap-1", address=a)
            return r.returncode == 0 and "nap_workflow" in r.stdout

        wait_until(waiting, 30, what="the workflow to wait on its activity")
        checks: list[tuple[list[str], str]] = [
            (["workflow", "stack", "--workflow-id", "nap-1"], "execute_activity"),
            (["workflow", "show", "--workflow-id", "nap-1"], "ActivityTaskScheduled"),
            (["workflow", "cancel", "--workflow-id", "nap-1", "--reason", "test"], "Cancellation requested"),
            (["workflow", "terminate", "--workflow-id", "nap-2"], "Workflow nap-2 terminated."),
            (["namespace", "create", "other"], "Namespace other is ready."),
            (["namespace", "list"], "other"),
        ]
        for args, expected in checks:
            r, modules = imported(*args, address=a)
            assert r.returncode == 0 and expected in r.stdout, (args, r.stdout, r.stderr[-2000:])
            assert heavy(modules) == [], args
    finally:
        w.stop()
