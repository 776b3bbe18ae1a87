//! The OpenSearch pull-based ingestion message format (the default plugin).
//!
//! Each message becomes exactly one operation or an `Invalid` reason:
//!
//! * [`config`] parses the plugin configuration (mapper type and settings,
//!   optional index mappings);
//! * [`mapper`] turns a payload into id, version, operation type and source,
//!   in one of three modes (`default`, `raw_payload`, `field_mapping`);
//! * the SDK's [`mapping`](sluice_plugin_sdk::mapping) validates the source of
//!   index/create operations against the configured OpenSearch mappings, and
//!   its [`json`] tree is what they share (parsed once per payload). The
//!   document goes back as a span of the payload when the payload holds it
//!   in compact JSON ([`json::compact_span`]), else serialised once.

pub mod config;
pub mod mapper;

use sluice_plugin_sdk::json;
use sluice_plugin_sdk::mapping::Mappings;
use sluice_plugin_sdk::{Decoded, DocSource, Message, OpType, Operation, Plugin};

use crate::config::Config;
use crate::mapper::Mapper;

#[derive(Debug)]
pub struct OpenSearch {
    mapper: Mapper,
    mappings: Option<Mappings>,
}

impl OpenSearch {
    /// Decodes one payload into its operation, or the reason it is invalid.
    fn operation(&self, payload: Option<&[u8]>) -> Result<Operation, String> {
        let bytes = payload.ok_or("null payload (tombstone)")?;
        if bytes.is_empty() {
            return Err("empty payload".to_owned());
        }
        // Checked once up front; the parser then reads strings without re-validating.
        let text = std::str::from_utf8(bytes).map_err(|e| format!("payload is not valid UTF-8: {e}"))?;
        let mapped = self.mapper.map(text)?;
        let source = match (mapped.op_type, mapped.source) {
            (OpType::Delete, _) => None,
            (_, None) => {
                return Err("internal error: no _source for an index or create operation".to_owned());
            }
            (_, Some(source)) => {
                if let Some(mappings) = &self.mappings {
                    mappings.validate(&source)?;
                }
                // The document as it is in the payload when that is what
                // serialising it would write (compact JSON, as producers
                // usually send it; not after `field_mapping` took fields out).
                Some(match json::compact_span(text, &source) {
                    Some(range) => DocSource::Payload(range),
                    None => DocSource::Text(json::to_json(&source, text.len())?),
                })
            }
        };
        Ok(Operation { id: mapped.id, version: mapped.version, op_type: mapped.op_type, source })
    }
}

impl Plugin for OpenSearch {
    // `decode` keeps nothing beyond the call.
    const PER_CALL_ARENA: bool = true;

    fn configure(config_json: &str) -> Result<Self, String> {
        let Config { mapper, mappings } = Config::parse(config_json)?;
        Ok(OpenSearch { mapper, mappings })
    }

    fn decode(&self, message: &Message) -> Decoded {
        match self.operation(message.payload.as_deref()) {
            Ok(operation) => Decoded::Ops(vec![operation]),
            Err(reason) => Decoded::Invalid(reason),
        }
    }
}

sluice_plugin_sdk::export_plugin!(OpenSearch);

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(config: &str) -> OpenSearch {
        OpenSearch::configure(config).unwrap_or_else(|e| panic!("{config}: {e}"))
    }

    fn message(payload: Option<&[u8]>) -> Message {
        Message { shard: 3, pointer: "42".into(), payload: payload.map(<[u8]>::to_vec), ..Default::default() }
    }

    /// The operation as the plugin returns it (its source may be a span of the payload).
    #[track_caller]
    fn decode_raw(p: &OpenSearch, payload: &str) -> Operation {
        match p.decode(&message(Some(payload.as_bytes()))) {
            Decoded::Ops(mut ops) if ops.len() == 1 => ops.remove(0),
            other => panic!("{payload}: {other:?}"),
        }
    }

    /// The operation with its source as text, as the host stores it.
    #[track_caller]
    fn decode_op(p: &OpenSearch, payload: &str) -> Operation {
        decode_raw(p, payload).with_text_source(Some(payload.as_bytes())).expect("a source in the payload")
    }

    /// The source text of the one operation.
    #[track_caller]
    fn source_of(p: &OpenSearch, payload: &str) -> Option<String> {
        match decode_op(p, payload).source {
            Some(DocSource::Text(text)) => Some(text),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_compact_source_is_returned_as_its_span_of_the_payload() {
        let doc = r#"{"title":"hello","n":[1,2.5],"o":{"t":true}}"#;
        let payload = format!(r#"{{"_id":"1","_version":2,"_source":{doc},"x":0}}"#);
        let start = payload.find(doc).unwrap();
        let op = decode_raw(&plugin("{}"), &payload);
        assert_eq!(op.source, Some(DocSource::Payload(start..start + doc.len())));
        assert_eq!(op.id.as_deref(), Some("1"));
        // Not compact: serialised, as before.
        let spaced = r#"{"_source":{"title": "hello"}}"#;
        assert_eq!(decode_raw(&plugin("{}"), spaced).source, Some(DocSource::Text(r#"{"title":"hello"}"#.into())));
        // raw_payload: the whole payload.
        let raw = plugin(r#"{"mapper_type":"raw_payload"}"#);
        assert_eq!(decode_raw(&raw, doc).source, Some(DocSource::Payload(0..doc.len())));
        // field_mapping takes the extracted fields out: no longer the payload's text.
        let fields = plugin(r#"{"mapper_type":"field_mapping","mapper_settings":{"version_field":"o.v"}}"#);
        assert_eq!(
            decode_raw(&fields, r#"{"a":1,"o":{"v":3,"w":4}}"#).source,
            Some(DocSource::Text(r#"{"a":1,"o":{"w":4}}"#.into()))
        );
    }

    #[track_caller]
    fn decode_invalid(p: &OpenSearch, payload: Option<&[u8]>, expected: &str) {
        match p.decode(&message(payload)) {
            Decoded::Invalid(reason) => {
                assert!(reason.contains(expected), "reason {reason:?} does not contain {expected:?}")
            }
            other => {
                let shown: Option<String> = payload.map(|p| String::from_utf8_lossy(p).chars().take(200).collect());
                panic!("{shown:?}: {other:?}")
            }
        }
    }

    fn index(id: Option<&str>, version: Option<u64>, source: &str) -> Operation {
        Operation { id: id.map(Into::into), version, op_type: OpType::Index, source: Some(source.into()) }
    }

    #[test]
    fn default_mapper_operations() {
        let p = plugin("{}");
        assert_eq!(
            decode_op(&p, r#"{"_id":"1","_version":"2","_source":{ "title" : "hello", "n" : [1, 2.5] }}"#),
            index(Some("1"), Some(2), r#"{"title":"hello","n":[1,2.5]}"#)
        );
        assert_eq!(
            decode_op(&p, r#"{"_op_type":"create","_version":9,"_source":{}}"#),
            Operation { id: None, version: Some(9), op_type: OpType::Create, source: Some("{}".into()) }
        );
        assert_eq!(
            decode_op(&p, r#"{"_op_type":"delete","_id":"1","_source":{"ignored":true}}"#),
            Operation { id: Some("1".into()), version: None, op_type: OpType::Delete, source: None }
        );
        assert_eq!(decode_op(&p, r#"{"_source":{"a":"é\u00e9\n"},"extra":[1]}"#), index(None, None, r#"{"a":"éé\n"}"#));
    }

    #[test]
    fn payload_level_failures() {
        let p = plugin("{}");
        decode_invalid(&p, None, "null payload (tombstone)");
        decode_invalid(&p, Some(b""), "empty payload");
        decode_invalid(&p, Some(b"   "), "payload is not valid JSON: it holds only whitespace, no JSON value");
        decode_invalid(
            &p,
            Some("\u{feff}{\"_source\":{}}".as_bytes()),
            "payload is not valid JSON: it starts with a UTF-8 byte order mark (U+FEFF)",
        );
        decode_invalid(
            &p,
            Some(b"{\"_source\":{\"a\":\"\xff\"}}"),
            "payload is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 17",
        );
        decode_invalid(
            &p,
            Some(br#"{"_id":"1","_source":{"a""#),
            "payload is not valid JSON: EOF while parsing an object at line 1 column 25",
        );
        decode_invalid(&p, Some(b"[1,2]"), "payload must be a JSON object, found an array");
        decode_invalid(&p, Some(b"\"text\""), "payload must be a JSON object, found a string");
        decode_invalid(&p, Some(br#"{"_id":"1","_id":"2","_source":{}}"#), "payload is invalid: duplicate key [_id]");
    }

    #[test]
    fn numbers_keep_their_value() {
        // Found by fuzz/ (opensearch_decode): the stored source held
        // 18446737099.95516, one ULP away from the number sent.
        for config in ["{}", r#"{"mapper_type":"raw_payload"}"#] {
            let p = plugin(config);
            let payload = if config == "{}" {
                r#"{"_source":{"u":18446737099.9551615}}"#
            } else {
                r#"{"u":18446737099.9551615}"#
            };
            let source = source_of(&p, payload).unwrap();
            assert_eq!(source, r#"{"u":18446737099.955162}"#, "{config}");
            let raw = plugin(r#"{"mapper_type":"raw_payload"}"#);
            assert_eq!(source_of(&raw, &source).unwrap(), source);
        }
    }

    #[test]
    fn deep_nesting_is_invalid_in_every_mode() {
        let depth = 10_000;
        let deep = format!(r#"{{"_id":"1","_source":{}0{}}}"#, r#"{"a":"#.repeat(depth), "}".repeat(depth));
        for config in ["{}", r#"{"mapper_type":"raw_payload"}"#, r#"{"mapper_type":"field_mapping"}"#] {
            decode_invalid(&plugin(config), Some(deep.as_bytes()), "payload is nested too deeply");
        }
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        decode_invalid(&plugin("{}"), Some(arrays.as_bytes()), "payload is nested too deeply");
    }

    #[test]
    fn raw_payload_mode() {
        let p = plugin(r#"{"mapper_type":"raw_payload"}"#);
        assert_eq!(decode_op(&p, r#"{ "_id" : "x", "b" : 1 }"#), index(None, None, r#"{"_id":"x","b":1}"#));
        decode_invalid(&p, None, "null payload (tombstone)");
        decode_invalid(&p, Some(b"1"), "payload must be a JSON object, found a number");
    }

    #[test]
    fn field_mapping_mode() {
        let p = plugin(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"id_field":"meta.id","version_field":"meta.v",
                "op_type_field":"op","op_type_field.delete_value":"D","op_type_field.create_value":"C"}}"#,
        );
        assert_eq!(
            decode_op(&p, r#"{"meta":{"id":42,"v":"3"},"op":"U","name":"n"}"#),
            index(Some("42"), Some(3), r#"{"name":"n"}"#)
        );
        assert_eq!(
            decode_op(&p, r#"{"meta":{"id":"a","v":4,"src":"s"},"op":"C"}"#),
            Operation {
                id: Some("a".into()),
                version: Some(4),
                op_type: OpType::Create,
                source: Some(r#"{"meta":{"src":"s"}}"#.into())
            }
        );
        assert_eq!(
            decode_op(&p, r#"{"meta":{"id":"a","v":5},"op":"D","name":"n"}"#),
            Operation { id: Some("a".into()), version: Some(5), op_type: OpType::Delete, source: None }
        );
        decode_invalid(&p, Some(br#"{"meta":{"v":5}}"#), "configured id_field [meta.id] is missing from the message");
        decode_invalid(
            &p,
            Some(br#"{"meta":{"id":"a"}}"#),
            "configured version_field [meta.v] is missing from the message",
        );
        decode_invalid(&p, Some(br#"{"meta":{"id":{},"v":1}}"#), "field [meta.id] must be a scalar value");
    }

    #[test]
    fn mappings_validate_index_and_create_in_every_mode() {
        let mappings = r#""mappings":{"dynamic":"strict","properties":{"user":{"properties":{"age":{"type":"integer"}}},"t":{"type":"date"}}}"#;

        let p = plugin(&format!("{{{mappings}}}"));
        assert_eq!(
            source_of(&p, r#"{"_source":{"user":{"age":"7"},"t":"2024-01-31"}}"#).as_deref(),
            Some(r#"{"user":{"age":"7"},"t":"2024-01-31"}"#)
        );
        decode_invalid(
            &p,
            Some(br#"{"_source":{"user":{"age":"abc"}}}"#),
            r#"field [user.age] of type [integer]: cannot parse "abc""#,
        );
        decode_invalid(
            &p,
            Some(br#"{"_op_type":"create","_source":{"extra":1}}"#),
            "field [extra] is not allowed: mapping has dynamic [strict]",
        );
        // Deletes carry no document: nothing to validate.
        assert_eq!(decode_op(&p, r#"{"_op_type":"delete","_id":"1","_source":{"extra":1}}"#).op_type, OpType::Delete);

        let raw = plugin(&format!(r#"{{"mapper_type":"raw_payload",{mappings}}}"#));
        decode_invalid(&raw, Some(br#"{"t":"2024-02-30"}"#), r#"field [t] of type [date]: cannot parse "2024-02-30""#);

        // Extracted fields are removed before validation, so a strict mapping need not list them.
        let fields = plugin(&format!(
            r#"{{"mapper_type":"field_mapping","mapper_settings":{{"id_field":"user.id"}},{mappings}}}"#
        ));
        assert_eq!(
            decode_op(&fields, r#"{"user":{"id":"u1","age":1}}"#),
            index(Some("u1"), None, r#"{"user":{"age":1}}"#)
        );
        decode_invalid(
            &fields,
            Some(br#"{"user":{"id":"u1","age":"1.5x"}}"#),
            r#"field [user.age] of type [integer]: cannot parse "1.5x""#,
        );
    }

    #[test]
    fn configure_errors() {
        for (config, expected) in [
            (r#"{"nope":1}"#, "unknown config key [nope]; allowed keys: [mapper_type, mapper_settings, mappings]"),
            (r#"{"mapper_type":"avro"}"#, "unknown mapper_type [avro]"),
            (r#"{"mapper_settings":{"id_field":"id"}}"#, "mapper_settings are not supported for mapper_type [default]"),
            (r#"{"mappings":{"properties":{"loc":{"type":"geopoint"}}}}"#, "unknown type [geopoint] for field [loc]"),
            ("not json", "config is not valid JSON"),
        ] {
            match OpenSearch::configure(config) {
                Ok(_) => panic!("{config} accepted"),
                Err(e) => assert!(e.contains(expected), "{config}: {e:?} does not contain {expected:?}"),
            }
        }
    }

    #[test]
    fn batch_yields_one_result_per_message_in_order() {
        let p = plugin("{}");
        let batch = vec![
            message(Some(br#"{"_id":"a","_source":{}}"#)),
            message(None),
            message(Some(br#"{"_op_type":"delete","_id":"b"}"#)),
        ];
        let results = p.decode_batch(&batch);
        assert_eq!(results.len(), 3);
        assert!(matches!(&results[0], Decoded::Ops(ops) if ops[0].id.as_deref() == Some("a")));
        assert!(matches!(&results[1], Decoded::Invalid(_)));
        assert!(matches!(&results[2], Decoded::Ops(ops) if ops[0].op_type == OpType::Delete));
    }
}
