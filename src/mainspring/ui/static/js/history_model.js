// Reading a history: events grouped by what they are about. An activity's Scheduled, Started and closing
// events share the Scheduled event's id (attributes.scheduled_event_id), as do a workflow task's; a timer's
// Fired or Canceled names its TimerStarted (started_event_id); an update's Completed names its Accepted
// (accepted_event_id, and the same update_id). The timeline and the compact history view both draw these
// groups.

import { fmtShortDuration, ms, preview } from "./format.js";

/**
 * @typedef {Object} Group
 * @property {string} key        stable across refreshes: "e" + first event id
 * @property {"workflow"|"workflow-task"|"activity"|"timer"|"signal"|"update"} kind
 * @property {string} title      "sdk_example_activity", "Timer 30s", "Workflow task", "Signal submit", "Update add_item", "Workflow started"
 * @property {string} state      completed | failed | timed-out | canceled | running | scheduled | waiting | fired | started | ...
 * @property {Object[]} events
 * @property {number} start      ms since epoch of the first event
 * @property {number|null} end   ms of the closing event (null while open)
 */

const ACTIVITY_CLOSE = {
  ActivityTaskCompleted: "completed",
  ActivityTaskFailed: "failed",
  ActivityTaskTimedOut: "timed-out",
  ActivityTaskCanceled: "canceled",
};
const TASK_CLOSE = {
  WorkflowTaskCompleted: "completed",
  WorkflowTaskFailed: "failed",
  WorkflowTaskTimedOut: "timed-out",
};
const WORKFLOW_STATE = {
  WorkflowExecutionStarted: "started",
  WorkflowExecutionCompleted: "completed",
  WorkflowExecutionFailed: "failed",
  WorkflowExecutionTimedOut: "timed-out",
  WorkflowExecutionCanceled: "canceled",
  WorkflowExecutionTerminated: "terminated",
  WorkflowExecutionCancelRequested: "cancel-requested",
  WorkflowExecutionContinuedAsNew: "continued",
};

function newGroup(kind, event) {
  return { key: "e" + event.event_id, kind, events: [event], title: event.event_type, state: "scheduled", start: ms(event.event_time), end: null };
}

/** Group a history's events (in event id order). Returns { groups, byKey }. */
export function groupEvents(events) {
  const groups = [];
  const byScheduled = new Map();
  const timersByStart = new Map();
  const timersById = new Map();
  const updatesByAccepted = new Map();
  const updatesById = new Map();
  const single = (kind, e) => {
    const g = newGroup(kind, e);
    groups.push(g);
    return g;
  };
  for (const e of events) {
    const a = e.attributes || {};
    const type = e.event_type;
    if (type === "ActivityTaskScheduled" || type === "WorkflowTaskScheduled") {
      byScheduled.set(e.event_id, single(type === "ActivityTaskScheduled" ? "activity" : "workflow-task", e));
    } else if (type.startsWith("ActivityTask") || type.startsWith("WorkflowTask")) {
      const g = byScheduled.get(a.scheduled_event_id);
      if (g) g.events.push(e);
      else single(type.startsWith("Activity") ? "activity" : "workflow-task", e);
    } else if (type === "TimerStarted") {
      const g = single("timer", e);
      timersByStart.set(e.event_id, g);
      timersById.set(String(a.timer_id), g);
    } else if (type === "TimerFired" || type === "TimerCanceled") {
      const g = timersByStart.get(a.started_event_id) || timersById.get(String(a.timer_id));
      if (g) g.events.push(e);
      else single("timer", e);
    } else if (type === "WorkflowExecutionSignaled") {
      single("signal", e);
    } else if (type === "WorkflowExecutionUpdateAccepted") {
      const g = single("update", e);
      updatesByAccepted.set(e.event_id, g);
      updatesById.set(String(a.update_id), g);
    } else if (type === "WorkflowExecutionUpdateCompleted") {
      const g = updatesByAccepted.get(a.accepted_event_id) || updatesById.get(String(a.update_id));
      if (g && g.events.length === 1) g.events.push(e);
      else single("update", e);
    } else {
      single("workflow", e);
    }
  }
  for (const g of groups) summarize(g);
  return { groups, byKey: new Map(groups.map((g) => [g.key, g])) };
}

function find(g, type) {
  return g.events.find((e) => e.event_type === type) || null;
}

function summarize(g) {
  const first = g.events[0];
  const a = first.attributes || {};
  if (g.kind === "activity") {
    g.activityType = a.activity_type || "activity";
    g.activityId = a.activity_id;
    g.title = g.activityType;
    g.scheduled = first.event_type === "ActivityTaskScheduled" ? first : null;
    const started = find(g, "ActivityTaskStarted");
    // ActivityTaskStarted is written when the activity closes, timed at its last attempt's start, with
    // that attempt's number and the failure of the attempt before it.
    g.lastStart = started ? ms(started.event_time) : null;
    g.attempt = (started && started.attributes.attempt) || 1;
    g.lastFailure = started ? started.attributes.last_failure : null;
    g.cancelRequested = Boolean(find(g, "ActivityTaskCancelRequested"));
    g.state = "scheduled";
    for (const e of g.events) {
      const closed = ACTIVITY_CLOSE[e.event_type];
      if (closed) {
        g.state = closed;
        g.end = ms(e.event_time);
        g.closeEvent = e;
        if (e.attributes.attempt) g.attempt = e.attributes.attempt;
        g.failure = e.attributes.failure || null;
        g.result = e.attributes.result;
      }
    }
  } else if (g.kind === "timer") {
    g.timerId = a.timer_id;
    g.duration = typeof a.duration === "number" ? a.duration * 1000 : null;
    // Named like an activity is: by its summary if the workflow gave one, else by how long it waits (the
    // timer id is only a counter).
    g.title = a.summary ? String(a.summary) : g.duration !== null ? `Timer ${fmtShortDuration(a.duration)}` : `Timer ${a.timer_id ?? ""}`.trim();
    g.state = "waiting";
    const fired = find(g, "TimerFired");
    const canceled = find(g, "TimerCanceled");
    const closing = fired || canceled;
    if (closing) {
      g.state = fired ? "fired" : "canceled";
      g.end = ms(closing.event_time);
    }
  } else if (g.kind === "workflow-task") {
    g.title = "Workflow task";
    g.attempt = a.attempt || 1;
    g.state = find(g, "WorkflowTaskStarted") ? "started" : "scheduled";
    for (const e of g.events) {
      const closed = TASK_CLOSE[e.event_type];
      if (closed) {
        g.state = closed;
        g.end = ms(e.event_time);
        g.failure = e.attributes.failure || null;
        g.cause = e.attributes.cause || null;
        g.identity = e.attributes.identity || null;
      }
    }
  } else if (g.kind === "update") {
    // From its acceptance to its outcome; named by its handler's name (a user's text, shown as text). A
    // Completed without its Accepted (a history read from the middle) stands alone.
    const accepted = find(g, "WorkflowExecutionUpdateAccepted");
    const completed = find(g, "WorkflowExecutionUpdateCompleted");
    g.updateId = typeof a.update_id === "string" ? a.update_id : "";
    g.updateName = accepted && typeof accepted.attributes.name === "string" ? accepted.attributes.name : "";
    g.title = g.updateName ? `Update ${g.updateName}` : "Update";
    g.input = accepted ? accepted.attributes.input : undefined;
    g.state = "accepted";
    if (completed) {
      const c = completed.attributes || {};
      g.failure = c.failure || null;
      g.result = c.result;
      g.state = g.failure ? "failed" : "completed";
      g.end = ms(completed.event_time);
      if (!accepted) g.start = g.end;
    }
  } else if (g.kind === "signal") {
    // A moment, not a span: named by its signal (a user's text, shown as text).
    g.signalName = typeof a.signal_name === "string" ? a.signal_name : "";
    g.title = `Signal ${g.signalName}`;
    g.state = "signaled";
    g.end = g.start;
  } else {
    // "WorkflowExecutionCancelRequested" reads as "Workflow cancel requested".
    const words = first.event_type.replace(/^WorkflowExecution/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
    g.title = first.event_type.startsWith("WorkflowExecution") ? `Workflow ${words}` : first.event_type;
    g.state = WORKFLOW_STATE[first.event_type] || "info";
    g.end = g.start;
  }
}

/**
 * Bring the open activities up to date from describe's pending_activities: retries add no event, so only
 * describe knows an open activity's attempt, last failure and whether it is running or waiting to retry.
 */
export function applyPending(groups, pendingActivities) {
  const bySched = new Map((pendingActivities || []).map((p) => [p.scheduled_event_id, p]));
  for (const g of groups) {
    if (g.kind !== "activity" || g.end !== null) continue;
    const p = bySched.get(Number(g.key.slice(1)));
    g.pending = p || null;
    if (!p) continue;
    g.state = p.state === "STARTED" ? "running" : p.state === "BACKOFF" ? "backoff" : "scheduled";
    g.attempt = p.attempt;
    g.lastFailure = p.last_failure || g.lastFailure;
  }
}

/** A one-line description of a group, for rows and tooltips. */
export function groupSummary(g) {
  const first = g.events[0].attributes || {};
  if (g.kind === "activity") {
    if (g.failure) return failureLine(g.failure);
    if (g.state === "completed") return "result " + compact(g.result);
    if (g.lastFailure) return "retrying: " + failureLine(g.lastFailure);
    return "input " + compact(first.input);
  }
  if (g.kind === "update") {
    if (g.failure) return "failed: " + failureLine(g.failure);
    if (g.state === "completed") return "result " + compact(g.result);
    return g.input === null || g.input === undefined ? "no payload" : "input " + compact(g.input);
  }
  if (g.kind === "timer") return g.duration !== null ? `${g.duration / 1000} s` : "";
  if (g.kind === "signal") return (first.input === null || first.input === undefined ? "no payload" : "payload " + compact(first.input)) + (first.identity ? ` · from ${first.identity}` : "");
  if (g.kind === "workflow-task") {
    if (g.failure) return (g.cause ? g.cause + ": " : "") + failureLine(g.failure);
    return g.identity ? "by " + g.identity : "";
  }
  switch (g.events[0].event_type) {
    case "WorkflowExecutionStarted":
      return "input " + compact(first.input);
    case "WorkflowExecutionCompleted":
      return "result " + compact(first.result);
    case "WorkflowExecutionFailed":
      return first.failure ? failureLine(first.failure) : "";
    case "WorkflowExecutionCancelRequested":
    case "WorkflowExecutionTerminated":
      return first.reason ? "reason: " + first.reason : "";
    default:
      return compact(first);
  }
}

/** "Type: message" of a failure. */
export function failureLine(f) {
  if (!f) return "";
  return f.type ? `${f.type}: ${f.message || ""}` : f.message || "";
}

function compact(value, max = 140) {
  return preview(value, max); // an encoded payload as "🔒 encrypted (...)", not its base64
}
