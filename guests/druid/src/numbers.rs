//! Numbers read the way Druid (Java) reads them, and written as JSON.
//!
//! * Metrics go through `Rows.objectToNumber`: JSON numbers as they are;
//!   strings trimmed, commas removed, a leading `+` dropped, then a long if
//!   they are one, else a Java double. Long aggregators take `longValue()`
//!   (truncation toward zero, saturating), float ones `floatValue()`.
//! * Numeric dimensions go through `DimensionHandlerUtils`: a long dimension
//!   takes a string only if it is an exact integer (`"42.0"` yes, `"1.5"`
//!   no); float and double ones take Guava's `tryParse` (no trimming).
//!
//! Values JSON cannot hold (NaN, infinities) are refused: a row must serialise.

use std::borrow::Cow;

use sluice_plugin_sdk::json::Value;

/// A number as Java would hold it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Long(i64),
    Double(f64),
}

impl Number {
    /// Java's `longValue()`: doubles truncate toward zero, saturating.
    pub fn long(self) -> i64 {
        match self {
            Number::Long(n) => n,
            Number::Double(d) => d as i64,
        }
    }

    pub fn double(self) -> f64 {
        match self {
            Number::Long(n) => n as f64,
            Number::Double(d) => d,
        }
    }
}

/// A JSON number as Jackson reads it: integers as longs when they fit.
pub fn json_number(value: &Value<'_>) -> Option<Number> {
    match value {
        Value::I64(n) => Some(Number::Long(*n)),
        Value::U64(n) => Some(i64::try_from(*n).map_or(Number::Double(*n as f64), Number::Long)),
        Value::F64(f) => Some(Number::Double(*f)),
        _ => None,
    }
}

/// `Rows.objectToNumber` for a metric input: `Ok(None)` for null, `Err` with
/// Druid's reason for anything else that is not a number.
pub fn metric_number(value: &Value<'_>, field: &str) -> Result<Option<Number>, String> {
    if let Some(n) = json_number(value) {
        return Ok(Some(n));
    }
    match value {
        Value::Null => Ok(None),
        Value::Str(s) => {
            let cleaned: String = s.trim_matches(|c: char| c <= ' ').chars().filter(|c| *c != ',').collect();
            let cleaned = match cleaned.strip_prefix('+') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
                _ => &cleaned,
            };
            guava_long(cleaned)
                .map(Number::Long)
                .or_else(|| java_double(cleaned).map(Number::Double))
                .map(Some)
                .ok_or_else(|| format!("unable to parse value {} for field [{field}]", value.describe()))
        }
        other => Err(format!("unable to parse value {} for field [{field}]: not a number", other.describe())),
    }
}

/// Guava's `Longs.tryParse`: an optional `-` and decimal digits, in range.
pub fn guava_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Java's `Long.parseLong`: like [`guava_long`], and a leading `+` too.
pub fn java_long(s: &str) -> Option<i64> {
    match s.strip_prefix('+') {
        Some(rest) if !rest.starts_with(['-', '+']) => guava_long(rest),
        Some(_) => None,
        None => guava_long(s),
    }
}

/// A finite Java double literal (`Double.valueOf` / Guava's `Doubles.tryParse`
/// without hexadecimal): sign, digits with an optional point and exponent,
/// an optional `d`/`f` suffix. `NaN`, infinities and overflow are `None`.
pub fn java_double(s: &str) -> Option<f64> {
    let body = s.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(s);
    let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) || !exponent_ok {
        return None;
    }
    body.parse::<f64>().ok().filter(|d| d.is_finite())
}

/// `DimensionHandlerUtils.getExactLongFromDecimalString`: a long, or a
/// decimal (`BigDecimal` syntax) whose value is an integer that fits.
pub fn exact_long(s: &str) -> Option<i64> {
    if let Some(n) = guava_long(s) {
        return Some(n);
    }
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (whole.is_empty() && fraction.is_empty()) || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    if digits.bytes().all(|b| b == b'0') {
        return Some(0);
    }
    // The value is digits * 10^-scale.
    let scale = fraction.len() as i64 - exponent;
    let integral = if scale > 0 {
        let cut = usize::try_from(digits.len() as i64 - scale).ok()?;
        if digits[cut..].bytes().any(|b| b != b'0') {
            return None;
        }
        digits[..cut].to_owned()
    } else {
        let zeros = usize::try_from(-scale).ok().filter(|z| *z <= 19)?;
        format!("{digits}{}", "0".repeat(zeros))
    };
    let trimmed = integral.trim_start_matches('0');
    let magnitude: i128 = if trimmed.is_empty() { 0 } else { trimmed.parse().ok()? };
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// A JSON integer value.
pub fn long_value<'a>(n: i64) -> Value<'a> {
    if n < 0 { Value::I64(n) } else { Value::U64(n as u64) }
}

/// A double as a JSON value; `None` if it is not finite.
pub fn double_value<'a>(d: f64) -> Option<Value<'a>> {
    d.is_finite().then_some(Value::F64(d))
}

/// A value rounded to float (32-bit) precision, written with the float's
/// shortest digits (`0.1`, not `0.10000000149011612`).
pub fn float_value<'a>(d: f64) -> Option<Value<'a>> {
    let f = d as f32;
    if !f.is_finite() {
        return None;
    }
    format!("{f}").parse::<f64>().ok().map(Value::F64)
}

/// A string value, borrowed from the payload when it can be.
pub fn text<'a>(s: &Cow<'a, str>) -> Value<'a> {
    Value::Str(s.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_numbers_as_rows_object_to_number() {
        let n = |v: Value<'_>| metric_number(&v, "f");
        assert_eq!(n(Value::U64(5)), Ok(Some(Number::Long(5))));
        assert_eq!(n(Value::F64(1.9)), Ok(Some(Number::Double(1.9))));
        assert_eq!(n(Value::Null), Ok(None));
        assert_eq!(n(Value::Str(" 1,234 ".into())), Ok(Some(Number::Long(1234))));
        assert_eq!(n(Value::Str("+7".into())), Ok(Some(Number::Long(7))));
        assert_eq!(n(Value::Str("-2.5e1".into())), Ok(Some(Number::Double(-25.0))));
        assert_eq!(n(Value::Str("abc".into())), Err("unable to parse value \"abc\" for field [f]".to_owned()));
        assert_eq!(n(Value::Str("NaN".into())), Err("unable to parse value \"NaN\" for field [f]".to_owned()));
        assert_eq!(n(Value::Bool(true)), Err("unable to parse value true for field [f]: not a number".to_owned()));
        assert_eq!(Number::Double(-1.9).long(), -1);
        assert_eq!(Number::Double(1e30).long(), i64::MAX);
        assert_eq!(Number::Long(3).double(), 3.0);
    }

    #[test]
    fn java_literals() {
        assert_eq!(java_long("+12"), Some(12));
        assert_eq!(java_long("-12"), Some(-12));
        assert_eq!(java_long("+-1"), None);
        assert_eq!(guava_long("+12"), None);
        assert_eq!(guava_long("9223372036854775808"), None);
        assert_eq!(java_double("1.5"), Some(1.5));
        assert_eq!(java_double(".5"), Some(0.5));
        assert_eq!(java_double("5."), Some(5.0));
        assert_eq!(java_double("1e3"), Some(1000.0));
        assert_eq!(java_double("2.5f"), Some(2.5));
        for bad in ["", ".", "e3", "1e", "inf", "NaN", "Infinity", "1e400", " 1", "0x10", "1_0"] {
            assert_eq!(java_double(bad), None, "{bad}");
        }
    }

    #[test]
    fn exact_longs() {
        assert_eq!(exact_long("42"), Some(42));
        assert_eq!(exact_long("42.0"), Some(42));
        assert_eq!(exact_long("-4.20e1"), Some(-42));
        assert_eq!(exact_long("1e3"), Some(1000));
        assert_eq!(exact_long("1200e-2"), Some(12));
        assert_eq!(exact_long("0.000"), Some(0));
        assert_eq!(exact_long("1.5"), None);
        assert_eq!(exact_long("1e-3"), None);
        assert_eq!(exact_long("9223372036854775808.0"), None);
        assert_eq!(exact_long("abc"), None);
        assert_eq!(exact_long(""), None);
    }

    #[test]
    fn json_values() {
        assert_eq!(long_value(-3), Value::I64(-3));
        assert_eq!(long_value(3), Value::U64(3));
        assert_eq!(double_value(f64::NAN), None);
        assert_eq!(float_value(0.1), Some(Value::F64(0.1)));
        assert_eq!(float_value(16_777_217.0), Some(Value::F64(16_777_216.0)));
        assert_eq!(float_value(1e39), None);
        assert_eq!(json_number(&Value::U64(u64::MAX)), Some(Number::Double(u64::MAX as f64)));
    }
}
