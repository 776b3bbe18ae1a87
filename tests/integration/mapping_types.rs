//! OpenSearch's common field types and coercion rules through the real
//! `opensearch` wasm plugin: which documents are stored, and which are
//! dropped with which reason.

use crate::support::*;
use serde_json::{Value, json};

/// (id, document, None = stored | Some(reason) = dropped with exactly this reason)
fn cases() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        // integer: OpenSearch's default coerce truncates decimals and parses strings.
        ("int-decimal", json!({"age": 40.5}), None),
        ("int-string", json!({"age": "40"}), None),
        ("int-decimal-string", json!({"age": "40.5"}), None),
        ("int-words", json!({"age": "forty"}), Some(r#"field [age] of type [integer]: cannot parse "forty""#)),
        (
            "int-range",
            json!({"age": 3_000_000_000u64}),
            Some("field [age] of type [integer]: cannot parse 3000000000 (out of range)"),
        ),
        // coerce: false takes whole JSON numbers only.
        ("strict-whole", json!({"count": 7.0}), None),
        (
            "strict-string",
            json!({"count": "7"}),
            Some(r#"field [count] of type [integer]: cannot parse "7" (coerce is disabled: strings are not accepted)"#),
        ),
        (
            "strict-decimal",
            json!({"count": 7.5}),
            Some(
                "field [count] of type [integer]: cannot parse 7.5 (coerce is disabled: the value has a decimal part)",
            ),
        ),
        // geo_point in each form OpenSearch documents.
        ("geo-object", json!({"loc": {"lat": 40.71, "lon": -74.0}}), None),
        ("geo-string", json!({"loc": "40.71,-74.00"}), None),
        ("geo-geohash", json!({"loc": "drm3btev3e86"}), None),
        ("geo-array", json!({"loc": [-74.0, 40.71]}), None),
        ("geo-wkt", json!({"loc": "POINT (-74.00 40.71)"}), None),
        ("geo-geojson", json!({"loc": {"type": "Point", "coordinates": [-74.0, 40.71]}}), None),
        (
            "geo-lat",
            json!({"loc": {"lat": 95, "lon": 0}}),
            Some("field [loc] of type [geo_point]: cannot parse an object (illegal latitude value [95])"),
        ),
        (
            "geo-junk",
            json!({"loc": "nowhere"}),
            Some(
                r#"field [loc] of type [geo_point]: cannot parse "nowhere" (unsupported symbol [o] in geohash [nowhere])"#,
            ),
        ),
        // ip, v4 and v6.
        ("ip-v4", json!({"ip": "10.1.2.3"}), None),
        ("ip-v6", json!({"ip": "2001:db8::1"}), None),
        (
            "ip-bad",
            json!({"ip": "10.1.2.300"}),
            Some(r#"field [ip] of type [ip]: cannot parse "10.1.2.300" (not an IP string literal)"#),
        ),
        // keyword with ignore_above: kept in _source, not indexed.
        ("kw-long", json!({"code": "longer than eight"}), None),
        // scaled_float.
        ("price", json!({"price": "19.99"}), None),
        ("price-bad", json!({"price": "cheap"}), Some(r#"field [price] of type [scaled_float]: cannot parse "cheap""#)),
        // flat_object: any object.
        ("flat", json!({"attrs": {"any": {"depth": [1, "x"]}}}), None),
        (
            "flat-bad",
            json!({"attrs": "x"}),
            Some(r#"field [attrs] of type [flat_object]: cannot parse "x" (expected an object)"#),
        ),
        // boolean, binary, half_float, unsigned_long.
        ("bool-empty", json!({"flag": ""}), None),
        (
            "bool-bad",
            json!({"flag": "yes"}),
            Some(r#"field [flag] of type [boolean]: cannot parse "yes" (expected true or false)"#),
        ),
        ("blob", json!({"blob": "aGVsbG8="}), None),
        (
            "blob-bad",
            json!({"blob": "hello!"}),
            Some(r#"field [blob] of type [binary]: cannot parse "hello!" (not base64)"#),
        ),
        ("half", json!({"ratio": 0.5}), None),
        (
            "half-big",
            json!({"ratio": 70000}),
            Some("field [ratio] of type [half_float]: cannot parse 70000 (only supports finite values)"),
        ),
        ("ulong", json!({"big": 18446744073709551615u64}), None),
        ("ulong-neg", json!({"big": -1}), Some("field [big] of type [unsigned_long]: cannot parse -1 (out of range)")),
        // Custom date formats are checked.
        ("day", json!({"day": "2024-01-31"}), None),
        ("day-millis", json!({"day": 1706659200000u64}), None),
        (
            "day-words",
            json!({"day": "not-a-date"}),
            Some(
                r#"field [day] of type [date]: cannot parse "not-a-date" (expected format [yyyy-MM-dd||epoch_millis])"#,
            ),
        ),
        (
            "day-bool",
            json!({"day": true}),
            Some("field [day] of type [date]: cannot parse true (expected format [yyyy-MM-dd||epoch_millis])"),
        ),
        ("stamp", json!({"stamp": "2025-03-26 15:30:00"}), None),
        (
            "stamp-bad",
            json!({"stamp": "2025-03-26T15:30:00"}),
            Some(
                r#"field [stamp] of type [date]: cannot parse "2025-03-26T15:30:00" (expected format [yyyy-MM-dd HH:mm:ss])"#,
            ),
        ),
    ]
}

#[test]
fn the_common_field_types_and_coercion_follow_opensearch_through_the_wasm_plugin() {
    let stream = Stream::new(1);
    let cases = cases();
    let lines: Vec<String> = cases.iter().map(|(id, doc, _)| msg(Some(id), None, "index", doc.clone())).collect();
    stream.append(0, &lines);
    let mut spec = stream.spec("types", 1, json!({"error_strategy": "DROP"}));
    spec["mappings"] = json!({
        "dynamic": "strict",
        "properties": {
            "age": {"type": "integer"},
            "count": {"type": "integer", "coerce": false},
            "loc": {"type": "geo_point"},
            "ip": {"type": "ip"},
            "code": {"type": "keyword", "ignore_above": 8},
            "price": {"type": "scaled_float", "scaling_factor": 100},
            "attrs": {"type": "flat_object"},
            "flag": {"type": "boolean"},
            "blob": {"type": "binary"},
            "ratio": {"type": "half_float"},
            "big": {"type": "unsigned_long"},
            "day": {"type": "date", "format": "yyyy-MM-dd||epoch_millis"},
            "stamp": {"type": "date", "format": "yyyy-MM-dd HH:mm:ss"}
        }
    });
    let data = tempfile::tempdir().unwrap();
    let ing = start(&spec, data.path());
    wait_idle(&ing);

    let stored: Vec<(String, Value)> = docs(&ing).into_iter().map(|((_, id), (_, source))| (id, source)).collect();
    let mut expected_stored: Vec<(String, Value)> =
        cases.iter().filter(|c| c.2.is_none()).map(|(id, doc, _)| (id.to_string(), doc.clone())).collect();
    expected_stored.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(stored, expected_stored, "stored documents (with their _source unchanged)");

    let dropped: Vec<(String, String)> = ing.sinks()[0]
        .dropped(None, 100)
        .unwrap()
        .into_iter()
        .map(|d| (cases[d.pointer.as_u64().unwrap() as usize].0.to_string(), d.reason))
        .collect();
    let expected_dropped: Vec<(String, String)> =
        cases.iter().filter_map(|(id, _, reason)| reason.map(|r| (id.to_string(), r.to_string()))).collect();
    assert_eq!(dropped, expected_dropped, "dropped documents and their reasons");
    let c = counters(&ing, 0);
    assert_eq!(
        (c.total_processed_count, c.total_invalid_message_count),
        (cases.len() as u64, expected_dropped.len() as u64)
    );
}
