// The single page's router and chrome (top bar, namespace switcher, time zone toggle, start button).
// The server answers every /namespaces/... path with index.html, so the path alone says what to draw and a
// reload or a pasted link lands on the same page. Pages are modules with mount(container, ctx) -> dispose().

import { api, paths } from "./api.js";
import { h, replace, errorNotice } from "./dom.js";
import { timeZone, setTimeZone } from "./format.js";
import { openStartDialog } from "./start_dialog.js";
import { authOn, loadMe, logOut, markRole, showLogin, signedIn, userName, visibleNamespaces } from "./auth.js";
import * as workflowsPage from "./pages/workflows.js";
import * as runPage from "./pages/run.js";
import * as taskQueuesPage from "./pages/task_queues.js";
import * as clusterPage from "./pages/cluster.js";
import * as schedulesPage from "./pages/schedules.js";

// Path patterns, most specific last; ":name" segments are captured (already percent-decoded).
const ROUTES = [
  { parts: ["namespaces", ":ns", "workflows"], page: "workflows", mount: workflowsPage.mount },
  { parts: ["namespaces", ":ns", "workflows", ":workflowId"], page: "workflows", mount: runPage.mount },
  { parts: ["namespaces", ":ns", "workflows", ":workflowId", ":runId"], page: "workflows", mount: runPage.mount },
  { parts: ["namespaces", ":ns", "task-queues"], page: "task-queues", mount: taskQueuesPage.mount },
  { parts: ["namespaces", ":ns", "task-queues", ":name"], page: "task-queues", mount: taskQueuesPage.mount },
  { parts: ["namespaces", ":ns", "schedules"], page: "schedules", mount: schedulesPage.mount },
  // The servers sharing the store: of no namespace (the chrome keeps the last one the user was in).
  { parts: ["cluster"], page: "cluster", mount: clusterPage.mount },
];

let current = null; // { route, params, dispose }
let namespaces = null; // names, once fetched
let lastNs = "default"; // the namespace of the last namespaced page, for the pages of none

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Match the location against ROUTES: { route, params } or null. */
function match(pathname) {
  // Split before decoding: a workflow id may contain "/" (sent as %2F) and stays one segment.
  const segments = pathname.split("/").filter((s) => s !== "");
  for (const route of ROUTES) {
    if (route.parts.length !== segments.length) continue;
    const params = {};
    let ok = true;
    route.parts.forEach((part, i) => {
      if (part.startsWith(":")) params[part.slice(1)] = decode(segments[i]);
      else if (part !== segments[i]) ok = false;
    });
    if (ok) return { route, params };
  }
  return null;
}

/** Go to a path of the UI without reloading (pushes a history entry unless `replace`). */
export function navigate(path, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render({ scroll: !replaceEntry });
}

function render({ scroll = false } = {}) {
  if (current && current.dispose) {
    try {
      current.dispose();
    } catch (err) {
      console.error(err);
    }
  }
  current = null;
  const app = document.getElementById("app");
  const found = match(location.pathname);
  if (!found) {
    // "/namespaces/x" alone, or a typo: the workflows of that namespace (or of default).
    const segments = location.pathname.split("/").filter(Boolean);
    const ns = segments[0] === "namespaces" && segments[1] ? decode(segments[1]) : "default";
    history.replaceState(null, "", paths.workflows(ns));
    render();
    return;
  }
  const { route, params } = found;
  if (params.ns === undefined) params.ns = lastNs;
  else lastNs = params.ns;
  updateChrome(params.ns, route.page);
  const container = h("div", { class: "page-inner" });
  replace(app, container);
  if (scroll) window.scrollTo(0, 0);
  const ctx = { ns: params.ns, params, query: new URLSearchParams(location.search), navigate };
  let dispose = null;
  try {
    dispose = route.mount(container, ctx);
  } catch (err) {
    console.error(err);
    replace(container, errorNotice(err, "This page could not be drawn"));
  }
  current = { route, params, dispose };
}

/** The namespace select, the nav links and their targets follow the page's namespace. */
function updateChrome(ns, page) {
  document.querySelectorAll("[data-nav]").forEach((a) => {
    const nav = a.dataset.nav;
    const target =
      nav === "task-queues" ? paths.taskQueues(ns) : nav === "schedules" ? paths.schedules(ns) : nav === "cluster" ? paths.cluster() : paths.workflows(ns);
    a.setAttribute("href", target);
    if (a.dataset.nav === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  document.querySelector("[data-brand]").setAttribute("href", paths.workflows(ns));
  markRole(ns);
  fillNamespaces(ns);
}

function fillNamespaces(ns) {
  const select = document.getElementById("namespace-select");
  const names = namespaces ? [...namespaces] : [];
  if (!names.includes(ns)) names.push(ns); // a namespace typed into the address bar still shows
  replace(
    select,
    names.map((name) => h("option", { value: name, selected: name === ns }, name)),
  );
  select.value = ns;
}

async function loadNamespaces() {
  try {
    const data = await api("/namespaces");
    namespaces = visibleNamespaces(data.namespaces.map((n) => n.name));
  } catch (err) {
    namespaces = null;
    console.warn("could not list namespaces", err);
  }
  if (current) fillNamespaces(current.params.ns);
}

function onNamespaceChange(event) {
  const ns = event.target.value;
  // The same kind of page in the other namespace; a run belongs to one namespace, so go to its list.
  const page = current ? current.route.page : "workflows";
  navigate(page === "task-queues" ? paths.taskQueues(ns) : page === "schedules" ? paths.schedules(ns) : paths.workflows(ns));
}

function showZone() {
  const button = document.getElementById("tz-toggle");
  const utc = timeZone() === "utc";
  button.textContent = utc ? "UTC" : "Local";
  button.setAttribute("aria-pressed", String(!utc));
  button.title = utc ? "Times are in UTC; click for this browser's time zone" : "Times are in this browser's time zone; click for UTC";
}

function onZoneToggle() {
  setTimeZone(timeZone() === "utc" ? "local" : "utc");
  showZone();
  // Every time on the page is text drawn in the old zone: draw the page again.
  render();
}

/** Links to the UI's own pages change the page without a reload; other links behave as usual. */
function onClick(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  const a = event.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname.startsWith("/namespaces/") || url.pathname === paths.cluster())) return;
  event.preventDefault();
  if (url.pathname + url.search === location.pathname + location.search) return;
  navigate(url.pathname + url.search + url.hash);
}

/** With auth on: who is signed in, and a way out (the session ends on the server too). */
function showUser() {
  const tools = document.querySelector(".topbar-tools");
  let box = document.getElementById("user-box");
  if (!authOn() || !signedIn()) {
    if (box) box.remove();
    return;
  }
  if (!box) {
    box = h("span", { id: "user-box", class: "user-box" });
    tools.append(box);
  }
  replace(
    box,
    h("span", { class: "user-name muted", title: "Signed in as" }, userName() || ""),
    h("button", { type: "button", class: "btn", dataset: { action: "log-out" }, onClick: () => logOut() }, "Log out"),
  );
}

async function signIn(message = null) {
  document.body.dataset.role = "none";
  await showLogin(document.getElementById("app"), message);
  showUser();
  render();
  loadNamespaces();
}

async function start() {
  await loadMe();
  window.addEventListener("mainspring:unauthenticated", (event) => {
    if (authOn()) signIn(event.detail || "Your session ended: log in again.");
  });
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => render());
  document.getElementById("namespace-select").addEventListener("change", onNamespaceChange);
  document.getElementById("tz-toggle").addEventListener("click", onZoneToggle);
  document.getElementById("start-workflow-button").addEventListener("click", () => {
    const ns = current ? current.params.ns : "default";
    openStartDialog(ns, { onStarted: (run) => navigate(paths.run(ns, run.workflow_id, run.run_id)) });
  });
  showZone();
  if (authOn() && !signedIn()) {
    await signIn();
    return;
  }
  showUser();
  render();
  loadNamespaces();
}

start();
