//! The state store: what a host must remember about its ingestions.
//!
//! One record per ingestion: the spec as submitted and the runtime settings
//! changed since (paused shards, error policy); a deleted ingestion's record
//! stays as a tombstone until cleanup. One state record per shard
//! (`shard_state`): poll statistics and last error, saved at an interval.
//! Documents, stream positions and the exact counters are NOT here: they
//! live in the shard sinks, committed together.

pub mod file;
pub mod memory;
pub mod redis;
pub mod shard_state;

use crate::pointer::Pointer;
use crate::spec::ErrorStrategy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub use crate::util::{now_ms, sha256_hex};
pub use shard_state::{SHARD_STATE_VERSION, ShardStateData, ShardStateMetadata, ShardStateRecord};

/// Everything the state store keeps about one ingestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestionRecord {
    pub name: String,
    /// Made when the ingestion is created; its sinks are claimed with it, so
    /// a later ingestion under the same name is told apart. Empty in records
    /// written before sluice kept ids (one is made when they are loaded).
    #[serde(default)]
    pub id: String,
    /// The spec as submitted (re-validated on load).
    pub spec: serde_json::Value,
    /// Shards that were paused and must stay paused across restarts.
    #[serde(default)]
    pub paused_shards: BTreeSet<u32>,
    /// The error policy set at runtime, overriding the spec's.
    #[serde(default)]
    pub error_strategy: Option<ErrorStrategy>,
    /// The last error of each shard that had one.
    #[serde(default)]
    pub last_errors: Vec<ShardError>,
    /// Every accepted spec and every pointer reset, oldest first (as Druid's
    /// supervisor history).
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Milliseconds since the epoch.
    pub updated_at_ms: i64,
    /// Set when the ingestion was deleted: the record stays as a tombstone
    /// (not restored, not listed, replaced by a create of the same name)
    /// until `cleanup_old_states` removes it with its state records and data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<i64>,
}

/// One change to an ingestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at_ms: i64,
    /// `created`, `updated`, `reset`, `imported`.
    pub kind: String,
    /// The spec in force after the change.
    pub spec: serde_json::Value,
    /// What changed, in words (e.g. `shard 0 reset to earliest`).
    pub detail: String,
}

impl IngestionRecord {
    /// Records a change in the history, with the spec in force after it
    /// (secrets redacted), and when it was made.
    pub fn record_change(&mut self, at_ms: i64, kind: &str, detail: String) {
        self.updated_at_ms = at_ms;
        let spec = crate::util::redact_secrets(&self.spec);
        self.history.push(HistoryEntry { at_ms, kind: kind.into(), spec, detail });
    }

    /// Records each shard's reset (`shard N reset to P`).
    pub fn record_resets(&mut self, at_ms: i64, resets: &[(u32, crate::pointer::StartPosition)]) {
        for (shard, position) in resets {
            self.record_change(at_ms, "reset", format!("shard {shard} reset to {position}"));
        }
    }
}

/// A new ingestion id: the name, the creation time and a random tail.
pub fn new_ingestion_id(name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    format!("{name}@{}-{:08x}", crate::util::now_ms(), h.finish() as u32)
}

/// A registered plugin version. The component itself is stored by content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRecord {
    pub name: String,
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    pub size: u64,
    pub registered_at_ms: i64,
}

/// An error a shard met, with the message it was at, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardError {
    pub shard: u32,
    pub pointer: Option<Pointer>,
    pub message: String,
    pub at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "state file {path} is corrupt: {reason}; refusing to use it (restore it from a backup, or delete it to forget this ingestion)"
    )]
    Corrupt { path: String, reason: String },
    #[error("state store: {0}")]
    Backend(String),
    #[error(
        "state record {path} has version {version}, written by a newer sluice; this build reads version {supported}: upgrade sluice, or delete the record to start its statistics over"
    )]
    NewerVersion { path: String, version: u32, supported: u32 },
}

/// What a state store holds, for `state stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateUsage {
    /// Ingestion records (tombstones included).
    pub ingestion_records: u64,
    pub shard_records: u64,
    pub plugin_records: u64,
    /// The stored size of all of them and of the plugin components.
    pub bytes: u64,
}

/// Where ingestion records are kept.
pub trait StateStore: Send + Sync {
    fn load(&self, name: &str) -> Result<Option<IngestionRecord>, StateError>;
    /// Every record; a corrupt one is reported by itself without hiding the others.
    fn load_all(&self) -> Result<Vec<Result<IngestionRecord, StateError>>, StateError>;
    fn save(&self, record: &IngestionRecord) -> Result<(), StateError>;
    fn delete(&self, name: &str) -> Result<(), StateError>;

    /// Stores an ingestion's shard state records (each replaces the record
    /// of its shard).
    fn save_shard_states(&self, ingestion: &str, records: &[ShardStateRecord]) -> Result<(), StateError>;
    /// The ingestion's shard state records, by shard; one that is damaged or
    /// of a newer version is an error.
    fn load_shard_states(&self, ingestion: &str) -> Result<Vec<ShardStateRecord>, StateError>;
    fn delete_shard_states(&self, ingestion: &str) -> Result<(), StateError>;
    /// How many records of each kind, and their size.
    fn usage(&self) -> Result<StateUsage, StateError>;

    /// Stores a plugin version and its component (by content hash).
    fn save_plugin(&self, record: &PluginRecord, component: &[u8]) -> Result<(), StateError>;
    fn load_plugins(&self) -> Result<Vec<PluginRecord>, StateError>;
    /// The component with this SHA-256; its hash is verified.
    fn load_component(&self, sha256: &str) -> Result<Vec<u8>, StateError>;
    fn delete_plugin(&self, name: &str, version: &str) -> Result<(), StateError>;
}
