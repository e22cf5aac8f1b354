// Building the page. Every value that came from a user (ids, inputs, results, error messages, stacks) goes
// in as text: h() turns strings into text nodes and sets attributes with setAttribute, and nothing in the UI
// assigns innerHTML. A workflow id such as "<script>…</script>" is shown as those characters.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Create an element. `props` keys: class (string or array), text, style (object), dataset (object),
 * on<event> (a function), value/checked/disabled/hidden/selected (properties), anything else an attribute.
 * Children: nodes, strings and numbers (as text), arrays of those; null, undefined and false are skipped.
 */
export function h(tag, props, ...children) {
  const el = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") {
        const cls = Array.isArray(value) ? value.flat(Infinity).filter(Boolean).join(" ") : value;
        if (cls) el.setAttribute("class", cls);
      } else if (key === "text") {
        el.textContent = String(value);
      } else if (key === "style") {
        for (const [prop, v] of Object.entries(value)) {
          if (prop.startsWith("--")) el.style.setProperty(prop, v);
          else el.style[prop] = v;
        }
      } else if (key === "dataset") {
        for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
      } else if (key.startsWith("on")) {
        if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (["value", "checked", "disabled", "hidden", "selected", "open", "indeterminate"].includes(key)) {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Append children (nodes or text) to `el`. */
export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

/** An <svg> icon from static path data (never from user data). */
export function icon(name, size = 16) {
  const paths = ICONS[name] || ICONS.dot;
  const svg = h("svg:svg", {
    viewBox: "0 0 24 24",
    width: size,
    height: size,
    fill: "none",
    stroke: "currentColor",
    "stroke-width": 2,
    "stroke-linecap": "round",
    "stroke-linejoin": "round",
    "aria-hidden": "true",
    class: "icon",
  });
  for (const d of paths) svg.append(h("svg:path", { d }));
  return svg;
}

const ICONS = {
  dot: ["M12 12h.01"],
  back: ["M15 18l-6-6 6-6"],
  next: ["M9 18l6-6-6-6"],
  download: ["M12 3v12", "M7 10l5 5 5-5", "M5 21h14"],
  copy: ["M9 9h11v11H9z", "M5 15H4V4h11v1"],
  refresh: ["M21 12a9 9 0 1 1-2.6-6.4", "M21 3v6h-6"],
  activity: ["M4 12h4l3-8 4 16 3-8h2"],
  timer: ["M12 8v5l3 2", "M12 21a8 8 0 1 0 0-16 8 8 0 0 0 0 16z", "M9 2h6"],
  task: ["M4 6h16", "M4 12h10", "M4 18h7"],
  workflow: ["M6 3v6", "M6 15v6", "M18 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M6 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z", "M18 9c0 4-6 3-9 6"],
  stop: ["M6 6h12v12H6z"],
  x: ["M18 6 6 18", "M6 6l12 12"],
  play: ["M7 4l13 8-13 8z"],
  chevron: ["M9 6l6 6-6 6"],
  queue: ["M3 7h18", "M3 12h18", "M3 17h12"],
  filter: ["M3 5h18l-7 8v6l-4 2v-8z"],
  signal: ["M12 12h.01", "M8.5 8.5a5 5 0 0 0 0 7", "M15.5 8.5a5 5 0 0 1 0 7", "M5.6 5.6a9 9 0 0 0 0 12.8", "M18.4 5.6a9 9 0 0 1 0 12.8"],
  query: ["M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z", "M21 21l-5-5"],
  update: ["M4 12h11", "M11 7l5 5-5 5", "M20 5v14"],
};

/** A status badge for a workflow status (RUNNING, COMPLETED, …) or an event-group state. */
export function badge(status, extraClass) {
  const s = String(status || "UNKNOWN");
  return h(
    "span",
    { class: ["badge", "badge-" + s.toLowerCase().replace(/[^a-z_]/g, ""), extraClass], title: s },
    s.replace(/_/g, " "),
  );
}

/** A pill that says "N" with a label, for counts. */
export function count(n) {
  return h("span", { class: "count" }, String(n));
}

/** A <section> with a heading and optional tools on its right. */
export function section(title, { tools = null, id = null, cls = null, sub = null } = {}) {
  const body = h("div", { class: "section-body" });
  const el = h(
    "section",
    { class: ["card", cls], id },
    h("div", { class: "section-head" }, h("h2", null, title), sub ? h("span", { class: "muted small" }, sub) : null, h("div", { class: "section-tools" }, tools)),
    body,
  );
  el.body = body;
  return el;
}

/** A one-line message shown where a page or a section would be. */
export function notice(message, kind = "info") {
  return h("div", { class: ["notice", "notice-" + kind], role: kind === "error" ? "alert" : null }, message);
}

/** The message of an API error (or any error), as text. */
export function errorNotice(err, prefix = "") {
  const message = err && err.message ? err.message : String(err);
  return notice(prefix ? `${prefix}: ${message}` : message, "error");
}

/** Copy text to the clipboard; falls back to a hidden text area where the clipboard API is refused. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/** A small transient message at the bottom of the screen. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const el = h("div", { class: ["toast", "toast-" + kind], role: "status" }, message);
  region.append(el);
  setTimeout(() => el.classList.add("leaving"), 3800);
  setTimeout(() => el.remove(), 4300);
}

/** A button that copies `getText()` and says so. */
export function copyButton(getText, label = "Copy") {
  const btn = h(
    "button",
    { type: "button", class: "btn btn-ghost btn-small", title: label || "Copy", "aria-label": label || "Copy" },
    icon("copy", 14),
    label ? h("span", null, label) : null,
  );
  btn.addEventListener("click", async () => {
    const ok = await copyText(getText());
    toast(ok ? "Copied" : "Could not copy", ok ? "info" : "error");
  });
  return btn;
}
