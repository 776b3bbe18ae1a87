//! A date field's `format`: `||`-separated alternatives, each one of
//! OpenSearch's built-in names (`strict_date_optional_time`, `epoch_millis`,
//! `basic_date`, `date_hour_minute`, ...) or a Java DateTimeFormatter
//! pattern (`yyyy-MM-dd HH:mm:ss`, `dd/MM/yyyy`, `MMM d, yyyy`,
//! `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`, `yyyy-MM-dd[ HH:mm]`).
//!
//! A value matches when one alternative reads all of it and its fields are
//! valid (months, days of the month and of the year, leap years, hours,
//! minutes, seconds, 12-hour clocks). Supported pattern letters: `y u Y M L
//! d D H h k K m s S n a E e c G X x Z z V O Q q w W F`; quoted literals
//! (`'T'`, `''`) and optional sections (`[...]`). Day names are checked for
//! their spelling, not against the date. The week-date built-ins
//! (`week_date`, `weekyear_week`, ...) and the letters `A N B g v p` are not
//! checked: such an alternative matches any value. A letter Java does not
//! know is an error, as it is for OpenSearch's mapping.

use super::{days_in_month, is_epoch, is_strict_date_optional_time};

/// A parsed `format`.
#[derive(Debug)]
pub struct DateFormat {
    text: Box<str>,
    alternatives: Vec<Alternative>,
}

#[derive(Debug)]
enum Alternative {
    /// `strict_date_optional_time` and its relatives.
    Iso,
    /// `epoch_millis`, `epoch_second`.
    Epoch,
    Pattern(Vec<Token>),
    /// A format sluice does not check.
    Any,
}

#[derive(Clone, Debug)]
enum Token {
    Literal(Box<str>),
    Number {
        field: Field,
        min: usize,
        max: usize,
    },
    /// Fraction of a second: digits only.
    Fraction {
        min: usize,
        max: usize,
    },
    /// One of these words, case-sensitive.
    Text {
        field: Field,
        words: &'static [&'static str],
    },
    Offset(Offset),
    ZoneId,
    Optional(Vec<Token>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Year,
    Year2,
    WeekYear,
    Month,
    Day,
    DayOfYear,
    Hour,
    ClockHourAmPm,
    ClockHourDay,
    HourAmPm,
    Minute,
    Second,
    DayOfWeek,
    Quarter,
    Week,
    WeekOfMonth,
    Era,
    Other,
}

#[derive(Clone, Copy, Debug)]
enum Offset {
    /// `Z`, `±HH`, `±HHmm` or `±HH:mm` (the built-in formats).
    Any,
    /// `±HH[mm]`: X, x (count 1).
    Hours { z: bool },
    /// `±HHMM`: X, x (2), Z (1-3).
    NoColon { z: bool },
    /// `±HH:MM`: X, x (3), Z (5).
    Colon { z: bool },
    /// `GMT`, `GMT+8`, `GMT+08:00`: O, ZZZZ.
    Gmt,
}

const MONTHS_SHORT: &[&str] = &["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_FULL: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_NARROW: &[&str] = &["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"];
const DAYS_SHORT: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAYS_FULL: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const DAYS_NARROW: &[&str] = &["M", "T", "W", "T", "F", "S", "S"];
const AM_PM: &[&str] = &["AM", "PM"];
const ERAS: &[&str] = &["AD", "BC"];
const ERAS_FULL: &[&str] = &["Anno Domini", "Before Christ"];
const ERAS_NARROW: &[&str] = &["A", "B"];
const QUARTERS: &[&str] = &["Q1", "Q2", "Q3", "Q4"];

/// OpenSearch's built-in names, as patterns (`~`: 1-9 fraction digits; `^`:
/// an offset or `Z`); the strict ones take fixed widths.
const BUILTINS: &[(&str, &str, &str)] = &[
    // (name, strict pattern, lenient pattern)
    ("basic_date", "yyyyMMdd", "yyyyMMdd"),
    ("basic_date_time", "yyyyMMdd'T'HHmmss.~^", "yyyyMMdd'T'HHmmss.~^"),
    ("basic_date_time_no_millis", "yyyyMMdd'T'HHmmss^", "yyyyMMdd'T'HHmmss^"),
    ("basic_ordinal_date", "yyyyDDD", "yyyyDDD"),
    ("basic_ordinal_date_time", "yyyyDDD'T'HHmmss.~^", "yyyyDDD'T'HHmmss.~^"),
    ("basic_ordinal_date_time_no_millis", "yyyyDDD'T'HHmmss^", "yyyyDDD'T'HHmmss^"),
    ("basic_time", "HHmmss.~^", "HHmmss.~^"),
    ("basic_time_no_millis", "HHmmss^", "HHmmss^"),
    ("basic_t_time", "'T'HHmmss.~^", "'T'HHmmss.~^"),
    ("basic_t_time_no_millis", "'T'HHmmss^", "'T'HHmmss^"),
    ("date", "yyyy-MM-dd", "y-M-d"),
    ("date_hour", "yyyy-MM-dd'T'HH", "y-M-d'T'H"),
    ("date_hour_minute", "yyyy-MM-dd'T'HH:mm", "y-M-d'T'H:m"),
    ("date_hour_minute_second", "yyyy-MM-dd'T'HH:mm:ss", "y-M-d'T'H:m:s"),
    ("date_hour_minute_second_fraction", "yyyy-MM-dd'T'HH:mm:ss.~", "y-M-d'T'H:m:s.~"),
    ("date_hour_minute_second_millis", "yyyy-MM-dd'T'HH:mm:ss.~", "y-M-d'T'H:m:s.~"),
    ("date_time", "yyyy-MM-dd'T'HH:mm:ss[.~]^", "y-M-d'T'H:m:s[.~]^"),
    ("date_time_no_millis", "yyyy-MM-dd'T'HH:mm:ss^", "y-M-d'T'H:m:s^"),
    ("hour", "HH", "H"),
    ("hour_minute", "HH:mm", "H:m"),
    ("hour_minute_second", "HH:mm:ss", "H:m:s"),
    ("hour_minute_second_fraction", "HH:mm:ss.~", "H:m:s.~"),
    ("hour_minute_second_millis", "HH:mm:ss.~", "H:m:s.~"),
    ("ordinal_date", "yyyy-DDD", "y-D"),
    ("ordinal_date_time", "yyyy-DDD'T'HH:mm:ss.~^", "y-D'T'H:m:s.~^"),
    ("ordinal_date_time_no_millis", "yyyy-DDD'T'HH:mm:ss^", "y-D'T'H:m:s^"),
    ("time", "HH:mm:ss.~^", "H:m:s.~^"),
    ("time_no_millis", "HH:mm:ss^", "H:m:s^"),
    ("t_time", "'T'HH:mm:ss.~^", "'T'H:m:s.~^"),
    ("t_time_no_millis", "'T'HH:mm:ss^", "'T'H:m:s^"),
    ("year", "yyyy", "y"),
    ("year_month", "yyyy-MM", "y-M"),
    ("year_month_day", "yyyy-MM-dd", "y-M-d"),
];

/// Week-date built-ins: not checked.
const WEEK_BUILTINS: &[&str] = &[
    "basic_week_date",
    "basic_week_date_time",
    "basic_week_date_time_no_millis",
    "week_date",
    "week_date_time",
    "week_date_time_no_millis",
    "weekyear",
    "weekyear_week",
    "weekyear_week_day",
];

impl DateFormat {
    /// Parses a `format` (`||`-separated); an error names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let alternatives =
            text.split("||").map(|name| alternative(name.trim(), text)).collect::<Result<Vec<_>, String>>()?;
        Ok(DateFormat { text: text.into(), alternatives })
    }

    /// The format as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `value` (a string, or the text of a JSON number) is a date in this format.
    pub fn matches(&self, value: &str) -> bool {
        self.alternatives.iter().any(|a| match a {
            Alternative::Iso => is_strict_date_optional_time(value),
            Alternative::Epoch => is_epoch(value),
            Alternative::Pattern(tokens) => matches_pattern(tokens, value),
            Alternative::Any => true,
        })
    }
}

fn alternative(name: &str, whole: &str) -> Result<Alternative, String> {
    if name.is_empty() {
        return Err(format!("empty format in [{whole}]"));
    }
    let snake = snake_case(name);
    let (strict, bare) = match snake.strip_prefix("strict_") {
        Some(rest) => (true, rest),
        None => (false, snake.as_str()),
    };
    match bare {
        "date_optional_time" | "date_optional_time_nanos" | "iso8601" | "rfc3339_lenient" => {
            return Ok(Alternative::Iso);
        }
        "epoch_millis" | "epoch_second" if !strict => return Ok(Alternative::Epoch),
        _ => {}
    }
    if WEEK_BUILTINS.contains(&bare) {
        return Ok(Alternative::Any);
    }
    if let Some((_, strict_pattern, lenient_pattern)) = BUILTINS.iter().find(|(n, _, _)| *n == bare) {
        let pattern = if strict { strict_pattern } else { lenient_pattern };
        return compile(pattern, true).map(|t| t.map_or(Alternative::Any, Alternative::Pattern));
    }
    compile(name, false)
        .map(|t| t.map_or(Alternative::Any, Alternative::Pattern))
        .map_err(|e| format!("{e} in [{name}]"))
}

/// `dateOptionalTime` -> `date_optional_time` (OpenSearch's older names).
fn snake_case(name: &str) -> String {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return name.to_owned();
    }
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Compiles a pattern; `Ok(None)`: a pattern with letters sluice does not check.
fn compile(pattern: &str, builtin: bool) -> Result<Option<Vec<Token>>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut stack: Vec<Vec<Token>> = vec![Vec::new()];
    let mut unchecked = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let top = stack.last_mut().expect("the stack is never empty");
        if c == '\'' {
            let mut literal = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated quote".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => break,
                    Some(c) => {
                        literal.push(*c);
                        i += 1;
                    }
                }
            }
            // `''` alone is a quote.
            if literal.is_empty() {
                literal.push('\'');
            }
            top.push(Token::Literal(literal.into()));
            i += 1;
            continue;
        }
        if c == '[' {
            stack.push(Vec::new());
            i += 1;
            continue;
        }
        if c == ']' {
            if stack.len() == 1 {
                return Err("unmatched ']'".into());
            }
            let section = stack.pop().expect("checked above");
            stack.last_mut().expect("checked above").push(Token::Optional(section));
            i += 1;
            continue;
        }
        if builtin && c == '~' {
            top.push(Token::Fraction { min: 1, max: 9 });
            i += 1;
            continue;
        }
        if builtin && c == '^' {
            top.push(Token::Offset(Offset::Any));
            i += 1;
            continue;
        }
        if matches!(c, '#' | '{' | '}') {
            return Err(format!("reserved character [{c}]"));
        }
        if !c.is_ascii_alphabetic() {
            top.push(Token::Literal(c.to_string().into()));
            i += 1;
            continue;
        }
        let count = chars[i..].iter().take_while(|x| **x == c).count();
        i += count;
        match letter(c, count)? {
            Some(token) => top.push(token),
            None => unchecked = true,
        }
    }
    if stack.len() != 1 {
        return Err("unclosed '['".into());
    }
    Ok(if unchecked { None } else { stack.pop() })
}

/// The token of `count` times the letter `c`; `Ok(None)`: a letter Java
/// knows that sluice does not check.
fn letter(c: char, count: usize) -> Result<Option<Token>, String> {
    let number = |field, min, max| Some(Token::Number { field, min, max });
    let text = |field, words| Some(Token::Text { field, words });
    let too_many = || Err(format!("too many pattern letters: {c}"));
    let small = |field| match count {
        1 => Ok(number(field, 1, 2)),
        2 => Ok(number(field, 2, 2)),
        _ => too_many(),
    };
    Ok(match c {
        'y' | 'u' | 'Y' => {
            let field = if c == 'Y' { Field::WeekYear } else { Field::Year };
            match count {
                2 => number(if c == 'Y' { Field::WeekYear } else { Field::Year2 }, 2, 2),
                1 => number(field, 1, 9),
                3 => number(field, 3, 9),
                n => number(field, n, n),
            }
        }
        'M' | 'L' => match count {
            1 | 2 => small(Field::Month)?,
            3 => text(Field::Month, MONTHS_SHORT),
            4 => text(Field::Month, MONTHS_FULL),
            5 => text(Field::Other, MONTHS_NARROW),
            _ => return too_many(),
        },
        'd' => small(Field::Day)?,
        'D' => match count {
            1 => number(Field::DayOfYear, 1, 3),
            2 => number(Field::DayOfYear, 2, 3),
            3 => number(Field::DayOfYear, 3, 3),
            _ => return too_many(),
        },
        'H' => small(Field::Hour)?,
        'h' => small(Field::ClockHourAmPm)?,
        'k' => small(Field::ClockHourDay)?,
        'K' => small(Field::HourAmPm)?,
        'm' => small(Field::Minute)?,
        's' => small(Field::Second)?,
        'S' if count <= 9 => Some(Token::Fraction { min: count, max: count }),
        'S' => return too_many(),
        'n' => number(Field::Other, count, 9.max(count)),
        'a' if count == 1 => text(Field::Other, AM_PM),
        'a' => return too_many(),
        'E' => match count {
            1..=3 => text(Field::DayOfWeek, DAYS_SHORT),
            4 => text(Field::DayOfWeek, DAYS_FULL),
            5 => text(Field::Other, DAYS_NARROW),
            _ => return too_many(),
        },
        'e' | 'c' => match count {
            1 | 2 => number(Field::DayOfWeek, count, count),
            3 => text(Field::DayOfWeek, DAYS_SHORT),
            4 => text(Field::DayOfWeek, DAYS_FULL),
            5 => text(Field::Other, DAYS_NARROW),
            _ => return too_many(),
        },
        'G' => match count {
            1..=3 => text(Field::Era, ERAS),
            4 => text(Field::Era, ERAS_FULL),
            5 => text(Field::Era, ERAS_NARROW),
            _ => return too_many(),
        },
        'Q' | 'q' => match count {
            1 | 2 => number(Field::Quarter, count, count),
            3 => text(Field::Other, QUARTERS),
            _ => None,
        },
        'w' => small(Field::Week)?,
        'W' | 'F' if count == 1 => number(Field::WeekOfMonth, 1, 1),
        'W' | 'F' => return too_many(),
        'X' | 'x' => {
            let z = c == 'X';
            match count {
                1 => Some(Token::Offset(Offset::Hours { z })),
                2 | 4 => Some(Token::Offset(Offset::NoColon { z })),
                3 | 5 => Some(Token::Offset(Offset::Colon { z })),
                _ => return too_many(),
            }
        }
        'Z' => match count {
            1..=3 => Some(Token::Offset(Offset::NoColon { z: false })),
            4 => Some(Token::Offset(Offset::Gmt)),
            5 => Some(Token::Offset(Offset::Colon { z: true })),
            _ => return too_many(),
        },
        'O' if count == 1 || count == 4 => Some(Token::Offset(Offset::Gmt)),
        'O' => return Err("pattern letter count must be 1 or 4: O".into()),
        'z' if count <= 4 => Some(Token::ZoneId),
        'z' => return too_many(),
        'V' if count == 2 => Some(Token::ZoneId),
        'V' => return Err("pattern letter count must be 2: V".into()),
        // Known to Java, not checked here.
        'A' | 'N' | 'B' | 'g' | 'v' | 'p' => None,
        other => return Err(format!("unknown pattern letter [{other}]")),
    })
}

/// Field values read so far.
#[derive(Clone, Default)]
struct Parsed {
    year: Option<i64>,
    era_bc: bool,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
}

fn matches_pattern(tokens: &[Token], value: &str) -> bool {
    let mut parsed = Parsed::default();
    match run(tokens, value.as_bytes(), 0, &mut parsed) {
        Some(end) if end == value.len() => valid(&parsed),
        _ => false,
    }
}

/// Matches `tokens` at `pos`; the position after them, or `None`.
fn run(tokens: &[Token], input: &[u8], mut pos: usize, parsed: &mut Parsed) -> Option<usize> {
    for token in tokens {
        pos = match token {
            Token::Literal(text) => input[pos..].starts_with(text.as_bytes()).then_some(pos + text.len())?,
            Token::Number { field, min, max } => {
                let n = input[pos..].iter().take(*max).take_while(|b| b.is_ascii_digit()).count();
                if n < *min {
                    return None;
                }
                let value = input[pos..pos + n].iter().fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
                record(*field, value, parsed)?;
                pos + n
            }
            Token::Fraction { min, max } => {
                let n = input[pos..].iter().take(*max).take_while(|b| b.is_ascii_digit()).count();
                if n < *min {
                    return None;
                }
                pos + n
            }
            Token::Text { field, words } => {
                // The longest word that matches, as Java's text parser does.
                let (index, word) = words
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| input[pos..].starts_with(w.as_bytes()))
                    .max_by_key(|(_, w)| w.len())?;
                match field {
                    Field::Month => record(Field::Month, index as i64 + 1, parsed)?,
                    Field::Era => parsed.era_bc = index == 1,
                    _ => {}
                }
                pos + word.len()
            }
            Token::Offset(style) => offset(*style, input, pos)?,
            Token::ZoneId => {
                let n = input[pos..].iter().take_while(|b| b.is_ascii_alphanumeric() || b"_/+-".contains(b)).count();
                if n == 0 || !input[pos].is_ascii_alphabetic() {
                    return None;
                }
                pos + n
            }
            Token::Optional(section) => {
                let mut attempt = parsed.clone();
                match run(section, input, pos, &mut attempt) {
                    Some(end) => {
                        *parsed = attempt;
                        end
                    }
                    None => pos,
                }
            }
        };
    }
    Some(pos)
}

/// Records a numeric field, checking its range; `None` when out of range.
fn record(field: Field, value: i64, parsed: &mut Parsed) -> Option<()> {
    let within = |lo: i64, hi: i64| (lo..=hi).contains(&value).then_some(());
    match field {
        Field::Year => parsed.year = Some(value),
        // Java's reduced two-digit year: 2000-2099.
        Field::Year2 => parsed.year = Some(2000 + value),
        Field::Month => {
            within(1, 12)?;
            parsed.month = Some(value as u32);
        }
        Field::Day => {
            within(1, 31)?;
            parsed.day = Some(value as u32);
        }
        Field::DayOfYear => {
            within(1, 366)?;
            parsed.day_of_year = Some(value as u32);
        }
        Field::Hour => within(0, 23)?,
        Field::ClockHourAmPm => within(1, 12)?,
        Field::ClockHourDay => within(1, 24)?,
        Field::HourAmPm => within(0, 11)?,
        Field::Minute | Field::Second => within(0, 59)?,
        Field::DayOfWeek => within(1, 7)?,
        Field::Quarter => within(1, 4)?,
        Field::Week => within(1, 53)?,
        Field::WeekOfMonth => within(0, 6)?,
        Field::WeekYear | Field::Era | Field::Other => {}
    }
    Some(())
}

/// The date's fields together: the day exists in its month and year.
fn valid(parsed: &Parsed) -> bool {
    // Without a year (or before the common era) February may have 29 days.
    let year = match parsed.year {
        Some(y) if !parsed.era_bc && (0..=u32::MAX as i64).contains(&y) => y as u32,
        _ => 2000,
    };
    if let (Some(month), Some(day)) = (parsed.month, parsed.day)
        && day > days_in_month(year, month)
    {
        return false;
    }
    if let Some(doy) = parsed.day_of_year {
        let leap = days_in_month(year, 2) == 29;
        if doy > if leap { 366 } else { 365 } {
            return false;
        }
    }
    true
}

/// An offset in `style` at `pos`: the position after it.
fn offset(style: Offset, input: &[u8], pos: usize) -> Option<usize> {
    let rest = &input[pos..];
    let digits2 = |at: usize| rest.get(at..at + 2).filter(|d| d.iter().all(u8::is_ascii_digit));
    let value = |at: usize| digits2(at).map(|d| u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'));
    let z_allowed = match style {
        Offset::Any => true,
        Offset::Hours { z } | Offset::NoColon { z } | Offset::Colon { z } => z,
        Offset::Gmt => false,
    };
    if z_allowed && rest.first() == Some(&b'Z') {
        return Some(pos + 1);
    }
    if let Offset::Gmt = style {
        if !rest.starts_with(b"GMT") {
            return None;
        }
        let after = &rest[3..];
        if !matches!(after.first(), Some(b'+' | b'-')) {
            return Some(pos + 3);
        }
        let hours = after[1..].iter().take(2).take_while(|b| b.is_ascii_digit()).count();
        if hours == 0 {
            return None;
        }
        let mut end = 3 + 1 + hours;
        if rest.get(end) == Some(&b':') {
            value(end + 1).filter(|m| *m <= 59)?;
            end += 3;
        }
        return Some(pos + end);
    }
    if !matches!(rest.first(), Some(b'+' | b'-')) {
        return None;
    }
    value(1).filter(|h| *h <= 18)?;
    let minutes_at = |at: usize| value(at).filter(|m| *m <= 59);
    let end = match style {
        Offset::Hours { .. } => {
            if minutes_at(3).is_some() {
                5
            } else {
                3
            }
        }
        Offset::NoColon { .. } => {
            minutes_at(3)?;
            5
        }
        Offset::Colon { .. } => {
            if rest.get(3) != Some(&b':') {
                return None;
            }
            minutes_at(4)?;
            6
        }
        Offset::Any => {
            if rest.get(3) == Some(&b':') {
                minutes_at(4)?;
                6
            } else if minutes_at(3).is_some() {
                5
            } else {
                3
            }
        }
        Offset::Gmt => unreachable!("handled above"),
    };
    Some(pos + end)
}
