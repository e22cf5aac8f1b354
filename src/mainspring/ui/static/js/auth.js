// Who the user is, for a server that checks (server start --auth api-key): the login form, the session's
// CSRF token (sent on every request that changes something), and the user's role in each namespace, which
// decides what the UI offers. The server checks every call itself: hiding a button is a courtesy, not the
// protection.

import { h, replace } from "./dom.js";

// The roles that give each kind of action (the server's api/roles.py ALLOWED).
const ALLOWED = {
  read: ["reader", "writer", "admin"],
  write: ["writer", "admin"],
  admin: ["admin"],
};

let me = { auth: "none", authenticated: true, name: null, grants: [{ namespace: "*", role: "admin" }] };

/** The CSRF token of the UI's session, if it has one. */
export function csrfToken() {
  return me.csrf_token || null;
}

export function authOn() {
  return me.auth !== "none";
}

export function signedIn() {
  return me.authenticated;
}

export function userName() {
  return me.name;
}

/** The user's role in `ns` (a grant of that namespace beats one of every namespace), or null. */
export function roleIn(ns) {
  const exact = me.grants.find((g) => g.namespace === ns);
  if (exact) return exact.role;
  const every = me.grants.find((g) => g.namespace === "*");
  return every ? every.role : null;
}

/** Whether the user may `access` ("read", "write", "admin") in `ns`. */
export function may(access, ns) {
  const role = roleIn(ns);
  return role !== null && ALLOWED[access].includes(role);
}

/** Only the namespaces the user holds a role in (all of them with a grant of every namespace). */
export function visibleNamespaces(names) {
  if (me.grants.some((g) => g.namespace === "*")) return names;
  return names.filter((n) => me.grants.some((g) => g.namespace === n));
}

async function call(path, init) {
  const response = await fetch("/api/v1/auth/" + path, { cache: "no-store", ...init });
  const data = await response.json().catch(() => null);
  return { response, data };
}

/** Ask the server who the user is (the session cookie, if any, goes with the request). */
export async function loadMe() {
  try {
    const { response, data } = await call("me", { headers: { accept: "application/json" } });
    if (response.ok && data) me = data;
  } catch {
    // An unreachable server: the pages say so when they call it.
  }
  return me;
}

/** Put `body.dataset.role` for the CSS that hides what the role does not allow (see style.css). */
export function markRole(ns) {
  const role = roleIn(ns);
  document.body.dataset.role = role || "none";
}

export async function logOut() {
  const headers = { "content-type": "application/json", accept: "application/json" };
  const token = csrfToken();
  if (token) headers["x-csrf-token"] = token;
  await call("logout", { method: "POST", headers, body: "{}" }).catch(() => null);
  location.reload();
}

/** Draw the login form in `container`; resolves once the user is signed in. */
export function showLogin(container, message = null) {
  return new Promise((resolve) => {
    const input = h("input", {
      type: "password",
      name: "api_key",
      autocomplete: "current-password",
      placeholder: "msk_…",
      required: true,
      "aria-label": "API key",
    });
    const said = new URLSearchParams(location.search).get("login_error");
    if (said && !message) message = said; // the issuer's login came back refused
    const error = h("p", { class: "form-error", role: "alert", hidden: !message }, message || "");
    const sso = me.oidc_login
      ? h(
          "p",
          { class: "login-sso" },
          h("a", { class: "btn", href: "/api/v1/auth/oidc/login?return_to=" + encodeURIComponent(location.pathname), dataset: { action: "sso-login" } }, "Log in with your identity provider"),
        )
      : null;
    const form = h(
      "form",
      { class: "card login-card" },
      h("h1", {}, "Log in"),
      h("p", { class: "muted" }, "This server checks who calls. Paste an API key (an admin makes one with ", h("code", {}, "mainspring operator api-key create"), ")."),
      h("label", { class: "field" }, h("span", {}, "API key"), input),
      error,
      h("div", { class: "modal-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Log in")),
      sso,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      const { response, data } = await call("login", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ api_key: input.value.trim() }),
      }).catch(() => ({ response: { ok: false }, data: { message: "The server did not answer (is it running?)" } }));
      if (response.ok && data) {
        me = data;
        input.value = "";
        resolve(me);
        return;
      }
      error.textContent = (data && data.message) || "The key was refused.";
      error.hidden = false;
    });
    replace(container, h("div", { class: "page-inner login-page" }, form));
    input.focus();
  });
}
