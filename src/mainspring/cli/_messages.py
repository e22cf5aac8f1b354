"""``mainspring workflow signal`` and ``signal-with-start``: messages to running workflows, over the blocking
HTTP client."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import click

from ._common import connection_options, echo_json, run_sync

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["register"]


def _message_options(fn: Any) -> Any:
    fn = click.option(
        "--input-file", type=click.Path(dir_okay=False), default=None, help="Read the payload JSON from this file."
    )(fn)
    fn = click.option("--input", "-i", "input_", default=None, metavar="JSON", help="The payload, as JSON.")(fn)
    fn = click.option("--name", required=True, help="The handler's name (as the worker announced it).")(fn)
    fn = click.option("--run-id", "-r", default=None, help="A specific run (default: the newest).")(fn)
    fn = click.option("--workflow-id", "-w", required=True, help="Workflow id.")(fn)
    return fn


@click.command("signal")
@_message_options
@connection_options
@run_sync
def signal(
    api: Api, workflow_id: str, run_id: str | None, name: str, input_: str | None, input_file: str | None, output: str
) -> None:
    """Send a signal to a running workflow: recorded in its history, then delivered to its handler."""
    from ._workflow import parse_input

    body = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "signal_name": name,
        "input": parse_input(input_, input_file),
        "request_id": str(uuid.uuid4()),
    }
    data = api.post(api.path("/workflows/signal"), body) or {}
    warning = data.get("warning")
    if output == "json":
        echo_json({**data, "signal_name": name})
        return
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(
        f"Signal {name!r} sent to workflow {workflow_id} (run {data.get('run_id')}, event {data.get('event_id')})."
    )


def _signal_with_start_options(fn: Any) -> Any:
    # Those of `workflow start` (the run started if none runs), then those of the signal.
    fn = click.option(
        "--signal-input-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Read the signal's payload JSON from this file.",
    )(fn)
    fn = click.option("--signal-input", default=None, metavar="JSON", help="The signal's payload, as JSON.")(fn)
    fn = click.option("--signal", "signal_name", required=True, help="The signal's name (its handler's).")(fn)
    fn = click.option(
        "--input-file", type=click.Path(dir_okay=False), default=None, help="Read the input JSON from this file."
    )(fn)
    fn = click.option(
        "--input", "-i", "input_", default=None, metavar="JSON", help="The input of the run, if one is started."
    )(fn)
    fn = click.option("--workflow-id", "-w", required=True, help="Workflow id.")(fn)
    fn = click.option("--type", "workflow_type", required=True, help="Workflow type name (of a run started).")(fn)
    fn = click.option("--task-queue", "-t", required=True, help="Task queue (of a run started).")(fn)
    return fn


@click.command("signal-with-start")
@_signal_with_start_options
@connection_options
@run_sync
def signal_with_start(
    api: Api,
    task_queue: str,
    workflow_type: str,
    workflow_id: str,
    input_: str | None,
    input_file: str | None,
    signal_name: str,
    signal_input: str | None,
    signal_input_file: str | None,
    output: str,
) -> None:
    """Signal a workflow, starting it first if no run of its id is running (the run is created with the
    signal, whose handler runs before the workflow's run method)."""
    from ._workflow import parse_input

    body = {
        "workflow_id": workflow_id,
        "workflow_type": workflow_type,
        "task_queue": task_queue,
        "input": parse_input(input_, input_file),
        "signal_name": signal_name,
        "signal_input": parse_input(signal_input, signal_input_file, "--signal-input"),
        "request_id": str(uuid.uuid4()),
    }
    data = api.post(api.path("/workflows/signal-with-start"), body) or {}
    if output == "json":
        echo_json({**data, "signal_name": signal_name})
        return
    if data.get("warning"):
        click.echo(f"Warning: {data['warning']}", err=True)
    run = data.get("run_id")
    if data.get("started"):
        click.echo(f"Workflow {workflow_id} started (run {run}) with signal {signal_name!r}.")
    else:
        click.echo(
            f"Signal {signal_name!r} sent to running workflow {workflow_id} (run {run}, event {data.get('event_id')})."
        )


def register(group: click.Group) -> None:
    """Add the message commands to ``mainspring workflow``."""
    group.add_command(signal)
    group.add_command(signal_with_start)
