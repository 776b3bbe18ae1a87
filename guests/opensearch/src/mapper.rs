//! The three mapper modes: how a message payload becomes an operation.
//!
//! * [`Mapper::Default`]: OpenSearch's pull-based ingestion format,
//!   `{"_id", "_version", "_op_type", "_source"}`.
//! * [`Mapper::RawPayload`]: the payload object is the document.
//! * [`Mapper::FieldMapping`]: the payload is the document, and configured
//!   fields (nested dot paths allowed) are extracted from it as id, version and
//!   operation type, like OpenSearch's `FieldMappingIngestionMessageMapper`.
//!
//! Each mode parses the payload exactly once into a borrowed [`Value`] tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use sluice_plugin_sdk::json::{self, Key, Object, Skip, Value};
use sluice_plugin_sdk::{OpType, check_id_length, path};

/// Settings of the `field_mapping` mapper; field names are validated by
/// [`crate::config`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldMappingSettings {
    pub id_field: Option<String>,
    pub version_field: Option<String>,
    pub op_type_field: Option<String>,
    pub delete_value: Option<String>,
    pub create_value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapper {
    Default,
    RawPayload,
    FieldMapping(FieldMappingSettings),
}

/// A mapped message. `source` is `None` exactly for deletes.
#[derive(Debug, PartialEq)]
pub struct Mapped<'a> {
    pub id: Option<String>,
    pub version: Option<u64>,
    pub op_type: OpType,
    pub source: Option<Object<'a>>,
}

impl Mapper {
    /// Maps a payload (already checked to be UTF-8) to an operation, or a reason.
    pub fn map<'a>(&self, payload: &'a str) -> Result<Mapped<'a>, String> {
        match self {
            Mapper::Default => map_default(payload),
            Mapper::RawPayload => {
                Ok(Mapped { id: None, version: None, op_type: OpType::Index, source: Some(parse_object(payload)?) })
            }
            Mapper::FieldMapping(settings) => map_fields(settings, payload),
        }
    }
}

/// Parses a payload that must be a JSON object.
fn parse_object(payload: &str) -> Result<Object<'_>, String> {
    json::parse_object(payload, "payload")
}

// ---------------------------------------------------------------------------
// default

/// The four fields of the default format, taken from the top-level object in
/// one pass; other top-level keys are skipped without building values.
#[derive(Default)]
struct Envelope<'a> {
    id: Option<Value<'a>>,
    version: Option<Value<'a>>,
    op_type: Option<Value<'a>>,
    source: Option<Value<'a>>,
}

/// The payload's top level: an envelope, or the kind of the non-object found.
enum TopLevel<'a> {
    Object(Envelope<'a>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a boolean"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TopLevel::Other("a string"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(TopLevel::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope::default();
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let slot = match &*key {
                "_id" => &mut envelope.id,
                "_version" => &mut envelope.version,
                "_op_type" => &mut envelope.op_type,
                "_source" => &mut envelope.source,
                _ => {
                    map.next_value::<Skip>()?;
                    others.push(key);
                    continue;
                }
            };
            if slot.is_some() {
                return Err(json::duplicate_key_error(&key));
            }
            *slot = Some(map.next_value()?);
        }
        if let Some(key) = json::first_duplicate(&others, |k| k) {
            return Err(json::duplicate_key_error(key));
        }
        Ok(TopLevel::Object(envelope))
    }
}

fn map_default(payload: &str) -> Result<Mapped<'_>, String> {
    let envelope = match json::parse(payload).map_err(|e| e.describe("payload"))? {
        TopLevel::Object(envelope) => envelope,
        TopLevel::Other(kind) => {
            return Err(format!("payload must be a JSON object, found {kind}"));
        }
    };

    let op_type = match &envelope.op_type {
        None => OpType::Index,
        Some(value) => parse_op_type(value)?,
    };

    let id = match envelope.id {
        None => None,
        Some(Value::Str(id)) if !id.is_empty() => Some(check_id_length(id.into_owned(), "_id")?),
        Some(other) => {
            return Err(format!("_id must be a non-empty string, found {}", other.describe()));
        }
    };
    if op_type == OpType::Delete && id.is_none() {
        return Err("_id is required for a delete operation".to_owned());
    }

    let version = match &envelope.version {
        None => None,
        Some(value) => Some(value.as_version("_version")?),
    };

    let source = match (op_type, envelope.source) {
        (OpType::Delete, _) => None,
        (_, Some(Value::Object(members))) => Some(members),
        (_, None) => {
            return Err(format!("_source is required for operation [{}]", op_name(op_type)));
        }
        (_, Some(other)) => {
            return Err(format!("_source must be a JSON object, found {}", other.kind()));
        }
    };

    Ok(Mapped { id, version, op_type, source })
}

fn op_name(op_type: OpType) -> &'static str {
    match op_type {
        OpType::Index => "index",
        OpType::Create => "create",
        OpType::Delete => "delete",
        OpType::Update => "update",
    }
}

/// `_op_type`: `index`, `create`, `delete` or `update` (a partial document
/// in `_source`, merged into the stored one: OpenSearch #19081),
/// case-insensitive like OpenSearch's `OpType.fromString`.
fn parse_op_type(value: &Value<'_>) -> Result<OpType, String> {
    if let Value::Str(s) = value {
        for op_type in [OpType::Index, OpType::Create, OpType::Delete, OpType::Update] {
            if s.eq_ignore_ascii_case(op_name(op_type)) {
                return Ok(op_type);
            }
        }
    }
    Err(format!("invalid _op_type {}: expected one of [index, create, delete, update]", value.describe()))
}

// ---------------------------------------------------------------------------
// field_mapping

fn map_fields<'a>(settings: &FieldMappingSettings, payload: &'a str) -> Result<Mapped<'a>, String> {
    let mut source = parse_object(payload)?;

    let id = match &settings.id_field {
        None => None,
        Some(field) => {
            let value = path::remove(&mut source, field)
                .ok_or_else(|| format!("configured id_field [{field}] is missing from the message"))?;
            let text = scalar_text(field, &value)?;
            let id = java_trim(&text);
            if id.is_empty() {
                return Err(format!("field [{field}] has an empty value"));
            }
            Some(check_id_length(id.to_owned(), &format!("id in field [{field}]"))?)
        }
    };

    let version = match &settings.version_field {
        None => None,
        Some(field) => {
            let value = path::remove(&mut source, field)
                .ok_or_else(|| format!("configured version_field [{field}] is missing from the message"))?;
            // As OpenSearch: the scalar's trimmed text must be a version number,
            // so 5 and " 5 " are accepted but 5.0 and -1 are not.
            let text = scalar_text(field, &value)?;
            let version = json::parse_unsigned(java_trim(&text));
            Some(version.ok_or_else(|| value.not_a_version(&format!("version in field [{field}]")))?)
        }
    };

    let mut op_type = OpType::Index;
    if let Some(field) = &settings.op_type_field
        && let Some(value) = path::remove(&mut source, field)
    {
        let text = scalar_text(field, &value)?;
        let text = java_trim(&text);
        if settings.delete_value.as_deref() == Some(text) {
            op_type = OpType::Delete;
        } else if settings.create_value.as_deref() == Some(text) {
            op_type = OpType::Create;
        }
    }

    if op_type == OpType::Delete {
        if id.is_none() {
            return Err("a delete operation requires a document id: configure mapper_settings [id_field]".to_owned());
        }
        return Ok(Mapped { id, version, op_type, source: None });
    }
    Ok(Mapped { id, version, op_type, source: Some(source) })
}

/// The text of an extracted scalar (string, number or boolean).
fn scalar_text<'v>(field: &str, value: &'v Value<'_>) -> Result<Cow<'v, str>, String> {
    match value {
        Value::Null => Err(format!("field [{field}] has a null value")),
        _ => value.scalar_text().ok_or_else(|| {
            format!("field [{field}] must be a scalar value (string, number, or boolean), but found {}", value.kind())
        }),
    }
}

/// Java's `String.trim`: strips leading and trailing chars up to U+0020.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_ok(payload: &str) -> Mapped<'_> {
        Mapper::Default.map(payload).unwrap_or_else(|e| panic!("{payload}: {e}"))
    }

    #[track_caller]
    fn rejects(mapper: &Mapper, payload: &str, expected: &str) {
        let shown: String = payload.chars().take(200).collect();
        match mapper.map(payload) {
            Ok(mapped) => panic!("{shown} accepted: {mapped:?}"),
            Err(e) => assert!(e.contains(expected), "{shown}: reason {e:?} does not contain {expected:?}"),
        }
    }

    fn source_json(mapped: &Mapped<'_>) -> String {
        json::to_json(mapped.source.as_ref().unwrap(), 0).unwrap()
    }

    fn field_mapping(id: Option<&str>, version: Option<&str>, op: Option<&str>) -> Mapper {
        Mapper::FieldMapping(FieldMappingSettings {
            id_field: id.map(Into::into),
            version_field: version.map(Into::into),
            op_type_field: op.map(Into::into),
            delete_value: op.map(|_| "D".into()),
            create_value: op.map(|_| "C".into()),
        })
    }

    // --- default ---------------------------------------------------------

    #[test]
    fn default_index_with_everything() {
        let m =
            default_ok(r#"{"_id":"1","_version":"7","_op_type":"index","_source":{"a": 1 ,"b":[true]},"x":{"y":[1]}}"#);
        assert_eq!(m.id.as_deref(), Some("1"));
        assert_eq!(m.version, Some(7));
        assert_eq!(m.op_type, OpType::Index);
        assert_eq!(source_json(&m), r#"{"a":1,"b":[true]}"#);
    }

    #[test]
    fn default_op_types() {
        assert_eq!(default_ok(r#"{"_source":{}}"#).op_type, OpType::Index);
        let create = default_ok(r#"{"_op_type":"create","_id":"c","_source":{"k":"v"}}"#);
        assert_eq!(create.op_type, OpType::Create);
        assert_eq!(source_json(&create), r#"{"k":"v"}"#);
        let delete = default_ok(r#"{"_op_type":"delete","_id":"d","_version":3}"#);
        assert_eq!(delete, Mapped { id: Some("d".into()), version: Some(3), op_type: OpType::Delete, source: None });
        assert_eq!(default_ok(r#"{"_op_type":"DELETE","_id":"d"}"#).op_type, OpType::Delete);
        assert_eq!(default_ok(r#"{"_op_type":"Create","_source":{}}"#).op_type, OpType::Create);
    }

    #[test]
    fn default_id_is_optional_for_index_and_create() {
        assert_eq!(default_ok(r#"{"_source":{"a":1}}"#).id, None);
        assert_eq!(default_ok(r#"{"_op_type":"create","_source":{"a":1}}"#).id, None);
        assert_eq!(default_ok(r#"{"_id":" spaced ","_source":{}}"#).id.as_deref(), Some(" spaced "));
    }

    #[test]
    fn default_delete_ignores_source() {
        for source in ["", r#","_source":null"#, r#","_source":"junk""#, r#","_source":{"a":1}"#] {
            let payload = format!(r#"{{"_op_type":"delete","_id":"d"{source}}}"#);
            assert_eq!(Mapper::Default.map(&payload).unwrap().source, None, "{payload}");
        }
    }

    #[test]
    fn default_version_forms() {
        assert_eq!(default_ok(r#"{"_version":0,"_source":{}}"#).version, Some(0));
        assert_eq!(default_ok(r#"{"_version":"0042","_source":{}}"#).version, Some(42));
        assert_eq!(default_ok(r#"{"_version":18446744073709551615,"_source":{}}"#).version, Some(u64::MAX));
        assert_eq!(default_ok(r#"{"_version":"18446744073709551615","_source":{}}"#).version, Some(u64::MAX));
        assert_eq!(default_ok(r#"{"_source":{}}"#).version, None);
    }

    #[test]
    fn default_invalid_versions() {
        for (version, shown) in [
            ("-1", "-1"),
            (r#""-1""#, r#""-1""#),
            ("1.5", "1.5"),
            ("1.0", "1.0"),
            ("1e3", "1000.0"),
            (r#""1.0""#, r#""1.0""#),
            (r#""abc""#, r#""abc""#),
            (r#""""#, r#""""#),
            (r#"" 1""#, r#"" 1""#),
            (r#""+1""#, r#""+1""#),
            ("18446744073709551616", "1.8446744073709552e+19"),
            (r#""18446744073709551616""#, r#""18446744073709551616""#),
            ("true", "true"),
            ("null", "null"),
            ("[1]", "an array"),
            ("{}", "an object"),
        ] {
            let payload = format!(r#"{{"_id":"1","_version":{version},"_source":{{}}}}"#);
            rejects(
                &Mapper::Default,
                &payload,
                &format!(
                    "invalid _version: {shown} is not an integer from 0 to 18446744073709551615 or a string of its decimal digits"
                ),
            );
        }
    }

    #[test]
    fn default_invalid_ids() {
        rejects(&Mapper::Default, r#"{"_id":42,"_source":{}}"#, "_id must be a non-empty string, found 42");
        rejects(&Mapper::Default, r#"{"_id":"","_source":{}}"#, r#"_id must be a non-empty string, found """#);
        rejects(&Mapper::Default, r#"{"_id":null,"_source":{}}"#, "_id must be a non-empty string, found null");
        rejects(&Mapper::Default, r#"{"_id":["a"],"_source":{}}"#, "_id must be a non-empty string, found an array");
        let long = format!(r#"{{"_id":"{}","_source":{{}}}}"#, "x".repeat(513));
        rejects(&Mapper::Default, &long, "_id is too long: must be no longer than 512 bytes but was 513");
        let max = format!(r#"{{"_id":"{}","_source":{{}}}}"#, "x".repeat(512));
        assert_eq!(default_ok(&max).id.unwrap().len(), 512);
        rejects(&Mapper::Default, r#"{"_op_type":"delete"}"#, "_id is required for a delete operation");
    }

    #[test]
    fn default_invalid_op_types() {
        for (op, shown) in [
            (r#""upsert""#, r#""upsert""#),
            (r#""""#, r#""""#),
            ("1", "1"),
            ("null", "null"),
            ("true", "true"),
            (r#"["index"]"#, "an array"),
        ] {
            let payload = format!(r#"{{"_id":"1","_op_type":{op},"_source":{{}}}}"#);
            rejects(
                &Mapper::Default,
                &payload,
                &format!("invalid _op_type {shown}: expected one of [index, create, delete, update]"),
            );
        }
    }

    #[test]
    fn default_invalid_sources() {
        rejects(&Mapper::Default, r#"{"_id":"1"}"#, "_source is required for operation [index]");
        rejects(&Mapper::Default, r#"{"_op_type":"create"}"#, "_source is required for operation [create]");
        rejects(&Mapper::Default, r#"{"_source":null}"#, "_source must be a JSON object, found null");
        rejects(&Mapper::Default, r#"{"_source":"{}"}"#, "_source must be a JSON object, found a string");
        rejects(&Mapper::Default, r#"{"_source":[{}]}"#, "_source must be a JSON object, found an array");
        rejects(&Mapper::Default, r#"{"_source":{"a":1,"a":2}}"#, "payload is invalid: duplicate key [a]");
    }

    #[test]
    fn default_rejects_duplicate_top_level_keys() {
        for key in ["_id", "_version", "_op_type", "_source", "other"] {
            let payload = format!(r#"{{"{key}":{{}},"_source":{{}},"{key}":{{}}}}"#);
            rejects(&Mapper::Default, &payload, &format!("payload is invalid: duplicate key [{key}] at line 1"));
        }
    }

    #[test]
    fn default_rejects_non_objects_and_bad_json() {
        for (payload, kind) in [
            ("[]", "an array"),
            ("[1,{}]", "an array"),
            (r#""x""#, "a string"),
            ("1", "a number"),
            ("-1", "a number"),
            ("1.5", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            rejects(&Mapper::Default, payload, &format!("payload must be a JSON object, found {kind}"));
        }
        rejects(
            &Mapper::Default,
            r#"{"_id":"1","_source":{"a""#,
            "payload is not valid JSON: EOF while parsing an object",
        );
        rejects(&Mapper::Default, "{}{}", "payload is not valid JSON: trailing characters at line 1 column 3");
        rejects(&Mapper::Default, "[1,", "payload is not valid JSON");
        rejects(&Mapper::Default, "{'a':1}", "payload is not valid JSON: key must be a string");
    }

    #[test]
    fn default_deep_nesting_is_invalid() {
        let deep = format!(r#"{{"_id":"1","_source":{}1{}}}"#, r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        rejects(&Mapper::Default, &deep, "payload is nested too deeply");
        let deep_ignored = format!(r#"{{"x":{}{},"_source":{{}}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        rejects(&Mapper::Default, &deep_ignored, "payload is nested too deeply");
    }

    // --- raw_payload ------------------------------------------------------

    #[test]
    fn raw_payload_is_the_document() {
        let m = Mapper::RawPayload.map(r#" {"_id":"ignored", "a" : {"b" : null}} "#).unwrap();
        assert_eq!(m.id, None);
        assert_eq!(m.version, None);
        assert_eq!(m.op_type, OpType::Index);
        assert_eq!(source_json(&m), r#"{"_id":"ignored","a":{"b":null}}"#);
        rejects(&Mapper::RawPayload, "[1]", "payload must be a JSON object, found an array");
        rejects(&Mapper::RawPayload, r#"{"a":1,"a":1}"#, "duplicate key [a]");
        rejects(&Mapper::RawPayload, r#"{"a":"#, "payload is not valid JSON");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        rejects(&Mapper::RawPayload, &deep, "payload is nested too deeply");
    }

    // --- field_mapping ----------------------------------------------------

    #[test]
    fn field_mapping_top_level_fields() {
        let mapper = field_mapping(Some("id"), Some("v"), Some("op"));
        let m = mapper.map(r#"{"id":"a1","v":5,"op":"C","name":"x"}"#).unwrap();
        assert_eq!(m.id.as_deref(), Some("a1"));
        assert_eq!(m.version, Some(5));
        assert_eq!(m.op_type, OpType::Create);
        assert_eq!(source_json(&m), r#"{"name":"x"}"#);

        let m = mapper.map(r#"{"id":"a1","v":"6","op":"D","name":"x"}"#).unwrap();
        assert_eq!(m, Mapped { id: Some("a1".into()), version: Some(6), op_type: OpType::Delete, source: None });

        let m = mapper.map(r#"{"id":"a1","v":"6","op":"U","name":"x"}"#).unwrap();
        assert_eq!(m.op_type, OpType::Index);
        assert_eq!(source_json(&m), r#"{"name":"x"}"#);

        // Without the op field: index.
        let m = mapper.map(r#"{"id":"a1","v":1}"#).unwrap();
        assert_eq!(m.op_type, OpType::Index);
        assert_eq!(source_json(&m), "{}");
    }

    #[test]
    fn field_mapping_nested_paths() {
        let mapper = field_mapping(Some("meta.id"), Some("meta.version"), Some("meta.op.kind"));
        let m = mapper.map(r#"{"meta":{"id":7,"version":"8","op":{"kind":"C"},"keep":1},"doc":{"a":1}}"#).unwrap();
        assert_eq!(m.id.as_deref(), Some("7"));
        assert_eq!(m.version, Some(8));
        assert_eq!(m.op_type, OpType::Create);
        assert_eq!(source_json(&m), r#"{"meta":{"keep":1},"doc":{"a":1}}"#);

        // Emptied objects disappear, all the way up.
        let m = mapper.map(r#"{"meta":{"id":"x","version":1,"op":{"kind":"I"}},"doc":1}"#).unwrap();
        assert_eq!(source_json(&m), r#"{"doc":1}"#);

        let m = mapper.map(r#"{"meta":{"id":"x","version":1,"op":{"kind":"D"}},"doc":1}"#).unwrap();
        assert_eq!(m.op_type, OpType::Delete);
        assert_eq!(m.source, None);
    }

    #[test]
    fn field_mapping_scalar_texts() {
        let mapper = field_mapping(Some("id"), None, None);
        for (id, text) in [("42", "42"), ("-3", "-3"), ("4.5", "4.5"), ("true", "true"), (r#"" padded ""#, "padded")] {
            let payload = format!(r#"{{"id":{id}}}"#);
            let m = mapper.map(&payload).unwrap();
            assert_eq!(m.id.as_deref(), Some(text), "{id}");
        }
        rejects(&mapper, r#"{"id":null}"#, "field [id] has a null value");
        rejects(
            &mapper,
            r#"{"id":{"a":1}}"#,
            "field [id] must be a scalar value (string, number, or boolean), but found an object",
        );
        rejects(
            &mapper,
            r#"{"id":[1]}"#,
            "field [id] must be a scalar value (string, number, or boolean), but found an array",
        );
        rejects(&mapper, r#"{"id":"  "}"#, "field [id] has an empty value");
        rejects(&mapper, r#"{"other":1}"#, "configured id_field [id] is missing from the message");
        rejects(&mapper, &format!(r#"{{"id":"{}"}}"#, "y".repeat(600)), "id in field [id] is too long");
    }

    #[test]
    fn field_mapping_versions() {
        let mapper = field_mapping(None, Some("m.v"), None);
        assert_eq!(mapper.map(r#"{"m":{"v":" 12 "}}"#).unwrap().version, Some(12));
        assert_eq!(mapper.map(r#"{"m":{"v":12}}"#).unwrap().version, Some(12));
        rejects(&mapper, r#"{"x":1}"#, "configured version_field [m.v] is missing from the message");
        rejects(&mapper, r#"{"m":{"v":-1}}"#, "invalid version in field [m.v]: -1 is not an integer from 0");
        rejects(&mapper, r#"{"m":{"v":1.0}}"#, "invalid version in field [m.v]: 1.0 is not");
        rejects(&mapper, r#"{"m":{"v":"x"}}"#, r#"invalid version in field [m.v]: "x" is not"#);
        rejects(&mapper, r#"{"m":{"v":true}}"#, "invalid version in field [m.v]: true is not");
        rejects(&mapper, r#"{"m":{"v":"18446744073709551616"}}"#, "invalid version in field [m.v]");
        rejects(&mapper, r#"{"m":{"v":null}}"#, "field [m.v] has a null value");
        rejects(&mapper, r#"{"m":{"v":[1]}}"#, "field [m.v] must be a scalar value");
    }

    #[test]
    fn field_mapping_op_type_values() {
        let mapper = field_mapping(Some("id"), None, Some("op"));
        let op = |payload: &str| mapper.map(payload).unwrap().op_type;
        assert_eq!(op(r#"{"id":1,"op":" D "}"#), OpType::Delete);
        assert_eq!(op(r#"{"id":1,"op":"d"}"#), OpType::Index);
        assert_eq!(op(r#"{"id":1,"op":"C"}"#), OpType::Create);
        assert_eq!(op(r#"{"id":1,"op":"index"}"#), OpType::Index);
        rejects(&mapper, r#"{"id":1,"op":null}"#, "field [op] has a null value");
        rejects(&mapper, r#"{"id":1,"op":{}}"#, "field [op] must be a scalar value");

        // Numbers and booleans compare as their text.
        let numeric = Mapper::FieldMapping(FieldMappingSettings {
            id_field: Some("id".into()),
            op_type_field: Some("deleted".into()),
            delete_value: Some("true".into()),
            create_value: Some("1".into()),
            ..Default::default()
        });
        assert_eq!(numeric.map(r#"{"id":1,"deleted":true}"#).unwrap().op_type, OpType::Delete);
        assert_eq!(numeric.map(r#"{"id":1,"deleted":1}"#).unwrap().op_type, OpType::Create);
        assert_eq!(numeric.map(r#"{"id":1,"deleted":false}"#).unwrap().op_type, OpType::Index);

        // Without delete/create values the field is still removed; always index.
        let plain = field_mapping(None, None, None);
        let Mapper::FieldMapping(mut settings) = plain else { unreachable!() };
        settings.op_type_field = Some("op".into());
        let m = Mapper::FieldMapping(settings).map(r#"{"op":"D","a":1}"#).unwrap();
        assert_eq!(m.op_type, OpType::Index);
        assert_eq!(source_json(&m), r#"{"a":1}"#);
    }

    #[test]
    fn field_mapping_delete_needs_an_id() {
        let mapper = Mapper::FieldMapping(FieldMappingSettings {
            op_type_field: Some("op".into()),
            delete_value: Some("D".into()),
            ..Default::default()
        });
        rejects(&mapper, r#"{"op":"D"}"#, "a delete operation requires a document id");
    }

    #[test]
    fn field_mapping_without_settings_is_raw() {
        let m = field_mapping(None, None, None).map(r#"{"a":1}"#).unwrap();
        assert_eq!(m.id, None);
        assert_eq!(m.version, None);
        assert_eq!(source_json(&m), r#"{"a":1}"#);
    }

    #[test]
    fn field_mapping_rejects_bad_payloads() {
        let mapper = field_mapping(Some("id"), None, None);
        rejects(&mapper, "\"id\"", "payload must be a JSON object, found a string");
        rejects(&mapper, r#"{"id":1,"id":2}"#, "duplicate key [id]");
        rejects(&mapper, r#"{"id":1"#, "payload is not valid JSON");
        let deep = format!(r#"{{"id":1,"x":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        rejects(&mapper, &deep, "payload is nested too deeply");
    }

    #[test]
    fn java_trim_matches_java() {
        assert_eq!(java_trim("\t\n x \u{1} "), "x");
        assert_eq!(java_trim("\u{a0}x\u{a0}"), "\u{a0}x\u{a0}");
    }
}
