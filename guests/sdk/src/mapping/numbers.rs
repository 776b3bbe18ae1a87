//! Numbers as OpenSearch's NumberFieldMapper reads them (through
//! AbstractXContentParser and Jackson):
//!
//! * JSON numbers: with `coerce` (the default) a decimal is truncated toward
//!   zero; `integer` (and `byte`, `short`) and `long` check their range on the
//!   value before truncating, `byte` and `short` check theirs again after it,
//!   `unsigned_long` after it. Without `coerce`, a value with a decimal part
//!   is refused (`40.0` is fine: no data is lost).
//! * Strings (only with `coerce`): `""` is null; `byte`, `short`, `integer`
//!   and the float types parse like Java's `Double.parseDouble` (surrounding
//!   spaces, `+`, exponents, a trailing `f`/`d`), then check the range and
//!   truncate; `long` and `unsigned_long` parse like `BigDecimal` (no spaces),
//!   truncate, then check the range.
//! * Float types refuse what is not finite in their width.
//!
//! One difference: OpenSearch indexes the string `"NaN"` as 0 in `byte`,
//! `short` and `integer` fields (a Java cast); sluice refuses it.

use crate::json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IntKind {
    Byte,
    Short,
    Integer,
    Long,
    UnsignedLong,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum FloatWidth {
    Half,
    Single,
    Double,
}

const OUT_OF_RANGE: &str = " (out of range)";

impl IntKind {
    fn range(self) -> (i128, i128) {
        match self {
            IntKind::Byte => (i8::MIN.into(), i8::MAX.into()),
            IntKind::Short => (i16::MIN.into(), i16::MAX.into()),
            IntKind::Integer => (i32::MIN.into(), i32::MAX.into()),
            IntKind::Long => (i64::MIN.into(), i64::MAX.into()),
            IntKind::UnsignedLong => (0, u64::MAX.into()),
        }
    }

    fn in_range(self, n: i128) -> Result<(), &'static str> {
        let (min, max) = self.range();
        if (min..=max).contains(&n) { Ok(()) } else { Err(OUT_OF_RANGE) }
    }

    /// A JSON number with a fraction or an exponent, as Jackson converts it.
    fn json_decimal(self, f: f64) -> Result<(), &'static str> {
        let int_range = |f: f64| f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX);
        let ok = match self {
            IntKind::Integer => int_range(f),
            IntKind::Byte | IntKind::Short => int_range(f) && self.in_range(f.trunc() as i128).is_ok(),
            // 2^63: Jackson compares with (double) Long.MAX_VALUE.
            IntKind::Long => (-(2f64.powi(63))..=2f64.powi(63)).contains(&f),
            IntKind::UnsignedLong => f.trunc() >= 0.0 && f.trunc() < 18446744073709551616.0,
        };
        if ok { Ok(()) } else { Err(OUT_OF_RANGE) }
    }

    /// A string, with `coerce`.
    fn string(self, s: &str) -> Result<(), &'static str> {
        match self {
            IntKind::Byte | IntKind::Short | IntKind::Integer => {
                let f = java_parse_double(s).ok_or("")?;
                if f.is_nan() {
                    return Err(" (not a number)");
                }
                let ok = match self {
                    IntKind::Short => f >= f64::from(i16::MIN) && f <= f64::from(i16::MAX),
                    // byte goes through intValue, then its own range.
                    _ => self.json_decimal(f).is_ok(),
                };
                if ok { Ok(()) } else { Err(OUT_OF_RANGE) }
            }
            IntKind::Long | IntKind::UnsignedLong => match truncated_decimal(s) {
                Some(Some(n)) => self.in_range(n),
                Some(None) => Err(OUT_OF_RANGE),
                None => Err(""),
            },
        }
    }
}

/// Checks a non-null, non-array value of an integer type; the error is a
/// detail for the reason (possibly empty).
pub(super) fn check_integer(value: &Value<'_>, kind: IntKind, coerce: bool) -> Result<(), &'static str> {
    match value {
        Value::U64(n) => kind.in_range((*n).into()),
        Value::I64(n) => kind.in_range((*n).into()),
        Value::F64(f) if !coerce && f.fract() != 0.0 => Err(" (coerce is disabled: the value has a decimal part)"),
        Value::F64(f) => kind.json_decimal(*f),
        Value::Str(_) if !coerce => Err(" (coerce is disabled: strings are not accepted)"),
        // OpenSearch indexes an empty string as null when coercing.
        Value::Str(s) if s.is_empty() => Ok(()),
        Value::Str(s) => kind.string(s),
        _ => Err(""),
    }
}

/// Checks a non-null, non-array value of a float type (`scaled_float` is a double).
pub(super) fn check_float(value: &Value<'_>, width: FloatWidth, coerce: bool) -> Result<(), &'static str> {
    let representable = |f: f64| {
        let ok = match width {
            // Values below 65520 round to half_float's largest finite, 65504.
            FloatWidth::Half => f.abs() < 65520.0,
            FloatWidth::Single => (f as f32).is_finite(),
            FloatWidth::Double => f.is_finite(),
        };
        if ok { Ok(()) } else { Err(" (only supports finite values)") }
    };
    match value {
        Value::U64(n) => representable(*n as f64),
        Value::I64(n) => representable(*n as f64),
        Value::F64(f) => representable(*f),
        Value::Str(_) if !coerce => Err(" (coerce is disabled: strings are not accepted)"),
        Value::Str(s) if s.is_empty() => Ok(()),
        Value::Str(s) => representable(java_parse_double(s).ok_or("")?),
        _ => Err(""),
    }
}

/// Java's `Double.parseDouble`: surrounding characters up to U+0020 are
/// trimmed; an optional sign; `NaN`, `Infinity`, or a decimal (`1`, `1.`,
/// `.5`, `1e3`) with an optional `f`/`F`/`d`/`D` suffix. (Hexadecimal
/// floats are not accepted here.)
pub(crate) fn java_parse_double(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !digits(e) {
            return None;
        }
    }
    body.parse::<f64>().ok().map(|f| sign * f)
}

/// Java's `new BigDecimal(text)` truncated toward zero: `None` when the
/// text is not a decimal, `Some(None)` when the integer part is beyond
/// 128 bits.
fn truncated_decimal(text: &str) -> Option<Option<i128>> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
            if unsigned.is_empty() || !digits(unsigned) {
                return None;
            }
            // Beyond any 128-bit value either way.
            e.parse().unwrap_or(if e.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 })
        }
    };
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let point = int.len() as i64 + exponent;
    let integer_digits: &[u8] = if point <= 0 { &[] } else { &all[..all.len().min(point as usize)] };
    let zeros = (point - all.len() as i64).max(0);
    let significant = integer_digits.iter().skip_while(|d| **d == b'0').count() as i64;
    if significant > 0 && significant + zeros > 39 {
        return Some(None);
    }
    let mut n: i128 = 0;
    for d in integer_digits {
        n = match n.checked_mul(10).and_then(|n| n.checked_add(i128::from(d - b'0'))) {
            Some(n) => n,
            None => return Some(None),
        };
    }
    for _ in 0..zeros {
        if n == 0 {
            break;
        }
        n = match n.checked_mul(10) {
            Some(n) => n,
            None => return Some(None),
        };
    }
    Some(Some(if negative { -n } else { n }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_doubles() {
        for (text, value) in [
            ("1", 1.0),
            (" 2.5 ", 2.5),
            ("+3", 3.0),
            ("-.5", -0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1.5f", 1.5),
            ("2D", 2.0),
            ("1E-2", 0.01),
        ] {
            assert_eq!(java_parse_double(text), Some(value), "{text}");
        }
        assert!(java_parse_double("NaN").unwrap().is_nan());
        assert_eq!(java_parse_double("-Infinity"), Some(f64::NEG_INFINITY));
        for bad in ["", " ", ".", "e3", "1e", "inf", "nan", "0x10", "1,5", "1.5ff", "1 2", "--1", "1e+"] {
            assert_eq!(java_parse_double(bad), None, "{bad}");
        }
    }

    #[test]
    fn big_decimals_truncate() {
        for (text, value) in [
            ("42", 42),
            ("-1.9", -1),
            ("+7", 7),
            ("1e3", 1000),
            ("1.5E1", 15),
            ("12e-1", 1),
            ("-0.5", 0),
            (".9", 0),
            ("0001", 1),
        ] {
            assert_eq!(truncated_decimal(text), Some(Some(value)), "{text}");
        }
        assert_eq!(truncated_decimal("1e40"), Some(None));
        assert_eq!(truncated_decimal("1e999999999999999999999"), Some(None));
        assert_eq!(truncated_decimal("1e-999999999999999999999"), Some(Some(0)));
        assert_eq!(truncated_decimal("0e999"), Some(Some(0)));
        for bad in ["", " 1", "1 ", "NaN", "1f", "1e", "."] {
            assert_eq!(truncated_decimal(bad), None, "{bad}");
        }
    }
}
