//! The proleptic Gregorian calendar on milliseconds since the epoch, as
//! Joda-Time's `ISOChronology` (which Druid uses) computes it: civil dates,
//! ISO weeks (Monday first), month arithmetic that clamps the day of the
//! month, and the ISO-8601 text Druid returns for `__time`.
//!
//! Times in a fixed-offset zone are handled by the callers as "local"
//! milliseconds (UTC milliseconds plus the offset).

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
pub const WEEK: i64 = 7 * DAY;

/// Druid's (Joda's) earliest instant, `Long.MIN_VALUE / 2`: the `__time` of
/// granularity `all`, printed `-146136543-09-08T08:23:32.096Z`.
pub const MIN_INSTANT: i64 = i64::MIN / 2;
/// Druid's latest instant, `Long.MAX_VALUE / 2`; a row time must be before it.
pub const MAX_INSTANT: i64 = i64::MAX / 2;

/// Days since 1970-01-01 of a civil date (month 1-12, day 1-31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let march_based = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * march_based + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date (year, month 1-12, day 1-31) of a day since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_based = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * march_based + 2) / 5 + 1) as u32;
    let month = if march_based < 10 { march_based + 3 } else { march_based - 9 } as u32;
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

pub fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

pub fn days_in_year(year: i64) -> u32 {
    if is_leap(year) { 366 } else { 365 }
}

/// ISO day of the week of a day since the epoch: 1 = Monday ... 7 = Sunday.
pub fn day_of_week(days: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    ((days + 3).rem_euclid(7) + 1) as u32
}

/// The Monday that starts ISO week 1 of `week_year` (the week with January 4th).
fn week_one_monday(week_year: i64) -> i64 {
    let jan4 = days_from_civil(week_year, 1, 4);
    jan4 - i64::from(day_of_week(jan4)) + 1
}

/// How many ISO weeks `week_year` has (52 or 53).
pub fn weeks_in_week_year(week_year: i64) -> u32 {
    ((week_one_monday(week_year + 1) - week_one_monday(week_year)) / 7) as u32
}

/// The day of an ISO week date (`2018-W01-1` is 2018-01-01); the ranges are the caller's to check.
pub fn days_from_week_date(week_year: i64, week: u32, day_of_week: u32) -> i64 {
    week_one_monday(week_year) + 7 * (i64::from(week) - 1) + i64::from(day_of_week) - 1
}

/// The ISO week date (week year, week, day of week) of a day since the epoch.
pub fn week_date(days: i64) -> (i64, u32, u32) {
    let (year, _, _) = civil_from_days(days);
    let week_year = if days >= week_one_monday(year + 1) {
        year + 1
    } else if days < week_one_monday(year) {
        year - 1
    } else {
        year
    };
    let week = ((days - week_one_monday(week_year)) / 7 + 1) as u32;
    (week_year, week, day_of_week(days))
}

/// `ms` (local) plus `months` calendar months; the day of the month is
/// clamped to the new month's length (Jan 31 + 1 month = Feb 28 or 29),
/// the time of day kept. `None` on overflow.
pub fn add_months(ms: i64, months: i64) -> Option<i64> {
    if months == 0 {
        return Some(ms);
    }
    let (days, time) = (ms.div_euclid(DAY), ms.rem_euclid(DAY));
    let (year, month, day) = civil_from_days(days);
    let total = year.checked_mul(12)?.checked_add(i64::from(month) - 1)?.checked_add(months)?;
    let (new_year, new_month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let new_day = day.min(days_in_month(new_year, new_month));
    days_from_civil(new_year, new_month, new_day).checked_mul(DAY)?.checked_add(time)
}

/// The first millisecond of the day of `ms` (local).
pub fn start_of_day(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY)
}

/// `ms` as Druid prints a `__time`: `2018-01-01T01:01:00.000Z` (UTC,
/// milliseconds, years outside 0-9999 with their sign and all their digits).
pub fn format_iso(ms: i64) -> String {
    let (days, time) = (ms.div_euclid(DAY), ms.rem_euclid(DAY));
    let (year, month, day) = civil_from_days(days);
    let year = if year < 0 { format!("-{:04}", -year) } else { format!("{year:04}") };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        time / HOUR,
        time % HOUR / MINUTE,
        time % MINUTE / SECOND,
        time % SECOND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2018, 1, 1), 17_532);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        for days in [-800_000, -1, 0, 1, 59, 60, 11_016, 17_532, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{days}");
        }
        assert_eq!(civil_from_days(17_532), (2018, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
        assert_eq!(days_in_year(2024), 366);
    }

    #[test]
    fn iso_weeks() {
        // 2018-01-01 was a Monday, week 1 of 2018.
        let d = days_from_civil(2018, 1, 1);
        assert_eq!(day_of_week(d), 1);
        assert_eq!(week_date(d), (2018, 1, 1));
        assert_eq!(days_from_week_date(2018, 1, 1), d);
        // 2021-01-03 (Sunday) belongs to 2020-W53.
        assert_eq!(week_date(days_from_civil(2021, 1, 3)), (2020, 53, 7));
        assert_eq!(weeks_in_week_year(2020), 53);
        assert_eq!(weeks_in_week_year(2018), 52);
        // 2019-12-30 (Monday) is 2020-W01-1.
        assert_eq!(week_date(days_from_civil(2019, 12, 30)), (2020, 1, 1));
        assert_eq!(day_of_week(0), 4);
    }

    #[test]
    fn month_arithmetic_clamps_the_day() {
        let jan31 = days_from_civil(2023, 1, 31) * DAY + 5 * HOUR;
        assert_eq!(add_months(jan31, 1), Some(days_from_civil(2023, 2, 28) * DAY + 5 * HOUR));
        assert_eq!(add_months(jan31, 13), Some(days_from_civil(2024, 2, 29) * DAY + 5 * HOUR));
        assert_eq!(add_months(jan31, -2), Some(days_from_civil(2022, 11, 30) * DAY + 5 * HOUR));
        assert_eq!(add_months(jan31, 0), Some(jan31));
        assert_eq!(add_months(i64::MAX, 1), None);
    }

    #[test]
    fn iso_text() {
        assert_eq!(format_iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso(1_514_768_460_000), "2018-01-01T01:01:00.000Z");
        assert_eq!(format_iso(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_iso(MIN_INSTANT), "-146136543-09-08T08:23:32.096Z");
        assert_eq!(format_iso(MAX_INSTANT), "146140482-04-24T15:36:27.903Z");
        assert_eq!(format_iso(days_from_civil(-1, 1, 1) * DAY), "-0001-01-01T00:00:00.000Z");
        assert_eq!(start_of_day(-1), -DAY);
    }
}
