"""The CLI starts fast because it imports only what the command needs: `mainspring --help`, `workflow list`
and `workflow describe` load neither the SDK's asynchronous client (asyncio, aiohttp) nor pydantic nor the
server. Checked by the modules a real CLI process imports (``python -X importtime``), not by timing it:
bench/run.py cli measures the time.
"""

from __future__ import annotations

import os
import subprocess

from support import PYTHON, ServerProcess

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
