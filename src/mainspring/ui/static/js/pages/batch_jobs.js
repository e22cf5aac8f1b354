// Batch jobs, for the workflows page: starting one on the runs selected there (cancel or terminate with a
// reason, as the run page's buttons do; a signal with its payload; a reset to a workflow task), and the namespace's jobs with their progress. A job is a list query
// the server walks at its own pace (server/features/batch.py); the page only starts it and shows how far it got.

import { api, nsApi } from "../api.js";
import { confirmWithReason, openModal } from "../dialog.js";
import { messageForm } from "../messages.js";
import { badge, h, replace, errorNotice, section, toast } from "../dom.js";
import { fmtTime } from "../format.js";

// The list filter language's names of the statuses (Temporal's).
const STATUS_NAMES = {
  RUNNING: "Running",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELED: "Canceled",
  TERMINATED: "Terminated",
  TIMED_OUT: "TimedOut",
  CONTINUED_AS_NEW: "ContinuedAsNew",
};

/** A value in the filter language's quotes (single, or double if it holds a single quote). */
function quoted(value) {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new Error(`${value} holds both kinds of quote: narrow the filter another way`);
}

/**
 * The list query that selects what the workflows page's filters show (its API query, as apiQuery makes it),
 * the page's own list query included. `now`: bound the start time by now when nothing else does (a batch
 * acts on the runs started so far, and never takes an empty query); a count needs no such bound.
 */
export function filterQuery(q, { now = true } = {}) {
  const parts = [];
  if (q.status) parts.push(`ExecutionStatus = ${quoted(STATUS_NAMES[q.status] || q.status)}`);
  if (q.workflow_type) parts.push(`WorkflowType = ${quoted(q.workflow_type)}`);
  if (q.workflow_id_prefix) parts.push(`WorkflowId STARTS_WITH ${quoted(q.workflow_id_prefix)}`);
  if (q.started_after) parts.push(`StartTime >= '${new Date(q.started_after * 1000).toISOString()}'`);
  // No upper bound given: the runs started so far (a batch never needs an empty query, which it refuses).
  if (q.started_before || now) {
    const before = q.started_before ? q.started_before * 1000 : Date.now() + 1000;
    parts.push(`StartTime < '${new Date(before).toISOString()}'`);
  }
  if (q.query) parts.push(`(${q.query})`);
  return parts.join(" AND ");
}

/** The list query that selects these runs. */
export function runIdsQuery(runIds) {
  return `RunId IN (${runIds.map(quoted).join(", ")})`;
}

const WORDS = {
  cancel: {
    title: "Cancel",
    description: "Each running one is asked to stop: its code gets a cancellation where it waits and can clean up.",
    label: "Cancel workflows",
  },
  terminate: {
    title: "Terminate",
    description: "Each running one ends at once: none of its code runs again. This cannot be undone.",
    label: "Terminate workflows",
  },
};

/** Ask for a reason, then start the batch job; ``onStarted`` after it started. */
export function startBatch(ns, operation, query, targets, onStarted) {
  const words = WORDS[operation];
  return confirmWithReason({
    title: `${words.title} ${targets}?`,
    description: `${words.description} A batch job on the server does it at its own pace, and its progress shows under the list. Closed runs are skipped.`,
    confirmLabel: words.label,
    cancelLabel: "Back",
    danger: operation === "terminate",
    reasonPlaceholder: `Why they are ${operation === "cancel" ? "cancelled" : "terminated"}`,
    onConfirm: (reason) => postBatch(ns, { operation, query, reason: reason || "" }, onStarted),
  });
}

async function postBatch(ns, body, onStarted) {
  const job = await api(nsApi(ns) + "/batches", { method: "POST", body });
  toast(`Batch job started: ${body.operation} ${job.matched} run${job.matched === 1 ? "" : "s"}`);
  onStarted(job);
}

const reasonField = (placeholder) => {
  const reason = h("textarea", { name: "reason", rows: 2, class: "input", maxlength: 2000, placeholder });
  return { reason, field: h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason (optional, recorded in each history)"), reason) };
};

/** Ask for a signal's name and payload, then start a signal batch job; ``onStarted`` after it started. */
export function startSignalBatch(ns, query, targets, onStarted) {
  // The selected runs may be of several types, so no handler names are offered: the name is typed.
  const form = messageForm("signal", null);
  const { reason, field } = reasonField("Why they are signalled");
  const modal = openModal({
    title: `Signal ${targets}?`,
    description: "Each running one gets this signal once, recorded in its history (a run met twice is not signalled again). A batch job on the server does it at its own pace, and its progress shows under the list. Closed runs are skipped.",
    submitLabel: "Signal workflows",
    cancelLabel: "Back",
    wide: true,
    fields: [...form.fields, field],
    onSubmit: async () => {
      const { name, input } = form.read();
      await postBatch(ns, { operation: "signal", query, reason: reason.value.trim(), signal_name: name, input }, onStarted);
    },
  });
  modal.form.classList.add("message-form", "batch-signal-form");
  form.focus();
  return modal;
}

/** Ask where to reset to and what to reapply, then start a reset batch job; ``onStarted`` after it started. */
export function startResetBatch(ns, query, targets, onStarted) {
  const choice = (value, label, checked = false) =>
    h("label", { class: "check" }, h("input", { type: "radio", name: "point", value, checked }), label);
  const reapplySignals = h("input", { type: "checkbox", name: "reapply_signals", checked: true });
  const reapplyUpdates = h("input", { type: "checkbox", name: "reapply_updates", checked: true });
  const { reason, field } = reasonField("Why they are reset");
  return openModal({
    title: `Reset ${targets}?`,
    description:
      "Each run gets a new run of its workflow id from the chosen workflow task: its history up to that task is kept, and its code after it runs again (activities included). A running one is terminated; both runs are linked. A batch job on the server does it at its own pace.",
    submitLabel: "Reset workflows",
    cancelLabel: "Back",
    danger: true,
    fields: [
      h(
        "fieldset",
        { class: "field reset-point" },
        h("legend", { class: "field-label" }, "Reset each to"),
        choice("LastWorkflowTask", "its last completed workflow task", true),
        choice("FirstWorkflowTask", "its first workflow task (the whole run again)"),
      ),
      h("label", { class: "check" }, reapplySignals, "Reapply the signals each received after that point"),
      h("label", { class: "check" }, reapplyUpdates, "Reapply the updates each accepted after that point"),
      field,
    ],
    onSubmit: async (form) => {
      const reset_type = form.querySelector("input[name=point]:checked").value;
      const reapply_exclude = [...(reapplySignals.checked ? [] : ["Signal"]), ...(reapplyUpdates.checked ? [] : ["Update"])];
      await postBatch(ns, { operation: "reset", query, reason: reason.value.trim(), reset_type, reapply_exclude }, onStarted);
    },
  });
}

function progress(job) {
  const dealt = job.done + job.skipped + job.failed;
  const total = Math.max(job.matched, dealt);
  const pct = total === 0 ? 100 : Math.round((100 * dealt) / total);
  return h(
    "div",
    { class: "batch-progress" },
    h("div", { class: "batch-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct }, h("span", { style: { width: `${pct}%` } })),
    h("span", { class: "small" }, `${dealt} / ${total}`),
    h("span", { class: "muted small" }, `${job.done} done, ${job.skipped} skipped, ${job.failed} failed`),
  );
}

/** The namespace's batch jobs: { element, refresh }. Hidden while there are none. */
export function batchJobsSection(ns) {
  const body = h("tbody");
  const error = h("div");
  const element = section("Batch jobs", { cls: "batch-jobs", sub: "cancel, terminate, signal and reset of many runs, newest first" });
  element.hidden = true;
  replace(
    element.body,
    error,
    h(
      "div",
      { class: "table-scroll" },
      h("table", { class: "table" }, h("thead", null, h("tr", null, ["Job", "Operation", "State", "Progress", "Started", "Query"].map((c) => h("th", { scope: "col" }, c)))), body),
    ),
  );
  let last = null;

  async function refresh() {
    let data;
    try {
      data = await api(nsApi(ns) + "/batches");
    } catch (err) {
      replace(error, errorNotice(err, "Could not list batch jobs"));
      return;
    }
    error.replaceChildren();
    const json = JSON.stringify(data.jobs);
    if (json === last) return;
    last = json;
    element.hidden = data.jobs.length === 0;
    replace(
      body,
      data.jobs.slice(0, 20).map((job) =>
        h(
          "tr",
          { dataset: { jobId: job.job_id, state: job.state } },
          h("td", { class: "mono small cell-nowrap" }, job.job_id),
          h("td", null, job.operation),
          h("td", null, badge(job.state)),
          h("td", null, progress(job)),
          h("td", { class: "cell-time" }, fmtTime(new Date(job.started_at * 1000).toISOString(), { millis: false })),
          h("td", { class: "mono small cell-query", title: job.query }, job.query),
        ),
      ),
    );
  }

  return { element, refresh };
}
