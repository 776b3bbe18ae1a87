//! The plugin configuration.
//!
//! ```json
//! {
//!   "mapper_type": "default" | "raw_payload" | "field_mapping",
//!   "mapper_settings": {"id_field": "meta.id", "version_field": "v", "op_type_field": "op",
//!                       "op_type_field.delete_value": "D", "op_type_field.create_value": "C"},
//!   "mappings": {"dynamic": "strict", "properties": {...}}
//! }
//! ```
//!
//! Every key is optional (`null` counts as absent); unknown keys are errors.
//! `mapper_settings` are validated as OpenSearch validates them.

use sluice_plugin_sdk::json::{self, Member, Object, Value};
use sluice_plugin_sdk::mapping::Mappings;

use crate::mapper::{FieldMappingSettings, Mapper};

const CONFIG_KEYS: &str = "[mapper_type, mapper_settings, mappings]";
const MAPPER_TYPES: &str = "[default, raw_payload, field_mapping]";
const SETTINGS_KEYS: &str =
    "[id_field, version_field, op_type_field, op_type_field.delete_value, op_type_field.create_value]";

#[derive(Debug)]
pub struct Config {
    pub mapper: Mapper,
    /// `None`: documents are not validated.
    pub mappings: Option<Mappings>,
}

impl Config {
    /// Parses the configuration JSON; blank text means `{}`.
    pub fn parse(text: &str) -> Result<Config, String> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let members = json::parse_object(text, "config")?;

        let mut mapper_type = "default";
        let mut settings: Option<&Object> = None;
        let mut mappings = None;
        for (key, value) in &members {
            match (&**key, value) {
                ("mapper_type" | "mapper_settings" | "mappings", Value::Null) => {}
                ("mapper_type", Value::Str(name)) => {
                    mapper_type = match &**name {
                        "default" | "raw_payload" | "field_mapping" => name,
                        other => {
                            return Err(format!("unknown mapper_type [{other}]; allowed values: {MAPPER_TYPES}"));
                        }
                    };
                }
                ("mapper_type", other) => {
                    return Err(format!("mapper_type must be a string, found {}", other.describe()));
                }
                ("mapper_settings", Value::Object(object)) => settings = Some(object),
                ("mapper_settings", other) => {
                    return Err(format!("mapper_settings must be a JSON object, found {}", other.kind()));
                }
                ("mappings", value) => {
                    mappings = Some(Mappings::parse(value).map_err(|e| format!("invalid mappings: {e}"))?);
                }
                (other, _) => {
                    return Err(format!("unknown config key [{other}]; allowed keys: {CONFIG_KEYS}"));
                }
            }
        }

        let mapper = match mapper_type {
            "field_mapping" => Mapper::FieldMapping(parse_settings(settings.map(Vec::as_slice).unwrap_or_default())?),
            other => {
                if settings.is_some_and(|s| !s.is_empty()) {
                    return Err(format!(
                        "mapper_settings are not supported for mapper_type [{other}]; only [field_mapping] accepts them"
                    ));
                }
                if other == "raw_payload" { Mapper::RawPayload } else { Mapper::Default }
            }
        };
        Ok(Config { mapper, mappings })
    }
}

/// `field_mapping` settings, validated like OpenSearch's
/// `FieldMappingIngestionMessageMapper.validateSettings`.
fn parse_settings(members: &[Member<'_>]) -> Result<FieldMappingSettings, String> {
    let mut settings = FieldMappingSettings::default();
    for (key, value) in members {
        let slot = match &**key {
            "id_field" => &mut settings.id_field,
            "version_field" => &mut settings.version_field,
            "op_type_field" => &mut settings.op_type_field,
            "op_type_field.delete_value" => &mut settings.delete_value,
            "op_type_field.create_value" => &mut settings.create_value,
            other => {
                return Err(format!(
                    "unknown mapper_settings key [{other}] for mapper_type [field_mapping]. Valid keys are: {SETTINGS_KEYS}"
                ));
            }
        };
        *slot = match value {
            Value::Null => None,
            Value::Str(text) => Some(text.to_string()),
            other => {
                return Err(format!("mapper_settings [{key}] must be a string, found {}", other.describe()));
            }
        };
    }

    for (name, field) in [
        ("id_field", &settings.id_field),
        ("version_field", &settings.version_field),
        ("op_type_field", &settings.op_type_field),
    ] {
        if field.as_deref().is_some_and(|f| f.trim().is_empty()) {
            return Err(format!("mapper_settings [{name}] must not be empty"));
        }
    }
    if (settings.delete_value.is_some() || settings.create_value.is_some()) && settings.op_type_field.is_none() {
        return Err("op_type_field.delete_value or op_type_field.create_value requires op_type_field to be configured"
            .to_owned());
    }
    if let (Some(delete), Some(create)) = (&settings.delete_value, &settings.create_value)
        && delete == create
    {
        return Err(format!(
            "op_type_field.delete_value [{delete}] and op_type_field.create_value [{create}] cannot be the same"
        ));
    }
    Ok(settings)
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
        for text in ["{}", "", "  ", r#"{"mapper_type":null,"mapper_settings":null,"mappings":null}"#] {
            let c = config(text);
            assert_eq!(c.mapper, Mapper::Default);
            assert!(c.mappings.is_none());
        }
        assert_eq!(config(r#"{"mapper_type":"default"}"#).mapper, Mapper::Default);
        assert_eq!(config(r#"{"mapper_type":"raw_payload"}"#).mapper, Mapper::RawPayload);
        assert_eq!(
            config(r#"{"mapper_type":"field_mapping"}"#).mapper,
            Mapper::FieldMapping(FieldMappingSettings::default())
        );
        // Empty settings are fine for every mapper type.
        assert_eq!(config(r#"{"mapper_type":"raw_payload","mapper_settings":{}}"#).mapper, Mapper::RawPayload);
    }

    #[test]
    fn full_field_mapping() {
        let c = config(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"id_field":"meta.id","version_field":"v",
                "op_type_field":"op","op_type_field.delete_value":"D","op_type_field.create_value":"C"},
                "mappings":{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}}"#,
        );
        assert_eq!(
            c.mapper,
            Mapper::FieldMapping(FieldMappingSettings {
                id_field: Some("meta.id".into()),
                version_field: Some("v".into()),
                op_type_field: Some("op".into()),
                delete_value: Some("D".into()),
                create_value: Some("C".into()),
            })
        );
        assert!(c.mappings.is_some());
    }

    #[test]
    fn unknown_keys_and_values() {
        config_error(
            r#"{"mapper":"default"}"#,
            "unknown config key [mapper]; allowed keys: [mapper_type, mapper_settings, mappings]",
        );
        config_error(
            r#"{"mapper_type":"json"}"#,
            "unknown mapper_type [json]; allowed values: [default, raw_payload, field_mapping]",
        );
        config_error(r#"{"mapper_type":1}"#, "mapper_type must be a string, found 1");
        config_error(r#"{"mapper_settings":[]}"#, "mapper_settings must be a JSON object, found an array");
        config_error(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"idfield":"x"}}"#,
            "unknown mapper_settings key [idfield] for mapper_type [field_mapping]. Valid keys are: [id_field, version_field, op_type_field, op_type_field.delete_value, op_type_field.create_value]",
        );
        config_error(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"id_field":1}}"#,
            "mapper_settings [id_field] must be a string, found 1",
        );
        config_error(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"version_field":" "}}"#,
            "mapper_settings [version_field] must not be empty",
        );
    }

    #[test]
    fn settings_only_for_field_mapping() {
        config_error(
            r#"{"mapper_settings":{"id_field":"id"}}"#,
            "mapper_settings are not supported for mapper_type [default]",
        );
        config_error(
            r#"{"mapper_type":"raw_payload","mapper_settings":{"id_field":"id"}}"#,
            "mapper_settings are not supported for mapper_type [raw_payload]",
        );
    }

    #[test]
    fn op_type_value_rules() {
        for key in ["delete_value", "create_value"] {
            config_error(
                &format!(r#"{{"mapper_type":"field_mapping","mapper_settings":{{"op_type_field.{key}":"X"}}}}"#),
                "op_type_field.delete_value or op_type_field.create_value requires op_type_field to be configured",
            );
        }
        config_error(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"op_type_field":"op","op_type_field.delete_value":"X","op_type_field.create_value":"X"}}"#,
            "op_type_field.delete_value [X] and op_type_field.create_value [X] cannot be the same",
        );
        // A null value counts as absent.
        let c = config(
            r#"{"mapper_type":"field_mapping","mapper_settings":{"op_type_field":"op","op_type_field.delete_value":null}}"#,
        );
        assert!(matches!(c.mapper, Mapper::FieldMapping(s) if s.delete_value.is_none()));
    }

    #[test]
    fn invalid_config_json() {
        config_error("{", "config is not valid JSON: EOF while parsing an object");
        config_error("[]", "config must be a JSON object, found an array");
        config_error(
            r#"{"mapper_type":"default","mapper_type":"raw_payload"}"#,
            "config is invalid: duplicate key [mapper_type]",
        );
        let deep = format!(r#"{{"mappings":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        config_error(&deep, "config is nested too deeply");
    }

    #[test]
    fn mapping_errors_are_reported() {
        config_error(
            r#"{"mappings":{"properties":{"ip":{"type":"ipv4"}}}}"#,
            "invalid mappings: unknown type [ipv4] for field [ip]",
        );
        config_error(r#"{"mappings":"strict"}"#, "invalid mappings: mappings must be a JSON object, found a string");
    }
}
