// The workflows list: newest first, filtered by status, type, id prefix and start time, and by a list query
// in Temporal's filter language (`CustomerId = 'a' AND StartTime > '...'`), a page at a time, with the count
// of each status the other filters select (chips above the table; a click filters by that status).
// Filters live in the URL's query string, so a filtered view can be bookmarked, shared and reloaded.
// Paging uses the server's keyset token (it stays fast however many runs the store holds).
// Rows can be selected (or every run the filters match), and signalled, reset, cancelled or terminated together: that starts
// a batch job on the server (POST /batches, with the filters as a list query), listed below the table with
// its progress (batch_jobs.js).

import { api, nsApi, paths } from "../api.js";
import { h, replace, badge, icon, errorNotice } from "../dom.js";
import { batchJobsSection, filterQuery, runIdsQuery, startBatch, startResetBatch, startSignalBatch } from "./batch_jobs.js";
import { fmtClock, fmtDuration, ms, timeCell, timeZone, zoneLabel } from "../format.js";
import { poller } from "../refresh.js";

// The filter language's names of the statuses, as a count's groups name them.
const STATUS_OF_NAME = { Running: "RUNNING", Completed: "COMPLETED", Failed: "FAILED", Canceled: "CANCELED", Terminated: "TERMINATED", TimedOut: "TIMED_OUT", ContinuedAsNew: "CONTINUED_AS_NEW" };
const STATUSES = ["RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "TIMED_OUT", "CONTINUED_AS_NEW"];
const RANGES = [
  ["", "Any time"],
  ["15m", "Last 15 minutes"],
  ["1h", "Last hour"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["custom", "Between…"],
];
const RANGE_MS = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const PAGE_SIZES = [25, 50, 100, 200];
const REFRESH_MS = 3000;

/** The view's state, from the URL's query string. */
function readQuery(q) {
  const limit = Number(q.get("limit"));
  return {
    status: (q.get("status") || "").toUpperCase(),
    type: q.get("type") || "",
    prefix: q.get("prefix") || "",
    range: q.get("range") || "",
    after: q.get("after") || "",
    before: q.get("before") || "",
    query: q.get("query") || "",
    page: q.get("page") || "",
    // Any size the server accepts can come from the URL; the select offers the usual ones.
    limit: Number.isInteger(limit) && limit >= 1 && limit <= 1000 ? limit : 50,
  };
}

function writeQuery(s) {
  const q = new URLSearchParams();
  if (s.status) q.set("status", s.status);
  if (s.type) q.set("type", s.type);
  if (s.prefix) q.set("prefix", s.prefix);
  if (s.range) q.set("range", s.range);
  if (s.range === "custom" && s.after) q.set("after", s.after);
  if (s.range === "custom" && s.before) q.set("before", s.before);
  if (s.query) q.set("query", s.query);
  if (s.limit !== 50) q.set("limit", String(s.limit));
  if (s.page) q.set("page", s.page);
  return q.toString();
}

/** The API's query for a view state: times as seconds since the epoch, presets relative to now. */
function apiQuery(s) {
  let after = null;
  let before = null;
  if (RANGE_MS[s.range]) after = (Date.now() - RANGE_MS[s.range]) / 1000;
  if (s.range === "custom") {
    if (ms(s.after) !== null) after = ms(s.after) / 1000;
    if (ms(s.before) !== null) before = ms(s.before) / 1000;
  }
  return {
    status: s.status,
    workflow_type: s.type,
    workflow_id_prefix: s.prefix,
    started_after: after,
    started_before: before,
    query: s.query,
    limit: s.limit,
    page_token: s.page,
  };
}

// <input type="datetime-local"> has no zone: read and write it in the zone the page shows times in.
function toLocalInput(iso) {
  const t = ms(iso);
  if (t === null) return "";
  const d = new Date(timeZone() === "utc" ? t : t - new Date(t).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}
function fromLocalInput(value) {
  if (!value) return "";
  const t = timeZone() === "utc" ? Date.parse(value + ":00Z") : Date.parse(value);
  return Number.isNaN(t) ? "" : new Date(t).toISOString();
}

export function mount(root, ctx) {
  const { ns } = ctx;
  const state = readQuery(ctx.query);
  let prevPages = []; // tokens of the pages before this one, for "Previous"
  let lastJson = null;
  let nextToken = null;
  let disposed = false;
  let controller = null;
  document.title = `Workflows · ${ns} · Mainspring`;

  // --- filters ---
  const status = h(
    "select",
    { class: "input", "aria-label": "Status", name: "status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s.replace(/_/g, " ").toLowerCase())),
  );
  const type = h("input", { class: "input", type: "search", name: "type", placeholder: "Workflow type", "aria-label": "Workflow type", value: state.type, list: "wf-types", autocomplete: "off" });
  const prefix = h("input", { class: "input", type: "search", name: "prefix", placeholder: "Workflow ID starts with…", "aria-label": "Workflow ID prefix", value: state.prefix, autocomplete: "off" });
  const range = h(
    "select",
    { class: "input", "aria-label": "Started", name: "range" },
    RANGES.map(([v, label]) => h("option", { value: v, selected: v === state.range }, label)),
  );
  const after = h("input", { class: "input", type: "datetime-local", "aria-label": "Started after", value: toLocalInput(state.after) });
  const before = h("input", { class: "input", type: "datetime-local", "aria-label": "Started before", value: toLocalInput(state.before) });
  const custom = h("div", { class: "filter-custom", hidden: state.range !== "custom" }, h("span", { class: "muted small" }, "from"), after, h("span", { class: "muted small" }, "to"), before);
  const clear = h("button", { type: "button", class: "btn btn-ghost" }, icon("x", 14), "Clear");
  const typeList = h("datalist", { id: "wf-types" });
  const filters = h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() }, icon("filter", 16), status, type, prefix, range, custom, clear, typeList);
  const queryInput = h("input", {
    class: "input mono",
    type: "search",
    name: "query",
    placeholder: "List query, e.g. WorkflowType = 'order' AND CustomerId IN ('a', 'b') AND StartTime > '2026-11-01T00:00:00Z'",
    "aria-label": "List query",
    value: state.query,
    autocomplete: "off",
    spellcheck: "false",
    maxlength: 4000,
  });
  const queryError = h("div", { class: "field-error query-error", role: "alert", hidden: true });
  const queryBar = h(
    "form",
    { class: "query-bar", role: "search", onsubmit: (e) => (e.preventDefault(), applyQuery()) },
    queryInput,
    h("button", { type: "submit", class: "btn" }, "Apply"),
    queryError,
  );
  const counts = h("div", { class: "status-counts", "aria-label": "Counts of runs", role: "group" });

  // --- header, table, pager ---
  const auto = h("input", { type: "checkbox", checked: true });
  const updated = h("span", { class: "muted small updated" });
  const live = h("label", { class: "live-toggle", title: `Refresh every ${REFRESH_MS / 1000} s while this tab is visible` }, auto, h("span", { class: "live-dot" }), "Auto-refresh");
  const refreshButton = h("button", { type: "button", class: "btn btn-ghost", title: "Refresh now", onclick: () => poll.now() }, icon("refresh", 14), "Refresh");
  const error = h("div", { class: "list-error" });
  const body = h("tbody");
  // --- selection: some rows of this page, or every run the filters match (a batch job acts on them) ---
  const selected = new Map(); // run id -> workflow id
  let allMatching = false;
  const pageBox = h("input", { type: "checkbox", class: "select-box", "aria-label": "Select the runs of this page" });
  const table = h(
    "table",
    { class: "table runs" },
    h("thead", null, h("tr", null, h("th", { scope: "col", class: "cell-select" }, pageBox), ["Status", "Workflow ID", "Run ID", "Type", "Task queue", "Start", "Close"].map((c) => h("th", { scope: "col" }, c)))),
    body,
  );
  const selectionInfo = h("span", { class: "selection-info" });
  const matchAll = h("button", { type: "button", class: "btn btn-ghost", dataset: { action: "select-all-matching" } }, "Select all runs that match the filters");
  const batchCancel = h("button", { type: "button", class: "btn", dataset: { action: "batch-cancel" } }, icon("x", 14), "Cancel");
  const batchTerminate = h("button", { type: "button", class: "btn btn-danger-outline", dataset: { action: "batch-terminate" } }, icon("stop", 14), "Terminate");
  const batchSignal = h("button", { type: "button", class: "btn", dataset: { action: "batch-signal" } }, icon("signal", 14), "Signal");
  const batchReset = h("button", { type: "button", class: "btn", dataset: { action: "batch-reset" } }, icon("back", 14), "Reset");
  const clearSelection = h("button", { type: "button", class: "btn btn-ghost", title: "Clear the selection" }, icon("x", 14), "Clear selection");
  const selectionBar = h("div", { class: "selection-bar", hidden: true, role: "region", "aria-label": "Selected runs" }, selectionInfo, matchAll, h("div", { class: "selection-actions" }, batchSignal, batchReset, batchCancel, batchTerminate, clearSelection));
  const jobs = batchJobsSection(ns);
  const empty = h("div", { class: "empty", hidden: true });
  const pageInfo = h("span", { class: "muted small" });
  const first = h("button", { type: "button", class: "btn", onclick: () => goPage("", []) }, "Newest");
  const prev = h("button", { type: "button", class: "btn", onclick: () => goPage(prevPages.at(-1) || "", prevPages.slice(0, -1)) }, icon("back", 14), "Previous");
  const next = h("button", { type: "button", class: "btn", onclick: () => goPage(nextToken, [...prevPages, state.page]) }, "Next", icon("next", 14));
  const size = h(
    "select",
    { class: "input input-small", "aria-label": "Rows per page" },
    [...new Set([...PAGE_SIZES, state.limit])].sort((a, b) => a - b).map((n) => h("option", { value: n, selected: n === state.limit }, `${n} per page`)),
  );
  const pager = h("div", { class: "pager" }, pageInfo, h("div", { class: "pager-buttons" }, size, first, prev, next));

  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, "Workflows"), h("div", { class: "muted small" }, "Namespace ", h("strong", null, ns))),
      h("div", { class: "page-tools" }, updated, live, refreshButton),
    ),
    h("div", { class: "card list-card" }, filters, queryBar, counts, selectionBar, error, h("div", { class: "table-scroll" }, table), empty, pager),
    jobs.element,
  );

  // --- behaviour ---
  function syncUrl(push = false) {
    const url = paths.workflows(ns, writeQuery(state));
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }
  function drawSelection() {
    const boxes = [...body.querySelectorAll("input.select-box")];
    for (const box of boxes) box.checked = allMatching || selected.has(box.value);
    pageBox.checked = boxes.length > 0 && boxes.every((b) => b.checked);
    pageBox.indeterminate = !pageBox.checked && boxes.some((b) => b.checked);
    const n = selected.size;
    selectionBar.hidden = !allMatching && n === 0;
    selectionInfo.textContent = allMatching ? "Every run that matches the filters is selected." : `${n} run${n === 1 ? "" : "s"} selected.`;
    matchAll.hidden = allMatching;
  }
  function resetSelection() {
    selected.clear();
    allMatching = false;
    drawSelection();
  }
  pageBox.addEventListener("change", () => {
    allMatching = false;
    for (const box of body.querySelectorAll("input.select-box")) {
      if (pageBox.checked) selected.set(box.value, box.dataset.workflowId);
      else selected.delete(box.value);
    }
    drawSelection();
  });
  body.addEventListener("change", (event) => {
    const box = event.target.closest("input.select-box");
    if (!box) return;
    if (allMatching) {
      // Leaving "all matching" for this page's rows but the one unticked.
      allMatching = false;
      for (const b of body.querySelectorAll("input.select-box")) selected.set(b.value, b.dataset.workflowId);
    }
    if (box.checked) selected.set(box.value, box.dataset.workflowId);
    else selected.delete(box.value);
    drawSelection();
  });
  matchAll.addEventListener("click", () => {
    allMatching = true;
    drawSelection();
  });
  clearSelection.addEventListener("click", resetSelection);
  function batchQuery() {
    return allMatching ? filterQuery(apiQuery(state)) : runIdsQuery([...selected.keys()]);
  }
  const describeTargets = () => (allMatching ? "every run that matches the filters" : `the ${selected.size} selected run${selected.size === 1 ? "" : "s"}`);
  batchCancel.addEventListener("click", () =>
    startBatch(ns, "cancel", batchQuery(), describeTargets(), () => {
      resetSelection();
      jobs.refresh();
    }),
  );
  batchTerminate.addEventListener("click", () =>
    startBatch(ns, "terminate", batchQuery(), describeTargets(), () => {
      resetSelection();
      jobs.refresh();
    }),
  );
  const afterStart = () => {
    resetSelection();
    jobs.refresh();
  };
  batchSignal.addEventListener("click", () => startSignalBatch(ns, batchQuery(), describeTargets(), afterStart));
  batchReset.addEventListener("click", () => startResetBatch(ns, batchQuery(), describeTargets(), afterStart));
  function filtersChanged() {
    resetSelection();
    state.page = "";
    prevPages = [];
    syncUrl();
    lastJson = null;
    poll.now();
  }
  function goPage(token, stack) {
    state.page = token || "";
    prevPages = stack;
    syncUrl(true);
    lastJson = null;
    poll.now();
    window.scrollTo(0, 0);
  }
  let debounce = null;
  const onText = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.type = type.value.trim();
      state.prefix = prefix.value.trim();
      filtersChanged();
    }, 350);
  };
  type.addEventListener("input", onText);
  prefix.addEventListener("input", onText);
  status.addEventListener("change", () => {
    state.status = status.value;
    filtersChanged();
  });
  range.addEventListener("change", () => {
    state.range = range.value;
    custom.hidden = state.range !== "custom";
    filtersChanged();
  });
  for (const input of [after, before]) {
    input.addEventListener("change", () => {
      state.after = fromLocalInput(after.value);
      state.before = fromLocalInput(before.value);
      filtersChanged();
    });
  }
  size.addEventListener("change", () => {
    state.limit = Number(size.value);
    filtersChanged();
  });
  function applyQuery() {
    if (queryInput.value.trim() === state.query) return;
    state.query = queryInput.value.trim();
    filtersChanged();
  }
  queryInput.addEventListener("search", applyQuery); // the box's own clear button
  counts.addEventListener("click", (event) => {
    const chip = event.target.closest("button[data-status]");
    if (!chip) return;
    state.status = chip.dataset.status === state.status ? "" : chip.dataset.status;
    status.value = state.status;
    filtersChanged();
  });
  clear.addEventListener("click", () => {
    Object.assign(state, { status: "", type: "", prefix: "", range: "", after: "", before: "", query: "", page: "" });
    queryInput.value = "";
    status.value = "";
    type.value = "";
    prefix.value = "";
    range.value = "";
    after.value = "";
    before.value = "";
    custom.hidden = true;
    filtersChanged();
  });
  auto.addEventListener("change", () => {
    poll.paused = !auto.checked;
    live.classList.toggle("off", !auto.checked);
  });

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    let data;
    try {
      data = await api(nsApi(ns) + "/workflows", { query: apiQuery(state), signal });
    } catch (err) {
      if (disposed || (err && err.name === "AbortError")) return;
      if (err && err.code === "invalid_query") {
        // Said under the box, where it can be fixed; the table shows nothing for a query that is not one.
        queryError.textContent = err.message;
        queryError.hidden = false;
        queryInput.setAttribute("aria-invalid", "true");
        replace(body);
        lastJson = null;
        replace(counts);
        return;
      }
      replace(error, errorNotice(err, "Could not list workflows"));
      return;
    }
    if (disposed) return;
    error.replaceChildren();
    queryError.hidden = true;
    queryInput.removeAttribute("aria-invalid");
    loadCounts(signal);
    updated.textContent = `Updated ${fmtClock(Date.now()).slice(0, 8)} ${zoneLabel()}`;
    nextToken = data.next_page_token;
    next.disabled = !nextToken;
    prev.disabled = !state.page;
    first.disabled = !state.page;
    const n = data.executions.length;
    pageInfo.textContent = n === 0 ? "" : `${n} run${n === 1 ? "" : "s"}${state.page ? "" : " (newest first)"}${nextToken ? ", more on the next page" : ""}`;
    // Draw the rows again only when something changed: keeps hover, focus and text selection.
    const json = JSON.stringify(data.executions);
    if (json === lastJson) return;
    lastJson = json;
    replace(body, data.executions.map((run) => row(ns, run)));
    drawSelection();
    table.hidden = n === 0;
    empty.hidden = n !== 0;
    if (n === 0) replace(empty, emptyMessage(state));
  }

  async function loadCounts(signal) {
    // Every filter but the status one: the chips show how the selected runs split, and pick one.
    let data;
    try {
      data = await api(nsApi(ns) + "/workflows/count", { query: { group_by: "ExecutionStatus", query: filterQuery({ ...apiQuery(state), status: "" }, { now: false }) }, signal });
    } catch (err) {
      if (!(err && err.name === "AbortError")) replace(counts); // counts are an aid: the list says what is wrong
      return;
    }
    if (disposed) return;
    const by = Object.fromEntries(data.groups.map((g) => [STATUS_OF_NAME[g.group_values[0]] || g.group_values[0], g.count]));
    replace(
      counts,
      h("span", { class: "muted small" }, `${data.count} run${data.count === 1 ? "" : "s"}`),
      STATUSES.filter((st) => by[st]).map((st) =>
        h(
          "button",
          { type: "button", class: ["status-chip", st === state.status ? "active" : null], dataset: { status: st }, "aria-pressed": String(st === state.status), title: `Show only ${st.replace(/_/g, " ").toLowerCase()} runs` },
          badge(st),
          h("span", { class: "status-count" }, String(by[st])),
        ),
      ),
    );
  }

  const poll = poller(() => Promise.all([load(), jobs.refresh()]), REFRESH_MS);
  load();
  jobs.refresh();
  loadTypes(ns, typeList);
  return () => {
    disposed = true;
    poll.stop();
    clearTimeout(debounce);
    if (controller) controller.abort();
  };
}

function emptyMessage(s) {
  const filtered = s.status || s.type || s.prefix || s.range || s.query;
  if (filtered) return [h("strong", null, "No workflows match these filters."), h("p", { class: "muted" }, "Clear a filter or widen the time range.")];
  return [
    h("strong", null, "No workflows yet."),
    h("p", { class: "muted" }, "Start one with the Start workflow button, or from the command line:"),
    h("pre", { class: "code" }, "mainspring workflow start --task-queue=example-task-queue --type=sdk_example_workflow \\\n    --workflow-id=example_id --input='{\"code\":\"python\",\"kind\":\"typesafe\"}'"),
  ];
}

function row(ns, run) {
  const href = paths.run(ns, run.workflow_id, run.run_id);
  // Open runs get a second line too ("still open"; not a running time, which the list, redrawn only when
  // its data changes, would leave stale): every row has the same two lines, so the same height.
  const duration = run.close_time ? fmtDuration(ms(run.close_time) - ms(run.start_time)) : "still open";
  const tr = h(
    "tr",
    { dataset: { status: run.status } },
    h("td", { class: "cell-select" }, h("input", { type: "checkbox", class: "select-box", value: run.run_id, dataset: { workflowId: run.workflow_id }, "aria-label": `Select ${run.workflow_id}` })),
    h("td", { "data-label": "Status" }, badge(run.status)),
    h("td", { "data-label": "Workflow ID", class: "cell-id" }, h("a", { href, class: "link-strong" }, run.workflow_id)),
    h("td", { "data-label": "Run ID", class: "cell-run mono" }, h("a", { href, title: run.run_id }, run.run_id)),
    h("td", { "data-label": "Type", class: "cell-nowrap" }, h("a", { href: paths.workflows(ns, new URLSearchParams({ type: run.workflow_type }).toString()), class: "link-quiet", title: "Show only this type" }, run.workflow_type)),
    h("td", { "data-label": "Task queue", class: "cell-nowrap" }, h("a", { href: paths.taskQueue(ns, run.task_queue), class: "link-quiet" }, run.task_queue)),
    h("td", { "data-label": "Start", class: "cell-time" }, timeCell(run.start_time)),
    h("td", { "data-label": "Close", class: "cell-time" }, timeCell(run.close_time), h("span", { class: ["muted small duration", run.close_time ? null : "duration-open"] }, duration)),
  );
  // The whole row opens the run, except where a link or a text selection says otherwise.
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a, .cell-select") || String(window.getSelection() || "")) return;
    tr.querySelector(".cell-id a").click();
  });
  return tr;
}

/** Workflow types the workers announce, as suggestions for the type filter. */
async function loadTypes(ns, list) {
  try {
    const data = await api(nsApi(ns) + "/task-queues");
    const types = new Set();
    for (const q of data.task_queues) for (const w of q.workers) for (const t of w.workflow_types || []) types.add(t);
    list.replaceChildren(...[...types].sort().map((t) => h("option", { value: t })));
  } catch {
    /* suggestions only */
  }
}
