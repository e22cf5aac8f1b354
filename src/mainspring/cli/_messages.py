"""``mainspring workflow signal`` and ``query``: messages to workflows, over the blocking HTTP client."""

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


@click.command("query")
@_message_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=60),
    default=10.0,
    show_default=True,
    help="Seconds to wait for a worker's answer.",
)
@connection_options
@run_sync
def query(
    api: Api,
    workflow_id: str,
    run_id: str | None,
    name: str,
    input_: str | None,
    input_file: str | None,
    timeout: float,
    output: str,
) -> None:
    """Run a query of a workflow (a closed one too) and print its answer as JSON; nothing is recorded.

    An unknown name fails, listing the workflow's queries and the closest one."""
    from ._workflow import parse_input

    body = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "query_name": name,
        "input": parse_input(input_, input_file),
        "timeout": timeout,
    }
    api.timeout = timeout + 10  # the server answers no_worker at the timeout: let its answer arrive
    data = api.post(api.path("/workflows/query"), body) or {}
    echo_json(data.get("answer"))


def register(group: click.Group) -> None:
    """Add the message commands to ``mainspring workflow``."""
    group.add_command(signal)
    group.add_command(query)
