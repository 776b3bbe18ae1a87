//! The manager's Druid supervisor reports as `sluice.v1` messages (the
//! `Supervisors` service), field by field. Pure data mapping: no decisions
//! are made here.

use super::proto as pb;
use crate::manager::{
    ExceptionEvent, Offset, RowStats, SubmitOutcome, SupervisorHistoryEntry, SupervisorState, SupervisorStats,
    SupervisorStatus, SupervisorSummary, TaskReport,
};
use std::collections::BTreeMap;

pub fn submit_outcome(o: SubmitOutcome) -> pb::SubmitOutcome {
    match o {
        SubmitOutcome::Created => pb::SubmitOutcome::Created,
        SubmitOutcome::Replaced => pb::SubmitOutcome::Replaced,
        SubmitOutcome::Unchanged => pb::SubmitOutcome::Unchanged,
    }
}

fn state(s: SupervisorState) -> i32 {
    (match s {
        SupervisorState::Pending => pb::SupervisorState::Pending,
        SupervisorState::Running => pb::SupervisorState::Running,
        SupervisorState::Idle => pb::SupervisorState::Idle,
        SupervisorState::Suspended => pb::SupervisorState::Suspended,
        SupervisorState::Stopping => pb::SupervisorState::Stopping,
        SupervisorState::UnhealthySupervisor => pb::SupervisorState::UnhealthySupervisor,
        SupervisorState::UnhealthyTasks => pb::SupervisorState::UnhealthyTasks,
        SupervisorState::CreatingTasks => pb::SupervisorState::CreatingTasks,
        SupervisorState::UnableToConnectToStream => pb::SupervisorState::UnableToConnectToStream,
        SupervisorState::LostContactWithStream => pb::SupervisorState::LostContactWithStream,
    }) as i32
}

/// Offsets as text (a Kinesis sequence number fits no integer type).
fn offsets(o: BTreeMap<String, Offset>) -> BTreeMap<String, String> {
    o.into_iter().map(|(partition, offset)| (partition, offset.0.to_string())).collect()
}

pub fn summary(s: SupervisorSummary) -> pb::Supervisor {
    pb::Supervisor {
        id: s.id,
        spec_json: s.spec.to_string(),
        state: state(s.state),
        detailed_state: state(s.detailed_state),
        healthy: s.healthy,
        suspended: s.suspended,
    }
}

fn task(t: TaskReport) -> pb::SupervisorTask {
    pb::SupervisorTask {
        id: t.id,
        starting_offsets: offsets(t.starting_offsets.unwrap_or_default()),
        start_time_ms: t.start_time,
        remaining_seconds: t.remaining_seconds,
        r#type: t.kind,
        current_offsets: offsets(t.current_offsets.unwrap_or_default()),
        lag: t.lag.unwrap_or_default(),
    }
}

fn error(e: ExceptionEvent) -> pb::SupervisorError {
    pb::SupervisorError {
        timestamp_ms: e.timestamp,
        exception_class: e.exception_class,
        message: e.message,
        stream_exception: e.stream_exception,
    }
}

pub fn status(s: SupervisorStatus) -> pb::SupervisorStatus {
    pb::SupervisorStatus {
        data_source: s.data_source,
        stream: s.stream,
        partitions: s.partitions,
        replicas: s.replicas,
        duration_seconds: s.duration_seconds,
        active_tasks: s.active_tasks.into_iter().map(task).collect(),
        publishing_tasks: s.publishing_tasks.into_iter().map(task).collect(),
        latest_offsets: offsets(s.latest_offsets),
        current_offsets: offsets(s.current_offsets),
        minimum_lag: s.minimum_lag,
        aggregate_lag: s.aggregate_lag,
        offsets_last_updated_ms: s.offsets_last_updated,
        suspended: s.suspended,
        healthy: s.healthy,
        state: state(s.state),
        detailed_state: state(s.detailed_state),
        recent_errors: s.recent_errors.into_iter().map(error).collect(),
    }
}

pub fn health(s: &SupervisorStatus) -> pb::SupervisorHealth {
    pb::SupervisorHealth { healthy: s.healthy, state: state(s.state), detailed_state: state(s.detailed_state) }
}

fn row_stats(r: RowStats) -> pb::RowStats {
    pb::RowStats {
        processed: r.processed,
        processed_with_error: r.processed_with_error,
        unparseable: r.unparseable,
        thrown_away: r.thrown_away,
    }
}

pub fn stats(id: String, s: SupervisorStats) -> pb::SupervisorStats {
    pb::SupervisorStats {
        id,
        partitions: s.partitions.into_iter().map(|(p, r)| (p, row_stats(r))).collect(),
        totals: Some(row_stats(s.totals)),
    }
}

pub fn history(h: SupervisorHistoryEntry) -> pb::SupervisorHistoryEntry {
    pb::SupervisorHistoryEntry { spec_json: h.spec.to_string(), version: h.version }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pointer::Pointer;
    use serde_json::json;

    #[test]
    fn every_status_field_has_its_typed_field() {
        let seq: Pointer = "49590338271490256608559692538361571095921575989136588898".parse().unwrap();
        let p = "shardId-000000000001".to_string();
        let s = SupervisorStatus {
            data_source: "ds".into(),
            stream: "events".into(),
            partitions: 2,
            replicas: 1,
            duration_seconds: 3600,
            active_tasks: vec![TaskReport {
                id: "index_kinesis_ds_1".into(),
                starting_offsets: None,
                start_time: Some(1_000),
                remaining_seconds: Some(42),
                kind: "ACTIVE".into(),
                current_offsets: Some(BTreeMap::from([(p.clone(), Offset(seq.clone()))])),
                lag: Some(BTreeMap::from([(p.clone(), 7)])),
            }],
            publishing_tasks: vec![],
            latest_offsets: BTreeMap::from([(p.clone(), Offset(seq.clone()))]),
            current_offsets: BTreeMap::from([(p.clone(), Offset(seq.clone()))]),
            minimum_lag: BTreeMap::from([(p.clone(), 7)]),
            aggregate_lag: Some(7),
            offsets_last_updated: Some(2_000),
            suspended: false,
            healthy: false,
            state: SupervisorState::UnhealthyTasks,
            detailed_state: SupervisorState::UnhealthyTasks,
            recent_errors: vec![ExceptionEvent {
                timestamp: Some(1_500),
                exception_class: "sluice.PositionLost".into(),
                message: "partition shardId-000000000001: gone".into(),
                stream_exception: true,
            }],
        };
        let h = health(&s);
        assert_eq!(
            (h.healthy, h.state, h.detailed_state),
            (false, pb::SupervisorState::UnhealthyTasks as i32, pb::SupervisorState::UnhealthyTasks as i32)
        );
        let m = status(s);
        assert_eq!((m.data_source.as_str(), m.stream.as_str(), m.partitions, m.replicas), ("ds", "events", 2, 1));
        assert_eq!((m.duration_seconds, m.aggregate_lag, m.offsets_last_updated_ms), (3600, Some(7), Some(2_000)));
        assert_eq!(m.current_offsets[&p], seq.to_string(), "a sequence number, exactly");
        assert_eq!((m.latest_offsets.len(), m.minimum_lag[&p]), (1, 7));
        let t = &m.active_tasks[0];
        assert_eq!(
            (t.id.as_str(), t.r#type.as_str(), t.start_time_ms, t.remaining_seconds),
            ("index_kinesis_ds_1", "ACTIVE", Some(1_000), Some(42))
        );
        assert_eq!(
            (t.current_offsets[&p].as_str(), t.lag[&p], t.starting_offsets.len()),
            (seq.to_string().as_str(), 7, 0)
        );
        let e = &m.recent_errors[0];
        assert_eq!(
            (e.timestamp_ms, e.exception_class.as_str(), e.stream_exception),
            (Some(1_500), "sluice.PositionLost", true)
        );
        // JSON for `sluice ctl --json`: enums by name.
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            (v["state"].clone(), v["detailed_state"].clone()),
            (json!("UNHEALTHY_TASKS"), json!("UNHEALTHY_TASKS"))
        );
        assert_eq!(v["active_tasks"][0]["type"], "ACTIVE");
    }

    #[test]
    fn row_stats_map_per_partition_and_in_all() {
        let r = |n| RowStats { processed: n, processed_with_error: n + 1, unparseable: n + 2, thrown_away: n + 3 };
        let s = stats(
            "ds".into(),
            SupervisorStats { partitions: BTreeMap::from([("0".into(), r(1)), ("1".into(), r(10))]), totals: r(11) },
        );
        assert_eq!(s.id, "ds");
        let one = &s.partitions["1"];
        assert_eq!((one.processed, one.processed_with_error, one.unparseable, one.thrown_away), (10, 11, 12, 13));
        assert_eq!(s.totals.unwrap().thrown_away, 14);
        assert_eq!(submit_outcome(SubmitOutcome::Unchanged), pb::SubmitOutcome::Unchanged);
        let v = serde_json::to_value(pb::SubmitSupervisorResponse {
            outcome: pb::SubmitOutcome::Replaced as i32,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(v["outcome"], "REPLACED");
    }
}
