// Talking to a running workflow from its page: "Send signal", "Query" and "Run update" dialogs. The names offered are the
// handlers the run's workflow type announced (describe's `handlers`); a type that announced none (a function
// workflow, or no worker polled yet) takes a typed name. The payload is JSON, checked here as far as
// payload_schema.js can (valid JSON, the top-level type, an object's required fields) so a slip is caught
// before anything is sent; the server checks the rest against the same schema, and its message, which names
// the field, is shown as it is. All three post to the same endpoints the CLI and the SDK use.

import { api, nsApi } from "./api.js";
import { h, copyButton, replace, toast } from "./dom.js";
import { openModal } from "./dialog.js";
import { jsonText, jsonView } from "./format.js";
import { payloadExample, payloadHint, payloadProblem } from "./payload_schema.js";

/** An answer longer than this (characters of pretty JSON) is cut in the view; Copy still copies all of it. */
export const ANSWER_VIEW_LIMIT = 20_000;

const KIND_WORD = { signal: "signal", query: "query", update: "update" };

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
export function messageForm(kind, handlers) {
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

/** The text of a query's or an update's refusal: the server's message, and the names it knows when it lists them. */
function refusal(err, kind) {
  const known = err && err.details && Array.isArray(err.details.known) ? err.details.known.filter((x) => typeof x === "string") : null;
  let message = err && err.message ? err.message : String(err);
  if (known && known.length && !known.every((k) => message.includes(k))) message += `\nKnown ${kind === "query" ? "queries" : kind + "s"}: ${known.join(", ")}`;
  else if (known && !known.length && err.code === `unknown_${kind}`) message += `\nThis workflow has no ${kind} handlers.`;
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
        throw new Error(refusal(err, "query"));
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

/** How long one request of the update dialog waits for the outcome (seconds); it asks again while it has none. */
export const UPDATE_WAIT_SECONDS = 10;

const REASK_MIN_MS = 1000;

/** Resolve after `ms`, or reject with an AbortError as soon as `signal` aborts. */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const aborted = () => reject(new DOMException("stopped waiting", "AbortError"));
    if (signal.aborted) return aborted();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), aborted()), { once: true });
  });
}

// Rejections that are not the validator's: made by the worker (no handler of that name, a payload that does
// not decode) or by the server (a worker that does not know updates).
const NOT_THE_VALIDATOR = new Set(["UnknownUpdate", "InvalidInput", "UpdateNotHandled"]);

/**
 * What an update's outcome says, for the dialog: { kind: "result"|"rejected"|"failed"|"closed", heading, text }.
 * `answer` is the server's answer at stage COMPLETED.
 */
export function updateOutcome(answer) {
  const f = answer && answer.failure && typeof answer.failure === "object" ? answer.failure : null;
  if (!f) return { kind: "result", heading: "Result", value: answer ? answer.result : null };
  const message = typeof f.message === "string" && f.message ? f.message : "(no message)";
  const typed = typeof f.type === "string" && f.type ? `${f.type}: ${message}` : message;
  if (answer.rejected) {
    const byValidator = !NOT_THE_VALIDATOR.has(f.type);
    return {
      kind: "rejected",
      heading: byValidator ? "Rejected by the validator" : "Rejected by the workflow",
      text: byValidator ? typed : message,
      note: "The update was not accepted: nothing was recorded in the history.",
    };
  }
  if (f.type === "WorkflowClosed" && f.kind === "server") {
    return { kind: "closed", heading: "Not completed", text: message, note: "The workflow closed first." };
  }
  return { kind: "failed", heading: "The handler failed", text: typed, note: "It was accepted and its failure is recorded in the history." };
}

/**
 * "Run update": posts to /workflows/update, waiting for stage COMPLETED, and asks again (the same request:
 * it is applied once by its update id) until the outcome is there; shows the result, the rejection or the
 * failure in the dialog, which stays open. `onRecorded()` runs once the workflow accepted an update (its
 * events are in the history).
 */
export function openUpdateDialog(ns, { workflowId, runId, handlers, onRecorded }) {
  const form = messageForm("update", handlers);
  const answerBox = h("div", { class: "update-answer", "aria-live": "polite" });
  // One update id per distinct (name, payload) until its outcome arrives: sending it again after a lost
  // answer (the server did not answer, or the dialog stopped waiting) is the same update, applied once.
  // Once an outcome was shown, the next send is a new update.
  let pending = { key: null, updateId: null };
  let controller = null;
  const modal = openModal({
    title: "Run an update",
    description: `Asks ${workflowId} to run an update handler: its validator may reject it (nothing is recorded); once accepted, it is recorded in the history with its result.`,
    submitLabel: "Run update",
    cancelLabel: "Close",
    wide: true,
    closeOnSubmit: false,
    fields: [...form.fields, answerBox],
    onSubmit: async () => {
      const { name, input } = form.read();
      const key = JSON.stringify([name, input]);
      if (key !== pending.key) pending = { key, updateId: randomToken() };
      const body = { workflow_id: workflowId, run_id: runId, update_id: pending.updateId, name, input, wait_for_stage: "COMPLETED", wait: UPDATE_WAIT_SECONDS };
      controller = new AbortController();
      const stage = h("p", { class: "update-stage muted small" }, "Sent: waiting for the workflow to accept it…");
      replace(answerBox, stage);
      let data;
      let recorded = false;
      const sentAt = Date.now();
      try {
        for (;;) {
          const asked = Date.now();
          data = await api(nsApi(ns) + "/workflows/update", { method: "POST", body, signal: controller.signal });
          if (!data || data.stage === "COMPLETED") break;
          if (data.stage === "ACCEPTED" && !recorded) {
            recorded = true;
            stage.textContent = "Accepted: waiting for its handler to finish…";
            if (onRecorded) onRecorded();
          } else if (data.stage === "ADMITTED" && Date.now() - sentAt >= 5000) {
            // Nothing took it yet: the workflow's worker is down, or busy. The dialog waits until closed.
            const waited = Math.round((Date.now() - sentAt) / 1000);
            stage.textContent = `Still waiting for a worker to take it (${waited} s): is one polling the workflow's task queue? Close the dialog to stop waiting; sending it again later is the same update.`;
          }
          // A server with a short --max-poll-wait answers at once: ask again at most once a second.
          const early = REASK_MIN_MS - (Date.now() - asked);
          if (early > 0) await pause(early, controller.signal);
        }
      } catch (err) {
        if (err && err.name === "AbortError") return; // the dialog closed: nobody is waiting
        replace(answerBox);
        // A 4xx is the server's answer (the update was not admitted); anything else may have been lost on
        // the way, and the same update id is used when it is sent again.
        if (err && err.status >= 400 && err.status < 500) pending = { key: null, updateId: null };
        throw new Error(refusal(err, "update"));
      } finally {
        controller = null;
      }
      pending = { key: null, updateId: null };
      const outcome = updateOutcome(data);
      if (outcome.kind !== "rejected" && onRecorded) onRecorded();
      if (outcome.kind === "result") {
        const value = outcome.value;
        replace(
          answerBox,
          h("div", { class: "query-answer-head" }, h("span", { class: "field-label" }, `Result of ${name}`), copyButton(() => jsonText(value), "Copy")),
          jsonView(value, { max: ANSWER_VIEW_LIMIT }),
        );
      } else {
        replace(
          answerBox,
          h(
            "div",
            { class: ["update-outcome", "update-" + outcome.kind], role: "alert" },
            h("strong", { class: "update-outcome-head" }, outcome.heading),
            h("p", { class: "update-outcome-text mono" }, outcome.text),
            outcome.note ? h("p", { class: "muted small" }, outcome.note) : null,
          ),
        );
      }
    },
  });
  modal.dialog.addEventListener("close", () => controller && controller.abort());
  modal.form.classList.add("message-form", "update-form");
  form.focus();
  return modal;
}
