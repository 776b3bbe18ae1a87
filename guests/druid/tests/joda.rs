//! Joda-Time patterns (`sluice_druid::joda`): parsing as Joda does, and
//! what it refuses.

use sluice_druid::calendar::{DAY, HOUR, MINUTE, SECOND, days_from_civil};
use sluice_druid::joda::Pattern;

fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
    days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MINUTE + s * SECOND
}

#[track_caller]
fn parses(pattern: &str, text: &str, expected: i64) {
    let p = Pattern::compile(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    assert_eq!(p.parse(text, 1995), Ok(expected), "{pattern} / {text}");
}

#[track_caller]
fn fails(pattern: &str, text: &str, reason: &str) {
    let p = Pattern::compile(pattern).unwrap();
    let err = p.parse(text, 1995).unwrap_err();
    assert!(err.contains(reason), "{pattern} / {text}: {err}");
}

#[test]
fn common_patterns() {
    parses("yyyy-MM-dd HH:mm:ss", "2018-01-01 01:01:35", at(2018, 1, 1, 1, 1, 35));
    parses("yyyy-MM-dd HH:mm:ss", "2018-1-1 1:1:35", at(2018, 1, 1, 1, 1, 35));
    parses("dd/MMM/yyyy:HH:mm:ss Z", "10/Oct/2000:13:55:36 -0700", at(2000, 10, 10, 20, 55, 36));
    parses("dd/MMM/yyyy:HH:mm:ss ZZ", "10/oct/2000:13:55:36 +05:30", at(2000, 10, 10, 8, 25, 36));
    parses("yyyyMMdd", "20200514", at(2020, 5, 14, 0, 0, 0));
    parses("yyyyMM", "202010", at(2020, 10, 1, 0, 0, 0));
    parses("yyyy", "2020", at(2020, 1, 1, 0, 0, 0));
    parses("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "2018-01-01T01:01:35.123Z", at(2018, 1, 1, 1, 1, 35) + 123);
    parses("HH:mm", "13:05", at(1970, 1, 1, 13, 5, 0));
    parses("MMMM d, yyyy h:mm a", "January 5, 2018 12:30 am", at(2018, 1, 5, 0, 30, 0));
    parses("MMMM d, yyyy h:mm a", "JANUARY 5, 2018 1:30 PM", at(2018, 1, 5, 13, 30, 0));
    parses("yyyy-MM-dd kk:mm", "2018-01-05 24:30", at(2018, 1, 5, 0, 30, 0));
    parses("yyyy DDD", "2020 366", at(2020, 12, 31, 0, 0, 0));
    parses("xxxx-'W'ww-e", "2020-W53-7", at(2021, 1, 3, 0, 0, 0));
    parses("yyyy-MM-dd ''HH''", "2018-01-01 '05'", at(2018, 1, 1, 5, 0, 0));
    parses("Y G", "44 BC", at(-43, 1, 1, 0, 0, 0));
    parses("yyyy-MM-dd HH:mm:ss ZZZ", "2018-01-01 00:00:00 UTC", at(2018, 1, 1, 0, 0, 0));
}

#[test]
fn druid_zone_name_tests() {
    // From Druid's TimestampParserTest.
    let pst = at(1994, 11, 9, 12, 0, 0);
    parses("EEE MMM dd HH:mm:ss z yyyy", "Wed Nov 9 04:00:00 PST 1994", pst);
    parses("EEE MMM dd HH:mm:ss zZ z yyyy", "Wed Nov 9 04:00:00 GMT-0800 PST 1994", pst);
    parses("EEE MMM dd HH:mm:ss zZ yyyy", "Wed Nov 9 04:00:00 GMT-0600 1994", at(1994, 11, 9, 10, 0, 0));
    parses("EEE MMM dd HH:mm:ss z yyyy 'helloz'", "Wed Nov 9 04:00:00 PST 1994 helloz", pst);
}

#[test]
fn two_digit_years_around_the_pivot() {
    // Pivot 1995 (Joda in 2025: the year minus 30): 1945 to 2044.
    parses("yy-MM-dd", "18-01-01", at(2018, 1, 1, 0, 0, 0));
    parses("yy-MM-dd", "44-01-01", at(2044, 1, 1, 0, 0, 0));
    parses("yy-MM-dd", "45-01-01", at(1945, 1, 1, 0, 0, 0));
    // Lenient: another count of digits is the year itself.
    parses("yy-MM-dd", "2018-01-01", at(2018, 1, 1, 0, 0, 0));
    // Followed by a number: exactly two digits.
    parses("yyMMdd", "180101", at(2018, 1, 1, 0, 0, 0));
    let p = Pattern::compile("yy").unwrap();
    assert_eq!(p.parse("99", 1970), Ok(at(1999, 1, 1, 0, 0, 0)));
    assert_eq!(p.parse("20", 1970), Ok(at(1920, 1, 1, 0, 0, 0)));
}

#[test]
fn malformed_and_out_of_range() {
    fails("yyyy-MM-dd", "2018-02-30", "day of month 30 is not from 1 to 28");
    fails("yyyy-MM-dd", "2018-13-01", "month 13 is not from 1 to 12");
    fails("yyyy-MM-dd HH:mm", "2018-01-01 24:00", "hour 24 is not from 0 to 23");
    fails("yyyy-MM-dd", "2018-01-01x", "malformed at \"x\"");
    fails("yyyy-MM-dd", "2018/01/01", "malformed at \"/01/01\"");
    fails("dd MMM yyyy", "01 Foo 2018", "malformed at \"Foo 2018\"");
    fails("HH:mm:ss.SSS", "01:01:01.1234", "malformed at \"4\"");
    fails("yyyy HH z", "2018 01 AEST", "malformed at \"AEST\"");
    fails("yyyy-MM-dd ZZZ", "2018-01-01 America/New_York", "malformed");
}

#[test]
fn compile_errors() {
    assert_eq!(Pattern::compile("yyyy-bb").unwrap_err(), "illegal pattern component: bb");
    assert_eq!(Pattern::compile("yyyy-'MM").unwrap_err(), "unterminated quote in the pattern");
    assert!(Pattern::compile("CC").unwrap_err().contains("[C] is not supported"));
}
