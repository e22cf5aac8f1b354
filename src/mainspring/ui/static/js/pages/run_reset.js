// Reset on the run page: a new run of the workflow id from one of this run's workflow tasks (the last or the
// first completed one, or a chosen event id), after a confirmation that says what happens; and the links a
// reset leaves (the run this one was reset to, the run and event it was made from).

import { api, nsApi, paths } from "../api.js";
import { h, icon, toast } from "../dom.js";
import { openModal } from "../dialog.js";

/** The Reset button: opens the dialog; `onReset(newRunId)` once the new run is made. */
export function resetButton(ns, workflowId, runId, describeNow, onReset) {
  const button = h("button", { type: "button", class: "btn", dataset: { action: "reset" } }, icon("back", 14), "Reset");
  button.addEventListener("click", () => openResetDialog(ns, workflowId, runId, describeNow(), onReset));
  return button;
}

function openResetDialog(ns, workflowId, runId, d, onReset) {
  const running = d && d.execution.status === "RUNNING";
  const choice = (value, label, checked = false) =>
    h("label", { class: "check" }, h("input", { type: "radio", name: "point", value, checked }), label);
  const eventId = h("input", { type: "number", name: "event_id", min: 1, class: "input", placeholder: "a WorkflowTaskCompleted event id" });
  const reapplySignals = h("input", { type: "checkbox", name: "reapply_signals", checked: true });
  const reapplyUpdates = h("input", { type: "checkbox", name: "reapply_updates", checked: true });
  const reason = h("textarea", { name: "reason", rows: 2, class: "input", maxlength: 2000, placeholder: "Why it is reset" });
  eventId.addEventListener("focus", () => {
    eventId.form.querySelector("input[name=point][value=event]").checked = true;
  });
  openModal({
    title: "Reset this workflow run?",
    description:
      "A new run of this workflow is made from the chosen workflow task: its history up to that task is kept, and its code after it runs again (activities included). " +
      (running ? "This run is running: it is terminated. " : "This run stays as it is. ") +
      "Both runs are linked.",
    submitLabel: "Reset run",
    cancelLabel: "Keep it",
    danger: running,
    fields: [
      h(
        "fieldset",
        { class: "field reset-point" },
        h("legend", { class: "field-label" }, "Reset to"),
        choice("LastWorkflowTask", "the last completed workflow task", true),
        choice("FirstWorkflowTask", "the first workflow task (the whole run again)"),
        choice("event", "an event id:"),
        eventId,
      ),
      h("label", { class: "check" }, reapplySignals, "Reapply the signals it received after that point"),
      h("label", { class: "check" }, reapplyUpdates, "Reapply the updates it accepted after that point (their handlers run again)"),
      h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason (optional, recorded in the history)"), reason),
    ],
    onSubmit: async (form) => {
      const point = form.querySelector("input[name=point]:checked").value;
      const exclude = [...(reapplySignals.checked ? [] : ["Signal"]), ...(reapplyUpdates.checked ? [] : ["Update"])];
      const body = { workflow_id: workflowId, run_id: runId, reason: reason.value.trim(), reapply_exclude: exclude };
      if (point === "event") {
        const n = Number(eventId.value);
        if (!Number.isInteger(n) || n < 1) throw new Error("Give the event id of a workflow task (a WorkflowTaskCompleted event of the history).");
        body.event_id = n;
      } else {
        body.reset_type = point;
      }
      const answer = await api(nsApi(ns) + "/workflows/reset", { method: "POST", body });
      toast(`Reset: new run ${answer.run_id}`);
      onReset(answer.run_id);
    },
  });
}

/** The summary's items for the run's reset links (none if it has none): `item(label, value)` makes one. */
export function resetLinks(ns, d, item) {
  const ex = d.execution;
  const link = (runId, which) => h("a", { href: paths.run(ns, ex.workflow_id, runId), class: "mono run-id", "data-reset": which }, runId);
  const out = [];
  if (d.reset_from) out.push(item("Reset from", link(d.reset_from.run_id, "from"), ` at event ${d.reset_from.event_id}`));
  if (d.reset_to) out.push(item("Reset to", "→ ", link(d.reset_to.run_id, "to"), ` (from event ${d.reset_to.event_id})`));
  return out;
}
