//! ISO-8601 periods as Joda-Time's `Period` reads them (`PT1H`, `P1D`,
//! `P1W`, `P3M`, `P1Y2M3DT4H5M6.789S`), and their calendar arithmetic:
//! years and months are added as calendar fields (clamping the day of the
//! month), the other fields as exact durations, in Joda's field order.

use crate::calendar::{DAY, HOUR, MINUTE, SECOND, WEEK, add_months};

/// A period's fields, largest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub years: i64,
    pub months: i64,
    pub weeks: i64,
    pub days: i64,
    pub hours: i64,
    pub minutes: i64,
    pub seconds: i64,
    pub millis: i64,
    text: String,
}

const HINT: &str = "expected an ISO-8601 period such as PT1H, PT10M, P1D, P1W or P1M";

impl Period {
    /// Parses `PnYnMnWnDTnHnMnS` (any subset, in that order; seconds may
    /// have a fraction; letters in either case, as Joda accepts them). The
    /// error is the hint to append to the key's message.
    pub fn parse(text: &str) -> Result<Period, String> {
        parse(text).ok_or_else(|| HINT.to_owned())
    }

    /// The period as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn fields(&self) -> [i64; 8] {
        [self.years, self.months, self.weeks, self.days, self.hours, self.minutes, self.seconds, self.millis]
    }

    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|f| *f == 0)
    }

    /// The length in milliseconds (Joda's `toStandardDuration`: weeks of 7
    /// days, days of 24 hours); `None` if it has years or months, which have no fixed length.
    pub fn standard_millis(&self) -> Option<i64> {
        if self.years != 0 || self.months != 0 {
            return None;
        }
        let parts = [(self.weeks, WEEK), (self.days, DAY), (self.hours, HOUR), (self.minutes, MINUTE)];
        parts
            .iter()
            .chain(&[(self.seconds, SECOND), (self.millis, 1)])
            .try_fold(0i64, |sum, (n, unit)| sum.checked_add(n.checked_mul(*unit)?))
    }

    /// `local` plus `scalar` times this period, field by field as Joda's
    /// `Chronology.add(period, instant, scalar)`; `None` on overflow.
    pub fn add(&self, local: i64, scalar: i64) -> Option<i64> {
        let months = self.years.checked_mul(12)?.checked_add(self.months)?.checked_mul(scalar)?;
        // Joda adds the years, then the months; for whole years and months
        // that is one month addition unless a clamp happens in between.
        let mut t = if self.years != 0 && self.months != 0 {
            let t = add_months(local, self.years.checked_mul(12)?.checked_mul(scalar)?)?;
            add_months(t, self.months.checked_mul(scalar)?)?
        } else {
            add_months(local, months)?
        };
        let exact = Period { years: 0, months: 0, text: String::new(), ..self.clone() };
        t = t.checked_add(exact.standard_millis()?.checked_mul(scalar)?)?;
        Some(t)
    }
}

fn parse(text: &str) -> Option<Period> {
    let upper = text.to_ascii_uppercase();
    let rest = upper.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut period = Period {
        years: 0,
        months: 0,
        weeks: 0,
        days: 0,
        hours: 0,
        minutes: 0,
        seconds: 0,
        millis: 0,
        text: text.to_owned(),
    };
    let mut any = false;
    let mut date_fields = fields(date, &['Y', 'M', 'W', 'D'])?;
    for (unit, value, fraction) in date_fields.drain(..) {
        if fraction.is_some() {
            return None;
        }
        any = true;
        match unit {
            'Y' => period.years = value,
            'M' => period.months = value,
            'W' => period.weeks = value,
            _ => period.days = value,
        }
    }
    if let Some(time) = time {
        for (unit, value, fraction) in fields(time, &['H', 'M', 'S'])? {
            any = true;
            match (unit, fraction) {
                ('H', None) => period.hours = value,
                ('M', None) => period.minutes = value,
                ('S', fraction) => {
                    period.seconds = value;
                    period.millis = fraction.unwrap_or(0);
                }
                _ => return None,
            }
        }
    }
    any.then_some(period)
}

/// `<number><unit>` pairs with units in the given order, each at most once.
/// A fraction (seconds only) is returned in milliseconds.
fn fields(text: &str, units: &[char]) -> Option<Vec<(char, i64, Option<i64>)>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (number, after) = rest.split_at(end);
        let unit = after.chars().next()?;
        let position = units[next_unit..].iter().position(|u| *u == unit)? + next_unit;
        next_unit = position + 1;
        let (whole, fraction) = match number.split_once(['.', ',']) {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (number, None),
        };
        let digits = whole.strip_prefix('-').unwrap_or(whole);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: i64 = whole.parse().ok()?;
        // Joda keeps period fields in ints.
        i32::try_from(value).ok()?;
        let millis = match fraction {
            None => None,
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let millis: i64 = format!("{f:0<3}")[..3].parse().ok()?;
                Some(if whole.starts_with('-') { -millis } else { millis })
            }
            Some(_) => return None,
        };
        out.push((unit, value, millis));
        rest = &after[1..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    fn p(text: &str) -> Period {
        Period::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_the_usual_periods() {
        assert_eq!(p("PT1H").fields(), [0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(p("PT10M").fields(), [0, 0, 0, 0, 0, 10, 0, 0]);
        assert_eq!(p("P1D").fields(), [0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(p("P1W").fields(), [0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(p("P3M").fields(), [0, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p("P1Y2M3W4DT5H6M7.89S").fields(), [1, 2, 3, 4, 5, 6, 7, 890]);
        assert_eq!(p("PT0.750S").fields(), [0, 0, 0, 0, 0, 0, 0, 750]);
        assert_eq!(p("PT-1.5S").fields(), [0, 0, 0, 0, 0, 0, -1, -500]);
        assert_eq!(p("P-1D").fields(), [0, 0, 0, -1, 0, 0, 0, 0]);
        assert_eq!(p("pt1h").fields(), p("PT1H").fields());
        assert_eq!(p("PT1H").text(), "PT1H");
        assert!(!p("PT1H").is_zero());
        assert!(p("PT0S").is_zero());
    }

    #[test]
    fn rejects_what_joda_rejects() {
        for bad in ["", "P", "PT", "1H", "PT1", "P1H", "PT1D", "P1D1Y", "PT1H1H", "P1.5D", "PTH", "P99999999999D", "x"]
        {
            assert_eq!(Period::parse(bad).unwrap_err(), HINT, "{bad}");
        }
    }

    #[test]
    fn standard_lengths() {
        assert_eq!(p("PT1H").standard_millis(), Some(HOUR));
        assert_eq!(p("P1W").standard_millis(), Some(WEEK));
        assert_eq!(p("P1DT1.5S").standard_millis(), Some(DAY + 1500));
        assert_eq!(p("P1M").standard_millis(), None);
        assert_eq!(p("P1Y").standard_millis(), None);
    }

    #[test]
    fn calendar_arithmetic() {
        let jan31 = days_from_civil(2023, 1, 31) * DAY;
        assert_eq!(p("P1M").add(jan31, 1), Some(days_from_civil(2023, 2, 28) * DAY));
        assert_eq!(p("P1M").add(jan31, -1), Some(days_from_civil(2022, 12, 31) * DAY));
        assert_eq!(p("P1Y").add(days_from_civil(2024, 2, 29) * DAY, 1), Some(days_from_civil(2025, 2, 28) * DAY));
        assert_eq!(p("P1DT1H").add(jan31, 2), Some(jan31 + 2 * DAY + 2 * HOUR));
        assert_eq!(p("PT1H").add(jan31, -1), Some(jan31 - HOUR));
        assert_eq!(p("P1000000Y").add(i64::MAX / 2, 1000), None);
    }
}
