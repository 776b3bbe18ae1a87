//! `dataSchema.granularitySpec`: the row time and rollup.
//!
//! A granularity is a name (`none`, `minute`, `five_minute`, ..., `week`,
//! `quarter`, `year`, `all`; any case, as Druid's `GranularityType`) or an
//! object: `{"type": "period", "period": "PT5M", "timeZone": "+05:30",
//! "origin": "..."}`, `{"type": "duration", "duration": 300000, "origin":
//! ...}`, `{"type": "all"}`, `{"type": "none"}`. Buckets follow Druid's
//! `PeriodGranularity`: single-field periods without an origin floor to the
//! calendar unit in the zone (weeks start on Monday); with an origin, or a
//! multiple (`P2D`, `PT6H`), they count whole periods from the origin
//! (default 1970-01-01T00:00 in the zone; calendar months and years for
//! `P3M`, `P1Y`); compound periods (`PT1H30M`) count exact lengths, or step
//! by calendar when they have months. Time zones are UTC or fixed offsets.
//!
//! The row time is as a Druid streaming task stores it:
//! `max(queryGranularity bucket, segmentGranularity bucket)` (the
//! incremental index's minimum timestamp is the segment's start), so
//! `queryGranularity: all` gives each segment's start, and
//! `-146136543-09-08T08:23:32.096Z` only when `segmentGranularity` is `all` too.

use sluice_plugin_sdk::json::Value;

use crate::calendar::{self, DAY, MIN_INSTANT, add_months, civil_from_days};
use crate::period::Period;
use crate::spec::{Node, invalid, unsupported};
use crate::timestamp::instant;
use crate::zones;

#[derive(Clone, Debug, PartialEq)]
pub enum Granularity {
    None,
    All,
    Period(PeriodGranularity),
    Duration { millis: i64, origin: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PeriodGranularity {
    period: Period,
    /// The zone's fixed offset (ms east of UTC).
    offset: i64,
    /// UTC milliseconds.
    origin: i64,
    has_origin: bool,
}

/// The simple granularities and their periods (Druid's `GranularityType`).
const NAMES: &[(&str, &str)] = &[
    ("second", "PT1S"),
    ("minute", "PT1M"),
    ("five_minute", "PT5M"),
    ("ten_minute", "PT10M"),
    ("fifteen_minute", "PT15M"),
    ("thirty_minute", "PT30M"),
    ("hour", "PT1H"),
    ("six_hour", "PT6H"),
    ("eight_hour", "PT8H"),
    ("day", "P1D"),
    ("week", "P1W"),
    ("month", "P1M"),
    ("quarter", "P3M"),
    ("year", "P1Y"),
];

/// The most steps a compound period with months may take from its origin.
const MAX_STEPS: usize = 1_000_000;

impl Granularity {
    pub fn parse(value: &Value<'_>, path: &str) -> Result<Granularity, String> {
        match value {
            Value::Str(name) => from_name(name).ok_or_else(|| {
                let names: Vec<&str> =
                    ["none"].into_iter().chain(NAMES.iter().map(|(n, _)| *n)).chain(["all"]).collect();
                invalid(path, value, &format!("allowed: {}, or a granularity object", names.join(", ")))
            }),
            Value::Object(_) => from_object(&Node::new(value, path)?),
            other => Err(invalid(path, other, "expected a granularity name or object")),
        }
    }

    /// The start of the bucket of `t` (UTC ms); `None` if it cannot be computed.
    pub fn bucket_start(&self, t: i64) -> Option<i64> {
        match self {
            Granularity::None => Some(t),
            Granularity::All => Some(MIN_INSTANT),
            Granularity::Duration { millis, origin } => Some(t - t.checked_sub(*origin)?.rem_euclid(*millis)),
            Granularity::Period(p) => p.bucket_start(t),
        }
    }
}

fn from_name(name: &str) -> Option<Granularity> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "none" => return Some(Granularity::None),
        "all" => return Some(Granularity::All),
        _ => {}
    }
    let (_, period) = NAMES.iter().find(|(n, _)| *n == lower)?;
    let period = Period::parse(period).ok()?;
    Some(Granularity::Period(PeriodGranularity { period, offset: 0, origin: 0, has_origin: false }))
}

fn from_object(node: &Node<'_, '_>) -> Result<Granularity, String> {
    let kind = node.required_str("type")?;
    match kind {
        "all" | "none" => {
            node.allow(&["type"])?;
            Ok(if kind == "all" { Granularity::All } else { Granularity::None })
        }
        "period" => {
            node.allow(&["type", "period", "timeZone", "origin"])?;
            let text = node.required_str("period")?;
            let period = Period::parse(text)
                .map_err(|hint| format!("invalid value for [{}]: \"{text}\"; {hint}", node.key("period")))?;
            if period.is_zero() || period.fields().iter().any(|f| *f < 0) {
                return Err(format!(
                    "invalid value for [{}]: \"{text}\"; expected a positive period",
                    node.key("period")
                ));
            }
            let offset = match node.str("timeZone")? {
                None => 0,
                Some(zone) => zones::fixed_offset(zone).ok_or_else(|| {
                    unsupported(
                        &format!("time zone \"{zone}\" in [{}]", node.key("timeZone")),
                        "use UTC or a fixed offset such as +05:30",
                    )
                })?,
            };
            let origin = origin(node)?;
            Ok(Granularity::Period(PeriodGranularity {
                period,
                offset,
                // Default: 1970-01-01T00:00 in the zone.
                origin: origin.unwrap_or(-offset),
                has_origin: origin.is_some(),
            }))
        }
        "duration" => {
            node.allow(&["type", "duration", "origin"])?;
            let millis =
                node.integer("duration", 1, i64::MAX)?.ok_or_else(|| format!("missing [{}]", node.key("duration")))?;
            Ok(Granularity::Duration { millis, origin: origin(node)?.unwrap_or(0) })
        }
        _ => Err(invalid(
            &node.key("type"),
            node.get("type").unwrap_or(&Value::Null),
            "allowed: period, duration, all, none",
        )),
    }
}

fn origin(node: &Node<'_, '_>) -> Result<Option<i64>, String> {
    node.get("origin")
        .map(|v| {
            instant(v).ok_or_else(|| {
                invalid(&node.key("origin"), v, "expected an ISO-8601 date-time or milliseconds since the epoch")
            })
        })
        .transpose()
}

impl PeriodGranularity {
    fn bucket_start(&self, t: i64) -> Option<i64> {
        let local = t.checked_add(self.offset)?;
        let origin = self.origin.checked_add(self.offset)?;
        let fields = self.period.fields();
        let start = if fields.iter().filter(|f| **f > 0).count() > 1 {
            match self.period.standard_millis() {
                Some(length) => local - local.checked_sub(origin)?.rem_euclid(length),
                None => self.step(local, origin)?,
            }
        } else {
            let (index, count) = fields.iter().copied().enumerate().find(|(_, f)| *f > 0)?;
            match index {
                0 | 1 => calendar_floor(local, origin, if index == 0 { 12 } else { 1 }, count)?,
                // One week, no origin: the Monday (Joda's dayOfWeek().roundFloor then set to 1).
                2 if count == 1 && !self.has_origin => {
                    let day = calendar::start_of_day(local);
                    day - i64::from(calendar::day_of_week(day.div_euclid(DAY)) - 1) * DAY
                }
                _ => {
                    let unit =
                        [0, 0, calendar::WEEK, DAY, calendar::HOUR, calendar::MINUTE, calendar::SECOND, 1][index];
                    local - local.checked_sub(origin)?.rem_euclid(unit.checked_mul(count)?)
                }
            }
        };
        start.checked_sub(self.offset)
    }

    /// Druid's `truncateCompoundPeriod`: whole periods stepped from the origin.
    fn step(&self, local: i64, origin: i64) -> Option<i64> {
        let mut current = origin;
        for _ in 0..MAX_STEPS {
            if local >= origin {
                let next = self.period.add(current, 1)?;
                if local < next {
                    return Some(current);
                }
                current = next;
            } else {
                current = self.period.add(current, -1)?;
                if local >= current {
                    return Some(current);
                }
            }
        }
        None
    }
}

/// Whole `unit_months` units from `origin` to `t` in multiples of `count`,
/// rounded down (Joda's field difference, then Druid's alignment).
fn calendar_floor(t: i64, origin: i64, unit_months: i64, count: i64) -> Option<i64> {
    let units = month_difference(t, origin)? / unit_months;
    let aligned = units - units % count;
    let start = add_months(origin, aligned.checked_mul(unit_months)?)?;
    if t < start { add_months(origin, (aligned - count).checked_mul(unit_months)?) } else { Some(start) }
}

/// Whole calendar months from `origin` to `t` (negative when `t` is earlier), as Joda counts them.
fn month_difference(t: i64, origin: i64) -> Option<i64> {
    if t < origin {
        return month_difference(origin, t).map(|d| -d);
    }
    let ((y1, m1, _), (y0, m0, _)) = (civil_from_days(t.div_euclid(DAY)), civil_from_days(origin.div_euclid(DAY)));
    let mut months = (y1 - y0).checked_mul(12)? + i64::from(m1) - i64::from(m0);
    if months > 0 && add_months(origin, months)? > t {
        months -= 1;
    }
    Some(months)
}

/// `dataSchema.granularitySpec`.
#[derive(Clone, Debug, PartialEq)]
pub struct GranularitySpec {
    pub query: Granularity,
    pub segment: Granularity,
    pub rollup: bool,
}

impl GranularitySpec {
    pub fn parse(node: Option<Node<'_, '_>>) -> Result<GranularitySpec, String> {
        let default = || Granularity::parse(&Value::Str("day".into()), "");
        let Some(node) = node else {
            return Ok(GranularitySpec { query: Granularity::None, segment: default()?, rollup: true });
        };
        node.allow(&["type", "segmentGranularity", "queryGranularity", "rollup", "intervals"])?;
        match node.str("type")? {
            None | Some("uniform") => {}
            Some("arbitrary") => {
                return Err(unsupported(
                    &format!("[{}] \"arbitrary\"", node.key("type")),
                    "streaming ingestion uses \"uniform\"",
                ));
            }
            Some(_) => {
                return Err(invalid(&node.key("type"), node.get("type").unwrap_or(&Value::Null), "allowed: uniform"));
            }
        }
        // Batch ingestion's time chunks; "ignored for any form of streaming ingestion".
        node.strings("intervals")?;
        let granularity = |key: &str| node.get(key).map(|v| Granularity::parse(v, &node.key(key))).transpose();
        Ok(GranularitySpec {
            query: granularity("queryGranularity")?.unwrap_or(Granularity::None),
            segment: granularity("segmentGranularity")?.map_or_else(default, Ok)?,
            rollup: node.bool("rollup")?.unwrap_or(true),
        })
    }

    /// The row's `__time` for an event at `t`.
    pub fn row_time(&self, t: i64) -> Option<i64> {
        Some(self.query.bucket_start(t)?.max(self.segment.bucket_start(t)?))
    }
}
