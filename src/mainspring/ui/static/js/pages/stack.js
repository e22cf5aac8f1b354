// "Where it waits": each coroutine of a running workflow and the frames it is suspended in, asked live of
// the worker that holds the workflow in memory. The answer can take a few seconds (the server waits for the
// worker) and can be empty with a message that says why; neither blocks the rest of the page.

import { api, nsApi } from "../api.js";
import { h, icon, replace, section, errorNotice, notice } from "../dom.js";

/** The section; call `load()` to ask again (run.js does when the history moves on). */
export function stackSection(ns, workflowId, runId) {
  const refresh = h("button", { type: "button", class: "btn btn-ghost btn-small", title: "Ask the worker again" }, icon("refresh", 14), "Refresh");
  const card = section("Where it waits", { cls: "stack-card", tools: refresh, sub: "asked live of the worker that runs it" });
  let inFlight = null;

  async function load() {
    if (inFlight) return inFlight;
    refresh.disabled = true;
    card.classList.add("loading");
    if (!card.body.firstChild) replace(card.body, h("p", { class: "muted" }, "Asking the worker…"));
    inFlight = (async () => {
      try {
        const data = await api(nsApi(ns) + "/workflows/stack", { query: { workflow_id: workflowId, run_id: runId } });
        replace(card.body, stackView(data));
      } catch (err) {
        replace(card.body, errorNotice(err, "Could not ask where it waits"));
      } finally {
        refresh.disabled = false;
        card.classList.remove("loading");
        inFlight = null;
      }
    })();
    return inFlight;
  }
  refresh.addEventListener("click", load);
  return { el: card, load };
}

function stackView(data) {
  const coroutines = data.coroutines || [];
  if (coroutines.length === 0) {
    return notice(data.message || "No coroutine of this workflow is waiting.", "info");
  }
  return h(
    "div",
    { class: "coroutines" },
    data.worker ? h("p", { class: "muted small" }, "Held by worker ", h("span", { class: "mono" }, data.worker)) : null,
    coroutines.map((c) =>
      h(
        "div",
        { class: "coroutine" },
        h("div", { class: "coroutine-name" }, icon("workflow", 14), h("span", { class: "mono" }, c.name)),
        // Outermost first, innermost (where it waits) last, as in a Python traceback.
        h(
          "ol",
          { class: "frames" },
          (c.frames || []).map((f, i, all) =>
            h(
              "li",
              { class: ["frame", i === all.length - 1 ? "frame-innermost" : null] },
              h("div", { class: "frame-where" }, h("span", { class: "frame-fn" }, f.function), h("span", { class: "muted" }, " in "), h("span", { class: "mono frame-file" }, `${f.file}:${f.line}`)),
              f.code ? h("code", { class: "frame-code" }, f.code) : null,
            ),
          ),
        ),
      ),
    ),
  );
}
