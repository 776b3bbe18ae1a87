//! The opensearch plugin's decode logic, natively: any payload through any
//! mapper mode (with and without mappings) is exactly one operation or an
//! invalid reason, never a panic, and what it produces is well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_opensearch::OpenSearch;
use sluice_plugin_sdk::{Decoded, MAX_ID_BYTES, Message, OpType, Plugin};
use std::sync::OnceLock;

const MAPPINGS: &str = r#""mappings":{"dynamic":"strict","properties":{
    "id":{"type":"keyword"},"name":{"type":"text"},"w":{"type":"wildcard"},
    "by":{"type":"byte"},"sh":{"type":"short"},"age":{"type":"integer"},"n":{"type":"long"},
    "u":{"type":"unsigned_long"},"hf":{"type":"half_float"},"f":{"type":"float"},"d":{"type":"double","coerce":false},
    "b":{"type":"boolean"},"at":{"type":"date"},"sec":{"type":"date","format":"epoch_second"},
    "ym":{"type":"date","format":"yyyy/MM"},"bad":{"type":"integer","ignore_malformed":true},
    "o":{"properties":{"k":{"type":"keyword"},"i":{"type":"integer"},"deep":{"dynamic":true,"properties":{"x":{"type":"long"}}}}},
    "off":{"type":"object","enabled":false},
    "nest":{"type":"nested","dynamic":"false","properties":{"x":{"type":"short"}}},
    "a.b":{"type":"keyword"}}}"#;

const FIELDS: &str = r#""mapper_type":"field_mapping","mapper_settings":{"id_field":"meta.id","version_field":"meta.v",
    "op_type_field":"meta.op","op_type_field.delete_value":"D","op_type_field.create_value":"C"}"#;

fn plugins() -> &'static [OpenSearch] {
    static PLUGINS: OnceLock<Vec<OpenSearch>> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        [
            "{}".to_string(),
            r#"{"mapper_type":"raw_payload"}"#.to_string(),
            format!("{{{FIELDS}}}"),
            format!("{{{MAPPINGS}}}"),
            format!(r#"{{"mapper_type":"raw_payload",{MAPPINGS}}}"#),
            format!("{{{FIELDS},{MAPPINGS}}}"),
        ]
        .iter()
        .map(|config| OpenSearch::configure(config).unwrap_or_else(|e| panic!("{config}: {e}")))
        .collect()
    })
}

/// The raw_payload mode without mappings, to re-read what decode produced.
fn raw() -> &'static OpenSearch {
    &plugins()[1]
}

fn message(payload: Vec<u8>) -> Message {
    Message { shard: 0, pointer: "0".into(), payload: Some(payload), ..Default::default() }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, payload)) = data.split_first() else { return };
    let plugin = &plugins()[*mode as usize % plugins().len()];
    match plugin.decode(&message(payload.to_vec())) {
        Decoded::Ops(ops) => {
            assert_eq!(ops.len(), 1, "one operation per message");
            let op = &ops[0];
            if let Some(id) = &op.id {
                assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES, "id of {} bytes", id.len());
            }
            match (op.op_type, &op.source) {
                (OpType::Delete, None) => assert!(op.id.is_some(), "a delete has an id"),
                (OpType::Delete, Some(_)) => panic!("a delete with a source"),
                (_, None) => panic!("an index or create without a source"),
                (_, Some(source)) => {
                    let value: serde_json::Value = serde_json::from_str(source).expect("the source is JSON");
                    assert!(value.is_object(), "the source is an object");
                    // The source is compact, duplicate-free JSON that reads back as itself.
                    match raw().decode(&message(source.as_bytes().to_vec())) {
                        Decoded::Ops(again) => assert_eq!(again[0].source.as_ref(), Some(source)),
                        other => panic!("the source {source} does not read back: {other:?}"),
                    }
                }
            }
        }
        Decoded::Invalid(reason) => assert!(!reason.is_empty()),
        Decoded::Skipped(reason) => panic!("opensearch never skips a message with a payload: {reason}"),
    }
});
