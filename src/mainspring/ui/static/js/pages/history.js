// The event history, two ways: compact (one row per activity, timer, workflow task or workflow event,
// grouping the events that belong together) and every event on its own row. Any row opens to show its JSON;
// the JSON is built when a row is first opened, so a long history stays quick to draw. The download button
// fetches every page afresh and saves the same JSON as `mainspring workflow show -o json`.

import { fetchHistory } from "../api.js";
import { h, icon, replace, section, toast } from "../dom.js";
import { fmtDuration, fmtTime, jsonView, ms, plural, preview, zoneLabel } from "../format.js";
import { groupSummary } from "../history_model.js";

const PAGE = 500; // rows drawn at first in the all-events view; "Show more" draws the rest
const KIND_ICON = { activity: "activity", timer: "timer", "workflow-task": "task", workflow: "workflow", signal: "signal", update: "update" };
// An event's JSON longer than this (characters) is cut in its row (the download has all of it): a signal's
// or an activity's payload may be megabytes, which would make the page crawl.
export const EVENT_VIEW_LIMIT = 20_000;
const MOMENTS = new Set(["workflow", "signal"]); // groups of one event: no duration
// Messages stand out in the all-events view, in their own colours.
const EVENT_KIND_CLASS = {
  WorkflowExecutionSignaled: "hrow-event-signal",
  WorkflowExecutionUpdateAccepted: "hrow-event-update",
  WorkflowExecutionUpdateCompleted: "hrow-event-update",
};

function offset(t, t0) {
  if (t === null || t0 === null) return "";
  const d = t - t0;
  return d < 1000 ? `+${Math.round(d)} ms` : `+${(d / 1000).toFixed(d < 10e3 ? 3 : 1)} s`;
}

/** A file name safe on every system, as the issue asks: {workflow_id}_{run_id}_history.json. */
export function historyFileName(workflowId, runId) {
  const safe = (s) => String(s).replace(/[\\/:*?"<>|\x00-\x1f]+/g, "_");
  return `${safe(workflowId)}_${safe(runId)}_history.json`;
}

/** Fetch the whole history and hand it to the browser as a file download (a Blob, no server round trip). */
export async function downloadHistory(ns, workflowId, runId, onProgress) {
  const events = await fetchHistory(ns, workflowId, runId, { onPage: onProgress });
  const blob = new Blob([JSON.stringify({ events }, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: historyFileName(workflowId, runId), hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return events.length;
}

/** The history card. update({events, groups, t0}) redraws it, keeping which rows are open. */
export function historySection(ns, workflowId, runId) {
  let mode = "compact";
  let showTasks = false;
  let limit = PAGE;
  let data = { events: [], groups: [], t0: null };
  const open = new Set(); // keys of open rows ("g:e5" for groups, "e:5" for events)

  const tabCompact = h("button", { type: "button", class: "tab", role: "tab", "aria-selected": "true" }, "Compact");
  const tabAll = h("button", { type: "button", class: "tab", role: "tab", "aria-selected": "false" }, "All events");
  const tasks = h("input", { type: "checkbox" });
  const tasksToggle = h("label", { class: "check small" }, tasks, "Workflow tasks");
  const download = h("button", { type: "button", class: "btn btn-small", dataset: { action: "download-history" } }, icon("download", 14), h("span", null, "Download JSON"));
  const count = h("span", { class: "count" });
  const card = section(h("span", null, "Event history ", count), {
    cls: "history-card",
    tools: [h("div", { class: "tabs", role: "tablist" }, tabCompact, tabAll), tasksToggle, download],
  });
  card.id = "history";

  tabCompact.addEventListener("click", () => setMode("compact"));
  tabAll.addEventListener("click", () => setMode("all"));
  tasks.addEventListener("change", () => {
    showTasks = tasks.checked;
    draw();
  });
  download.addEventListener("click", async () => {
    const label = download.querySelector("span");
    download.disabled = true;
    label.textContent = "Downloading…";
    try {
      const n = await downloadHistory(ns, workflowId, runId, (count) => (label.textContent = `Downloading… ${count}`));
      toast(`Downloaded ${n} events`);
    } catch (err) {
      toast(`Download failed: ${err.message}`, "error");
    } finally {
      download.disabled = false;
      label.textContent = "Download JSON";
    }
  });

  function setMode(m) {
    mode = m;
    tabCompact.setAttribute("aria-selected", String(m === "compact"));
    tabAll.setAttribute("aria-selected", String(m === "all"));
    tasksToggle.hidden = m !== "compact";
    draw();
  }

  /** A row that opens; `fill(body)` draws its content the first time it is opened. */
  function openable(key, summaryNodes, fill, cls) {
    const body = h("div", { class: "hrow-body" });
    const details = h("details", { class: ["hrow", cls], dataset: { key } }, h("summary", null, summaryNodes), body);
    let filled = false;
    const ensure = () => {
      if (!filled) {
        filled = true;
        fill(body);
      }
    };
    details.addEventListener("toggle", () => {
      if (details.open) {
        open.add(key);
        ensure();
      } else {
        open.delete(key);
      }
    });
    if (open.has(key)) {
      ensure();
      details.open = true;
    }
    return details;
  }

  function eventBlock(e) {
    return h(
      "div",
      { class: "event-block" },
      h("div", { class: "event-head" }, h("span", { class: "mono muted" }, `#${e.event_id}`), h("strong", null, e.event_type), h("time", { class: "muted small", datetime: e.event_time }, `${fmtTime(e.event_time)} ${zoneLabel()}`)),
      jsonView(e.attributes, { max: EVENT_VIEW_LIMIT }),
    );
  }

  function groupRow(g) {
    const ids = g.events.map((e) => e.event_id);
    const idText = ids.length > 1 ? `${ids[0]}–${ids.at(-1)}` : String(ids[0]);
    // An update handled in the task that accepted it has no time of its own: no duration either.
    const instant = g.kind === "update" && g.end !== null && g.end === g.start;
    const dur = MOMENTS.has(g.kind) || instant ? "" : g.end !== null ? fmtDuration(g.end - g.start) : "open";
    // Always a cell (empty when there was one attempt) so the columns line up.
    const attempt = h("span", { class: "hrow-attempt" }, g.attempt > 1 ? h("span", { class: "chip chip-warn", title: `${g.attempt} attempts` }, `×${g.attempt}`) : null);
    const stateText = g.state.replace(/-/g, " ");
    return openable(
      "g:" + g.key,
      [
        h("span", { class: "hrow-ids mono muted" }, idText),
        h("span", { class: "hrow-kind" }, icon(KIND_ICON[g.kind] || "dot", 14)),
        h("span", { class: "hrow-title" }, g.title, g.kind === "activity" && g.activityId ? h("span", { class: "muted small" }, ` #${g.activityId}`) : null),
        h("span", { class: ["state", "state-" + g.state] }, stateText),
        attempt,
        h("span", { class: "hrow-time mono muted small", title: `${fmtTime(g.start)} ${zoneLabel()}` }, offset(g.start, data.t0)),
        h("span", { class: "hrow-dur mono small" }, dur),
        h("span", { class: "hrow-summary muted small" }, groupSummary(g)),
      ],
      (body) => body.append(...g.events.map(eventBlock)),
      "hrow-" + g.kind,
    );
  }

  function eventRow(e) {
    return openable(
      "e:" + e.event_id,
      [
        h("span", { class: "hrow-ids mono muted" }, String(e.event_id)),
        h("span", { class: "hrow-time mono muted small", title: `${fmtTime(e.event_time)} ${zoneLabel()}` }, offset(ms(e.event_time), data.t0)),
        h("span", { class: "hrow-title event-type" }, e.event_type),
        h("span", { class: "hrow-summary muted small mono" }, preview(e.attributes, 160)),
      ],
      (body) => body.append(jsonView(e, { max: EVENT_VIEW_LIMIT })),
      ["hrow-event", EVENT_KIND_CLASS[e.event_type] || null],
    );
  }

  function draw() {
    count.textContent = String(data.events.length);
    let rows;
    if (mode === "compact") {
      // Workflow tasks are the engine's bookkeeping: hidden unless asked for, or unless one failed.
      const shown = data.groups.filter((g) => g.kind !== "workflow-task" || showTasks || g.state === "failed" || g.state === "timed-out");
      rows = shown.map(groupRow);
      const hidden = data.groups.length - shown.length;
      tasksToggle.title = hidden ? `${plural(hidden, "workflow task")} hidden` : "";
    } else {
      rows = data.events.slice(0, limit).map(eventRow);
      if (data.events.length > limit) {
        rows.push(h("button", { type: "button", class: "btn more", onclick: () => ((limit = Infinity), draw()) }, `Show all ${data.events.length} events`));
      }
    }
    replace(card.body, h("div", { class: ["hrows", "hrows-" + mode] }, rows.length ? rows : h("p", { class: "muted" }, "No events yet.")));
  }

  return {
    el: card,
    update(next) {
      data = next;
      draw();
    },
    /** Open a group's row in the compact view and bring it into sight (from a click on the timeline). */
    focusGroup(key) {
      if (mode !== "compact") setMode("compact");
      open.add("g:" + key);
      draw();
      const row = card.querySelector(`[data-key="g:${CSS.escape(key)}"]`);
      if (row) {
        row.scrollIntoView({ behavior: "smooth", block: "center" });
        row.classList.add("flash");
        setTimeout(() => row.classList.remove("flash"), 1500);
      }
    },
  };
}
