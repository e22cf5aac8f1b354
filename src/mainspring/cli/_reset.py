"""``mainspring workflow reset``: a new run from a workflow task of a run, with Temporal CLI's flags
(``--event-id/-e | --type/-t FirstWorkflowTask|LastWorkflowTask``, ``--reason``, ``--reapply-exclude``, the
older ``--reapply-type``), or ``--reapply signals,updates|none`` naming what is reapplied; and the reset links
``workflow describe`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._batch import batch_options, check_target, start_batch
from ._common import EXIT_INVALID, connection_options, echo_json, fail, run_sync

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["register", "reset_rows"]

#: Temporal's --reapply-type (deprecated there for --reapply-exclude): what it leaves out.
_REAPPLY_TYPE_EXCLUDES = {"All": [], "Signal": ["Update"], "None": ["All"]}
#: --reapply's words: what each keeps.
_REAPPLY_WORDS = {"signals": "Signal", "signal": "Signal", "updates": "Update", "update": "Update"}


def _reapply_excludes(value: str) -> list[str]:
    """What ``--reapply`` (a comma-separated list of signals, updates; or all, none) leaves out."""
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    if words == ["none"]:
        return ["All"]
    if words == ["all"]:
        return []
    unknown = [w for w in words if w not in _REAPPLY_WORDS]
    if unknown or not words:
        fail(
            f"--reapply {value!r}: expected a comma-separated list of signals and updates, or all, or none "
            f"(e.g. --reapply signals,updates); not {', '.join(repr(w) for w in unknown) or 'empty'}",
            EXIT_INVALID,
            error="usage_error",
        )
    kept = {_REAPPLY_WORDS[w] for w in words}
    return [kind for kind in ("Signal", "Update") if kind not in kept]


@click.command("reset")
@click.option("--workflow-id", "-w", default=None, help="Workflow id (or --query for many).")
@click.option("--run-id", "-r", default=None, help="The run to reset (default: the newest).")
@click.option("--event-id", "-e", type=int, default=None, help="The WorkflowTaskCompleted (or Failed, TimedOut) event.")
@click.option(
    "--type",
    "-t",
    "reset_type",
    type=click.Choice(["FirstWorkflowTask", "LastWorkflowTask"], case_sensitive=False),
    default=None,
    help="Reset to the first or the last completed workflow task (instead of --event-id).",
)
@click.option("--reason", default="", help="Why (recorded in both runs' histories).")
@click.option(
    "--reapply-exclude",
    multiple=True,
    type=click.Choice(["All", "Signal", "Update"], case_sensitive=False),
    help="Leave these out of what is reapplied after the reset point (repeatable; by default the signals received "
    "and the updates accepted after it are).",
)
@click.option(
    "--reapply",
    "reapply",
    default=None,
    metavar="signals,updates|all|none",
    help="What to reapply after the reset point: signals, updates, both (the default), all, or none.",
)
@click.option(
    "--reapply-type",
    type=click.Choice(list(_REAPPLY_TYPE_EXCLUDES), case_sensitive=False),
    default=None,
    help="Deprecated (as in Temporal's CLI): what to reapply (All: signals and updates; Signal: signals only; "
    "None); use --reapply-exclude.",
)
@batch_options
@connection_options
@run_sync
def reset(
    api: Api,
    workflow_id: str | None,
    run_id: str | None,
    event_id: int | None,
    reset_type: str | None,
    reason: str,
    reapply_exclude: tuple[str, ...],
    reapply: str | None,
    reapply_type: str | None,
    query: str | None,
    yes: bool,
    rps: float | None,
    output: str,
) -> None:
    """Make a new run of a workflow from one of its workflow tasks (the code after it runs again); the run is
    terminated if still running, and both are linked. With --query (and --type), every run the query selects,
    as a batch job."""
    check_target(workflow_id, query, run_id)
    if query is not None and event_id is not None:
        fail("--event-id names an event of one run: with --query give --type", EXIT_INVALID, error="usage_error")
    if (event_id is None) == (reset_type is None):
        fail("give exactly one of --event-id and --type", EXIT_INVALID, error="usage_error")
    if sum(x is not None and x != () for x in (reapply_type, reapply_exclude, reapply)) > 1:
        fail(
            "--reapply, --reapply-exclude and --reapply-type cannot be used together: give one",
            EXIT_INVALID,
            error="usage_error",
        )
    exclude = [x.capitalize() for x in reapply_exclude]
    if reapply is not None:
        exclude = _reapply_excludes(reapply)
    if reapply_type is not None:
        exclude = _REAPPLY_TYPE_EXCLUDES[next(k for k in _REAPPLY_TYPE_EXCLUDES if k.lower() == reapply_type.lower())]
    if query is not None:
        assert reset_type is not None
        kind = "FirstWorkflowTask" if reset_type.lower() == "firstworkflowtask" else "LastWorkflowTask"
        start_batch(
            api, "reset", query, yes, output, reset_type=kind, reason=reason, reapply_exclude=exclude or None, rps=rps
        )
        return
    body: dict[str, Any] = {"workflow_id": workflow_id, "run_id": run_id, "reason": reason, "reapply_exclude": exclude}
    if event_id is not None:
        body["event_id"] = event_id
    else:
        assert reset_type is not None
        body["reset_type"] = "FirstWorkflowTask" if reset_type.lower() == "firstworkflowtask" else "LastWorkflowTask"
    answer = api.post(api.path("/workflows/reset"), body) or {}
    if output == "json":
        echo_json(answer)
        return
    was = " (it was running: terminated)" if answer.get("terminated") else ""
    click.echo(
        f"Workflow {workflow_id} run {answer.get('base_run_id')} reset to event {answer.get('reset_event_id')}{was}: "
        f"new run {answer.get('run_id')}"
    )


def reset_rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows ``workflow describe`` prints for the run's reset links."""
    rows: list[tuple[str, str]] = []
    came = d.get("reset_from")
    if came:
        rows.append(("ResetFrom", f"run {came['run_id']} at event {came['event_id']}"))
    went = d.get("reset_to")
    if went:
        rows.append(("ResetTo", f"run {went['run_id']} (from event {went['event_id']})"))
    return rows


def register(group: click.Group) -> None:
    group.add_command(reset)
