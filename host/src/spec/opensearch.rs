//! The OpenSearch index-creation body: `name`, `settings` (with
//! `ingestion_source` and `index.number_of_shards`) and `mappings`.

use super::settings::{as_bool, as_text, as_u64, flatten};
use super::sluice_section::parse_sluice;
use super::state_section::{parse_gc_deletes, parse_state};
use super::{ErrorStrategy, IngestionSpec, SourceType, SpecError, invalid};
use crate::pointer::StartPosition;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

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
        let top = value.as_object().ok_or_else(|| SpecError::Json("the spec must be a JSON object".into()))?;
        if super::druid::is_druid(value) {
            return super::druid::parse(value);
        }
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
                if key != "index.number_of_shards" && key != "index.gc_deletes" {
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
            None => StartPosition::Latest,
            Some(mode) => match mode.to_ascii_lowercase().as_str() {
                "earliest" => StartPosition::Earliest,
                "latest" | "none" => StartPosition::Latest,
                "reset_by_offset" => {
                    let v = reset_value.ok_or_else(|| {
                        SpecError::Missing(
                            "ingestion_source.pointer.init.reset.value (required by reset_by_offset)".into(),
                        )
                    })?;
                    StartPosition::At(
                        v.parse().map_err(|e| invalid(&src_key("pointer.init.reset.value"), format!("{e}")))?,
                    )
                }
                "reset_by_timestamp" => {
                    let v = reset_value.ok_or_else(|| {
                        SpecError::Missing(
                            "ingestion_source.pointer.init.reset.value (required by reset_by_timestamp)".into(),
                        )
                    })?;
                    StartPosition::Timestamp(v.parse::<i64>().ok().filter(|t| *t >= 0).ok_or_else(|| {
                        invalid(
                            &src_key("pointer.init.reset.value"),
                            format!("{v:?} is not a timestamp in ms since the epoch"),
                        )
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

        let (plugin, sink) = parse_sluice(top.get("sluice"), &[])?;
        let auto_save_interval_ms = parse_state(top.get("sluice"))?.as_millis() as u64;
        let gc_deletes_ms = parse_gc_deletes(&settings)?.map(|d| d.as_millis() as u64);

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
            auto_save_interval_ms,
            gc_deletes_ms,
            task_duration_ms: super::types::DEFAULT_TASK_DURATION_MS,
            max_parse_exceptions: None,
            supervisor: None,
        })
    }
}

/// Why [`set_name`] refused a name.
#[derive(Debug, PartialEq)]
pub enum NameConflict {
    /// The body is not a JSON object.
    NotAnObject,
    /// The body has a `name` of its own, and it differs (the body's value).
    Differs(Value),
}

/// Puts `name` into an index body, as OpenSearch keeps the index name out
/// of the body (in the URL, the file name, a flag). A body without `name`
/// gets it (`Ok(true)`); a body that already says the same name is left as
/// it is (`Ok(false)`); a body with another `name` is a conflict. In a
/// Druid supervisor spec the name is `dataSchema.dataSource`.
pub fn set_name(body: &mut Value, name: &str) -> Result<bool, NameConflict> {
    if super::druid::is_druid(body) {
        return super::druid::set_name(body, name);
    }
    let obj = body.as_object_mut().ok_or(NameConflict::NotAnObject)?;
    match obj.get("name") {
        None => {
            obj.insert("name".into(), Value::String(name.into()));
            Ok(true)
        }
        Some(Value::String(own)) if own == name => Ok(false),
        Some(other) => Err(NameConflict::Differs(other.clone())),
    }
}

/// The name a body gives itself, if any: `name`, or a Druid spec's
/// `dataSchema.dataSource`.
pub fn body_name(body: &Value) -> Option<&Value> {
    if super::druid::is_druid(body) { super::druid::name_of(body) } else { body.get("name") }
}

/// Names become directory and key names: keep them plain.
pub fn validate_name(name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-', '_'])
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!(
                "{name:?}: use 1-128 lowercase letters, digits, '-', '_' or '.', not starting with '.', '-' or '_'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointer::Pointer;
    use serde_json::json;

    fn parse(v: Value) -> Result<IngestionSpec, SpecError> {
        IngestionSpec::from_value(&v)
    }

    #[test]
    fn set_name_fills_in_a_missing_name_and_refuses_another() {
        let mut body = json!({"settings": {}});
        assert_eq!(set_name(&mut body, "logs"), Ok(true));
        assert_eq!(body["name"], "logs");
        assert_eq!(set_name(&mut body, "logs"), Ok(false));
        assert_eq!(set_name(&mut body, "other"), Err(NameConflict::Differs(json!("logs"))));
        assert_eq!(set_name(&mut json!({"name": 5}), "x"), Err(NameConflict::Differs(json!(5))));
        assert_eq!(set_name(&mut json!([1]), "x"), Err(NameConflict::NotAnObject));
        assert!(validate_name("my-index").is_ok() && validate_name("My Index").is_err());
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
        assert_eq!(spec.init_reset, StartPosition::Earliest);
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
        assert_eq!(flat.init_reset, StartPosition::At(Pointer::Small(42)));
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
        let err =
            parse(json!({"name": "x", "settings": {"ingestion_source": {"type": "file"}}, "sluice": {"plugn": {}}}))
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
}
