// Task queues: the workers polling each queue (what they run, when each was last seen) and the tasks
// waiting for one. With a name in the path, that queue alone. Refreshed every 3 s while visible.

import { api, nsApi, paths } from "../api.js";
import { h, icon, replace, errorNotice } from "../dom.js";
import { fmtClock, fmtRelative, fmtTime, plural, zoneLabel } from "../format.js";
import { poller } from "../refresh.js";

const REFRESH_MS = 3000;

export function mount(root, ctx) {
  const { ns } = ctx;
  const only = ctx.params.name || null;
  let disposed = false;
  document.title = `${only ? only + " · " : ""}Task queues · ${ns} · Mainspring`;
  const list = h("div", { class: "queues" }, h("p", { class: "muted" }, "Loading…"));
  const error = h("div");
  const updated = h("span", { class: "muted small updated" });
  replace(
    root,
    only ? h("a", { href: paths.taskQueues(ns), class: "back-link" }, icon("back", 14), "Task queues") : null,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, only || "Task queues"), h("div", { class: "muted small" }, only ? "Task queue in namespace " : "Namespace ", h("strong", null, ns))),
      h("div", { class: "page-tools" }, updated),
    ),
    error,
    list,
  );

  async function load() {
    let data;
    try {
      data = await api(nsApi(ns) + "/task-queues", { query: { name: only } });
    } catch (err) {
      if (!disposed) replace(error, errorNotice(err, "Could not list task queues"));
      return;
    }
    if (disposed) return;
    error.replaceChildren();
    updated.textContent = `Updated ${fmtClock(Date.now()).slice(0, 8)} ${zoneLabel()}`;
    // Redrawn every time: relative times ("3 s ago") move on even when nothing else changed.
    const queues = only ? data.task_queues.filter((q) => q.name === only) : data.task_queues;
    if (queues.length === 0) {
      replace(list, emptyView(only));
      return;
    }
    replace(list, queues.map((q) => queueCard(ns, q, Boolean(only))));
  }

  const poll = poller(load, REFRESH_MS);
  load();
  return () => {
    disposed = true;
    poll.stop();
  };
}

function emptyView(only) {
  return h(
    "div",
    { class: "card empty" },
    h("strong", null, only ? `No worker polls ${only} and no task waits in it.` : "No workers are polling, and no tasks are waiting."),
    h("p", { class: "muted" }, "Start a worker, for example:"),
    h("pre", { class: "code" }, "python examples/hello/worker.py"),
  );
}

function queueCard(ns, q, alone) {
  const backlog = q.backlog || { workflow: 0, activity: 0 };
  const chip = (n, label) => h("span", { class: ["chip", n > 0 ? "chip-warn" : null], title: `${label}s waiting for a worker` }, plural(n, label));
  return h(
    "section",
    { class: "card queue", dataset: { queue: q.name } },
    h(
      "div",
      { class: "section-head" },
      h("h2", null, icon("queue", 16), alone ? h("span", { class: "mono" }, q.name) : h("a", { href: paths.taskQueue(ns, q.name), class: "mono" }, q.name)),
      h("span", { class: "muted small" }, `${q.workers.length} worker${q.workers.length === 1 ? "" : "s"}`),
      h("div", { class: "section-tools" }, h("span", { class: "muted small" }, "Backlog"), chip(backlog.workflow, "workflow task"), chip(backlog.activity, "activity task")),
    ),
    buildsView(q.builds || []),
    h(
      "div",
      { class: "section-body" },
      q.workers.length === 0
        ? h("p", { class: "muted" }, "No worker is polling this queue: its tasks wait until one does.")
        : h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "table workers" },
              h("thead", null, h("tr", null, ["Worker", "Build", "Workflows", "Activities", "Last seen", "Connected since", "Via"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", null, q.workers.map((w) => workerRow(w))),
            ),
          ),
    ),
  );
}

/** The builds polling the queue (workers that declared a build id): which one new runs go to. */
function buildsView(builds) {
  if (builds.length === 0) return null;
  return h(
    "div",
    { class: "section-body builds" },
    h("h3", { class: "small" }, "Builds"),
    h(
      "ul",
      { class: "plain builds-list" },
      builds.map((b) =>
        h(
          "li",
          { dataset: { build: b.build_id } },
          h("span", { class: "mono" }, b.build_id),
          " · ",
          `${b.workers} worker${b.workers === 1 ? "" : "s"}`,
          " · ",
          b.current ? h("span", { class: "chip chip-ok" }, "new runs go here") : h("span", { class: "muted" }, "pinned runs only"),
          b.pinned_backlog ? h("span", { class: "chip chip-warn" }, `${b.pinned_backlog} pinned task${b.pinned_backlog === 1 ? "" : "s"} waiting`) : null,
        ),
      ),
    ),
  );
}

function types(list) {
  if (!list || list.length === 0) return h("span", { class: "muted" }, "—");
  return h("div", { class: "chips" }, list.map((t) => h("span", { class: "chip mono" }, t)));
}

function workerRow(w) {
  const seen = (iso) => h("time", { datetime: iso, title: `${fmtTime(iso)} ${zoneLabel()}` }, fmtRelative(iso));
  return h(
    "tr",
    { dataset: { identity: w.identity } },
    h("td", { "data-label": "Worker" }, h("span", { class: "status-dot", title: "polling" }), h("strong", { class: "mono" }, w.identity), h("div", { class: "muted small mono" }, w.session_id)),
    h("td", { "data-label": "Build" }, w.build_id ? h("span", { class: "mono" }, w.build_id) : h("span", { class: "muted" }, "—")),
    h("td", { "data-label": "Workflows" }, types(w.workflow_types)),
    h("td", { "data-label": "Activities" }, types(w.activity_types)),
    h("td", { "data-label": "Last seen" }, seen(w.last_seen)),
    h("td", { "data-label": "Connected since" }, seen(w.connected_since)),
    h("td", { "data-label": "Via" }, w.channel ? "WebSocket" : "HTTP polls"),
  );
}
