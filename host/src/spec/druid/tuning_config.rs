//! `tuningConfig`: Druid's tuning keys (from `KafkaSupervisorTuningConfig`
//! and `KinesisSupervisorTuningConfig`), each checked by its type. sluice
//! acts on the parse-exception settings and `resetOffsetAutomatically`; the
//! others tune Druid's segment building and task handling and are recorded.

use super::super::{SourceType, SpecError, invalid};
use super::supervisor_settings::{DEFAULT_OFFSET_FETCH_PERIOD_MS, TuningSettings};
use super::values::Obj;

/// How a tuning value is checked.
#[derive(Clone, Copy)]
enum Kind {
    /// A non-negative integer.
    Count,
    /// An integer that may be negative (`maxBytesInMemory`: -1 is unlimited).
    Signed,
    Bool,
    /// An ISO-8601 period.
    Period,
    Object,
    Text,
}

/// Every streaming ingestion's keys.
const COMMON: &[(&str, Kind)] = &[
    ("appendableIndexSpec", Kind::Object),
    ("maxRowsInMemory", Kind::Count),
    ("maxBytesInMemory", Kind::Signed),
    ("skipBytesInMemoryOverheadCheck", Kind::Bool),
    ("maxRowsPerSegment", Kind::Count),
    ("maxTotalRows", Kind::Count),
    ("intermediatePersistPeriod", Kind::Period),
    ("maxPendingPersists", Kind::Count),
    ("indexSpec", Kind::Object),
    ("indexSpecForIntermediatePersists", Kind::Object),
    ("reportParseExceptions", Kind::Bool),
    ("handoffConditionTimeout", Kind::Count),
    ("resetOffsetAutomatically", Kind::Bool),
    ("segmentWriteOutMediumFactory", Kind::Object),
    ("workerThreads", Kind::Count),
    ("chatRetries", Kind::Count),
    ("httpTimeout", Kind::Period),
    ("shutdownTimeout", Kind::Period),
    ("offsetFetchPeriod", Kind::Period),
    ("intermediateHandoffPeriod", Kind::Period),
    ("logParseExceptions", Kind::Bool),
    ("maxParseExceptions", Kind::Count),
    ("maxSavedParseExceptions", Kind::Count),
    ("numPersistThreads", Kind::Count),
    // Deprecated, still read by Druid.
    ("basePersistDirectory", Kind::Text),
    ("buildV9Directly", Kind::Bool),
    ("chatThreads", Kind::Count),
];

/// Kinesis' own keys.
const KINESIS: &[(&str, Kind)] = &[
    ("skipSequenceNumberAvailabilityCheck", Kind::Bool),
    ("recordBufferSize", Kind::Count),
    ("recordBufferSizeBytes", Kind::Count),
    ("recordBufferOfferTimeout", Kind::Count),
    ("recordBufferFullWait", Kind::Count),
    ("fetchThreads", Kind::Count),
    ("maxRecordsPerPoll", Kind::Count),
    ("maxBytesPerPoll", Kind::Count),
    ("repartitionTransitionDuration", Kind::Period),
    ("useListShards", Kind::Bool),
];

/// The parsed `tuningConfig` (Druid's defaults when it is absent).
pub(super) fn parse_tuning(tuning: Option<Obj>, stream_type: SourceType) -> Result<TuningSettings, SpecError> {
    let mut out = TuningSettings { offset_fetch_period_ms: DEFAULT_OFFSET_FETCH_PERIOD_MS, ..Default::default() };
    let Some(t) = tuning else { return Ok(out) };
    let own: &[(&str, Kind)] = if stream_type == SourceType::Kinesis { KINESIS } else { &[] };
    let known = || COMMON.iter().chain(own);
    let mut allowed: Vec<&str> = vec!["type"];
    allowed.extend(known().map(|(k, _)| *k));
    t.check_keys(&allowed)?;
    if let Some(kind) = t.text("type")? {
        let expected = super::type_name(stream_type);
        if kind != expected {
            return Err(invalid(&t.key("type"), format!("{kind:?} does not match the supervisor type {expected:?}")));
        }
    }
    for (key, kind) in known() {
        let Some(value) = t.get(key) else { continue };
        match kind {
            Kind::Count => t.u64(key).map(|_| ())?,
            Kind::Signed => t.i64(key).map(|_| ())?,
            Kind::Bool => t.bool(key).map(|_| ())?,
            Kind::Period => t.period_ms(key).map(|_| ())?,
            Kind::Object => t.object(key).map(|_| ())?,
            Kind::Text => t.text(key).map(|_| ())?,
        }
        out.given.insert(key.to_string(), value.clone());
    }
    out.report_parse_exceptions = t.bool("reportParseExceptions")?.unwrap_or(false);
    out.max_parse_exceptions = t.u64("maxParseExceptions")?;
    out.max_saved_parse_exceptions = t.u64("maxSavedParseExceptions")?;
    out.log_parse_exceptions = t.bool("logParseExceptions")?.unwrap_or(false);
    out.reset_offset_automatically = t.bool("resetOffsetAutomatically")?.unwrap_or(false);
    if let Some(ms) = t.period_ms("offsetFetchPeriod")? {
        out.offset_fetch_period_ms = ms;
    }
    Ok(out)
}

/// The parse-exception limit in force: `reportParseExceptions` makes it 0,
/// as in Druid; otherwise `maxParseExceptions` (none: unlimited).
pub(super) fn max_parse_exceptions(t: &TuningSettings) -> Option<u64> {
    if t.report_parse_exceptions { Some(0) } else { t.max_parse_exceptions }
}
