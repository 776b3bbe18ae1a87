//! What the manager tells and takes: typed values, turned into protobuf,
//! JSON or text only at the edges (`api/convert.rs`, the CLI).

use crate::pointer::{Pointer, StartPosition};
use crate::sink::StoredDoc;
use crate::spec::{ErrorStrategy, SourceType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The plugin an ingestion decodes with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePlugin {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// What the manager tells about one ingestion. Secrets are redacted.
#[derive(Clone, Debug, Serialize)]
pub struct IngestionInfo {
    pub name: String,
    pub spec: Value,
    pub shards: u32,
    pub source_type: SourceType,
    pub plugin: ActivePlugin,
    pub paused_shards: Vec<u32>,
    pub error_strategy: ErrorStrategy,
    /// Why the ingestion is not running, if it is not.
    pub start_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// How a pointer reset names its target (OpenSearch's `reset_settings` modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetMode {
    /// A pointer (offset, line number, sequence number): the shard resumes at it.
    Offset,
    /// A time in ms since the epoch: the first message at or after it.
    Timestamp,
    Earliest,
    Latest,
}

impl std::str::FromStr for ResetMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "offset" | "reset_by_offset" => Ok(ResetMode::Offset),
            "timestamp" | "reset_by_timestamp" => Ok(ResetMode::Timestamp),
            "earliest" => Ok(ResetMode::Earliest),
            "latest" => Ok(ResetMode::Latest),
            other => Err(format!("unknown reset mode {other:?}; allowed: offset, timestamp, earliest, latest")),
        }
    }
}

/// A pointer reset requested with a resume.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ResetRequest {
    pub shard: u32,
    pub mode: ResetMode,
    /// The offset (a pointer) or the timestamp (ms) for those modes.
    #[serde(default)]
    pub value: Option<String>,
}

impl ResetRequest {
    /// Where the shard resumes; the error says what is wrong with the value.
    pub fn position(&self) -> Result<StartPosition, String> {
        let shard = self.shard;
        let value = || {
            self.value.as_deref().ok_or_else(|| format!("reset of shard {shard}: mode {:?} needs a value", self.mode))
        };
        match self.mode {
            ResetMode::Earliest => Ok(StartPosition::Earliest),
            ResetMode::Latest => Ok(StartPosition::Latest),
            ResetMode::Offset => {
                value()?.parse::<Pointer>().map(StartPosition::At).map_err(|e| format!("reset of shard {shard}: {e}"))
            }
            ResetMode::Timestamp => {
                let v = value()?;
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|t| *t >= 0)
                    .map(StartPosition::Timestamp)
                    .ok_or_else(|| format!("reset of shard {shard}: {v:?} is not a timestamp in ms since the epoch"))
            }
        }
    }
}

/// The most documents a search may page through (`from + size`), as
/// OpenSearch's default `index.max_result_window`.
pub const MAX_RESULT_WINDOW: usize = 10_000;

/// Which live documents a search selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocQuery {
    /// Every live document.
    All,
    /// The live documents with these ids (in any shard).
    Ids(Vec<String>),
}

/// A page of a search: hits are in (`_id`, shard) order; `after` skips the
/// ids up to and including it (OpenSearch's `search_after` on `_id`), then
/// `from` hits are skipped and at most `size` returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocPage {
    pub after: Option<String>,
    pub from: usize,
    pub size: usize,
}

/// One live document a search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocHit {
    pub id: String,
    pub shard: u32,
    pub doc: StoredDoc,
}

/// What a search found: the page and how many documents match in all
/// (`after`, `from` and `size` aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocSearch {
    pub total: u64,
    /// The shards searched (all of the ingestion's).
    pub shards: u32,
    pub hits: Vec<DocHit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_requests_become_positions_or_say_what_is_wrong() {
        let r = |mode, value: Option<&str>| ResetRequest { shard: 2, mode, value: value.map(Into::into) };
        assert_eq!(r(ResetMode::Offset, Some("17")).position(), Ok(StartPosition::At(Pointer::from(17))));
        assert_eq!(r(ResetMode::Timestamp, Some("1000")).position(), Ok(StartPosition::Timestamp(1000)));
        assert_eq!(r(ResetMode::Earliest, None).position(), Ok(StartPosition::Earliest));
        assert_eq!(r(ResetMode::Latest, Some("ignored")).position(), Ok(StartPosition::Latest));
        assert!(r(ResetMode::Offset, None).unwrap_err_contains("needs a value"));
        assert!(r(ResetMode::Timestamp, Some("-5")).unwrap_err_contains("not a timestamp"));
        assert_eq!("RESET_BY_OFFSET".parse::<ResetMode>(), Ok(ResetMode::Offset));
        assert!("sideways".parse::<ResetMode>().unwrap_err().contains("allowed: offset, timestamp"));
    }

    impl ResetRequest {
        fn unwrap_err_contains(&self, text: &str) -> bool {
            let e = self.position().unwrap_err();
            e.contains(text) && e.contains("shard 2")
        }
    }
}
