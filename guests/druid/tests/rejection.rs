//! Late and early message rejection (`thrownAway`) at their exact bounds,
//! relative to the message's reference time.

mod common;

use common::{config_error, message, plugin};
use sluice_druid::Druid;
use sluice_druid::timestamp::parse_iso;
use sluice_plugin_sdk::{Decoded, Plugin};

fn with_io(io_config: &str) -> Druid {
    plugin(&format!(
        r#"{{"dataSchema": {{"timestampSpec": {{"column": "t", "format": "millis"}}}}, "ioConfig": {io_config}}}"#
    ))
}

fn at(text: &str) -> i64 {
    parse_iso(text).unwrap()
}

/// Decodes an event at `t` for a task period starting at `reference`.
fn decode_at(p: &Druid, t: i64, reference: i64) -> Decoded {
    p.decode(&message(&format!(r#"{{"t": {t}}}"#), reference))
}

#[track_caller]
fn kept(p: &Druid, t: i64, reference: i64) {
    let d = decode_at(p, t, reference);
    assert!(matches!(d, Decoded::Rows(_)), "{t}: {d:?}");
}

#[track_caller]
fn thrown(p: &Druid, t: i64, reference: i64) -> String {
    match decode_at(p, t, reference) {
        Decoded::ThrownAway(reason) => reason,
        other => panic!("{t}: {other:?}"),
    }
}

#[test]
fn late_period() {
    let p = with_io(r#"{"taskDuration": "PT1H", "lateMessageRejectionPeriod": "PT1H"}"#);
    let reference = at("2018-01-02T01:00:00Z");
    let bound = at("2018-01-02T00:00:00Z");
    kept(&p, bound, reference);
    kept(&p, reference + 10 * 3_600_000, reference);
    assert_eq!(
        thrown(&p, bound - 1, reference),
        "thrownAway: timestamp 2018-01-01T23:59:59.999Z is before 2018-01-02T00:00:00.000Z \
         (the task period's start 2018-01-02T01:00:00.000Z minus lateMessageRejectionPeriod PT1H)"
    );
    assert_eq!(
        thrown(&p, at("2018-01-01T00:00:00Z"), reference),
        "thrownAway: timestamp 2018-01-01T00:00:00.000Z is before 2018-01-02T00:00:00.000Z \
         (the task period's start 2018-01-02T01:00:00.000Z minus lateMessageRejectionPeriod PT1H)"
    );
    // A later task period moves the bound: the same event is judged by its message's reference.
    kept(&p, bound - 1, reference - 1);
}

#[test]
fn late_calendar_period() {
    let p = with_io(r#"{"lateMessageRejectionPeriod": "P1M"}"#);
    // 2018-03-31 minus a month is 2018-02-28 (Joda clamps the day).
    let reference = at("2018-03-31T00:00:00Z");
    kept(&p, at("2018-02-28T00:00:00Z"), reference);
    assert!(thrown(&p, at("2018-02-27T23:59:59.999Z"), reference).contains("is before 2018-02-28T00:00:00.000Z"));
    let weekly = with_io(r#"{"lateMessageRejectionPeriod": "P1W"}"#);
    kept(&weekly, at("2018-03-24T00:00:00Z"), reference);
    thrown(&weekly, at("2018-03-24T00:00:00Z") - 1, reference);
}

#[test]
fn late_start_date_time() {
    let p = with_io(r#"{"lateMessageRejectionStartDateTime": "2016-01-01T11:00Z"}"#);
    let start = at("2016-01-01T11:00:00Z");
    kept(&p, start, 0);
    assert_eq!(
        thrown(&p, start - 1, 0),
        "thrownAway: timestamp 2016-01-01T10:59:59.999Z is before lateMessageRejectionStartDateTime 2016-01-01T11:00:00.000Z"
    );
}

#[test]
fn early_period() {
    // Druid's docs: created at 12:00, task duration PT1H, early period PT1H: later than 14:00 is dropped.
    let p = with_io(r#"{"taskDuration": "PT1H", "earlyMessageRejectionPeriod": "PT1H"}"#);
    let reference = at("2016-01-01T12:00:00Z");
    let bound = at("2016-01-01T14:00:00Z");
    kept(&p, bound, reference);
    kept(&p, 0, reference);
    assert_eq!(
        thrown(&p, bound + 1, reference),
        "thrownAway: timestamp 2016-01-01T14:00:00.001Z is after 2016-01-01T14:00:00.000Z \
         (the task period's start 2016-01-01T12:00:00.000Z plus taskDuration PT1H plus earlyMessageRejectionPeriod PT1H)"
    );
    // The default task duration is PT1H too; a longer one moves the bound.
    kept(&with_io(r#"{"earlyMessageRejectionPeriod": "PT1H"}"#), bound, reference);
    thrown(&with_io(r#"{"earlyMessageRejectionPeriod": "PT1H"}"#), bound + 1, reference);
    kept(&with_io(r#"{"taskDuration": "P1D", "earlyMessageRejectionPeriod": "PT1H"}"#), bound + 1, reference);
}

#[test]
fn no_rejection_without_periods() {
    let p =
        with_io(r#"{"taskDuration": "PT1H", "lateMessageRejectionPeriod": null, "earlyMessageRejectionPeriod": null}"#);
    kept(&p, 0, at("2030-01-01T00:00:00Z"));
    kept(&p, at("2030-01-01T00:00:00Z"), 0);
}

#[test]
fn unparseable_comes_before_thrown_away() {
    let p = with_io(r#"{"lateMessageRejectionPeriod": "PT1H"}"#);
    assert!(matches!(p.decode(&message(r#"{"t": "x"}"#, i64::MAX / 4)), Decoded::Invalid(_)));
}

#[test]
fn configuration_errors() {
    let io = |io: &str| config_error(&format!(r#"{{"dataSchema": {{"timestampSpec": {{}}}}, "ioConfig": {io}}}"#));
    assert_eq!(
        io(r#"{"lateMessageRejectionPeriod": "PT1H", "lateMessageRejectionStartDateTime": "2016-01-01T11:00Z"}"#),
        "[ioConfig.lateMessageRejectionPeriod] and [ioConfig.lateMessageRejectionStartDateTime] cannot both be set (Druid supports only one of them)"
    );
    assert_eq!(
        io(r#"{"taskDuration": "P1M"}"#),
        "invalid value for [ioConfig.taskDuration]: \"P1M\"; expected a positive duration without months or years (Druid takes it as a standard duration)"
    );
    assert_eq!(
        io(r#"{"lateMessageRejectionPeriod": "1 hour"}"#),
        "invalid value for [ioConfig.lateMessageRejectionPeriod]: \"1 hour\"; expected an ISO-8601 period such as PT1H, PT10M, P1D, P1W or P1M"
    );
    assert_eq!(
        io(r#"{"earlyMessageRejectionPeriod": "PT-1H"}"#),
        "invalid value for [ioConfig.earlyMessageRejectionPeriod]: \"PT-1H\"; expected a period that is not negative"
    );
    assert_eq!(
        io(r#"{"lateMessageRejectionStartDateTime": "soon"}"#),
        "invalid value for [ioConfig.lateMessageRejectionStartDateTime]: \"soon\"; expected an ISO-8601 date-time"
    );
    assert_eq!(
        io(r#"{"topic": "x"}"#),
        "unknown key [ioConfig.topic]; allowed: taskDuration, lateMessageRejectionPeriod, earlyMessageRejectionPeriod, lateMessageRejectionStartDateTime"
    );
}
