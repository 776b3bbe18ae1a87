# A sluice message-format plugin in Python: each payload is a JSON object with
# a string "id"; the object becomes the document, indexed under that id.
import json

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import Decoded_Invalid, Decoded_Ops, Decoded_Skipped, Operation, OpType


class WitWorld(wit_world.WitWorld):
    def configure(self, config_json):
        # The spec's "sluice": {"plugin": {"config": {...}}}, as JSON text.
        try:
            json.loads(config_json)
        except ValueError as e:
            raise Err(f"config is not JSON: {e}")

    def decode(self, batch):
        # Exactly one result per message, in order.
        return [decode_one(m) for m in batch]


def decode_one(m):
    if m.payload is None:
        return Decoded_Skipped("tombstone")
    try:
        text = m.payload.decode("utf-8")
        doc = json.loads(text)
    except ValueError as e:
        return Decoded_Invalid(f"payload is not valid JSON: {e}")
    if not isinstance(doc, dict):
        return Decoded_Invalid("payload is not a JSON object")
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        return Decoded_Invalid("id must be a non-empty string")
    # --- test only (tests/integration/plugins_any_language.rs): an uncaught exception fails the message
    if "open" in doc:
        open(doc["open"]).read()
    # --- end test only
    return Decoded_Ops([Operation(id=doc_id, version=None, op_type=OpType.INDEX, source=text)])
