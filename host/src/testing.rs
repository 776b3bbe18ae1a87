//! Helpers for the unit tests of the engine and the manager.

use crate::plugin::{CompiledPlugin, Limits, PluginEngine, builtin};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where unit tests cache compiled components (only the first test compiles).
pub fn component_cache() -> PathBuf {
    std::env::temp_dir().join("sluice-unit-test-components")
}

/// The built-in opensearch plugin, compiled once per test process.
pub fn opensearch() -> CompiledPlugin {
    static PLUGIN: OnceLock<CompiledPlugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            let engine = PluginEngine::with_cache(&component_cache()).expect("plugin engine");
            engine.compile("opensearch", builtin::SLUICE_OPENSEARCH, Limits::default()).expect("compiles")
        })
        .clone()
}

/// A message in OpenSearch's format.
pub fn msg(id: &str, version: u64, source: Value) -> String {
    json!({"_id": id, "_version": version, "_op_type": "index", "_source": source}).to_string()
}

/// A spec for `name` over `shards` in-memory partitions.
pub fn spec_json(name: &str, shards: u32, strategy: &str) -> Value {
    json!({"name": name, "settings": {"index.number_of_shards": shards, "ingestion_source": {
        "type": "file", "pointer.init.reset": "earliest", "error_strategy": strategy, "poll.timeout": 10,
        "param": {"stream": "unused", "base_directory": "/nonexistent"}}}})
}

/// Polls `cond` every millisecond until it holds; panics after 10 s.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A Druid supervisor spec for `name` (sluice's file type: the in-memory
/// wiring reads `name`'s partitions), starting at the earliest messages.
/// It runs the built-in `druid` plugin without rollup and with a default
/// timestamp, so every message (any JSON object) is a row of its own:
/// a shard's processed count and live documents are the messages it applied.
pub fn druid_spec_json(name: &str) -> Value {
    json!({"type": "file",
        "dataSchema": {"dataSource": name, "timestampSpec": {"column": "ts", "missingValue": "2018-01-01T00:00:00Z"},
            "dimensionsSpec": {}, "granularitySpec": {"rollup": false}},
        "ioConfig": {"stream": "unused", "baseDirectory": "/nonexistent", "useEarliestOffset": true,
            "inputFormat": {"type": "json"}, "pollTimeout": 10},
        "tuningConfig": {"type": "file"}})
}
