// A first look at a message's payload against the JSON schema its handler announced, in the page: enough to
// catch the common mistakes before anything is sent (a string where an object is wanted, a missing field).
// It checks only the top level; the server checks the whole schema, and its message (which names the field)
// is shown as it is. Anything this cannot read (an odd $ref, a schema keyword it does not know) is left to
// the server rather than refused here.

const WORDS = {
  object: "a JSON object",
  array: "a JSON list",
  string: "a string (in double quotes)",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  null: "no payload (leave it empty)",
};

const GOT = { object: "an object", array: "a list", string: "a string", integer: "a number", number: "a number", boolean: "true/false", null: "empty" };

/** Follow a local "$ref" ("#/$defs/Item") within `root`; null when it cannot be followed. */
function resolve(schema, root, hops = 0) {
  if (!schema || typeof schema !== "object") return null;
  if (typeof schema.$ref !== "string") return schema;
  if (hops > 20) return null;
  const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(schema.$ref);
  const defs = m && root && root[m[1]];
  if (!defs || !Object.prototype.hasOwnProperty.call(defs, decodeURIComponent(m[2]))) return null;
  return resolve(defs[decodeURIComponent(m[2])], root, hops + 1);
}

/** The JSON types a schema allows at its top level, or null when it does not say (anything goes here). */
function typesOf(schema, root, depth = 0) {
  const s = resolve(schema, root);
  if (!s || depth > 10) return null;
  if (typeof s.type === "string") return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type.filter((t) => typeof t === "string"));
  const alternatives = s.anyOf || s.oneOf;
  if (Array.isArray(alternatives) && alternatives.length) {
    const all = new Set();
    for (const alt of alternatives) {
      const t = typesOf(alt, root, depth + 1);
      if (t === null) return null; // one alternative allows anything
      t.forEach((x) => all.add(x));
    }
    return all;
  }
  if ("const" in s) return new Set([jsonType(s.const)]);
  if (Array.isArray(s.enum) && s.enum.length) return new Set(s.enum.map(jsonType));
  return null;
}

function jsonType(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value; // object, string, boolean
}

function fits(value, type) {
  const t = jsonType(value);
  return t === type || (type === "number" && t === "integer");
}

/** "a JSON object or no payload (leave it empty)". */
function wordsFor(types) {
  const names = [...types].map((t) => WORDS[t] || t);
  return names.length > 1 ? names.slice(0, -1).join(", ") + " or " + names.at(-1) : names[0] || "";
}

/**
 * Why `value` (parsed from the editor; null when it is empty) does not fit `schema`, in one sentence, or
 * null if it fits as far as the page can tell.
 */
export function payloadProblem(value, schema) {
  if (!schema || typeof schema !== "object") return null;
  const types = typesOf(schema, schema);
  if (types && types.size && ![...types].some((t) => fits(value, t))) {
    return `This payload should be ${wordsFor(types)}, not ${GOT[jsonType(value)]}.`;
  }
  // A top-level object: the fields it must have (only when it can be nothing but an object).
  const s = resolve(schema, schema);
  if (s && jsonType(value) === "object" && types && types.size === 1 && types.has("object") && Array.isArray(s.required)) {
    const missing = s.required.filter((k) => typeof k === "string" && !Object.prototype.hasOwnProperty.call(value, k));
    if (missing.length) {
      return `This payload is missing the field${missing.length > 1 ? "s" : ""} ${missing.map((k) => JSON.stringify(k)).join(", ")}.`;
    }
  }
  return null;
}

/** A short hint of what the payload should be ("A JSON object with the fields name, qty."), or null. */
export function payloadHint(schema) {
  if (!schema || typeof schema !== "object") return null;
  const types = typesOf(schema, schema);
  if (!types || !types.size) return null;
  if (types.size === 1 && types.has("null")) return "This handler takes no payload: leave it empty.";
  const s = resolve(schema, schema);
  let text = `Expects ${wordsFor(types)}`;
  if (types.has("object") && s && s.properties && typeof s.properties === "object") {
    const names = Object.keys(s.properties).slice(0, 12);
    if (names.length) text += ` with the fields ${names.join(", ")}${Object.keys(s.properties).length > names.length ? ", …" : ""}`;
  }
  return text + ".";
}

/** An example payload to show in an empty editor (its placeholder), or "". */
export function payloadExample(schema) {
  const s = resolve(schema, schema);
  const types = typesOf(schema, schema);
  if (!s || !types) return "";
  const sample = (t, prop) => ({ string: '"…"', integer: "0", number: "0", boolean: "false", array: "[]", object: "{}", null: "null" })[t] || (prop ? "null" : "");
  if (types.has("object") && s.properties && typeof s.properties === "object") {
    const fields = Object.entries(s.properties).slice(0, 6).map(([k, p]) => {
      const t = typesOf(p, schema);
      return `${JSON.stringify(k)}: ${t && t.size ? sample([...t][0], true) : "null"}`;
    });
    return `{${fields.join(", ")}}`;
  }
  const first = [...types].find((t) => t !== "null");
  return first ? sample(first, false) : "";
}
