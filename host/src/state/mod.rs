//! The state store: what a host must remember about its ingestions.
//!
//! One record per ingestion: the spec as submitted and the runtime settings
//! changed since (paused shards, error policy). Documents and stream
//! positions are NOT here: they live in the shard sinks, committed together.

pub mod file;

use crate::pointer::Pointer;
use crate::spec::ErrorStrategy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Everything the state store keeps about one ingestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestionRecord {
    pub name: String,
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
    /// Milliseconds since the epoch.
    pub updated_at_ms: i64,
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
    #[error("state file {path} is corrupt: {reason}; refusing to use it (restore it from a backup, or delete it to forget this ingestion)")]
    Corrupt { path: String, reason: String },
}

/// Where ingestion records are kept.
pub trait StateStore: Send + Sync {
    fn load(&self, name: &str) -> Result<Option<IngestionRecord>, StateError>;
    /// Every record; a corrupt one is reported by itself without hiding the others.
    fn load_all(&self) -> Result<Vec<Result<IngestionRecord, StateError>>, StateError>;
    fn save(&self, record: &IngestionRecord) -> Result<(), StateError>;
    fn delete(&self, name: &str) -> Result<(), StateError>;
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
