// The timeline: the workflow on top, then one bar per activity and timer on a shared time axis, from when it
// was scheduled to when it closed (or to now, while it runs). An activity's bar has two parts: the wait
// before its last attempt started (queued, or earlier attempts and their backoff: hatched, orange when an
// attempt failed) and the last attempt itself, coloured by outcome. Drawn with positioned divs rather than
// SVG so labels stay crisp text at any width and the layout is plain CSS.

import { h, icon } from "../dom.js";
import { fmtClock, fmtDuration, fmtTime, ms, preview, zoneLabel } from "../format.js";
import { failureLine } from "../history_model.js";

const MAX_ROWS = 300;
// Signals are drawn as marks on one row under the workflow's, updates as spans (accepted to completed) on
// another; past this many, the first ones only.
const MAX_SIGNAL_MARKS = 1000;
const MAX_UPDATE_MARKS = 1000;
const STATE_LABEL = {
  completed: "completed",
  failed: "failed",
  "timed-out": "timed out",
  canceled: "canceled",
  running: "running",
  scheduled: "scheduled, not started",
  backoff: "waiting to retry",
  waiting: "waiting",
  fired: "fired",
};

// Axis steps people read easily: 1-2-5 below a second, then round seconds, minutes, hours and days.
const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 172800e3, 604800e3];

/** An axis step giving about `target` ticks over `range` ms. */
function niceStep(range, target = 6) {
  const raw = range / target;
  if (raw < 1) {
    const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
  }
  return STEPS.find((s) => s >= raw) || Math.ceil(raw / 604800e3) * 604800e3;
}

function tickLabel(t) {
  if (t === 0) return "0";
  if (t < 1000) return `${+t.toFixed(1)} ms`;
  if (t < 60e3) return `${+(t / 1000).toFixed(2)} s`;
  if (t < 86400e3 && t % 3600e3 === 0) return `${t / 3600e3} h`;
  if (t < 3600e3 && t % 60e3 === 0) return `${t / 60e3} m`;
  return fmtDuration(t);
}

/**
 * Draw the timeline. `groups` come from history_model.groupEvents; `describe` gives the run's times and its
 * pending activities (attempt, state and last failure of those still open). `onSelect(key)` is called when
 * a row is clicked.
 */
export function timeline({ describe, groups, now = Date.now(), onSelect = null }) {
  const ex = describe.execution;
  const t0 = ms(ex.start_time);
  const t1 = ex.close_time ? ms(ex.close_time) : now;
  const range = Math.max(t1 - t0, 1);
  const pct = (t) => Math.min(100, Math.max(0, ((t - t0) / range) * 100));
  const pendingBySched = new Map((describe.pending_activities || []).map((p) => [p.scheduled_event_id, p]));
  const step = niceStep(range);

  const items = groups.filter((g) => g.kind === "activity" || g.kind === "timer");
  const rows = [workflowRow(ex, groups, pct, t0, t1)];
  const signals = groups.filter((g) => g.kind === "signal");
  if (signals.length) rows.push(signalRow(signals, pct, onSelect));
  const updates = groups.filter((g) => g.kind === "update");
  if (updates.length) rows.push(updateRow(updates, pct, now, onSelect));
  for (const g of items.slice(0, MAX_ROWS)) {
    rows.push(g.kind === "activity" ? activityRow(g, pendingBySched.get(Number(g.key.slice(1))), pct, now, onSelect) : timerRow(g, pct, now, onSelect));
  }

  const ticks = [];
  for (let i = 0; i * step <= range + 1e-9 && i < 50; i++) {
    const t = i * step;
    ticks.push(h("span", { class: "tl-tick", style: { left: `${(t / range) * 100}%` } }, tickLabel(t)));
  }
  const grid = { "--tl-step": `${(step / range) * 100}%` };
  return h(
    "div",
    { class: "timeline", style: grid },
    legend(signals.length > 0, updates.length > 0),
    h("div", { class: "tl-rows" }, rows),
    h("div", { class: "tl-row tl-axis-row", "aria-hidden": "true" }, h("div", { class: "tl-label" }), h("div", { class: "tl-axis" }, ticks)),
    h(
      "div",
      { class: "tl-ends muted small" },
      h("span", { title: `${fmtTime(t0)} ${zoneLabel()}` }, `${fmtClock(t0)} ${zoneLabel()}`),
      h("span", null, ex.close_time ? `${fmtDuration(range)} in all` : `running for ${fmtDuration(range)}`),
      h("span", { title: `${fmtTime(t1)} ${zoneLabel()}` }, ex.close_time ? fmtClock(t1) : "now"),
    ),
    items.length > MAX_ROWS ? h("p", { class: "muted small" }, `Showing the first ${MAX_ROWS} of ${items.length} activities and timers; the history below has them all.`) : null,
  );
}

function legend(withSignals, withUpdates) {
  const item = (cls, text) => h("span", { class: "tl-legend-item" }, h("span", { class: ["tl-swatch", cls] }), text);
  return h(
    "div",
    { class: "tl-legend small muted", "aria-hidden": "true" },
    item("tl-completed", "completed"),
    item("tl-failed", "failed"),
    item("tl-running", "running"),
    item("tl-wait", "waiting / earlier attempts"),
    item("tl-wait tl-retry", "retried after a failure"),
    item("tl-timer", "timer"),
    item("tl-canceled", "canceled"),
    withSignals ? item("tl-signal", "signal") : null,
    withUpdates ? item("tl-update", "update") : null,
  );
}

function row({ cls, label, sub, iconName, title, bars, key, onSelect }) {
  const el = h(
    "div",
    { class: ["tl-row", cls], title, dataset: key ? { key } : {} },
    h("div", { class: "tl-label" }, icon(iconName, 14), h("span", { class: "tl-name" }, label), sub ? h("span", { class: "tl-sub" }, sub) : null),
    h("div", { class: "tl-track" }, bars),
  );
  if (key && onSelect) {
    el.tabIndex = 0;
    el.setAttribute("role", "button");
    el.classList.add("tl-clickable");
    el.addEventListener("click", () => onSelect(key));
    el.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        onSelect(key);
      }
    });
  }
  return el;
}

function bar(cls, from, to, pct, extra = {}) {
  const left = pct(from);
  const width = Math.max(pct(to) - left, 0);
  return h("div", { class: ["tl-bar", cls], style: { left: `${left}%`, width: `${width}%` }, ...extra });
}

/** Text beside a bar: after it, before it when it ends near the right edge, or inside a long bar. */
function barText(text, from, to, pct) {
  const start = pct(from);
  const end = pct(to);
  if (end <= 72) return h("span", { class: "tl-text", style: { left: `${end}%` } }, text);
  if (start >= 28) return h("span", { class: "tl-text tl-text-before", style: { right: `${100 - start}%` } }, text);
  // Over a bar of any colour (light retry stripes too): the page's own colours, on a pill.
  return h("span", { class: "tl-inbar tl-inbar-pill", style: { left: `calc(${start}% + 0.5rem)` } }, h("span", null, text));
}

function workflowRow(ex, groups, pct, t0, t1) {
  const status = ex.status.toLowerCase().replace(/_/g, "-");
  const bars = [bar(["tl-workflow", "tl-" + status], t0, t1, pct)];
  // Workflow tasks as ticks on the workflow's bar: where its code ran (red where a task failed).
  for (const g of groups) {
    if (g.kind === "workflow-task" && g.end !== null) {
      bars.push(h("span", { class: ["tl-mark", g.state === "completed" ? null : "tl-mark-failed"], style: { left: `${pct(g.end)}%` }, title: `workflow task ${g.state} at ${fmtClock(g.end)}` }));
    } else if (g.kind === "workflow" && g.state === "cancel-requested") {
      bars.push(h("span", { class: "tl-mark tl-mark-cancel", style: { left: `${pct(g.start)}%` }, title: `cancel requested at ${fmtClock(g.start)}` }));
    }
  }
  // The workflow's bar spans the whole axis: its words go inside it.
  bars.push(h("span", { class: "tl-inbar" }, `${ex.workflow_type} · ${ex.status.toLowerCase().replace(/_/g, " ")} · ${fmtDuration(t1 - t0)}`));
  return row({ cls: "tl-row-workflow", label: "Workflow", sub: null, iconName: "workflow", title: `${ex.workflow_type}: ${ex.status} (${fmtDuration(t1 - t0)})`, bars });
}

function activityRow(g, pendingInfo, pct, now, onSelect) {
  let state = g.state;
  let attempt = g.attempt;
  let lastFailure = g.lastFailure;
  let lastStart = g.lastStart;
  const end = g.end ?? now;
  if (g.end === null) {
    // Still open: the run's describe says where it is now.
    const p = pendingInfo || {};
    attempt = p.attempt || attempt;
    lastFailure = p.last_failure || lastFailure;
    lastStart = p.state === "STARTED" ? ms(p.last_started_time) : null;
    state = p.state === "STARTED" ? "running" : p.state === "BACKOFF" ? "backoff" : "scheduled";
  }
  const retried = attempt > 1 || Boolean(lastFailure);
  const bars = [];
  if (lastStart === null && g.end !== null && state !== "completed" && state !== "failed") {
    // Closed without an attempt having started (canceled or timed out while queued): one bar.
    bars.push(bar(["tl-run", "tl-" + state], g.start, end, pct));
  } else {
    const waitEnd = lastStart ?? (g.end !== null ? g.start : end);
    if (waitEnd > g.start) bars.push(bar(["tl-wait", retried ? "tl-retry" : null], g.start, waitEnd, pct));
    if (lastStart !== null || g.end !== null) bars.push(bar(["tl-run", "tl-" + state], lastStart ?? g.start, end, pct));
  }
  const dur = fmtDuration(end - g.start);
  const text = [dur, attempt > 1 ? `${attempt} attempts` : null, state === "completed" ? null : STATE_LABEL[state] || state].filter(Boolean).join(" · ");
  bars.push(barText(text, g.start, end, pct));
  const title = [
    `${g.activityType} (activity id ${g.activityId}): ${STATE_LABEL[state] || state}`,
    `attempt ${attempt}`,
    `scheduled ${fmtClock(g.start)}${lastStart ? `, last attempt started ${fmtClock(lastStart)}` : ""}${g.end !== null ? `, closed ${fmtClock(g.end)}` : ""} (${dur})`,
    g.failure ? `failed: ${failureLine(g.failure)}` : null,
    lastFailure ? `an earlier attempt failed: ${failureLine(lastFailure)}` : null,
  ]
    .filter(Boolean)
    .join("\n");
  return row({
    cls: ["tl-row-activity", retried ? "tl-row-retried" : null],
    label: g.activityType,
    sub: attempt > 1 ? `×${attempt}` : null,
    iconName: "activity",
    title,
    bars,
    key: g.key,
    onSelect,
  });
}

function timerRow(g, pct, now, onSelect) {
  const end = g.end ?? now;
  const dur = g.duration !== null ? fmtDuration(g.duration) : "";
  const bars = [bar(["tl-run", "tl-timer", g.state === "canceled" ? "tl-canceled" : null, g.end === null ? "tl-open" : null], g.start, end, pct)];
  bars.push(barText(g.end === null ? `${dur} timer, waiting` : `${dur} timer${g.state === "canceled" ? ", canceled" : ""}`, g.start, end, pct));
  return row({
    cls: "tl-row-timer",
    label: g.title,
    sub: null, // its duration is in its label already
    iconName: "timer",
    title: `${g.title} (timer id ${g.timerId}, ${dur}): ${STATE_LABEL[g.state] || g.state}, started ${fmtClock(g.start)}${g.end !== null ? `, ended ${fmtClock(g.end)}` : ""}`,
    bars,
    key: g.key,
    onSelect,
  });
}

/** One row for the run's signals: a mark at each, named in its tooltip; a click opens it in the history. */
function signalRow(signals, pct, onSelect) {
  const byName = new Map();
  for (const g of signals) byName.set(g.signalName, (byName.get(g.signalName) || 0) + 1);
  const names = [...byName].slice(0, 8).map(([n, c]) => (c > 1 ? `${n} ×${c}` : n));
  const summary = names.join(", ") + (byName.size > 8 ? `, … (${byName.size} names)` : "");
  const bars = signals.slice(0, MAX_SIGNAL_MARKS).map((g) => {
    const payload = g.events[0].attributes ? g.events[0].attributes.input : null;
    const mark = h("span", {
      class: "tl-signal-mark",
      style: { left: `${pct(g.start)}%` },
      title: `signal ${g.signalName} at ${fmtClock(g.start)}${payload === null || payload === undefined ? "" : `: ${preview(payload, 120)}`}`,
      dataset: { key: g.key },
    });
    if (onSelect) {
      mark.addEventListener("click", (e) => {
        e.stopPropagation();
        onSelect(g.key);
      });
    }
    return mark;
  });
  const last = signals[Math.min(signals.length, MAX_SIGNAL_MARKS) - 1];
  bars.push(barText(summary, last.start, last.start, pct));
  return row({
    cls: "tl-row-signals",
    label: "Signals",
    sub: String(signals.length),
    iconName: "signal",
    title: `${signals.length} signal${signals.length === 1 ? "" : "s"}: ${summary}`,
    bars,
    // The row as a whole opens the latest signal (keyboard users reach it this way).
    key: signals.at(-1).key,
    onSelect,
  });
}

/**
 * One row for the run's updates: a span from each one's acceptance to its outcome (a mark when that was at
 * once; open to now while its handler runs; red when it failed), named in its tooltip; a click opens it in
 * the history.
 */
function updateRow(updates, pct, now, onSelect) {
  const byName = new Map();
  for (const g of updates) byName.set(g.updateName, (byName.get(g.updateName) || 0) + 1);
  const names = [...byName].slice(0, 8).map(([n, c]) => (c > 1 ? `${n} ×${c}` : n));
  const summary = names.join(", ") + (byName.size > 8 ? `, … (${byName.size} names)` : "");
  const shown = updates.slice(0, MAX_UPDATE_MARKS);
  const bars = shown.map((g) => {
    const end = g.end ?? now;
    const outcome = g.failure ? `failed: ${failureLine(g.failure)}` : g.end !== null ? `result ${preview(g.result, 120)}` : "running";
    const span = bar(["tl-update", g.failure ? "tl-update-failed" : null, g.end === null ? "tl-open" : null], g.start, end, pct, {
      title: `update ${g.updateName} accepted at ${fmtClock(g.start)}${g.end !== null ? `, completed at ${fmtClock(g.end)} (${fmtDuration(g.end - g.start)})` : ""}: ${outcome}`,
      dataset: { key: g.key },
    });
    if (onSelect) {
      span.addEventListener("click", (e) => {
        e.stopPropagation();
        onSelect(g.key);
      });
    }
    return span;
  });
  const last = shown.at(-1);
  bars.push(barText(summary, last.start, last.end ?? now, pct));
  return row({
    cls: "tl-row-updates",
    label: "Updates",
    sub: String(updates.length),
    iconName: "update",
    title: `${updates.length} update${updates.length === 1 ? "" : "s"}: ${summary}`,
    bars,
    // The row as a whole opens the latest update (keyboard users reach it this way).
    key: updates.at(-1).key,
    onSelect,
  });
}
