//! The plugin configuration.
//!
//! ```json
//! {
//!   "key_columns": ["tenant", "id"],
//!   "version_field": "source.lsn",
//!   "mappings": {"dynamic": "strict", "properties": {...}}
//! }
//! ```
//!
//! Every key is optional (`null` counts as absent); unknown keys are errors.
//! The host adds `mappings` from the spec; it also adds `mapper_type` and
//! `mapper_settings` when the spec sets them, which this plugin refuses: they
//! configure the `opensearch` plugin's message formats.

use sluice_plugin_sdk::json::{self, Value};
use sluice_plugin_sdk::mapping::Mappings;

const CONFIG_KEYS: &str = "[key_columns, version_field, mappings]";

#[derive(Debug, Default)]
pub struct Config {
    /// Columns of the row that make the document id, in this order; `None`:
    /// the fields of the message key.
    pub key_columns: Option<Vec<String>>,
    /// A dotted path into the event payload; `None`: the default position.
    pub version_field: Option<String>,
    /// `None`: documents are not validated.
    pub mappings: Option<Mappings>,
}

impl Config {
    /// Parses the configuration JSON; blank text means `{}`.
    pub fn parse(text: &str) -> Result<Config, String> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let members = json::parse_object(text, "config")?;
        let mut config = Config::default();
        for (key, value) in &members {
            match (&**key, value) {
                ("key_columns" | "version_field" | "mappings" | "mapper_type" | "mapper_settings", Value::Null) => {}
                ("key_columns", value) => config.key_columns = Some(parse_key_columns(value)?),
                ("version_field", Value::Str(field)) if !field.trim().is_empty() => {
                    config.version_field = Some(field.to_string());
                }
                ("version_field", other) => {
                    return Err(format!(
                        "version_field must be a non-empty string, a dotted path into the event such as \"source.lsn\"; found {}",
                        other.describe()
                    ));
                }
                ("mappings", value) => {
                    config.mappings = Some(Mappings::parse(value).map_err(|e| format!("invalid mappings: {e}"))?);
                }
                ("mapper_type" | "mapper_settings", _) => {
                    return Err(format!(
                        "{key} is not supported by the debezium plugin: a Debezium event's op, key and \
                         source position give the operation, id and version (remove \
                         ingestion_source.{key} from the spec; the plugin config takes key_columns and \
                         version_field)"
                    ));
                }
                (other, _) => {
                    return Err(format!("unknown config key [{other}]; allowed keys: {CONFIG_KEYS}"));
                }
            }
        }
        Ok(config)
    }
}

fn parse_key_columns(value: &Value<'_>) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err(format!("key_columns must be an array of column names, found {}", value.describe()));
    };
    if items.is_empty() {
        return Err(
            "key_columns must name at least one column (leave it out to take the id from the message key)".to_owned()
        );
    }
    let mut columns: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Str(name) if !name.is_empty() => columns.push(name.to_string()),
            other => {
                return Err(format!("key_columns[{i}] must be a non-empty column name, found {}", other.describe()));
            }
        }
    }
    if let Some(name) = json::first_duplicate(&columns, |c| c) {
        return Err(format!("key_columns names column [{name}] twice"));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[track_caller]
    fn config_error(text: &str, expected: &str) {
        match Config::parse(text) {
            Ok(config) => panic!("{text} accepted: {config:?}"),
            Err(e) => assert!(e.contains(expected), "{text}: error {e:?} does not contain {expected:?}"),
        }
    }

    #[test]
    fn defaults() {
        for text in ["{}", "", " \n", r#"{"key_columns":null,"version_field":null,"mappings":null}"#] {
            let c = config(text);
            assert_eq!(c.key_columns, None);
            assert_eq!(c.version_field, None);
            assert!(c.mappings.is_none());
        }
    }

    #[test]
    fn everything() {
        let c = config(
            r#"{"key_columns":["tenant","id"],"version_field":"source.lsn",
                "mappings":{"dynamic":"strict","properties":{"id":{"type":"long"}}}}"#,
        );
        assert_eq!(c.key_columns, Some(vec!["tenant".into(), "id".into()]));
        assert_eq!(c.version_field.as_deref(), Some("source.lsn"));
        assert!(c.mappings.is_some());
    }

    #[test]
    fn unknown_keys_are_named() {
        config_error(
            r#"{"key_column":["id"]}"#,
            "unknown config key [key_column]; allowed keys: [key_columns, version_field, mappings]",
        );
        config_error(r#"{"id_field":null}"#, "unknown config key [id_field]");
        config_error(r#"{"key":null}"#, "unknown config key [key]");
    }

    #[test]
    fn opensearch_mapper_keys_are_refused() {
        config_error(r#"{"mapper_type":"field_mapping"}"#, "mapper_type is not supported by the debezium plugin");
        config_error(r#"{"mapper_type":"default"}"#, "remove ingestion_source.mapper_type from the spec");
        config_error(
            r#"{"mapper_settings":{"id_field":"id"}}"#,
            "mapper_settings is not supported by the debezium plugin",
        );
        // A null is absent, as for every key.
        assert!(Config::parse(r#"{"mapper_type":null,"mapper_settings":null}"#).is_ok());
    }

    #[test]
    fn key_columns_rules() {
        config_error(r#"{"key_columns":"id"}"#, r#"key_columns must be an array of column names, found "id""#);
        config_error(r#"{"key_columns":[]}"#, "key_columns must name at least one column");
        config_error(r#"{"key_columns":["id",1]}"#, "key_columns[1] must be a non-empty column name, found 1");
        config_error(r#"{"key_columns":[""]}"#, r#"key_columns[0] must be a non-empty column name, found """#);
        config_error(r#"{"key_columns":["id","a","id"]}"#, "key_columns names column [id] twice");
    }

    #[test]
    fn version_field_rules() {
        config_error(r#"{"version_field":""}"#, "version_field must be a non-empty string");
        config_error(r#"{"version_field":" "}"#, "version_field must be a non-empty string");
        config_error(r#"{"version_field":["ts_ms"]}"#, "found an array");
        assert_eq!(config(r#"{"version_field":"ts_ms"}"#).version_field.as_deref(), Some("ts_ms"));
    }

    #[test]
    fn invalid_config_text_and_mappings() {
        config_error("[]", "config must be a JSON object, found an array");
        config_error("{", "config is not valid JSON");
        config_error(
            r#"{"version_field":"ts_ms","version_field":"source.lsn"}"#,
            "config is invalid: duplicate key [version_field]",
        );
        config_error(
            r#"{"mappings":{"properties":{"loc":{"type":"geopoint"}}}}"#,
            "invalid mappings: unknown type [geopoint] for field [loc]",
        );
        config_error(r#"{"mappings":[]}"#, "invalid mappings: mappings must be a JSON object");
    }
}
