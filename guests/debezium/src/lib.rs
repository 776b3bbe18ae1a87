//! Debezium JSON change events as document operations.
//!
//! Each message is one Debezium change event, as Kafka Connect's JSON
//! converter writes it: with the schema envelope (`{"schema": ...,
//! "payload": {...}}`, `schemas.enable=true`) or the payload alone. It becomes
//! exactly one operation, a skip or an invalid reason:
//!
//! * **op**: `c` (create), `r` (snapshot read) and `u` (update) index the
//!   `after` row as the document; `d` (delete) deletes the document. `t`
//!   (truncate) is invalid: a truncated table cannot be expressed as
//!   per-document operations. Any other `op` (`m` for PostgreSQL logical
//!   decoding messages, ...) is invalid with a reason, and so is an event
//!   without `op` (a record already flattened by `ExtractNewRecordState`).
//! * **`_id`** ([`id`]): by default the message key's fields, the row's
//!   primary key as Debezium writes it (`{"id": 1001}`, or with the schema
//!   envelope `{"schema": ..., "payload": {"id": 1001}}`); with config
//!   `key_columns`, those columns of the row, `after` (or `before` for a
//!   delete). One value is the id as it is; several are joined with `-` in
//!   order, each with `\` and `-` escaped as `\\` and `\-`.
//! * **`_version`**: the change's position in the source, so that a replayed
//!   older event is rejected by external versioning. With config
//!   `version_field` (a dotted path into the event, e.g. `source.lsn`), that
//!   value; by default the first of `source.lsn` (PostgreSQL's WAL position),
//!   `ts_ns`, `ts_ms` (the connector's processing time, nanoseconds from
//!   Debezium 2.6, else milliseconds) that the event has. The field found
//!   decides even when its value is bad: a null `source.lsn` is an invalid
//!   event, never a silent switch to timestamps. A version must be a JSON
//!   integer from 0 to `u64::MAX` or a string of its decimal digits
//!   (Debezium writes some as strings); missing, null, negative, fractional
//!   or other values make the event invalid.
//! * **Tombstones**: a message without a payload (the Kafka tombstone that
//!   Debezium writes after a delete) is skipped with reason `tombstone`, as
//!   is a payload that is JSON `null` or an envelope with a `null` payload.
//! * **mappings**: with `mappings` in the config, the `after` row of every
//!   index operation is validated against them.
//!
//! Configuration ([`config`]): `key_columns`, `version_field`, `mappings`;
//! any other key is an error, and `mapper_type` / `mapper_settings` (options
//! of the `opensearch` plugin's formats) are refused with a reason.

pub mod config;
pub mod event;
pub mod id;

use sluice_plugin_sdk::json::{self, Member, Value};
use sluice_plugin_sdk::{Decoded, DocSource, Message, OpType, Operation, Plugin, path};

use crate::config::Config;
use crate::event::Parsed;

/// The reason given for skipped tombstones.
pub const TOMBSTONE: &str = "tombstone";

/// The fields tried, in order, for the default version.
const DEFAULT_VERSION_FIELDS: [&str; 3] = ["source.lsn", "ts_ns", "ts_ms"];

#[derive(Debug)]
pub struct Debezium {
    config: Config,
}

/// What a message decodes to, before it becomes a [`Decoded`].
enum Outcome {
    Op(Operation),
    Tombstone,
}

impl Debezium {
    fn outcome(&self, m: &Message) -> Result<Outcome, String> {
        let Some(bytes) = m.payload.as_deref() else {
            return Ok(Outcome::Tombstone);
        };
        if bytes.is_empty() {
            return Err("empty payload".to_owned());
        }
        let text = std::str::from_utf8(bytes).map_err(|e| format!("payload is not valid UTF-8: {e}"))?;
        let event = match event::parse(text)? {
            Parsed::Tombstone => return Ok(Outcome::Tombstone),
            Parsed::Event(members) => members,
        };

        let op_type = op_type(&event)?;
        // The row image: `after` for index operations, `before` for deletes,
        // which need it only to read key_columns.
        let image_name = if op_type == OpType::Delete { "before" } else { "after" };
        let row = match json::member(&event, image_name) {
            Some(Value::Object(row)) => Some(row),
            None | Some(Value::Null) => None,
            Some(other) => {
                return Err(format!("[{image_name}] must be a JSON object, found {}", other.kind()));
            }
        };
        let no_row = || {
            let hint = if op_type == OpType::Delete {
                " to read key_columns from (PostgreSQL sends one only for a table with a primary key or REPLICA IDENTITY FULL)"
            } else {
                ""
            };
            format!("the event has no [{image_name}] row{hint}")
        };
        if op_type != OpType::Delete && row.is_none() {
            return Err(no_row());
        }

        let id = match &self.config.key_columns {
            Some(columns) => id::from_columns(row.ok_or_else(no_row)?, columns, image_name)?,
            None => match m.key.as_deref() {
                Some(key) => id::from_message_key(key)?,
                None => {
                    return Err(
                        "the message has no key (a table without a primary key?): configure key_columns".to_owned()
                    );
                }
            },
        };
        let version = self.version(&event)?;

        let source = match (op_type, row) {
            (OpType::Delete, _) => None,
            (_, row) => {
                let row = row.ok_or_else(no_row)?;
                if let Some(mappings) = &self.config.mappings {
                    mappings.validate(row)?;
                }
                // The row as it is in the payload when that is what
                // serialising it would write (Kafka Connect's JSON is compact).
                Some(match json::compact_span(text, row) {
                    Some(range) => DocSource::Payload(range),
                    None => DocSource::Text(json::to_json(row, text.len() / 2)?),
                })
            }
        };
        Ok(Outcome::Op(Operation { id: Some(id), version: Some(version), op_type, source }))
    }

    fn version(&self, event: &[Member<'_>]) -> Result<u64, String> {
        let field = match &self.config.version_field {
            Some(field) => field.as_str(),
            None => {
                DEFAULT_VERSION_FIELDS.into_iter().find(|field| path::get(event, field).is_some()).ok_or_else(|| {
                    format!(
                        "the event has no version: it has none of [{}]; configure version_field",
                        DEFAULT_VERSION_FIELDS.join(", ")
                    )
                })?
            }
        };
        let value =
            path::get(event, field).ok_or_else(|| format!("version_field [{field}] is missing from the event"))?;
        value.as_version(&format!("version in field [{field}]"))
    }
}

/// The operation an event's `op` asks for.
fn op_type(event: &[Member<'_>]) -> Result<OpType, String> {
    match json::member(event, "op") {
        Some(value @ Value::Str(op)) => match &**op {
            "c" | "r" | "u" => Ok(OpType::Index),
            "d" => Ok(OpType::Delete),
            "t" => Err(
                "op \"t\" (truncate) is not supported: a truncated table cannot be expressed as per-document operations"
                    .to_owned(),
            ),
            _ => Err(format!(
                "unknown op {}: expected one of [c, r, u, d]",
                value.describe()
            )),
        },
        Some(other) => Err(format!("[op] must be a string, found {}", other.describe())),
        None => Err(
            "the event has no [op]: not a Debezium change event (or one flattened by ExtractNewRecordState)"
                .to_owned(),
        ),
    }
}

impl Plugin for Debezium {
    fn configure(config_json: &str) -> Result<Self, String> {
        Ok(Debezium { config: Config::parse(config_json)? })
    }

    fn decode(&self, message: &Message) -> Decoded {
        match self.outcome(message) {
            Ok(Outcome::Op(operation)) => Decoded::Ops(vec![operation]),
            Ok(Outcome::Tombstone) => Decoded::Skipped(TOMBSTONE.to_owned()),
            Err(reason) => Decoded::Invalid(reason),
        }
    }
}

sluice_plugin_sdk::export_plugin!(Debezium);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(config: &str) -> Debezium {
        Debezium::configure(config).unwrap_or_else(|e| panic!("{config}: {e}"))
    }

    fn message(key: Option<&str>, payload: Option<&str>) -> Message {
        Message {
            shard: 0,
            pointer: "7".into(),
            key: key.map(|k| k.as_bytes().to_vec()),
            payload: payload.map(|p| p.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    /// The operation as the plugin returns it (its source may be a span of the payload).
    #[track_caller]
    fn op_raw(p: &Debezium, key: Option<&str>, payload: &str) -> Operation {
        match p.decode(&message(key, Some(payload))) {
            Decoded::Ops(mut ops) if ops.len() == 1 => ops.remove(0),
            other => panic!("{payload}: {other:?}"),
        }
    }

    /// The operation with its source as text, as the host stores it.
    #[track_caller]
    fn op(p: &Debezium, key: Option<&str>, payload: &str) -> Operation {
        op_raw(p, key, payload).with_text_source(Some(payload.as_bytes())).expect("a source in the payload")
    }

    #[test]
    fn a_compact_row_is_returned_as_its_span_of_the_payload() {
        let p = plugin("{}");
        let row = r#"{"id":5,"n":"x","f":1.5}"#;
        let event = format!(r#"{{"schema":null,"payload":{{"before":null,"after":{row},"op":"c","ts_ms":10}}}}"#);
        let start = event.find(row).unwrap();
        assert_eq!(op_raw(&p, KEY, &event).source, Some(DocSource::Payload(start..start + row.len())));
        let spaced = r#"{"before":null,"after":{"id": 5},"op":"c","ts_ms":10}"#;
        assert_eq!(op_raw(&p, KEY, spaced).source, Some(DocSource::Text(r#"{"id":5}"#.into())));
    }

    #[track_caller]
    fn invalid(p: &Debezium, key: Option<&str>, payload: &str, expected: &str) {
        match p.decode(&message(key, Some(payload))) {
            Decoded::Invalid(reason) => {
                assert!(reason.contains(expected), "{payload}: reason {reason:?} does not contain {expected:?}")
            }
            other => panic!("{payload}: {other:?}"),
        }
    }

    fn index(id: &str, version: u64, source: &str) -> Operation {
        Operation { id: Some(id.into()), version: Some(version), op_type: OpType::Index, source: Some(source.into()) }
    }

    fn delete(id: &str, version: u64) -> Operation {
        Operation { id: Some(id.into()), version: Some(version), op_type: OpType::Delete, source: None }
    }

    const KEY: Option<&str> = Some(r#"{"id":5}"#);

    #[test]
    fn ops_map_to_index_and_delete() {
        let p = plugin("{}");
        for o in ["c", "r", "u"] {
            let event = format!(r#"{{"before":null,"after":{{"id":5,"n":"x"}},"op":"{o}","ts_ms":10}}"#);
            assert_eq!(op(&p, KEY, &event), index("5", 10, r#"{"id":5,"n":"x"}"#), "{o}");
        }
        assert_eq!(op(&p, KEY, r#"{"before":{"id":5},"after":null,"op":"d","ts_ms":11}"#), delete("5", 11));
        // A delete needs no before when the id comes from the key.
        assert_eq!(op(&p, KEY, r#"{"op":"d","ts_ms":12}"#), delete("5", 12));
    }

    #[test]
    fn unsupported_and_malformed_ops() {
        let p = plugin("{}");
        invalid(&p, None, r#"{"op":"t","ts_ms":1}"#, "op \"t\" (truncate) is not supported");
        invalid(&p, KEY, r#"{"op":"m","ts_ms":1}"#, "unknown op \"m\": expected one of [c, r, u, d]");
        invalid(&p, KEY, r#"{"op":"C","after":{},"ts_ms":1}"#, "unknown op \"C\"");
        invalid(&p, KEY, r#"{"op":1,"after":{}}"#, "[op] must be a string, found 1");
        invalid(&p, KEY, r#"{"id":5,"name":"flattened"}"#, "the event has no [op]");
        invalid(&p, KEY, r#"{"op":"c","ts_ms":1}"#, "the event has no [after] row");
        invalid(&p, KEY, r#"{"op":"u","after":null,"ts_ms":1}"#, "the event has no [after] row");
        invalid(&p, KEY, r#"{"op":"c","after":[1],"ts_ms":1}"#, "[after] must be a JSON object, found an array");
        invalid(&p, KEY, r#"{"op":"d","before":"x","ts_ms":1}"#, "[before] must be a JSON object, found a string");
    }

    #[test]
    fn key_columns_read_the_row() {
        let p = plugin(r#"{"key_columns":["tenant","id"]}"#);
        // The message key is not used.
        assert_eq!(
            op(&p, Some(r#"{"x":1}"#), r#"{"op":"c","after":{"id":5,"tenant":"a-b"},"ts_ms":3}"#),
            index("a\\-b-5", 3, r#"{"id":5,"tenant":"a-b"}"#)
        );
        assert_eq!(
            op(&p, None, r#"{"op":"d","before":{"id":5,"tenant":"t"},"after":null,"ts_ms":4}"#),
            delete("t-5", 4)
        );
        invalid(
            &p,
            None,
            r#"{"op":"d","before":null,"ts_ms":4}"#,
            "the event has no [before] row to read key_columns from",
        );
        invalid(&p, None, r#"{"op":"d","before":{"id":5},"ts_ms":4}"#, "key column [tenant] is missing from [before]");
        invalid(
            &p,
            None,
            r#"{"op":"u","after":{"id":5,"tenant":null},"ts_ms":4}"#,
            "key column [tenant] in [after] is null",
        );
    }

    #[test]
    fn message_key_is_required_by_default() {
        let p = plugin("{}");
        let event = r#"{"op":"c","after":{"id":5},"ts_ms":1}"#;
        invalid(&p, None, event, "the message has no key (a table without a primary key?): configure key_columns");
        invalid(&p, Some("not json"), event, "message key is not valid JSON");
        invalid(&p, Some("{}"), event, "message key has no fields");
        assert_eq!(op(&p, Some(r#"{"a":1,"b":"x"}"#), event).id.as_deref(), Some("1-x"));
    }

    #[test]
    fn default_version_is_lsn_then_ts_ns_then_ts_ms() {
        let p = plugin("{}");
        let v = |event: &str| op(&p, KEY, event).version;
        assert_eq!(v(r#"{"op":"c","after":{},"source":{"lsn":7},"ts_ns":8,"ts_ms":9}"#), Some(7));
        assert_eq!(v(r#"{"op":"c","after":{},"source":{"file":"f"},"ts_ns":8,"ts_ms":9}"#), Some(8));
        assert_eq!(v(r#"{"op":"c","after":{},"source":{},"ts_ms":9}"#), Some(9));
        assert_eq!(v(r#"{"op":"c","after":{},"ts_ms":"1620393591654"}"#), Some(1620393591654));
        // The field found decides, even when its value is unusable.
        invalid(
            &p,
            KEY,
            r#"{"op":"c","after":{},"source":{"lsn":null},"ts_ms":9}"#,
            "invalid version in field [source.lsn]: null is not an integer from 0 to 18446744073709551615",
        );
        invalid(
            &p,
            KEY,
            r#"{"op":"c","after":{},"ts_ns":-1,"ts_ms":9}"#,
            "invalid version in field [ts_ns]: -1 is not an integer",
        );
        invalid(
            &p,
            KEY,
            r#"{"op":"c","after":{},"source":{}}"#,
            "the event has no version: it has none of [source.lsn, ts_ns, ts_ms]; configure version_field",
        );
    }

    #[test]
    fn configured_version_field() {
        let p = plugin(r#"{"version_field":"source.pos"}"#);
        let event = |pos: &str| format!(r#"{{"op":"u","after":{{}},"source":{{"lsn":1,"pos":{pos}}},"ts_ms":2}}"#);
        assert_eq!(op(&p, KEY, &event("805")).version, Some(805));
        assert_eq!(op(&p, KEY, &event(r#""0806""#)).version, Some(806));
        assert_eq!(op(&p, KEY, &event("18446744073709551615")).version, Some(u64::MAX));
        for (bad, shown) in [
            ("-1", "-1"),
            ("1.5", "1.5"),
            ("1e3", "1000.0"),
            (r#""x""#, r#""x""#),
            (r#""-1""#, r#""-1""#),
            ("18446744073709551616", "1.8446744073709552e+19"),
            ("true", "true"),
            ("null", "null"),
            ("{}", "an object"),
        ] {
            invalid(&p, KEY, &event(bad), &format!("invalid version in field [source.pos]: {shown} is not an integer"));
        }
        invalid(&p, KEY, r#"{"op":"u","after":{},"ts_ms":2}"#, "version_field [source.pos] is missing from the event");
        // Literal dotted names resolve as in field_mapping.
        let p = plugin(r#"{"version_field":"meta.v"}"#);
        assert_eq!(op(&p, KEY, r#"{"op":"c","after":{},"meta.v":4}"#).version, Some(4));
    }

    #[test]
    fn tombstones_are_skipped() {
        let p = plugin("{}");
        for payload in [None, Some("null"), Some(r#"{"schema":null,"payload":null}"#)] {
            assert_eq!(p.decode(&message(KEY, payload)), Decoded::Skipped("tombstone".into()), "{payload:?}");
        }
    }

    #[test]
    fn payload_level_failures() {
        let p = plugin("{}");
        let decode = |bytes: &[u8]| {
            p.decode(&Message {
                payload: Some(bytes.to_vec()),
                key: KEY.map(|k| k.as_bytes().to_vec()),
                ..Default::default()
            })
        };
        assert_eq!(decode(b""), Decoded::Invalid("empty payload".into()));
        assert!(
            matches!(decode(b"{\"op\":\"\xff\"}"), Decoded::Invalid(r) if r.starts_with("payload is not valid UTF-8"))
        );
        invalid(&p, KEY, "[]", "payload must be a JSON object, found an array");
        invalid(&p, KEY, r#"{"op":"c","after":{"a":1"#, "payload is not valid JSON: EOF while parsing an object");
        invalid(&p, KEY, r#"{"op":"c","after":{"a":1,"a":2},"ts_ms":1}"#, "payload is invalid: duplicate key [a]");
        let deep = format!(r#"{{"op":"c","after":{{"a":{}{}}},"ts_ms":1}}"#, "[".repeat(5000), "]".repeat(5000));
        invalid(&p, KEY, &deep, "payload is nested too deeply");
    }

    #[test]
    fn mappings_validate_after() {
        let p = plugin(
            r#"{"mappings":{"dynamic":"strict","properties":{"id":{"type":"integer"},"email":{"type":"keyword"}}}}"#,
        );
        assert_eq!(
            op(&p, KEY, r#"{"op":"c","after":{"id":5,"email":"e"},"ts_ms":1}"#)
                .source
                .as_ref()
                .and_then(|s| s.text(None)),
            Some(r#"{"id":5,"email":"e"}"#)
        );
        invalid(
            &p,
            KEY,
            r#"{"op":"u","after":{"id":"five"},"ts_ms":1}"#,
            r#"field [id] of type [integer]: cannot parse "five""#,
        );
        invalid(
            &p,
            KEY,
            r#"{"op":"r","after":{"id":5,"x":1},"ts_ms":1}"#,
            "field [x] is not allowed: mapping has dynamic [strict]",
        );
        // Deletes carry no document; before is not validated.
        assert_eq!(op(&p, KEY, r#"{"op":"d","before":{"x":1},"ts_ms":2}"#), delete("5", 2));
    }

    #[test]
    fn batch_yields_one_result_per_message_in_order() {
        let p = plugin("{}");
        let batch = vec![
            message(KEY, Some(r#"{"op":"c","after":{"id":5},"ts_ms":1}"#)),
            message(KEY, Some(r#"{"op":"d","before":{"id":5},"ts_ms":2}"#)),
            message(KEY, None),
            message(None, Some(r#"{"op":"t","ts_ms":3}"#)),
        ];
        let results = p.decode_batch(&batch);
        assert_eq!(results.len(), 4);
        assert!(matches!(&results[0], Decoded::Ops(ops) if ops[0].op_type == OpType::Index));
        assert!(matches!(&results[1], Decoded::Ops(ops) if ops[0].op_type == OpType::Delete));
        assert_eq!(results[2], Decoded::Skipped("tombstone".into()));
        assert!(matches!(&results[3], Decoded::Invalid(_)));
    }

    #[test]
    fn configure_errors_reach_the_host() {
        for (config, expected) in [
            (r#"{"nope":1}"#, "unknown config key [nope]"),
            (r#"{"mapper_type":"raw_payload"}"#, "mapper_type is not supported by the debezium plugin"),
            ("not json", "config is not valid JSON"),
        ] {
            match Debezium::configure(config) {
                Ok(_) => panic!("{config} accepted"),
                Err(e) => assert!(e.contains(expected), "{config}: {e:?}"),
            }
        }
    }
}
