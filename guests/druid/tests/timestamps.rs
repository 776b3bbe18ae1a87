//! `timestampSpec`: every format, `missingValue`, and the reasons an event
//! is unparseable. Rows keep the event time (`queryGranularity` defaults to `none`).

mod common;

use common::{invalid, plugin, row, schema};
use sluice_druid::Druid;
use sluice_druid::timestamp::parse_iso;

fn with_format(format: &str) -> Druid {
    plugin(&schema(&format!(r#""timestampSpec": {{"column": "t", "format": "{format}"}}"#)))
}

/// The `__time` of an event whose `t` is `value` (JSON text).
#[track_caller]
fn time(p: &Druid, value: &str) -> String {
    let r = row(p, &format!(r#"{{"t": {value}}}"#));
    r["__time"].as_str().unwrap().to_owned()
}

#[track_caller]
fn unparseable(p: &Druid, value: &str) -> String {
    invalid(p, &format!(r#"{{"t": {value}}}"#))
}

#[test]
fn iso() {
    let p = with_format("iso");
    assert_eq!(time(&p, r#""2018-01-01""#), "2018-01-01T00:00:00.000Z");
    assert_eq!(time(&p, r#""2018-01-01T01:02:03Z""#), "2018-01-01T01:02:03.000Z");
    assert_eq!(time(&p, r#""2018-01-01T01:02:03""#), "2018-01-01T01:02:03.000Z");
    assert_eq!(time(&p, r#""2018-01-01T01:02""#), "2018-01-01T01:02:00.000Z");
    assert_eq!(time(&p, r#""2018-01-01T01""#), "2018-01-01T01:00:00.000Z");
    assert_eq!(time(&p, r#""2018-01-01T01:02:03.123456789+05:30""#), "2017-12-31T19:32:03.123Z");
    assert_eq!(time(&p, r#""2018-01-01T01:02:03,5-0800""#), "2018-01-01T09:02:03.500Z");
    assert_eq!(time(&p, r#""2018-01-01T01:02:03.1-08""#), "2018-01-01T09:02:03.100Z");
    assert_eq!(time(&p, r#""2015-3-28T1:06:34.977Z""#), "2015-03-28T01:06:34.977Z");
    assert_eq!(time(&p, r#""2018-06""#), "2018-06-01T00:00:00.000Z");
    assert_eq!(time(&p, r#""2018-032""#), "2018-02-01T00:00:00.000Z");
    assert_eq!(time(&p, r#""2018-W01-2""#), "2018-01-02T00:00:00.000Z");
    assert_eq!(time(&p, r#"" \"2018-01-01T00:00:00Z\" ""#), "2018-01-01T00:00:00.000Z");
    // A number is read as text: a year.
    assert_eq!(time(&p, "2018"), "2018-01-01T00:00:00.000Z");
    // Druid's iso wants a T before the time; a space is auto's.
    assert_eq!(
        unparseable(&p, r#""2018-01-01 01:02:03""#),
        "unparseable: timestamp column [t] value \"2018-01-01 01:02:03\" is not a timestamp in format [iso]"
    );
    for bad in [
        r#""2018-02-30""#,
        r#""2018-01-01T24:00""#,
        r#""2018-13-01""#,
        r#""x""#,
        r#""""#,
        r#""2018-01-01T01:02:03.1234567890Z""#,
        "true",
        "[1]",
    ] {
        assert!(unparseable(&p, bad).contains("is not a timestamp in format [iso]"), "{bad}");
    }
}

#[test]
fn iso_parser() {
    let at = |s: &str| parse_iso(s);
    assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(at("T01:00"), Some(3_600_000));
    assert_eq!(at("1970-01-01T"), Some(0));
    assert_eq!(at("1970-01-01TZ"), Some(0));
    assert_eq!(at("1970-01-01T10.5"), Some(37_800_000));
    assert_eq!(at("-0001-01-01"), Some(-62_198_755_200_000));
    assert_eq!(at("2020-W53-7"), at("2021-01-03"));
    assert_eq!(at("2018-W53"), None);
    assert_eq!(at("2018-366"), None);
    assert_eq!(at("2018-01-01T01:02:03+24:00"), None);
    assert_eq!(at("2018-01-01X"), None);
}

#[test]
fn numeric_formats() {
    let posix = with_format("posix");
    assert_eq!(time(&posix, "1514768495"), "2018-01-01T01:01:35.000Z");
    assert_eq!(time(&posix, r#""1514768495""#), "2018-01-01T01:01:35.000Z");
    // Java's longValue(): a fraction is dropped; a string must be an integer.
    assert_eq!(time(&posix, "1514768495.9"), "2018-01-01T01:01:35.000Z");
    assert!(unparseable(&posix, r#""1514768495.5""#).contains("is not a timestamp in format [posix]"));

    let millis = with_format("millis");
    assert_eq!(time(&millis, "1514768495123"), "2018-01-01T01:01:35.123Z");
    assert_eq!(time(&millis, r#""+1514768495123""#), "2018-01-01T01:01:35.123Z");
    assert_eq!(time(&millis, "-1"), "1969-12-31T23:59:59.999Z");

    let micro = with_format("micro");
    assert_eq!(time(&micro, "1589574040000000"), "2020-05-15T20:20:40.000Z");
    assert_eq!(time(&micro, "1514768495123999"), "2018-01-01T01:01:35.123Z");

    let nano = with_format("NANO");
    assert_eq!(time(&nano, r#""1427504794977098494""#), "2015-03-28T01:06:34.977Z");
    assert_eq!(time(&nano, "999999"), "1970-01-01T00:00:00.000Z");

    let ruby = with_format("ruby");
    assert_eq!(time(&ruby, r#""1358347307.435447""#), "2013-01-16T14:41:47.435Z");
    assert_eq!(time(&ruby, "1358347307.435447"), "2013-01-16T14:41:47.435Z");
    assert!(unparseable(&ruby, r#""soon""#).contains("format [ruby]"));
}

#[test]
fn auto() {
    // Druid's TimestampParserTest.testAuto.
    for p in [with_format("auto"), plugin(&schema(r#""timestampSpec": {"column": "t"}"#))] {
        let expected = "2009-02-13T23:31:30.000Z";
        assert_eq!(time(&p, "1234567890000"), expected);
        assert_eq!(time(&p, r#""1234567890000""#), expected);
        assert_eq!(time(&p, r#""2009-02-13T23:31:30Z""#), expected);
        assert_eq!(time(&p, r#""2009-02-13 23:31:30Z""#), expected);
        assert_eq!(time(&p, r#""2009-02-13T23:31:30-08:00""#), "2009-02-14T07:31:30.000Z");
        assert_eq!(time(&p, r#""2009-02-13 23:31:30-08:00""#), "2009-02-14T07:31:30.000Z");
        assert_eq!(time(&p, r#""2009-02-13""#), "2009-02-13T00:00:00.000Z");
        assert_eq!(time(&p, r#""\"2009-02-13\"""#), "2009-02-13T00:00:00.000Z");
        assert_eq!(time(&p, r#""2009-02-13 23:31:30""#), expected);
        assert_eq!(time(&p, r#""2009-02-13 23:31:30 UTC""#), expected);
        // The zone word is stripped and ignored, as in Druid.
        assert_eq!(time(&p, r#""2009-02-13 23:31:30 PST""#), expected);
        assert_eq!(time(&p, r#""2009-02-13 23:31:30 Australia/Hobart""#), expected);
        assert!(unparseable(&p, r#""asdf""#).contains("is not a timestamp in format [auto]"));
        assert!(unparseable(&p, r#""2009-02-13 23:31:30 Hello""#).contains("format [auto]"));
        assert!(unparseable(&p, r#""99999999999999999999""#).contains("format [auto]: out of range"));
    }
}

#[test]
fn joda_patterns() {
    let p = with_format("dd/MMM/yyyy:HH:mm:ss Z");
    assert_eq!(time(&p, r#""10/Oct/2000:13:55:36 -0700""#), "2000-10-10T20:55:36.000Z");
    assert_eq!(
        unparseable(&p, r#""10/Oct/2000 13:55:36""#),
        "unparseable: timestamp column [t] value \"10/Oct/2000 13:55:36\" is not a timestamp in format [dd/MMM/yyyy:HH:mm:ss Z]: malformed at \" 13:55:36\""
    );
    let p = with_format("yyyy-MM-dd HH:mm:ss");
    assert_eq!(time(&p, r#""2018-01-01 01:01:35""#), "2018-01-01T01:01:35.000Z");
    // A number is read as its text (Druid's testFormatsForNumberBasedTimestamp).
    let p = with_format("yyyyMMdd");
    assert_eq!(time(&p, "20200514"), "2020-05-14T00:00:00.000Z");
    // Two-digit years pivot on the message's reference time (2018): 1938 to 2037.
    let p = with_format("yy-MM-dd");
    assert_eq!(time(&p, r#""37-01-01""#), "2037-01-01T00:00:00.000Z");
    assert_eq!(time(&p, r#""38-01-01""#), "1938-01-01T00:00:00.000Z");
}

#[test]
fn missing_value() {
    let p =
        plugin(&schema(r#""timestampSpec": {"column": "t", "format": "iso", "missingValue": "2010-01-01T01:02:03Z"}"#));
    assert_eq!(row(&p, r#"{"x": 1}"#)["__time"], "2010-01-01T01:02:03.000Z");
    assert_eq!(row(&p, r#"{"t": null}"#)["__time"], "2010-01-01T01:02:03.000Z");
    assert_eq!(time(&p, r#""2018-01-01""#), "2018-01-01T00:00:00.000Z");
    // Only for a missing or null column: an unparseable one is unparseable.
    assert!(unparseable(&p, r#""""#).contains("is not a timestamp"));
    let p = plugin(&schema(r#""timestampSpec": {"column": "t", "missingValue": 1262307723000}"#));
    assert_eq!(row(&p, "{}")["__time"], "2010-01-01T01:02:03.000Z");
}

#[test]
fn unparseable_reasons() {
    let p = with_format("millis");
    assert_eq!(invalid(&p, r#"{"x": 1}"#), "unparseable: timestamp column [t] is missing");
    assert_eq!(invalid(&p, r#"{"t": null}"#), "unparseable: timestamp column [t] is null");
    assert_eq!(
        unparseable(&p, r#""abc""#),
        "unparseable: timestamp column [t] value \"abc\" is not a timestamp in format [millis]"
    );
    assert_eq!(
        unparseable(&p, "9223372036854775807"),
        "unparseable: timestamp column [t] value 9223372036854775807 is out of Druid's time range"
    );
    assert_eq!(
        unparseable(&with_format("posix"), "9223372036854775"),
        "unparseable: timestamp column [t] value 9223372036854775 is out of Druid's time range"
    );
}

#[test]
fn a_flattened_timestamp_column() {
    let p = plugin(
        r#"{"dataSchema": {"timestampSpec": {"column": "ts", "format": "millis"}},
            "inputFormat": {"type": "json", "flattenSpec": {"fields": [{"type": "path", "name": "ts", "expr": "$.meta.ts"}]}}}"#,
    );
    assert_eq!(row(&p, r#"{"meta": {"ts": 1000}}"#)["__time"], "1970-01-01T00:00:01.000Z");
    assert_eq!(invalid(&p, r#"{"ts": 5}"#), "unparseable: timestamp column [ts] is missing");
}
