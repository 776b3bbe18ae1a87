//! What a request may ask of an ingestion: which settings may change while
//! it runs, which shards exist, and whether a spec still holds a redacted
//! secret. Pure functions of specs.

use super::{ManagerError, Result};
use crate::spec::{IngestionSpec, SinkType};
use crate::util::REDACTED;
use serde_json::{Map, Value};

/// The settings an update may change on a running ingestion.
pub(super) const UPDATABLE: &str = "settings (error_strategy, poll.max_batch_size, poll.timeout, index.gc_deletes), \
     sluice.plugin.version and sluice.state.auto_save_interval";

/// The first setting that differs and cannot change while running.
pub(super) fn static_change(old: &IngestionSpec, new: &IngestionSpec) -> Option<String> {
    if old.shards != new.shards {
        return Some("index.number_of_shards".into());
    }
    if old.source_type != new.source_type {
        return Some("ingestion_source.type".into());
    }
    if old.params != new.params {
        let key = old
            .params
            .keys()
            .chain(new.params.keys())
            .find(|k| old.params.get(*k) != new.params.get(*k))
            .cloned()
            .unwrap_or_default();
        return Some(format!("ingestion_source.param.{key}"));
    }
    let checks: [(&str, bool); 11] = [
        ("ingestion_source.pointer.init.reset", old.init_reset != new.init_reset),
        ("ingestion_source.internal_queue_size", old.internal_queue_size != new.internal_queue_size),
        ("ingestion_source.num_processor_threads", old.num_processor_threads != new.num_processor_threads),
        ("ingestion_source.mapper_type", old.mapper_type != new.mapper_type),
        ("ingestion_source.mapper_settings", old.mapper_settings != new.mapper_settings),
        ("mappings", old.mappings != new.mappings),
        ("sluice.plugin.name", old.plugin.name != new.plugin.name),
        ("sluice.plugin.path", old.plugin.path != new.plugin.path),
        ("sluice.plugin.config", old.plugin.config != new.plugin.config),
        ("sluice.plugin.limits", old.plugin.limits != new.plugin.limits),
        ("sluice.sink", old.sink != new.sink),
    ];
    checks.iter().find(|(_, changed)| *changed).map(|(k, _)| k.to_string())
}

/// Splits an update into its settings and its `sluice` section. The
/// settings are OpenSearch's `_settings` body as its docs write it: flat
/// (`{"index.ingestion_source.error_strategy": "BLOCK"}`), nested
/// (`{"index": {"ingestion_source": {...}}}`), or wrapped in `settings`.
pub(super) fn split_update(update: &Value) -> Result<(Option<Value>, Option<Value>)> {
    let obj =
        update.as_object().ok_or_else(|| ManagerError::InvalidArgument("the update must be a JSON object".into()))?;
    let (mut wrapped, mut sluice, mut flat) = (None, None, Map::new());
    for (key, value) in obj {
        match key.as_str() {
            "settings" => wrapped = Some(value.clone()),
            "sluice" => sluice = Some(value.clone()),
            // The other keys of an index body are not settings.
            "name" | "mappings" | "aliases" => {
                return Err(ManagerError::FailedPrecondition(format!(
                    "[{key}] cannot be changed on a running ingestion; updatable: {UPDATABLE}"
                )));
            }
            _ => {
                flat.insert(key.clone(), value.clone());
            }
        }
    }
    let settings = match (wrapped, flat.keys().next()) {
        (Some(_), Some(other)) => {
            return Err(ManagerError::InvalidArgument(format!(
                "the update has both [settings] and [{other}]: send the settings either wrapped in [settings] or as they are"
            )));
        }
        (Some(wrapped), None) => Some(wrapped),
        (None, Some(_)) => Some(Value::Object(flat)),
        (None, None) => None,
    };
    if settings.is_none() && sluice.is_none() {
        return Err(ManagerError::InvalidArgument(format!("no settings to update; updatable: {UPDATABLE}")));
    }
    Ok((settings, sluice))
}

/// Deep-merges `patch` into `target` (objects merge, anything else replaces).
pub(super) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Refuses a spec that still holds what [`crate::spec::redact_secrets`] put
/// in place of a secret (a param, or the password of a sink URL): it lost
/// its secret on export.
pub(super) fn check_no_redacted(spec: &IngestionSpec) -> Result<()> {
    let redacted = match spec.params.iter().find(|(_, v)| v.as_str() == REDACTED) {
        Some((k, _)) if spec.supervisor.is_some() => Some(format!("ioConfig.consumerProperties.{k}")),
        Some((k, _)) => Some(format!("param.{k}")),
        None => match &spec.sink {
            SinkType::Redis { url, .. } if url.contains(REDACTED) => {
                Some("the password of sluice.sink.url".to_string())
            }
            _ => None,
        },
    };
    match redacted {
        Some(what) => Err(ManagerError::InvalidArgument(format!(
            "ingestion {}: {what} is {REDACTED} (secrets are never exported); supply its value",
            spec.name
        ))),
        None => Ok(()),
    }
}

/// Refuses a shard number the ingestion does not have.
pub(super) fn check_shards(spec: &IngestionSpec, shards: &[u32]) -> Result<()> {
    match shards.iter().find(|&&s| s >= spec.shards) {
        Some(s) => Err(ManagerError::InvalidArgument(format!(
            "ingestion {} has no shard {s} (it has {})",
            spec.name, spec.shards
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(shards: u32, stream: &str, batch: u64) -> IngestionSpec {
        IngestionSpec::from_value(
            &json!({"name": "t", "settings": {"index.number_of_shards": shards, "ingestion_source": {
            "type": "file", "poll.max_batch_size": batch, "param": {"stream": stream, "base_directory": "/tmp"}}}}),
        )
        .unwrap()
    }

    #[test]
    fn static_settings_are_named_and_dynamic_ones_pass() {
        assert_eq!(static_change(&spec(1, "a", 10), &spec(1, "a", 99)), None);
        assert_eq!(static_change(&spec(1, "a", 10), &spec(3, "a", 10)).as_deref(), Some("index.number_of_shards"));
        assert_eq!(
            static_change(&spec(1, "a", 10), &spec(1, "b", 10)).as_deref(),
            Some("ingestion_source.param.stream")
        );
    }

    #[test]
    fn merge_is_deep_for_objects_and_replaces_the_rest() {
        let mut v = json!({"a": {"b": 1, "c": [1]}, "d": 1});
        merge(&mut v, &json!({"a": {"c": [2]}, "e": true}));
        assert_eq!(v, json!({"a": {"b": 1, "c": [2]}, "d": 1, "e": true}));
    }

    #[test]
    fn a_redacted_secret_is_refused_with_its_key() {
        let mut s = spec(1, "a", 10);
        s.params.insert("sasl.password".into(), REDACTED.into());
        let e = check_no_redacted(&s).unwrap_err().to_string();
        assert!(e.contains("param.sasl.password") && e.contains("supply its value"), "{e}");
        assert!(check_shards(&s, &[0]).is_ok());
        assert!(check_shards(&s, &[1]).unwrap_err().to_string().contains("has no shard 1 (it has 1)"));
    }
}
