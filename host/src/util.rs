//! Small helpers with no dependency on any other module of the crate: the
//! clock, hashing, and the redaction of secrets in what sluice shows.
//!
//! A leaf: everything may use it, it uses nothing of the crate.

use serde_json::Value;

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Does a parameter name say it holds a secret? (`secret_key`, `sasl.password`,
/// `access_key`, `token`, ...)
pub fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["secret", "password", "key", "token", "credential"].iter().any(|w| n.contains(w))
}

/// The placeholder that replaces a secret in anything sluice shows or exports.
pub const REDACTED: &str = "<redacted>";

/// A copy of a spec body with every secret parameter replaced by [`REDACTED`],
/// in nested and flat setting forms alike.
pub fn redact_secrets(spec: &Value) -> Value {
    fn walk(v: &mut Value, in_param: bool) {
        if let Value::Object(map) = v {
            for (k, v) in map.iter_mut() {
                // `param.secret_key` (flat) or `{"param": {"secret_key": ..}}` (nested).
                let flat_param = k.split('.').collect::<Vec<_>>();
                let param_name = flat_param.iter().position(|p| *p == "param").map(|i| flat_param[i + 1..].join("."));
                let secret = match (&param_name, in_param) {
                    (Some(name), _) if !name.is_empty() => is_secret_param(name),
                    (_, true) => is_secret_param(k),
                    _ => false,
                };
                if secret && !v.is_object() {
                    *v = Value::String(REDACTED.into());
                } else if k == "url" {
                    if let Value::String(url) = v {
                        *url = redact_url_password(url);
                    }
                } else {
                    // A Druid spec's `consumerProperties` are the Kafka consumer's
                    // parameters, as `param.*` are in an OpenSearch body.
                    let inner_param = in_param || k == "param" || k.ends_with(".param") || k == "consumerProperties";
                    walk(v, inner_param);
                }
            }
        }
    }
    let mut out = spec.clone();
    walk(&mut out, false);
    out
}

/// `redis://user:pw@host/0` -> `redis://user:<redacted>@host/0`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:{REDACTED}{}", &url[..scheme_end], &rest[..colon], &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `2025-01-02T03:04:05.678Z`: RFC 3339 in UTC, from ms since the epoch.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{:03}Z", ms.rem_euclid(1000))
}

/// The inverse of [`rfc3339`], also for times with another offset or
/// without fractions (`2025-01-02T03:04:05+02:00`); `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let (y, m, d, h, min, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = text.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        frac_ms = format!("{digits:0<3}")[..3].parse::<i64>().ok()?;
    }
    let offset_min = match text.get(i..)? {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + min * 60 + s) - offset_min * 60) * 1000 + frac_ms)
}

/// Optional ms since the epoch, as RFC 3339 text in JSON (`null` when absent).
pub mod rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&super::rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_rfc3339(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time"))),
        }
    }
}

/// A duration as OpenSearch writes time values: `500ms`, `5s`, `2m`, `1h`,
/// `30d`, or a bare number of milliseconds. The error says what is accepted.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration (e.g. 500ms, 5s, 2m, 1h, 30d)"))?;
    let ms = match unit.trim() {
        "" | "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        other => return Err(format!("{text:?}: unknown unit {other:?}; allowed: ms, s, m, h, d")),
    };
    ms.map(std::time::Duration::from_millis).ok_or_else(|| format!("{text:?} is too long"))
}

/// An ISO-8601 period as Druid takes it (Joda's standard format, turned into
/// a duration): `PT1H`, `PT30M`, `PT5S`, `PT0.5S`, `P1D`, `P1W`,
/// `P2DT12H`. Years and months have no fixed length, so they are refused,
/// as Druid's `toStandardDuration` refuses them.
pub fn parse_iso8601_period(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not an ISO-8601 period (e.g. PT1H, PT30M, PT5S, P1D, P1W)");
    let rest = text.trim().strip_prefix(['P', 'p']).ok_or_else(bad)?;
    if rest.is_empty() || rest.eq_ignore_ascii_case("T") {
        return Err(bad());
    }
    let (mut ms, mut in_time, mut number, mut time_units) = (0f64, false, String::new(), 0);
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            'T' if !in_time && number.is_empty() => in_time = true,
            d if d.is_ascii_digit() || d == '.' || d == ',' => number.push(if d == ',' { '.' } else { d }),
            unit => {
                let n: f64 = number.parse().map_err(|_| bad())?;
                number.clear();
                let fractional = n.fract() != 0.0;
                let unit_ms = match (unit, in_time) {
                    ('W', false) => 604_800_000.0,
                    ('D', false) => 86_400_000.0,
                    ('H', true) => 3_600_000.0,
                    ('M', true) => 60_000.0,
                    ('S', true) => 1000.0,
                    ('Y' | 'M', false) => {
                        return Err(format!(
                            "{text:?}: years and months have no fixed length; give weeks, days, hours, minutes or seconds"
                        ));
                    }
                    _ => return Err(bad()),
                };
                if fractional && unit != 'S' {
                    return Err(format!("{text:?}: only seconds may have a fraction"));
                }
                time_units += usize::from(in_time);
                ms += n * unit_ms;
            }
        }
    }
    if !number.is_empty() || (in_time && time_units == 0) || ms > 1e18 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_millis(ms.round() as u64))
}

/// An ISO-8601 date-time as Druid (Joda) reads it, in ms since the epoch:
/// `2016-01-01`, `2016-01-01T11:00Z`, `2016-01-01T11:00:00.000+02:00`, ...
/// Without an offset the time is UTC (Druid runs in UTC). `None` if it is not one.
pub fn parse_iso8601_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, rest) = (t.get(..10)?, &t[10..]);
    if rest.is_empty() {
        return parse_rfc3339(&format!("{date}T00:00:00Z"));
    }
    let rest = rest.strip_prefix(['T', 't'])?;
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let time = match time.len() {
        2 => format!("{time}:00:00"),
        5 => format!("{time}:00"),
        n if n >= 8 => time.to_string(),
        _ => return None,
    };
    let zone = match zone {
        "" => "Z".to_string(),
        z if z.len() == 3 => format!("{z}:00"),
        z if z.len() == 5 && !z.contains(':') => format!("{}:{}", &z[..3], &z[3..]),
        z => z.to_string(),
    };
    parse_rfc3339(&format!("{date}T{time}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_in_nested_and_flat_forms() {
        let spec = json!({
            "name": "k",
            "settings": {
                "ingestion_source": {"type": "kinesis", "param": {
                    "stream": "s", "region": "eu-west-1", "access_key": "AKIA", "secret_key": "shh", "sasl.password": "pw"
                }},
                "index.ingestion_source.param.session_token": "tok"
            }
        });
        let r = redact_secrets(&spec);
        let p = &r["settings"]["ingestion_source"]["param"];
        assert_eq!(
            (p["access_key"].as_str(), p["secret_key"].as_str(), p["sasl.password"].as_str()),
            (Some(REDACTED), Some(REDACTED), Some(REDACTED))
        );
        assert_eq!(p["stream"], "s");
        assert_eq!(p["region"], "eu-west-1");
        assert_eq!(r["settings"]["index.ingestion_source.param.session_token"], REDACTED);
        assert!(!r.to_string().contains("shh") && !r.to_string().contains("AKIA") && !r.to_string().contains("tok\""));
        let with_sink = json!({"sluice": {"sink": {"type": "redis", "url": "redis://u:hunter2@h:6379/0"}}});
        assert_eq!(redact_secrets(&with_sink)["sluice"]["sink"]["url"], "redis://u:<redacted>@h:6379/0");
        assert_eq!(redact_url_password("redis://h:6379/0"), "redis://h:6379/0");
    }

    #[test]
    fn rfc3339_round_trips_and_reads_offsets() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for ms in [0, 951_782_400_000, 1_700_000_000_123, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(1_700_000_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500));
        for bad in ["", "2023-11-14", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20", "x023-11-14T22:13:20Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn iso8601_periods_and_times_as_druid_reads_them() {
        use std::time::Duration;
        let p = |t: &str| parse_iso8601_period(t);
        assert_eq!(p("PT1H"), Ok(Duration::from_secs(3600)));
        assert_eq!(p("PT30M"), Ok(Duration::from_secs(1800)));
        assert_eq!(p("PT5S"), Ok(Duration::from_secs(5)));
        assert_eq!(p("PT0.5S"), Ok(Duration::from_millis(500)));
        assert_eq!(p("P1D"), Ok(Duration::from_secs(86_400)));
        assert_eq!(p("P1W"), Ok(Duration::from_secs(604_800)));
        assert_eq!(p("P2DT12H30M"), Ok(Duration::from_secs(2 * 86_400 + 12 * 3600 + 1800)));
        assert_eq!(p("P2147483647D").map(|d| d.as_secs()), Ok(2_147_483_647 * 86_400));
        for bad in ["", "P", "PT", "1H", "PT1", "PT1X", "P1H", "PT1D", "-PT1H", "PT1.5H", "P1DT"] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        assert!(p("P1M").unwrap_err().contains("no fixed length"));
        assert!(p("P1Y").unwrap_err().contains("no fixed length"));
        let t = |s: &str| parse_iso8601_time(s);
        assert_eq!(t("2016-01-01T11:00Z"), Some(1_451_646_000_000));
        assert_eq!(t("2016-01-01T11:00"), Some(1_451_646_000_000));
        assert_eq!(t("2016-01-01T11:00:00.000Z"), Some(1_451_646_000_000));
        assert_eq!(t("2016-01-01T13:00+02:00"), Some(1_451_646_000_000));
        assert_eq!(t("2016-01-01T13:00:00+0200"), Some(1_451_646_000_000));
        assert_eq!(t("2016-01-01"), Some(1_451_606_400_000));
        for bad in ["", "2016", "2016-01-01T", "2016-01-01T1", "2016-13-01", "yesterday"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_take_opensearch_units() {
        use std::time::Duration;
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("allowed: ms, s, m, h, d"));
        assert!(parse_duration("-1").is_err());
    }
}
