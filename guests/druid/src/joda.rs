//! Joda-Time `DateTimeFormat` patterns, the timestamp formats Druid accepts
//! besides its named ones (`yyyy-MM-dd HH:mm:ss`, `dd/MMM/yyyy:HH:mm:ss Z`,
//! `EEE MMM dd HH:mm:ss z yyyy`).
//!
//! Parsing follows Joda's rules: numbers take any count of digits up to the
//! field's maximum (a year followed directly by another number takes as
//! many digits as it has letters), texts (months, days, AM/PM, eras) match
//! short or full names in any case, literals match in any case, the whole
//! input must be read, fields are checked against their ranges, and unset
//! fields default to 1970-01-01T00:00:00.000 UTC. `yy` is a two-digit year
//! within 80 years before and 20 after a pivot year, which Joda takes from
//! the clock and sluice from the message's reference time. Not supported:
//! the century letter `C` and region zone ids in `ZZZ` (only `UTC`).

use crate::calendar::{self, DAY, HOUR, MINUTE, SECOND};
use crate::zones::{self, NamedZone};

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(String),
    Number {
        field: Field,
        max_digits: usize,
    },
    /// `yy`: two digits around the pivot; any other count of digits (when lenient) is a full year.
    TwoDigitYear {
        field: Field,
        lenient: bool,
    },
    Fraction {
        digits: usize,
    },
    Text(Text),
    /// `Z`, `ZZ`: `Z`, `±HH`, `±HHmm` or `±HH:mm`.
    Offset,
    /// `ZZZ`: a zone id.
    ZoneId,
    /// `z`: a zone abbreviation.
    ZoneName,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Year,
    YearOfEra,
    WeekYear,
    Week,
    DayOfWeek,
    DayOfYear,
    Month,
    Day,
    HourOfHalfday,
    ClockHourOfHalfday,
    Hour,
    ClockHour,
    Minute,
    Second,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Text {
    Era,
    Month,
    DayOfWeek,
    Halfday,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

impl Pattern {
    /// Compiles a pattern; the error says what Joda would refuse.
    pub fn compile(pattern: &str) -> Result<Pattern, String> {
        let raw = split(pattern)?;
        let numeric = |i: usize| raw.get(i).is_some_and(|t| matches!(t, Raw::Letters(c, n) if is_numeric(*c, *n)));
        let mut tokens = Vec::new();
        for (i, token) in raw.iter().enumerate() {
            let (c, count) = match token {
                Raw::Literal(text) => {
                    tokens.push(Token::Literal(text.to_lowercase()));
                    continue;
                }
                Raw::Letters(c, count) => (*c, *count),
            };
            let number = |field, max_digits| Token::Number { field, max_digits };
            tokens.push(match c {
                'y' | 'Y' | 'x' => {
                    let field = match c {
                        'y' => Field::Year,
                        'Y' => Field::YearOfEra,
                        _ => Field::WeekYear,
                    };
                    match count {
                        2 => Token::TwoDigitYear { field, lenient: !numeric(i + 1) },
                        _ => number(field, if numeric(i + 1) { count } else { 9 }),
                    }
                }
                'G' => Token::Text(Text::Era),
                'C' => return Err("the century pattern letter [C] is not supported by sluice".to_owned()),
                'w' => number(Field::Week, 2),
                'e' => number(Field::DayOfWeek, 1),
                'E' => Token::Text(Text::DayOfWeek),
                'D' => number(Field::DayOfYear, 3),
                'M' if count >= 3 => Token::Text(Text::Month),
                'M' => number(Field::Month, 2),
                'd' => number(Field::Day, 2),
                'a' => Token::Text(Text::Halfday),
                'K' => number(Field::HourOfHalfday, 2),
                'h' => number(Field::ClockHourOfHalfday, 2),
                'H' => number(Field::Hour, 2),
                'k' => number(Field::ClockHour, 2),
                'm' => number(Field::Minute, 2),
                's' => number(Field::Second, 2),
                'S' => Token::Fraction { digits: count },
                'z' => Token::ZoneName,
                'Z' if count <= 2 => Token::Offset,
                'Z' => Token::ZoneId,
                other => {
                    let letters: String = std::iter::repeat_n(other, count).collect();
                    return Err(format!("illegal pattern component: {letters}"));
                }
            });
        }
        Ok(Pattern { tokens })
    }

    /// The UTC milliseconds of `text`; the error says where it does not fit.
    /// `pivot_year` places two-digit years (Joda: the current year minus 30).
    pub fn parse(&self, text: &str, pivot_year: i64) -> Result<i64, String> {
        let mut fields = Fields::default();
        let mut pos = 0;
        for token in &self.tokens {
            pos = read(token, text, pos, pivot_year, &mut fields)
                .ok_or_else(|| format!("malformed at \"{}\"", &text[pos.min(text.len())..]))?;
        }
        if pos < text.len() {
            return Err(format!("malformed at \"{}\"", &text[pos..]));
        }
        fields.millis()
    }
}

enum Raw {
    Literal(String),
    Letters(char, usize),
}

/// Splits a pattern into letter runs and literals (`'quoted'`, `''` for a quote).
fn split(pattern: &str) -> Result<Vec<Raw>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<Raw> = Vec::new();
    let literal = |out: &mut Vec<Raw>, text: &str| match out.last_mut() {
        Some(Raw::Literal(prev)) => prev.push_str(text),
        _ => out.push(Raw::Literal(text.to_owned())),
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated quote in the pattern".to_owned()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => break,
                    Some(c) => {
                        text.push(*c);
                        i += 1;
                    }
                }
            }
            i += 1;
            literal(&mut out, if text.is_empty() { "'" } else { &text });
        } else if c.is_ascii_alphabetic() {
            let count = chars[i..].iter().take_while(|x| **x == c).count();
            out.push(Raw::Letters(c, count));
            i += count;
        } else {
            literal(&mut out, &c.to_string());
            i += 1;
        }
    }
    Ok(out)
}

/// Joda's `isNumericToken`: a run that parses as digits.
fn is_numeric(c: char, count: usize) -> bool {
    "cCxyYdhHmsSeDFwWkK".contains(c) || (c == 'M' && count <= 2)
}

/// Field values read so far.
#[derive(Default)]
struct Fields {
    year: Option<i64>,
    year_of_era: Option<i64>,
    bc: bool,
    week_year: Option<i64>,
    week: Option<i64>,
    day_of_week: Option<i64>,
    day_of_year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    pm: Option<bool>,
    hour: Option<i64>,
    hour_of_halfday: Option<i64>,
    minute: i64,
    second: i64,
    millis: i64,
    offset: Option<i64>,
    zone: Option<NamedZone>,
}

fn read(token: &Token, text: &str, pos: usize, pivot_year: i64, f: &mut Fields) -> Option<usize> {
    let rest = &text[pos..];
    match token {
        Token::Literal(lit) => {
            let n = lit.len();
            (rest.len() >= n && rest.is_char_boundary(n) && rest[..n].to_lowercase() == *lit).then_some(pos + n)
        }
        Token::Number { field, max_digits } => {
            let signed = matches!(field, Field::Year | Field::WeekYear);
            let (value, len) = number(rest, *max_digits, signed)?;
            set(*field, value, f);
            Some(pos + len)
        }
        Token::TwoDigitYear { field, lenient } => {
            let (value, len) = if *lenient { number(rest, 9, true)? } else { number(rest, 2, false)? };
            let two_digits = len == 2 && rest.as_bytes()[0].is_ascii_digit();
            if !two_digits && !*lenient {
                return None;
            }
            let value = if two_digits {
                // Joda's TwoDigitYear: the 100 years from pivot - 50.
                let low = pivot_year - 50;
                let t = if low >= 0 { low % 100 } else { 99 + (low + 1) % 100 };
                value + low + if value < t { 100 } else { 0 } - t
            } else {
                value
            };
            set(*field, value, f);
            Some(pos + len)
        }
        Token::Fraction { digits } => {
            let n = rest.bytes().take(*digits).take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let padded = format!("{:0<3}", &rest[..n]);
            f.millis = padded[..3].parse().ok()?;
            Some(pos + n)
        }
        Token::Text(kind) => {
            let (value, len) = text_value(*kind, rest)?;
            match kind {
                Text::Era => f.bc = value == 0,
                Text::Month => f.month = Some(value),
                Text::DayOfWeek => f.day_of_week = Some(value),
                Text::Halfday => f.pm = Some(value == 1),
            }
            Some(pos + len)
        }
        Token::Offset => {
            if rest.starts_with(['Z', 'z']) {
                f.offset = Some(0);
                return Some(pos + 1);
            }
            let len = [6, 5, 3].into_iter().find(|n| rest.get(..*n).and_then(zones_offset).is_some())?;
            f.offset = zones_offset(&rest[..len]);
            Some(pos + len)
        }
        Token::ZoneId => {
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || b"_/+-:".contains(b)).count();
            f.offset = Some(zones::fixed_offset(&rest[..len])?);
            Some(pos + len)
        }
        Token::ZoneName => {
            let name = zones::SHORT_NAMES.iter().filter(|n| rest.starts_with(**n)).max_by_key(|n| n.len())?;
            f.zone = zones::short_name(name);
            Some(pos + name.len())
        }
    }
}

fn zones_offset(text: &str) -> Option<i64> {
    text.starts_with(['+', '-']).then(|| zones::fixed_offset(text)).flatten()
}

/// Up to `max` digits (at least one), with a sign when `signed`.
fn number(text: &str, max: usize, signed: bool) -> Option<(i64, usize)> {
    let bytes = text.as_bytes();
    let sign_len = usize::from(signed && matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = bytes[sign_len..].iter().take(max).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let len = sign_len + digits;
    let value: i64 = text[usize::from(bytes[0] == b'+')..len].parse().ok()?;
    Some((value, len))
}

/// The longest name of `kind` at the start of `text`, in any case: (value, length).
fn text_value(kind: Text, text: &str) -> Option<(i64, usize)> {
    let starts =
        |name: &str| text.len() >= name.len() && text.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes());
    let mut candidates: Vec<(&str, i64)> = Vec::new();
    match kind {
        Text::Era => candidates.extend([("bc", 0), ("bce", 0), ("ad", 1), ("ce", 1)]),
        Text::Halfday => candidates.extend([("am", 0), ("pm", 1)]),
        Text::Month | Text::DayOfWeek => {
            let names: &[&'static str] = if kind == Text::Month { &MONTHS } else { &DAYS };
            for (i, name) in names.iter().enumerate() {
                candidates.push((name, i as i64 + 1));
                candidates.push((&name[..3], i as i64 + 1));
            }
        }
    }
    candidates
        .into_iter()
        .filter(|(name, _)| starts(name))
        .max_by_key(|(name, _)| name.len())
        .map(|(name, v)| (v, name.len()))
}

fn set(field: Field, value: i64, f: &mut Fields) {
    match field {
        Field::Year => f.year = Some(value),
        Field::YearOfEra => f.year_of_era = Some(value),
        Field::WeekYear => f.week_year = Some(value),
        Field::Week => f.week = Some(value),
        Field::DayOfWeek => f.day_of_week = Some(value),
        Field::DayOfYear => f.day_of_year = Some(value),
        Field::Month => f.month = Some(value),
        Field::Day => f.day = Some(value),
        Field::HourOfHalfday => f.hour_of_halfday = Some(value),
        Field::ClockHourOfHalfday => f.hour_of_halfday = Some(if value == 12 { 0 } else { value + 100 }),
        Field::Hour => f.hour = Some(value),
        Field::ClockHour => f.hour = Some(if value == 24 { 0 } else { value + 100 }),
        Field::Minute => f.minute = value,
        Field::Second => f.second = value,
    }
}

impl Fields {
    /// The instant the fields name, or why they name none.
    fn millis(&self) -> Result<i64, String> {
        let check = |name: &str, value: i64, min: i64, max: i64| {
            if (min..=max).contains(&value) {
                Ok(value)
            } else {
                Err(format!("{name} {value} is not from {min} to {max}"))
            }
        };
        let year = match (self.year_of_era, self.year) {
            (Some(y), _) => {
                let y = check("year of era", y, 1, 292_278_993)?;
                if self.bc { 1 - y } else { y }
            }
            (None, Some(y)) => y,
            (None, None) => 1970,
        };
        if !(-292_275_054..=292_278_993).contains(&year) {
            return Err(format!("year {year} is out of range"));
        }
        let mut days = if let Some(doy) = self.day_of_year.filter(|_| self.month.is_none() && self.day.is_none()) {
            calendar::days_from_civil(year, 1, 1)
                + check("day of year", doy, 1, i64::from(calendar::days_in_year(year)))?
                - 1
        } else {
            let month = check("month", self.month.unwrap_or(1), 1, 12)? as u32;
            let day = check("day of month", self.day.unwrap_or(1), 1, i64::from(calendar::days_in_month(year, month)))?;
            calendar::days_from_civil(year, month, day as u32)
        };
        if self.week_year.is_some() || self.week.is_some() {
            let (base_year, base_week, base_dow) = calendar::week_date(days);
            let week_year = self.week_year.unwrap_or(base_year);
            let weeks = i64::from(calendar::weeks_in_week_year(week_year));
            let week = check("week of week year", self.week.unwrap_or(i64::from(base_week)), 1, weeks)?;
            let dow = check("day of week", self.day_of_week.unwrap_or(i64::from(base_dow)), 1, 7)?;
            days = calendar::days_from_week_date(week_year, week as u32, dow as u32);
        } else if let Some(dow) = self.day_of_week {
            // Joda sets the day of the week last: the same Monday-based week.
            days += check("day of week", dow, 1, 7)? - i64::from(calendar::day_of_week(days));
        }
        let hour = match (self.hour, self.hour_of_halfday) {
            (Some(h), _) if h >= 100 => check("clock hour", h - 100, 1, 23)?,
            (Some(h), _) => check("hour", h, 0, 23)?,
            (None, Some(h)) => {
                let h = if h >= 100 {
                    check("clock hour of halfday", h - 100, 1, 11)?
                } else {
                    check("hour of halfday", h, 0, 11)?
                };
                h + if self.pm == Some(true) { 12 } else { 0 }
            }
            (None, None) => {
                if self.pm == Some(true) {
                    12
                } else {
                    0
                }
            }
        };
        let minute = check("minute", self.minute, 0, 59)?;
        let second = check("second", self.second, 0, 59)?;
        let local = days * DAY + hour * HOUR + minute * MINUTE + second * SECOND + self.millis;
        match (self.offset, self.zone) {
            (Some(offset), _) => Ok(local - offset),
            (None, Some(zone)) => zone.to_utc(local),
            (None, None) => Ok(local),
        }
    }
}
