// The "Relationships" card of a run page: the run's parent (if it is a child workflow) and the child workflows
// it started, each a link to its run page, from `describe` (its `parent` and `children`).

import { paths } from "../api.js";
import { h, badge, section } from "../dom.js";

/** The card; null when the run has neither a parent nor children. */
export function relationships(ns, d) {
  const parent = d.parent;
  const children = d.children || [];
  if (!parent && !children.length) return null;
  const total = d.children_count || children.length;
  const card = section("Relationships", { cls: "relationships", sub: total ? `${total} child${total === 1 ? "" : "ren"}` : null });
  if (parent) {
    card.body.append(
      h(
        "p",
        { class: "relationship-parent" },
        h("span", { class: "muted" }, "Parent "),
        h("a", { href: paths.run(parent.namespace || ns, parent.workflow_id, parent.run_id), class: "mono" }, parent.workflow_id),
        h("span", { class: "muted small mono" }, ` run ${parent.run_id}`),
      ),
    );
  }
  if (children.length) {
    card.body.append(
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "table children" },
          h("thead", null, h("tr", null, ["Child workflow", "Type", "Status", "Run"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", null, children.map((c) => childRow(ns, c))),
        ),
      ),
    );
  }
  return card;
}

function childRow(ns, c) {
  const link = c.run_id ? paths.run(ns, c.workflow_id, c.run_id) : paths.workflow(ns, c.workflow_id);
  return h(
    "tr",
    { dataset: { childId: c.workflow_id } },
    h("td", { "data-label": "Child workflow" }, h("a", { href: link, class: "mono" }, c.workflow_id)),
    h("td", { "data-label": "Type" }, c.workflow_type),
    h("td", { "data-label": "Status" }, badge(c.status)),
    h("td", { "data-label": "Run", class: "mono small" }, c.run_id || "—"),
  );
}
