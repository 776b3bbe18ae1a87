//! `dataSchema.timestampSpec`: which column holds the event time and how to
//! read it, following Druid's `TimestampParser`:
//!
//! * `iso`: Joda's ISO-8601 parser (`2018-01-01`, `2018-01-01T01:01:35Z`,
//!   `2018-1-1T1:01:35.123456+05:30`, ordinal and week dates); a `T`
//!   separates the time, as Druid's docs say (a space is `auto`'s);
//! * `auto`: a string of digits is milliseconds, anything else ISO-8601
//!   with a `T` or a space before the time; a trailing zone word
//!   (`2009-02-13 23:31:30 PST`) is stripped and, as in Druid, ignored;
//! * `posix`, `millis`, `micro`, `nano`: whole numbers of seconds,
//!   milliseconds, ... (a JSON number's fraction is truncated, as Java's
//!   `longValue()` does; a string must be an integer);
//! * `ruby`: seconds with a fraction;
//! * anything else: a Joda-Time pattern ([`crate::joda`]).
//!
//! JSON numbers are read as numbers by the numeric formats and `auto`; as
//! text by the others. Strings are trimmed and unquoted first
//! (`" \"2018-01-01\" "`). `missingValue` (ISO-8601 or milliseconds) stands
//! in for a missing or null column, not for an unparseable one.

use std::borrow::Cow;

use sluice_plugin_sdk::json::Value;

use crate::calendar::{self, DAY, HOUR, MAX_INSTANT, MIN_INSTANT, MINUTE, SECOND};
use crate::joda::Pattern;
use crate::numbers::{self, Number};
use crate::spec::{Node, invalid};
use crate::zones;

#[derive(Clone, Debug)]
enum Format {
    Auto,
    Iso,
    Posix,
    Millis,
    Micro,
    Nano,
    Ruby,
    Joda(Pattern),
}

#[derive(Clone, Debug)]
pub struct TimestampSpec {
    pub column: String,
    format: Format,
    format_text: String,
    missing_value: Option<i64>,
}

impl TimestampSpec {
    /// Parses `dataSchema.timestampSpec` (required).
    pub fn parse(node: Option<Node<'_, '_>>, path: &str) -> Result<TimestampSpec, String> {
        let node = node.ok_or_else(|| format!("missing [{path}]"))?;
        node.allow(&["column", "format", "missingValue"])?;
        let column = node.str("column")?.unwrap_or("timestamp");
        if column.is_empty() {
            return Err(format!("invalid value for [{}]: \"\"; expected a column name", node.key("column")));
        }
        let format_text = node.str("format")?.unwrap_or("auto");
        let format = match format_text.to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "iso" => Format::Iso,
            "posix" => Format::Posix,
            "millis" => Format::Millis,
            "micro" => Format::Micro,
            "nano" => Format::Nano,
            "ruby" => Format::Ruby,
            _ => Format::Joda(Pattern::compile(format_text).map_err(|e| {
                format!(
                    "invalid value for [{}]: \"{format_text}\"; expected auto, iso, posix, millis, micro, nano, ruby or a Joda-Time pattern: {e}",
                    node.key("format")
                )
            })?),
        };
        let missing_value = match node.get("missingValue") {
            None => None,
            Some(value) => Some(instant(value).ok_or_else(|| {
                invalid(
                    &node.key("missingValue"),
                    value,
                    "expected an ISO-8601 date-time or milliseconds since the epoch",
                )
            })?),
        };
        Ok(TimestampSpec { column: column.to_owned(), format, format_text: format_text.to_owned(), missing_value })
    }

    /// The event time in milliseconds, from the column's value (`None` when
    /// the column is missing); the error is the reason the row is unparseable.
    /// `pivot_year` places Joda two-digit years.
    pub fn extract(&self, value: Option<&Value<'_>>, pivot_year: i64) -> Result<i64, String> {
        let column = &self.column;
        let value = match value {
            None | Some(Value::Null) => {
                let what = if value.is_none() { "missing" } else { "null" };
                return self.missing_value.ok_or_else(|| format!("timestamp column [{column}] is {what}"));
            }
            Some(value) => value,
        };
        let millis = self.read(value, pivot_year).map_err(|detail| {
            format!(
                "timestamp column [{column}] value {} is not a timestamp in format [{}]{detail}",
                value.describe(),
                self.format_text
            )
        })?;
        if !(MIN_INSTANT..MAX_INSTANT).contains(&millis) {
            return Err(format!("timestamp column [{column}] value {} is out of Druid's time range", value.describe()));
        }
        Ok(millis)
    }

    /// The milliseconds of a non-null value; the error is an optional detail (`": ..."`).
    fn read(&self, value: &Value<'_>, pivot_year: i64) -> Result<i64, String> {
        let none = || String::new();
        if let (Some(n), true) = (numbers::json_number(value), self.is_numeric()) {
            return self.numeric_millis(n).ok_or_else(none);
        }
        let text: Cow<'_, str> = match value {
            Value::Str(s) => Cow::Borrowed(s),
            scalar => scalar.scalar_text().ok_or_else(none)?,
        };
        let is_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let text = strip_quotes(&text);
        match &self.format {
            Format::Auto if is_digits => java_long_millis(text),
            Format::Auto => parse_auto(text).ok_or_else(none),
            Format::Iso => parse_iso(text).ok_or_else(none),
            Format::Ruby => numbers::java_double(text).map(|d| (d * 1000.0) as i64).ok_or_else(none),
            Format::Posix | Format::Millis | Format::Micro | Format::Nano => {
                let n = numbers::java_long(text).ok_or_else(none)?;
                self.numeric_millis(Number::Long(n)).ok_or_else(none)
            }
            Format::Joda(pattern) => pattern.parse(text, pivot_year).map_err(|e| format!(": {e}")),
        }
    }

    fn is_numeric(&self) -> bool {
        !matches!(self.format, Format::Iso | Format::Joda(_))
    }

    /// `TimestampParser.createNumericTimestampParser`.
    fn numeric_millis(&self, n: Number) -> Option<i64> {
        let long = n.long();
        match self.format {
            Format::Posix => Some(long.saturating_mul(1000)),
            Format::Micro => Some(long / 1000),
            Format::Nano => Some(long / 1_000_000),
            Format::Ruby => Some((n.double() * 1000.0) as i64),
            _ => (n.double().is_finite()).then_some(long),
        }
    }
}

fn java_long_millis(text: &str) -> Result<i64, String> {
    numbers::java_long(text).ok_or_else(|| ": out of range".to_owned())
}

/// `ParserUtils.stripQuotes`: trimmed, and unquoted when in double quotes.
fn strip_quotes(text: &str) -> &str {
    let trimmed = text.trim_matches(|c: char| c <= ' ');
    match trimmed.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.trim_matches(|c: char| c <= ' '),
        None => trimmed,
    }
}

/// A configured instant (`missingValue`, `origin`, `lateMessageRejectionStartDateTime`):
/// ISO-8601 text or milliseconds.
pub fn instant(value: &Value<'_>) -> Option<i64> {
    match value {
        Value::Str(s) => parse_iso(strip_quotes(s)),
        other => numbers::json_number(other).filter(|n| matches!(n, Number::Long(_))).map(Number::long),
    }
    .filter(|t| (MIN_INSTANT..MAX_INSTANT).contains(t))
}

/// Joda's `ISODateTimeFormat.dateTimeParser()`, as `DateTimes.of` uses it.
pub fn parse_iso(text: &str) -> Option<i64> {
    let mut c = Cursor { s: text.as_bytes(), pos: 0 };
    let days = if c.peek() == Some(b'T') { Some(0) } else { Some(c.date()?) };
    let mut local = days? * DAY;
    let mut offset = 0;
    if c.eat(b'T') || c.eat(b't') {
        if c.peek().is_some_and(|b| b.is_ascii_digit()) {
            local += c.time()?;
        }
        if !c.done() {
            offset = c.offset()?;
        }
    }
    c.done().then(|| local - offset)
}

/// Druid's `auto` parser: an ISO date, then optionally `T` or a space, a
/// time and an offset; after stripping a trailing zone word.
fn parse_auto(text: &str) -> Option<i64> {
    let text = match text.rfind(' ') {
        Some(i) if i > 0 && zones::is_java_zone_id(&text[i + 1..]) => &text[..i],
        _ => text,
    };
    let mut c = Cursor { s: text.as_bytes(), pos: 0 };
    let mut local = c.date()? * DAY;
    let mut offset = 0;
    if c.eat(b'T') || c.eat(b't') || c.eat(b' ') {
        if c.peek().is_some_and(|b| b.is_ascii_digit()) {
            local += c.time()?;
        }
        if !c.done() {
            offset = c.offset()?;
        }
    }
    c.done().then(|| local - offset)
}

struct Cursor<'s> {
    s: &'s [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn done(&self) -> bool {
        self.pos == self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    /// 1 to `max` digits.
    fn number(&mut self, max: usize) -> Option<i64> {
        let n = self.s[self.pos..].iter().take(max).take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let value = std::str::from_utf8(&self.s[self.pos..self.pos + n]).ok()?.parse().ok()?;
        self.pos += n;
        Some(value)
    }

    /// `yyyy[-MM[-dd]]`, `yyyy-DDD` or `xxxx-Www[-e]`: days since the epoch.
    /// Joda tries the three and keeps the one that reads furthest.
    fn date(&mut self) -> Option<i64> {
        let negative = self.eat(b'-');
        if !negative {
            self.eat(b'+');
        }
        let year = self.number(9)? * if negative { -1 } else { 1 };
        let start = self.pos;
        let mut best: Option<(usize, i64)> = Some((start, calendar::days_from_civil(year, 1, 1)));
        let mut consider = |end: usize, days: Option<i64>| {
            if let Some(days) = days
                && best.is_none_or(|(e, _)| end > e)
            {
                best = Some((end, days));
            }
        };
        // Calendar date.
        let mut c = Cursor { s: self.s, pos: start };
        if c.eat(b'-')
            && let Some(month) = c.number(2)
        {
            let mut days = None;
            if (1..=12).contains(&month) {
                days = Some(calendar::days_from_civil(year, month as u32, 1));
            }
            let mut end = c.pos;
            if c.eat(b'-')
                && let Some(day) = c.number(2)
            {
                end = c.pos;
                days = (1..=12)
                    .contains(&month)
                    .then(|| calendar::days_in_month(year, month as u32))
                    .filter(|dim| (1..=i64::from(*dim)).contains(&day))
                    .map(|_| calendar::days_from_civil(year, month as u32, day as u32));
            }
            consider(end, days.or(Some(i64::MIN)));
        }
        // Ordinal date.
        let mut c = Cursor { s: self.s, pos: start };
        if c.eat(b'-')
            && let Some(doy) = c.number(3)
        {
            let ok = (1..=i64::from(calendar::days_in_year(year))).contains(&doy);
            consider(c.pos, Some(if ok { calendar::days_from_civil(year, 1, 1) + doy - 1 } else { i64::MIN }));
        }
        // Week date.
        let mut c = Cursor { s: self.s, pos: start };
        if c.eat(b'-')
            && (c.eat(b'W') || c.eat(b'w'))
            && let Some(week) = c.number(2)
        {
            let mut dow = 1;
            let mut end = c.pos;
            if c.eat(b'-')
                && let Some(d) = c.number(1)
            {
                dow = d;
                end = c.pos;
            }
            let ok = (1..=i64::from(calendar::weeks_in_week_year(year))).contains(&week) && (1..=7).contains(&dow);
            consider(
                end,
                Some(if ok { calendar::days_from_week_date(year, week as u32, dow as u32) } else { i64::MIN }),
            );
        }
        let (end, days) = best?;
        self.pos = end;
        (days != i64::MIN).then_some(days)
    }

    /// `HH[:mm[:ss]]` with a fraction (`.` or `,`) on the last element: milliseconds of the day.
    fn time(&mut self) -> Option<i64> {
        let mut units = [(23, HOUR), (59, MINUTE), (59, SECOND)].into_iter();
        let mut millis = 0;
        loop {
            let (max, unit) = units.next()?;
            let value = self.number(2)?;
            if value > max {
                return None;
            }
            millis += value * unit;
            if self.eat(b'.') || self.eat(b',') {
                let start = self.pos;
                let n = self.s[start..].iter().take(9).take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return None;
                }
                self.pos += n;
                let digits = std::str::from_utf8(&self.s[start..start + n]).ok()?;
                let fraction: i64 = format!("{digits:0<9}").parse().ok()?;
                return Some(millis + (i128::from(fraction) * i128::from(unit) / 1_000_000_000) as i64);
            }
            if unit == SECOND || !self.eat(b':') {
                return Some(millis);
            }
        }
    }

    /// `Z` or `±HH[[:]mm]`: milliseconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.pos += 1;
        let start = self.pos;
        let hours = self.number(2).filter(|_| self.pos - start == 2)?;
        let mut minutes = 0;
        if self.eat(b':') || self.peek().is_some_and(|b| b.is_ascii_digit()) {
            let start = self.pos;
            minutes = self.number(2).filter(|_| self.pos - start == 2)?;
        }
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * HOUR + minutes * MINUTE))
    }
}
