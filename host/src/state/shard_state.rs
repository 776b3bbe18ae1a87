//! A shard's state record, in the shape Iggy's connector runtime documents
//! (`id`, `last_updated`, `version`, `data`, `metadata`): its poll
//! statistics, last error and committed pointer, saved by the manager at
//! `sluice.state.auto_save_interval` and when the shard stops.
//!
//! The exact numbers (checkpoint, OpenSearch's message counters, live
//! documents) are committed with the data in the shard's sink; `last_offset`
//! here is a copy of the checkpoint as of `last_updated`, for readers of the
//! record, never read back as the position.

use super::StateError;
use crate::engine::{LastError, PollStats};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the record's shape this build writes and reads.
pub const SHARD_STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardStateRecord {
    /// `<ingestion>/<shard>`.
    pub id: String,
    /// When it was saved, RFC 3339 in UTC.
    #[serde(default)]
    pub last_updated: String,
    #[serde(default = "first_version")]
    pub version: u32,
    #[serde(default)]
    pub data: ShardStateData,
    #[serde(default)]
    pub metadata: ShardStateMetadata,
}

fn first_version() -> u32 {
    1
}

/// What the record holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardStateData {
    /// The committed pointer when the record was saved (the sink's
    /// checkpoint is the truth).
    pub last_offset: Option<String>,
    pub last_error: Option<LastError>,
    #[serde(flatten)]
    pub poll: PollStats,
}

/// Whose record it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardStateMetadata {
    /// `file`, `kafka`, `kinesis`.
    pub source_type: String,
    pub ingestion: String,
    /// The incarnation it belongs to: a record of an earlier ingestion of the
    /// same name is not continued.
    pub ingestion_id: String,
    pub shard: u32,
    /// The plugin's name and version (`opensearch 0.1.0`).
    pub plugin: String,
}

impl ShardStateRecord {
    pub fn new(metadata: ShardStateMetadata, data: ShardStateData, now_ms: i64) -> Self {
        ShardStateRecord {
            id: format!("{}/{}", metadata.ingestion, metadata.shard),
            last_updated: crate::util::rfc3339(now_ms),
            version: SHARD_STATE_VERSION,
            data,
            metadata,
        }
    }

    /// `last_updated` as ms since the epoch, if it reads as RFC 3339.
    pub fn last_updated_ms(&self) -> Option<i64> {
        crate::util::parse_rfc3339(&self.last_updated)
    }

    /// Reads a stored record: one of a newer `version` is refused with a
    /// clear error rather than misread; fields an older record lacks take
    /// their defaults. `place` names where it was read, for errors.
    pub fn from_json(place: &str, value: Value) -> Result<Self, StateError> {
        let corrupt = |reason: String| StateError::Corrupt { path: place.to_string(), reason };
        let version = match value.get("version") {
            None => first_version(),
            Some(v) => v
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| corrupt(format!("version {v} is not a number")))?,
        };
        if version > SHARD_STATE_VERSION {
            return Err(StateError::NewerVersion { path: place.to_string(), version, supported: SHARD_STATE_VERSION });
        }
        serde_json::from_value(value).map_err(|e| corrupt(format!("not a shard state record: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_has_iggys_shape_and_reads_back() {
        let meta = ShardStateMetadata {
            source_type: "file".into(),
            ingestion: "orders".into(),
            ingestion_id: "orders@1-ab".into(),
            shard: 2,
            plugin: "opensearch 0.1.0".into(),
        };
        let data = ShardStateData {
            last_offset: Some("41".into()),
            last_error: None,
            poll: PollStats { poll_count: 9, empty_polls_count: 4, ..Default::default() },
        };
        let r = ShardStateRecord::new(meta, data, 1_700_000_000_000);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["id"], "orders/2");
        assert_eq!(v["last_updated"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["version"], 1);
        assert_eq!((&v["data"]["last_offset"], &v["data"]["poll_count"]), (&json!("41"), &json!(9)));
        assert_eq!(v["metadata"]["source_type"], "file");
        assert_eq!(ShardStateRecord::from_json("x", v).unwrap(), r);
        assert_eq!(r.last_updated_ms(), Some(1_700_000_000_000));
    }

    #[test]
    fn older_records_load_with_defaults_and_newer_ones_are_refused() {
        let old = ShardStateRecord::from_json("f", json!({"id": "a/0", "data": {"poll_count": 3}})).unwrap();
        assert_eq!((old.version, old.data.poll.poll_count, old.data.poll.error_count), (1, 3, 0));
        let e = ShardStateRecord::from_json("state/shards/a/0.json", json!({"id": "a/0", "version": 2, "data": 5}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("state/shards/a/0.json") && e.contains("version 2") && e.contains("reads version 1"), "{e}");
    }
}
