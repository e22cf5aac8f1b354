"""``mainspring workflow ...``: start, execute, result, describe, show, list, cancel, terminate, delete, stack; the
message commands (signal) are in ``_messages``, reset in ``_reset``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from ..api.enums import WorkflowStatus
from ..errors import WorkflowFailureError, failure_to_dict
from ._batch import batch_options, check_target, start_batch
from ._codec_flags import codec_endpoint_option, decoded, note_encoded, remote_wire_codec
from ._common import EXIT_INVALID, EXIT_WORKFLOW_FAILED, connection_options, echo_json, fail, run_async, run_sync
from ._relationships import echo_relationships
from ._reset import reset_rows as _reset_rows
from ._start_flags import parse_duration, start_flag_options, start_flags

if TYPE_CHECKING:
    from ..client import Client, WorkflowHandle
    from ._http import Api

__all__ = ["workflow"]


@click.group()
def workflow() -> None:
    """Start, inspect and list workflows."""


def parse_input(text: str | None, path: str | None, option: str = "--input") -> Any:
    """The JSON of ``option`` (its text) or of ``option``-file (a path), or None if neither is given."""
    if text is not None and path is not None:
        fail(f"give either {option} or {option}-file, not both", EXIT_INVALID)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            fail(f"cannot read {option}-file {path!r}: {e.strerror}", EXIT_INVALID)
        except UnicodeDecodeError as e:
            fail(f"{option}-file {path!r} is not UTF-8 text (byte {e.start}): save it as UTF-8 JSON", EXIT_INVALID)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            fail(
                f"{option}-file {path!r} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                EXIT_INVALID,
            )
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        fail(
            f"{option} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
            f'quote it for the shell, e.g. {option} \'{{"code": "python"}}\'',
            EXIT_INVALID,
        )


def _start_options(fn: Any) -> Any:
    fn = click.option(
        "--input-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Read the input JSON from this file.",
    )(fn)
    fn = click.option("--input", "-i", "input_", default=None, metavar="JSON", help="The workflow's input, as JSON.")(
        fn
    )
    fn = click.option("--workflow-id", "-w", required=True, help="Workflow id (unique among running workflows).")(fn)
    fn = click.option("--type", "workflow_type", required=True, help="Workflow type name.")(fn)
    fn = click.option("--task-queue", "-t", required=True, help="Task queue the workers poll.")(fn)
    # --- the id policies, start delay, memo, task timeout (_start_flags) ---
    fn = start_flag_options(fn)
    return search_attribute_option(fn)


def search_attribute_option(fn: Any) -> Any:
    """``--search-attribute NAME=JSON`` (repeatable) of ``workflow start`` and ``schedule create``: read by
    ``search_attribute_flags``."""
    return click.option(
        "--search-attribute",
        "search_attributes",
        multiple=True,
        metavar="NAME=JSON",
        help="A custom search attribute of the run (repeatable), e.g. --search-attribute 'CustomerId=\"c-1\"' or "
        "'Items=3'; each registered in the namespace (operator search-attribute create).",
    )(fn)


def search_attribute_flags(entries: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        name, eq, text = entry.partition("=")
        if not eq or not name:
            fail(f"--search-attribute takes NAME=JSON (e.g. 'CustomerId=\"c-1\"'), got {entry!r}", EXIT_INVALID)
        try:
            out[name] = json.loads(text)
        except ValueError as e:
            fail(
                f"--search-attribute {name}: its value is not valid JSON ({e}); quote a string for the shell and "
                f"for JSON, e.g. --search-attribute '{name}=\"text\"'",
                EXIT_INVALID,
            )
    return out


def _lifetime_options(fn: Any) -> Any:
    """``--execution-timeout``, ``--run-timeout`` and ``--retry-policy`` of ``workflow start/execute``."""
    fn = click.option(
        "--retry-policy",
        "retry_policy",
        default=None,
        metavar="JSON",
        help='Retry the workflow, e.g. \'{"maximum_attempts": 3, "initial_interval": 1}\' (seconds).',
    )(fn)
    fn = click.option(
        "--run-timeout", default=None, metavar="DURATION", help="How long one run may take (e.g. 30s, 1h30m)."
    )(fn)
    fn = click.option(
        "--execution-timeout",
        default=None,
        metavar="DURATION",
        help="How long the whole workflow may take, retries and continue-as-new included (e.g. 2h).",
    )(fn)
    return fn


def _lifetime(
    execution_timeout: str | None = None, run_timeout: str | None = None, retry_policy: str | None = None
) -> dict[str, Any]:
    """The start options the lifetime flags ask for."""
    from ..options import RetryPolicy

    out: dict[str, Any] = {}
    for flag, name, text in (
        ("--execution-timeout", "execution_timeout", execution_timeout),
        ("--run-timeout", "run_timeout", run_timeout),
    ):
        if text is not None:
            seconds = parse_duration(flag, text)
            if seconds <= 0:
                fail(f"{flag} must be more than 0, got {text!r}", EXIT_INVALID)
            out[name] = timedelta(seconds=seconds)
    if retry_policy is not None:
        fields = parse_input(retry_policy, None, option="--retry-policy")
        if not isinstance(fields, dict):
            fail("--retry-policy must be a JSON object, e.g. '{\"maximum_attempts\": 3}'", EXIT_INVALID)
        try:
            given: dict[str, Any] = {
                k: timedelta(seconds=v) if k.endswith("_interval") and v is not None else v for k, v in fields.items()
            }
            out["retry_policy"] = RetryPolicy(**given)
        except (TypeError, ValueError, OverflowError) as e:
            fail(f"--retry-policy: {e}", EXIT_INVALID)
    return out


def _describe_failure(failure: dict[str, Any] | None) -> str:
    lines = []
    depth = 0
    while failure:
        kind = failure.get("type") or failure.get("kind") or "Error"
        lines.append(("  " * depth) + ("caused by " if depth else "") + f"{kind}: {failure.get('message', '')}")
        failure = failure.get("cause")
        depth += 1
    return "\n".join(lines)


async def _start(
    client: Client,
    task_queue: str,
    workflow_type: str,
    workflow_id: str,
    input_: str | None,
    input_file: str | None,
    flags: dict[str, Any],
) -> WorkflowHandle[Any, Any]:
    value = parse_input(input_, input_file)
    lifetime = {k: flags.pop(k) for k in ("execution_timeout", "run_timeout", "retry_policy") if k in flags}
    attributes = search_attribute_flags(flags.pop("search_attributes", ()))
    options = {**start_flags(**flags), **_lifetime(**lifetime)}  # checked before anything is sent
    if attributes:
        options["search_attributes"] = attributes
    import logging

    # The CLI prints the server's start warning itself (below), not as the SDK's log line too.
    start_log = logging.getLogger("mainspring.client.start")
    start_log.propagate = False
    if not start_log.handlers:
        start_log.addHandler(logging.NullHandler())
    handle = await client.start_workflow(workflow_type, value, id=workflow_id, task_queue=task_queue, **options)
    if handle.start_warning:
        click.echo(f"Warning: {handle.start_warning}", err=True)
    return handle


@workflow.command("start")
@_start_options
@_lifetime_options
@connection_options
@run_async
async def start(
    client: Client,
    task_queue: str,
    workflow_type: str,
    workflow_id: str,
    input_: str | None,
    input_file: str | None,
    output: str,
    **flags: Any,
) -> None:
    """Start a workflow and print its run id (without waiting for it)."""
    handle = await _start(client, task_queue, workflow_type, workflow_id, input_, input_file, flags)
    if output == "json":
        echo_json(
            {
                "workflow_id": workflow_id,
                "run_id": handle.run_id,
                "namespace": client.namespace,
                "workflow_type": workflow_type,
                "task_queue": task_queue,
                "warning": handle.start_warning,
            }
        )
        return
    click.echo("Running execution:")
    click.echo(f"  WorkflowId  {workflow_id}")
    click.echo(f"  RunId       {handle.run_id}")
    click.echo(f"  Type        {workflow_type}")
    click.echo(f"  Namespace   {client.namespace}")
    click.echo(f"  TaskQueue   {task_queue}")


async def _print_result(handle: WorkflowHandle[Any, Any], output: str, timeout: float | None) -> int:
    from ..converter import EncodedPayloadError  # (the client has imported it: no cost at start-up)

    try:
        result = await handle.result(timeout=timeout)
    except EncodedPayloadError:
        # No codec here (no --codec-endpoint): the result as the server stores it, and a note saying so.
        result = (await handle.describe()).raw.get("result")
        note_encoded(result)
    except WorkflowFailureError as e:
        failure = failure_to_dict(e.cause) if e.cause else None
        if output == "json":
            echo_json(
                {
                    "workflow_id": handle.workflow_id,
                    "run_id": handle.result_run_id or handle.run_id,
                    "status": e.status,
                    "failure": failure,
                }
            )
            what = f": {failure['message']}" if failure and failure.get("message") else ""
            fail(f"workflow {handle.workflow_id} ended {e.status}{what}", EXIT_WORKFLOW_FAILED, details=failure)
        click.echo(f"Error: workflow {handle.workflow_id} ended {e.status}", err=True)
        if failure:
            click.echo(_describe_failure(failure), err=True)
        return EXIT_WORKFLOW_FAILED
    except TimeoutError as e:
        fail(str(e), error="timeout")
    if output == "json":
        echo_json(
            {
                "workflow_id": handle.workflow_id,
                "run_id": handle.result_run_id or handle.run_id,
                "status": "COMPLETED",
                "result": result,
            }
        )
    else:
        echo_json(result)
    return 0


@workflow.command("execute")
@_start_options
@click.option("--timeout", type=float, default=None, help="Give up waiting after this many seconds.")
@_lifetime_options
@connection_options
@run_async
async def execute(
    client: Client,
    task_queue: str,
    workflow_type: str,
    workflow_id: str,
    input_: str | None,
    input_file: str | None,
    timeout: float | None,
    output: str,
    **flags: Any,
) -> int:
    """Start a workflow, wait for it, and print its result as JSON (exit 5 if it failed)."""
    handle = await _start(client, task_queue, workflow_type, workflow_id, input_, input_file, flags)
    if output != "json":
        click.echo(f"Started {workflow_id} (run {handle.run_id}); waiting for the result...", err=True)
    return await _print_result(handle, output, timeout)


def _handle_options(fn: Any) -> Any:
    fn = click.option("--run-id", "-r", default=None, help="A specific run (default: the newest).")(fn)
    fn = click.option("--workflow-id", "-w", required=True, help="Workflow id.")(fn)
    return fn


@workflow.command("result")
@_handle_options
@click.option("--timeout", type=float, default=None, help="Give up waiting after this many seconds.")
@codec_endpoint_option
@connection_options
@run_async
async def result(
    client: Client, workflow_id: str, run_id: str | None, timeout: float | None, codec_endpoint: str | None, output: str
) -> int:
    """Wait for a workflow to close and print its result as JSON (exit 5 if it failed)."""
    if codec_endpoint is not None:
        client.transport.codec = remote_wire_codec(codec_endpoint, client.namespace, client.api_key)
    if run_id is None:
        # Follow the newest run as of now (and name it in the output), not whichever run is newest later.
        run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    return await _print_result(client.get_workflow_handle(workflow_id, run_id=run_id), output, timeout)


def _fmt_time(text: str | None) -> str:
    if not text:
        return "-"
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _short_json(value: Any, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def _handler_names(handlers: list[dict[str, Any]]) -> str:
    """The announced names by kind, in their order: "Signals: submit, exit  Queries: progress"."""
    parts = []
    for kind, title in (("signal", "Signals"), ("query", "Queries"), ("update", "Updates")):
        names = [h["name"] if h.get("name") is not None else "(any: dynamic)" for h in handlers if h["kind"] == kind]
        if names:
            parts.append(f"{title}: {', '.join(names)}")
    return "  ".join(parts)


@workflow.command("describe")
@_handle_options
@codec_endpoint_option
@connection_options
@run_sync
def describe(api: Api, workflow_id: str, run_id: str | None, codec_endpoint: str | None, output: str) -> None:
    """Show a workflow's status, timing, input, result or failure, and pending work."""
    d = api.get(api.path("/workflows/describe"), {"workflow_id": workflow_id, "run_id": run_id})
    d = decoded(d, codec_endpoint, api.namespace, api.api_key)
    if output == "json":
        echo_json(d)
        return
    e = d["execution"]
    status = e["status"]
    rows = [
        ("WorkflowId", e["workflow_id"]),
        ("RunId", e["run_id"]),
        ("Type", e["workflow_type"]),
        ("Status", status),
        ("TaskQueue", e["task_queue"]),
        ("Namespace", e["namespace"]),
        ("Started", _fmt_time(e["start_time"])),
    ]
    if e.get("close_time"):
        took = datetime.fromisoformat(e["close_time"]) - datetime.fromisoformat(e["start_time"])
        rows.append(("Closed", f"{_fmt_time(e['close_time'])} (took {took.total_seconds():.3f}s)"))
    rows.append(("History", f"{e['history_length']} events"))
    rows.append(("Input", _short_json(d.get("input"))))
    if status == WorkflowStatus.COMPLETED:
        rows.append(("Result", _short_json(d.get("result"))))
    cancel = d.get("cancel_requested")
    if cancel and status == WorkflowStatus.RUNNING:
        why = f": {cancel['reason']}" if cancel.get("reason") else ""
        rows.append(("Cancel", f"requested {_fmt_time(cancel['time'])} by {cancel.get('identity') or '?'}{why}"))
    if d.get("problem"):
        rows.append(("Problem", f"set aside: {d['problem']}"))
    if d.get("handlers"):
        rows.append(("Handlers", _handler_names(d["handlers"])))
    # The run's chain (continue-as-new, retries).
    if d.get("previous_run_id"):
        rows.append(("Continued", f"from run {d['previous_run_id']}"))
    if d.get("next_run_id"):
        rows.append(("Next run", d["next_run_id"]))
    rows += _reset_rows(d)  # made by a reset, or reset (cli._reset)
    # --- what it was started with: memo, start delay, task timeout ---
    if d.get("start_delay"):
        rows.append(
            ("StartDelay", f"{d['start_delay']:g}s: first workflow task at {_fmt_time(d.get('execution_time'))}")
        )
    if d.get("memo") is not None:
        rows.append(("Memo", _short_json(d["memo"])))
    for name, tv in sorted((d.get("search_attributes") or {}).items()):  # features.search_attributes
        rows.append(("SearchAttr", f"{name} = {_short_json(tv.get('value'))} ({tv.get('type')})"))
    if d.get("task_timeout"):
        rows.append(("TaskTimeout", f"{d['task_timeout']:g}s"))
    if d.get("build_id"):  # run by a worker with a build (Worker(build_id=...))
        now = d.get("current_build_id")
        moved = f", now on {now}" if now and now != d["build_id"] else ""
        rows.append(("Build", f"{d['build_id']}{moved} ({d.get('versioning_behavior')})"))
    for k, v in rows:
        click.echo(f"  {k:<11} {v}")
    if d.get("failure"):
        click.echo("  Failure")
        for line in _describe_failure(d["failure"]).splitlines():
            click.echo("    " + line)
    activities = d.get("pending_activities") or []
    if activities:
        click.echo(f"Pending activities ({len(activities)}):")
        for a in activities:
            click.echo(
                f"  {a['activity_type']} (id {a['activity_id']}): {a['state']}, attempt {a['attempt']}, "
                f"scheduled {_fmt_time(a['scheduled_time'])}"
            )
            if a.get("last_heartbeat_time"):
                click.echo(
                    f"    last heartbeat {_fmt_time(a['last_heartbeat_time'])}: "
                    f"{_short_json(a.get('heartbeat_details'))}"
                )
            if a.get("last_failure"):
                click.echo(f"    last failure: {_describe_failure(a['last_failure']).splitlines()[0]}")
            if a.get("next_attempt_time"):
                click.echo(f"    next attempt {_fmt_time(a['next_attempt_time'])}")
            if a.get("cancel_requested"):
                click.echo("    cancel requested: it ends as soon as its worker stops it")
    timers = d.get("pending_timers") or []
    if timers:
        click.echo(f"Pending timers ({len(timers)}):")
        for t in timers:
            click.echo(f"  timer {t['timer_id']} fires {_fmt_time(t['fire_time'])}")
    wt = d.get("pending_workflow_task")
    if wt:
        line = f"Pending workflow task: {wt['state']}, attempt {wt['attempt']}"
        if wt.get("hint"):
            line += f" ({wt['hint']})"
        click.echo(line)
        if wt.get("last_failure"):
            click.echo(f"  last failure: {_describe_failure(wt['last_failure']).splitlines()[0]}")
    echo_relationships(d)


_DETAIL_KEYS = (
    "workflow_type",
    "activity_type",
    "activity_id",
    "timer_id",
    "duration",
    "attempt",
    "identity",
    "input",
    "result",
    "cause",
    "timeout_type",
    "retry_state",
    "reason",
    "scheduled_event_id",
)


def _event_details(e: dict[str, Any]) -> str:
    attrs = e["attributes"]
    parts = []
    for key in _DETAIL_KEYS:
        if key in attrs and attrs[key] is not None and attrs[key] != "":
            value = attrs[key]
            parts.append(f"{key}={_short_json(value, 60) if not isinstance(value, str) else value}")
    if attrs.get("failure"):
        parts.append("failure=" + _short_json(attrs["failure"].get("message"), 80))
    return " ".join(parts)


def history_events(api: Api, workflow_id: str, run_id: str | None) -> list[dict[str, Any]]:
    """A run's whole history, page by page."""
    events: list[dict[str, Any]] = []
    first = 1
    while True:
        params = {"workflow_id": workflow_id, "run_id": run_id, "first_event_id": first, "limit": 1000}
        page = api.get(api.path("/workflows/history"), params)
        events.extend(page["events"])
        if not page.get("next_page_token"):
            return events
        first = int(page["next_page_token"])


@workflow.command("show")
@_handle_options
@codec_endpoint_option
@connection_options
@run_sync
def show(api: Api, workflow_id: str, run_id: str | None, codec_endpoint: str | None, output: str) -> None:
    """Print a workflow's event history."""
    events = decoded(history_events(api, workflow_id, run_id), codec_endpoint, api.namespace, api.api_key)
    if output == "json":
        echo_json({"events": events})
        return
    import shutil

    width = shutil.get_terminal_size((140, 20)).columns
    click.echo(f"{'ID':>4}  {'Time (UTC)':<23}  {'Type':<28}  Details")
    for e in events:
        line = f"{e['event_id']:>4}  {e['event_time'][:23]:<23}  {e['event_type']:<28}  {_event_details(e)}"
        click.echo(line if len(line) <= max(width, 100) else line[: max(width, 100) - 3] + "...")


def _target_options(fn: Any) -> Any:
    """--workflow-id (or --query, for a batch: see ``_batch``) and --run-id."""
    fn = batch_options(fn)
    fn = click.option("--run-id", "-r", default=None, help="A specific run (default: the newest).")(fn)
    fn = click.option("--workflow-id", "-w", default=None, help="Workflow id (or --query for many).")(fn)
    return fn


@workflow.command("cancel")
@_target_options
@click.option("--reason", default="", help="Why (recorded in the history).")
@connection_options
@run_sync
def cancel(
    api: Api,
    workflow_id: str | None,
    run_id: str | None,
    query: str | None,
    yes: bool,
    rps: float | None,
    reason: str,
    output: str,
) -> None:
    """Ask a running workflow to cancel: its code gets a cancellation it may clean up after. With --query, every
    run the query selects, as a batch job."""
    check_target(workflow_id, query, run_id)
    if query is not None:
        start_batch(api, "cancel", query, yes, output, reason=reason, rps=rps)
        return
    body = {"workflow_id": workflow_id, "run_id": run_id, "reason": reason}
    fresh = not (api.post(api.path("/workflows/cancel"), body) or {}).get("already_requested", False)
    if output == "json":
        echo_json({"workflow_id": workflow_id, "cancel_requested": True, "already_requested": not fresh})
    elif fresh:
        click.echo(f"Cancellation requested for workflow {workflow_id}.")
    else:
        click.echo(f"A cancellation of workflow {workflow_id} had already been requested.")


@workflow.command("terminate")
@_target_options
@click.option("--reason", default="", help="Why (recorded in the history).")
@connection_options
@run_sync
def terminate(
    api: Api,
    workflow_id: str | None,
    run_id: str | None,
    query: str | None,
    yes: bool,
    rps: float | None,
    reason: str,
    output: str,
) -> None:
    """End a running workflow at once, running none of its code. With --query, every run the query selects, as a
    batch job."""
    check_target(workflow_id, query, run_id)
    if query is not None:
        start_batch(api, "terminate", query, yes, output, reason=reason, rps=rps)
        return
    api.post(api.path("/workflows/terminate"), {"workflow_id": workflow_id, "run_id": run_id, "reason": reason})
    if output == "json":
        echo_json({"workflow_id": workflow_id, "terminated": True})
    else:
        click.echo(f"Workflow {workflow_id} terminated.")


@workflow.command("delete")
@_handle_options
@click.option("--reason", default="", help="Why (recorded in the history, if it is terminated first).")
@connection_options
@run_sync
def delete(api: Api, workflow_id: str, run_id: str | None, reason: str, output: str) -> None:
    """Delete a run with its history (a running one is terminated first)."""
    body = {"workflow_id": workflow_id, "run_id": run_id, "reason": reason}
    answer = api.post(api.path("/workflows/delete"), body) or {}
    if output == "json":
        echo_json({"workflow_id": workflow_id, **answer, "deleted": True})
    elif answer.get("terminated"):
        click.echo(f"Workflow {workflow_id} (run {answer.get('run_id')}) was running: terminated, then deleted.")
    else:
        click.echo(f"Workflow {workflow_id} (run {answer.get('run_id')}) deleted.")


@workflow.command("stack")
@_handle_options
@connection_options
@run_sync
def stack(api: Api, workflow_id: str, run_id: str | None, output: str) -> None:
    """Show where a running workflow waits: each coroutine's awaiting call, asked of its worker."""
    data = api.get(api.path("/workflows/stack"), {"workflow_id": workflow_id, "run_id": run_id})
    if output == "json":
        echo_json(data)
        return
    if not data["coroutines"]:
        click.echo(data.get("message") or "nothing is waiting")
        return
    click.echo(f"Worker: {data.get('worker')}")
    for co in data["coroutines"]:
        click.echo(f"\n{co['name']}:")
        for f in co["frames"]:
            click.echo(f"  {f['file']}:{f['line']} in {f['function']}")
            if f.get("code"):
                click.echo(f"    {f['code']}")


_QUERY_HELP = (
    "A list filter, Temporal's: \"WorkflowType = 'order' AND ExecutionStatus = 'Running' "
    "AND StartTime > '2026-11-01T00:00:00Z' ORDER BY StartTime DESC\" (README: Finding workflows)."
)


@workflow.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in WorkflowStatus], case_sensitive=False),
    default=None,
    help="Only workflows with this status.",
)
@click.option("--type", "workflow_type", default=None, help="Only workflows of this type.")
@click.option("--prefix", "workflow_id_prefix", default=None, help="Only workflow ids starting with this.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--workflow-id", "-w", "workflow_id", default=None, help="Only the runs of this workflow id (its chain).")
@click.option("--page-token", default=None, help="The next_page_token of the page before (with -o json).")
@click.option("--query", "-q", default=None, help=_QUERY_HELP)
@connection_options
@run_sync
def list_(
    api: Api,
    status: str | None,
    workflow_type: str | None,
    workflow_id_prefix: str | None,
    limit: int,
    workflow_id: str | None,
    page_token: str | None,
    query: str | None,
    output: str,
) -> None:
    """List workflow runs, newest first (or in --query's ORDER BY)."""
    page = api.get(
        api.path("/workflows"),
        {
            "query": query or None,
            "status": status.upper() if status else None,
            "workflow_type": workflow_type,
            "workflow_id_prefix": workflow_id_prefix,
            "limit": limit,
            "workflow_id": workflow_id,
            "page_token": page_token,
        },
    )
    executions = page["executions"]
    if output == "json":
        echo_json({"executions": executions, "next_page_token": page.get("next_page_token")})
        return
    if not executions:
        click.echo("No workflows.")
        return
    click.echo(f"{'Status':<10}  {'WorkflowId':<30}  {'Type':<24}  {'Started (UTC)':<23}  RunId")
    for e in executions:
        click.echo(
            f"{e['status']:<10}  {e['workflow_id'][:30]:<30}  {e['workflow_type'][:24]:<24}  "
            f"{_fmt_time(e['start_time'])[:23]:<23}  {e['run_id']}"
        )


@workflow.command("count")
@click.option("--query", "-q", default=None, help=_QUERY_HELP)
@click.option("--group-by", type=click.Choice(["ExecutionStatus"]), default=None, help="Also count each status's runs.")
@connection_options
@run_sync
def count(api: Api, query: str | None, group_by: str | None, output: str) -> None:
    """Count workflow runs (those --query selects), like `temporal workflow count`."""
    answer = api.get(api.path("/workflows/count"), {"query": query or None, "group_by": group_by})
    if output == "json":
        echo_json(answer)
        return
    click.echo(f"Total: {answer['count']}")
    for g in answer.get("groups") or ():
        click.echo(f"  {', '.join(g['group_values'])}: {g['count']}")


def _register_messages() -> None:
    from ._messages import register

    register(workflow)


_register_messages()


def _register_reset() -> None:
    from ._replay import register as register_replay
    from ._reset import register

    register(workflow)
    register_replay(workflow)


_register_reset()
