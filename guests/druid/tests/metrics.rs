//! Metrics through the plugin: each aggregator's contribution (numbers,
//! numeric strings, missing, null, unparseable), its `Aggregator`, and rows
//! folded from several events.

mod common;

use common::{decode, fold, op, plugin, row};
use serde_json::{Value as J, json};
use sluice_druid::Druid;
use sluice_plugin_sdk::{Aggregator, Decoded};

const ALL: &str = r#"[
    {"type": "count", "name": "count"},
    {"type": "longSum", "name": "longSum", "fieldName": "v"},
    {"type": "doubleSum", "name": "doubleSum", "fieldName": "v"},
    {"type": "floatSum", "name": "floatSum", "fieldName": "v"},
    {"type": "longMin", "name": "longMin", "fieldName": "v"},
    {"type": "longMax", "name": "longMax", "fieldName": "v"},
    {"type": "doubleMin", "name": "doubleMin", "fieldName": "v"},
    {"type": "doubleMax", "name": "doubleMax", "fieldName": "v"},
    {"type": "floatMin", "name": "floatMin", "fieldName": "v"},
    {"type": "floatMax", "name": "floatMax", "fieldName": "v"},
    {"type": "longFirst", "name": "longFirst", "fieldName": "v"},
    {"type": "longLast", "name": "longLast", "fieldName": "v"},
    {"type": "doubleFirst", "name": "doubleFirst", "fieldName": "v"},
    {"type": "doubleLast", "name": "doubleLast", "fieldName": "v"},
    {"type": "floatFirst", "name": "floatFirst", "fieldName": "v"},
    {"type": "floatLast", "name": "floatLast", "fieldName": "v"},
    {"type": "stringFirst", "name": "stringFirst", "fieldName": "s", "maxStringBytes": 4},
    {"type": "stringLast", "name": "stringLast", "fieldName": "s"}
]"#;

fn with_metrics(metrics: &str, extra: &str) -> Druid {
    plugin(&format!(
        r#"{{"dataSchema": {{"timestampSpec": {{"column": "ts", "format": "millis"}}, "dimensionsSpec": {{"dimensions": ["d"]}},
            "metricsSpec": {metrics} {extra}}}}}"#
    ))
}

/// The metric values of an event's row (without `__time` and `d`).
#[track_caller]
fn metrics(p: &Druid, event: &str) -> J {
    let mut r = row(p, event);
    let o = r.as_object_mut().unwrap();
    o.remove("__time");
    o.remove("d");
    r
}

#[test]
fn aggregators_of_every_metric() {
    let p = with_metrics(ALL, "");
    use Aggregator::*;
    let expected = [
        Count,
        LongSum,
        DoubleSum,
        FloatSum,
        LongMin,
        LongMax,
        DoubleMin,
        DoubleMax,
        FloatMin,
        FloatMax,
        LongFirst,
        LongLast,
        DoubleFirst,
        DoubleLast,
        DoubleFirst,
        DoubleLast,
        StringFirst,
        StringLast,
    ];
    let o = op(&p, r#"{"ts": 7, "v": 1}"#);
    let names: Vec<&str> = o.aggregators.iter().map(|(n, _)| n.as_str()).collect();
    let kinds: Vec<Aggregator> = o.aggregators.iter().map(|(_, a)| *a).collect();
    assert_eq!(kinds, expected);
    assert_eq!(names[1], "longSum");
    assert_eq!(o.event_time_ms, Some(7));
}

#[test]
fn values_of_one_event() {
    let p = with_metrics(ALL, "");
    let all = |long: J, double: J, float: J, string_first: J, string_last: J| {
        let mut m = serde_json::Map::new();
        m.insert("count".into(), json!(1));
        for name in ["longSum", "longMin", "longMax", "longFirst", "longLast"] {
            m.insert(name.into(), long.clone());
        }
        for name in ["doubleSum", "doubleMin", "doubleMax", "doubleFirst", "doubleLast"] {
            m.insert(name.into(), double.clone());
        }
        for name in ["floatSum", "floatMin", "floatMax", "floatFirst", "floatLast"] {
            m.insert(name.into(), float.clone());
        }
        m.insert("stringFirst".into(), string_first);
        m.insert("stringLast".into(), string_last);
        J::Object(m)
    };
    // Longs truncate toward zero; floats round to 32 bits.
    assert_eq!(
        metrics(&p, r#"{"ts": 0, "v": -2.7, "s": "abcdef"}"#),
        all(json!(-2), json!(-2.7), json!(-2.7), json!("abcd"), json!("abcdef"))
    );
    assert_eq!(metrics(&p, r#"{"ts": 0, "v": 0.1}"#), all(json!(0), json!(0.1), json!(0.1), J::Null, J::Null));
    assert_eq!(
        metrics(&p, r#"{"ts": 0, "v": 16777217}"#),
        all(json!(16777217), json!(16777217.0), json!(16777216.0), J::Null, J::Null)
    );
    // Numeric strings as Druid's Rows.objectToNumber reads them.
    assert_eq!(
        metrics(&p, r#"{"ts": 0, "v": " 1,000 ", "s": 12}"#),
        all(json!(1000), json!(1000.0), json!(1000.0), json!("12"), json!("12"))
    );
    assert_eq!(
        metrics(&p, r#"{"ts": 0, "v": "2.5e1", "s": ["a"]}"#),
        all(json!(25), json!(25.0), json!(25.0), json!("[\"a\""), json!("[\"a\"]"))
    );
    // Missing and null: null, no error.
    assert_eq!(metrics(&p, r#"{"ts": 0}"#), all(J::Null, J::Null, J::Null, J::Null, J::Null));
    assert_eq!(metrics(&p, r#"{"ts": 0, "v": null, "s": null}"#), all(J::Null, J::Null, J::Null, J::Null, J::Null));
    // maxStringBytes cuts whole characters.
    assert_eq!(metrics(&p, r#"{"ts": 0, "s": "aéé"}"#)["stringFirst"], "aé");
}

#[test]
fn unparseable_inputs_are_processed_with_error() {
    let p = with_metrics(
        r#"[{"type": "count", "name": "n"}, {"type": "longSum", "name": "sum", "fieldName": "v"},
        {"type": "doubleMax", "name": "max", "fieldName": "w"}]"#,
        "",
    );
    match decode(&p, r#"{"ts": 0, "d": "x", "v": "lots", "w": true}"#) {
        Decoded::ProcessedWithError { ops, rows, errors } => {
            let ops = common::ops_of(ops, rows);
            assert_eq!(
                errors,
                "processedWithError: metric [sum]: unable to parse value \"lots\" for field [v]; \
                 metric [max]: unable to parse value true for field [w]: not a number"
            );
            assert_eq!(
                ops[0].source.as_deref(),
                Some(r#"{"__time":"1970-01-01T00:00:00.000Z","d":"x","n":1,"sum":null,"max":null}"#)
            );
        }
        other => panic!("{other:?}"),
    }
    match decode(&p, r#"{"ts": 0, "v": 1e400}"#) {
        Decoded::Invalid(reason) => assert!(reason.contains("payload is not valid JSON"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rows_fold_every_aggregator() {
    let p = with_metrics(ALL, r#", "granularitySpec": {"queryGranularity": "minute"}"#);
    let events = [
        r#"{"ts": 20, "d": "k", "v": 5, "s": "middle"}"#,
        r#"{"ts": 10, "d": "k", "v": "2", "s": "early"}"#,
        r#"{"ts": 30, "d": "k", "v": 0.5, "s": "late"}"#,
        r#"{"ts": 40, "d": "k"}"#,
        r#"{"ts": 15, "d": "k", "v": null, "s": null}"#,
    ];
    let expected = json!({
        "__time": "1970-01-01T00:00:00.000Z", "d": "k", "count": 5,
        "longSum": 7, "doubleSum": 7.5, "floatSum": 7.5,
        "longMin": 0, "longMax": 5, "doubleMin": 0.5, "doubleMax": 5.0, "floatMin": 0.5, "floatMax": 5.0,
        "longFirst": 2, "longLast": 0, "doubleFirst": 2.0, "doubleLast": 0.5, "floatFirst": 2.0, "floatLast": 0.5,
        "stringFirst": "earl", "stringLast": "late"
    });
    assert_eq!(fold(&p, events), vec![expected.clone()]);
    assert_eq!(fold(&p, events.iter().rev().copied()), vec![expected]);
    // Ties: first keeps the stored value, last takes the new one.
    let tied = fold(&p, [r#"{"ts": 5, "d": "k", "v": 1, "s": "a"}"#, r#"{"ts": 5, "d": "k", "v": 2, "s": "b"}"#]);
    assert_eq!((&tied[0]["longFirst"], &tied[0]["longLast"]), (&json!(1), &json!(2)));
    assert_eq!((&tied[0]["stringFirst"], &tied[0]["stringLast"]), (&json!("a"), &json!("b")));
}

#[test]
fn first_and_last_by_time_column() {
    let p = with_metrics(
        r#"[{"type": "longFirst", "name": "first", "fieldName": "v", "timeColumn": "at"},
            {"type": "stringLast", "name": "last", "fieldName": "s", "timeColumn": "at"}]"#,
        r#", "granularitySpec": {"queryGranularity": "day"}"#,
    );
    assert_eq!(op(&p, r#"{"ts": 100, "at": "2000", "v": 1}"#).event_time_ms, Some(2000));
    let rows = fold(
        &p,
        [
            r#"{"ts": 1, "at": 300, "v": 3, "s": "c"}"#,
            r#"{"ts": 2, "at": 100, "v": 1, "s": "a"}"#,
            r#"{"ts": 3, "at": 200.9, "v": 2, "s": "b"}"#,
            r#"{"ts": 4, "v": 9, "s": "untimed"}"#,
        ],
    );
    assert_eq!(rows, vec![json!({"__time": "1970-01-01T00:00:00.000Z", "d": null, "first": 1, "last": "c"})]);
    // No time: no contribution. An unparseable time: none either, and an error.
    assert_eq!(metrics(&p, r#"{"ts": 4, "v": 9, "s": "x"}"#), json!({"first": null, "last": null}));
    match decode(&p, r#"{"ts": 4, "at": "noon", "v": 9}"#) {
        Decoded::ProcessedWithError { ops, rows, errors } => {
            let ops = common::ops_of(ops, rows);
            assert_eq!(errors, "processedWithError: timeColumn [at]: unable to parse value \"noon\" for field [at]");
            assert_eq!(
                common::source(&ops[0]),
                json!({"__time": "1970-01-01T00:00:00.000Z", "d": null, "first": null, "last": null})
            );
            assert_eq!(ops[0].event_time_ms, Some(4));
        }
        other => panic!("{other:?}"),
    }
}
