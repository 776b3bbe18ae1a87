//! The field types and rules that follow OpenSearch's mappers: geo_point,
//! ip, keyword's ignore_above, scaled_float, flat_object, binary, number
//! coercion (NumberFieldMapper / AbstractXContentParser) and custom date
//! formats (DateFormatter patterns and built-in names).

use super::Mappings;
use crate::json::{Value, parse};

fn mappings(text: &str) -> Mappings {
    Mappings::parse(&parse(text).unwrap()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn mapping_error(text: &str) -> String {
    match Mappings::parse(&parse(text).unwrap()) {
        Ok(_) => panic!("{text} was accepted"),
        Err(e) => e,
    }
}

fn typed(ty: &str) -> Mappings {
    mappings(&format!(r#"{{"properties":{{"f":{{"type":"{ty}"}}}}}}"#))
}

/// A field `f` with these parameters, e.g. `"type":"date","format":"yyyy-MM-dd"`.
fn field(params: &str) -> Mappings {
    mappings(&format!(r#"{{"properties":{{"f":{{{params}}}}}}}"#))
}

fn check(m: &Mappings, value: &str) -> Result<(), String> {
    let text = format!(r#"{{"f":{value}}}"#);
    match parse(&text).unwrap() {
        Value::Object(members) => m.validate(&members),
        other => panic!("not an object: {other:?}"),
    }
}

#[track_caller]
fn accepts(m: &Mappings, values: &[&str]) {
    for value in values {
        if let Err(e) = check(m, value) {
            panic!("{value} rejected: {e}");
        }
    }
}

#[track_caller]
fn rejects(m: &Mappings, value: &str, expected: &str) {
    match check(m, value) {
        Ok(()) => panic!("{value} accepted"),
        Err(e) => assert!(e.contains(expected), "{value}: reason {e:?} does not contain {expected:?}"),
    }
}

#[test]
fn geo_point_accepts_every_form_opensearch_documents() {
    let m = typed("geo_point");
    accepts(
        &m,
        &[
            r#"{"lat": 40.71, "lon": -74.0}"#,
            r#"{"lat": "40.71", "lon": "-74"}"#,
            r#""40.71,-74.00""#,
            r#"" 40.71 , -74.00 ""#,
            r#""40.71,-74.00,12""#,
            r#""drm3btev3e86""#,
            r#""txhxegj0uyp3""#,
            r#"{"geohash": "drm3btev3e86"}"#,
            "[-74.0, 40.71]",
            "[-74, 40, 12.5]",
            r#""POINT (-74.00 40.71)""#,
            r#""POINT(-74 40)""#,
            r#"{"type": "Point", "coordinates": [-74.0, 40.71]}"#,
            "[[-74.0, 40.71], [2.35, 48.85]]",
            r#"["40.71,-74.00", {"lat": 1, "lon": 2}, null]"#,
            "null",
            r#"{"lat": 90, "lon": 180}"#,
            r#"{"lat": -90, "lon": -180}"#,
        ],
    );
}

#[test]
fn geo_point_rejects_what_opensearch_rejects() {
    let m = typed("geo_point");
    rejects(
        &m,
        r#"{"lat": 91, "lon": 0}"#,
        "field [f] of type [geo_point]: cannot parse an object (illegal latitude value [91]",
    );
    rejects(&m, "[181, 0]", "illegal longitude value [181]");
    rejects(&m, r#""-90.5,0""#, "illegal latitude value [-90.5]");
    rejects(&m, r#"{"lat": 1}"#, "field [lon] missing");
    rejects(&m, r#"{"lon": 1}"#, "field [lat] missing");
    rejects(&m, r#"{"lat": 1, "lon": 2, "alt": 3}"#, "field must be either [lat], [lon] or [geohash]");
    rejects(&m, r#"{"lat": 1, "lon": 2, "geohash": "u"}"#, "field must be either lat/lon or geohash");
    rejects(&m, r#"{"lat": true, "lon": 2}"#, "latitude must be a number");
    rejects(&m, r#"{"lat": "north", "lon": 2}"#, "[lat] and [lon] must be valid double values");
    rejects(&m, r#""hello""#, "unsupported symbol [l] in geohash [hello]");
    rejects(&m, r#""1,2,3,4""#, "cannot parse");
    rejects(&m, r#""40.7,west""#, "cannot parse");
    rejects(&m, r#""POINT (1)""#, "cannot parse");
    rejects(&m, "[1, 2, 3, 4]", "does not accept > 3 dimensions");
    rejects(&m, r#"[1, "2"]"#, "cannot parse");
    rejects(&m, "[1]", "illegal latitude value");
    rejects(&m, "5", "cannot parse 5");
    rejects(&m, "true", "cannot parse true");
    rejects(&m, r#"{"type": "LineString", "coordinates": [[1, 2], [3, 4]]}"#, "cannot parse");
}

#[test]
fn geo_point_parameters() {
    // ignore_malformed: out-of-range and malformed points are kept.
    let lenient = field(r#""type":"geo_point","ignore_malformed":true"#);
    accepts(&lenient, &[r#"{"lat": 91, "lon": 0}"#, r#""nonsense!""#, "true"]);
    // ignore_z_value false: a third coordinate is an error.
    let flat = field(r#""type":"geo_point","ignore_z_value":false"#);
    accepts(&flat, &["[1, 2]"]);
    rejects(&flat, "[1, 2, 3]", "found a z value [3] but [ignore_z_value] parameter is [false]");
    rejects(&flat, r#""2,1,3""#, "[ignore_z_value] parameter is [false]");
}

#[test]
fn ip_accepts_v4_and_v6() {
    let m = typed("ip");
    accepts(
        &m,
        &[
            r#""192.168.0.1""#,
            r#""0.0.0.0""#,
            r#""::1""#,
            r#""2001:db8::8a2e:370:7334""#,
            r#""::ffff:10.0.0.1""#,
            "null",
        ],
    );
    rejects(&m, r#""256.0.0.1""#, r#"field [f] of type [ip]: cannot parse "256.0.0.1" (not an IP string literal)"#);
    rejects(&m, r#""10.0.0""#, "not an IP string literal");
    rejects(&m, r#""2001:db8:::1""#, "not an IP string literal");
    rejects(&m, r#""localhost""#, "not an IP string literal");
    rejects(&m, "5", "cannot parse 5");
    rejects(&m, "true", "cannot parse true");
    rejects(&m, "{}", "cannot parse an object");
    accepts(&field(r#""type":"ip","ignore_malformed":true"#), &[r#""nope""#]);
}

#[test]
fn keyword_ignore_above_keeps_long_values() {
    // OpenSearch keeps a value longer than ignore_above in _source and does
    // not index it: the document is accepted.
    let m = field(r#""type":"keyword","ignore_above":5"#);
    accepts(&m, &[r#""short""#, r#""much longer than five""#, "123456789", r#"["a", "bcdefgh"]"#]);
    rejects(&m, "{}", "field [f] of type [keyword]: cannot parse an object");
    let e = mapping_error(r#"{"properties":{"f":{"type":"keyword","ignore_above":"x"}}}"#);
    assert!(e.contains("[ignore_above] of field [f] must be a non-negative integer"), "{e}");
}

#[test]
fn scaled_float_needs_a_scaling_factor_and_takes_numbers() {
    let m = field(r#""type":"scaled_float","scaling_factor":100"#);
    accepts(&m, &["1.5", "-3", r#""2.25""#, r#""""#, "1e300", "[1, 2.5]"]);
    rejects(&m, r#""abc""#, r#"field [f] of type [scaled_float]: cannot parse "abc""#);
    rejects(&m, "true", "cannot parse true");
    rejects(&m, r#""NaN""#, "only supports finite values");
    let strict = field(r#""type":"scaled_float","scaling_factor":10,"coerce":false"#);
    accepts(&strict, &["1.5"]);
    rejects(&strict, r#""1.5""#, "coerce is disabled");

    let e = mapping_error(r#"{"properties":{"f":{"type":"scaled_float"}}}"#);
    assert!(e.contains("field [f] of type [scaled_float] needs [scaling_factor]"), "{e}");
    let e = mapping_error(r#"{"properties":{"f":{"type":"scaled_float","scaling_factor":0}}}"#);
    assert!(e.contains("[scaling_factor] of field [f] must be a positive number"), "{e}");
    let e = mapping_error(r#"{"properties":{"f":{"type":"scaled_float","scaling_factor":"ten"}}}"#);
    assert!(e.contains("[scaling_factor] of field [f] must be a positive number"), "{e}");
}

#[test]
fn flat_object_and_flattened_take_any_object() {
    for ty in ["flat_object", "flattened"] {
        let m = typed(ty);
        accepts(&m, &[r#"{"a": {"b": [1, "x", {"c": null}]}, "d": true}"#, "{}", "null", r#"[{"a": 1}, {"b": 2}]"#]);
        rejects(&m, r#""text""#, &format!(r#"field [f] of type [{ty}]: cannot parse "text" (expected an object)"#));
        rejects(&m, "5", "expected an object");
        rejects(&m, r#"["a"]"#, "expected an object");
    }
    // A flat_object's content is not checked against strict mappings.
    let m = mappings(r#"{"dynamic":"strict","properties":{"f":{"type":"flat_object"}}}"#);
    accepts(&m, &[r#"{"anything": {"goes": 1}}"#]);
}

#[test]
fn binary_takes_base64() {
    let m = typed("binary");
    accepts(&m, &[r#""U29tZSBiaW5hcnkgYmxvYg==""#, r#""""#, r#""AAEC""#, "null"]);
    rejects(&m, r#""not base64!""#, r#"field [f] of type [binary]: cannot parse "not base64!" (not base64)"#);
    rejects(&m, r#""AAE""#, "not base64");
    rejects(&m, "5", "cannot parse 5");
}

#[test]
fn boolean_takes_the_empty_string_as_false() {
    // BooleanFieldMapper: "" is false (Booleans.parseBoolean's default).
    let m = typed("boolean");
    accepts(&m, &[r#""""#, "true", r#""false""#]);
    rejects(&m, r#""TRUE""#, "expected true or false");
    rejects(&m, "0", "cannot parse 0");
}

#[test]
fn other_common_types_are_recognised() {
    // Values of these types are not checked (any value is kept), but a
    // mapping that uses them is valid.
    for ty in
        ["geo_shape", "completion", "knn_vector", "integer_range", "date_range", "ip_range", "rank_feature", "join"]
    {
        accepts(&typed(ty), &["1", r#""x""#, "{}"]);
    }
    accepts(&typed("date_nanos"), &[r#""2024-01-31T10:00:00.123456789Z""#]);
    rejects(&typed("date_nanos"), r#""soon""#, "field [f] of type [date_nanos]: cannot parse");
    for ty in ["search_as_you_type", "token_count", "constant_keyword"] {
        accepts(&typed(ty), &[r#""some text""#, "3"]);
    }
    // An alias holds no value of its own.
    let alias = mappings(r#"{"properties":{"a":{"type":"alias","path":"b"},"b":{"type":"keyword"}}}"#);
    accepts(&alias, &["null"]);
    let doc = parse(r#"{"a":"x"}"#).unwrap();
    let Value::Object(members) = doc else { unreachable!() };
    let e = alias.validate(&members).unwrap_err();
    assert!(e.contains("field [a] is an alias: a document cannot hold a value for it"), "{e}");
    let e = mapping_error(r#"{"properties":{"f":{"type":"no_such_type"}}}"#);
    assert!(e.contains("unknown type [no_such_type] for field [f]"), "{e}");
}

#[test]
fn integer_types_follow_opensearch_coercion() {
    let m = typed("integer");
    // coerce (the default) truncates decimals and parses numeric strings.
    accepts(
        &m,
        &["40.5", "-40.9", r#""40""#, r#""40.5""#, r#"" 42 ""#, r#""1e3""#, r#""+7""#, r#""""#, "2147483647.0"],
    );
    rejects(&m, "2147483648", "field [f] of type [integer]: cannot parse 2147483648 (out of range)");
    rejects(&m, "2147483647.5", "out of range");
    rejects(&m, r#""2147483648""#, "out of range");
    rejects(&m, r#""abc""#, r#"cannot parse "abc""#);
    rejects(&m, r#""  ""#, "cannot parse");
    rejects(&m, r#""0x10""#, "cannot parse");
    rejects(&m, r#""NaN""#, "not a number");
    rejects(&m, "true", "cannot parse true");
    // byte and short check their range after truncation, as OpenSearch does.
    accepts(&typed("byte"), &["127.9", "-128.9", r#""127""#]);
    rejects(&typed("byte"), "128", "out of range");
    accepts(&typed("short"), &["32767.5"]);
    rejects(&typed("short"), r#""32767.5""#, "out of range");
    // long and unsigned_long strings are parsed as decimals (no spaces).
    accepts(
        &typed("long"),
        &[r#""9223372036854775807""#, r#""9223372036854775807.9""#, r#""-1.5""#, r#""1e18""#, "1.5"],
    );
    rejects(&typed("long"), r#"" 42""#, "cannot parse");
    rejects(&typed("long"), r#""9223372036854775808""#, "out of range");
    rejects(&typed("long"), "1e19", "out of range");
    accepts(&typed("unsigned_long"), &[r#""18446744073709551615""#, r#""-0.5""#, "1.5", "18446744073709551615"]);
    rejects(&typed("unsigned_long"), "-1", "out of range");
    rejects(&typed("unsigned_long"), r#""18446744073709551616""#, "out of range");
}

#[test]
fn coerce_false_takes_whole_json_numbers_only() {
    for ty in ["byte", "short", "integer", "long", "unsigned_long"] {
        let m = field(&format!(r#""type":"{ty}","coerce":false"#));
        // No data lost: 40.0 is 40.
        accepts(&m, &["40", "40.0", "null"]);
        rejects(&m, r#""40""#, &format!(r#"field [f] of type [{ty}]: cannot parse "40" (coerce is disabled"#));
        rejects(&m, "40.5", "cannot parse 40.5 (coerce is disabled: the value has a decimal part)");
        rejects(&m, r#""""#, "coerce is disabled");
    }
    let m = field(r#""type":"double","coerce":false"#);
    accepts(&m, &["40.5"]);
    rejects(&m, r#""40.5""#, "coerce is disabled");
}

#[test]
fn float_strings_follow_java_parsing() {
    for ty in ["half_float", "float", "double"] {
        let m = typed(ty);
        accepts(&m, &[r#"" 1.5 ""#, r#""1e3""#, r#""+2""#, r#"".5""#, r#""5.""#, r#""1.5f""#, r#""2d""#]);
        rejects(&m, r#""Infinity""#, "only supports finite values");
        rejects(&m, r#""NaN""#, "only supports finite values");
        rejects(&m, r#""1,5""#, "cannot parse");
        rejects(&m, r#""inf""#, "cannot parse");
    }
}

#[test]
fn custom_date_formats_are_checked() {
    let m = field(r#""type":"date","format":"yyyy-MM-dd""#);
    accepts(&m, &[r#""2024-01-31""#, r#""2024-02-29""#, "null"]);
    rejects(
        &m,
        r#""not-a-date""#,
        r#"field [f] of type [date]: cannot parse "not-a-date" (expected format [yyyy-MM-dd])"#,
    );
    rejects(&m, "true", "cannot parse true (expected format [yyyy-MM-dd])");
    rejects(&m, r#""2023-02-29""#, "expected format");
    rejects(&m, r#""2024-04-31""#, "expected format");
    rejects(&m, r#""2024-13-01""#, "expected format");
    rejects(&m, r#""2024-1-31""#, "expected format");
    rejects(&m, r#""2024-01-31T10:00""#, "expected format");
    rejects(&m, "20240131", "expected format");

    let m = field(r#""type":"date","format":"yyyy-MM-dd HH:mm:ss""#);
    accepts(&m, &[r#""2025-03-26 15:30:00""#, r#""2025-03-26 00:00:59""#]);
    rejects(&m, r#""2025-03-26 24:00:00""#, "expected format");
    rejects(&m, r#""2025-03-26 15:60:00""#, "expected format");
    rejects(&m, r#""2025-03-26""#, "expected format");

    let m = field(r#""type":"date","format":"yyyy-MM-dd HH:mm:ss||epoch_millis""#);
    accepts(&m, &[r#""2025-03-26 15:30:00""#, "1711467000000", r#""1711467000000""#, "-5"]);
    rejects(&m, r#""2025-03-26T15:30:00""#, "expected format [yyyy-MM-dd HH:mm:ss||epoch_millis]");

    let m = field(r#""type":"date","format":"epoch_second""#);
    accepts(&m, &["1711467000", r#""1711467000""#, "1711467000.5"]);
    rejects(&m, r#""2025-03-26""#, "expected format [epoch_second]");

    // A JSON number is read as its text, as OpenSearch does.
    accepts(&field(r#""type":"date","format":"yyyyMMdd""#), &["20240131", r#""20240131""#]);
    accepts(&field(r#""type":"date","format":"strict_date_optional_time""#), &["2024", r#""2024-01-31T10:00:00Z""#]);
}

#[test]
fn date_patterns_cover_the_common_letters() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("dd/MM/yyyy", &["31/01/2024"], &["31/1/2024", "32/01/2024"]),
        ("d/M/yyyy", &["5/1/2024", "31/12/2024"], &["0/1/2024", "5/13/2024"]),
        ("MMM d, yyyy", &["Jan 5, 2024", "Dec 31, 1999"], &["jan 5, 2024", "Janu 5, 2024"]),
        ("EEEE, MMMM d, yyyy", &["Wednesday, January 31, 2024"], &["Wed, January 31, 2024"]),
        ("EEE, dd MMM yyyy HH:mm:ss Z", &["Wed, 31 Jan 2024 10:00:00 +0100"], &["Wed, 31 Jan 2024 10:00:00"]),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            &["2024-01-31T10:00:00.123Z", "2024-01-31T10:00:00.123+05:30"],
            &["2024-01-31T10:00:00.12Z"],
        ),
        ("yyyy-MM-dd'T'HH:mm:ssZ", &["2024-01-31T10:00:00+0000"], &["2024-01-31T10:00:00Z"]),
        ("hh:mm a", &["01:30 PM", "12:00 AM"], &["13:30 PM", "01:30"]),
        ("yy-MM-dd", &["24-01-31"], &["2024-01-31"]),
        ("yyyyDDD", &["2024366"], &["2023366"]),
        ("HH:mm", &["23:59"], &["24:00"]),
        ("yyyy-MM-dd[ HH:mm]", &["2024-01-31", "2024-01-31 10:30"], &["2024-01-31 10"]),
        ("yyyy.MM.dd G 'at' HH:mm:ss", &["2001.07.04 AD at 12:08:56"], &["2001.07.04 XX at 12:08:56"]),
        ("''yyyy''", &["'2024'"], &["2024"]),
        ("uuuu/MM/dd", &["2024/01/31"], &["2024-01-31"]),
    ];
    for (format, good, bad) in cases {
        let m = field(&format!(r#""type":"date","format":"{format}""#));
        for value in *good {
            accepts(&m, &[&format!("{value:?}")]);
        }
        for value in *bad {
            rejects(&m, &format!("{value:?}"), &format!("expected format [{format}]"));
        }
    }
}

#[test]
fn builtin_date_format_names() {
    let cases: &[(&str, &str, &str)] = &[
        ("strict_date", "2024-01-31", "2024-1-31"),
        ("date", "2024-1-31", "2024/01/31"),
        ("basic_date", "20240131", "2024-01-31"),
        ("basic_date_time", "20240131T101500.123Z", "20240131T101500Z"),
        ("basic_date_time_no_millis", "20240131T101500+0100", "20240131T101500.123Z"),
        ("strict_date_time", "2024-01-31T10:15:00.123+01:00", "2024-01-31T10:15:00"),
        ("strict_date_time_no_millis", "2024-01-31T10:15:00Z", "2024-01-31T10:15:00.123Z"),
        ("strict_date_hour_minute_second", "2024-01-31T10:15:00", "2024-01-31 10:15:00"),
        ("strict_date_hour_minute_second_millis", "2024-01-31T10:15:00.123", "2024-01-31T10:15:00"),
        ("date_hour_minute", "2024-01-31T10:15", "2024-01-31T10"),
        ("strict_hour_minute_second", "10:15:00", "10:15"),
        ("strict_year_month", "2024-01", "2024-01-31"),
        ("strict_year", "2024", "24"),
        ("strict_ordinal_date", "2024-031", "2024-31"),
        ("strict_time", "10:15:00.123Z", "10:15:00Z"),
        ("strict_t_time_no_millis", "T10:15:00Z", "10:15:00Z"),
        ("date_optional_time", "2024-01-31T10:15:00Z", "31-01-2024"),
        ("iso8601", "2024-01-31T10:15:00Z", "yesterday"),
    ];
    for (name, good, bad) in cases {
        let m = field(&format!(r#""type":"date","format":"{name}""#));
        accepts(&m, &[&format!("{good:?}")]);
        rejects(&m, &format!("{bad:?}"), &format!("expected format [{name}]"));
    }
    // Built-in formats sluice does not check (week dates) accept any value.
    accepts(&field(r#""type":"date","format":"strict_week_date""#), &[r#""2024-W05-3""#, r#""anything""#]);
}

#[test]
fn invalid_date_formats_are_mapping_errors() {
    let e = mapping_error(r#"{"properties":{"f":{"type":"date","format":"yyyy-bb"}}}"#);
    assert!(e.contains("invalid [format] of field [f]: unknown pattern letter [b] in [yyyy-bb]"), "{e}");
    let e = mapping_error(r#"{"properties":{"f":{"type":"date","format":"yyyy-MM-dd'T"}}}"#);
    assert!(e.contains("unterminated quote"), "{e}");
    let e = mapping_error(r#"{"properties":{"f":{"type":"date","format":"yyyy]"}}}"#);
    assert!(e.contains("invalid [format] of field [f]"), "{e}");
    let e = mapping_error(r#"{"properties":{"f":{"type":"date","format":""}}}"#);
    assert!(e.contains("invalid [format] of field [f]"), "{e}");
}
