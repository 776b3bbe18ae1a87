//! Conversions between the manager's types and the `sluice.v1` messages.
//! Pure data mapping: no decisions are made here.

use super::proto as pb;
use crate::engine::PollStatsReport;
use crate::engine::control::{BlockCause, PollerState, ShardStatus};
use crate::manager::{IngestionInfo, ResetMode, ResetRequest};
use crate::sink::StoredDoc;
use crate::spec::{ErrorStrategy, SourceType};
use crate::state::{HistoryEntry, PluginRecord};
use crate::stats::PollingIngestStats;
use tonic::Status;

pub fn ingestion(i: IngestionInfo) -> pb::Ingestion {
    pb::Ingestion {
        name: i.name,
        spec_json: i.spec.to_string(),
        shards: i.shards,
        source_type: source_type(i.source_type).into(),
        plugin: Some(pb::PluginRef { name: i.plugin.name, version: i.plugin.version, sha256: i.plugin.sha256 }),
        paused_shards: i.paused_shards,
        error_strategy: error_policy(i.error_strategy) as i32,
        start_error: i.start_error,
        created_at_ms: i.created_at_ms,
        updated_at_ms: i.updated_at_ms,
    }
}

fn source_type(t: SourceType) -> &'static str {
    match t {
        SourceType::File => "file",
        SourceType::Kafka => "kafka",
        SourceType::Kinesis => "kinesis",
    }
}

fn error_policy(s: ErrorStrategy) -> pb::ErrorPolicy {
    match s {
        ErrorStrategy::Drop => pb::ErrorPolicy::Drop,
        ErrorStrategy::Block => pb::ErrorPolicy::Block,
    }
}

fn poller_state(s: PollerState) -> pb::PollerState {
    match s {
        PollerState::Starting => pb::PollerState::Starting,
        PollerState::Polling => pb::PollerState::Polling,
        PollerState::Processing => pb::PollerState::Processing,
        PollerState::Paused => pb::PollerState::Paused,
        PollerState::Blocked => pb::PollerState::Blocked,
        PollerState::Retrying => pb::PollerState::Retrying,
        PollerState::Closed => pb::PollerState::Closed,
        PollerState::Elsewhere => pb::PollerState::Elsewhere,
    }
}

pub fn shard_state(s: &ShardStatus) -> pb::ShardState {
    pb::ShardState {
        shard: s.shard,
        state: poller_state(s.state) as i32,
        paused: s.paused,
        error_strategy: error_policy(s.error_strategy) as i32,
        idle: s.idle,
        committed_position: s.meta.resume.as_ref().map(|p| p.to_string()),
        last_pointer: s.meta.last_pointer.as_ref().map(|p| p.to_string()),
        pointer_lag: s.consumer.pointer_based_lag,
        time_lag_ms: s.consumer.lag_in_millis,
        blocked: s.blocked.as_ref().map(|b| pb::Blocked {
            pointer: b.pointer.to_string(),
            reason: b.reason.clone(),
            cause: match b.cause {
                BlockCause::InvalidMessage => "invalid_message",
                BlockCause::PositionLost => "position_lost",
            }
            .into(),
        }),
        last_error: s.last_error.as_ref().map(|e| pb::ShardError {
            pointer: e.pointer.as_ref().map(|p| p.to_string()),
            message: e.message.clone(),
            at_ms: e.at_ms,
        }),
        live_docs: s.meta.live_docs,
        poll_stats: Some(poll_stats(&s.poll)),
        lease: s.lease.as_ref().map(|l| pb::ShardLease {
            owner: l.owner.clone(),
            epoch: l.epoch,
            expires_at_ms: l.expires_at_ms,
        }),
        fenced: s.fenced,
    }
}

/// A cluster host's lease counters.
pub fn cluster_host(host_id: &str, m: &crate::cluster::MetricsSnapshot) -> pb::ClusterHost {
    pb::ClusterHost {
        host_id: host_id.to_string(),
        leases_held: m.held,
        leases_acquired: m.acquired,
        leases_lost: m.lost,
        leases_stolen: m.stolen,
        failovers: m.failovers,
        last_failover_ms: m.failover_ms_last,
        max_failover_ms: m.failover_ms_max,
    }
}

pub fn poll_stats(p: &PollStatsReport) -> pb::PollStats {
    let s = &p.stats;
    pb::PollStats {
        last_poll_timestamp_ms: s.last_poll_timestamp,
        last_successful_poll_ms: s.last_successful_poll,
        poll_count: s.poll_count,
        successful_polls_count: s.successful_polls_count,
        empty_polls_count: s.empty_polls_count,
        total_documents_fetched: s.total_documents_fetched,
        total_bytes_processed: s.total_bytes_processed,
        error_count: s.error_count,
        consumer_error_count: s.consumer_error_count,
        batches_processed: s.batches_processed,
        avg_batch_processing_time_ms: p.avg_batch_processing_time_ms,
        p50_batch_processing_time_ms: p.p50_batch_processing_time_ms,
        p99_batch_processing_time_ms: p.p99_batch_processing_time_ms,
    }
}

/// One shard's `polling_ingest_stats` as the typed message.
pub fn shard_stats(shard: u32, stats: PollingIngestStats) -> pb::ShardStats {
    let (p, c) = (stats.message_processor_stats, stats.consumer_stats);
    pb::ShardStats {
        shard,
        polling_ingest_stats: Some(pb::PollingIngestStats {
            message_processor_stats: Some(pb::MessageProcessorStats {
                total_processed_count: p.total_processed_count,
                total_invalid_message_count: p.total_invalid_message_count,
                total_version_conflicts_count: p.total_version_conflicts_count,
                total_failed_count: p.total_failed_count,
                total_failures_dropped_count: p.total_failures_dropped_count,
                total_processor_thread_interrupt_count: p.total_processor_thread_interrupt_count,
                total_skipped_count: p.total_skipped_count,
                total_ops_applied_count: p.total_ops_applied_count,
            }),
            consumer_stats: Some(pb::ConsumerStats {
                total_polled_count: c.total_polled_count,
                total_consumer_error_count: c.total_consumer_error_count,
                total_poller_message_failure_count: c.total_poller_message_failure_count,
                total_poller_message_dropped_count: c.total_poller_message_dropped_count,
                total_duplicate_message_skipped_count: c.total_duplicate_message_skipped_count,
                lag_in_millis: c.lag_in_millis,
                pointer_based_lag: c.pointer_based_lag,
            }),
        }),
    }
}

pub fn history(h: HistoryEntry) -> pb::HistoryEntry {
    pb::HistoryEntry { at_ms: h.at_ms, kind: h.kind, spec_json: h.spec.to_string(), detail: h.detail }
}

pub fn plugin(p: PluginRecord) -> pb::Plugin {
    pb::Plugin {
        name: p.name,
        version: p.version,
        sha256: p.sha256,
        size: p.size,
        registered_at_ms: p.registered_at_ms,
    }
}

pub fn document(id: String, shard: u32, doc: StoredDoc) -> pb::Document {
    pb::Document { id, shard, version: doc.version, source_json: String::from_utf8_lossy(&doc.source).into_owned() }
}

pub fn dropped(shard: u32, d: crate::sink::DroppedMessage) -> pb::DroppedMessage {
    pb::DroppedMessage { shard, pointer: d.pointer.to_string(), reason: d.reason, payload: d.payload }
}

/// A reset as the manager takes it (it validates the mode's value).
pub fn reset(r: &pb::ShardReset) -> Result<ResetRequest, Status> {
    let mode = match pb::ResetMode::try_from(r.mode) {
        Ok(pb::ResetMode::Offset) => ResetMode::Offset,
        Ok(pb::ResetMode::Timestamp) => ResetMode::Timestamp,
        Ok(pb::ResetMode::Earliest) => ResetMode::Earliest,
        Ok(pb::ResetMode::Latest) => ResetMode::Latest,
        Ok(pb::ResetMode::Unspecified) | Err(_) => {
            return Err(Status::invalid_argument(format!(
                "reset of shard {}: mode is required (OFFSET, TIMESTAMP, EARLIEST or LATEST)",
                r.shard
            )));
        }
    };
    Ok(ResetRequest { shard: r.shard, mode, value: r.value.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::control::ConsumerStats;
    use crate::sink::ShardCounters;

    #[test]
    fn every_polling_ingest_stats_field_has_its_typed_field() {
        let counters = ShardCounters {
            total_processed_count: 10,
            total_invalid_message_count: 2,
            total_version_conflicts_count: 3,
            total_failed_count: 2,
            total_failures_dropped_count: 2,
            total_skipped_count: 1,
            total_ops_applied_count: 5,
            ..Default::default()
        };
        let consumer = ConsumerStats {
            total_polled_count: 12,
            total_consumer_error_count: 1,
            lag_in_millis: 7,
            pointer_based_lag: Some(4),
        };
        let s = shard_stats(2, PollingIngestStats::new(&counters, Some(&consumer)));
        let p = s.polling_ingest_stats.unwrap();
        let m = p.message_processor_stats.unwrap();
        let c = p.consumer_stats.unwrap();
        assert_eq!(s.shard, 2);
        assert_eq!(
            (
                m.total_processed_count,
                m.total_invalid_message_count,
                m.total_version_conflicts_count,
                m.total_failed_count
            ),
            (10, 2, 3, 2)
        );
        assert_eq!((m.total_failures_dropped_count, m.total_skipped_count, m.total_ops_applied_count), (2, 1, 5));
        assert_eq!(
            (c.total_polled_count, c.total_consumer_error_count, c.lag_in_millis, c.pointer_based_lag),
            (12, 1, 7, Some(4))
        );
        let none = shard_stats(0, PollingIngestStats::new(&counters, None));
        assert_eq!(none.polling_ingest_stats.unwrap().consumer_stats.unwrap().pointer_based_lag, None);
    }

    #[test]
    fn reset_modes_map_to_the_managers_modes_and_unspecified_is_refused() {
        let r = |mode: pb::ResetMode, value: Option<&str>| pb::ShardReset {
            shard: 1,
            mode: mode as i32,
            value: value.map(Into::into),
        };
        assert_eq!(reset(&r(pb::ResetMode::Offset, Some("5"))).unwrap().mode, ResetMode::Offset);
        assert_eq!(reset(&r(pb::ResetMode::Timestamp, Some("1"))).unwrap().mode, ResetMode::Timestamp);
        assert_eq!(reset(&r(pb::ResetMode::Earliest, None)).unwrap().mode, ResetMode::Earliest);
        assert_eq!(reset(&r(pb::ResetMode::Latest, None)).unwrap().value, None);
        let e = reset(&r(pb::ResetMode::Unspecified, None)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("shard 1"), "{}", e.message());
        // Every mode gives a position.
        for mode in [pb::ResetMode::Offset, pb::ResetMode::Timestamp, pb::ResetMode::Earliest, pb::ResetMode::Latest] {
            reset(&r(mode, Some("3"))).unwrap().position().unwrap();
        }
    }

    #[test]
    fn enums_serialize_by_short_name() {
        let s = pb::ShardState {
            state: pb::PollerState::Blocked as i32,
            error_strategy: pb::ErrorPolicy::Drop as i32,
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!((v["state"].as_str(), v["error_strategy"].as_str()), (Some("BLOCKED"), Some("DROP")));
    }
}
