"""``mainspring schedule create|describe|list|toggle|trigger|backfill|update|delete``: schedules, with Temporal's
CLI flags (``temporal schedule ...``): ``--interval 1h[/offset]``, ``--cron``, ``--overlap-policy BufferOne``,
``--pause``/``--unpause`` with ``--reason``. They call the server's schedule API (``/schedules``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ._calendar_flags import parse_calendar
from ._common import EXIT_INVALID, connection_options, echo_json, fail, run_sync
from ._start_flags import parse_duration
from ._workflow import parse_input, search_attribute_flags, search_attribute_option

if TYPE_CHECKING:
    from ._http import Api

__all__ = ["schedule"]

#: Temporal's CLI spellings of the overlap policies (``BufferOne``), and the API's (``BUFFER_ONE``).
_OVERLAP = {
    "skip": "SKIP",
    "bufferone": "BUFFER_ONE",
    "bufferall": "BUFFER_ALL",
    "cancelother": "CANCEL_OTHER",
    "terminateother": "TERMINATE_OTHER",
    "allowall": "ALLOW_ALL",
}


def _overlap(text: str | None) -> str | None:
    if text is None:
        return None
    value = _OVERLAP.get(text.replace("_", "").replace("-", "").lower())
    if value is None:
        fail(
            f"--overlap-policy takes Skip, BufferOne, BufferAll, CancelOther, TerminateOther or AllowAll, got {text!r}",
            EXIT_INVALID,
        )
    return value


def _interval(text: str) -> dict[str, float]:
    every, _, offset = text.partition("/")
    return {
        "every": parse_duration("--interval", every),
        "offset": parse_duration("--interval", offset) if offset else 0.0,
    }


def _time(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{flag} takes an RFC 3339 time such as 2026-12-03T10:00:00Z, got {text!r}", EXIT_INVALID)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def _iso(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _calendar_text(c: dict[str, Any]) -> str:
    """A calendar as the CLI shows it: its comment, else its fields in cron's item syntax."""
    if c.get("comment"):
        return str(c["comment"])

    def field(ranges: list[dict[str, int]]) -> str:
        items = []
        for r in ranges:
            end = r.get("end") or r["start"]
            item = str(r["start"]) if end == r["start"] else f"{r['start']}-{end}"
            items.append(item + (f"/{r['step']}" if r.get("step", 0) > 1 else ""))
        return ",".join(items) or "*"

    names = ("second", "minute", "hour", "day_of_month", "month", "year", "day_of_week")
    return " ".join(f"{n}={field(c.get(n, []))}" for n in names)


def _id_option(fn: Any) -> Any:
    return click.option("--schedule-id", "-s", required=True, help="The schedule's id.")(fn)


@click.group("schedule")
def schedule() -> None:
    """Create and manage schedules: workflows started at intervals, cron times or calendar times."""


@schedule.command("create")
@_id_option
@click.option("--interval", multiple=True, metavar="EVERY[/OFFSET]", help="e.g. 1h, or 1h/5m for five past.")
@click.option("--cron", multiple=True, metavar="TEXT", help="A cron expression, e.g. '0 9 * * 1-5'.")
@click.option(
    "--calendar",
    multiple=True,
    metavar="JSON",
    help='A calendar time, e.g. \'{"dayOfWeek":"Mon-Fri","hour":"9","minute":"30"}\' (Temporal\'s form).',
)
@click.option("--time-zone", default=None, help="IANA time zone of the cron and calendar times (default UTC).")
@click.option("--start-time", default=None, help="No action before this RFC 3339 time.")
@click.option("--end-time", default=None, help="No action after this RFC 3339 time.")
@click.option("--jitter", default=None, help="Start each action up to this long after its time.")
@click.option("--workflow-type", "--type", "workflow_type", required=True, help="The workflow type to start.")
@click.option("--task-queue", "-t", required=True, help="The task queue its workers poll.")
@click.option("--workflow-id", "-w", default=None, help="Base of each run's id (default: the schedule id).")
@click.option("--input", "-i", "input_", default=None, metavar="JSON", help="The workflow's input, as JSON.")
@click.option("--input-file", default=None, type=click.Path(dir_okay=False), help="Read the input JSON from a file.")
@click.option("--overlap-policy", default=None, help="Skip (default), BufferOne, BufferAll, CancelOther, ...")
@click.option("--catchup-window", default=None, help="How late a missed action may still run (default 1 year).")
@click.option("--pause-on-failure", is_flag=True, help="Pause when a run fails or times out.")
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--notes", default=None, help="A note on its state.")
@click.option("--remaining-actions", type=int, default=None, help="Stop after this many actions.")
@search_attribute_option
@connection_options
@run_sync
def create(
    api: Api,
    schedule_id: str,
    interval: tuple[str, ...],
    cron: tuple[str, ...],
    calendar: tuple[str, ...],
    time_zone: str | None,
    start_time: str | None,
    end_time: str | None,
    jitter: str | None,
    workflow_type: str,
    task_queue: str,
    workflow_id: str | None,
    input_: str | None,
    input_file: str | None,
    overlap_policy: str | None,
    catchup_window: str | None,
    pause_on_failure: bool,
    paused: bool,
    notes: str | None,
    remaining_actions: int | None,
    search_attributes: tuple[str, ...],
    output: str,
) -> None:
    """Create a schedule."""
    policy: dict[str, Any] = {"pause_on_failure": pause_on_failure}
    if overlap_policy is not None:
        policy["overlap"] = _overlap(overlap_policy)
    if catchup_window is not None:
        policy["catchup_window"] = parse_duration("--catchup-window", catchup_window)
    body = {
        "schedule_id": schedule_id,
        "schedule": {
            "action": {
                "workflow_id": workflow_id or schedule_id,
                "workflow_type": workflow_type,
                "task_queue": task_queue,
                "input": parse_input(input_, input_file),
                "search_attributes": search_attribute_flags(search_attributes) or None,
            },
            "spec": {
                "intervals": [_interval(i) for i in interval],
                "cron_expressions": list(cron),
                "calendars": [parse_calendar(c) for c in calendar],
                "time_zone_name": time_zone,
                "start_at": _time("--start-time", start_time),
                "end_at": _time("--end-time", end_time),
                "jitter": parse_duration("--jitter", jitter) if jitter else None,
            },
            "policy": policy,
            "state": {
                "paused": paused,
                "note": notes,
                "limited_actions": remaining_actions is not None,
                "remaining_actions": remaining_actions or 0,
            },
        },
    }
    answer = api.post(api.path("/schedules"), body)
    if output == "json":
        echo_json(answer)
        return
    nxt = answer["info"]["next_action_times"]
    click.echo(f"Schedule {schedule_id} created; next action at {_iso(nxt[0] if nxt else None)}")


@schedule.command("describe")
@_id_option
@connection_options
@run_sync
def describe(api: Api, schedule_id: str, output: str) -> None:
    """Show a schedule: its spec, action, policy, state, and what it has done."""
    d = api.get(api.path("/schedules/describe"), {"schedule_id": schedule_id})
    if output == "json":
        echo_json(d)
        return
    s, info = d["schedule"], d["info"]
    spec, action, state = s["spec"], s["action"], s["state"]
    click.echo(f"Schedule {d['schedule_id']}: {'PAUSED' if state['paused'] else 'running'}")
    if state.get("note"):
        click.echo(f"  Note: {state['note']}")
    click.echo(f"  Action: start {action['workflow_type']} on {action['task_queue']} as {action['workflow_id']}-<time>")
    for c in spec["cron_expressions"]:
        click.echo(f"  Cron: {c}" + (f" ({spec['time_zone_name']})" if spec.get("time_zone_name") else ""))
    for c in spec.get("calendars", ()):
        click.echo(f"  Calendar: {_calendar_text(c)}")
    for c in spec.get("skip", ()):
        click.echo(f"  Skip: {_calendar_text(c)}")
    for i in spec["intervals"]:
        click.echo(f"  Every {i['every']:g}s" + (f", offset {i['offset']:g}s" if i["offset"] else ""))
    click.echo(f"  Overlap: {s['policy']['overlap']}, catch-up window {s['policy']['catchup_window']:g}s")
    click.echo(
        f"  Actions: {info['num_actions']} (skipped for overlap {info['num_actions_skipped_overlap']}, "
        f"missed {info['num_actions_missed_catchup_window']}); running {len(info['running_actions'])}"
    )
    for a in info["recent_actions"]:
        click.echo(f"  Recent: {_iso(a['scheduled_at'])} -> {a['workflow_id']} (run {a['run_id']})")
    click.echo("  Next: " + (", ".join(_iso(t) for t in info["next_action_times"][:5]) or "-"))


@schedule.command("list")
@connection_options
@run_sync
def list_(api: Api, output: str) -> None:
    """List the namespace's schedules."""
    schedules: list[dict[str, Any]] = []
    token: str | None = None
    while True:  # every page (the server gives at most 1,000 a page)
        page = api.get(api.path("/schedules"), {"page_token": token} if token else None)
        schedules += page["schedules"]
        token = page.get("next_page_token")
        if not token:
            break
    if output == "json":
        echo_json(schedules)
        return
    for d in schedules:
        nxt = d["info"]["next_action_times"]
        state = "paused" if d["schedule"]["state"]["paused"] else "running"
        click.echo(
            f"{d['schedule_id']:<30} {d['schedule']['action']['workflow_type']:<20} {state:<8} "
            f"next {_iso(nxt[0] if nxt else None)}  actions {d['info']['num_actions']}"
        )


def _patch(api: Api, output: str, body: dict[str, Any], done: str) -> None:
    answer = api.post(api.path("/schedules/patch"), body)
    if output == "json":
        echo_json(answer)
    else:
        click.echo(done)


@schedule.command("toggle")
@_id_option
@click.option("--pause", is_flag=True, help="Pause the schedule.")
@click.option("--unpause", is_flag=True, help="Unpause it.")
@click.option("--reason", default=None, help="Why (kept as the schedule's note).")
@connection_options
@run_sync
def toggle(api: Api, schedule_id: str, pause: bool, unpause: bool, reason: str | None, output: str) -> None:
    """Pause or unpause a schedule."""
    if pause == unpause:
        fail("give one of --pause or --unpause", EXIT_INVALID)
    note = reason or ("Paused via CLI" if pause else "Unpaused via CLI")
    body = {"schedule_id": schedule_id, ("pause" if pause else "unpause"): note}
    _patch(api, output, body, f"Schedule {schedule_id} {'paused' if pause else 'unpaused'}")


@schedule.command("trigger")
@_id_option
@click.option("--overlap-policy", default=None, help="Overlap policy for this action (default: the schedule's).")
@connection_options
@run_sync
def trigger(api: Api, schedule_id: str, overlap_policy: str | None, output: str) -> None:
    """Start the schedule's action now."""
    body = {"schedule_id": schedule_id, "trigger": True, "trigger_overlap": _overlap(overlap_policy)}
    _patch(api, output, body, f"Schedule {schedule_id} triggered")


@schedule.command("backfill")
@_id_option
@click.option("--start-time", required=True, help="RFC 3339 time the span starts at.")
@click.option("--end-time", required=True, help="RFC 3339 time the span ends at.")
@click.option("--overlap-policy", default=None, help="Overlap policy for these actions (default: the schedule's).")
@connection_options
@run_sync
def backfill(
    api: Api, schedule_id: str, start_time: str, end_time: str, overlap_policy: str | None, output: str
) -> None:
    """Run the actions due in a span of the past now, whatever the catch-up window."""
    span = {
        "start_at": _time("--start-time", start_time),
        "end_at": _time("--end-time", end_time),
        "overlap": _overlap(overlap_policy),
    }
    _patch(api, output, {"schedule_id": schedule_id, "backfill": [span]}, f"Schedule {schedule_id} backfilled")


@schedule.command("update")
@_id_option
@click.option("--interval", multiple=True, metavar="EVERY[/OFFSET]", help="Replace the intervals.")
@click.option("--cron", multiple=True, metavar="TEXT", help="Replace the cron expressions.")
@click.option("--calendar", multiple=True, metavar="JSON", help="Replace the calendar times (see create).")
@click.option("--time-zone", default=None, help="Replace the time zone.")
@click.option("--input", "-i", "input_", default=None, metavar="JSON", help="Replace the workflow's input.")
@click.option("--overlap-policy", default=None, help="Replace the overlap policy.")
@connection_options
@run_sync
def update(
    api: Api,
    schedule_id: str,
    interval: tuple[str, ...],
    cron: tuple[str, ...],
    calendar: tuple[str, ...],
    time_zone: str | None,
    input_: str | None,
    overlap_policy: str | None,
    output: str,
) -> None:
    """Change a schedule: what is given replaces what it had (a spec given as --interval, --cron or --calendar
    replaces all three), the rest is kept."""
    d = api.get(api.path("/schedules/describe"), {"schedule_id": schedule_id})
    s = d["schedule"]
    if interval or cron or calendar:
        s["spec"]["intervals"] = [_interval(i) for i in interval]
        s["spec"]["cron_expressions"] = list(cron)
        s["spec"]["calendars"] = [parse_calendar(c) for c in calendar]
    if time_zone is not None:
        s["spec"]["time_zone_name"] = time_zone
    if input_ is not None:
        s["action"]["input"] = parse_input(input_, None)
    if overlap_policy is not None:
        s["policy"]["overlap"] = _overlap(overlap_policy)
    body = {"schedule_id": schedule_id, "schedule": s, "conflict_token": d["conflict_token"]}
    answer = api.post(api.path("/schedules/update"), body)
    if output == "json":
        echo_json(answer)
    else:
        click.echo(f"Schedule {schedule_id} updated")


@schedule.command("delete")
@_id_option
@connection_options
@run_sync
def delete(api: Api, schedule_id: str, output: str) -> None:
    """Delete a schedule (the runs it started are left as they are)."""
    answer = api.post(api.path("/schedules/delete"), {"schedule_id": schedule_id})
    if output == "json":
        echo_json(answer)
    else:
        click.echo(f"Schedule {schedule_id} deleted")
