// Formatting times, durations and JSON values for display (as text).

import { codecProblem, encodingOf, isEncoded } from "./codec.js";
import { h } from "./dom.js";

const TZ_KEY = "mainspring.timezone";

/** "utc" or "local": how times are shown (the header's toggle; remembered by this browser). */
export function timeZone() {
  try {
    return localStorage.getItem(TZ_KEY) === "local" ? "local" : "utc";
  } catch {
    return "utc";
  }
}

export function setTimeZone(tz) {
  try {
    localStorage.setItem(TZ_KEY, tz);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

/** Milliseconds since the epoch from an RFC 3339 string (or null). */
export function ms(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

function parts(t) {
  const d = new Date(t);
  const utc = timeZone() === "utc";
  const get = (u, l) => (utc ? d[u]() : d[l]());
  return {
    year: get("getUTCFullYear", "getFullYear"),
    month: get("getUTCMonth", "getMonth"),
    day: get("getUTCDate", "getDate"),
    hour: get("getUTCHours", "getHours"),
    minute: get("getUTCMinutes", "getMinutes"),
    second: get("getUTCSeconds", "getSeconds"),
    milli: get("getUTCMilliseconds", "getMilliseconds"),
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n) => String(n).padStart(2, "0");

/** The zone label shown next to times: "UTC" or the browser's offset, e.g. "UTC+1". */
export function zoneLabel() {
  if (timeZone() === "utc") return "UTC";
  const off = -new Date().getTimezoneOffset();
  if (off === 0) return "UTC";
  const sign = off > 0 ? "+" : "-";
  const a = Math.abs(off);
  return `UTC${sign}${Math.floor(a / 60)}${a % 60 ? ":" + p2(a % 60) : ""}`;
}

/** "Nov 26, 2026, 01:43:16.708" (with milliseconds), in the chosen zone. */
export function fmtTime(iso, { millis = true, year = true } = {}) {
  const t = typeof iso === "number" ? iso : ms(iso);
  if (t === null) return "—";
  const p = parts(t);
  const time = `${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)}${millis ? "." + String(p.milli).padStart(3, "0") : ""}`;
  return `${MONTHS[p.month]} ${p.day}${year ? ", " + p.year : ""}, ${time}`;
}

/** Short form for tables: the year only when it is not this year. */
export function fmtTimeShort(iso) {
  const t = ms(iso);
  if (t === null) return "—";
  const thisYear = parts(Date.now()).year === parts(t).year;
  return fmtTime(t, { millis: false, year: !thisYear });
}

/** Time of day only: "01:43:16.708". */
export function fmtClock(t) {
  const p = parts(t);
  return `${p2(p.hour)}:${p2(p.minute)}:${p2(p.second)}.${String(p.milli).padStart(3, "0")}`;
}

/** A duration in milliseconds: "0.4 ms", "512 ms", "1.23 s", "2 m 3 s", "1 h 2 m", "3 d 4 h". */
export function fmtDuration(d) {
  if (d === null || d === undefined || Number.isNaN(d)) return "—";
  if (d < 0) d = 0;
  if (d < 1) return `${d.toFixed(1)} ms`;
  if (d < 1000) return `${Math.round(d)} ms`;
  const s = d / 1000;
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.floor(s % 60)} s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return `${hrs} h ${m % 60} m`;
  return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
}

/** A duration in seconds, as short as a label wants it: "250ms", "30s", "1.5s", "2m", "2m30s", "1h30m", "2d". */
export function fmtShortDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${Number(seconds.toFixed(seconds < 10 ? 2 : 1))}s`;
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const out = [];
  let rest = Math.round(seconds);
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n && out.length < 2) out.push(`${n}${name}`);
    else if (out.length) break; // "1h30m", never "1h0m5s"
  }
  return out.join("");
}

/** "1 workflow task", "2 workflow tasks". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "just now", "5 s ago", "3 m ago", "in 2 m". */
export function fmtRelative(iso, now = Date.now()) {
  const t = typeof iso === "number" ? iso : ms(iso);
  if (t === null) return "—";
  const d = now - t;
  if (Math.abs(d) < 1500) return "just now";
  const text = fmtDuration(Math.abs(d)).replace(/\.\d+ s$/, " s");
  return d > 0 ? `${text} ago` : `in ${text}`;
}

/** A time element: the short form, with the full time and the zone in its tooltip. */
export function timeCell(iso, { short = true } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: `${fmtTime(iso)} ${zoneLabel()} (${fmtRelative(iso)})` }, short ? fmtTimeShort(iso) : fmtTime(iso));
}

/** JSON text of a value (pretty), tolerant of anything. */
export function jsonText(value, indent = 2) {
  try {
    const text = JSON.stringify(value, null, indent);
    return text === undefined ? "null" : text;
  } catch {
    return String(value);
  }
}

/** What an encoded payload is called where it is shown: "encrypted", or "encoded" (compressed, say). */
function encodedLabel(value) {
  const encoding = encodingOf(value);
  return `${/encrypt/i.test(encoding) ? "encrypted" : "encoded"} (${encoding})`;
}

function previewReplacer(key, value) {
  return isEncoded(value) ? `🔒 ${encodedLabel(value)}` : value;
}

/** A badge in place of an encoded payload: what it is, not its base64. */
export function encodedBadge(value) {
  const why = codecProblem
    ? `This payload is encoded, and the codec server failed: ${codecProblem}`
    : "This payload is encoded by a payload codec; the server cannot read it. A codec server (the server's " +
      "--ui-codec-endpoint) lets this page show it decoded.";
  return h("span", { class: "encoded-badge", title: why, "data-encoding": encodingOf(value) }, `🔒 ${encodedLabel(value)}`);
}

/** A one-line preview of a JSON value, cut at `max` characters. */
export function preview(value, max = 120) {
  if (isEncoded(value)) return `🔒 ${encodedLabel(value)}`;
  let text;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value, previewReplacer) ?? "null";
  } catch {
    text = String(value);
  }
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

const HIGHLIGHT_LIMIT = 200_000;

/**
 * A <pre> showing a JSON value, syntax-coloured (every token is a text node). With `max`, a value whose text
 * is longer is cut there (a huge payload would make the page crawl), with a button to show all of it.
 */
export function jsonView(value, { cls = null, max = null } = {}) {
  const pre = h("pre", { class: ["json", cls] });
  const text = jsonText(value);
  if (max !== null && text.length > max) {
    pre.classList.add("json-clipped");
    pre.textContent = text.slice(0, max);
    const more = h("button", { type: "button", class: "btn btn-small json-more" }, `Show all (${(text.length - max).toLocaleString("en-US")} more characters)`);
    more.addEventListener("click", () => {
      pre.classList.remove("json-clipped");
      pre.textContent = text;
    });
    pre.append("\n… ", more);
    return pre;
  }
  if (text.length > HIGHLIGHT_LIMIT) {
    pre.textContent = text;
    return pre;
  }
  render(pre, value, 0);
  return pre;
}

function render(out, value, depth) {
  const pad = "  ".repeat(depth);
  if (value === null || value === undefined) {
    out.append(h("span", { class: "j-null" }, "null"));
  } else if (typeof value === "string") {
    out.append(h("span", { class: "j-str" }, JSON.stringify(value)));
  } else if (typeof value === "number") {
    out.append(h("span", { class: "j-num" }, String(value)));
  } else if (typeof value === "boolean") {
    out.append(h("span", { class: "j-bool" }, String(value)));
  } else if (Array.isArray(value)) {
    if (value.length === 0) {
      out.append("[]");
      return;
    }
    out.append("[\n");
    value.forEach((item, i) => {
      out.append(pad + "  ");
      render(out, item, depth + 1);
      out.append(i < value.length - 1 ? ",\n" : "\n");
    });
    out.append(pad + "]");
  } else if (isEncoded(value)) {
    out.append(encodedBadge(value));
  } else if (typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) {
      out.append("{}");
      return;
    }
    out.append("{\n");
    keys.forEach((k, i) => {
      out.append(pad + "  ", h("span", { class: "j-key" }, JSON.stringify(k)), ": ");
      render(out, value[k], depth + 1);
      out.append(i < keys.length - 1 ? ",\n" : "\n");
    });
    out.append(pad + "}");
  } else {
    out.append(String(value));
  }
}
