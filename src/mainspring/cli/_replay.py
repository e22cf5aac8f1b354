"""``mainspring workflow replay``: replay recorded histories against the workflow code about to be deployed,
and exit non-zero listing every run it would break (a deploy gate in one command).

The code is the ``@workflow.defn`` workflows of ``--module`` (imported as ``python -m`` would, from the
current directory); the histories are the newest ``--limit`` runs of ``--type`` (or of ``--workflow-id``, or
that ``--query`` selects) on the server, or files exported with ``workflow show -o json`` (``--file``). Replay
is ``worker.Replayer``'s.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._codec_flags import codec_endpoint_option
from ._common import EXIT_ERROR, EXIT_INVALID, connection_options, echo_json, fail, run_sync

if TYPE_CHECKING:
    from ..worker import WorkflowHistory
    from ._http import Api

__all__ = ["register"]

_PAGE = 100


def _workflows(modules: tuple[str, ...]) -> list[Any]:
    """The workflows defined in ``modules`` (functions and classes decorated with ``@workflow.defn``)."""
    from ..workflow import get_definition

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: dict[str, Any] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as e:  # the module's own error, whatever it is, is what the user needs
            fail(f"cannot import --module {name!r}: {type(e).__name__}: {e}", EXIT_INVALID, error="invalid_argument")
        for value in vars(module).values():
            if not callable(value) or not hasattr(value, "__mainspring_workflow__"):
                continue
            found.setdefault(get_definition(value).name, value)
    if not found:
        fail(
            f"no @workflow.defn workflows in {', '.join(repr(m) for m in modules)}: give the module that defines "
            "them (--module myapp.workflows)",
            EXIT_INVALID,
            error="invalid_argument",
        )
    return list(found.values())


def _from_file(path: str) -> WorkflowHistory:
    from ..worker import WorkflowHistory

    try:
        text = Path(path).read_text(encoding="utf-8")
        return WorkflowHistory.from_json(Path(path).stem, text)
    except OSError as e:
        fail(f"cannot read --file {path!r}: {e.strerror or e}", EXIT_INVALID, error="invalid_argument")
    except (ValueError, UnicodeDecodeError) as e:
        what = f"not JSON ({e})" if isinstance(e, json.JSONDecodeError) else str(e)
        fail(f"--file {path!r} is not a workflow history: {what}", EXIT_INVALID, error="invalid_argument")


def _from_server(
    api: Api, workflow_type: str | None, workflow_id: str | None, limit: int, query: str | None = None
) -> list[WorkflowHistory]:
    from ..worker import WorkflowHistory
    from ._workflow import history_events

    runs: list[dict[str, Any]] = []
    token: str | None = None
    while len(runs) < limit:
        params = {
            "workflow_type": workflow_type,
            "workflow_id": workflow_id,
            "query": query,
            "limit": min(_PAGE, limit - len(runs)),
            "page_token": token,
        }
        page = api.get(api.path("/workflows"), {k: v for k, v in params.items() if v is not None})
        runs.extend(page["executions"])
        token = page.get("next_page_token")
        if not token:
            break
    return [
        WorkflowHistory(r["workflow_id"], history_events(api, r["workflow_id"], r["run_id"]), run_id=r["run_id"])
        for r in runs
    ]


@click.command("replay")
@click.option("--module", "-m", "modules", multiple=True, required=True, help="Module defining the workflows.")
@click.option("--type", "-t", "workflow_type", default=None, help="Replay the newest runs of this workflow type.")
@click.option("--workflow-id", "-w", default=None, help="Replay the newest runs of this workflow id.")
@click.option(
    "--query",
    "-q",
    default=None,
    help="Replay the newest runs this list filter selects (e.g. \"WorkflowType = 'order' AND "
    "ExecutionStatus = 'Completed'\"; README: Finding workflows).",
)
@click.option(
    "--limit", type=click.IntRange(1, 100_000), default=500, show_default=True, help="At most this many runs."
)
@click.option(
    "--file",
    "-f",
    "files",
    multiple=True,
    help="A history exported with `workflow show -o json` (repeatable; no server needed then).",
)
@codec_endpoint_option
@connection_options
@run_sync
def replay(
    api: Api,
    modules: tuple[str, ...],
    workflow_type: str | None,
    workflow_id: str | None,
    query: str | None,
    limit: int,
    files: tuple[str, ...],
    codec_endpoint: str | None,
    output: str,
) -> int:
    """Replay histories against the workflows of --module; exit 1 listing each run the code no longer fits."""
    import asyncio  # (here: the CLI's other commands start without it)

    from ..worker import Replayer

    query = query or None
    if not files and workflow_type is None and workflow_id is None and query is None:
        fail(
            "give --type, --workflow-id, --query or --file: the histories to replay", EXIT_INVALID, error="usage_error"
        )
    converter = None
    if codec_endpoint is not None:  # encoded histories decoded through the codec server, as a worker decodes them
        from .._codec import RemoteCodec
        from ..converter import DataConverter

        converter = DataConverter(
            payload_codec=RemoteCodec(codec_endpoint, namespace=api.namespace, api_key=api.api_key)
        )
    replayer = Replayer(workflows=_workflows(modules), namespace=api.namespace, data_converter=converter)
    histories = [_from_file(f) for f in files]
    if workflow_type is not None or workflow_id is not None or query is not None:
        histories += _from_server(api, workflow_type, workflow_id, limit, query)
    failures: list[dict[str, Any]] = []
    for h in histories:
        result = asyncio.run(replayer.replay_workflow(h, raise_on_replay_failure=False))
        if result.replay_failure is not None:
            e = result.replay_failure
            failures.append(
                {"workflow_id": h.workflow_id, "run_id": h.run_id, "error": type(e).__name__, "message": str(e)}
            )
    if output == "json":
        echo_json({"replayed": len(histories), "failed": len(failures), "failures": failures})
    else:
        for f in failures:
            run = "" if f["run_id"] == "replay" else f" run {f['run_id']}"
            click.echo(f"FAIL {f['workflow_id']}{run}: {f['message']}")
        click.echo(f"{len(histories)} replayed, {len(failures)} failed", err=bool(failures))
    return EXIT_ERROR if failures else 0


def register(group: click.Group) -> None:
    group.add_command(replay)
