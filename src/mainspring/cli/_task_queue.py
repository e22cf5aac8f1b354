"""``mainspring task-queue describe``: the workers polling a task queue, its builds and backlog (Temporal's
``temporal task-queue describe``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import EXIT_NOT_FOUND, connection_options, echo_json, fail, run_sync

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["task_queue"]


@click.group("task-queue")
def task_queue() -> None:
    """Inspect task queues: their workers, builds and backlogs."""


@task_queue.command("describe")
@click.option("--task-queue", "-t", "name", required=True, help="The task queue.")
@connection_options
@run_sync
def describe(api: Api, name: str, output: str) -> None:
    """Show the workers polling a task queue (with their builds), the builds and where new runs go, and the
    tasks waiting."""
    queues: list[dict[str, Any]] = api.get(api.path("/task-queues"), {"name": name})["task_queues"]
    q = next((q for q in queues if q["name"] == name), None)
    if output == "json":
        echo_json(q or {"name": name, "workers": [], "backlog": {"workflow": 0, "activity": 0}, "builds": []})
        return
    if q is None:
        fail(f"no worker polls task queue {name!r} and no task waits on it", EXIT_NOT_FOUND, error="not_found")
    backlog = q["backlog"]
    waiting = f"{backlog['workflow']} workflow tasks and {backlog['activity']} activity tasks waiting"
    click.echo(f"Task queue {name}: {waiting}")
    builds = q.get("builds") or []
    if builds:
        click.echo("Builds:")
        for b in builds:
            where = "new runs go here" if b["current"] else "runs pinned to it only"
            waiting = f", {b['pinned_backlog']} pinned tasks waiting" if b["pinned_backlog"] else ""
            click.echo(f"  {b['build_id']:<20} {b['workers']} workers, {where}{waiting}")
    click.echo(f"Workers ({len(q['workers'])}):")
    for w in q["workers"]:
        build = f" build {w['build_id']}," if w.get("build_id") else ""
        runs = ", ".join(w["workflow_types"]) or "-"
        click.echo(f"  {w['identity']}:{build} last seen {w['last_seen']}, runs {runs}")
