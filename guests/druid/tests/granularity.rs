//! Granularities: bucket starts for every simple name, period objects with
//! origins and fixed-offset zones, durations, and the row time's segment
//! clamp; and their configuration errors.

mod common;

use common::{config_error, plugin, row, schema};
use serde_json::{Value as J, json};
use sluice_druid::calendar::{MIN_INSTANT, format_iso};
use sluice_druid::granularity::{Granularity, GranularitySpec};
use sluice_druid::spec::Node;
use sluice_druid::timestamp::parse_iso;
use sluice_plugin_sdk::json::{self as sdk_json, Value};

fn granularity(spec: J) -> Granularity {
    let text = json!({ "g": spec }).to_string();
    let members = sdk_json::parse_object(&text, "test").unwrap();
    Granularity::parse(&members[0].1, "g").unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn granularity_error(spec: J) -> String {
    let text = json!({ "g": spec }).to_string();
    let members = sdk_json::parse_object(&text, "test").unwrap();
    Granularity::parse(&members[0].1, "g").unwrap_err()
}

fn at(text: &str) -> i64 {
    parse_iso(text).unwrap_or_else(|| panic!("{text}"))
}

/// The bucket start of `t` as ISO text.
#[track_caller]
fn bucket(spec: J, t: &str) -> String {
    format_iso(granularity(spec.clone()).bucket_start(at(t)).unwrap_or_else(|| panic!("{spec} {t}")))
}

#[test]
fn simple_names() {
    // A Thursday.
    let t = "2018-05-17T13:47:29.123Z";
    for (name, expected) in [
        ("none", "2018-05-17T13:47:29.123Z"),
        ("second", "2018-05-17T13:47:29.000Z"),
        ("minute", "2018-05-17T13:47:00.000Z"),
        ("five_minute", "2018-05-17T13:45:00.000Z"),
        ("ten_minute", "2018-05-17T13:40:00.000Z"),
        ("fifteen_minute", "2018-05-17T13:45:00.000Z"),
        ("thirty_minute", "2018-05-17T13:30:00.000Z"),
        ("hour", "2018-05-17T13:00:00.000Z"),
        ("six_hour", "2018-05-17T12:00:00.000Z"),
        ("eight_hour", "2018-05-17T08:00:00.000Z"),
        ("day", "2018-05-17T00:00:00.000Z"),
        ("week", "2018-05-14T00:00:00.000Z"),
        ("month", "2018-05-01T00:00:00.000Z"),
        ("quarter", "2018-04-01T00:00:00.000Z"),
        ("year", "2018-01-01T00:00:00.000Z"),
        ("all", "-146136543-09-08T08:23:32.096Z"),
        ("MINUTE", "2018-05-17T13:47:00.000Z"),
        ("Five_Minute", "2018-05-17T13:45:00.000Z"),
    ] {
        assert_eq!(bucket(json!(name), t), expected, "{name}");
    }
    assert_eq!(granularity(json!("all")).bucket_start(0), Some(MIN_INSTANT));
    assert_eq!(granularity(json!({"type": "all"})), Granularity::All);
    assert_eq!(granularity(json!({"type": "none"})), Granularity::None);
}

#[test]
fn weeks_start_on_monday() {
    assert_eq!(bucket(json!("week"), "2018-05-20T23:59:59.999Z"), "2018-05-14T00:00:00.000Z");
    assert_eq!(bucket(json!("week"), "2018-05-21T00:00:00Z"), "2018-05-21T00:00:00.000Z");
    assert_eq!(bucket(json!("week"), "1970-01-01T00:00:00Z"), "1969-12-29T00:00:00.000Z");
    // P2W counts two weeks from the origin, by default 1970-01-01 (a Thursday), as Druid does.
    // 2018-05-17 is 1262 fortnights after it.
    assert_eq!(bucket(json!({"type": "period", "period": "P2W"}), "2018-05-17T13:00:00Z"), "2018-05-17T00:00:00.000Z");
    assert_eq!(bucket(json!({"type": "period", "period": "P2W"}), "2018-05-16T13:00:00Z"), "2018-05-03T00:00:00.000Z");
    assert_eq!(
        bucket(json!({"type": "period", "period": "P1W", "origin": "2018-05-16T00:00:00Z"}), "2018-05-15T13:00:00Z"),
        "2018-05-09T00:00:00.000Z"
    );
}

#[test]
fn calendar_periods() {
    assert_eq!(bucket(json!("month"), "2018-02-28T23:00:00Z"), "2018-02-01T00:00:00.000Z");
    assert_eq!(bucket(json!("quarter"), "2018-12-31T23:59:59Z"), "2018-10-01T00:00:00.000Z");
    assert_eq!(bucket(json!("year"), "1969-06-01T00:00:00Z"), "1969-01-01T00:00:00.000Z");
    // Druid's docs: three-month quarters starting in February.
    let feb = json!({"type": "period", "period": "P3M", "origin": "2012-02-01T00:00:00Z"});
    assert_eq!(bucket(feb.clone(), "2018-05-17T00:00:00Z"), "2018-05-01T00:00:00.000Z");
    assert_eq!(bucket(feb.clone(), "2018-04-30T23:59:59Z"), "2018-02-01T00:00:00.000Z");
    assert_eq!(bucket(feb, "2011-12-15T00:00:00Z"), "2011-11-01T00:00:00.000Z");
    let two_years = json!({"type": "period", "period": "P2Y"});
    assert_eq!(bucket(two_years.clone(), "2019-06-01T00:00:00Z"), "2018-01-01T00:00:00.000Z");
    assert_eq!(bucket(two_years, "1969-06-01T00:00:00Z"), "1968-01-01T00:00:00.000Z");
    // Month ends: an origin on the 31st counts calendar months from it.
    let from_31st = json!({"type": "period", "period": "P1M", "origin": "2018-01-31T00:00:00Z"});
    assert_eq!(bucket(from_31st.clone(), "2018-03-15T00:00:00Z"), "2018-02-28T00:00:00.000Z");
    assert_eq!(bucket(from_31st, "2018-03-31T00:00:00Z"), "2018-03-31T00:00:00.000Z");
}

#[test]
fn origins_zones_and_durations() {
    let t = "2018-05-17T13:47:29Z";
    assert_eq!(
        bucket(json!({"type": "period", "period": "PT5M", "origin": "2018-01-01T00:02:00Z"}), t),
        "2018-05-17T13:47:00.000Z"
    );
    assert_eq!(
        bucket(json!({"type": "period", "period": "PT1H", "origin": "2018-01-01T00:30:00Z"}), t),
        "2018-05-17T13:30:00.000Z"
    );
    assert_eq!(bucket(json!({"type": "period", "period": "PT2H", "origin": 1800000}), t), "2018-05-17T12:30:00.000Z");
    // Days in +05:30 start at 18:30 UTC.
    let india = json!({"type": "period", "period": "P1D", "timeZone": "+05:30"});
    assert_eq!(bucket(india.clone(), "2018-05-17T20:00:00Z"), "2018-05-17T18:30:00.000Z");
    assert_eq!(bucket(india, "2018-05-17T18:00:00Z"), "2018-05-16T18:30:00.000Z");
    assert_eq!(
        bucket(json!({"type": "period", "period": "PT1H", "timeZone": "+05:30"}), t),
        "2018-05-17T13:30:00.000Z"
    );
    assert_eq!(
        bucket(json!({"type": "period", "period": "P1M", "timeZone": "-08:00"}), "2018-06-01T07:00:00Z"),
        "2018-05-01T08:00:00.000Z"
    );
    // Druid's docs (with a fixed -08:00 instead of America/Los_Angeles): days from 20:30 local.
    let evening =
        json!({"type": "period", "period": "P1D", "timeZone": "-08:00", "origin": "1970-01-01T20:30:00-08:00"});
    assert_eq!(bucket(evening, "2013-09-02T23:32:45Z"), "2013-09-02T04:30:00.000Z");
    // Druid's docs: a day from 00:30 UTC, the duration as a string.
    let duration = json!({"type": "duration", "duration": "86400000", "origin": "2012-01-01T00:30:00Z"});
    assert_eq!(bucket(duration.clone(), "2013-09-02T23:32:45Z"), "2013-09-02T00:30:00.000Z");
    assert_eq!(bucket(duration, "2013-08-31T01:02:33Z"), "2013-08-31T00:30:00.000Z");
    assert_eq!(bucket(json!({"type": "duration", "duration": 7200000}), t), "2018-05-17T12:00:00.000Z");
    assert_eq!(
        bucket(json!({"type": "duration", "duration": 7200000}), "1969-12-31T23:00:00Z"),
        "1969-12-31T22:00:00.000Z"
    );
}

#[test]
fn compound_periods() {
    // Exact lengths from the origin (2018-05-17T00:00Z is a whole number of 90 minutes after it).
    assert_eq!(
        bucket(json!({"type": "period", "period": "PT1H30M"}), "2018-05-17T13:47:29Z"),
        "2018-05-17T13:30:00.000Z"
    );
    assert_eq!(
        bucket(json!({"type": "period", "period": "PT1H30M"}), "2018-05-17T13:29:59Z"),
        "2018-05-17T12:00:00.000Z"
    );
    // With months: stepped from the origin, clamping month ends (01-01, 02-16, 03-31, 05-15).
    let stepped = json!({"type": "period", "period": "P1M15D", "origin": "2018-01-01T00:00:00Z"});
    assert_eq!(bucket(stepped.clone(), "2018-05-17T00:00:00Z"), "2018-05-15T00:00:00.000Z");
    assert_eq!(bucket(stepped.clone(), "2018-03-30T00:00:00Z"), "2018-02-16T00:00:00.000Z");
    assert_eq!(bucket(stepped, "2017-12-01T00:00:00Z"), "2017-11-16T00:00:00.000Z");
}

#[test]
fn configuration_errors() {
    assert_eq!(
        granularity_error(json!("minutes")),
        "invalid value for [g]: \"minutes\"; allowed: none, second, minute, five_minute, ten_minute, fifteen_minute, thirty_minute, hour, six_hour, eight_hour, day, week, month, quarter, year, all, or a granularity object"
    );
    assert_eq!(granularity_error(json!(5)), "invalid value for [g]: 5; expected a granularity name or object");
    assert_eq!(granularity_error(json!({"type": "period"})), "missing [g.period]");
    assert_eq!(
        granularity_error(json!({"type": "period", "period": "PT0M"})),
        "invalid value for [g.period]: \"PT0M\"; expected a positive period"
    );
    assert_eq!(
        granularity_error(json!({"type": "period", "period": "5 minutes"})),
        "invalid value for [g.period]: \"5 minutes\"; expected an ISO-8601 period such as PT1H, PT10M, P1D, P1W or P1M"
    );
    assert_eq!(
        granularity_error(json!({"type": "period", "period": "P1D", "timeZone": "America/Los_Angeles"})),
        "time zone \"America/Los_Angeles\" in [g.timeZone] is not supported by sluice; use UTC or a fixed offset such as +05:30"
    );
    assert_eq!(
        granularity_error(json!({"type": "period", "period": "P1D", "origin": "yesterday"})),
        "invalid value for [g.origin]: \"yesterday\"; expected an ISO-8601 date-time or milliseconds since the epoch"
    );
    assert_eq!(
        granularity_error(json!({"type": "duration", "duration": 0})),
        "invalid value for [g.duration]: 0; expected an integer from 1 to 9223372036854775807"
    );
    assert_eq!(
        granularity_error(json!({"type": "duration", "period": "PT1H"})),
        "unknown key [g.period]; allowed: type, duration, origin"
    );
    assert_eq!(
        granularity_error(json!({"type": "periodic"})),
        "invalid value for [g.type]: \"periodic\"; allowed: period, duration, all, none"
    );
}

fn spec(text: &str) -> GranularitySpec {
    let members = sdk_json::parse_object(text, "test").unwrap();
    let value = Value::Object(members);
    GranularitySpec::parse(Some(Node::new(&value, "granularitySpec").unwrap())).unwrap()
}

#[test]
fn row_time_is_clamped_to_the_segment_start() {
    let t = at("2018-05-17T13:47:29Z");
    let row_time = |text: &str| format_iso(spec(text).row_time(t).unwrap());
    assert_eq!(row_time(r#"{"queryGranularity": "minute"}"#), "2018-05-17T13:47:00.000Z");
    // Coarser than the segment: the segment's start (Druid's incremental index minimum).
    assert_eq!(row_time(r#"{"queryGranularity": "all"}"#), "2018-05-17T00:00:00.000Z");
    assert_eq!(row_time(r#"{"queryGranularity": "month", "segmentGranularity": "week"}"#), "2018-05-14T00:00:00.000Z");
    assert_eq!(
        row_time(r#"{"queryGranularity": "all", "segmentGranularity": "all"}"#),
        "-146136543-09-08T08:23:32.096Z"
    );
    assert_eq!(
        row_time(
            r#"{"queryGranularity": {"type": "period", "period": "PT1H", "origin": "2018-01-01T00:30:00Z"}, "segmentGranularity": "hour"}"#
        ),
        "2018-05-17T13:30:00.000Z"
    );
    assert_eq!(
        row_time(
            r#"{"queryGranularity": {"type": "period", "period": "PT1H", "origin": "2018-01-01T00:30:00Z"}, "segmentGranularity": {"type": "period", "period": "PT1H"}}"#
        ),
        "2018-05-17T13:30:00.000Z"
    );
    let defaults = spec("{}");
    assert_eq!((defaults.query, defaults.rollup), (Granularity::None, true));
    assert_eq!(format_iso(defaults.segment.bucket_start(t).unwrap()), "2018-05-17T00:00:00.000Z");
}

#[test]
fn rows_carry_the_truncated_time() {
    let config = |g: &str| schema(&format!(r#""timestampSpec": {{"column": "t"}}, "granularitySpec": {g}"#));
    let p = plugin(&config(r#"{"queryGranularity": "fifteen_minute", "segmentGranularity": "HOUR"}"#));
    assert_eq!(row(&p, r#"{"t": "2018-05-17T13:47:29Z"}"#)["__time"], "2018-05-17T13:45:00.000Z");
    let p = plugin(&config(r#"{"queryGranularity": "all", "segmentGranularity": "all"}"#));
    assert_eq!(row(&p, r#"{"t": "2018-05-17T13:47:29Z"}"#)["__time"], "-146136543-09-08T08:23:32.096Z");
    assert_eq!(
        config_error(&config(r#"{"queryGranularity": "minutes"}"#)),
        "invalid value for [dataSchema.granularitySpec.queryGranularity]: \"minutes\"; allowed: none, second, minute, five_minute, ten_minute, fifteen_minute, thirty_minute, hour, six_hour, eight_hour, day, week, month, quarter, year, all, or a granularity object"
    );
    assert_eq!(
        config_error(&config(r#"{"type": "arbitrary"}"#)),
        "[dataSchema.granularitySpec.type] \"arbitrary\" is not supported by sluice; streaming ingestion uses \"uniform\""
    );
    assert_eq!(
        config_error(&config(r#"{"rollup": "yes"}"#)),
        "invalid value for [dataSchema.granularitySpec.rollup]: \"yes\"; expected true or false"
    );
    assert_eq!(
        config_error(&config(r#"{"intervals": [1]}"#)),
        "invalid value for [dataSchema.granularitySpec.intervals[0]]: 1; expected a string"
    );
}
