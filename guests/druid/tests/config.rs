//! Configuration errors: each names its key path and what is allowed, or
//! says plainly which Druid feature sluice does not implement.

mod common;

use common::{config_error, plugin, row, schema};
use serde_json::json;

const TS: &str = r#""timestampSpec": {"column": "t", "format": "millis"}"#;

fn with(members: &str) -> String {
    config_error(&schema(&format!("{TS}, {members}")))
}

#[test]
fn the_brief_examples() {
    assert_eq!(
        with(r#""metricsSpec": [{"type": "count", "name": "c"}, {"type": "longSum", "name": "p", "feildName": "p"}]"#),
        "unknown key [dataSchema.metricsSpec[1].feildName]; allowed: type, name, fieldName, expression"
    );
    assert!(
        with(r#""granularitySpec": {"queryGranularity": "minutes"}"#)
            .starts_with("invalid value for [dataSchema.granularitySpec.queryGranularity]: \"minutes\"; allowed: none, second, minute, five_minute, ")
    );
    assert_eq!(
        with(r#""metricsSpec": [{"type": "hyperUnique", "name": "u", "fieldName": "user"}]"#),
        "aggregator type [hyperUnique] in [dataSchema.metricsSpec[0].type] is not supported by sluice; supported: count, longSum, \
         doubleSum, floatSum, longMin, longMax, doubleMin, doubleMax, floatMin, floatMax, longFirst, longLast, doubleFirst, doubleLast, \
         floatFirst, floatLast, stringFirst, stringLast"
    );
}

#[test]
fn top_level_and_data_schema() {
    assert_eq!(config_error("{}"), "missing [dataSchema]");
    assert_eq!(config_error(""), "missing [dataSchema]");
    assert!(config_error("{").starts_with("config is not valid JSON"));
    assert_eq!(config_error("[]"), "config must be a JSON object, found an array");
    assert_eq!(config_error(r#"{"dataSchema": {}}"#), "missing [dataSchema.timestampSpec]");
    assert_eq!(config_error(r#"{"dataSchema": {"timestampSpec": null}}"#), "missing [dataSchema.timestampSpec]");
    assert_eq!(
        config_error(r#"{"dataSchema": {"timestampSpec": {}}, "tuningConfig": {}}"#),
        "unknown key [tuningConfig]; allowed: dataSchema, inputFormat, ioConfig"
    );
    assert_eq!(
        config_error(r#"{"dataSchema": {"timestampSpec": {}, "parser": {}}}"#),
        "unknown key [dataSchema.parser]; allowed: dataSource, timestampSpec, dimensionsSpec, metricsSpec, granularitySpec, transformSpec"
    );
    assert_eq!(
        config_error(r#"{"dataSchema": {"timestampSpec": {}, "dataSource": 1}}"#),
        "invalid value for [dataSchema.dataSource]: 1; expected a string"
    );
    assert_eq!(
        config_error(r#"{"dataSchema": {"timestampSpec": "t"}}"#),
        "invalid value for [dataSchema.timestampSpec]: \"t\"; expected an object"
    );
    assert_eq!(
        config_error(r#"{"dataSchema": {"timestampSpec": {}, "metricsSpec": {}}}"#),
        "invalid value for [dataSchema.metricsSpec]: an object; expected an array"
    );
}

#[test]
fn defaults_take_druids() {
    // timestampSpec {}: column "timestamp", format auto; schemaless; queryGranularity none; rollup.
    let p = plugin(r#"{"dataSchema": {"timestampSpec": {}}}"#);
    let o = common::op(&p, r#"{"timestamp": "2018-01-01T01:02:03.456Z", "page": "a"}"#);
    assert_eq!(common::source(&o), json!({"__time": "2018-01-01T01:02:03.456Z", "page": "a"}));
    assert_eq!(o.op_type, common::Kind::Merge);
    assert!(o.aggregators.is_empty());
    // Null is absent everywhere.
    let p = plugin(&schema(&format!(
        r#"{TS}, "dimensionsSpec": null, "metricsSpec": null, "granularitySpec": null, "transformSpec": {{"transforms": [], "filter": null}}"#
    )));
    assert_eq!(row(&p, r#"{"t": 0}"#), json!({"__time": "1970-01-01T00:00:00.000Z"}));
}

#[test]
fn timestamp_spec() {
    let ts = |spec: &str| config_error(&schema(&format!(r#""timestampSpec": {spec}"#)));
    assert_eq!(
        ts(r#"{"column": "t", "fromat": "iso"}"#),
        "unknown key [dataSchema.timestampSpec.fromat]; allowed: column, format, missingValue"
    );
    assert_eq!(
        ts(r#"{"format": "yyyy-bb"}"#),
        "invalid value for [dataSchema.timestampSpec.format]: \"yyyy-bb\"; expected auto, iso, posix, millis, micro, nano, ruby or a Joda-Time pattern: illegal pattern component: bb"
    );
    assert_eq!(
        ts(r#"{"missingValue": "yesterday"}"#),
        "invalid value for [dataSchema.timestampSpec.missingValue]: \"yesterday\"; expected an ISO-8601 date-time or milliseconds since the epoch"
    );
    assert_eq!(
        ts(r#"{"column": ""}"#),
        "invalid value for [dataSchema.timestampSpec.column]: \"\"; expected a column name"
    );
    assert_eq!(ts(r#"{"format": 5}"#), "invalid value for [dataSchema.timestampSpec.format]: 5; expected a string");
}

#[test]
fn dimensions_spec() {
    let dims = |spec: &str| with(&format!(r#""dimensionsSpec": {spec}"#));
    assert_eq!(
        dims(r#"{"dimension": []}"#),
        "unknown key [dataSchema.dimensionsSpec.dimension]; allowed: dimensions, dimensionExclusions, spatialDimensions, includeAllDimensions, useSchemaDiscovery, forceSegmentSortByTime"
    );
    assert_eq!(
        dims(r#"{"dimensions": ["a", {"type": "json", "name": "j"}]}"#),
        "dimension type \"json\" in [dataSchema.dimensionsSpec.dimensions[1].type] is not supported by sluice; supported: string, long, float, double (useSchemaDiscovery keeps discovered values typed)"
    );
    assert_eq!(
        dims(r#"{"dimensions": [{"type": "int", "name": "i"}]}"#),
        "invalid value for [dataSchema.dimensionsSpec.dimensions[0].type]: \"int\"; allowed: string, long, float, double"
    );
    assert_eq!(dims(r#"{"dimensions": [{"type": "long"}]}"#), "missing [dataSchema.dimensionsSpec.dimensions[0].name]");
    assert_eq!(
        dims(r#"{"dimensions": [5]}"#),
        "invalid value for [dataSchema.dimensionsSpec.dimensions[0]]: 5; expected an object"
    );
    assert_eq!(
        dims(r#"{"dimensions": [{"name": "m", "multiValueHandling": "sorted"}]}"#),
        "invalid value for [dataSchema.dimensionsSpec.dimensions[0].multiValueHandling]: \"sorted\"; allowed: sorted_array, sorted_set, array"
    );
    assert_eq!(
        dims(r#"{"dimensions": ["a", "a"]}"#),
        "duplicate dimension [a] in [dataSchema.dimensionsSpec.dimensions]"
    );
    assert_eq!(
        dims(r#"{"dimensions": ["a"], "dimensionExclusions": ["a"]}"#),
        "dimension [a] is both in [dataSchema.dimensionsSpec.dimensions] and in [dataSchema.dimensionsSpec.dimensionExclusions]"
    );
    assert_eq!(
        dims(r#"{"spatialDimensions": [{"dimName": "coord", "dims": ["x", "y"]}]}"#),
        "[dataSchema.dimensionsSpec.spatialDimensions] is not supported by sluice; remove them"
    );
    assert!(
        dims(r#"{"dimensions": ["__time"]}"#)
            .starts_with("invalid dimension name \"__time\" in [dataSchema.dimensionsSpec.dimensions[0]]")
    );
    assert_eq!(
        with(r#""dimensionsSpec": {"dimensions": ["c"]}, "metricsSpec": [{"type": "count", "name": "c"}]"#),
        "[dataSchema.dimensionsSpec.dimensions] and [dataSchema.metricsSpec] both name [c]: a column is a dimension or a metric"
    );
}

#[test]
fn metrics_spec() {
    let metric = |m: &str| with(&format!(r#""metricsSpec": [{m}]"#));
    assert_eq!(
        metric(r#"{"type": "longsum", "name": "x", "fieldName": "x"}"#),
        "invalid value for [dataSchema.metricsSpec[0].type]: \"longsum\"; allowed: count, longSum, doubleSum, floatSum, longMin, longMax, \
         doubleMin, doubleMax, floatMin, floatMax, longFirst, longLast, doubleFirst, doubleLast, floatFirst, floatLast, stringFirst, stringLast"
    );
    for sketch in ["thetaSketch", "HLLSketchBuild", "quantilesDoublesSketch", "cardinality", "filtered", "doubleMean"] {
        assert!(
            metric(&format!(r#"{{"type": "{sketch}", "name": "x"}}"#))
                .starts_with(&format!("aggregator type [{sketch}] in ")),
            "{sketch}"
        );
    }
    assert_eq!(
        metric(r#"{"type": "doubleSum", "name": "x", "expression": "a + b"}"#),
        "[dataSchema.metricsSpec[0].expression] is not supported by sluice; use fieldName"
    );
    assert_eq!(metric(r#"{"type": "longSum", "name": "x"}"#), "missing [dataSchema.metricsSpec[0].fieldName]");
    assert_eq!(metric(r#"{"type": "count"}"#), "missing [dataSchema.metricsSpec[0].name]");
    assert_eq!(
        metric(r#"{"type": "count", "name": "c", "fieldName": "c"}"#),
        "unknown key [dataSchema.metricsSpec[0].fieldName]; allowed: type, name"
    );
    assert_eq!(
        metric(r#"{"type": "longFirst", "name": "f", "fieldName": "v", "maxStringBytes": 5}"#),
        "unknown key [dataSchema.metricsSpec[0].maxStringBytes]; allowed: type, name, fieldName, timeColumn"
    );
    assert_eq!(
        metric(r#"{"type": "stringLast", "name": "s", "fieldName": "v", "maxStringBytes": -1}"#),
        "invalid value for [dataSchema.metricsSpec[0].maxStringBytes]: -1; expected an integer from 0 to 2147483647"
    );
    assert_eq!(
        metric(r#"{"type": "count", "name": "c"}, {"type": "longSum", "name": "c", "fieldName": "v"}"#),
        "duplicate metric name [c] in [dataSchema.metricsSpec]"
    );
    assert_eq!(
        metric(r#"{"type": "count", "name": "__time"}"#),
        "invalid value for [dataSchema.metricsSpec[0].name]: \"__time\"; __time is the row time"
    );
    assert_eq!(
        metric(
            r#"{"type": "longFirst", "name": "a", "fieldName": "v"}, {"type": "longLast", "name": "b", "fieldName": "v", "timeColumn": "t2"}"#
        ),
        "a timeColumn different from the other first/last metrics' in [dataSchema.metricsSpec[1]] is not supported by sluice; \
         all first/last metrics of a row order by one time (the event time, or one timeColumn)"
    );
    // "__time" is the default time column, so these agree.
    plugin(&schema(&format!(
        r#"{TS}, "metricsSpec": [{{"type": "longFirst", "name": "a", "fieldName": "v"}}, {{"type": "longLast", "name": "b", "fieldName": "v", "timeColumn": "__time"}}]"#
    )));
}

#[test]
fn transform_spec() {
    assert_eq!(
        with(r#""transformSpec": {"transforms": [{"type": "expression", "name": "u", "expression": "upper(c)"}]}"#),
        "[dataSchema.transformSpec.transforms] is not supported by sluice; transform the events before they reach the stream"
    );
    assert_eq!(
        with(r#""transformSpec": {"filter": {"type": "selector", "dimension": "c", "value": "x"}}"#),
        "[dataSchema.transformSpec.filter] is not supported by sluice; filter the events before they reach the stream"
    );
    assert_eq!(
        with(r#""transformSpec": {"transform": []}"#),
        "unknown key [dataSchema.transformSpec.transform]; allowed: transforms, filter"
    );
}

#[test]
fn input_format() {
    let format = |f: &str| config_error(&format!(r#"{{"dataSchema": {{{TS}}}, "inputFormat": {f}}}"#));
    assert_eq!(
        format(r#"{"type": "avro_stream"}"#),
        "input format \"avro_stream\" in [inputFormat.type] is not supported by sluice; supported: json"
    );
    assert_eq!(
        format(
            r#"{"type": "json", "flattenSpec": {"fields": [{"type": "jq", "name": "f", "expr": ".thing.food[1]"}]}}"#
        ),
        "flattenSpec field type \"jq\" in [inputFormat.flattenSpec.fields[0].type] is not supported by sluice; use \"root\" or \"path\""
    );
    assert_eq!(
        format(r#"{"type": "json", "flattenSpec": {"fields": [{"type": "tree", "name": "f", "nodes": ["a", "b"]}]}}"#),
        "flattenSpec field type \"tree\" in [inputFormat.flattenSpec.fields[0].type] is not supported by sluice; use \"root\" or \"path\""
    );
}
