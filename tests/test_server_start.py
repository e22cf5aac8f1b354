"""``mainspring server start``, the production command: where its settings come from (flags, MAINSPRING_*
variables, a TOML config file, defaults, in that order), its refusals, ``--no-migrate``, and several servers
on one PostgreSQL store. Real processes, real SQLite files, a real PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from mainspring.storage._sqlite_file import migrations
from mainspring.storage.sqlite import latest_schema_version
from server_start import StartProcess, clean_env, sqlite_at_version
from support import PYTHON, free_port


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mainspring", *args], capture_output=True, text=True, timeout=60, env=clean_env(env), cwd=cwd
    )


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def healthy(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200


def test_settings_come_from_the_config_file_then_the_environment_then_the_flags(tmp_path: Path) -> None:
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    config = tmp_path / "mainspring.toml"
    config.write_text(
        f'port = {file_port}\nheadless = true\ndb = "{tmp_path / "from-file.db"}"\n'
        'namespace = ["orders", "billing"]\nmax-payload-size = "1MiB"\nworker_session_timeout = 7\n'
    )

    # The file alone: its port, database and namespaces; the rest default (127.0.0.1, "server" banner).
    srv = StartProcess(["--config", str(config)], tmp_path / "file.log", cwd=tmp_path)
    try:
        banner = srv.wait_ready()
        assert f"API         http://127.0.0.1:{file_port}" in banner
        assert "Mainspring" in banner and " server (pid" in banner and "dev server" not in banner
        assert "Web UI" not in banner  # headless = true
        assert f"Database    {tmp_path / 'from-file.db'}" in banner
        assert "Namespaces  default, orders, billing" in banner
        assert healthy(file_port)
    finally:
        srv.stop()
    assert srv.proc.returncode == 0

    # The environment beats the file (MAINSPRING_CONFIG names it too); what it does not set stays the file's.
    env = {
        "MAINSPRING_CONFIG": str(config),
        "MAINSPRING_PORT": str(env_port),
        "MAINSPRING_NAMESPACES": "team-a team-b",
    }
    srv = StartProcess([], tmp_path / "env.log", env=env, cwd=tmp_path)
    try:
        banner = srv.wait_ready()
        assert f"API         http://127.0.0.1:{env_port}" in banner
        assert "Namespaces  default, team-a, team-b" in banner
        assert f"Database    {tmp_path / 'from-file.db'}" in banner and "Web UI" not in banner
    finally:
        srv.stop()
    assert srv.proc.returncode == 0

    # A flag beats both.
    flag_db = tmp_path / "from-flag.db"
    srv = StartProcess(
        ["--port", str(flag_port), "--db", str(flag_db), "--namespace", "flagged"],
        tmp_path / "flag.log",
        env=env,
        cwd=tmp_path,
    )
    try:
        banner = srv.wait_ready()
        assert f"API         http://127.0.0.1:{flag_port}" in banner
        assert "Namespaces  default, flagged" in banner
        assert f"Database    {flag_db}" in banner
        assert healthy(flag_port)
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_the_environment_alone_and_the_defaults(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    env = {"MAINSPRING_PORT": str(port), "MAINSPRING_UI_PORT": str(ui_port), "MAINSPRING_DB": "env.db"}
    srv = StartProcess([], tmp_path / "env.log", env=env, cwd=tmp_path)
    try:
        banner = srv.wait_ready()
        assert f"API         http://127.0.0.1:{port}" in banner  # --ip defaults to this machine only
        assert f"Web UI      http://localhost:{ui_port}" in banner
        assert "Namespaces  default\n" in banner
        assert (tmp_path / "env.db").exists()
    finally:
        srv.stop()
    assert srv.proc.returncode == 0
    assert "MAINSPRING_UI_PORT" in cli("server", "start", "--help").stdout


def test_a_bad_config_file_is_one_line_naming_the_key_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    for text, said in (
        ("prot = 7233\n", "unknown key 'prot'"),
        ('port = "7233"\n', "key 'port'"),
        ("port = 70000\n", "key 'port'"),
        ('namespace = "solo"\n', "key 'namespace'"),
        ("headless = 1\n", "key 'headless'"),
        ('log-level = "loud"\n', "key 'log-level'"),
        ("port = \n", "not valid TOML"),
    ):
        config.write_text(text)
        r = cli("server", "start", "--config", str(config), "--db", str(tmp_path / "never.db"))
        line = one_error_line(r)
        assert r.returncode == 2 and said in line and str(config) in line, (text, line)
    line = one_error_line(cli("server", "start", "--config", str(tmp_path / "missing.toml")))
    assert "missing.toml" in line
    assert not (tmp_path / "never.db").exists()


def test_no_migrate_refuses_a_schema_that_is_behind_until_store_migrate(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    sqlite_at_version(db, 2)
    port = free_port()
    args = ["--no-migrate", "--db", str(db), "--port", str(port), "--headless"]
    r = subprocess.run(
        [PYTHON, "-m", "mainspring", "server", "start", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "schema version 2" in r.stderr and f"mainspring store migrate --db {db}" in r.stderr, r.stderr
    # Nothing was changed.
    conn = sqlite3.connect(db)
    assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == [1, 2]
    conn.close()
    # So does MAINSPRING_MIGRATE=false.
    r = cli("server", "start", "--db", str(db), "--port", str(port), "--headless", env={"MAINSPRING_MIGRATE": "false"})
    assert r.returncode == 1 and "schema version 2" in r.stderr, r.stderr

    out = cli("store", "migrate", "--db", str(db), "-o", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["before"] == 2 and report["after"] == latest_schema_version()
    assert report["applied"] == [v for v, _ in migrations() if v >= 3]

    srv = StartProcess(args, tmp_path / "after.log")
    try:
        srv.wait_ready()
        assert healthy(port)
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_no_migrate_on_a_postgres_database_without_the_schema(postgres_url: str, tmp_path: Path) -> None:
    r = cli("server", "start", "--no-migrate", "--db", postgres_url, "--port", str(free_port()), "--headless")
    assert r.returncode == 1
    assert "schema version 0" in r.stderr and "mainspring store migrate --db postgresql://" in r.stderr, r.stderr


def test_start_dev_keeps_its_own_options(tmp_path: Path) -> None:
    """The two commands share their options, but the environment and config file are server start's."""
    help_dev = cli("server", "start-dev", "--help").stdout
    help_prod = cli("server", "start", "--help").stdout
    for flag in ("--port", "--ui-port", "--db-filename", "--namespace", "--max-payload-size", "--allowed-host"):
        assert flag in help_dev and flag in help_prod
    assert "--config" not in help_dev and "MAINSPRING_PORT" not in help_dev and "--no-migrate" not in help_dev
    assert "--no-standby" in help_prod and "127.0.0.1" in help_prod


def test_several_servers_on_one_postgres_store_the_second_waits_as_a_standby(postgres_url: str, tmp_path: Path) -> None:
    first_port, second_port = free_port(), free_port()
    first = StartProcess(["--db", postgres_url, "--port", str(first_port), "--headless"], tmp_path / "1.log")
    second: StartProcess | None = None
    try:
        assert "waits as a standby" in first.wait_ready()
        second = StartProcess(["--db", postgres_url, "--port", str(second_port), "--headless"], tmp_path / "2.log")
        log = second.wait_for("standby: the store is held by")
        assert "Ready in" not in log and second.proc.poll() is None
        time.sleep(6)  # longer than a lease: a standby that waits that long is still seen, not gone
        described = cli("cluster", "describe", "--db", postgres_url, "-o", "json")
        assert described.returncode == 0, described.stderr
        view = json.loads(described.stdout)
        statuses = sorted(s["status"] for s in view["servers"])
        assert statuses == ["active", "standby"], view
        assert [s["address"] for s in view["shards"] if s["live"]] == [f"127.0.0.1:{first_port}"]

        first.kill()  # its lease lapses; the standby takes over
        second.wait_ready(timeout=30)
        assert healthy(second_port)
    finally:
        first.kill()
        if second is not None:
            second.stop()
