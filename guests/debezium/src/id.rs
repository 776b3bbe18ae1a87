//! The document id: the text of the key values, joined.
//!
//! * The values come from the message key's fields (the default: Debezium's
//!   Kafka key holds the row's primary key, `{"id": 1001}` or, with the
//!   schema envelope, `{"schema": ..., "payload": {"id": 1001}}`), in the
//!   key's field order; or from the configured `key_columns` of the row, in
//!   the configured order. A key that is a bare scalar (`1001`, as an
//!   `ExtractField` transform leaves it) is the single value.
//! * A value's text: a string as it is, a number as JSON writes it, a boolean
//!   as `true`/`false`. `null`, objects and arrays are errors.
//! * One value: its text is the id. Several: the texts joined with `-`, each
//!   with `\` written `\\` and `-` written `\-`, so that different keys never
//!   share an id (`("a-b", "c")` is `a\-b-c`, `("a", "b-c")` is `a-b\-c`;
//!   `(1001, 2)` is `1001-2`).
//! * The id must not be empty nor longer than [`sluice_plugin_sdk::MAX_ID_BYTES`].

use std::borrow::Cow;

use sluice_plugin_sdk::check_id_length;
use sluice_plugin_sdk::json::{self, Member, Value};

/// The id from a message key (the raw Kafka key bytes).
pub fn from_message_key(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("message key is not valid UTF-8: {e}"))?;
    let key: Value = json::parse(text).map_err(|e| e.describe("message key"))?;
    let key = match key {
        Value::Object(mut members)
            if members.len() == 2
                && json::member(&members, "schema").is_some()
                && json::member(&members, "payload").is_some() =>
        {
            let index = members.iter().position(|(k, _)| k == "payload").unwrap_or_default();
            members.swap_remove(index).1
        }
        other => other,
    };
    match &key {
        Value::Object(fields) if fields.is_empty() => Err("message key has no fields".to_owned()),
        Value::Object(fields) => {
            let texts = fields
                .iter()
                .map(|(name, value)| value_text(value, || format!("message key field [{name}]")))
                .collect::<Result<Vec<_>, _>>()?;
            checked(join(&texts))
        }
        Value::Null => Err("message key is null (a table without a primary key?): configure key_columns".to_owned()),
        Value::Array(_) => {
            Err("message key must be a JSON object of key fields (or a single scalar), found an array".to_owned())
        }
        scalar => checked(value_text(scalar, || "message key".to_owned())?.into_owned()),
    }
}

/// The id from `columns` of a row image (`image` names it in errors).
pub fn from_columns(row: &[Member<'_>], columns: &[String], image: &str) -> Result<String, String> {
    let texts = columns
        .iter()
        .map(|column| match json::member(row, column) {
            Some(value) => value_text(value, || format!("key column [{column}] in [{image}]")),
            None => Err(format!("key column [{column}] is missing from [{image}]")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    checked(join(&texts))
}

/// One value's text; `what` names the value in errors.
fn value_text<'v>(value: &'v Value<'_>, what: impl Fn() -> String) -> Result<Cow<'v, str>, String> {
    match value {
        Value::Null => Err(format!("{} is null", what())),
        _ => value.scalar_text().ok_or_else(|| {
            format!("{} must be a string, number or boolean to make a document id, found {}", what(), value.kind())
        }),
    }
}

/// One text as it is; several joined with `-`, each escaped.
pub fn join<S: AsRef<str>>(texts: &[S]) -> String {
    if let [single] = texts {
        return single.as_ref().to_owned();
    }
    let mut id = String::new();
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            id.push('-');
        }
        for c in text.as_ref().chars() {
            if c == '\\' || c == '-' {
                id.push('\\');
            }
            id.push(c);
        }
    }
    id
}

fn checked(id: String) -> Result<String, String> {
    if id.is_empty() {
        return Err("the document id is empty".to_owned());
    }
    check_id_length(id, "the document id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn key_error(key: &str, expected: &str) {
        match from_message_key(key.as_bytes()) {
            Ok(id) => panic!("{key} gave id {id}"),
            Err(e) => assert!(e.contains(expected), "{key}: {e:?} does not contain {expected:?}"),
        }
    }

    #[test]
    fn join_escapes_only_when_there_are_several() {
        assert_eq!(join(&["a-b\\c"]), "a-b\\c");
        assert_eq!(join(&["1001", "2"]), "1001-2");
        assert_eq!(join(&["a-b", "c"]), "a\\-b-c");
        assert_eq!(join(&["a", "b-c"]), "a-b\\-c");
        assert_eq!(join(&["a\\", "b"]), "a\\\\-b");
        assert_eq!(join(&["a", "\\-b"]), "a-\\\\\\-b");
        assert_eq!(join(&["-1", ""]), "\\-1-");
        assert_eq!(join::<&str>(&[]), "");
    }

    #[test]
    fn message_keys() {
        assert_eq!(from_message_key(br#"{"id":1001}"#).unwrap(), "1001");
        assert_eq!(
            from_message_key(br#"{"schema":{"type":"struct","fields":[]},"payload":{"id":1001}}"#).unwrap(),
            "1001"
        );
        assert_eq!(from_message_key(br#"{"payload":{"id":"x"},"schema":null}"#).unwrap(), "x");
        assert_eq!(from_message_key(br#"{"order_id":10001,"line":2}"#).unwrap(), "10001-2");
        assert_eq!(from_message_key(br#"{"tenant":"a-b","id":true}"#).unwrap(), "a\\-b-true");
        assert_eq!(from_message_key(br#"{"id":-5,"f":1.5}"#).unwrap(), "\\-5-1.5");
        // A bare scalar key, with or without the envelope.
        assert_eq!(from_message_key(b"1001").unwrap(), "1001");
        assert_eq!(from_message_key(br#""u-1""#).unwrap(), "u-1");
        assert_eq!(from_message_key(br#"{"schema":{"type":"int32"},"payload":1001}"#).unwrap(), "1001");
        // Field order is the key's own.
        assert_eq!(from_message_key(br#"{"b":2,"a":1}"#).unwrap(), "2-1");
        // Members named schema and payload among others are key fields.
        assert_eq!(from_message_key(br#"{"schema":"s","payload":"p","x":1}"#).unwrap(), "s-p-1");
    }

    #[test]
    fn bad_message_keys() {
        key_error("", "message key is not valid JSON");
        key_error("abc", "message key is not valid JSON");
        key_error(r#"{"id":1,"id":2}"#, "message key is invalid: duplicate key [id]");
        key_error("{}", "message key has no fields");
        key_error(r#"{"schema":{},"payload":{}}"#, "message key has no fields");
        key_error("null", "message key is null (a table without a primary key?)");
        key_error(r#"{"schema":{},"payload":null}"#, "message key is null");
        key_error("[1]", "found an array");
        key_error(r#"{"id":null}"#, "message key field [id] is null");
        key_error(
            r#"{"id":{"scale":0,"value":"AQ=="}}"#,
            "message key field [id] must be a string, number or boolean to make a document id, found an object",
        );
        key_error(r#""""#, "the document id is empty");
        key_error(
            &format!(r#"{{"id":"{}"}}"#, "x".repeat(513)),
            "the document id is too long: must be no longer than 512 bytes but was 513",
        );
        assert!(from_message_key(format!(r#"{{"id":"{}"}}"#, "x".repeat(512)).as_bytes()).is_ok());
        match from_message_key(b"\xff") {
            Err(e) => assert!(e.starts_with("message key is not valid UTF-8"), "{e}"),
            Ok(id) => panic!("{id}"),
        }
    }

    #[test]
    fn columns_of_a_row() {
        let row = json::parse_object(r#"{"id":7,"tenant":"acme","name":null,"tags":[1],"ok":false}"#, "row").unwrap();
        let cols = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(from_columns(&row, &cols(&["id"]), "after").unwrap(), "7");
        assert_eq!(from_columns(&row, &cols(&["tenant", "id"]), "after").unwrap(), "acme-7");
        assert_eq!(from_columns(&row, &cols(&["ok"]), "after").unwrap(), "false");
        assert_eq!(
            from_columns(&row, &cols(&["id", "nope"]), "before").unwrap_err(),
            "key column [nope] is missing from [before]"
        );
        assert_eq!(from_columns(&row, &cols(&["name"]), "after").unwrap_err(), "key column [name] in [after] is null");
        assert!(
            from_columns(&row, &cols(&["tags"]), "after")
                .unwrap_err()
                .contains("key column [tags] in [after] must be a string, number or boolean")
        );
    }
}
