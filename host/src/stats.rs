//! Statistics in the shape of OpenSearch's `polling_ingest_stats`.

use crate::engine::control::ConsumerStats;
use crate::sink::ShardCounters;
use serde_json::{json, Value};

/// One shard's `polling_ingest_stats`, with OpenSearch's field names (and
/// sluice's additions, prefixed by nothing but documented in the README).
/// `consumer` is `None` when the shard is not running (those counters live
/// in memory).
pub fn polling_ingest_stats(counters: &ShardCounters, consumer: Option<&ConsumerStats>) -> Value {
    let consumer = consumer.copied().unwrap_or_default();
    json!({
        "polling_ingest_stats": {
            "message_processor_stats": {
                "total_processed_count": counters.total_processed_count,
                "total_invalid_message_count": counters.total_invalid_message_count,
                "total_version_conflicts_count": counters.total_version_conflicts_count,
                "total_failed_count": counters.total_failed_count,
                "total_failures_dropped_count": counters.total_failures_dropped_count,
                "total_processor_thread_interrupt_count": 0,
                "total_skipped_count": counters.total_skipped_count,
                "total_ops_applied_count": counters.total_ops_applied_count,
            },
            "consumer_stats": {
                "total_polled_count": consumer.total_polled_count,
                "total_consumer_error_count": consumer.total_consumer_error_count,
                "total_poller_message_failure_count": 0,
                "total_poller_message_dropped_count": 0,
                "total_duplicate_message_skipped_count": 0,
                "lag_in_millis": consumer.lag_in_millis,
                "pointer_based_lag": consumer.pointer_based_lag,
            }
        }
    })
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
        assert_eq!(p["consumer_stats"]["total_polled_count"], 0);
        assert_eq!(p["consumer_stats"]["lag_in_millis"], 0);
    }
}
