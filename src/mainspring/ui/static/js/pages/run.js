// One run of a workflow: what it is, what it was given and what came of it, its timeline, history, pending
// work and where it waits, with Send signal, Query, Run update, Cancel and Terminate while it runs (and Query
// after, when its type has query handlers), and Reset and Delete whatever its status. While it runs the page
// follows it: describe every 2 s, and only the new events of the history (from the last one seen on).

import { api, fetchHistory, nsApi, paths } from "../api.js";
import { h, badge, icon, replace, section, toast, errorNotice, notice } from "../dom.js";
import { fmtDuration, ms } from "../format.js";
import { confirmWithReason } from "../dialog.js";
import { offersQuery, openQueryDialog, openSignalDialog, openUpdateDialog } from "../messages.js";
import { applyPending, groupEvents } from "../history_model.js";
import { poller } from "../refresh.js";
import { summary, inputAndOutcome, pending } from "./run_details.js";
import { relationships } from "./run_relationships.js";
import { resetButton } from "./run_reset.js";
import { stackSection } from "./stack.js";
import { timeline } from "./timeline.js";
import { historySection } from "./history.js";

const REFRESH_MS = 2000;

export function mount(root, ctx) {
  const { ns, params, navigate } = ctx;
  const workflowId = params.workflowId;
  let runId = params.runId || null;
  let disposed = false;
  let poll = null;
  document.title = `${workflowId} · Mainspring`;
  replace(root, backLink(ns), h("p", { class: "muted" }, "Loading…"));

  (async () => {
    let d;
    try {
      d = await describe(ns, workflowId, runId);
    } catch (err) {
      if (disposed) return;
      replace(root, backLink(ns), h("h1", { class: "run-title" }, workflowId), errorNotice(err));
      return;
    }
    if (disposed) return;
    if (!runId) {
      // The id alone names its latest run: show that, under its own address.
      runId = d.execution.run_id;
      history.replaceState(null, "", paths.run(ns, workflowId, runId));
    }
    const page = build(root, ns, workflowId, runId, () => poll && poll.now(), () => {
      // Deleted: nothing of it is left to follow or show.
      if (poll) poll.stop();
      navigate(paths.workflows(ns));
    }, (newRunId) => {
      // Reset: the new run is the one to follow.
      if (poll) poll.stop();
      navigate(paths.run(ns, workflowId, newRunId));
    });
    let events = [];
    try {
      events = await fetchHistory(ns, workflowId, runId);
    } catch (err) {
      page.historyError(err);
    }
    if (disposed) return;
    page.update(d, events);
    if (d.execution.status === "RUNNING") {
      page.stack.load();
      poll = poller(async () => {
        const next = await describe(ns, workflowId, runId);
        if (disposed) return;
        const last = events.length ? events.at(-1).event_id : 0;
        const moved = next.execution.history_length > last;
        if (moved) {
          const more = await fetchHistory(ns, workflowId, runId, { first: last + 1 });
          if (disposed) return;
          events = events.concat(more.filter((e) => e.event_id > last));
          page.stack.load(); // it waits somewhere else once its history moved on
        }
        page.update(next, events);
        if (next.execution.status !== "RUNNING") poll.stop();
      }, REFRESH_MS);
    }
  })();

  return () => {
    disposed = true;
    if (poll) poll.stop();
  };
}

function describe(ns, workflowId, runId) {
  return api(nsApi(ns) + "/workflows/describe", { query: { workflow_id: workflowId, run_id: runId } });
}

function backLink(ns) {
  return h("a", { href: paths.workflows(ns), class: "back-link" }, icon("back", 14), "Workflows");
}

/** Lay out the page once; returns update(describe, events) to redraw what changed. */
function build(root, ns, workflowId, runId, refreshNow, onDeleted, onReset) {
  const status = h("span", { class: "run-status" });
  const actions = h("div", { class: "run-actions" });
  // Apart from the run's actions (which follow its status): a run can be deleted in any status.
  const manage = h(
    "div",
    { class: "run-manage" },
    resetButton(ns, workflowId, runId, () => lastDescribe, onReset),
    deleteButton(ns, workflowId, runId, () => lastDescribe, onDeleted),
  );
  const cancelNote = h("div", { class: "cancel-note", hidden: true });
  const summaryBox = h("div", { class: "card summary-card" });
  const ioBox = h("div");
  const pendingBox = h("div");
  const relationsBox = h("div");
  const stack = stackSection(ns, workflowId, runId);
  const timelineCard = section("Timeline", { cls: "timeline-card", sub: "click a bar to see its events" });
  const historyCard = historySection(ns, workflowId, runId);
  let last = { eventCount: -1, status: null, parts: {} };
  let groups = { groups: [], byKey: new Map() };
  let lastDescribe = null;

  const cancelButton = h("button", { type: "button", class: "btn", dataset: { action: "cancel" } }, icon("x", 14), "Cancel");
  const terminateButton = h("button", { type: "button", class: "btn btn-danger-outline", dataset: { action: "terminate" } }, icon("stop", 14), "Terminate");
  cancelButton.addEventListener("click", () =>
    confirmWithReason({
      title: "Cancel this workflow?",
      description: "The workflow is asked to stop: its code gets a cancellation where it waits and can clean up. Its pending activities and timers are cancelled.",
      confirmLabel: "Cancel workflow",
      cancelLabel: "Keep it running",
      reasonPlaceholder: "Why it is cancelled",
      onConfirm: (reason) => act("cancel", reason, "Cancellation requested"),
    }),
  );
  terminateButton.addEventListener("click", () =>
    confirmWithReason({
      title: "Terminate this workflow?",
      description: "The workflow ends at once and none of its code runs again: no clean-up. Its pending work is dropped.",
      confirmLabel: "Terminate workflow",
      cancelLabel: "Keep it running",
      danger: true,
      reasonPlaceholder: "Why it is terminated",
      onConfirm: (reason) => act("terminate", reason, "Workflow terminated"),
    }),
  );
  // The handlers are read when a dialog opens: a worker may announce them after the page was drawn.
  const handlers = () => (lastDescribe ? lastDescribe.handlers : null);
  const signalButton = h("button", { type: "button", class: "btn", dataset: { action: "signal" } }, icon("signal", 14), "Send signal");
  const queryButton = h("button", { type: "button", class: "btn", dataset: { action: "query" } }, icon("query", 14), "Query");
  signalButton.addEventListener("click", () =>
    openSignalDialog(ns, { workflowId, runId, handlers: handlers(), onSent: refreshNow }),
  );
  queryButton.addEventListener("click", () => openQueryDialog(ns, { workflowId, runId, handlers: handlers() }));
  const updateButton = h("button", { type: "button", class: "btn", dataset: { action: "update" } }, icon("update", 14), "Run update");
  updateButton.addEventListener("click", () =>
    openUpdateDialog(ns, { workflowId, runId, handlers: handlers(), onRecorded: refreshNow }),
  );

  async function act(what, reason, done) {
    await api(nsApi(ns) + "/workflows/" + what, { method: "POST", body: { workflow_id: workflowId, run_id: runId, reason: reason || "" } });
    toast(done);
    refreshNow();
  }

  replace(
    root,
    backLink(ns),
    h(
      "div",
      { class: "run-head" },
      h("div", { class: "run-heading" }, status, h("h1", { class: "run-title" }, workflowId)),
      h("div", { class: "run-buttons" }, actions, manage),
    ),
    cancelNote,
    summaryBox,
    ioBox,
    relationsBox,
    pendingBox,
    stack.el,
    timelineCard,
    historyCard.el,
  );
  stack.el.hidden = true;

  function drawTimeline(d) {
    replace(timelineCard.body, timeline({ describe: d, groups: groups.groups, onSelect: (key) => historyCard.focusGroup(key) }));
  }

  // A running workflow's clock moves: keep its duration and timeline current between refreshes too.
  const ticker = setInterval(() => {
    if (!root.isConnected) return clearInterval(ticker);
    if (lastDescribe && lastDescribe.execution.status === "RUNNING" && document.visibilityState === "visible") {
      const el = summaryBox.querySelector(".live-duration");
      if (el) el.textContent = fmtDuration(Date.now() - ms(lastDescribe.execution.start_time));
      // Not under the pointer: redrawing would drop the tooltip being read.
      if (!timelineCard.matches(":hover")) drawTimeline(lastDescribe);
    }
  }, 1000);

  return {
    stack,
    historyError(err) {
      replace(historyCard.el.querySelector(".section-body"), errorNotice(err, "Could not read the history"));
    },
    update(d, events) {
      lastDescribe = d;
      const ex = d.execution;
      const running = ex.status === "RUNNING";
      if (ex.status !== last.status) {
        replace(status, badge(ex.status, "badge-large"));
        stack.el.hidden = !running;
        document.title = `${workflowId} · ${ex.status.toLowerCase()} · Mainspring`;
      }
      const actionsKey = JSON.stringify([ex.status, d.handlers ?? null]);
      if (actionsKey !== last.actionsKey) {
        replace(actions, running ? [signalButton, queryButton, updateButton, cancelButton, terminateButton] : offersQuery(d.handlers, false) ? [queryButton] : []);
      }
      // Each part is redrawn only when its own data changed (a heartbeat must not redraw the input and
      // lose a selection in it).
      const parts = {
        summary: JSON.stringify([ex, d.cancel_requested, d.memo ?? null, d.search_attributes ?? null]),
        io: JSON.stringify([ex.status, d.input, d.result, d.failure]),
        pending: JSON.stringify([d.pending_activities, d.pending_timers, d.pending_workflow_task]),
        relations: JSON.stringify([d.parent ?? null, d.children ?? []]),
        // What the timeline and the history show of pending work (not heartbeats).
        progress: JSON.stringify([ex.status, ex.close_time, (d.pending_activities || []).map((p) => [p.scheduled_event_id, p.state, p.attempt])]),
      };
      if (parts.summary !== last.parts.summary) {
        replace(summaryBox, summary(ns, d));
        cancelNote.hidden = !(running && d.cancel_requested);
        if (running && d.cancel_requested) {
          replace(cancelNote, notice("Cancellation requested: the workflow has been asked to stop and has not finished yet.", "warn"));
        }
      }
      if (parts.io !== last.parts.io) replace(ioBox, inputAndOutcome(d));
      if (parts.pending !== last.parts.pending) replace(pendingBox, pending(d));
      if (parts.relations !== last.parts.relations) replace(relationsBox, relationships(ns, d));
      const eventsMoved = events.length !== last.eventCount;
      if (eventsMoved) groups = groupEvents(events);
      if (eventsMoved || parts.progress !== last.parts.progress) {
        applyPending(groups.groups, d.pending_activities);
        const t0 = events.length ? ms(events[0].event_time) : ms(ex.start_time);
        historyCard.update({ events, groups: groups.groups, t0 });
        drawTimeline(d);
      }
      last = { eventCount: events.length, status: ex.status, actionsKey, parts };
    },
  };
}

/** Delete the run (with its history), after a confirmation that says what is lost; a running run is terminated first. */
function deleteButton(ns, workflowId, runId, describeNow, onDeleted) {
  const button = h("button", { type: "button", class: "btn btn-danger-outline", dataset: { action: "delete" } }, icon("x", 14), "Delete");
  button.addEventListener("click", () => {
    const d = describeNow();
    const running = d && d.execution.status === "RUNNING";
    confirmWithReason({
      title: "Delete this workflow run?",
      description:
        (running ? "It is running: it is terminated first (none of its code runs again), then deleted. " : "") +
        "The run, its history and its pending work are removed for good: it can no longer be described, listed or replayed.",
      confirmLabel: "Delete run",
      cancelLabel: "Keep it",
      danger: true,
      reasonPlaceholder: running ? "Why it is terminated" : "Why it is deleted",
      onConfirm: async (reason) => {
        await api(nsApi(ns) + "/workflows/delete", { method: "POST", body: { workflow_id: workflowId, run_id: runId, reason: reason || "" } });
        toast(`Workflow run ${runId} deleted`);
        onDeleted();
      },
    });
  });
  return button;
}
