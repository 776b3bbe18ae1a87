//! Validation of date strings in OpenSearch's formats: the built-in ones of
//! the default date mapping (`strict_date_optional_time||epoch_millis`) here,
//! and any `format` (built-in names, Java patterns such as `yyyy-MM-dd`,
//! `||`-separated alternatives) with [`DateFormat`].
//!
//! ```
//! use sluice_plugin_sdk::date::DateFormat;
//!
//! let format = DateFormat::parse("yyyy-MM-dd HH:mm:ss||epoch_millis").unwrap();
//! assert!(format.matches("2025-03-26 15:30:00"));
//! assert!(format.matches("1711467000000"));
//! assert!(!format.matches("2025-02-30 15:30:00"));
//! assert!(DateFormat::parse("yyyy-bb").is_err());
//! ```
//!
//! ```
//! use sluice_plugin_sdk::date;
//!
//! assert!(date::is_strict_date_optional_time("2024-02-29T12:00:00.123+02:00"));
//! assert!(!date::is_strict_date_optional_time("2023-02-29")); // not a leap year
//! assert!(date::is_epoch("1706745600000"));
//! assert!(!date::is_epoch("1e3"));
//! ```

mod format;

pub use format::DateFormat;

/// `strict_date_optional_time`: `yyyy[-MM[-dd]]`, optionally followed by
/// `T[HH[:mm[:ss[(.|,)fraction]][offset]]]`, where fraction has 1 to 9 digits
/// and offset is `Z`, `±HH`, `±HHmm` or `±HH:mm`.
///
/// As in java.time's strict resolver, month, day (including leap years), hour,
/// minute and second ranges are checked; the offset may only follow minutes.
/// Deliberately narrower than OpenSearch: years must have exactly 4 digits and
/// region zone ids (`UTC`, `Europe/Paris`) are not accepted.
pub fn is_strict_date_optional_time(text: &str) -> bool {
    let mut c = Cursor { bytes: text.as_bytes(), pos: 0 };
    let Some(year) = c.number(4) else {
        return false;
    };
    if c.eat(b'-') {
        let Some(month) = c.number(2).filter(|m| (1..=12).contains(m)) else {
            return false;
        };
        if c.eat(b'-') && c.number(2).is_none_or(|day| day < 1 || day > days_in_month(year, month)) {
            return false;
        }
    }
    if c.done() {
        return true;
    }
    // Everything after the 'T' is optional, as in OpenSearch's formatter.
    if !c.eat(b'T') || c.done() {
        return c.done();
    }
    if c.number(2).is_none_or(|hour| hour > 23) {
        return false;
    }
    if c.done() {
        return true;
    }
    if !c.eat(b':') || c.number(2).is_none_or(|minute| minute > 59) {
        return false;
    }
    if c.eat(b':') {
        if c.number(2).is_none_or(|second| second > 59) {
            return false;
        }
        if (c.eat(b'.') || c.eat(b',')) && !(1..=9).contains(&c.digits()) {
            return false;
        }
    }
    c.done() || (c.offset() && c.done())
}

/// `epoch_millis` / `epoch_second` as text: an optional `-`, digits, and an
/// optional fraction (`1706745600000`, `-1000`, `1706745600.5`).
pub fn is_epoch(text: &str) -> bool {
    let mut c = Cursor { bytes: text.as_bytes(), pos: 0 };
    c.eat(b'-');
    if c.digits() == 0 {
        return false;
    }
    if c.eat(b'.') && c.digits() == 0 {
        return false;
    }
    c.done()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.bytes.get(self.pos) == Some(&byte);
        self.pos += usize::from(hit);
        hit
    }

    /// Exactly `width` ASCII digits, as a number.
    fn number(&mut self, width: usize) -> Option<u32> {
        let field = self.bytes.get(self.pos..self.pos + width)?;
        if !field.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.pos += width;
        Some(field.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    /// Skips a run of ASCII digits; returns its length.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `Z`, `±HH`, `±HHmm` or `±HH:mm`, offset at most 18 hours.
    fn offset(&mut self) -> bool {
        if self.eat(b'Z') {
            return true;
        }
        if !(self.eat(b'+') || self.eat(b'-')) {
            return false;
        }
        if self.number(2).is_none_or(|hours| hours > 18) {
            return false;
        }
        if self.done() {
            return true;
        }
        self.eat(b':');
        self.number(2).is_some_and(|minutes| minutes <= 59)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_examples() {
        for ok in [
            "2024",
            "2024-01",
            "2024-01-31",
            "2024-01-31T12",
            "2024-01-31T12:00",
            "2024-01-31T12:00:00",
            "2024-01-31T12:00:00Z",
            "2024-01-31T12:00Z",
            "2024-01-31T12:00:00.1",
            "2024-01-31T12:00:00.123+02:00",
            "2024-01-31T12:00:00.123456789-05:30",
            "2024-01-31T12:00:00,5Z",
            "2024-01-31T23:59:59+0200",
            "2024-01-31T23:59:59+02",
            "2024-01-31T00:00:00-18:00",
            "2024-01-31T",
        ] {
            assert!(is_strict_date_optional_time(ok), "{ok}");
        }
    }

    #[test]
    fn checks_ranges_and_leap_years() {
        assert!(is_strict_date_optional_time("2024-02-29"));
        assert!(is_strict_date_optional_time("2000-02-29"));
        assert!(!is_strict_date_optional_time("2023-02-29"));
        assert!(!is_strict_date_optional_time("1900-02-29"));
        assert!(is_strict_date_optional_time("2023-04-30"));
        assert!(!is_strict_date_optional_time("2023-04-31"));
        assert!(is_strict_date_optional_time("2023-12-31"));
        for bad in [
            "2024-00-01",
            "2024-13-01",
            "2024-01-00",
            "2024-01-32",
            "2024-01-31T24:00",
            "2024-01-31T12:60",
            "2024-01-31T12:00:60",
            "2024-01-31T12:00:00+19:00",
            "2024-01-31T12:00:00+02:60",
        ] {
            assert!(!is_strict_date_optional_time(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "abc",
            "24-01-31",
            "2024-1-31",
            "2024-01-3",
            "2024/01/31",
            "2024-01-31 12:00",
            "2024-01-31t12:00",
            "2024-01-31T1",
            "2024-01-31T12Z",
            "2024-01-31T12:0",
            "2024-01-31T12:00:00.",
            "2024-01-31T12:00:00.1234567890",
            "2024-01-31T12:00:00X",
            "2024-01-31T12:00:00+2",
            "2024-01-31T12:00:00+02:0",
            "2024-01-31T12:00:00Z ",
            "2024-01-31T12:00:00UTC",
            "20240131",
            "2024-01-31-",
            "２０２４",
        ] {
            assert!(!is_strict_date_optional_time(bad), "{bad}");
        }
    }

    #[test]
    fn epoch_text() {
        for ok in ["0", "1706745600000", "-1000", "1706745600.5"] {
            assert!(is_epoch(ok), "{ok}");
        }
        for bad in ["", "-", "1.", ".5", "1e3", "12a", " 1", "+1", "1.2.3"] {
            assert!(!is_epoch(bad), "{bad}");
        }
    }
}
