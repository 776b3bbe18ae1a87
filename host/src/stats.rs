//! Statistics in the shape of OpenSearch's `polling_ingest_stats`, typed
//! until the edge where they become JSON, protobuf or Prometheus text.

use crate::engine::control::ConsumerStats;
use crate::sink::ShardCounters;
use serde::Serialize;
use serde_json::{Value, json};

/// One shard's `polling_ingest_stats`, with OpenSearch's field names (and
/// sluice's additions, documented in the README).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PollingIngestStats {
    pub message_processor_stats: MessageProcessorStats,
    pub consumer_stats: ConsumerStatsReport,
}

/// Committed with the data: exact across crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MessageProcessorStats {
    pub total_processed_count: u64,
    pub total_invalid_message_count: u64,
    pub total_version_conflicts_count: u64,
    pub total_failed_count: u64,
    pub total_failures_dropped_count: u64,
    /// OpenSearch's; sluice never interrupts a processor thread.
    pub total_processor_thread_interrupt_count: u64,
    pub total_skipped_count: u64,
    pub total_ops_applied_count: u64,
}

/// Counted by the poller, in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerStatsReport {
    pub total_polled_count: u64,
    pub total_consumer_error_count: u64,
    /// OpenSearch's; sluice's pollers neither fail nor drop single messages.
    pub total_poller_message_failure_count: u64,
    pub total_poller_message_dropped_count: u64,
    pub total_duplicate_message_skipped_count: u64,
    pub lag_in_millis: u64,
    pub pointer_based_lag: Option<u64>,
}

impl PollingIngestStats {
    /// `consumer` is `None` when the shard is not running (those counters
    /// live in memory).
    pub fn new(counters: &ShardCounters, consumer: Option<&ConsumerStats>) -> Self {
        let consumer = consumer.copied().unwrap_or_default();
        PollingIngestStats {
            message_processor_stats: MessageProcessorStats {
                total_processed_count: counters.total_processed_count,
                total_invalid_message_count: counters.total_invalid_message_count,
                total_version_conflicts_count: counters.total_version_conflicts_count,
                total_failed_count: counters.total_failed_count,
                total_failures_dropped_count: counters.total_failures_dropped_count,
                total_processor_thread_interrupt_count: 0,
                total_skipped_count: counters.total_skipped_count,
                total_ops_applied_count: counters.total_ops_applied_count,
            },
            consumer_stats: ConsumerStatsReport {
                total_polled_count: consumer.total_polled_count,
                total_consumer_error_count: consumer.total_consumer_error_count,
                total_poller_message_failure_count: 0,
                total_poller_message_dropped_count: 0,
                total_duplicate_message_skipped_count: 0,
                lag_in_millis: consumer.lag_in_millis,
                pointer_based_lag: consumer.pointer_based_lag,
            },
        }
    }

    /// `{"polling_ingest_stats": {...}}`, as OpenSearch's stats APIs show it.
    pub fn to_json(&self) -> Value {
        json!({ "polling_ingest_stats": self })
    }
}

/// One shard's `{"polling_ingest_stats": {...}}` JSON.
pub fn polling_ingest_stats(counters: &ShardCounters, consumer: Option<&ConsumerStats>) -> Value {
    PollingIngestStats::new(counters, consumer).to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_opensearch_field_names() {
        let c = ShardCounters { total_processed_count: 5, total_version_conflicts_count: 2, ..Default::default() };
        let v = polling_ingest_stats(&c, None);
        let p = &v["polling_ingest_stats"];
        assert_eq!(p["message_processor_stats"]["total_processed_count"], 5);
        assert_eq!(p["message_processor_stats"]["total_version_conflicts_count"], 2);
        assert_eq!(p["message_processor_stats"]["total_processor_thread_interrupt_count"], 0);
        assert_eq!(p["consumer_stats"]["total_polled_count"], 0);
        assert_eq!(p["consumer_stats"]["lag_in_millis"], 0);
        assert_eq!(p["consumer_stats"]["pointer_based_lag"], Value::Null);
    }
}
