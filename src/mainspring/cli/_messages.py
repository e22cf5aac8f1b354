"""``mainspring workflow signal``, ``signal-with-start``, ``query`` and ``update execute|start|result``: messages
to workflows, over the blocking HTTP client."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import click

from ._batch import batch_options, check_target, start_batch
from ._common import connection_options, echo_json, run_sync
from ._start_flags import start_flag_options, start_flags_body

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
@click.option(
    "--input-file", type=click.Path(dir_okay=False), default=None, help="Read the payload JSON from this file."
)
@click.option("--input", "-i", "input_", default=None, metavar="JSON", help="The payload, as JSON.")
@click.option("--name", required=True, help="The handler's name (as the worker announced it).")
@click.option("--run-id", "-r", default=None, help="A specific run (default: the newest).")
@click.option("--workflow-id", "-w", default=None, help="Workflow id (or --query for many).")
@batch_options
@connection_options
@run_sync
def signal(
    api: Api,
    workflow_id: str | None,
    run_id: str | None,
    name: str,
    input_: str | None,
    input_file: str | None,
    query: str | None,
    yes: bool,
    rps: float | None,
    output: str,
) -> None:
    """Send a signal to a running workflow: recorded in its history, then delivered to its handler. With --query,
    to every run the query selects (once each), as a batch job."""
    from ._workflow import parse_input

    check_target(workflow_id, query, run_id)
    payload = parse_input(input_, input_file)
    if query is not None:
        start_batch(api, "signal", query, yes, output, signal_name=name, input=payload, rps=rps)
        return
    body = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "signal_name": name,
        "input": payload,
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
    # --- the start options (_start_flags): the id policies, start delay, memo, task timeout ---
    fn = start_flag_options(fn)
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
    **flags: Any,
) -> None:
    """Signal a workflow, starting it first if no run of its id is running (the run is created with the
    signal, whose handler runs before the workflow's run method)."""
    from ._workflow import parse_input

    options = start_flags_body(**flags)
    body = {
        "workflow_id": workflow_id,
        "workflow_type": workflow_type,
        "task_queue": task_queue,
        "input": parse_input(input_, input_file),
        "signal_name": signal_name,
        "signal_input": parse_input(signal_input, signal_input_file, "--signal-input"),
        "request_id": str(uuid.uuid4()),
        **options,
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


# --- updates -------------------------------------------------------------------------------------------------

#: Each request waits this long at most for its stage (the CLI's requests time out at 10 s); then it asks again.
_UPDATE_POLL = 5.0


@click.group("update")
def update() -> None:
    """Send updates to running workflows and wait for their results."""


def _wait_update(api: Api, body: dict[str, Any], stage: str, *, resend: bool) -> dict[str, Any]:
    """Ask until the update reaches ``stage``: sending it again (safe: one update id is applied once), or
    polling for it by id."""
    path = api.path("/workflows/update" if resend else "/workflows/update/poll")
    order = ("ADMITTED", "ACCEPTED", "COMPLETED")
    while True:
        answer: dict[str, Any] = api.post(path, {**body, "wait_for_stage": stage, "wait": _UPDATE_POLL})
        if order.index(answer["stage"]) >= order.index(stage):
            return answer


def _print_outcome(answer: dict[str, Any], output: str) -> int:
    from ._common import EXIT_WORKFLOW_FAILED

    failure = answer.get("failure")
    if output == "json":
        echo_json(answer)
    elif failure:
        what = "rejected" if answer.get("rejected") else "failed"
        click.echo(f"Update {answer['update_id']} {what}: {failure.get('message', '')}", err=True)
    else:
        echo_json(answer.get("result"))
    return EXIT_WORKFLOW_FAILED if failure else 0


def _update_body(
    workflow_id: str, run_id: str | None, name: str, payload: Any, update_id: str | None
) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "update_id": update_id or str(uuid.uuid4()),
        "name": name,
        "input": payload,
    }


@update.command("execute")
@_message_options
@click.option("--update-id", default=None, help="The update's id (one is made if not given); one id is applied once.")
@connection_options
@run_sync
def update_execute(
    api: Api,
    workflow_id: str,
    run_id: str | None,
    name: str,
    input_: str | None,
    input_file: str | None,
    update_id: str | None,
    output: str,
) -> int:
    """Send an update and print its result as JSON (exit 5 if it was rejected or failed)."""
    from ._workflow import parse_input

    body = _update_body(workflow_id, run_id, name, parse_input(input_, input_file), update_id)
    return _print_outcome(_wait_update(api, body, "COMPLETED", resend=True), output)


@update.command("start")
@_message_options
@click.option("--update-id", default=None, help="The update's id (one is made if not given); one id is applied once.")
@connection_options
@run_sync
def update_start(
    api: Api,
    workflow_id: str,
    run_id: str | None,
    name: str,
    input_: str | None,
    input_file: str | None,
    update_id: str | None,
    output: str,
) -> int:
    """Send an update, wait until the workflow accepts it, and print its id (`update result` waits for it)."""
    from ._common import EXIT_WORKFLOW_FAILED
    from ._workflow import parse_input

    body = _update_body(workflow_id, run_id, name, parse_input(input_, input_file), update_id)
    answer = _wait_update(api, body, "ACCEPTED", resend=True)
    if answer.get("rejected"):
        return _print_outcome(answer, output)
    if output == "json":
        echo_json(answer)
    else:
        click.echo(f"Update {answer['update_id']} accepted by workflow {workflow_id} (run {answer['run_id']}).")
    return EXIT_WORKFLOW_FAILED if answer.get("failure") else 0


@update.command("result")
@click.option("--update-id", required=True, help="The update's id.")
@click.option("--run-id", "-r", default=None, help="A specific run (default: the newest).")
@click.option("--workflow-id", "-w", required=True, help="Workflow id.")
@connection_options
@run_sync
def update_result(api: Api, workflow_id: str, run_id: str | None, update_id: str, output: str) -> int:
    """Wait for an update sent earlier and print its result as JSON (exit 5 if it was rejected or failed)."""
    body = {"workflow_id": workflow_id, "run_id": run_id, "update_id": update_id}
    return _print_outcome(_wait_update(api, body, "COMPLETED", resend=False), output)


def register(group: click.Group) -> None:
    """Add the message commands to ``mainspring workflow``."""
    group.add_command(signal)
    group.add_command(signal_with_start)
    group.add_command(query)
    group.add_command(update)
