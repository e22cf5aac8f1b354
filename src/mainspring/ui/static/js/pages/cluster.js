// Cluster: the servers sharing the store (which one holds it, which wait as standbys, which are gone) and
// the store's shard leases, as the server this page talks to reads them from the store (GET /api/v1/cluster).
// Times "ago" are measured on the store's clock (the one leases are), not this browser's. Refreshed every 3 s.

import { api } from "../api.js";
import { h, replace, errorNotice } from "../dom.js";
import { fmtClock, fmtRelative, fmtTime, ms, zoneLabel } from "../format.js";
import { poller } from "../refresh.js";

const REFRESH_MS = 3000;

// What each status means, for the chip's tooltip.
const STATUS = {
  active: { cls: "chip-ok", title: "Holds the store's lease and serves requests" },
  standby: { cls: null, title: "Alive and waiting: takes the store over if the active server stops" },
  draining: { cls: "chip-warn", title: "Told to hand the store over (mainspring cluster drain): it is stopping" },
  gone: { cls: "chip-gone", title: "Not seen within a lease: stopped, or cut off from the store" },
};

export function mount(root) {
  let disposed = false;
  document.title = "Cluster · Mainspring";
  const store = h("div", { class: "muted small" }, "Loading…");
  const body = h("div", { class: "cluster" });
  const error = h("div");
  const updated = h("span", { class: "muted small updated" });
  replace(
    root,
    h("div", { class: "page-head" }, h("div", null, h("h1", null, "Cluster"), store), h("div", { class: "page-tools" }, updated)),
    error,
    body,
  );

  async function load() {
    let data;
    try {
      data = await api("/cluster");
    } catch (err) {
      if (!disposed) replace(error, errorNotice(err, "Could not read the cluster"));
      return;
    }
    if (disposed) return;
    error.replaceChildren();
    updated.textContent = `Updated ${fmtClock(Date.now()).slice(0, 8)} ${zoneLabel()}`;
    replace(store, "Store ", h("strong", { class: "mono", dataset: { store: data.kind } }, data.store));
    const now = ms(data.now) ?? Date.now();
    replace(body, serversCard(data, now), data.shared ? shardsCard(data, now) : singleNote());
  }

  const poll = poller(load, REFRESH_MS);
  load();
  return () => {
    disposed = true;
    poll.stop();
  };
}

function when(iso, now) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: `${fmtTime(iso)} ${zoneLabel()}` }, fmtRelative(iso, now));
}

function statusChip(status) {
  const s = STATUS[status] || { cls: null, title: "" };
  return h("span", { class: ["chip", "server-status", s.cls], title: s.title, dataset: { status } }, status);
}

function serversCard(data, now) {
  const servers = data.servers;
  const active = servers.filter((s) => s.status === "active").length;
  return h(
    "section",
    { class: "card cluster-servers" },
    h(
      "div",
      { class: "section-head" },
      h("h2", null, "Servers"),
      h("span", { class: "muted small" }, `${servers.length} server${servers.length === 1 ? "" : "s"}, ${active} active`),
    ),
    h(
      "div",
      { class: "section-body" },
      servers.length === 0
        ? h("p", { class: "muted" }, "No server has registered in this store yet.")
        : h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "table servers" },
              h("thead", null, h("tr", null, ["Server", "Address", "Status", "Started", "Last seen"].map((c) => h("th", { scope: "col" }, c)))),
              h("tbody", null, servers.map((s) => serverRow(s, now))),
            ),
          ),
    ),
  );
}

function serverRow(s, now) {
  return h(
    "tr",
    { dataset: { node: s.node, address: s.address, status: s.status }, class: s.this ? "this-server" : null },
    h(
      "td",
      { "data-label": "Server" },
      h("strong", { class: "mono" }, s.node),
      s.this ? h("span", { class: "chip this-chip", title: "The server this page is talking to" }, "this server") : null,
    ),
    h("td", { "data-label": "Address", class: "mono" }, s.address || h("span", { class: "muted" }, "—")),
    h("td", { "data-label": "Status" }, statusChip(s.status)),
    h("td", { "data-label": "Started" }, when(s.started_at, now)),
    h("td", { "data-label": "Last seen" }, when(s.seen_at, now)),
  );
}

function shardsCard(data, now) {
  const shards = data.shards;
  return h(
    "section",
    { class: "card cluster-shards" },
    h(
      "div",
      { class: "section-head" },
      h("h2", null, "Shard leases"),
      data.lease_seconds ? h("span", { class: "muted small" }, `a lease lasts ${data.lease_seconds} s unless renewed`) : null,
    ),
    h(
      "div",
      { class: "section-body" },
      shards.length === 0
        ? h("p", { class: "muted" }, "No shard lease yet: no server has started on this store.")
        : h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "table shards" },
              h("thead", null, h("tr", null, ["Shard", "Owner", "Epoch", "Expires"].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                null,
                shards.map((l) =>
                  h(
                    "tr",
                    { dataset: { shard: String(l.shard), live: String(l.live) } },
                    h("td", { "data-label": "Shard" }, String(l.shard)),
                    h(
                      "td",
                      { "data-label": "Owner" },
                      h(
                        "div",
                        null,
                        l.owner ? h("div", { class: "mono" }, l.owner) : h("span", { class: "muted" }, "nobody"),
                        l.owner_address ? h("div", { class: "muted small mono" }, l.owner_address) : null,
                      ),
                    ),
                    h("td", { "data-label": "Epoch" }, String(l.epoch)),
                    h(
                      "td",
                      { "data-label": "Expires" },
                      l.expires_at ? when(l.expires_at, now) : h("span", { class: "muted" }, "—"),
                      l.owner && !l.live ? h("span", { class: "chip chip-warn", title: "Its holder did not renew it: any server may take it" }, "lapsed") : null,
                    ),
                  ),
                ),
              ),
            ),
          ),
    ),
  );
}

function singleNote() {
  return h(
    "section",
    { class: "card cluster-single" },
    h(
      "div",
      { class: "section-body" },
      h("p", null, "A SQLite store is held by one server, the one above: it has no shard leases and no standbys."),
      h("p", { class: "muted" }, "Several servers share a PostgreSQL store (one serves, the others wait to take over):"),
      h("pre", { class: "code" }, "mainspring server start --db postgresql://USER@HOST/DB\nmainspring server start --db postgresql://USER@HOST/DB --standby --port 7234 --ui-port 8234"),
    ),
  );
}
