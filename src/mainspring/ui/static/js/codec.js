// Payloads a codec encoded ({"$payload": {"metadata": {...}, "data": "<base64>"}}; see mainspring._codec):
// the server cannot read them, so without a codec server the page shows them as "encrypted" rather than
// as base64. With one (the server's --ui-codec-endpoint), every API answer's payloads are decoded through
// its POST /decode, from this browser, and the payloads the page sends are encoded through POST /encode:
// the keys stay with the codec server, and the Mainspring server never sees clear text.

export const PAYLOAD_KEY = "$payload";
const JSON_PLAIN = "json/plain";
// The request fields that hold payloads (as mainspring._codec.PAYLOAD_FIELDS).
const PAYLOAD_FIELDS = new Set(["input", "signal_input", "result", "details", "heartbeat_details", "memo"]);

/** Whether `value` is an encoded payload. */
export function isEncoded(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) && PAYLOAD_KEY in value && Object.keys(value).length === 1;
}

/** The encoding an encoded payload's metadata names (e.g. "binary/encrypted"). */
export function encodingOf(value) {
  try {
    return utf8(atob(value[PAYLOAD_KEY].metadata.encoding));
  } catch {
    return "unknown";
  }
}

function utf8(binary) {
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

function base64(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

let settings = null;
/** Why the codec server last failed (shown in the "encrypted" badges' tooltips), or null. */
export let codecProblem = null;

/** The codec server's URL, or null (read once from the UI's settings). */
export function codecEndpoint() {
  if (settings === null) {
    settings = fetch("/ui-settings.json", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : {}))
      .then((s) => s.codec_endpoint || null)
      .catch(() => null);
  }
  return settings;
}

// Asked as the page loads, so that sending a payload later does not wait for it.
codecEndpoint();

async function post(endpoint, what, payloads, namespace) {
  const response = await fetch(`${endpoint}/${what}`, {
    method: "POST",
    // The session cookie goes along to a codec server on this host (cookies are not per port), which may
    // ask the Mainspring server who it is before it decodes (codec-server --auth-server).
    credentials: "include",
    headers: { "content-type": "application/json", "x-namespace": namespace },
    body: JSON.stringify({ payloads }),
  });
  if (!response.ok) throw new Error(`the codec server answered ${response.status}`);
  const answer = await response.json();
  if (!answer || !Array.isArray(answer.payloads) || answer.payloads.length !== payloads.length) {
    throw new Error("the codec server's answer is not one payload per payload sent");
  }
  return answer.payloads;
}

function findMarks(value, found, container = null, key = null) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => findMarks(v, found, value, i));
  } else if (value !== null && typeof value === "object") {
    if (isEncoded(value)) {
      found.push([container, key, value]);
      return;
    }
    for (const [k, v] of Object.entries(value)) findMarks(v, found, value, k);
  }
}

/** `data` (an API answer) with its encoded payloads decoded through the codec server, if there is one. */
export async function decodeAll(data, namespace) {
  const found = [];
  findMarks(data, found);
  if (!found.length) return data;
  const endpoint = await codecEndpoint();
  if (!endpoint) return data;
  let decoded;
  try {
    decoded = await post(endpoint, "decode", found.map(([, , mark]) => mark[PAYLOAD_KEY]), namespace);
    codecProblem = null;
  } catch (err) {
    codecProblem = `could not decode through ${endpoint}: ${err.message || err}`;
    return data; // shown as "encrypted"
  }
  let root = data;
  decoded.forEach((p, i) => {
    const [container, key] = found[i];
    let value;
    try {
      const encoding = p.metadata && p.metadata.encoding ? utf8(atob(p.metadata.encoding)) : JSON_PLAIN;
      if (encoding !== JSON_PLAIN) return; // still encoded (another codec's): left as it is
      value = JSON.parse(utf8(atob(p.data || "")));
    } catch {
      return;
    }
    if (container === null) root = value;
    else container[key] = value;
  });
  return root;
}

/** `body` (a request) with its payload fields encoded through the codec server, if there is one. */
export async function encodeBody(body, namespace) {
  if (body === null || typeof body !== "object") return body;
  const endpoint = await codecEndpoint();
  if (!endpoint) return body;
  const slots = [];
  const copy = { ...body };
  for (const [k, v] of Object.entries(copy)) {
    if (!PAYLOAD_FIELDS.has(k) || v === null || v === undefined || isEncoded(v)) continue;
    if (k === "memo" && typeof v === "object" && !Array.isArray(v)) {
      copy[k] = { ...v };
      for (const [mk, mv] of Object.entries(v)) if (mv !== null) slots.push([copy[k], mk, mv]);
    } else {
      slots.push([copy, k, v]);
    }
  }
  if (!slots.length) return body;
  const plain = slots.map(([, , v]) => ({ metadata: { encoding: btoa(JSON_PLAIN) }, data: base64(JSON.stringify(v)) }));
  const encoded = await post(endpoint, "encode", plain, namespace);
  encoded.forEach((p, i) => {
    const [container, key] = slots[i];
    container[key] = { [PAYLOAD_KEY]: p };
  });
  return copy;
}
