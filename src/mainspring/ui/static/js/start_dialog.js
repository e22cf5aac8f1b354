// "Start workflow": a form that posts to the same start endpoint the CLI uses. The input is checked as
// JSON here (so a typo is caught before anything is sent); its shape is checked by the server against the
// schema a worker announced, and the server's message, which names the field, is shown as it is.

import { api, nsApi } from "./api.js";
import { h, toast } from "./dom.js";
import { openModal } from "./dialog.js";

function randomSuffix() {
  const bytes = new Uint8Array(4);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function suggestId(type) {
  const base = (type || "workflow").replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "") || "workflow";
  return `${base}-${randomSuffix()}`;
}

/** Parse the input box: { ok, value } or { ok: false, message } naming the line and column. */
export function parseInput(text) {
  if (text.trim() === "") return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: `Input is not valid JSON: ${err.message}` };
  }
}

/** The workflow types that workers announce, and the queues that run each (for suggestions). */
async function knownTypes(ns) {
  const byType = new Map();
  const queues = [];
  try {
    const data = await api(nsApi(ns) + "/task-queues");
    for (const q of data.task_queues) {
      queues.push(q.name);
      for (const w of q.workers) {
        for (const t of w.workflow_types || []) {
          if (!byType.has(t)) byType.set(t, new Set());
          byType.get(t).add(q.name);
        }
      }
    }
  } catch (err) {
    console.warn("no suggestions:", err);
  }
  return { byType, queues };
}

/** Open the dialog; `onStarted({workflow_id, run_id})` runs after the server accepted the start. */
export function openStartDialog(ns, { onStarted, initial = {} } = {}) {
  const type = h("input", { name: "workflow_type", class: "input", required: true, autocomplete: "off", list: "start-types", value: initial.workflow_type || "", placeholder: "e.g. sdk_example_workflow" });
  const id = h("input", { name: "workflow_id", class: "input mono", required: true, autocomplete: "off", value: initial.workflow_id || suggestId(initial.workflow_type) });
  const queue = h("input", { name: "task_queue", class: "input", required: true, autocomplete: "off", list: "start-queues", value: initial.task_queue || "", placeholder: "e.g. example-task-queue" });
  const input = h("textarea", { name: "input", class: "input mono", rows: 7, spellcheck: "false", placeholder: '{"code": "python", "kind": "typesafe"}' });
  if (initial.input !== undefined) input.value = initial.input;
  const inputError = h("div", { class: "field-error", id: "start-input-error", hidden: true });
  const typeList = h("datalist", { id: "start-types" });
  const queueList = h("datalist", { id: "start-queues" });
  let idEdited = Boolean(initial.workflow_id);
  let queueEdited = Boolean(initial.task_queue);
  let suggestions = { byType: new Map(), queues: [] };

  id.addEventListener("input", () => (idEdited = true));
  queue.addEventListener("input", () => (queueEdited = true));
  type.addEventListener("input", () => {
    // Until the user types their own, the id and the queue follow the chosen type.
    if (!idEdited) id.value = suggestId(type.value.trim());
    const queues = suggestions.byType.get(type.value.trim());
    if (!queueEdited && queues && queues.size === 1) queue.value = [...queues][0];
  });
  const checkInput = () => {
    const parsed = parseInput(input.value);
    inputError.hidden = parsed.ok;
    inputError.textContent = parsed.ok ? "" : parsed.message;
    input.setAttribute("aria-invalid", String(!parsed.ok));
    return parsed;
  };
  input.addEventListener("blur", checkInput);
  input.addEventListener("input", () => {
    if (!inputError.hidden) checkInput(); // clear the message as soon as it is fixed
  });

  const field = (label, control, hint = null) =>
    h("label", { class: "field" }, h("span", { class: "field-label" }, label), control, hint ? h("span", { class: "field-hint" }, hint) : null);

  const modal = openModal({
    title: "Start a workflow",
    description: `In namespace ${ns}. A worker polling the task queue runs it.`,
    submitLabel: "Start workflow",
    wide: true,
    fields: [
      field("Workflow type", type),
      field("Workflow ID", id, "Unique among running workflows; suggested at random."),
      field("Task queue", queue),
      h(
        "label",
        { class: "field" },
        h("span", { class: "field-label" }, "Input (JSON)"),
        input,
        inputError,
        h("span", { class: "field-hint" }, "One JSON value: the workflow's argument. Leave empty for none."),
      ),
      typeList,
      queueList,
    ],
    onSubmit: async () => {
      const missing = [
        [type, "workflow type"],
        [id, "workflow ID"],
        [queue, "task queue"],
      ].find(([el]) => !el.value.trim());
      if (missing) {
        missing[0].focus();
        throw new Error(`Enter a ${missing[1]}.`);
      }
      const parsed = checkInput();
      if (!parsed.ok) {
        input.focus();
        throw Object.assign(new Error(parsed.message), { shown: true });
      }
      const body = {
        workflow_id: id.value.trim(),
        workflow_type: type.value.trim(),
        task_queue: queue.value.trim(),
        input: parsed.value,
      };
      // The server's message is shown verbatim (the ApiError's message): it names the field at fault.
      const started = await api(nsApi(ns) + "/workflows", { method: "POST", body });
      toast(`Started ${started.workflow_id}`);
      // No worker on the queue runs this type (a typo?): the server's warning names the closest one.
      if (started.warning) toast(started.warning, "warn");
      if (onStarted) onStarted({ workflow_id: started.workflow_id, run_id: started.run_id });
    },
  });
  modal.form.classList.add("start-form");
  type.focus();

  knownTypes(ns).then((found) => {
    suggestions = found;
    typeList.replaceChildren(...[...found.byType.keys()].sort().map((t) => h("option", { value: t })));
    queueList.replaceChildren(...found.queues.map((q) => h("option", { value: q })));
  });
  return modal;
}
