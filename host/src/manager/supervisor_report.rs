//! What Druid reports about a supervisor, typed with Druid's field names
//! (`SeekableStreamSupervisorReportPayload`, `TaskReportData`, the
//! supervisor's exception events, row statistics and spec history); they
//! become JSON only at the edges.
//!
//! A sluice shard is Druid's task: one per partition, active while it is
//! not paused. Offsets are Druid's: Kafka's and the file source's current
//! offset is the next one to read, Kinesis' the last sequence number read;
//! lag is in messages (Kafka: to the high watermark; a caught-up shard: 0)
//! and in milliseconds for Kinesis, as in Druid.

use super::{Manager, ManagerError, Result};
use crate::engine::{BlockCause, PollerState, ShardStatus};
use crate::pointer::{Pointer, StartPosition};
use crate::sink::ShardCounters;
use crate::spec::{IngestionSpec, SourceType, SupervisorSettings};
use crate::state::IngestionRecord;
use crate::util::{now_ms, redact_secrets, rfc3339, rfc3339_opt};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An offset as Druid writes it: a number (Kafka offsets, line numbers),
/// or text when it is too large for one (Kinesis sequence numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offset(pub Pointer);

impl Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0.as_u64() {
            Some(n) => s.serialize_u64(n),
            None => s.serialize_str(&self.0.to_string()),
        }
    }
}

/// Druid's supervisor states (`state` takes the basic ones, `detailedState` any).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SupervisorState {
    Pending,
    Running,
    Idle,
    Suspended,
    Stopping,
    UnhealthySupervisor,
    UnhealthyTasks,
    CreatingTasks,
    UnableToConnectToStream,
    LostContactWithStream,
}

/// One task (a shard reading its partition), as `TaskReportData`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_offsets: Option<BTreeMap<String, Offset>>,
    /// The start of the shard's current task period.
    #[serde(with = "rfc3339_opt")]
    pub start_time: Option<i64>,
    /// Until the task period rolls over.
    pub remaining_seconds: Option<u64>,
    /// `ACTIVE` (sluice has no publishing tasks).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_offsets: Option<BTreeMap<String, Offset>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<BTreeMap<String, u64>>,
}

/// A recent error, as Druid's supervisor exception events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionEvent {
    #[serde(with = "rfc3339_opt")]
    pub timestamp: Option<i64>,
    pub exception_class: String,
    pub message: String,
    pub stream_exception: bool,
}

/// Druid's supervisor status payload (`GET .../supervisor/{id}/status`'s `payload`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorStatus {
    pub data_source: String,
    pub stream: String,
    pub partitions: u32,
    pub replicas: u32,
    pub duration_seconds: u64,
    pub active_tasks: Vec<TaskReport>,
    pub publishing_tasks: Vec<TaskReport>,
    /// Partition -> the end of the stream when the source knows it, else the committed offset.
    pub latest_offsets: BTreeMap<String, Offset>,
    /// Partition -> the committed offset (also in each active task).
    pub current_offsets: BTreeMap<String, Offset>,
    pub minimum_lag: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_lag: Option<u64>,
    #[serde(with = "rfc3339_opt")]
    pub offsets_last_updated: Option<i64>,
    pub suspended: bool,
    pub healthy: bool,
    pub state: SupervisorState,
    pub detailed_state: SupervisorState,
    pub recent_errors: Vec<ExceptionEvent>,
}

/// Druid's row counters (`buildSegments` totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowStats {
    /// Applied without error.
    pub processed: u64,
    pub processed_with_error: u64,
    /// Failed to decode (invalid, or the plugin failed on it).
    pub unparseable: u64,
    /// Outside what the ingestion accepts (the rejection periods).
    pub thrown_away: u64,
}

impl RowStats {
    fn from_counters(c: &ShardCounters) -> Self {
        let unparseable = c.total_failed_count.saturating_sub(c.total_thrown_away_count);
        RowStats {
            processed: c
                .total_processed_count
                .saturating_sub(c.total_failed_count)
                .saturating_sub(c.total_processed_with_error_count),
            processed_with_error: c.total_processed_with_error_count,
            unparseable,
            thrown_away: c.total_thrown_away_count,
        }
    }

    fn add(&mut self, o: &RowStats) {
        self.processed += o.processed;
        self.processed_with_error += o.processed_with_error;
        self.unparseable += o.unparseable;
        self.thrown_away += o.thrown_away;
    }
}

/// Row statistics per partition and in all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SupervisorStats {
    pub partitions: BTreeMap<String, RowStats>,
    pub totals: RowStats,
}

/// One task's row statistics, as Druid's stats name them (task group ->
/// task id): each shard is a task, in a group of its own numbered as the shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskRowStats {
    pub group: u32,
    /// As in the status report's `activeTasks`.
    pub task: String,
    pub partition: String,
    pub totals: RowStats,
}

/// One spec version, as Druid's supervisor history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SupervisorHistoryEntry {
    /// The spec in force (secrets redacted); a terminated supervisor's is
    /// Druid's tombstone, `NoopSupervisorSpec`.
    pub spec: Value,
    /// When it took effect (RFC 3339).
    pub version: String,
}

/// A supervisor as Druid lists it (`GET /supervisor?full`, `?state=true`):
/// its spec as submitted, secrets redacted, and its state.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorSummary {
    pub id: String,
    pub spec: Value,
    pub state: SupervisorState,
    pub detailed_state: SupervisorState,
    pub healthy: bool,
    pub suspended: bool,
}

/// Druid's name of partition `n`.
pub(super) fn partition_id(t: SourceType, n: u32) -> String {
    match t {
        SourceType::Kinesis => format!("shardId-{n:012}"),
        SourceType::Kafka | SourceType::File => n.to_string(),
    }
}

/// Druid's id of the task reading shard `shard` (`index_kafka_<dataSource>_<shard>`).
fn task_id(t: SourceType, name: &str, shard: u32) -> String {
    format!("index_{}_{name}_{shard}", crate::spec::druid::type_name(t))
}

/// The committed offset as Druid shows it, if the shard has one.
fn current_offset(t: SourceType, resume: Option<&StartPosition>) -> Option<Pointer> {
    match (resume?, t) {
        (StartPosition::At(p), _) | (StartPosition::After(p), SourceType::Kinesis) => Some(p.clone()),
        (StartPosition::After(p), _) => p.as_u64().map(|n| Pointer::from(n + 1)),
        _ => None,
    }
}

/// The status of a supervisor whose shards report `statuses` (none if it
/// is not running: `start_error` says why).
fn status(
    spec: &IngestionSpec,
    s: &SupervisorSettings,
    start_error: Option<&str>,
    statuses: &[ShardStatus],
    now: i64,
) -> SupervisorStatus {
    let t = spec.source_type;
    let (mut current, mut latest, mut lags, mut tasks) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), vec![]);
    for st in statuses {
        let id = partition_id(t, st.shard);
        let offset = current_offset(t, st.meta.resume.as_ref());
        let lag = match t {
            SourceType::Kinesis => Some(st.consumer.lag_in_millis),
            _ => st.consumer.pointer_based_lag.or(st.idle.then_some(0)),
        };
        if let Some(o) = &offset {
            current.insert(id.clone(), Offset(o.clone()));
            let end = match (t, o.as_u64(), lag) {
                (SourceType::Kafka | SourceType::File, Some(n), Some(l)) => Pointer::from(n + l),
                _ => o.clone(),
            };
            latest.insert(id.clone(), Offset(end));
        }
        if let Some(l) = lag {
            lags.insert(id.clone(), l);
        }
        if !st.paused && st.state != PollerState::Closed {
            let period_end = st.meta.reference_time_ms.map(|t0| t0 + spec.task_duration_ms as i64);
            tasks.push(TaskReport {
                id: task_id(t, &spec.name, st.shard),
                starting_offsets: None,
                start_time: st.meta.reference_time_ms,
                remaining_seconds: period_end.map(|end| ((end - now).max(0) / 1000) as u64),
                kind: "ACTIVE".into(),
                current_offsets: offset.map(|o| BTreeMap::from([(id.clone(), Offset(o))])),
                lag: lag.map(|l| BTreeMap::from([(id.clone(), l)])),
            });
        }
    }
    let mut errors: Vec<ExceptionEvent> = statuses
        .iter()
        .filter_map(|st| {
            let e = st.last_error.as_ref()?;
            let lost = st.blocked.as_ref().is_some_and(|b| b.cause == BlockCause::PositionLost);
            Some(ExceptionEvent {
                timestamp: Some(e.at_ms),
                exception_class: if lost { "sluice.PositionLost" } else { "sluice.ShardError" }.into(),
                message: format!("partition {}: {}", partition_id(t, st.shard), e.message),
                stream_exception: lost,
            })
        })
        .collect();
    errors.sort_by_key(|e| e.timestamp);
    if let Some(e) = start_error {
        errors.push(ExceptionEvent {
            timestamp: Some(now),
            exception_class: "sluice.StartError".into(),
            message: e.to_string(),
            stream_exception: false,
        });
    }
    let troubled = statuses
        .iter()
        .any(|st| st.state == PollerState::Blocked || (st.state == PollerState::Retrying && st.last_error.is_some()));
    let idle_enabled = s.idle_config.as_ref().is_some_and(|c| c["enabled"] == json!(true));
    let (state, detailed) = if s.suspended {
        (SupervisorState::Suspended, SupervisorState::Suspended)
    } else if start_error.is_some() {
        (SupervisorState::UnhealthySupervisor, SupervisorState::UnhealthySupervisor)
    } else if troubled {
        (SupervisorState::UnhealthyTasks, SupervisorState::UnhealthyTasks)
    } else if statuses.iter().any(|st| st.state == PollerState::Starting) {
        (SupervisorState::Running, SupervisorState::CreatingTasks)
    } else if idle_enabled && !statuses.is_empty() && statuses.iter().all(|st| st.idle) {
        (SupervisorState::Idle, SupervisorState::Idle)
    } else {
        (SupervisorState::Running, SupervisorState::Running)
    };
    SupervisorStatus {
        data_source: spec.name.clone(),
        stream: s.stream.clone(),
        partitions: spec.shards,
        replicas: s.replicas,
        duration_seconds: s.task_duration_ms / 1000,
        active_tasks: tasks,
        publishing_tasks: vec![],
        aggregate_lag: (!lags.is_empty()).then(|| lags.values().sum()),
        latest_offsets: latest,
        current_offsets: current,
        minimum_lag: lags,
        offsets_last_updated: Some(now),
        suspended: s.suspended,
        healthy: !matches!(state, SupervisorState::UnhealthySupervisor | SupervisorState::UnhealthyTasks),
        state,
        detailed_state: detailed,
        recent_errors: errors,
    }
}

impl Manager {
    /// The supervisors' ids, in id order (ingestions made from an
    /// OpenSearch body are no supervisors; terminated ones are gone).
    pub fn supervisor_ids(&self) -> Vec<String> {
        self.lock().iter().filter(|(_, m)| m.spec.supervisor.is_some()).map(|(name, _)| name.clone()).collect()
    }

    /// Every supervisor with its spec and state, in id order.
    pub fn list_supervisors(&self) -> Result<Vec<SupervisorSummary>> {
        let mut list = vec![];
        for id in self.supervisor_ids() {
            match self.get_supervisor(&id) {
                Ok(s) => list.push(s),
                // Terminated since the ids were taken.
                Err(ManagerError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(list)
    }

    /// One supervisor's spec as submitted (secrets redacted) and its state.
    pub fn get_supervisor(&self, name: &str) -> Result<SupervisorSummary> {
        let spec = self.with_supervisor(name, |m| Ok(redact_secrets(&m.record.spec)))?;
        let status = self.supervisor_status(name)?;
        Ok(SupervisorSummary {
            id: name.to_string(),
            spec,
            state: status.state,
            detailed_state: status.detailed_state,
            healthy: status.healthy,
            suspended: status.suspended,
        })
    }

    /// Druid's supervisor status report.
    pub fn supervisor_status(&self, name: &str) -> Result<SupervisorStatus> {
        let (spec, settings, start_error, running) = self.with_supervisor(name, |m| {
            Ok((m.spec.clone(), m.supervisor()?.clone(), m.start_error.clone(), m.running.is_some()))
        })?;
        let statuses = if running { self.state(name)? } else { vec![] };
        Ok(status(&spec, &settings, start_error.as_deref(), &statuses, now_ms()))
    }

    /// Row statistics per partition and in all, from the shards' committed counters.
    pub fn supervisor_stats(&self, name: &str) -> Result<SupervisorStats> {
        let t = self.with_supervisor(name, |m| m.supervisor().map(|s| s.stream_type))?;
        let mut stats = SupervisorStats::default();
        for st in self.state(name)? {
            let rows = RowStats::from_counters(&st.meta.counters);
            stats.totals.add(&rows);
            stats.partitions.insert(partition_id(t, st.shard), rows);
        }
        Ok(stats)
    }

    /// Row statistics per task (Druid's `/stats`), from the shards'
    /// committed counters, in shard order.
    pub fn supervisor_task_stats(&self, name: &str) -> Result<Vec<TaskRowStats>> {
        let t = self.with_supervisor(name, |m| m.supervisor().map(|s| s.stream_type))?;
        Ok(self
            .state(name)?
            .iter()
            .map(|st| TaskRowStats {
                group: st.shard,
                task: task_id(t, name, st.shard),
                partition: partition_id(t, st.shard),
                totals: RowStats::from_counters(&st.meta.counters),
            })
            .collect())
    }

    /// Every supervisor's history, terminated ones' too, by id (Druid's
    /// `GET /druid/indexer/v1/supervisor/history`). A record the state
    /// store cannot read is left out (and logged).
    pub fn all_supervisor_history(&self) -> Result<BTreeMap<String, Vec<SupervisorHistoryEntry>>> {
        let mut out = BTreeMap::new();
        for record in self.store.load_all()? {
            match record {
                Ok(r) => {
                    if let Some(h) = spec_history(&r) {
                        out.insert(r.name.clone(), h);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "a state record could not be read for the supervisor history"),
            }
        }
        Ok(out)
    }

    /// Druid's supervisor history: every spec version, newest first (resets
    /// are not spec versions). A terminated supervisor's history is kept.
    pub fn supervisor_history(&self, name: &str) -> Result<Vec<SupervisorHistoryEntry>> {
        // A terminated supervisor is no longer held: its tombstone has the history.
        let held = self.lock().get(name).map(|m| m.record.clone());
        let record = match held {
            Some(r) => r,
            None => {
                self.store.load(name)?.ok_or_else(|| ManagerError::NotFound(format!("no supervisor named {name}")))?
            }
        };
        spec_history(&record).ok_or_else(|| ManagerError::FailedPrecondition(format!("{name} is no Druid supervisor")))
    }
}

/// A record's spec versions, newest first, if it is a supervisor's.
fn spec_history(record: &IngestionRecord) -> Option<Vec<SupervisorHistoryEntry>> {
    if IngestionSpec::from_value(&record.spec).map(|s| s.supervisor.is_none()).unwrap_or(true) {
        return None;
    }
    let name = &record.name;
    let tombstone = json!({"type": "NoopSupervisorSpec", "dataSources": [name], "suspended": false});
    Some(
        record
            .history
            .iter()
            .rev()
            .filter(|h| h.kind != "reset")
            .map(|h| SupervisorHistoryEntry {
                spec: if matches!(h.kind.as_str(), "terminated" | "deleted") {
                    tombstone.clone()
                } else {
                    redact_secrets(&h.spec)
                },
                version: rfc3339(h.at_ms),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_druids_numbers_or_text() {
        assert_eq!(serde_json::to_value(Offset(Pointer::from(7))).unwrap(), json!(7));
        let seq: Pointer = "49590338271490256608559692538361571095921575989136588898".parse().unwrap();
        assert_eq!(serde_json::to_value(Offset(seq.clone())).unwrap(), json!(seq.to_string()));
        assert_eq!(partition_id(SourceType::Kinesis, 3), "shardId-000000000003");
        assert_eq!(
            current_offset(SourceType::Kafka, Some(&StartPosition::After(Pointer::from(9)))),
            Some(Pointer::from(10))
        );
        assert_eq!(current_offset(SourceType::Kinesis, Some(&StartPosition::After(seq.clone()))), Some(seq));
        assert_eq!(current_offset(SourceType::Kafka, Some(&StartPosition::Earliest)), None);
    }

    #[test]
    fn row_stats_are_druids_exclusive_counts() {
        let c = ShardCounters {
            total_processed_count: 10,
            total_invalid_message_count: 2,
            total_failed_count: 4,
            total_thrown_away_count: 1,
            total_processed_with_error_count: 1,
            ..Default::default()
        };
        let r = RowStats::from_counters(&c);
        assert_eq!((r.processed, r.processed_with_error, r.unparseable, r.thrown_away), (5, 1, 3, 1));
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"processed": 5, "processedWithError": 1, "unparseable": 3, "thrownAway": 1})
        );
    }
}
