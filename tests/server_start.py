"""``mainspring server start`` in a subprocess, given exactly the flags, environment and config file a test
chooses (``support.ServerProcess`` passes its own --port, --ui-port and --db, which would hide where a
setting came from); and a SQLite file whose schema is behind."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from support import PYTHON

__all__ = ["StartProcess", "clean_env", "sqlite_at_version"]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any MAINSPRING_* variable (a developer's own would leak into
    what a test says came from defaults), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINSPRING_")}
    if env.get("PYTHONPATH"):  # absolute, for a server started in another folder (a relative db, say)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep))
    return {**env, "PYTHONUNBUFFERED": "1", **(extra or {})}


class StartProcess:
    """``mainspring server start ARGS``; ``wait_ready`` returns its banner."""

    def __init__(
        self, args: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "mainspring", "server", "start", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(env),
                cwd=cwd,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode} before {text!r}:\n{log}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} from the server in {timeout}s:\n{self.log()}")

    def wait_ready(self, timeout: float = 30.0) -> str:
        return self.wait_for("Ready in", timeout)

    def api_port(self) -> int:
        m = re.search(r"API\s+http://[^:]+:(\d+)", self.log())
        assert m, self.log()
        return int(m.group(1))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def sqlite_at_version(path: Path, version: int) -> None:
    """Make ``path`` a SQLite store as a Mainspring of schema ``version`` left it: its first migrations
    only, applied as the store applies them."""
    from mainspring.storage._sqlite_file import migrations

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
        for v, sql in migrations()[:version]:
            conn.execute("BEGIN")
            for statement in sql.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (v, time.time()))
            conn.execute("COMMIT")
    finally:
        conn.close()
