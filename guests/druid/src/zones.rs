//! Time zones. sluice computes with fixed offsets only (`UTC`, `+05:30`):
//! region zones (`America/Los_Angeles`) would need the tz database. Two
//! narrow exceptions follow Druid's parsers where they meet zone names in
//! timestamps: the US abbreviations Joda's `z` pattern letter reads (`PST`,
//! `EDT`, ... with the US daylight-saving rules since 1987), and the zone
//! word `auto` strips from the end of a timestamp (and then ignores).

use crate::calendar::{HOUR, MINUTE, day_of_week, days_from_civil};

/// The offset in milliseconds of a zone id Joda's `DateTimeZone.forID`
/// accepts and sluice can compute: `UTC` and its aliases, or a fixed offset
/// `±hh`, `±hhmm`, `±hh:mm`.
pub fn fixed_offset(id: &str) -> Option<i64> {
    match id {
        "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "UCT" | "Etc/UCT" | "Universal" | "Zulu" | "Z" => Some(0),
        _ => offset(id),
    }
}

/// `±hh`, `±hhmm` or `±hh:mm` (hours to 23).
fn offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    let (hours, minutes) = match rest.len() {
        2 => (rest, "00"),
        4 => (&rest[..2], &rest[2..]),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    if !digits(hours) || !digits(minutes) {
        return None;
    }
    let (h, m): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    (h <= 23 && m <= 59).then_some(sign * (h * HOUR + m * MINUTE))
}

/// A zone named by an abbreviation in a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedZone {
    Fixed(i64),
    /// A US zone with daylight saving: its standard offset.
    UnitedStates(i64),
}

/// The names Joda's `z` parses by default (`DateTimeUtils.getDefaultTimeZoneNames`).
pub const SHORT_NAMES: &[&str] = &["UTC", "UT", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"];

pub fn short_name(name: &str) -> Option<NamedZone> {
    Some(match name {
        "UT" | "UTC" | "GMT" => NamedZone::Fixed(0),
        "EST" | "EDT" => NamedZone::UnitedStates(-5 * HOUR),
        "CST" | "CDT" => NamedZone::UnitedStates(-6 * HOUR),
        "MST" | "MDT" => NamedZone::UnitedStates(-7 * HOUR),
        "PST" | "PDT" => NamedZone::UnitedStates(-8 * HOUR),
        _ => return None,
    })
}

impl NamedZone {
    /// The UTC instant of a local (wall clock) time, as Joda resolves it:
    /// the earlier instant in the autumn overlap, an error in the spring gap.
    pub fn to_utc(self, local: i64) -> Result<i64, String> {
        let standard = match self {
            NamedZone::Fixed(offset) => return Ok(local - offset),
            NamedZone::UnitedStates(standard) => standard,
        };
        let (year, _, _) = crate::calendar::civil_from_days(local.div_euclid(crate::calendar::DAY));
        let (start, end) = us_daylight_saving(year).ok_or_else(|| {
            format!("US time zone names are supported from 1987 on (daylight-saving rules), not {year}")
        })?;
        // Both transitions happen at 02:00 wall clock time.
        let (gap_start, overlap_end) = (start + 2 * HOUR, end + 2 * HOUR);
        if (gap_start..gap_start + HOUR).contains(&local) {
            return Err("the local time does not exist (daylight-saving gap)".to_owned());
        }
        let daylight = local >= gap_start + HOUR && local < overlap_end;
        Ok(local - standard - if daylight { HOUR } else { 0 })
    }
}

/// Local midnights (ms) of the days daylight saving starts and ends in `year`.
fn us_daylight_saving(year: i64) -> Option<(i64, i64)> {
    let nth_sunday = |month: u32, n: u32| {
        let first = days_from_civil(year, month, 1);
        first + i64::from((7 - day_of_week(first)) % 7) + 7 * i64::from(n - 1)
    };
    let last_sunday = |month: u32| {
        let last = days_from_civil(year, month, crate::calendar::days_in_month(year, month));
        last - i64::from(day_of_week(last) % 7)
    };
    let (start, end) = match year {
        2007.. => (nth_sunday(3, 2), nth_sunday(11, 1)),
        1987..=2006 => (nth_sunday(4, 1), last_sunday(10)),
        _ => return None,
    };
    Some((start * crate::calendar::DAY, end * crate::calendar::DAY))
}

/// Whether `word` is a time zone id of Java's `TimeZone` (`UTC`, `PST`,
/// `Australia/Hobart`): `auto` timestamps may end with one after a space,
/// which Druid strips and then ignores. The region list is a close
/// approximation of Java's; only whether the word is stripped depends on it.
pub fn is_java_zone_id(word: &str) -> bool {
    const IDS: &[&str] = &[
        "UTC",
        "GMT",
        "UCT",
        "GMT0",
        "Universal",
        "Zulu",
        "Greenwich",
        "ACT",
        "AET",
        "AGT",
        "ART",
        "AST",
        "BET",
        "BST",
        "CAT",
        "CNT",
        "CST",
        "CTT",
        "EAT",
        "ECT",
        "EST",
        "HST",
        "IET",
        "IST",
        "JST",
        "MIT",
        "MST",
        "NET",
        "NST",
        "PLT",
        "PNT",
        "PRT",
        "PST",
        "SST",
        "VST",
        "CET",
        "EET",
        "MET",
        "WET",
        "EST5EDT",
        "CST6CDT",
        "MST7MDT",
        "PST8PDT",
        "PRC",
        "ROC",
        "ROK",
        "NZ",
        "NZ-CHAT",
        "GB",
        "GB-Eire",
        "Eire",
        "Cuba",
        "Egypt",
        "Hongkong",
        "Iceland",
        "Iran",
        "Israel",
        "Jamaica",
        "Japan",
        "Kwajalein",
        "Libya",
        "Navajo",
        "Poland",
        "Portugal",
        "Singapore",
        "Turkey",
        "W-SU",
    ];
    const AREAS: &[&str] = &[
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Brazil",
        "Canada",
        "Chile",
        "Etc",
        "Europe",
        "Indian",
        "Mexico",
        "Pacific",
        "SystemV",
        "US",
    ];
    if IDS.contains(&word) {
        return true;
    }
    match word.split_once('/') {
        Some((area, place)) => {
            AREAS.contains(&area)
                && place.starts_with(|c: char| c.is_ascii_uppercase())
                && place.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-+/".contains(&b))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::DAY;

    #[test]
    fn fixed_offsets() {
        assert_eq!(fixed_offset("UTC"), Some(0));
        assert_eq!(fixed_offset("Etc/UTC"), Some(0));
        assert_eq!(fixed_offset("+05:30"), Some(5 * HOUR + 30 * MINUTE));
        assert_eq!(fixed_offset("-0800"), Some(-8 * HOUR));
        assert_eq!(fixed_offset("+01"), Some(HOUR));
        for bad in ["utc", "America/Los_Angeles", "+5", "+24:00", "+05:60", "05:00", "+05:3", ""] {
            assert_eq!(fixed_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn us_names_follow_daylight_saving() {
        let pst = short_name("PST").unwrap();
        assert_eq!(short_name("PDT"), Some(pst));
        assert_eq!(short_name("GMT"), Some(NamedZone::Fixed(0)));
        assert_eq!(short_name("AEST"), None);
        let local = |y, m, d, h: i64| days_from_civil(y, m, d) * DAY + h * HOUR;
        // 1994-11-09 04:00 PST (Druid's test) is 12:00 UTC.
        assert_eq!(pst.to_utc(local(1994, 11, 9, 4)), Ok(local(1994, 11, 9, 12)));
        // July: daylight time, UTC-7.
        assert_eq!(pst.to_utc(local(2020, 7, 1, 0)), Ok(local(2020, 7, 1, 7)));
        // 2020-03-08 02:30 does not exist in Los Angeles; 03:00 is daylight time.
        assert!(pst.to_utc(local(2020, 3, 8, 2) + 30 * MINUTE).is_err());
        assert_eq!(pst.to_utc(local(2020, 3, 8, 3)), Ok(local(2020, 3, 8, 10)));
        assert_eq!(pst.to_utc(local(2020, 3, 8, 1)), Ok(local(2020, 3, 8, 9)));
        // 2020-11-01 01:30 happens twice: the earlier (daylight) instant.
        assert_eq!(pst.to_utc(local(2020, 11, 1, 1) + 30 * MINUTE), Ok(local(2020, 11, 1, 8) + 30 * MINUTE));
        assert_eq!(pst.to_utc(local(2020, 11, 1, 2)), Ok(local(2020, 11, 1, 10)));
        // 1987-2006 rules: first Sunday of April to last Sunday of October.
        assert_eq!(pst.to_utc(local(2006, 4, 2, 3)), Ok(local(2006, 4, 2, 10)));
        assert_eq!(pst.to_utc(local(2006, 3, 12, 3)), Ok(local(2006, 3, 12, 11)));
        assert!(pst.to_utc(local(1980, 1, 1, 0)).unwrap_err().contains("from 1987 on"));
    }

    #[test]
    fn java_zone_ids() {
        for id in ["UTC", "PST", "Australia/Hobart", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert!(is_java_zone_id(id), "{id}");
        }
        for word in ["Hello", "AEST", "23:31:30", "+05:00", "Mars/Olympus", "America/"] {
            assert!(!is_java_zone_id(word), "{word}");
        }
    }
}
