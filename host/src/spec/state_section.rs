//! How an ingestion's state is kept: `sluice.state` (how often the poll
//! statistics are saved) and OpenSearch's `index.gc_deletes` (how long delete
//! tombstones fence late older writes).

use super::{SpecError, invalid};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// `sluice.state.auto_save_interval`'s default.
pub const DEFAULT_AUTO_SAVE_INTERVAL: Duration = Duration::from_secs(5);
/// `index.gc_deletes`' default (OpenSearch's).
pub const DEFAULT_GC_DELETES: Duration = Duration::from_secs(60);

const STATE_KEYS: &str = "auto_save_interval";

/// `sluice.state`: the interval at which poll statistics are saved.
pub(super) fn parse_state(sluice: Option<&Value>) -> Result<Duration, SpecError> {
    let Some(section) = sluice.and_then(|s| s.get("state")) else { return Ok(DEFAULT_AUTO_SAVE_INTERVAL) };
    let obj = section.as_object().ok_or_else(|| invalid("sluice.state", "must be an object"))?;
    let mut interval = DEFAULT_AUTO_SAVE_INTERVAL;
    for (k, v) in obj {
        match k.as_str() {
            "auto_save_interval" => {
                let key = "sluice.state.auto_save_interval";
                interval = duration(key, v)?;
                if interval < Duration::from_millis(100) || interval > Duration::from_secs(86_400) {
                    return Err(invalid(key, format!("{interval:?} is out of range 100ms..=1d")));
                }
            }
            other => {
                return Err(SpecError::UnknownKey { key: format!("sluice.state.{other}"), allowed: STATE_KEYS.into() });
            }
        }
    }
    Ok(interval)
}

/// `index.gc_deletes` among the flat settings: `None` keeps tombstones
/// forever (`-1`).
pub(super) fn parse_gc_deletes(settings: &BTreeMap<String, Value>) -> Result<Option<Duration>, SpecError> {
    let key = "index.gc_deletes";
    match settings.get(key) {
        None => Ok(Some(DEFAULT_GC_DELETES)),
        Some(v) if v.as_i64() == Some(-1) || v.as_str().is_some_and(|s| s.trim() == "-1") => Ok(None),
        Some(v) => duration(key, v).map(Some),
    }
}

/// A time value: a number of ms, or text such as `500ms`, `5s`, `30d`.
fn duration(key: &str, v: &Value) -> Result<Duration, SpecError> {
    match v {
        Value::Number(n) => {
            n.as_u64().map(Duration::from_millis).ok_or_else(|| invalid(key, format!("{n} is not a duration")))
        }
        Value::String(s) => crate::util::parse_duration(s).map_err(|e| invalid(key, e)),
        _ => Err(invalid(key, "must be a duration such as \"5s\", \"500ms\" or a number of ms")),
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{IngestionSpec, SpecError};
    use serde_json::{Value, json};
    use std::time::Duration;

    fn parse(settings: Value, sluice: Value) -> Result<IngestionSpec, SpecError> {
        let mut spec = json!({"name": "s", "settings": settings, "sluice": sluice});
        spec["settings"]["ingestion_source"] = json!({"type": "file"});
        IngestionSpec::from_value(&spec)
    }

    #[test]
    fn auto_save_interval_takes_durations_and_defaults_to_5s() {
        let spec = parse(json!({}), json!({})).unwrap();
        assert_eq!(spec.auto_save_interval(), Duration::from_secs(5));
        for (given, ms) in [(json!("500ms"), 500), (json!("5s"), 5000), (json!(250), 250), (json!("2m"), 120_000)] {
            let spec = parse(json!({}), json!({"state": {"auto_save_interval": given}})).unwrap();
            assert_eq!(spec.auto_save_interval(), Duration::from_millis(ms), "{given}");
        }
        let e = parse(json!({}), json!({"state": {"auto_save_interval": "soon"}})).unwrap_err().to_string();
        assert!(e.contains("sluice.state.auto_save_interval"), "{e}");
        let e = parse(json!({}), json!({"state": {"autosave": "5s"}})).unwrap_err().to_string();
        assert!(e.contains("[sluice.state.autosave]") && e.contains("allowed: auto_save_interval"), "{e}");
        let e = parse(json!({}), json!({"stat": {}})).unwrap_err().to_string();
        assert!(e.contains("[sluice.stat]") && e.contains("allowed: plugin, sink, state"), "{e}");
    }

    #[test]
    fn gc_deletes_defaults_to_60s_and_minus_one_keeps_tombstones() {
        assert_eq!(parse(json!({}), json!({})).unwrap().gc_deletes(), Some(Duration::from_secs(60)));
        assert_eq!(
            parse(json!({"index.gc_deletes": "10s"}), json!({})).unwrap().gc_deletes(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse(json!({"index": {"gc_deletes": -1}}), json!({})).unwrap().gc_deletes(), None);
        assert_eq!(parse(json!({"gc_deletes": "-1"}), json!({})).unwrap().gc_deletes(), None);
        assert_eq!(parse(json!({"gc_deletes": 0}), json!({})).unwrap().gc_deletes(), Some(Duration::ZERO));
        let e = parse(json!({"index.gc_deletes": "-5s"}), json!({})).unwrap_err().to_string();
        assert!(e.contains("index.gc_deletes"), "{e}");
    }
}
