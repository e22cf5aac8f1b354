"""Test support: real server and worker processes, the real CLI, free ports, waiting helpers.

Nothing here is mocked: a ``ServerProcess`` is ``mainspring server start-dev`` on a SQLite file in the
test's temp dir, a ``WorkerProcess`` is one of the example workers (or any script), and ``run_cli``
runs the ``mainspring`` command.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
#: The tests' own worker scripts.
WORKERS = ROOT / "tests" / "workers"
PYTHON = sys.executable
#: The store the tests' servers run on: "sqlite" (a file in the test's temp dir, the default) or "postgres"
#: (MAINSPRING_TEST_STORE=postgres: each SQLite file a test names becomes a fresh database of the session's
#: PostgreSQL cluster, tests/pgserver.py; scripts/test.sh runs the end-to-end files so as well).
TEST_STORE = os.environ.get("MAINSPRING_TEST_STORE", "sqlite")
if TEST_STORE not in ("sqlite", "postgres"):
    raise RuntimeError(f"MAINSPRING_TEST_STORE must be 'sqlite' or 'postgres', not {TEST_STORE!r}")
ON_POSTGRES = TEST_STORE == "postgres"


def store_url(db: Path | str) -> str:
    """What a server is started on for ``db``: itself, or under MAINSPRING_TEST_STORE=postgres (unless it
    is a database URL already) the PostgreSQL database that stands for that file."""
    if not ON_POSTGRES or str(db).startswith(("postgres://", "postgresql://")):
        return str(db)
    from pgserver import database_for  # pgserver imports this module

    return database_for(db)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "16m") mounted at ``path`` for the block: a small file system a test can
    fill. Skips the test where mounting is not allowed (it needs root)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until its file system is full; the file (delete it to free the space)."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:  # what is left, in smaller pieces
            while True:
                f.write(chunk[:512])
        except OSError:
            pass
    return filler


class WriteFault:
    """One kind of write made to fail as on a full disk, in a running server's database file on a ``tmpfs``.

    A trigger in the file makes each insert into ``table`` that matches ``when`` (an SQL condition on ``NEW``)
    also write a blob of ``mib`` MiB, and the file system is filled: that write needs room that is not there
    and fails with SQLITE_FULL (the store loses the whole transaction it was in, as on any full disk), while
    the server's other writes still fit in the room its write-ahead log keeps, so only the chosen step fails,
    each time it is tried. Up to the server's page cache (64 MiB) the blob stays in memory and the commit
    fails; past it, SQLite writes pages out during the insert, which fails there (SQLite then rolls the
    transaction back itself). ``clear()`` frees the space and drops the trigger: the disk is back.
    """

    def __init__(self, fs: Path, db: Path | str, table: str, when: str, *, mib: int = 32) -> None:
        self.fs, self.db = fs, str(db)
        with contextlib.closing(sqlite3.connect(self.db, timeout=30, isolation_level=None)) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS test_fault_pad (b BLOB)")
            conn.execute(
                f"CREATE TRIGGER test_fault BEFORE INSERT ON {table} WHEN {when} "
                f"BEGIN INSERT INTO test_fault_pad VALUES (zeroblob({mib * 1024 * 1024})); END"
            )
        self.filler: Path | None = fill(fs)

    def clear(self) -> None:
        if self.filler is not None:
            self.filler.unlink()
            self.filler = None
        with contextlib.closing(sqlite3.connect(self.db, timeout=30, isolation_level=None)) as conn:
            conn.execute("DROP TRIGGER IF EXISTS test_fault")


_PORT_RANDOM = random.Random()


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999).

    Port 0 hands out an ephemeral port, and between this probe and the server's bind any outgoing
    connection on the machine may take it (CI saw exactly that); ports below the range are only ever
    taken by listeners, so a collision needs another test to pick the same number.
    """
    for _ in range(200):
        port = _PORT_RANDOM.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:
            last_exc = e
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}"
        + (f" (last error: {last_exc!r})" if last_exc else "")
    )


def store_sql(store: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run one statement (``?`` placeholders) on a server's store itself, a SQLite file or a PostgreSQL URL
    (``ServerProcess.store``; the two schemas have the same tables), commit, and return its rows."""
    if store.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(store) as pg:
            cur = pg.execute(sql.replace("?", "%s").encode(), tuple(params))
            return cur.fetchall() if cur.description is not None else []
    with contextlib.closing(sqlite3.connect(store, timeout=10)) as conn:
        rows = conn.execute(sql, tuple(params)).fetchall()
        conn.commit()
        return rows


class ServerProcess:
    """``mainspring server start-dev`` in a subprocess, on a SQLite file (or a database URL). Under
    MAINSPRING_TEST_STORE=postgres a file stands for a PostgreSQL database of its own (``store_url``): the
    same for every server given that file, so that a restart keeps the state."""

    def __init__(
        self, db: Path | str, *, port: int | None = None, extra_args: Sequence[str] = (), log_path: Path | None = None
    ) -> None:
        self.db = str(db)
        #: What the server is started on: ``db``, or the PostgreSQL database standing for it.
        self.store = store_url(db)
        self._port_given = port is not None
        self.port = port or free_port()
        self.ui_port = free_port()
        self.extra_args = list(extra_args)
        self.log_path = log_path or Path(str(db) + f".server-{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_seconds: float | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def ui_url(self) -> str:
        """The web UI (it also serves the API)."""
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self, timeout: float = 15.0) -> ServerProcess:
        for _attempt in range(3):
            try:
                return self._start(timeout)
            except RuntimeError as exc:
                # A port probed free was taken before the server bound it: choose again (the API
                # port only when the test did not ask for one, a restart keeps its port).
                if "already in use" not in str(exc):
                    raise
                self.ui_port = free_port()
                if not self._port_given and f"port {self.port} " in str(exc):
                    self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> ServerProcess:
        t0 = time.monotonic()
        self.launch()

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            return self.healthy()

        deadline = time.monotonic() + timeout
        while True:
            try:
                if healthy():
                    break
            except RuntimeError:
                raise
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not become healthy in {timeout}s:\n{self.log()}")
            time.sleep(0.02)
        self.ready_seconds = time.monotonic() - t0
        return self

    def healthy(self) -> bool:
        """Whether the server answers its health check now (a standby does not listen until it takes over)."""
        try:
            return httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to answer (a standby: it answers once it holds the store)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "mainspring",
                "server",
                "start-dev",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--db-filename",
                self.store,
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then wait (SIGKILL if it does not exit)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def restart(self) -> ServerProcess:
        self.kill()
        return self.start()


class WorkerProcess:
    """A worker script in a subprocess (by default one of the examples)."""

    def __init__(
        self,
        script: Path | str,
        address: str,
        *,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        log_path: Path | None = None,
    ) -> None:
        self.script = str(script)
        self.address = address
        self.env = env or {}
        self.args = list(args)
        self.log_path = log_path or Path(f"/tmp/mainspring-worker-{os.getpid()}-{id(self)}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True, timeout: float = 15.0) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self._offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [PYTHON, self.script, "--address", self.address, *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        log.close()
        if wait_ready:
            wait_until(
                lambda: "polling task queue" in self.log()[self._offset :] or self._died(),
                timeout,
                what=f"worker {self.script} to start",
            )
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def can_worker(server: ServerProcess, task_queue: str, log_dir: Path) -> WorkerProcess:
    """The continue-as-new and workflow-timeout worker (``workers/can_worker.py``: counter, flaky, sleeper) for
    ``server`` on ``task_queue``, not yet started; its log in ``log_dir``."""
    return WorkerProcess(
        WORKERS / "can_worker.py", server.address, args=["--task-queue", task_queue], log_path=log_dir / "w.log"
    )


def run_cli(
    *args: str, address: str | None = None, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``mainspring ARGS`` and capture its output."""
    full_env = {**os.environ, **(env or {})}
    if address is not None:
        full_env["MAINSPRING_ADDRESS"] = address
    return subprocess.run(
        [PYTHON, "-m", "mainspring", *args], capture_output=True, text=True, timeout=timeout, env=full_env
    )


@contextlib.contextmanager
def running(*procs: ServerProcess | WorkerProcess) -> Iterator[None]:
    try:
        yield
    finally:
        for p in reversed(procs):
            p.stop(timeout=5)


#: Debian's Chromium, which the UI and web-security tests drive unless ``MAINSPRING_CHROMIUM`` names another
#: (scripts/chromium.sh finds one, or installs Debian's, and sets it): headless, and without the background
#: connections this machine's closed network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright ``Browser`` on Debian's Chromium (no browser download), closed afterwards."""
    from playwright.sync_api import sync_playwright

    path = os.environ.get("MAINSPRING_CHROMIUM") or CHROMIUM
    if not Path(path).exists():
        raise AssertionError(
            f"{path} is missing: `bash scripts/chromium.sh` finds a Chromium (or installs Debian's package);"
            " set MAINSPRING_CHROMIUM to the one it prints"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def watched_page(browser: Any, viewport: dict[str, int], **context: Any) -> Iterator[Any]:
    """A page of a fresh browser context, for a fixture to yield from: closed afterwards, and the test
    fails if the page threw an uncaught error meanwhile."""
    ctx = browser.new_context(viewport=viewport, locale="en-US", **context)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    try:
        yield pg
    finally:
        ctx.close()
    assert not errors, f"the page logged errors: {errors}"


#: An API key as a server prints and answers it (``mainspring._api_keys``).
API_KEY = re.compile(r"msk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def first_api_key(server: ServerProcess) -> str:
    """The admin key a server with ``--auth api-key`` printed at its first start."""
    return str(wait_until(lambda: API_KEY.findall(server.log()), 10, what="the first admin key in the log")[0])


def make_api_key(server: ServerProcess, admin: str, namespace: str, role: str) -> str:
    """A new API key of ``role`` in ``namespace``, made by the holder of ``admin``."""
    r = httpx.post(
        f"{server.url}/api/v1/api-keys",
        json={"name": f"{role} of {namespace}", "namespace": namespace, "role": role},
        headers={"authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["api_key"])
