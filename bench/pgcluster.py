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
        """CPU seconds of the cluster's processes so far (postmaster and its children, live ones)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
                if b"postgres" not in cmd:
                    continue
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
            except OSError:
                continue
        return total
