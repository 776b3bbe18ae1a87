//! Dimensions through the plugin: listed (typed) and schemaless ones,
//! discovery options, flattened columns, the row key, `processedWithError`.

mod common;

use common::{decode, op, plugin, row};
use serde_json::json;
use sluice_druid::Druid;
use sluice_plugin_sdk::{Decoded, MAX_ID_BYTES};

fn with_dims(dimensions_spec: &str) -> Druid {
    plugin(&format!(
        r#"{{"dataSchema": {{"timestampSpec": {{"column": "ts", "format": "millis"}}, "dimensionsSpec": {dimensions_spec},
            "metricsSpec": [{{"type": "count", "name": "count"}}, {{"type": "longSum", "name": "total", "fieldName": "value"}}]}}}}"#
    ))
}

#[test]
fn listed_string_dimensions() {
    let p = with_dims(
        r#"{"dimensions": ["s", "n", "b", "o", "m", "e", "missing", "nul",
        {"type": "string", "name": "set", "multiValueHandling": "SORTED_SET", "createBitmapIndex": false},
        {"name": "raw", "multiValueHandling": "array"}]}"#,
    );
    let r = row(
        &p,
        r#"{"ts": 0, "s": "x", "n": 1.5, "b": true, "o": {"k": [1, "v"]}, "m": ["b", "a", "b"], "e": "", "nul": null,
            "set": ["b", "a", "b"], "raw": ["b", "a", "b"], "value": 3, "extra": "ignored"}"#,
    );
    assert_eq!(
        r,
        json!({"__time": "1970-01-01T00:00:00.000Z", "s": "x", "n": "1.5", "b": "true", "o": r#"{"k":[1,"v"]}"#,
               "m": ["a", "b", "b"], "e": "", "missing": null, "nul": null, "set": ["a", "b"], "raw": ["b", "a", "b"],
               "count": 1, "total": 3})
    );
    // Listed order in the row, and in the key.
    let o = op(&p, r#"{"ts": 0, "s": "x", "m": ["z"]}"#);
    assert_eq!(
        o.id.as_deref(),
        Some(r#"["1970-01-01T00:00:00.000Z","x",null,null,null,"z",null,null,null,null,null]"#)
    );
    assert_eq!(
        o.source.as_deref(),
        Some(
            r#"{"__time":"1970-01-01T00:00:00.000Z","s":"x","n":null,"b":null,"o":null,"m":"z","e":null,"missing":null,"nul":null,"set":null,"raw":null,"count":1,"total":null}"#
        )
    );
}

#[test]
fn typed_dimensions_and_errors() {
    let p = with_dims(
        r#"{"dimensions": [{"type": "long", "name": "port"}, {"type": "float", "name": "f"}, {"type": "double", "name": "d"}]}"#,
    );
    assert_eq!(
        row(&p, r#"{"ts": 0, "port": "8080", "f": 0.1, "d": "2.5"}"#),
        json!({"__time": "1970-01-01T00:00:00.000Z", "port": 8080, "f": 0.1, "d": 2.5, "count": 1, "total": null})
    );
    assert_eq!(row(&p, r#"{"ts": 0, "port": 80.9, "f": "1e2", "d": -1}"#)["port"], 80);
    assert_eq!(row(&p, r#"{"ts": 0, "port": "443.0"}"#)["port"], 443);
    assert_eq!(row(&p, r#"{"ts": 0, "f": 16777217}"#)["f"], 16777216.0);
    match decode(&p, r#"{"ts": 0, "port": "http", "f": [1, 2], "d": {"x": 1}}"#) {
        Decoded::ProcessedWithError { ops, rows, errors } => {
            let ops = common::ops_of(ops, rows);
            assert_eq!(
                errors,
                "processedWithError: dimension [port]: could not convert value \"http\" to long; \
                 dimension [f]: could not ingest value an array as float: a float column cannot have multiple values in the same row; \
                 dimension [d]: could not convert value an object to double: invalid type"
            );
            assert_eq!(ops.len(), 1);
            assert_eq!(
                ops[0].source.as_deref(),
                Some(r#"{"__time":"1970-01-01T00:00:00.000Z","port":null,"f":null,"d":null,"count":1,"total":null}"#)
            );
            assert_eq!(ops[0].id.as_deref(), Some(r#"["1970-01-01T00:00:00.000Z",null,null,null]"#));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn schemaless_dimensions() {
    let p = plugin(
        r#"{"dataSchema": {"timestampSpec": {"column": "ts", "format": "millis"},
            "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["secret"]},
            "metricsSpec": [{"type": "count", "name": "count"}, {"type": "longSum", "name": "sum", "fieldName": "value"}]}}"#,
    );
    let event = r#"{"ts": 0, "b": "2", "a": 1, "secret": "x", "value": 5, "sum": 9, "count": 7, "__time": "t",
                    "nested": {"x": 1}, "deep": [[1]], "nul": null, "tags": ["y", "x"], "flag": false}"#;
    let o = op(&p, event);
    // Every top-level scalar or flat array but the timestamp, exclusions, metric names and inputs, __time; by name.
    assert_eq!(
        o.source.as_deref(),
        Some(
            r#"{"__time":"1970-01-01T00:00:00.000Z","a":"1","b":"2","flag":"false","tags":["x","y"],"count":1,"sum":5}"#
        )
    );
    assert_eq!(
        o.id.as_deref(),
        Some(r#"["1970-01-01T00:00:00.000Z",{"a":"1","b":"2","flag":"false","tags":["x","y"]}]"#)
    );
    // A null column and a missing one are the same row.
    assert_eq!(op(&p, r#"{"ts": 0, "a": 1, "z": null}"#).id, op(&p, r#"{"ts": 0, "a": "1"}"#).id);
    // Another set of columns is another row.
    assert_ne!(op(&p, r#"{"ts": 0, "a": 1}"#).id, op(&p, r#"{"ts": 0, "b": 1}"#).id);
    // No dimensionsSpec at all is schemaless too.
    let bare = plugin(r#"{"dataSchema": {"timestampSpec": {"column": "ts", "format": "millis"}}}"#);
    assert_eq!(row(&bare, r#"{"ts": 0, "k": "v"}"#), json!({"__time": "1970-01-01T00:00:00.000Z", "k": "v"}));
}

#[test]
fn include_all_and_schema_discovery() {
    let p = with_dims(
        r#"{"dimensions": [{"type": "long", "name": "port"}], "includeAllDimensions": true, "dimensionExclusions": ["x"]}"#,
    );
    let o = op(&p, r#"{"ts": 0, "port": "80", "z": 1, "x": 2, "a": [2, 1], "obj": {"k": 1}}"#);
    assert_eq!(
        o.source.as_deref(),
        Some(r#"{"__time":"1970-01-01T00:00:00.000Z","port":80,"a":["1","2"],"z":"1","count":1,"total":null}"#)
    );
    assert_eq!(o.id.as_deref(), Some(r#"["1970-01-01T00:00:00.000Z",80,{"a":["1","2"],"z":"1"}]"#));
    // Listed only: extra columns are ignored.
    let listed = with_dims(r#"{"dimensions": [{"type": "long", "name": "port"}]}"#);
    assert_eq!(
        op(&listed, r#"{"ts": 0, "port": 80, "z": 1}"#).id.as_deref(),
        Some(r#"["1970-01-01T00:00:00.000Z",80]"#)
    );
    // useSchemaDiscovery: discovered columns keep their JSON types, nested ones included.
    let typed = with_dims(r#"{"dimensions": ["s"], "useSchemaDiscovery": true}"#);
    assert_eq!(
        row(&typed, r#"{"ts": 0, "s": 5, "n": 1.5, "arr": [3, 1], "obj": {"k": [1]}, "nul": null}"#),
        json!({"__time": "1970-01-01T00:00:00.000Z", "s": "5", "arr": [3, 1], "n": 1.5, "obj": {"k": [1]}, "count": 1, "total": null})
    );
}

#[test]
fn flattened_dimensions() {
    let p = plugin(
        r#"{"dataSchema": {"timestampSpec": {"column": "ts", "format": "millis"},
                           "dimensionsSpec": {"dimensions": ["user", "first_tag", "country"]}},
            "inputFormat": {"type": "json", "flattenSpec": {"useFieldDiscovery": false, "fields": [
                {"type": "path", "name": "user", "expr": "$.user.name"},
                {"type": "path", "name": "first_tag", "expr": "$['tags'][0]"}, "ts"]}}}"#,
    );
    assert_eq!(
        row(&p, r#"{"ts": 0, "user": {"name": "ann"}, "tags": ["t1", "t2"], "country": "fr"}"#),
        json!({"__time": "1970-01-01T00:00:00.000Z", "user": "ann", "first_tag": "t1", "country": null})
    );
}

#[test]
fn long_keys_are_hashed() {
    let p = with_dims(r#"{"dimensions": ["s"]}"#);
    let long = "x".repeat(MAX_ID_BYTES);
    let o = op(&p, &format!(r#"{{"ts": 0, "s": "{long}"}}"#));
    let id = o.id.unwrap();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    // Deterministic, and distinct from a neighbour's.
    assert_eq!(op(&p, &format!(r#"{{"ts": 0, "s": "{long}"}}"#)).id.unwrap(), id);
    assert_ne!(op(&p, &format!(r#"{{"ts": 0, "s": "{long}y"}}"#)).id.unwrap(), id);
    // The key of a value that fits is its text; the first that does not is hashed.
    let fits = "x".repeat(MAX_ID_BYTES - r#"["1970-01-01T00:00:00.000Z",""]"#.len());
    assert_eq!(op(&p, &format!(r#"{{"ts": 0, "s": "{fits}"}}"#)).id.unwrap().len(), MAX_ID_BYTES);
    assert_eq!(op(&p, &format!(r#"{{"ts": 0, "s": "{fits}x"}}"#)).id.unwrap().len(), 64);
}

#[test]
fn payloads_that_are_not_events() {
    let p = with_dims(r#"{"dimensions": ["s"]}"#);
    let tombstone = sluice_plugin_sdk::Message { payload: None, ..Default::default() };
    use sluice_plugin_sdk::Plugin;
    assert_eq!(p.decode(&tombstone), Decoded::Skipped("no payload (tombstone)".to_owned()));
    assert_eq!(common::invalid(&p, "[1]"), "unparseable: payload must be a JSON object, found an array");
    assert!(common::invalid(&p, "{").starts_with("unparseable: payload is not valid JSON: EOF while parsing"));
    assert!(
        common::invalid(&p, r#"{"a": 1} {"a": 2}"#)
            .starts_with("unparseable: payload is not valid JSON: trailing characters")
    );
    let bad_utf8 = sluice_plugin_sdk::Message { payload: Some(vec![b'{', 0xff, b'}']), ..Default::default() };
    assert!(
        matches!(p.decode(&bad_utf8), Decoded::Invalid(r) if r.starts_with("unparseable: payload is not valid UTF-8"))
    );
}
