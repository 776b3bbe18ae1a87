//! `ioConfig`'s late and early message rejection (Druid's `thrownAway`).
//!
//! Druid computes the bounds when the supervisor creates a task, from the
//! clock; sluice from the message's reference time, the start of the
//! shard's current task period, so that a replay judges alike:
//!
//! * `lateMessageRejectionPeriod` P: an event before `reference - P` is
//!   thrown away (`reference - P` itself is kept);
//! * `lateMessageRejectionStartDateTime` D: an event before D (not both);
//! * `earlyMessageRejectionPeriod` E: an event after
//!   `reference + taskDuration + E` (that instant itself is kept).
//!
//! Periods are calendar periods in UTC (`P1M` is a month, as Joda's
//! `DateTime.minus(Period)`); `taskDuration` (default `PT1H`) is a standard
//! duration, so it takes no months or years, as in Druid.

use crate::calendar::format_iso;
use crate::period::Period;
use crate::spec::{Node, invalid};
use crate::timestamp::instant;

#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    task_duration: Period,
    task_duration_ms: i64,
    late: Option<Late>,
    early: Option<Period>,
}

#[derive(Clone, Debug, PartialEq)]
enum Late {
    Period(Period),
    Start(i64),
}

impl Rejection {
    pub fn parse(node: Option<Node<'_, '_>>) -> Result<Rejection, String> {
        let default_duration = Period::parse("PT1H")?;
        let mut rejection = Rejection {
            task_duration_ms: crate::calendar::HOUR,
            task_duration: default_duration,
            late: None,
            early: None,
        };
        let Some(node) = node else { return Ok(rejection) };
        node.allow(&[
            "taskDuration",
            "lateMessageRejectionPeriod",
            "earlyMessageRejectionPeriod",
            "lateMessageRejectionStartDateTime",
        ])?;
        let period = |key: &str| -> Result<Option<Period>, String> {
            let Some(text) = node.str(key)? else { return Ok(None) };
            let p = Period::parse(text)
                .map_err(|hint| format!("invalid value for [{}]: \"{text}\"; {hint}", node.key(key)))?;
            if p.fields().iter().any(|f| *f < 0) {
                return Err(format!(
                    "invalid value for [{}]: \"{text}\"; expected a period that is not negative",
                    node.key(key)
                ));
            }
            Ok(Some(p))
        };
        if let Some(duration) = period("taskDuration")? {
            rejection.task_duration_ms = duration.standard_millis().filter(|ms| *ms > 0).ok_or_else(|| {
                format!(
                    "invalid value for [{}]: \"{}\"; expected a positive duration without months or years (Druid takes it as a standard duration)",
                    node.key("taskDuration"),
                    duration.text()
                )
            })?;
            rejection.task_duration = duration;
        }
        let start = match node.get("lateMessageRejectionStartDateTime") {
            None => None,
            Some(v) => Some(instant(v).ok_or_else(|| {
                invalid(&node.key("lateMessageRejectionStartDateTime"), v, "expected an ISO-8601 date-time")
            })?),
        };
        rejection.late = match (period("lateMessageRejectionPeriod")?, start) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "[{}] and [{}] cannot both be set (Druid supports only one of them)",
                    node.key("lateMessageRejectionPeriod"),
                    node.key("lateMessageRejectionStartDateTime")
                ));
            }
            (Some(p), None) => Some(Late::Period(p)),
            (None, Some(t)) => Some(Late::Start(t)),
            (None, None) => None,
        };
        rejection.early = period("earlyMessageRejectionPeriod")?;
        Ok(rejection)
    }

    /// `Err(reason)` when an event at `t` is thrown away for a task period starting at `reference`.
    pub fn check(&self, t: i64, reference: i64) -> Result<(), String> {
        let at = format_iso(t);
        match &self.late {
            Some(Late::Period(p)) => {
                let bound = p.add(reference, -1).unwrap_or(i64::MIN);
                if t < bound {
                    return Err(format!(
                        "timestamp {at} is before {} (the task period's start {} minus lateMessageRejectionPeriod {})",
                        format_iso(bound),
                        format_iso(reference),
                        p.text()
                    ));
                }
            }
            Some(Late::Start(start)) if t < *start => {
                return Err(format!(
                    "timestamp {at} is before lateMessageRejectionStartDateTime {}",
                    format_iso(*start)
                ));
            }
            _ => {}
        }
        if let Some(e) = &self.early {
            let bound = reference.checked_add(self.task_duration_ms).and_then(|end| e.add(end, 1)).unwrap_or(i64::MAX);
            if t > bound {
                return Err(format!(
                    "timestamp {at} is after {} (the task period's start {} plus taskDuration {} plus earlyMessageRejectionPeriod {})",
                    format_iso(bound),
                    format_iso(reference),
                    self.task_duration.text(),
                    e.text()
                ));
            }
        }
        Ok(())
    }
}
