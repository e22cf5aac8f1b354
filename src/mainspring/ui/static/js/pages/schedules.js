// Schedules: each schedule of the namespace with its spec, state, next run times and recent actions, and
// Pause / Unpause / Trigger. Refreshed every 3 s while visible. Times come from the API as Unix seconds.

import { api, nsApi, paths } from "../api.js";
import { h, icon, replace, errorNotice, toast } from "../dom.js";
import { fmtClock, fmtTime, zoneLabel } from "../format.js";
import { poller } from "../refresh.js";

const REFRESH_MS = 3000;

function iso(seconds) {
  return new Date(seconds * 1000).toISOString();
}

export function mount(root, ctx) {
  const { ns } = ctx;
  let disposed = false;
  document.title = `Schedules · ${ns} · Mainspring`;
  const list = h("div", { class: "schedules" }, h("p", { class: "muted" }, "Loading…"));
  const error = h("div");
  const updated = h("span", { class: "muted small updated" });
  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, "Schedules"), h("div", { class: "muted small" }, "Namespace ", h("strong", null, ns))),
      h("div", { class: "page-tools" }, updated),
    ),
    error,
    list,
  );

  async function load() {
    let data;
    try {
      data = await api(nsApi(ns) + "/schedules");
    } catch (err) {
      if (!disposed) replace(error, errorNotice(err, "Could not list schedules"));
      return;
    }
    if (disposed) return;
    error.replaceChildren();
    updated.textContent = `Updated ${fmtClock(Date.now()).slice(0, 8)} ${zoneLabel()}`;
    if (data.schedules.length === 0) {
      replace(
        list,
        h(
          "div",
          { class: "card empty" },
          h("strong", null, "No schedules in this namespace."),
          h("p", { class: "muted" }, "Create one with the client or the CLI, for example:"),
          h("pre", { class: "code" }, "mainspring schedule create --schedule-id nightly --cron '0 3 * * *' --workflow-type report --task-queue reports"),
        ),
      );
      return;
    }
    replace(list, data.schedules.map((d) => scheduleCard(ns, d, load)));
  }

  const poll = poller(load, REFRESH_MS);
  load();
  return () => {
    disposed = true;
    poll.stop();
  };
}

function specText(spec) {
  const parts = [];
  for (const c of spec.cron_expressions) parts.push(`cron ${c}`);
  for (const i of spec.intervals) parts.push(`every ${i.every}s` + (i.offset ? ` +${i.offset}s` : ""));
  for (const c of spec.calendars) parts.push(c.comment ? `calendar ${c.comment}` : "calendar");
  if (spec.skip && spec.skip.length) parts.push(`skipping ${spec.skip.length} calendar${spec.skip.length > 1 ? "s" : ""}`);
  const zone = spec.time_zone_name ? ` (${spec.time_zone_name})` : "";
  return parts.join(", ") + zone;
}

function scheduleCard(ns, d, reload) {
  const s = d.schedule;
  const info = d.info;
  const paused = s.state.paused;
  async function patch(body, done) {
    try {
      await api(nsApi(ns) + "/schedules/patch", { method: "POST", body: { schedule_id: d.schedule_id, ...body } });
      toast(done);
      reload();
    } catch (err) {
      toast(err.message || String(err), "error");
    }
  }
  const button = (action, label, body, done) => {
    const b = h("button", { type: "button", class: "btn btn-small", dataset: { action } }, label);
    b.addEventListener("click", () => patch(body, done));
    return b;
  };
  const tools = h(
    "div",
    { class: "section-tools" },
    paused
      ? button("schedule-unpause", "Unpause", { unpause: "Unpaused from the web UI" }, `${d.schedule_id} unpaused`)
      : button("schedule-pause", "Pause", { pause: "Paused from the web UI" }, `${d.schedule_id} paused`),
    button("schedule-trigger", "Trigger now", { trigger: true }, `${d.schedule_id} triggered`),
  );
  const recent = info.recent_actions.slice().reverse();
  return h(
    "section",
    { class: "card schedule", dataset: { schedule: d.schedule_id } },
    h(
      "div",
      { class: "section-head" },
      h("h2", null, icon("timer", 16), h("span", { class: "mono" }, d.schedule_id)),
      h("span", { class: ["chip", paused ? "chip-warn" : null], dataset: { state: paused ? "paused" : "running" } }, paused ? "Paused" : "Running"),
      tools,
    ),
    h(
      "div",
      { class: "section-body" },
      h(
        "p",
        null,
        "Starts ",
        h("span", { class: "mono" }, s.action.workflow_type),
        " on ",
        h("span", { class: "mono" }, s.action.task_queue),
        ` · ${specText(s.spec)} · overlap ${s.policy.overlap}`,
      ),
      s.state.note ? h("p", { class: "muted small", dataset: { note: "" } }, s.state.note) : null,
      h(
        "p",
        { class: "small" },
        `${info.num_actions} actions · ${info.running_actions.length} running · ${info.num_actions_skipped_overlap} skipped (overlap) · ${info.num_actions_missed_catchup_window} missed (catch-up window)`,
      ),
      h("h3", { class: "small" }, "Next runs"),
      info.next_action_times.length === 0
        ? h("p", { class: "muted small" }, paused ? "None while paused." : "None.")
        : h("ul", { class: "plain next-times" }, info.next_action_times.slice(0, 5).map((t) => h("li", { class: "mono small" }, fmtTime(iso(t), { millis: false })))),
      h("h3", { class: "small" }, "Recent actions"),
      recent.length === 0
        ? h("p", { class: "muted small" }, "None yet.")
        : h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "table recent-actions" },
              h("thead", null, h("tr", null, ["Due", "Started", "Workflow"].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                null,
                recent.map((a) =>
                  h(
                    "tr",
                    null,
                    h("td", { class: "mono small" }, fmtTime(iso(a.scheduled_at), { millis: false })),
                    h("td", { class: "mono small" }, fmtTime(iso(a.started_at))),
                    h("td", null, h("a", { href: paths.run(ns, a.workflow_id, a.run_id), class: "mono" }, a.workflow_id)),
                  ),
                ),
              ),
            ),
          ),
    ),
  );
}
