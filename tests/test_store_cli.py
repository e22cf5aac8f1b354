"""``mainspring store migrate`` / ``store version`` and ``mainspring cluster describe``: on a new store, one
whose schema is behind, one newer than this build, and databases that cannot be reached. Real SQLite files,
a real PostgreSQL, the real CLI in a subprocess."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from mainspring.storage import _pg_schema
from mainspring.storage.sqlite import latest_schema_version as sqlite_latest
from server_start import StartProcess, clean_env, sqlite_at_version
from support import PYTHON, free_port


def _sqlite_versions_from(first: int) -> list[int]:
    """The SQLite migrations this build has from ``first`` on (numbers may have gaps another branch fills)."""
    from mainspring.storage._sqlite_file import migrations

    return [v for v, _ in migrations() if v >= first]


def _pg_versions_from(first: int) -> list[int]:
    return [v for v, _ in _pg_schema.migrations() if v >= first]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mainspring", *args], capture_output=True, text=True, timeout=60, env=clean_env()
    )


def ok_json(*args: str) -> Any:
    r = cli(*args, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def sqlite_versions(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        conn.close()


def test_sqlite_new_behind_current_and_newer(tmp_path: Path) -> None:
    latest = sqlite_latest()
    new = tmp_path / "new.db"
    status = ok_json("store", "version", "--db", str(new))
    assert status["version"] == 0 and status["pending"] == _sqlite_versions_from(1)
    assert not new.exists()  # reading changes nothing
    r = cli("store", "migrate", "--db", f"sqlite:///{new}")
    assert r.returncode == 0, r.stderr
    assert "Schema before  0" in r.stdout and f"Schema now     {latest}" in r.stdout
    assert sqlite_versions(new) == _sqlite_versions_from(1)
    again = ok_json("store", "migrate", "--db", str(new))
    assert again == {"store": str(new), "before": latest, "after": latest, "applied": []}
    assert "up to date" in cli("store", "version", "--db", str(new)).stdout

    old = tmp_path / "old.db"
    sqlite_at_version(old, 2)
    status = ok_json("store", "version", "--db", str(old))
    assert status["version"] == 2 and status["pending"] == _sqlite_versions_from(3)
    assert ok_json("store", "migrate", "--db", str(old))["applied"] == _sqlite_versions_from(3)
    assert sqlite_versions(old) == _sqlite_versions_from(1)

    conn = sqlite3.connect(old)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (latest + 1,))
    conn.commit()
    conn.close()
    line = one_error_line(cli("store", "migrate", "--db", str(old)))
    assert f"schema version {latest + 1}, newer than this Mainspring" in line
    r = cli("store", "version", "--db", str(old))
    assert r.returncode == 1 and "newer than this Mainspring" in r.stderr
    assert sqlite_versions(old)[-1] == latest + 1


def test_sqlite_migrate_refuses_a_file_a_server_holds(tmp_path: Path) -> None:
    db = tmp_path / "held.db"
    srv = StartProcess(["--db", str(db), "--port", str(free_port()), "--headless"], tmp_path / "s.log")
    try:
        srv.wait_ready()
        line = one_error_line(cli("store", "migrate", "--db", str(db)))
        assert "in use by another Mainspring server" in line and str(srv.proc.pid) in line
        assert ok_json("store", "version", "--db", str(db))["pending"] == []  # reading is fine
        # One server, so nothing to describe.
        r = cli("cluster", "describe", "--db", str(db))
        assert r.returncode == 0 and "single server" in r.stdout
        assert ok_json("cluster", "describe", "--db", str(db))["single_server"] is True
    finally:
        srv.stop()


def test_unreachable_unknown_or_unauthorised_databases_are_one_line(postgres_server: Any, tmp_path: Path) -> None:
    dead = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/x"
    for db, said in (
        (dead, "cannot connect to the database postgresql://postgres:***@"),
        (postgres_server.url("no_such_database"), "cannot connect to the database"),
        (postgres_server.url().replace("postgres@", "nobody@"), 'role "nobody" does not exist'),
        ("mysql://root@localhost/db", "unknown database URL scheme 'mysql'"),
        (str(tmp_path / "no-folder" / "x.db"), "does not exist"),
    ):
        for command in (("store", "migrate"), ("store", "version"), ("cluster", "describe")):
            if command != ("store", "migrate") and "no-folder" in db:
                continue
            r = cli(*command, "--db", db)
            line = one_error_line(r)
            assert said in line, (command, db, line)
            assert "hunter2" not in r.stderr + r.stdout


def test_postgres_new_behind_and_newer(postgres_url: str) -> None:
    latest = _pg_schema.latest_schema_version()
    status = ok_json("store", "version", "--db", postgres_url)
    assert status["version"] == 0 and status["pending"] == _pg_versions_from(1)
    r = cli("cluster", "describe", "--db", postgres_url)
    assert "no Mainspring cluster tables" in one_error_line(r) and "mainspring store migrate" in r.stderr

    report = ok_json("store", "migrate", "--db", postgres_url)
    assert report["before"] == 0 and report["after"] == latest and report["applied"] == _pg_versions_from(1)
    assert ok_json("store", "migrate", "--db", postgres_url)["applied"] == []
    assert ok_json("store", "version", "--db", postgres_url)["pending"] == []
    # Migrated but no server ever started: tables, no rows.
    r = cli("cluster", "describe", "--db", postgres_url)
    assert r.returncode == 0 and "no server has registered" in r.stdout, r.stdout

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 0)", (latest + 1,))
    line = one_error_line(cli("store", "migrate", "--db", postgres_url))
    assert f"schema version {latest + 1}, newer than this Mainspring" in line
    assert cli("store", "version", "--db", postgres_url).returncode == 1


def test_cluster_describe_a_running_postgres_server(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    srv = StartProcess(["--db", postgres_url, "--port", str(port), "--headless"], tmp_path / "s.log")
    try:
        srv.wait_ready()
        view = ok_json("cluster", "describe", "--db", postgres_url)
        assert [(s["address"], s["status"]) for s in view["servers"]] == [(f"127.0.0.1:{port}", "active")]
        [shard] = view["shards"]
        assert shard["shard"] == 0 and shard["live"] and shard["epoch"] >= 1
        assert shard["owner"] == view["servers"][0]["node"] and 0 < shard["expires_in_seconds"] <= 5
        r = cli("cluster", "describe", "--db", postgres_url)
        assert r.returncode == 0
        assert "SERVER" in r.stdout and "active" in r.stdout and f"127.0.0.1:{port}" in r.stdout
        assert "SHARD" in r.stdout and shard["owner"] in r.stdout
    finally:
        srv.stop()
    # Stopped cleanly: it gave its lease back and left the list (a crashed server stays there, "gone").
    view = ok_json("cluster", "describe", "--db", postgres_url)
    assert [s["live"] for s in view["shards"]] == [False]
    assert view["servers"] == []


async def test_sqlite_store_migrate_false_refuses_a_schema_behind_and_says_what_it_applied(tmp_path: Path) -> None:
    from mainspring.storage import SQLiteStore, StorageError, store_from_url

    latest = sqlite_latest()
    db = tmp_path / "two.db"
    sqlite_at_version(db, 2)
    behind = store_from_url(f"sqlite:///{db}", migrate=False)
    assert isinstance(behind, SQLiteStore) and behind.migrate is False
    try:
        await behind.open()
        raise AssertionError("a schema that is behind was opened without migrating")
    except StorageError as e:
        assert f"schema version 2, this Mainspring needs {latest}" in str(e)
        assert f"mainspring store migrate --db {db}" in str(e)
    assert sqlite_versions(db) == [1, 2]

    store = SQLiteStore(str(db))
    await store.open()
    try:
        assert store.migrations_applied == tuple(_sqlite_versions_from(3)) and store.schema_version == latest
    finally:
        await store.close()
    again = SQLiteStore(str(db), migrate=False)
    await again.open()
    try:
        assert again.migrations_applied == () and again.schema_version == latest
    finally:
        await again.close()
