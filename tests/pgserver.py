"""A throwaway PostgreSQL cluster for the tests: PostgreSQL 15's own initdb and pg_ctl (Debian's
postgresql-15 package; scripts/test.sh installs it on a machine without it), in a temporary folder,
on a free port, stopped and removed at the end. Each test gets a fresh database of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from support import free_port

__all__ = ["PostgresCluster", "database_for", "pg_bin", "shared_cluster", "stop_shared_cluster"]


def pg_bin() -> Path | None:
    """The folder of PostgreSQL's server programs, or None if none is installed."""
    base = Path("/usr/lib/postgresql")
    versions = sorted(base.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


class PostgresCluster:
    def __init__(self) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql-15)")
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="mainspring-pg-"))
        self.port = free_port()
        # initdb refuses to run as root: run the cluster as the postgres user when we are root.
        self._as: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> PostgresCluster:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._ctl("start")
        return self

    def _ctl(self, action: str) -> None:
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
            "-c max_connections=300"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", action)

    def restart(self) -> None:
        self._ctl("restart")

    def psql(self, sql: str, database: str = "postgres") -> None:
        self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-d", database, "-qc", sql)  # fmt: skip

    def add_password_role(self, role: str, password: str) -> None:
        """A role that must give its password (the cluster trusts every other one): for wrong-password tests."""
        self.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        hba = self.data / "pg_hba.conf"
        # The first matching line wins: this one goes before the trust lines.
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "reload")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)


_shared: PostgresCluster | None = None
#: The database each SQLite file of a test maps to under MAINSPRING_TEST_STORE=postgres, so that a server
#: started again on the same file (a restart after SIGKILL, a standby) finds the same store.
_databases: dict[str, str] = {}


def shared_cluster() -> PostgresCluster:
    """The session's one cluster, started on first use (the ``postgres_server`` fixture and every server
    of a MAINSPRING_TEST_STORE=postgres run share it); conftest stops it when the session ends."""
    global _shared
    if _shared is None:
        _shared = PostgresCluster().start()
    return _shared


def stop_shared_cluster() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None
        _databases.clear()


def database_for(path: str | Path) -> str:
    """A fresh database on the shared cluster for the SQLite file ``path``; the same one on every call."""
    key = str(Path(path).resolve())
    if key not in _databases:
        _databases[key] = shared_cluster().new_database()
    return _databases[key]


@contextlib.contextmanager
def cluster() -> Iterator[PostgresCluster]:
    c = PostgresCluster().start()
    try:
        yield c
    finally:
        c.stop()
