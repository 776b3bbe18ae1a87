//! A test plugin that misbehaves when a message asks it to, so the host's
//! sandbox can be tested. A payload is a command word and an id:
//!
//! - `ok <id>`: a healthy message, indexed as `{"id": <id>, "decoded_by": "misbehave"}`
//! - `trap <id>`: panics (a wasm trap)
//! - `loop <id>`: never returns (the host's CPU-time limit stops it)
//! - `hog <id>`: allocates until linear memory runs out
//! - `extra <id>`: makes the whole batch return one result too many
//! - `big <id>`: returns a 20 MiB document
//! - `invalid <id>`: an ordinary invalid message
//! - `outside <id>`: a document said to be bytes of the payload past its end
//!
//! Not shipped in the binary: host/build.rs builds it for the tests only.

use sluice_plugin_sdk::{Decoded, DocSource, Message, OpType, Operation, Plugin};

pub struct Misbehave;

fn command(m: &Message) -> (&str, &str) {
    let text = m.payload.as_deref().and_then(|p| std::str::from_utf8(p).ok()).unwrap_or("");
    text.split_once(' ').unwrap_or((text, ""))
}

fn ok(id: &str, source: String) -> Decoded {
    Decoded::Ops(vec![Operation {
        id: Some(id.to_string()),
        version: None,
        op_type: OpType::Index,
        source: Some(source.into()),
    }])
}

impl Plugin for Misbehave {
    fn configure(_config_json: &str) -> Result<Self, String> {
        Ok(Misbehave)
    }

    fn decode(&self, m: &Message) -> Decoded {
        let (word, id) = command(m);
        match word {
            "ok" => ok(id, format!(r#"{{"id":"{id}","decoded_by":"misbehave"}}"#)),
            "trap" => panic!("asked to trap on {id}"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "big" => ok(id, format!(r#"{{"blob":"{}"}}"#, "x".repeat(20 << 20))),
            "outside" => {
                let len = m.payload.as_ref().map_or(0, Vec::len);
                Decoded::Ops(vec![Operation {
                    id: Some(id.to_string()),
                    version: None,
                    op_type: OpType::Index,
                    source: Some(DocSource::Payload(len.saturating_sub(2)..len + 8)),
                }])
            }
            _ => Decoded::Invalid(format!("unknown command {word:?}")),
        }
    }

    fn decode_batch(&self, batch: &[Message]) -> Vec<Decoded> {
        let mut out: Vec<Decoded> = batch.iter().map(|m| self.decode(m)).collect();
        if batch.iter().any(|m| command(m).0 == "extra") {
            out.push(Decoded::Skipped("one result too many".into()));
        }
        out
    }
}

sluice_plugin_sdk::export_plugin!(Misbehave);
