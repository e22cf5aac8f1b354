"""Batch operations from the command line, in Temporal's shapes: ``mainspring workflow cancel|terminate|signal|reset
--query '...' --yes`` start a batch job on the server (``/batches``), and ``mainspring batch list|describe|terminate``
follow it. Without ``--yes`` the CLI says how many runs match and asks, on a terminal; elsewhere (a script, a pipe)
it refuses, so a mistyped query never acts unasked."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ..errors import InvalidQueryError
from ._common import EXIT_INVALID, connection_options, echo_json, fail, run_sync

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["batch", "batch_options", "check_target", "start_batch"]


def batch_options(fn: Any) -> Any:
    """--query, --yes and --rps: what turns a single-run command into a batch."""
    fn = click.option(
        "--rps", type=click.FloatRange(min=0, min_open=True), default=None, help="At most this many runs a second "
        "(the server's default is 50)."
    )(fn)  # fmt: skip
    fn = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed when not on a terminal).")(
        fn
    )
    fn = click.option(
        "--query",
        "-q",
        default=None,
        help="Act on every run this list filter selects, as a batch job (instead of --workflow-id), e.g. "
        "\"WorkflowType = 'order' AND ExecutionStatus = 'Running'\".",
    )(fn)
    return fn


def check_target(workflow_id: str | None, query: str | None, run_id: str | None = None) -> None:
    """Exactly one of --workflow-id and --query (and no --run-id with --query)."""
    if (workflow_id is None) == (query is None):
        fail("give exactly one of --workflow-id and --query", EXIT_INVALID, error="usage_error")
    if query is not None and run_id is not None:
        fail("--run-id is for one workflow (--workflow-id), not for --query", EXIT_INVALID, error="usage_error")


def _one_line(e: InvalidQueryError) -> str:
    # The server's message shows the query with a caret under the fault: one line here, its column named.
    first = e.message.splitlines()[0] if e.message else "invalid query"
    return first


def start_batch(api: Api, operation: str, query: str, yes: bool, output: str, **body: Any) -> None:
    """Confirm, start the batch job and print its id."""
    try:
        count = int((api.get(api.path("/workflows/count"), {"query": query}) or {}).get("count", 0))
    except InvalidQueryError as e:
        fail(_one_line(e), EXIT_INVALID, error=e.code, details=e.details)
    if not yes:
        if not sys.stdin.isatty():
            fail(
                f"{count} runs match; {operation} them as a batch job? Not on a terminal: add --yes to go ahead",
                EXIT_INVALID,
                error="confirmation_required",
            )
        if not click.confirm(f"{count} runs match the query. Start a batch job to {operation} them?", err=True):
            fail("nothing was done", EXIT_INVALID, error="not_confirmed")
    request = {"operation": operation, "query": query, **{k: v for k, v in body.items() if v is not None}}
    try:
        job = api.post(api.path("/batches"), request) or {}
    except InvalidQueryError as e:
        fail(_one_line(e), EXIT_INVALID, error=e.code, details=e.details)
    if output == "json":
        echo_json(job)
        return
    click.echo(f"Batch job {job.get('job_id')} started: {operation} the {job.get('matched')} runs that match.")
    click.echo(f"Follow it with `mainspring batch describe --job-id {job.get('job_id')}`.", err=True)


@click.group()
def batch() -> None:
    """Batch jobs: one operation applied to every run a query selects (started by workflow cancel, terminate,
    signal or reset with --query)."""


def _when(value: float | None) -> str:
    return "-" if value is None else datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _progress(job: dict[str, Any]) -> str:
    dealt = job["done"] + job["skipped"] + job["failed"]
    return f"{dealt}/{job['matched']} ({job['done']} done, {job['skipped']} skipped, {job['failed']} failed)"


@batch.command("list")
@connection_options
@run_sync
def list_(api: Api, output: str) -> None:
    """The namespace's batch jobs, newest first."""
    jobs = (api.get(api.path("/batches")) or {}).get("jobs", [])
    if output == "json":
        echo_json(jobs)
        return
    if not jobs:
        click.echo("No batch jobs.")
        return
    click.echo(f"{'Job id':<38}  {'Operation':<10}  {'State':<11}  {'Started (UTC)':<19}  Progress")
    for j in jobs:
        click.echo(
            f"{j['job_id']:<38}  {j['operation']:<10}  {j['state']:<11}  {_when(j['started_at']):<19}  {_progress(j)}"
        )


@batch.command("describe")
@click.option("--job-id", "-j", required=True, help="The batch job's id.")
@connection_options
@run_sync
def describe(api: Api, job_id: str, output: str) -> None:
    """A batch job: what it does, its state and progress."""
    j = api.get(api.path("/batches/describe"), {"job_id": job_id}) or {}
    if output == "json":
        echo_json(j)
        return
    rows = [
        ("JobId", j["job_id"]),
        ("Operation", j["operation"]),
        ("Query", j["query"]),
        ("State", j["state"]),
        ("Reason", j.get("reason") or "-"),
        ("Rps", f"{j['rps']:g}"),
        ("Progress", _progress(j)),
        ("Started", _when(j["started_at"])),
        ("Closed", _when(j.get("closed_at"))),
        ("Identity", j.get("identity") or "-"),
    ]
    if j.get("note"):
        rows.append(("Note", j["note"]))
    for name, value in rows:
        click.echo(f"  {name:<10} {value}")


@batch.command("terminate")
@click.option("--job-id", "-j", required=True, help="The batch job's id.")
@click.option("--reason", default="", help="Why (kept with the job).")
@connection_options
@run_sync
def terminate(api: Api, job_id: str, reason: str, output: str) -> None:
    """Stop a running batch job: the runs it dealt with stay so, the others are left alone."""
    j = api.post(api.path("/batches/terminate"), {"job_id": job_id, "reason": reason}) or {}
    if output == "json":
        echo_json(j)
        return
    click.echo(f"Batch job {job_id} terminated after {_progress(j)}.")
