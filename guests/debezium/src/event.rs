//! The message value: a Debezium change event, with or without the schema
//! envelope.
//!
//! Kafka Connect's JSON converter writes `{"schema": {...}, "payload": {...}}`
//! when `schemas.enable` is on and the payload alone when it is off. An object
//! whose members are exactly `schema` and `payload` is the envelope; any other
//! object is the event itself. The `schema` (often larger than the event) is
//! skipped without building it; its content is not used.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use sluice_plugin_sdk::json::{self, Key, Object, Skip, Value};

/// What a message value holds.
#[derive(Debug, PartialEq)]
pub enum Parsed<'a> {
    /// The event's members (the envelope's `payload`, or the value itself).
    Event(Object<'a>),
    /// JSON `null`, or an envelope whose payload is `null`: a tombstone
    /// written out as text (a file source cannot leave a payload out).
    Tombstone,
}

/// Parses a message value (already checked to be UTF-8).
pub fn parse(text: &str) -> Result<Parsed<'_>, String> {
    match json::parse(text).map_err(|e| e.describe("payload"))? {
        TopLevel::Null => Ok(Parsed::Tombstone),
        TopLevel::Other(kind) => Err(format!("payload must be a JSON object, found {kind}")),
        TopLevel::Object { schema: false, members } => Ok(Parsed::Event(members)),
        TopLevel::Object { schema: true, mut members } => {
            if members.len() != 1 || members[0].0 != "payload" {
                let others: Vec<&str> = members.iter().map(|(k, _)| &**k).filter(|k| *k != "payload").collect();
                return Err(if others.is_empty() {
                    "the schema envelope has no [payload]".to_owned()
                } else {
                    format!(
                        "a payload with a top-level [schema] must be a schema envelope \
                         {{\"schema\": ..., \"payload\": ...}}, but it also has [{}]",
                        others.join(", ")
                    )
                });
            }
            match members.pop().map(|(_, v)| v) {
                Some(Value::Object(event)) => Ok(Parsed::Event(event)),
                Some(Value::Null) => Ok(Parsed::Tombstone),
                other => Err(format!(
                    "the schema envelope's payload must be a JSON object, found {}",
                    other.as_ref().map_or("nothing", Value::kind)
                )),
            }
        }
    }
}

/// The top level of a value; `schema` says whether a `schema` member was
/// seen (and skipped), `members` holds every other member.
enum TopLevel<'a> {
    Null,
    Other(&'static str),
    Object { schema: bool, members: Object<'a> },
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
        Ok(TopLevel::Null)
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
        let mut schema = false;
        let mut members = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            if key == "schema" {
                if schema {
                    return Err(json::duplicate_key_error(&key));
                }
                schema = true;
                map.next_value::<Skip>()?;
            } else {
                members.push((key, map.next_value()?));
            }
        }
        if let Some(key) = json::first_duplicate(&members, |m| &m.0) {
            return Err(json::duplicate_key_error(key));
        }
        Ok(TopLevel::Object { schema, members })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> String {
        match parse(text) {
            Ok(Parsed::Event(members)) => json::to_json(&members, 0).unwrap(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[track_caller]
    fn rejects(text: &str, expected: &str) {
        match parse(text) {
            Err(e) => assert!(e.contains(expected), "{text}: {e:?} does not contain {expected:?}"),
            Ok(other) => panic!("{text} accepted: {other:?}"),
        }
    }

    #[test]
    fn with_and_without_the_envelope() {
        assert_eq!(event(r#"{"op":"c","after":{"id":1}}"#), r#"{"op":"c","after":{"id":1}}"#);
        assert_eq!(event(r#"{"schema":{"type":"struct","fields":[{"a":[1]}]},"payload":{"op":"c"}}"#), r#"{"op":"c"}"#);
        assert_eq!(event(r#"{"payload":{"op":"c"},"schema":null}"#), r#"{"op":"c"}"#);
        // `payload` without `schema` is an event that has a member named payload.
        assert_eq!(event(r#"{"payload":{"op":"c"}}"#), r#"{"payload":{"op":"c"}}"#);
    }

    #[test]
    fn tombstones_written_as_text() {
        assert_eq!(parse("null"), Ok(Parsed::Tombstone));
        assert_eq!(parse(" null "), Ok(Parsed::Tombstone));
        assert_eq!(parse(r#"{"schema":null,"payload":null}"#), Ok(Parsed::Tombstone));
    }

    #[test]
    fn malformed_envelopes() {
        rejects(r#"{"schema":{}}"#, "the schema envelope has no [payload]");
        rejects(
            r#"{"schema":{},"payload":{},"op":"c"}"#,
            "a payload with a top-level [schema] must be a schema envelope",
        );
        rejects(r#"{"schema":{},"op":"c"}"#, "but it also has [op]");
        rejects(
            r#"{"schema":{},"payload":[1]}"#,
            "the schema envelope's payload must be a JSON object, found an array",
        );
        rejects(r#"{"schema":{},"schema":{},"payload":{}}"#, "duplicate key [schema]");
        rejects(r#"{"schema":{},"payload":{},"payload":{}}"#, "duplicate key [payload]");
        // The skipped schema is only checked for syntax and depth, as the
        // members the opensearch plugin skips.
        assert_eq!(event(r#"{"schema":{"a":1,"a":2},"payload":{}}"#), "{}");
        rejects(r#"{"schema":{"a":1,"payload":{}}"#, "payload is not valid JSON");
    }

    #[test]
    fn not_objects_and_not_json() {
        for (text, kind) in
            [("[]", "an array"), ("1", "a number"), ("-1.5", "a number"), (r#""x""#, "a string"), ("true", "a boolean")]
        {
            rejects(text, &format!("payload must be a JSON object, found {kind}"));
        }
        rejects("{", "payload is not valid JSON");
        rejects(r#"{"op":"c","op":"u"}"#, "payload is invalid: duplicate key [op]");
        rejects(r#"{"after":{"a":1,"a":1}}"#, "duplicate key [a]");
    }

    #[test]
    fn deep_nesting_is_refused_even_in_the_skipped_schema() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        rejects(&format!(r#"{{"schema":{deep},"payload":{{}}}}"#), "payload is nested too deeply");
        rejects(&format!(r#"{{"op":"c","after":{{"a":{deep}}}}}"#), "payload is nested too deeply");
        rejects(&deep, "payload is nested too deeply");
    }
}
