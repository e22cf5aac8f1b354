"""scripts/hello.sh, the README's first command, run for real: a server, the hello worker and the CLI on the
ports MAINSPRING_PORT and MAINSPRING_UI_PORT give; and, when something else holds one of those ports (a
Temporal dev server often holds 7233 and 8233), a stop at once with the server's own message, running
nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import PYTHON, ROOT, free_port

pytestmark = pytest.mark.slow

HELLO_SH = ROOT / "scripts" / "hello.sh"


def hello_sh(
    tmp_path: Path, port: int, ui_port: int, *, bin_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``bash scripts/hello.sh --no-install`` with this test's Python first on PATH (after ``bin_dir``, if given)
    and its temporary files in tmp_path/tmp (see ``leftovers``)."""
    path = [str(bin_dir)] if bin_dir else []
    env = {
        **os.environ,
        "PATH": os.pathsep.join([*path, str(Path(PYTHON).parent), os.environ.get("PATH", "")]),
        "MAINSPRING_PORT": str(port),
        "MAINSPRING_UI_PORT": str(ui_port),
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("MAINSPRING_ADDRESS", None)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(HELLO_SH), "--no-install"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )


def leftovers(tmp_path: Path) -> list[Path]:
    """What hello.sh left in its temporary folder (it should remove its own)."""
    return list((tmp_path / "tmp").iterdir())


@contextlib.contextmanager
def held(port: int) -> Iterator[socket.socket]:
    """A plain listening socket on 127.0.0.1:port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield s


def test_hello_sh_runs_the_example_on_the_ports_it_is_given(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    r = hello_sh(tmp_path, port, ui_port)
    assert r.returncode == 0, r.stdout + r.stderr
    # The server's banner names both ports it listens on, and the CLI reached it on the first.
    assert f"API         http://127.0.0.1:{port}" in r.stdout
    assert f"Web UI      http://localhost:{ui_port}" in r.stdout
    result = r.stdout.split("== mainspring workflow result --workflow-id example_id\n", 1)[1]
    result = result.split("== mainspring workflow describe", 1)[0]
    assert json.loads(result)["platform"] == "mainspring"
    assert "COMPLETED" in r.stdout
    assert leftovers(tmp_path) == [], "hello.sh left its temporary folder behind"


@pytest.mark.parametrize("taken", ["api", "ui"])
def test_hello_sh_stops_at_once_with_the_servers_message_when_a_port_is_taken(tmp_path: Path, taken: str) -> None:
    port, ui_port = free_port(), free_port()
    busy = port if taken == "api" else ui_port
    flag = "--port" if taken == "api" else "--ui-port"
    with held(busy):
        r = hello_sh(tmp_path, port, ui_port)
    assert r.returncode != 0
    # The server's own words, then what to do with this script; and neither the worker nor the CLI ran.
    assert f"port {busy} on 127.0.0.1 is already in use" in r.stderr
    assert f"choose another with {flag}" in r.stderr
    assert "MAINSPRING_PORT=" in r.stderr and "MAINSPRING_UI_PORT=" in r.stderr
    assert "examples/hello/worker.py" not in r.stdout + r.stderr
    assert "mainspring workflow" not in r.stdout
    assert "Traceback" not in r.stderr
    assert leftovers(tmp_path) == []


def test_hello_sh_stops_when_the_worker_exits_instead_of_waiting_for_the_result(tmp_path: Path) -> None:
    # A `python` first on PATH that runs everything as usual but the hello worker, which exits at once.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in *examples/hello/worker.py) echo "worker: cannot start (a test stand-in)" >&2; exit 3 ;; esac\n'
        f'exec "{PYTHON}" "$@"\n'
    )
    fake.chmod(0o755)
    r = hello_sh(tmp_path, free_port(), free_port(), bin_dir=bin_dir)
    assert r.returncode != 0
    assert "worker: cannot start" in r.stderr
    assert "the worker exited (status 3) before the workflow finished" in r.stderr
    assert leftovers(tmp_path) == []
