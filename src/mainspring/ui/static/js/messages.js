// Talking to a running workflow from its page: "Send signal" and "Query" dialogs. The names offered are the
// handlers the run's workflow type announced (describe's `handlers`); a type that announced none (a function
// workflow, or no worker polled yet) takes a typed name. The payload is JSON, checked here as far as
// payload_schema.js can (valid JSON, the top-level type, an object's required fields) so a slip is caught
// before anything is sent; the server checks the rest against the same schema, and its message, which names
// the field, is shown as it is. Both post to the same endpoints the CLI and the SDK use.
// (Updates get a dialog of their own later; this file is where it goes.)

import { api, nsApi } from "./api.js";
import { h, copyButton, replace, toast } from "./dom.js";
import { openModal } from "./dialog.js";
import { jsonText, jsonView } from "./format.js";
import { payloadExample, payloadHint, payloadProblem } from "./payload_schema.js";

/** An answer longer than this (characters of pretty JSON) is cut in the view; Copy still copies all of it. */
export const ANSWER_VIEW_LIMIT = 20_000;

const KIND_WORD = { signal: "signal", query: "query" };

/** The announced handlers of `kind`: [{name, input_schema}] (named ones), and whether a dynamic one exists. */
export function announced(handlers, kind) {
  const of = (handlers || []).filter((x) => x && x.kind === kind);
  return { named: of.filter((x) => typeof x.name === "string"), dynamic: of.some((x) => x.name === null || x.name === undefined) };
}

/** Whether a run's page offers "Query": while it runs, or when its type announced query handlers. */
export function offersQuery(handlers, running) {
  const q = announced(handlers, "query");
  return running || q.named.length > 0 || q.dynamic;
}

function randomToken() {
  // Not crypto.randomUUID: it exists only in secure contexts, and the UI may be served over plain HTTP.
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Parse the payload editor: empty is no payload (null). */
function parsePayload(text) {
  if (text.trim() === "") return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: `The payload is not valid JSON: ${err.message}` };
  }
}

/**
 * The shared form: a name (a select of the announced names, a text box when there are none, or both when a
 * dynamic handler takes any name), a JSON editor with its hint and its check, and the schema to read.
 */
function messageForm(kind, handlers) {
  const { named, dynamic } = announced(handlers, kind);
  const word = KIND_WORD[kind];
  const OTHER = "\u0000other"; // a value no handler name can have (names have no control characters)
  const select = named.length
    ? h(
        "select",
        { name: `${kind}_name`, class: "input", "aria-label": `${word[0].toUpperCase() + word.slice(1)} name` },
        named.map((x) => h("option", { value: x.name }, x.name)),
        dynamic ? h("option", { value: OTHER }, "Another name…") : null,
      )
    : null;
  const typed = h("input", { name: `${kind}_name_text`, class: "input mono", autocomplete: "off", spellcheck: "false", maxlength: 1000, placeholder: `the ${word}'s name`, "aria-label": `${word[0].toUpperCase() + word.slice(1)} name` });
  typed.hidden = Boolean(select);
  const payload = h("textarea", { name: "payload", class: "input mono", rows: 7, spellcheck: "false", "aria-label": "Payload (JSON)" });
  const payloadError = h("div", { class: "field-error", role: "alert", hidden: true });
  const hint = h("span", { class: "field-hint payload-hint" });
  const schemaBox = h("details", { class: "payload-schema" }, h("summary", { class: "small" }, "Payload schema"), h("div"));

  const name = () => (select && select.value !== OTHER ? select.value : typed.value.trim());
  const schemaOf = (n) => {
    const x = named.find((y) => y.name === n);
    return x ? x.input_schema || null : null;
  };
  const showSchema = () => {
    const schema = schemaOf(name());
    payload.placeholder = payloadExample(schema) || "a JSON value; leave empty for none";
    replace(hint, payloadHint(schema) || "One JSON value; leave it empty for none.");
    schemaBox.hidden = !schema;
    replace(schemaBox.lastChild, schema ? jsonView(schema) : null);
  };
  const check = () => {
    const parsed = parsePayload(payload.value);
    const message = parsed.ok ? payloadProblem(parsed.value, schemaOf(name())) : parsed.message;
    payloadError.hidden = !message;
    payloadError.textContent = message || "";
    payload.setAttribute("aria-invalid", String(Boolean(message)));
    return message ? { ok: false, message } : parsed;
  };
  if (select) {
    select.addEventListener("change", () => {
      typed.hidden = select.value !== OTHER;
      if (!typed.hidden) typed.focus();
      showSchema();
      if (!payloadError.hidden) check();
    });
  }
  payload.addEventListener("blur", check);
  payload.addEventListener("input", () => {
    if (!payloadError.hidden) check(); // clear the message as soon as it is fixed
  });
  showSchema();

  const label = named.length ? `${word[0].toUpperCase() + word.slice(1)}` : `${word[0].toUpperCase() + word.slice(1)} name`;
  const nameHint = named.length
    ? null
    : h("span", { class: "field-hint" }, handlers ? `This workflow type announced no ${word} handlers.` : `No worker announced this workflow type's ${word} handlers: type the name.`);
  const fields = [
    h("div", { class: "field" }, h("span", { class: "field-label" }, label), select, typed, nameHint),
    h("div", { class: "field" }, h("span", { class: "field-label" }, "Payload (JSON)"), payload, payloadError, hint),
    schemaBox,
  ];
  return {
    fields,
    /** The name and the parsed payload, or throws with the reason shown next to its field. */
    read() {
      const n = name();
      if (!n) {
        (select && select.value !== OTHER ? select : typed).focus();
        throw new Error(`Choose the ${word} to send.`);
      }
      const parsed = check();
      if (!parsed.ok) {
        payload.focus();
        throw Object.assign(new Error(parsed.message), { shown: true });
      }
      return { name: n, input: parsed.value };
    },
    focus() {
      (select || typed).focus();
    },
  };
}

/** "Send signal": posts to /workflows/signal; `onSent()` runs after the server recorded it. */
export function openSignalDialog(ns, { workflowId, runId, handlers, onSent }) {
  const form = messageForm("signal", handlers);
  // One request id per distinct signal: sending the same one again (after a lost answer) records it once,
  // while a corrected payload is a new signal.
  let last = { body: null, requestId: null };
  const modal = openModal({
    title: "Send a signal",
    description: `To ${workflowId}. It is recorded in the history, then delivered to the workflow's handler of that name.`,
    submitLabel: "Send signal",
    wide: true,
    fields: form.fields,
    onSubmit: async () => {
      const { name, input } = form.read();
      const key = JSON.stringify([name, input]);
      if (key !== last.body) last = { body: key, requestId: randomToken() };
      const answer = await api(nsApi(ns) + "/workflows/signal", {
        method: "POST",
        body: { workflow_id: workflowId, run_id: runId, signal_name: name, input, request_id: last.requestId },
      });
      toast(answer && answer.duplicate ? `Signal ${name} was already sent` : `Signal ${name} sent`);
      if (answer && answer.warning) toast(answer.warning, "warn");
      if (onSent) onSent();
    },
  });
  modal.form.classList.add("message-form", "signal-form");
  form.focus();
  return modal;
}

/** The text of a query's error: the server's message, and the names it knows when it lists them. */
function queryError(err) {
  const known = err && err.details && Array.isArray(err.details.known) ? err.details.known.filter((x) => typeof x === "string") : null;
  let message = err && err.message ? err.message : String(err);
  if (known && known.length && !known.every((k) => message.includes(k))) message += `\nKnown queries: ${known.join(", ")}`;
  else if (known && !known.length && err.code === "unknown_query") message += "\nThis workflow has no query handlers.";
  return message;
}

/** "Query": posts to /workflows/query and shows the answer (or the error) in the dialog, which stays open. */
export function openQueryDialog(ns, { workflowId, runId, handlers }) {
  const form = messageForm("query", handlers);
  const answerBox = h("div", { class: "query-answer", "aria-live": "polite" });
  const modal = openModal({
    title: "Query the workflow",
    description: `Asks ${workflowId}'s worker for an answer from the workflow's current state; nothing is written to its history.`,
    submitLabel: "Run query",
    cancelLabel: "Close",
    wide: true,
    closeOnSubmit: false,
    fields: [...form.fields, answerBox],
    onSubmit: async () => {
      const { name, input } = form.read();
      replace(answerBox);
      let data;
      try {
        data = await api(nsApi(ns) + "/workflows/query", {
          method: "POST",
          body: { workflow_id: workflowId, run_id: runId, query_name: name, input },
        });
      } catch (err) {
        throw new Error(queryError(err));
      }
      const answer = data ? data.answer : null;
      replace(
        answerBox,
        h("div", { class: "query-answer-head" }, h("span", { class: "field-label" }, `Answer of ${name}`), copyButton(() => jsonText(answer), "Copy")),
        jsonView(answer, { max: ANSWER_VIEW_LIMIT }),
      );
    },
  });
  modal.form.classList.add("message-form", "query-form");
  form.focus();
  return modal;
}
