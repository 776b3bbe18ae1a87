// A sluice message-format plugin in JavaScript: each payload is a JSON object
// with a string "id"; the object becomes the document, indexed under that id.
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function configure(configJson) {
  // The spec's "sluice": {"plugin": {"config": {...}}}, as JSON text; a throw is an error.
  try {
    JSON.parse(configJson);
  } catch (e) {
    throw `config is not JSON: ${e.message}`;
  }
}

export function decode(batch) {
  // Exactly one result per message, in order.
  return batch.map(decodeOne);
}

function decodeOne(m) {
  if (m.payload === undefined) {
    return { tag: "skipped", val: "tombstone" };
  }
  let text, doc;
  try {
    text = utf8.decode(m.payload);
    doc = JSON.parse(text);
  } catch (e) {
    return { tag: "invalid", val: `payload is not valid JSON: ${e.message}` };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return { tag: "invalid", val: "payload is not a JSON object" };
  }
  if (typeof doc.id !== "string" || doc.id === "") {
    return { tag: "invalid", val: "id must be a non-empty string" };
  }
  // --- test only (tests/integration/plugins_any_language.rs): fetch calls wasi:http, which the sandbox denies
  if (doc.fetch !== undefined) {
    fetch(doc.fetch);
  }
  // --- end test only
  return { tag: "ops", val: [{ id: doc.id, version: undefined, opType: "index", source: text }] };
}
