//! A test plugin: each message becomes a document `<shard>-<pointer>` that
//! shows what the host handed the guest (shard, pointer, timestamp, key,
//! headers, payload as text). Kafka tombstones are skipped.

use serde_json::{Map, Value, json};
use sluice_plugin_sdk::{Decoded, Message, OpType, Operation, Plugin};

pub struct Echo;

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

impl Plugin for Echo {
    fn configure(_config_json: &str) -> Result<Self, String> {
        Ok(Echo)
    }

    fn decode(&self, m: &Message) -> Decoded {
        let Some(payload) = &m.payload else { return Decoded::Skipped("tombstone".into()) };
        let headers: Map<String, Value> =
            m.headers.iter().map(|h| (h.key.clone(), h.value.as_deref().map(text).unwrap_or(Value::Null))).collect();
        let source = json!({
            "shard": m.shard,
            "pointer": m.pointer,
            "timestamp_ms": m.timestamp_ms,
            "key": m.key.as_deref().map(text),
            "headers": headers,
            "payload": text(payload),
        });
        Decoded::Ops(vec![Operation {
            id: None,
            version: None,
            op_type: OpType::Index,
            source: Some(source.to_string().into()),
        }])
    }
}

sluice_plugin_sdk::export_plugin!(Echo);
