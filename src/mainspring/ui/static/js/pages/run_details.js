// The parts of a run page drawn from `describe`: the summary, input and result or failure, and the pending
// activities, timers and workflow task. Each function returns nodes; run.js redraws them when they change.

import { paths } from "../api.js";
import { resetLinks } from "./run_reset.js";
import { h, append, badge, copyButton, section } from "../dom.js";
import { fmtDuration, fmtRelative, fmtTime, jsonText, jsonView, ms, preview, timeCell, zoneLabel } from "../format.js";

/** "Nov 26, 2026, 01:53:46.008 UTC · 3 m ago" as a <time>, relative part muted. */
function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("span", null, h("time", { datetime: iso, title: fmtRelative(iso) }, `${fmtTime(iso)} ${zoneLabel()}`), h("span", { class: "muted small rel" }, fmtRelative(iso)));
}

/** The key facts of the run, as a definition grid. */
export function summary(ns, d) {
  const ex = d.execution;
  const end = ex.close_time ? ms(ex.close_time) : Date.now();
  const item = (label, ...value) => h("div", { class: "kv" }, h("dt", null, label), h("dd", null, value));
  const wide = (el) => (el.classList.add("kv-wide"), el);
  const full = (el) => (el.classList.add("kv-full"), el);
  const cancel = d.cancel_requested;
  return h(
    "dl",
    { class: "summary" },
    item("Workflow type", h("a", { href: paths.workflows(ns, new URLSearchParams({ type: ex.workflow_type }).toString()) }, ex.workflow_type)),
    item("Task queue", h("a", { href: paths.taskQueue(ns, ex.task_queue) }, ex.task_queue)),
    wide(item("Run ID", h("span", { class: "mono run-id" }, ex.run_id), copyButton(() => ex.run_id, ""))),
    item("Start", when(ex.start_time)),
    item("Close", ex.close_time ? when(ex.close_time) : h("span", { class: "muted" }, "still running")),
    item("Duration", h("span", { class: ex.close_time ? null : "live-duration" }, fmtDuration(end - ms(ex.start_time)))),
    item("History", `${ex.history_length} event${ex.history_length === 1 ? "" : "s"}`),
    // The run's chain: the run it continued (or retried), and the one that continued it once it closed.
    d.previous_run_id
      ? wide(item("Continued from", h("a", { href: paths.run(ns, ex.workflow_id, d.previous_run_id), class: "mono run-id", "data-chain": "previous" }, d.previous_run_id)))
      : null,
    d.next_run_id
      ? wide(item(
          ex.status === "CONTINUED_AS_NEW" ? "Continued as new" : "Retried as",
          h("a", { href: paths.run(ns, ex.workflow_id, d.next_run_id), class: "mono run-id", "data-chain": "next" }, "→ ", d.next_run_id),
        ))
      : null,
    // A reset's links: the run this one was made from, the run it was reset to (run_reset.js).
    ...resetLinks(ns, d, (label, ...value) => wide(item(label, ...value))),
    cancel
      ? full(item(
          "Cancel requested",
          h("span", null, timeCell(cancel.time), cancel.identity ? ` by ${cancel.identity}` : "", cancel.reason ? h("span", { class: "reason" }, `: ${cancel.reason}`) : ""),
        ))
      : null,
    // What it was started with: a start delay, its memo.
    d.start_delay ? wide(item("Start delay", h("span", null, fmtDuration(d.start_delay * 1000), " · first task ", when(d.execution_time)))) : null,
    d.memo ? full(item("Memo", h("div", { class: "memo" }, jsonView(d.memo)))) : null,
    // Its custom search attributes (set at the start or upserted by its code): what list filters select it by.
    searchAttributes(d.search_attributes, full, item),
    // The build of the workers that ran it (Worker(build_id=...)): where it started, where it is now.
    d.build_id
      ? wide(item(
          "Build",
          h("span", { class: "build", "data-build": d.build_id }, h("span", { class: "mono" }, d.build_id),
            d.current_build_id && d.current_build_id !== d.build_id ? h("span", null, " → now on ", h("span", { class: "mono" }, d.current_build_id)) : null,
            " ", h("span", { class: "chip", title: d.versioning_behavior === "PINNED" ? "Stays on the build that started it" : "Moves to the task queue's newest build" }, d.versioning_behavior)),
        ))
      : null,
  );
}

/** The run's search attributes as a small table (name, type, value), or null if it has none. */
function searchAttributes(attrs, full, item) {
  const names = Object.keys(attrs || {}).sort();
  if (!names.length) return null;
  const shown = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  return full(item(
    "Search attributes",
    h(
      "table",
      { class: "table search-attributes" },
      h("thead", null, h("tr", null, ["Name", "Type", "Value"].map((c) => h("th", { scope: "col" }, c)))),
      h(
        "tbody",
        null,
        names.map((name) =>
          h(
            "tr",
            { "data-attribute": name },
            h("td", { "data-label": "Name", class: "mono" }, name),
            h("td", { "data-label": "Type" }, h("span", { class: "chip" }, attrs[name].type)),
            h("td", { "data-label": "Value", class: "mono" }, shown(attrs[name].value)),
          ),
        ),
      ),
    ),
  ));
}

/** A card with a JSON value and a copy button. */
function payloadCard(title, value, { cls = null, emptyText = null } = {}) {
  const card = section(title, {
    cls: ["payload", cls],
    tools: emptyText ? null : copyButton(() => jsonText(value), "Copy"),
  });
  card.body.append(emptyText ? h("p", { class: "muted" }, emptyText) : jsonView(value));
  return card;
}

const OUTCOME_TITLE = { FAILED: "Failure", TERMINATED: "Terminated", CANCELED: "Canceled", TIMED_OUT: "Timed out" };

/** Input, and the result or the failure (or a note that it is still running). */
export function inputAndOutcome(d) {
  const status = d.execution.status;
  const input = payloadCard("Input", d.input);
  let outcome;
  if (status === "CANCELED") {
    // A cancellation is something asked for, not a failure: a neutral card with the reason (and details).
    const f = d.failure || {};
    outcome = section("Canceled", { cls: ["payload", "outcome-canceled"] });
    append(
      outcome.body,
      h("p", { class: "cancel-reason" }, f.message && f.message !== "cancelled" ? f.message : "The workflow was canceled."),
      f.details !== null && f.details !== undefined && !(Array.isArray(f.details) && !f.details.length)
        ? h("details", { class: "failure-more" }, h("summary", null, "Details"), jsonView(f.details))
        : null,
    );
  } else if (d.failure) {
    outcome = section(OUTCOME_TITLE[status] || "Failure", { cls: ["payload", "outcome-failure"], tools: copyButton(() => jsonText(d.failure), "Copy") });
    outcome.body.append(failureView(d.failure));
  } else if (status === "COMPLETED") {
    outcome = payloadCard("Result", d.result, { cls: "outcome-result" });
  } else if (status === "RUNNING") {
    outcome = payloadCard("Result", null, { emptyText: "No result yet: the workflow is running." });
  } else {
    outcome = payloadCard("Result", d.result);
  }
  return h("div", { class: "io-grid" }, input, outcome);
}

/** A failure with its chain of causes, each with its type, message, details and stack. */
export function failureView(failure, depth = 0) {
  const f = failure || {};
  const facts = [
    ["activity", f.activity_type ? `${f.activity_type}${f.activity_id ? ` (id ${f.activity_id})` : ""}` : null],
    ["attempt", f.attempt],
    ["retry state", f.retry_state],
    ["timeout", f.timeout_type],
    ["non-retryable", f.non_retryable ? "yes" : null],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  const box = h(
    "div",
    { class: ["failure", depth ? "failure-cause" : null] },
    h("div", { class: "failure-head" }, f.type ? h("span", { class: "failure-type" }, f.type) : null, f.kind ? h("span", { class: "chip" }, f.kind) : null),
    h("p", { class: "failure-message" }, f.message || "(no message)"),
    facts.length ? h("dl", { class: "failure-facts" }, facts.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, String(v))))) : null,
    f.details !== null && f.details !== undefined ? h("details", { class: "failure-more" }, h("summary", null, "Details"), jsonView(f.details)) : null,
    f.stack ? h("details", { class: "failure-more" }, h("summary", null, "Stack trace"), h("pre", { class: "stack-trace" }, f.stack)) : null,
  );
  if (f.cause && depth < 20) {
    box.append(h("div", { class: "caused-by" }, h("span", { class: "caused-by-label" }, "Caused by"), failureView(f.cause, depth + 1)));
  }
  return box;
}

/** Pending activities, timers and workflow task; null when there are none. */
export function pending(d) {
  const acts = d.pending_activities || [];
  const timers = d.pending_timers || [];
  const wt = d.pending_workflow_task;
  if (!acts.length && !timers.length && !wt) return null;
  const parts = [];
  if (acts.length) {
    const card = section("Pending activities", { sub: String(acts.length), cls: "pending-activities" });
    card.body.append(
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "table pending" },
          h("thead", null, h("tr", null, ["Activity", "State", "Attempt", "Scheduled", "Last started", "Last heartbeat", "Last failure", "Worker"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", null, acts.map(activityRow)),
        ),
      ),
    );
    parts.push(card);
  }
  if (timers.length) {
    const card = section("Pending timers", { sub: String(timers.length), cls: "pending-timers" });
    card.body.append(
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "table pending" },
          h("thead", null, h("tr", null, ["Timer", "Fires", "In", "Started by event"].map((c) => h("th", { scope: "col" }, c)))),
          h(
            "tbody",
            null,
            timers.map((t) =>
              h(
                "tr",
                null,
                h("td", { "data-label": "Timer", class: "mono" }, t.timer_id),
                h("td", { "data-label": "Fires" }, timeCell(t.fire_time, { short: false })),
                h("td", { "data-label": "In" }, fmtRelative(t.fire_time)),
                h("td", { "data-label": "Started by event", class: "mono" }, String(t.started_event_id)),
              ),
            ),
          ),
        ),
      ),
    );
    parts.push(card);
  }
  if (wt) {
    const card = section("Pending workflow task", { cls: "pending-wt" });
    // dom.js's append, which skips null (the DOM's own writes it out as the text "null").
    append(
      card.body,
      // Why no worker takes it (no worker polls the queue, or none there runs the type), as Temporal's banner does.
      wt.hint ? h("p", { class: "notice notice-warn wt-hint", role: "status" }, wt.hint) : null,
      h(
        "dl",
        { class: "summary compact" },
        h("div", { class: "kv" }, h("dt", null, "State"), h("dd", null, badge(wt.state))),
        h("div", { class: "kv" }, h("dt", null, "Attempt"), h("dd", null, String(wt.attempt))),
        h("div", { class: "kv" }, h("dt", null, "Scheduled"), h("dd", null, timeCell(wt.scheduled_time, { short: false }))),
        wt.started_time ? h("div", { class: "kv" }, h("dt", null, "Started"), h("dd", null, timeCell(wt.started_time, { short: false }))) : null,
      ),
      wt.last_failure ? h("div", { class: "pending-failure" }, h("span", { class: "muted small" }, "Last failure"), failureView(wt.last_failure)) : null,
    );
    parts.push(card);
  }
  return h("div", { class: "pending-grid" }, parts);
}

function activityRow(a) {
  const hb = a.last_heartbeat_time
    ? [timeCell(a.last_heartbeat_time), h("span", { class: "muted small rel" }, fmtRelative(a.last_heartbeat_time)), a.heartbeat_details !== null && a.heartbeat_details !== undefined ? h("code", { class: "hb-details", title: jsonText(a.heartbeat_details) }, preview(a.heartbeat_details, 60)) : null]
    : h("span", { class: "muted" }, "—");
  const lf = a.last_failure
    ? h("span", { class: "failure-inline", title: a.last_failure.message || "" }, h("strong", null, a.last_failure.type || "Error"), ": ", a.last_failure.message || "")
    : h("span", { class: "muted" }, "—");
  const state = a.state === "BACKOFF" && a.next_attempt_time ? [badge(a.state), h("span", { class: "muted small rel" }, `next attempt ${fmtRelative(a.next_attempt_time)}`)] : badge(a.state);
  return h(
    "tr",
    { dataset: { activityId: a.activity_id } },
    h("td", { "data-label": "Activity" }, h("strong", null, a.activity_type), h("div", { class: "muted small mono" }, `id ${a.activity_id}`), a.cancel_requested ? h("span", { class: "chip chip-warn" }, "cancel requested") : null),
    h("td", { "data-label": "State" }, state),
    h("td", { "data-label": "Attempt", class: "num" }, String(a.attempt)),
    h("td", { "data-label": "Scheduled" }, timeCell(a.scheduled_time)),
    h("td", { "data-label": "Last started" }, timeCell(a.last_started_time)),
    h("td", { "data-label": "Last heartbeat" }, hb),
    h("td", { "data-label": "Last failure", class: "cell-failure" }, lf),
    h("td", { "data-label": "Worker", class: "mono small" }, a.last_worker_identity || "—"),
  );
}
