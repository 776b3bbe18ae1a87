//! The `sluice` section of a spec: the plugin (name and version, or the path
//! of a component file; config, limits) and the sink.

use super::settings::as_text;
use super::{PluginSpec, SinkType, SpecError, invalid};
use serde_json::{Map, Value};

/// `extra`: more keys the section may have, read by the caller (a Druid
/// spec's `shards`).
pub(super) fn parse_sluice(section: Option<&Value>, extra: &[&str]) -> Result<(PluginSpec, SinkType), SpecError> {
    let mut plugin = PluginSpec {
        name: "opensearch".into(),
        version: None,
        path: None,
        config: Map::new(),
        limits: Default::default(),
    };
    let mut sink = SinkType::Embedded;
    let Some(section) = section else { return Ok((plugin, sink)) };
    let obj = section.as_object().ok_or_else(|| invalid("sluice", "must be an object"))?;
    for (key, v) in obj {
        match key.as_str() {
            "plugin" => {
                let p = v.as_object().ok_or_else(|| invalid("sluice.plugin", "must be an object"))?;
                let mut named = false;
                for (k, v) in p {
                    match k.as_str() {
                        "name" => {
                            plugin.name = as_text("sluice.plugin.name", v)?;
                            named = true;
                        }
                        "version" => plugin.version = Some(as_text("sluice.plugin.version", v)?),
                        "path" => {
                            let path = as_text("sluice.plugin.path", v)?;
                            if path.is_empty() {
                                return Err(invalid("sluice.plugin.path", "must name a component file (.wasm)"));
                            }
                            plugin.path = Some(path);
                        }
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
                                allowed: "name, version, path, config, limits".into(),
                            });
                        }
                    }
                }
                if let Some(path) = &plugin.path {
                    if named || plugin.version.is_some() {
                        return Err(invalid(
                            "sluice.plugin.path",
                            "a component file stands for a plugin name and version: give path, or name (and version)",
                        ));
                    }
                    // The name in logs and in the ingestion's state: the file's stem.
                    let stem = std::path::Path::new(path).file_stem().map(|s| s.to_string_lossy().into_owned());
                    plugin.name = stem.filter(|s| !s.is_empty()).unwrap_or_else(|| path.clone());
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
                        let url = url
                            .ok_or_else(|| SpecError::Missing("sluice.sink.url (required by the redis sink)".into()))?;
                        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                            return Err(invalid("sluice.sink.url", "must be a redis:// or rediss:// URL"));
                        }
                        SinkType::Redis { url, key_prefix: key_prefix.unwrap_or_else(|| "sluice".into()) }
                    }
                    other => return Err(invalid("sluice.sink.type", format!("{other:?}; allowed: embedded, redis"))),
                };
            }
            // Parsed by `state_section.rs`.
            "state" => {}
            other if extra.contains(&other) => {}
            other => {
                let allowed = ["plugin", "sink", "state"].iter().chain(extra).copied().collect::<Vec<_>>();
                return Err(SpecError::UnknownKey { key: format!("sluice.{other}"), allowed: allowed.join(", ") });
            }
        }
    }
    Ok((plugin, sink))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::IngestionSpec;
    use serde_json::json;

    fn parse(v: Value) -> Result<IngestionSpec, SpecError> {
        IngestionSpec::from_value(&v)
    }

    #[test]
    fn a_plugin_may_be_a_component_file() {
        let spec = parse(json!({"name": "p", "settings": {"ingestion_source": {"type": "file"}},
            "sluice": {"plugin": {"path": "plugins/lines.wasm", "config": {"a": 1}}}}))
        .unwrap();
        assert_eq!(spec.plugin.path.as_deref(), Some("plugins/lines.wasm"));
        assert_eq!((spec.plugin.name.as_str(), spec.plugin.version.as_deref()), ("lines", None));
        assert_eq!(spec.plugin.config["a"], 1);
        for both in [json!({"path": "x.wasm", "name": "x"}), json!({"path": "x.wasm", "version": "1"})] {
            let err = parse(json!({"name": "p", "settings": {"ingestion_source": {"type": "file"}},
                "sluice": {"plugin": both}}))
            .unwrap_err();
            assert!(err.to_string().contains("give path, or name (and version)"), "{err}");
        }
        let err = parse(json!({"name": "p", "settings": {"ingestion_source": {"type": "file"}},
            "sluice": {"plugin": {"file": "x.wasm"}}}))
        .unwrap_err();
        assert_eq!(err.to_string(), "unknown key [sluice.plugin.file]; allowed: name, version, path, config, limits");
    }

    #[test]
    fn redis_sink_spec() {
        let spec = parse(json!({"name": "r", "settings": {"ingestion_source": {"type": "file"}},
            "sluice": {"sink": {"type": "redis", "url": "redis://127.0.0.1:6379/2"}}}))
        .unwrap();
        assert_eq!(spec.sink, SinkType::Redis { url: "redis://127.0.0.1:6379/2".into(), key_prefix: "sluice".into() });
        let err = parse(json!({"name": "r", "settings": {"ingestion_source": {"type": "file"}},
            "sluice": {"sink": {"type": "redis"}}}))
        .unwrap_err();
        assert!(err.to_string().contains("sluice.sink.url"), "{err}");
    }
}
