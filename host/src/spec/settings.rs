//! Settings as OpenSearch reads them: nested objects flattened into dotted
//! keys, and the checks of single values.

use super::{SpecError, invalid};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A spec's settings as canonical flat keys (`index.ingestion_source.type`, ...).
pub fn flat_settings(settings: &Value) -> Result<BTreeMap<String, Value>, SpecError> {
    let mut out = BTreeMap::new();
    if let Some(obj) = settings.as_object() {
        flatten("", obj, &mut out)?;
    }
    Ok(out.into_iter().map(|(k, v)| if k.starts_with("index.") { (k, v) } else { (format!("index.{k}"), v) }).collect())
}

/// Flattens nested settings objects into dotted keys, as OpenSearch does.
pub(super) fn flatten(
    prefix: &str,
    obj: &Map<String, Value>,
    out: &mut BTreeMap<String, Value>,
) -> Result<(), SpecError> {
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

pub(super) fn as_text(key: &str, v: &Value) -> Result<String, SpecError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid(key, "must be a string, number or boolean")),
    }
}

pub(super) fn as_u64(key: &str, v: &Value) -> Result<u64, SpecError> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| invalid(key, format!("{n} is not a non-negative integer"))),
        Value::String(s) => s.trim().parse().map_err(|_| invalid(key, format!("{s:?} is not a non-negative integer"))),
        _ => Err(invalid(key, "must be a non-negative integer")),
    }
}

pub(super) fn as_bool(key: &str, v: &Value) -> Result<bool, SpecError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(invalid(key, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::IngestionSpec;
    use serde_json::json;
    use std::time::Duration;

    fn parse(v: Value) -> Result<IngestionSpec, SpecError> {
        IngestionSpec::from_value(&v)
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
        parse(
            json!({"name": "x", "settings": {"ingestion_source": {"type": "file"}, "index.x": 1, "index.index.x": 2}}),
        )
        .unwrap();
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

/// The file source's `param.base_directory`, wherever the spec puts it
/// (nested, flat, with or without `index.`).
const BASE_DIRECTORY: &str = "index.ingestion_source.param.base_directory";

/// A relative `param.base_directory` of the spec (a Druid file spec's
/// `ioConfig.baseDirectory`), if it has one.
pub fn relative_base_directory(spec: &Value) -> Option<String> {
    if super::druid::is_druid(spec) {
        let dir = super::druid::base_directory_mut(&mut spec.clone())?.as_str()?.to_string();
        return std::path::Path::new(&dir).is_relative().then_some(dir);
    }
    let mut found = None;
    visit_setting(&mut spec.clone()["settings"], "", BASE_DIRECTORY, &mut |v: &mut Value| {
        if let Some(s) = v.as_str().filter(|s| std::path::Path::new(s).is_relative()) {
            found = Some(s.to_string());
        }
    });
    found
}

/// Makes a relative `param.base_directory` absolute against `dir` (a spec
/// file's directory), in place, keeping the spec's own layout.
pub fn resolve_base_directory(spec: &mut Value, dir: &std::path::Path) {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if super::druid::is_druid(spec) {
        if let Some(v) = super::druid::base_directory_mut(spec)
            && let Some(s) = v.as_str().filter(|s| std::path::Path::new(s).is_relative())
        {
            *v = Value::String(dir.join(s).display().to_string());
        }
        return;
    }
    visit_setting(&mut spec["settings"], "", BASE_DIRECTORY, &mut |v: &mut Value| {
        if let Some(s) = v.as_str().filter(|s| std::path::Path::new(s).is_relative()) {
            *v = Value::String(dir.join(s).display().to_string());
        }
    });
}

/// Calls `f` on every value whose flat key (with `index.` added when
/// missing) is `key`.
fn visit_setting(value: &mut Value, prefix: &str, key: &str, f: &mut dyn FnMut(&mut Value)) {
    let Some(obj) = value.as_object_mut() else { return };
    for (k, v) in obj.iter_mut() {
        let flat = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if v.is_object() {
            visit_setting(v, &flat, key, f);
        } else if flat == key || format!("index.{flat}") == key {
            f(v);
        }
    }
}

#[cfg(test)]
mod base_directory_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_relative_base_directory_is_found_and_resolved_in_any_layout() {
        let dir = std::path::Path::new("/specs");
        for mut spec in [
            json!({"settings": {"ingestion_source": {"param": {"base_directory": "streams"}}}}),
            json!({"settings": {"index.ingestion_source.param.base_directory": "streams"}}),
            json!({"settings": {"index": {"ingestion_source": {"param.base_directory": "streams"}}}}),
        ] {
            assert_eq!(relative_base_directory(&spec).as_deref(), Some("streams"), "{spec}");
            resolve_base_directory(&mut spec, dir);
            assert_eq!(relative_base_directory(&spec), None);
            assert!(spec.to_string().contains("/specs/streams"), "{spec}");
        }
        let absolute = json!({"settings": {"ingestion_source": {"param": {"base_directory": "/data"}}}});
        assert_eq!(relative_base_directory(&absolute), None);
        // A Druid file spec's ioConfig.baseDirectory, plain or wrapped in `spec`.
        for mut spec in [
            json!({"type": "file", "ioConfig": {"stream": "s", "baseDirectory": "streams"}}),
            json!({"type": "file", "spec": {"ioConfig": {"stream": "s", "base_directory": "streams"}}}),
        ] {
            assert_eq!(relative_base_directory(&spec).as_deref(), Some("streams"), "{spec}");
            resolve_base_directory(&mut spec, dir);
            assert_eq!(relative_base_directory(&spec), None);
            assert!(spec.to_string().contains("/specs/streams"), "{spec}");
        }
    }
}
