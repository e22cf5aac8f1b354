// The HTTP API, as the CLI and the SDK use it. The UI is served on the same port as a copy of the API,
// so every call is same-origin. With auth on, the session cookie goes with each call, and a call that
// changes something carries the session's CSRF token (auth.js). Payloads a codec encoded are decoded (and
// the payloads sent encoded) through the codec server, if the server names one (codec.js).

import { csrfToken } from "./auth.js";
import { decodeAll, encodeBody } from "./codec.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * Call the API: `path` is under /api/v1; `query` values that are null, undefined or "" are left out.
 * Resolves to the parsed JSON answer; rejects with an ApiError carrying the server's message.
 */
export async function api(path, { method = "GET", query = null, body = undefined, signal = undefined } = {}) {
  const url = new URL("/api/v1" + path, location.origin);
  if (query) {
    for (const [key, value] of Object.entries(query)) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, String(value));
    }
  }
  const init = { method, signal, cache: "no-store", headers: { accept: "application/json" } };
  const namespace = decodeURIComponent((path.match(/^\/namespaces\/([^/]+)/) || [null, "default"])[1]);
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    try {
      init.body = JSON.stringify(await encodeBody(body, namespace));
    } catch (err) {
      throw new ApiError(0, "codec_unreachable", `The payload could not be encoded through the codec server: ${err.message || err}`);
    }
  }
  const token = method !== "GET" ? csrfToken() : null;
  if (token) init.headers["x-csrf-token"] = token;
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "unreachable", "The server did not answer (is it running?)");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.status === 401) {
    // The session ended (expired, or its key was revoked): back to the login form.
    window.dispatchEvent(new CustomEvent("mainspring:unauthenticated", { detail: data && data.message }));
  }
  if (!response.ok) {
    const message =
      data && typeof data.message === "string" ? data.message : `${response.status} ${response.statusText || "error"}`;
    throw new ApiError(response.status, data && data.code ? data.code : `http_${response.status}`, message, data && data.details);
  }
  return decodeAll(data, namespace);
}

/** The API path of a namespace: /namespaces/{ns}. */
export function nsApi(ns) {
  return "/namespaces/" + encodeURIComponent(ns);
}

/** The UI's own paths. */
export const paths = {
  workflows: (ns, query) => `/namespaces/${encodeURIComponent(ns)}/workflows${query ? "?" + query : ""}`,
  workflow: (ns, workflowId) => `/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(workflowId)}`,
  run: (ns, workflowId, runId) =>
    `/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}`,
  taskQueues: (ns) => `/namespaces/${encodeURIComponent(ns)}/task-queues`,
  taskQueue: (ns, name) => `/namespaces/${encodeURIComponent(ns)}/task-queues/${encodeURIComponent(name)}`,
  schedules: (ns) => `/namespaces/${encodeURIComponent(ns)}/schedules`,
  cluster: () => "/cluster",
};

/**
 * Every event of a run's history from event `first` on, page by page (the server caps a page's size).
 * `onPage(countSoFar)` is called after each page, for progress.
 */
export async function fetchHistory(ns, workflowId, runId, { first = 1, signal = undefined, onPage = null } = {}) {
  const events = [];
  let token = null;
  for (;;) {
    const page = await api(nsApi(ns) + "/workflows/history", {
      query: { workflow_id: workflowId, run_id: runId, first_event_id: token ? null : first, page_token: token, limit: 1000 },
      signal,
    });
    events.push(...page.events);
    if (onPage) onPage(events.length);
    if (!page.next_page_token || page.events.length === 0) break;
    token = page.next_page_token;
  }
  return events;
}
