//! The ingestion spec: what to pull, how to decode it, where to put it.
//!
//! The JSON accepts an OpenSearch index-creation body as it is: `settings`
//! (nested `ingestion_source` objects or flat `index.ingestion_source.*` keys,
//! `index.number_of_shards`) and `mappings`, plus a `name` and a `sluice`
//! section for the plugin and the sink. OpenSearch index settings that have no
//! meaning here (replicas, replication type, refresh interval, ...) are
//! accepted and ignored; every key under `ingestion_source` and `sluice` is
//! checked, and an unknown key or a bad value is an error that names it.

use crate::pointer::Pointer;
pub use crate::util::{REDACTED, is_secret_param, redact_secrets, redact_url_password};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A spec that cannot be used, with the key it is about.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("spec is not valid JSON: {0}")]
    Json(String),
    #[error("unknown key [{key}]; allowed: {allowed}")]
    UnknownKey { key: String, allowed: String },
    #[error("missing required key [{0}]")]
    Missing(String),
    #[error("invalid value for [{key}]: {reason}")]
    Invalid { key: String, reason: String },
    #[error("setting [{0}] is given twice")]
    Duplicate(String),
}

fn invalid(key: &str, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { key: key.to_string(), reason: reason.into() }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    File,
    Kafka,
    Kinesis,
}

impl SourceType {
    const ALLOWED: &'static str = "file, kafka, kinesis";

    fn parse(key: &str, s: &str) -> Result<Self, SpecError> {
        match s {
            "file" => Ok(SourceType::File),
            "kafka" => Ok(SourceType::Kafka),
            "kinesis" => Ok(SourceType::Kinesis),
            other => Err(invalid(key, format!("{other:?}; allowed: {}", Self::ALLOWED))),
        }
    }
}

/// `pointer.init.reset`: where a shard without a checkpoint starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "value", rename_all = "snake_case")]
pub enum InitReset {
    Earliest,
    Latest,
    ResetByOffset(Pointer),
    /// Milliseconds since the epoch.
    ResetByTimestamp(i64),
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
    /// A registered plugin name; `opensearch` is built in.
    pub name: String,
    /// `None`: the newest registered version (the built-in one for `opensearch`).
    pub version: Option<String>,
    /// Passed to the plugin's `configure`, merged with the spec's mapper
    /// settings and mappings (see [`IngestionSpec::plugin_config`]).
    pub config: Map<String, Value>,
    /// The sandbox: memory, CPU time and output size of each instance.
    #[serde(default)]
    pub limits: crate::plugin::Limits,
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
    /// `index.number_of_shards`: shard N reads partition N.
    pub shards: u32,
    pub source_type: SourceType,
    /// `ingestion_source.param.*`, as text.
    pub params: BTreeMap<String, String>,
    pub init_reset: InitReset,
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
}

/// Debug output never shows secret parameters (they reach logs and panics).
impl std::fmt::Debug for IngestionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params: BTreeMap<&String, &str> = self
            .params
            .iter()
            .map(|(k, v)| (k, if is_secret_param(k) { REDACTED } else { v.as_str() }))
            .collect();
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

/// Keys accepted under `ingestion_source` (besides `param.*` and `mapper_settings.*`).
const SOURCE_KEYS: &[&str] = &[
    "type",
    "pointer.init.reset",
    "pointer.init.reset.value",
    "error_strategy",
    "poll.max_batch_size",
    "poll.timeout",
    "num_processor_threads",
    "internal_queue_size",
    "all_active",
    "mapper_type",
    "pointer_based_lag_update_interval",
];

const TOP_KEYS: &str = "name, settings, mappings, aliases, sluice";

impl IngestionSpec {
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SpecError::Json(e.to_string()))?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Self, SpecError> {
        let top = value
            .as_object()
            .ok_or_else(|| SpecError::Json("the spec must be a JSON object".into()))?;
        for key in top.keys() {
            if !TOP_KEYS.split(", ").any(|k| k == key) {
                return Err(SpecError::UnknownKey { key: key.clone(), allowed: TOP_KEYS.into() });
            }
        }
        let name = match top.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("name", "must be a string")),
            None => return Err(SpecError::Missing("name".into())),
        };
        validate_name(&name)?;

        let mut settings = BTreeMap::new();
        if let Some(s) = top.get("settings") {
            let obj = s.as_object().ok_or_else(|| invalid("settings", "must be an object"))?;
            flatten("", obj, &mut settings)?;
        }
        let settings: BTreeMap<String, Value> = settings
            .into_iter()
            .map(|(k, v)| if k.starts_with("index.") { (k, v) } else { (format!("index.{k}"), v) })
            .collect();

        let shards = match settings.get("index.number_of_shards") {
            Some(v) => {
                let n = as_u64("index.number_of_shards", v)?;
                if n == 0 || n > 1024 {
                    return Err(invalid("index.number_of_shards", "must be between 1 and 1024"));
                }
                n as u32
            }
            None => 1,
        };

        let mut source = BTreeMap::new();
        let mut params = BTreeMap::new();
        let mut mapper_settings = Map::new();
        for (key, v) in &settings {
            let Some(rest) = key.strip_prefix("index.ingestion_source.") else {
                if key != "index.number_of_shards" {
                    tracing::debug!(setting = %key, "OpenSearch index setting ignored by sluice");
                }
                continue;
            };
            if let Some(p) = rest.strip_prefix("param.") {
                params.insert(p.to_string(), as_text(key, v)?);
            } else if let Some(m) = rest.strip_prefix("mapper_settings.") {
                mapper_settings.insert(m.to_string(), v.clone());
            } else if SOURCE_KEYS.contains(&rest) {
                source.insert(rest.to_string(), v.clone());
            } else {
                return Err(SpecError::UnknownKey {
                    key: format!("ingestion_source.{rest}"),
                    allowed: format!("{}, param.*, mapper_settings.*", SOURCE_KEYS.join(", ")),
                });
            }
        }
        let src_key = |k: &str| format!("ingestion_source.{k}");

        let source_type = match source.get("type") {
            Some(v) => SourceType::parse(&src_key("type"), &as_text(&src_key("type"), v)?)?,
            None => return Err(SpecError::Missing("settings.ingestion_source.type".into())),
        };

        let reset_value = source
            .get("pointer.init.reset.value")
            .map(|v| as_text(&src_key("pointer.init.reset.value"), v))
            .transpose()?;
        let reset_key = src_key("pointer.init.reset");
        let init_reset = match source.get("pointer.init.reset").map(|v| as_text(&reset_key, v)).transpose()? {
            // OpenSearch's default: start at the end of the stream.
            None => InitReset::Latest,
            Some(mode) => match mode.to_ascii_lowercase().as_str() {
                "earliest" => InitReset::Earliest,
                "latest" | "none" => InitReset::Latest,
                "reset_by_offset" => {
                    let v = reset_value.ok_or_else(|| {
                        SpecError::Missing("ingestion_source.pointer.init.reset.value (required by reset_by_offset)".into())
                    })?;
                    InitReset::ResetByOffset(
                        v.parse().map_err(|e| invalid(&src_key("pointer.init.reset.value"), format!("{e}")))?,
                    )
                }
                "reset_by_timestamp" => {
                    let v = reset_value.ok_or_else(|| {
                        SpecError::Missing("ingestion_source.pointer.init.reset.value (required by reset_by_timestamp)".into())
                    })?;
                    InitReset::ResetByTimestamp(v.parse::<i64>().ok().filter(|t| *t >= 0).ok_or_else(|| {
                        invalid(&src_key("pointer.init.reset.value"), format!("{v:?} is not a timestamp in ms since the epoch"))
                    })?)
                }
                other => {
                    return Err(invalid(
                        &reset_key,
                        format!("{other:?}; allowed: earliest, latest, reset_by_offset, reset_by_timestamp, none"),
                    ));
                }
            },
        };

        let error_strategy = match source.get("error_strategy") {
            Some(v) => ErrorStrategy::parse(&src_key("error_strategy"), &as_text(&src_key("error_strategy"), v)?)?,
            None => ErrorStrategy::Drop,
        };
        let bounded = |k: &str, default: u64, min: u64, max: u64| -> Result<u64, SpecError> {
            match source.get(k) {
                None => Ok(default),
                Some(v) => {
                    let n = as_u64(&src_key(k), v)?;
                    if n < min || n > max {
                        Err(invalid(&src_key(k), format!("{n} is out of range {min}..={max}")))
                    } else {
                        Ok(n)
                    }
                }
            }
        };
        let max_batch_size = bounded("poll.max_batch_size", 1000, 1, 100_000)? as usize;
        let poll_timeout_ms = bounded("poll.timeout", 1000, 1, 600_000)?;
        let num_processor_threads = bounded("num_processor_threads", 1, 1, 64)? as usize;
        let internal_queue_size = bounded("internal_queue_size", 100, 1, 100_000)? as usize;
        if let Some(v) = source.get("all_active") {
            as_bool(&src_key("all_active"), v)?;
        }
        let mapper_type = match source.get("mapper_type") {
            None => None,
            Some(v) => {
                let t = as_text(&src_key("mapper_type"), v)?;
                match t.as_str() {
                    "default" | "raw_payload" | "field_mapping" => Some(t),
                    other => {
                        return Err(invalid(
                            &src_key("mapper_type"),
                            format!("{other:?}; allowed: default, raw_payload, field_mapping"),
                        ));
                    }
                }
            }
        };

        let mappings = match top.get("mappings") {
            None | Some(Value::Null) => None,
            Some(m @ Value::Object(_)) => Some(m.clone()),
            Some(_) => return Err(invalid("mappings", "must be an object")),
        };

        let (plugin, sink) = parse_sluice(top.get("sluice"))?;

        Ok(IngestionSpec {
            name,
            shards,
            source_type,
            params,
            init_reset,
            error_strategy,
            max_batch_size,
            poll_timeout_ms,
            num_processor_threads,
            internal_queue_size,
            mapper_type,
            mapper_settings,
            mappings,
            plugin,
            sink,
        })
    }

    pub fn poll_timeout(&self) -> Duration {
        Duration::from_millis(self.poll_timeout_ms)
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

/// Names become directory and key names: keep them plain.
fn validate_name(name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-', '_'])
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!("{name:?}: use 1-128 lowercase letters, digits, '-', '_' or '.', not starting with '.', '-' or '_'"),
        ))
    }
}

fn parse_sluice(section: Option<&Value>) -> Result<(PluginSpec, SinkType), SpecError> {
    let mut plugin =
        PluginSpec { name: "opensearch".into(), version: None, config: Map::new(), limits: Default::default() };
    let mut sink = SinkType::Embedded;
    let Some(section) = section else { return Ok((plugin, sink)) };
    let obj = section.as_object().ok_or_else(|| invalid("sluice", "must be an object"))?;
    for (key, v) in obj {
        match key.as_str() {
            "plugin" => {
                let p = v.as_object().ok_or_else(|| invalid("sluice.plugin", "must be an object"))?;
                for (k, v) in p {
                    match k.as_str() {
                        "name" => plugin.name = as_text("sluice.plugin.name", v)?,
                        "version" => plugin.version = Some(as_text("sluice.plugin.version", v)?),
                        "config" => {
                            plugin.config = v
                                .as_object()
                                .cloned()
                                .ok_or_else(|| invalid("sluice.plugin.config", "must be an object"))?
                        }
                        "limits" => {
                            plugin.limits = serde_json::from_value(v.clone()).map_err(|e| {
                                invalid(
                                    "sluice.plugin.limits",
                                    format!("{e}; keys: memory_mb, cpu_ms, cpu_us_per_message, max_output_mb, max_message_mb"),
                                )
                            })?;
                            let l = plugin.limits;
                            if l.memory_mb == 0 || l.cpu_ms == 0 || l.max_output_mb == 0 || l.max_message_mb == 0 {
                                return Err(invalid("sluice.plugin.limits", "limits must be greater than 0"));
                            }
                        }
                        other => {
                            return Err(SpecError::UnknownKey {
                                key: format!("sluice.plugin.{other}"),
                                allowed: "name, version, config, limits".into(),
                            });
                        }
                    }
                }
            }
            "sink" => {
                let s = v.as_object().ok_or_else(|| invalid("sluice.sink", "must be an object"))?;
                let (mut kind, mut url, mut key_prefix) = ("embedded".to_string(), None, None);
                for (k, v) in s {
                    match k.as_str() {
                        "type" => kind = as_text("sluice.sink.type", v)?,
                        "url" => url = Some(as_text("sluice.sink.url", v)?),
                        "key_prefix" => key_prefix = Some(as_text("sluice.sink.key_prefix", v)?),
                        other => {
                            return Err(SpecError::UnknownKey {
                                key: format!("sluice.sink.{other}"),
                                allowed: "type, url, key_prefix".into(),
                            });
                        }
                    }
                }
                sink = match kind.as_str() {
                    "embedded" if url.is_none() && key_prefix.is_none() => SinkType::Embedded,
                    "embedded" => return Err(invalid("sluice.sink", "url and key_prefix are for the redis sink")),
                    "redis" => {
                        let url = url.ok_or_else(|| SpecError::Missing("sluice.sink.url (required by the redis sink)".into()))?;
                        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                            return Err(invalid("sluice.sink.url", "must be a redis:// or rediss:// URL"));
                        }
                        SinkType::Redis { url, key_prefix: key_prefix.unwrap_or_else(|| "sluice".into()) }
                    }
                    other => return Err(invalid("sluice.sink.type", format!("{other:?}; allowed: embedded, redis"))),
                };
            }
            other => {
                return Err(SpecError::UnknownKey { key: format!("sluice.{other}"), allowed: "plugin, sink".into() });
            }
        }
    }
    Ok((plugin, sink))
}

/// A spec's settings as canonical flat keys (`index.ingestion_source.type`, ...).
pub fn flat_settings(settings: &Value) -> Result<BTreeMap<String, Value>, SpecError> {
    let mut out = BTreeMap::new();
    if let Some(obj) = settings.as_object() {
        flatten("", obj, &mut out)?;
    }
    Ok(out
        .into_iter()
        .map(|(k, v)| if k.starts_with("index.") { (k, v) } else { (format!("index.{k}"), v) })
        .collect())
}

/// Flattens nested settings objects into dotted keys, as OpenSearch does.
fn flatten(prefix: &str, obj: &Map<String, Value>, out: &mut BTreeMap<String, Value>) -> Result<(), SpecError> {
    for (k, v) in obj {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(inner) => flatten(&key, inner, out)?,
            other => {
                // The same setting may already be there as `index.<rest>` or
                // as `<rest>`: two lookups, not a scan of every key (a scan
                // made a spec of 10,000 settings take seconds to parse).
                let rest = key.strip_prefix("index.").unwrap_or(&key);
                let normalized = format!("index.{rest}");
                if out.contains_key(&normalized) || (!rest.starts_with("index.") && out.contains_key(rest)) {
                    return Err(SpecError::Duplicate(key));
                }
                out.insert(key, other.clone());
            }
        }
    }
    Ok(())
}

fn as_text(key: &str, v: &Value) -> Result<String, SpecError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid(key, "must be a string, number or boolean")),
    }
}

fn as_u64(key: &str, v: &Value) -> Result<u64, SpecError> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| invalid(key, format!("{n} is not a non-negative integer"))),
        Value::String(s) => s.trim().parse().map_err(|_| invalid(key, format!("{s:?} is not a non-negative integer"))),
        _ => Err(invalid(key, "must be a non-negative integer")),
    }
}

fn as_bool(key: &str, v: &Value) -> Result<bool, SpecError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(invalid(key, "must be true or false")),
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
    fn accepts_the_opensearch_documentation_body_as_is() {
        let spec = parse(json!({
            "name": "my-index",
            "settings": {
                "ingestion_source": {
                    "type": "kafka",
                    "pointer.init.reset": "earliest",
                    "param": {"topic": "test", "bootstrap_servers": "localhost:49353", "fetch.min.bytes": 1024}
                },
                "index.number_of_shards": 1,
                "index.number_of_replicas": 1,
                "index": {"replication.type": "SEGMENT"}
            },
            "mappings": {"properties": {"name": {"type": "text"}, "age": {"type": "integer"}}}
        }))
        .unwrap();
        assert_eq!(spec.source_type, SourceType::Kafka);
        assert_eq!(spec.shards, 1);
        assert_eq!(spec.init_reset, InitReset::Earliest);
        assert_eq!(spec.params["topic"], "test");
        assert_eq!(spec.params["fetch.min.bytes"], "1024");
        assert_eq!(spec.error_strategy, ErrorStrategy::Drop);
        assert_eq!((spec.max_batch_size, spec.poll_timeout_ms, spec.internal_queue_size), (1000, 1000, 100));
        assert_eq!(spec.plugin.name, "opensearch");
        assert!(spec.mappings.is_some());
    }

    #[test]
    fn flat_index_keys_are_the_same_as_nested_ones() {
        let flat = parse(json!({
            "name": "x",
            "settings": {
                "index.ingestion_source.type": "file",
                "index.ingestion_source.param.stream": "s",
                "index.ingestion_source.param.base_directory": "/d",
                "index.ingestion_source.pointer.init.reset": "reset_by_offset",
                "index.ingestion_source.pointer.init.reset.value": "42",
                "index.ingestion_source.error_strategy": "block",
                "index.ingestion_source.poll.max_batch_size": "50",
                "index.ingestion_source.mapper_type": "field_mapping",
                "index.ingestion_source.mapper_settings.id_field": "meta.id",
                "index.number_of_shards": "3"
            }
        }))
        .unwrap();
        let nested = parse(json!({
            "name": "x",
            "settings": {"index": {
                "number_of_shards": 3,
                "ingestion_source": {
                    "type": "file",
                    "param": {"stream": "s", "base_directory": "/d"},
                    "pointer.init.reset": "reset_by_offset",
                    "pointer.init.reset.value": 42,
                    "error_strategy": "BLOCK",
                    "poll.max_batch_size": 50,
                    "mapper_type": "field_mapping",
                    "mapper_settings": {"id_field": "meta.id"}
                }
            }}
        }))
        .unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat.init_reset, InitReset::ResetByOffset(Pointer::Small(42)));
        assert_eq!(flat.error_strategy, ErrorStrategy::Block);
        assert_eq!(flat.shards, 3);
        let config: Value = serde_json::from_str(&flat.plugin_config()).unwrap();
        assert_eq!(config, json!({"mapper_type": "field_mapping", "mapper_settings": {"id_field": "meta.id"}}));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse(json!({"name": "x", "settings": {"ingestion_source": {"type": "file", "poll.max_batch": 5}}}))
            .unwrap_err();
        assert!(matches!(&err, SpecError::UnknownKey { key, .. } if key == "ingestion_source.poll.max_batch"), "{err}");
        assert!(err.to_string().contains("poll.max_batch_size"), "lists allowed keys: {err}");
        let err = parse(json!({"name": "x", "setings": {}})).unwrap_err();
        assert!(err.to_string().contains("[setings]"), "{err}");
        let err = parse(json!({"name": "x", "settings": {"ingestion_source": {"type": "file"}}, "sluice": {"plugn": {}}}))
            .unwrap_err();
        assert!(err.to_string().contains("[sluice.plugn]"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key_and_the_allowed_values() {
        let base = |k: &str, v: Value| {
            let mut src = json!({"type": "file"});
            src[k] = v;
            parse(json!({"name": "x", "settings": {"ingestion_source": src}})).unwrap_err().to_string()
        };
        let e = base("error_strategy", json!("RETRY"));
        assert!(e.contains("error_strategy") && e.contains("DROP, BLOCK"), "{e}");
        let e = base("pointer.init.reset", json!("beginning"));
        assert!(e.contains("pointer.init.reset") && e.contains("reset_by_timestamp"), "{e}");
        let e = base("poll.max_batch_size", json!(0));
        assert!(e.contains("poll.max_batch_size") && e.contains("out of range"), "{e}");
        let e = base("type", json!("pulsar"));
        assert!(e.contains("kafka, kinesis"), "{e}");
        let e = base("pointer.init.reset", json!("reset_by_timestamp"));
        assert!(e.contains("pointer.init.reset.value"), "{e}");
        let e = parse(json!({"name": "Bad Name", "settings": {"ingestion_source": {"type": "file"}}})).unwrap_err();
        assert!(e.to_string().contains("[name]"), "{e}");
        let e = parse(json!({"name": "x", "settings": {}})).unwrap_err();
        assert_eq!(e, SpecError::Missing("settings.ingestion_source.type".into()));
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
    fn redis_sink_spec() {
        let spec = parse(json!({"name": "r", "settings": {"ingestion_source": {"type": "file"}},
            "sluice": {"sink": {"type": "redis", "url": "redis://127.0.0.1:6379/2"}}})).unwrap();
        assert_eq!(spec.sink, SinkType::Redis { url: "redis://127.0.0.1:6379/2".into(), key_prefix: "sluice".into() });
        let err = parse(json!({"name": "r", "settings": {"ingestion_source": {"type": "file"}},
            "sluice": {"sink": {"type": "redis"}}})).unwrap_err();
        assert!(err.to_string().contains("sluice.sink.url"), "{err}");
    }

    #[test]
    fn the_same_setting_twice_is_an_error() {
        let e = parse(json!({"name": "x", "settings": {
            "index.number_of_shards": 2, "number_of_shards": 3, "ingestion_source": {"type": "file"}
        }}))
        .unwrap_err();
        assert!(matches!(e, SpecError::Duplicate(_)), "{e}");
        for settings in [
            json!({"ingestion_source": {"type": "file"}, "index.ingestion_source.type": "file"}),
            json!({"index": {"ingestion_source": {"type": "file"}}, "ingestion_source.type": "file"}),
            json!({"ingestion_source": {"type": "file", "param": {"a": 1}}, "ingestion_source.param.a": 1}),
        ] {
            let e = parse(json!({"name": "x", "settings": settings})).unwrap_err();
            assert!(matches!(e, SpecError::Duplicate(_)), "{settings}: {e}");
        }
        // `index.index.x` is not `index.x`.
        parse(json!({"name": "x", "settings": {"ingestion_source": {"type": "file"}, "index.x": 1, "index.index.x": 2}}))
            .unwrap();
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

    #[test]
    fn many_settings_parse_in_linear_time() {
        // Regression: the duplicate check scanned every earlier key (with an
        // allocation each), so 10,000 settings took 15 s to parse in a debug build.
        let mut settings: Map<String, Value> = (0..50_000).map(|i| (format!("index.x{i}"), json!(i))).collect();
        settings.insert("ingestion_source".into(), json!({"type": "file"}));
        let started = std::time::Instant::now();
        parse(json!({"name": "x", "settings": settings})).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }
}
