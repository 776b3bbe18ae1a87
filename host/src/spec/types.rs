//! The parsed spec and the types of its values.

use super::{SpecError, invalid};
use crate::pointer::StartPosition;
use crate::util::{REDACTED, is_secret_param, redact_url_password};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    File,
    Kafka,
    Kinesis,
}

impl SourceType {
    const ALLOWED: &'static str = "file, kafka, kinesis";

    pub(super) fn parse(key: &str, s: &str) -> Result<Self, SpecError> {
        match s {
            "file" => Ok(SourceType::File),
            "kafka" => Ok(SourceType::Kafka),
            "kinesis" => Ok(SourceType::Kinesis),
            other => Err(invalid(key, format!("{other:?}; allowed: {}", Self::ALLOWED))),
        }
    }
}

/// What happens to a message that fails to decode or validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ErrorStrategy {
    /// Count it, record the reason, skip it.
    #[default]
    #[serde(rename = "DROP")]
    Drop,
    /// Stop the shard at that message until the policy changes or a reset.
    #[serde(rename = "BLOCK")]
    Block,
}

impl ErrorStrategy {
    pub fn parse(key: &str, s: &str) -> Result<Self, SpecError> {
        match s.to_ascii_uppercase().as_str() {
            "DROP" => Ok(ErrorStrategy::Drop),
            "BLOCK" => Ok(ErrorStrategy::Block),
            _ => Err(invalid(key, format!("{s:?}; allowed: DROP, BLOCK"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorStrategy::Drop => "DROP",
            ErrorStrategy::Block => "BLOCK",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginSpec {
    /// A registered plugin name; `opensearch` is built in. With `path`, the
    /// file's stem (for logs and state).
    pub name: String,
    /// `None`: the newest registered version (the built-in one for `opensearch`).
    pub version: Option<String>,
    /// A component file instead of a registered plugin (`sluice run` only;
    /// relative to the spec file; `sluice serve` refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Passed to the plugin's `configure`, merged with the spec's mapper
    /// settings and mappings (see [`IngestionSpec::plugin_config`]).
    pub config: Map<String, Value>,
    /// The sandbox: memory, CPU time and output size of each instance.
    #[serde(default)]
    pub limits: super::Limits,
}

/// Where shard documents go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkType {
    /// A durable local store per shard under the data directory.
    Embedded,
    /// Documents, checkpoints and counters in Redis: any host can take a shard over.
    Redis {
        /// `redis://[:password@]host:port/db`
        url: String,
        /// Prefix of every key (`<prefix>:{<ingestion>:<shard>}:docs`, ...).
        key_prefix: String,
    },
}

/// A parsed, validated ingestion spec.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestionSpec {
    pub name: String,
    /// `index.number_of_shards`: shard N reads partition N. 0 only in a
    /// Druid spec that names no count (`sluice.shards`), until the manager
    /// learns it from the stream when it creates the ingestion (see
    /// [`IngestionSpec::shards_unresolved`]).
    pub shards: u32,
    pub source_type: SourceType,
    /// `ingestion_source.param.*`, as text.
    pub params: BTreeMap<String, String>,
    /// `pointer.init.reset`: where a shard without a checkpoint starts
    /// (earliest, latest, at an offset, or at a timestamp).
    pub init_reset: StartPosition,
    pub error_strategy: ErrorStrategy,
    pub max_batch_size: usize,
    pub poll_timeout_ms: u64,
    pub num_processor_threads: usize,
    pub internal_queue_size: usize,
    pub mapper_type: Option<String>,
    pub mapper_settings: Map<String, Value>,
    pub mappings: Option<Value>,
    pub plugin: PluginSpec,
    pub sink: SinkType,
    /// `sluice.state.auto_save_interval`: how often the poll statistics are saved.
    #[serde(default = "default_auto_save_interval_ms")]
    pub auto_save_interval_ms: u64,
    /// `index.gc_deletes`: how long a delete tombstone is kept; `None`: forever (`-1`).
    #[serde(default = "default_gc_deletes_ms")]
    pub gc_deletes_ms: Option<u64>,
    /// How long a shard's reference time (the start of its task period,
    /// handed to the plugin with each batch and committed with the
    /// checkpoint) stays before it rolls over: Druid's `ioConfig.taskDuration`.
    #[serde(default = "default_task_duration_ms")]
    pub task_duration_ms: u64,
    /// Druid's `tuningConfig.maxParseExceptions`: under `DROP`, the shard
    /// blocks at the message that would make its parse exceptions (unparseable
    /// plus processed-with-error messages) exceed this. `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parse_exceptions: Option<u64>,
    /// What a Druid supervisor spec said beyond the rest of this spec
    /// (`None` for an OpenSearch body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<super::SupervisorSettings>,
}

/// Druid's default `taskDuration`, `PT1H`.
pub const DEFAULT_TASK_DURATION_MS: u64 = 3_600_000;

fn default_task_duration_ms() -> u64 {
    DEFAULT_TASK_DURATION_MS
}

fn default_auto_save_interval_ms() -> u64 {
    super::DEFAULT_AUTO_SAVE_INTERVAL.as_millis() as u64
}

fn default_gc_deletes_ms() -> Option<u64> {
    Some(super::DEFAULT_GC_DELETES.as_millis() as u64)
}

/// Debug output never shows secret parameters (they reach logs and panics).
impl std::fmt::Debug for IngestionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params: BTreeMap<&String, &str> =
            self.params.iter().map(|(k, v)| (k, if is_secret_param(k) { REDACTED } else { v.as_str() })).collect();
        f.debug_struct("IngestionSpec")
            .field("name", &self.name)
            .field("shards", &self.shards)
            .field("source_type", &self.source_type)
            .field("params", &params)
            .field("init_reset", &self.init_reset)
            .field("error_strategy", &self.error_strategy)
            .field("max_batch_size", &self.max_batch_size)
            .field("poll_timeout_ms", &self.poll_timeout_ms)
            .field("plugin", &self.plugin.name)
            .field("sink", &redact_url_password(&format!("{:?}", self.sink)))
            .finish_non_exhaustive()
    }
}

impl IngestionSpec {
    /// A Druid spec whose shard count is still to be learned from the stream.
    pub fn shards_unresolved(&self) -> bool {
        self.shards == 0
    }

    pub fn poll_timeout(&self) -> Duration {
        Duration::from_millis(self.poll_timeout_ms)
    }

    pub fn auto_save_interval(&self) -> Duration {
        Duration::from_millis(self.auto_save_interval_ms)
    }

    /// How long delete tombstones are kept; `None`: forever.
    pub fn gc_deletes(&self) -> Option<Duration> {
        self.gc_deletes_ms.map(Duration::from_millis)
    }

    /// What a checkpoint's pointers are positions in: the source type, the
    /// stream it reads and the shard count. Settings that do not change what
    /// a pointer means (consumer tuning, credentials, endpoints) are left out.
    pub fn source_fingerprint(&self) -> String {
        let param = |k: &str| self.params.get(k).map(String::as_str).unwrap_or_default();
        let stream = match self.source_type {
            SourceType::File => {
                let base = std::path::Path::new(param("base_directory"));
                let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
                format!("file stream {}", base.join(param("stream")).display())
            }
            SourceType::Kafka => format!("kafka topic {}", param("topic")),
            SourceType::Kinesis => format!("kinesis stream {}", param("stream")),
        };
        let plural = if self.shards == 1 { "" } else { "s" };
        format!("{stream} over {} shard{plural}", self.shards)
    }

    /// The JSON handed to the plugin's `configure`: the spec's `sluice.plugin.config`
    /// plus `mapper_type`, `mapper_settings` and `mappings` when the spec sets them.
    pub fn plugin_config(&self) -> String {
        let mut config = self.plugin.config.clone();
        if let Some(t) = &self.mapper_type {
            config.insert("mapper_type".into(), Value::String(t.clone()));
        }
        if !self.mapper_settings.is_empty() {
            config.insert("mapper_settings".into(), Value::Object(self.mapper_settings.clone()));
        }
        if let Some(m) = &self.mappings {
            config.insert("mappings".into(), m.clone());
        }
        Value::Object(config).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<IngestionSpec, SpecError> {
        IngestionSpec::from_value(&v)
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let spec = parse(json!({"name": "k", "settings": {"ingestion_source": {"type": "kinesis", "param": {
            "stream": "s", "secret_key": "shh"}}}, "sluice": {"sink": {"type": "redis", "url": "redis://:pw@h/0"}}}))
        .unwrap();
        let debug = format!("{spec:?}");
        assert!(!debug.contains("shh") && !debug.contains("pw@") && debug.contains("stream"), "{debug}");
    }

    #[test]
    fn a_parsed_spec_round_trips_with_its_numbers() {
        // Found by fuzz/ (spec): a decimal in the mappings came back one ULP
        // off after a serialize/parse cycle (as through the state store).
        let text = r#"{"name":"x","settings":{"ingestion_source":{"type":"file"}},
            "mappings":{"properties":{"a":{"type":"double","null_value":18446737099.9551615}}}}"#;
        let spec = IngestionSpec::from_json(text).unwrap();
        let back: IngestionSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert!(back == spec, "{:?} != {:?}", back.mappings, spec.mappings);
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value["mappings"]["properties"]["a"]["null_value"].to_string(), "18446737099.955162");
    }
}
