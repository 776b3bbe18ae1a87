//! The reference model: applies every message exactly once, and the check
//! that compares sinks with it.

use serde_json::Value;
use sluice::sink::versioning::{Decision, decide};
use sluice::sink::{OpType, ShardCounters, StoredDoc};
use sluice_plugin_sdk::{Decoded, Message, Plugin};
use std::collections::BTreeMap;

/// The reference model: decodes with the same plugin logic compiled
/// natively, applies each message exactly once with the versioning rules.
pub struct Model {
    pub docs: BTreeMap<(u32, String), StoredDoc>,
    pub counters: BTreeMap<u32, ShardCounters>,
    plugin: sluice_opensearch::OpenSearch,
}

impl Model {
    pub fn new(config: &str) -> Self {
        Model {
            docs: BTreeMap::new(),
            counters: BTreeMap::new(),
            plugin: sluice_opensearch::OpenSearch::configure(config).unwrap(),
        }
    }

    /// Applies `lines` as shard `shard`'s messages, starting at line `first`.
    pub fn apply(&mut self, shard: u32, first: u64, lines: &[String]) {
        let messages: Vec<(String, &String)> =
            lines.iter().enumerate().map(|(i, line)| ((first + i as u64).to_string(), line)).collect();
        self.apply_at(shard, &messages);
    }

    /// Applies `(pointer, line)` messages of shard `shard`: for sources whose
    /// pointers are not line numbers (Kinesis sequence numbers).
    pub fn apply_at<L: AsRef<str>>(&mut self, shard: u32, messages: &[(String, L)]) {
        for (pointer, line) in messages {
            let line = line.as_ref();
            let message = Message {
                shard,
                pointer: pointer.clone(),
                payload: Some(line.as_bytes().to_vec()),
                ..Default::default()
            };
            let c = self.counters.entry(shard).or_default();
            c.total_processed_count += 1;
            match self.plugin.decode(&message) {
                Decoded::Invalid(_) => {
                    c.total_invalid_message_count += 1;
                    c.total_failed_count += 1;
                    c.total_failures_dropped_count += 1;
                }
                Decoded::Skipped(_) => c.total_skipped_count += 1,
                Decoded::Rows(_) | Decoded::ThrownAway(_) | Decoded::ProcessedWithError { .. } => {
                    panic!("the model covers the opensearch plugin's outcomes only")
                }
                Decoded::Ops(ops) => {
                    for (n, op) in ops.into_iter().enumerate() {
                        let id = op.id.unwrap_or_else(|| {
                            if n == 0 { format!("{shard}-{pointer}") } else { format!("{shard}-{pointer}-{n}") }
                        });
                        let op_type = match op.op_type {
                            sluice_plugin_sdk::OpType::Index => OpType::Index,
                            sluice_plugin_sdk::OpType::Create => OpType::Create,
                            sluice_plugin_sdk::OpType::Delete => OpType::Delete,
                            other => panic!("the model covers index, create and delete, not {other:?}"),
                        };
                        let key = (shard, id);
                        let c = self.counters.get_mut(&shard).unwrap();
                        match decide(self.docs.get(&key), op_type, op.version) {
                            Decision::Conflict => c.total_version_conflicts_count += 1,
                            Decision::Put { version } => {
                                c.total_ops_applied_count += 1;
                                let source = op.source.as_ref().and_then(|s| s.text(message.payload.as_deref()));
                                let source =
                                    source.expect("an index or create op has its document").as_bytes().to_vec();
                                self.docs.insert(key, StoredDoc { version, deleted: false, source });
                            }
                            Decision::Tombstone { version } => {
                                c.total_ops_applied_count += 1;
                                self.docs.insert(key, StoredDoc { version, deleted: true, source: vec![] });
                            }
                            Decision::Remove => {
                                c.total_ops_applied_count += 1;
                                self.docs.remove(&key);
                            }
                            Decision::Combine { .. } => unreachable!("index, create and delete never combine"),
                        }
                    }
                }
            }
        }
    }

    pub fn live(&self) -> BTreeMap<(u32, String), (Option<u64>, Value)> {
        self.docs
            .iter()
            .filter(|(_, d)| !d.deleted)
            .map(|(k, d)| (k.clone(), (d.version, serde_json::from_slice(&d.source).unwrap())))
            .collect()
    }
}

/// Every shard's counters, live count, documents and versions equal the model's.
pub fn assert_sinks_match(sinks: &[std::sync::Arc<dyn sluice::sink::ShardSink>], model: &Model) {
    let mut got = BTreeMap::new();
    for (shard, sink) in sinks.iter().enumerate() {
        let meta = sink.meta().unwrap();
        assert_eq!(meta.counters, model.counters[&(shard as u32)], "shard {shard} counters");
        for (id, doc) in sink.scan(None, usize::MAX).unwrap() {
            got.insert((shard as u32, id), (doc.version, serde_json::from_slice::<Value>(&doc.source).unwrap()));
        }
        assert_eq!(
            meta.live_docs as usize,
            got.keys().filter(|(s, _)| *s == shard as u32).count(),
            "shard {shard} live"
        );
    }
    assert_eq!(got, model.live(), "documents and versions equal the reference model");
}
