//! What a Druid supervisor spec said that has no counterpart in the rest of
//! [`IngestionSpec`](crate::spec::IngestionSpec): kept, typed, for status
//! reports (Druid's supervisor status: `dataSource`, `stream`, `partitions`,
//! `replicas`, `durationSeconds`, ...) and for the supervisor operations.

use crate::spec::SourceType;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Druid's defaults (`SeekableStreamSupervisorIOConfig`).
pub const DEFAULT_START_DELAY_MS: u64 = 5_000;
pub const DEFAULT_PERIOD_MS: u64 = 30_000;
pub const DEFAULT_COMPLETION_TIMEOUT_MS: u64 = 1_800_000;
/// `tuningConfig.offsetFetchPeriod`'s default, `PT30S`.
pub const DEFAULT_OFFSET_FETCH_PERIOD_MS: u64 = 30_000;

/// The Druid-only settings of a supervisor spec, with Druid's defaults filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupervisorSettings {
    /// The supervisor's `type`: kafka, kinesis, or sluice's `file`.
    pub stream_type: SourceType,
    /// `ioConfig.topic` (Kafka) or `ioConfig.stream` (Kinesis, file).
    pub stream: String,
    /// Whether the spec came wrapped in `spec` (`{"type", "spec": {...}}`).
    pub wrapped: bool,
    /// `ioConfig.taskCount` (default 1). Recorded: sluice runs one worker per
    /// partition whatever it says.
    pub task_count: u32,
    /// `ioConfig.replicas` (default 1). Recorded: sluice keeps one copy.
    pub replicas: u32,
    /// `ioConfig.taskDuration` (default `PT1H`): also `IngestionSpec.task_duration_ms`.
    pub task_duration_ms: u64,
    /// `ioConfig.startDelay` (default `PT5S`).
    pub start_delay_ms: u64,
    /// `ioConfig.period` (default `PT30S`).
    pub period_ms: u64,
    /// `ioConfig.completionTimeout` (default `PT30M`).
    pub completion_timeout_ms: u64,
    /// `ioConfig.useEarliestOffset` / `useEarliestSequenceNumber` (default false):
    /// where a partition without a checkpoint starts (`IngestionSpec.init_reset`).
    pub use_earliest_offset: bool,
    /// `ioConfig.lateMessageRejectionPeriod` (handed to the plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_message_rejection_period_ms: Option<u64>,
    /// `ioConfig.earlyMessageRejectionPeriod` (handed to the plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_message_rejection_period_ms: Option<u64>,
    /// `ioConfig.lateMessageRejectionStartDateTime`, ms since the epoch (handed to the plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_message_rejection_start_ms: Option<i64>,
    /// `ioConfig.stopTaskCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_task_count: Option<u32>,
    /// `ioConfig.emitTimeLagMetrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_time_lag_metrics: Option<bool>,
    /// `ioConfig.autoScalerConfig`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaler_config: Option<Value>,
    /// `ioConfig.idleConfig` (Kafka), as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_config: Option<Value>,
    /// `ioConfig.configOverrides` (Kafka), as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_overrides: Option<Value>,
    /// `ioConfig.fetchDelayMillis` (Kinesis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_delay_ms: Option<u64>,
    pub tuning: TuningSettings,
    /// The spec's `context`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// The spec's `suspended`: the supervisor starts (or stays) suspended.
    #[serde(default)]
    pub suspended: bool,
}

/// `tuningConfig`: the values sluice acts on, typed, and every value given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TuningSettings {
    /// `reportParseExceptions`: a parse error stops ingestion (`error_strategy`
    /// BLOCK, `max_parse_exceptions` 0).
    pub report_parse_exceptions: bool,
    /// `maxParseExceptions` as given (`IngestionSpec.max_parse_exceptions`
    /// holds the one in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parse_exceptions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_saved_parse_exceptions: Option<u64>,
    pub log_parse_exceptions: bool,
    /// `resetOffsetAutomatically`: a lost position restarts the partition per
    /// `useEarliestOffset` instead of stopping it.
    pub reset_offset_automatically: bool,
    /// `offsetFetchPeriod` (default `PT30S`): how often lag is measured.
    pub offset_fetch_period_ms: u64,
    /// Every `tuningConfig` key given (but `type`), checked by its type, as given.
    pub given: BTreeMap<String, Value>,
}
