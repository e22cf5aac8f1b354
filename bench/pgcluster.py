"""A throwaway PostgreSQL 15 cluster for ``run.py --postgres``: the machine's initdb/pg_ctl, in a temp folder,
on a free port, with PostgreSQL's default settings (fsync and synchronous_commit on, as in the reference
runs of DBOS on PostgreSQL) but max_connections=300. Each engine run gets a fresh database."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from common import free_port

__all__ = ["PgCluster"]


class PgCluster:
    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise SystemExit("--postgres needs PostgreSQL's server programs (apt-get install postgresql-15)")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = free_port()
        # initdb refuses to run as root: the cluster then runs as the postgres user.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PgCluster:
        data = str(self.dir / "data")
        self._run(str(self.bin / "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._run(str(self.bin / "pg_ctl"), "-D", data, "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        subprocess.run(
            [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        name = "b_" + uuid.uuid4().hex[:12]
        psql = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        self._run(*psql, "-qc", f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def backend_cpu_s(self) -> float:
        """CPU seconds of the cluster so far: the postmaster's own and its reaped children's, plus its
        live children's (the backends, the WAL writer, the checkpointer...)."""
        tick = os.sysconf("SC_CLK_TCK")

        def stat(pid: str) -> list[str]:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()

        try:
            with open(self.dir / "data" / "postmaster.pid") as f:
                postmaster = f.readline().strip()
            fields = stat(postmaster)
        except OSError:
            return 0.0
        total = sum(int(x) for x in fields[11:15]) / tick
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == postmaster:
                continue
            try:
                fields = stat(pid)
            except OSError:
                continue
            if fields[1] == postmaster:  # the parent pid
                total += sum(int(x) for x in fields[11:15]) / tick
        return total
