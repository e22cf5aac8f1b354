"""``mainspring activity complete|fail``: finish an activity from the shell (async completion), with the
flags of Temporal's CLI (``--workflow-id/-w``, ``--run-id/-r``, ``--activity-id``, ``--result``,
``--reason``, ``--detail``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import connection_options, echo_json, run_sync
from ._workflow import parse_input

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["activity"]


@click.group()
def activity() -> None:
    """Complete or fail a running activity from outside its worker (async completion)."""


def _target_options(fn: Any) -> Any:
    fn = click.option("--activity-id", "-a", required=True, help="The activity id (activity.info().activity_id).")(fn)
    fn = click.option("--run-id", "-r", default=None, help="The run (default: the workflow's newest).")(fn)
    fn = click.option("--workflow-id", "-w", required=True, help="The workflow that scheduled the activity.")(fn)
    return fn


def _target(workflow_id: str, run_id: str | None, activity_id: str) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "run_id": run_id, "activity_id": activity_id}


@activity.command("complete")
@_target_options
@click.option("--result", required=True, metavar="JSON", help="The activity's result, as JSON.")
@connection_options
@run_sync
def complete(api: Api, workflow_id: str, run_id: str | None, activity_id: str, result: str, output: str) -> None:
    """Complete the running attempt of an activity with a result."""
    value = parse_input(result, None, "--result")
    api.post(api.path("/activities/complete"), {**_target(workflow_id, run_id, activity_id), "result": value})
    if output == "json":
        echo_json({"workflow_id": workflow_id, "activity_id": activity_id, "completed": True})
    else:
        click.echo(f"Activity {activity_id} of workflow {workflow_id} completed.")


@activity.command("fail")
@_target_options
@click.option("--reason", default="", help="Why it failed: the failure's message.")
@click.option("--detail", default=None, metavar="JSON", help="Details of the failure, as JSON.")
@connection_options
@run_sync
def fail_(
    api: Api, workflow_id: str, run_id: str | None, activity_id: str, reason: str, detail: str | None, output: str
) -> None:
    """Fail the running attempt of an activity (it is retried per its retry policy)."""
    failure: dict[str, Any] = {
        "message": reason or "failed from the command line",
        "type": "ActivityFailedByCLI",
    }
    if detail is not None:
        failure["details"] = [parse_input(detail, None, "--detail")]
    api.post(api.path("/activities/fail"), {**_target(workflow_id, run_id, activity_id), "failure": failure})
    if output == "json":
        echo_json({"workflow_id": workflow_id, "activity_id": activity_id, "failed": True})
    else:
        click.echo(f"Activity {activity_id} of workflow {workflow_id} failed.")
