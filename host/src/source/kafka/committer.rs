//! The consumer-group committer: mirrors the sink's committed positions to
//! `param.group.id` (informational only, never read back).

use super::client::KafkaConsumer;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Consumer-group commits are coalesced: at most one request per interval.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// How long the last group commit may take when the source shuts down.
const FINAL_COMMIT_WAIT: Duration = Duration::from_secs(2);

/// Commits the latest offsets per partition to the consumer group, at most
/// once per [`COMMIT_INTERVAL`], and a last time when the source is dropped.
pub(super) fn commit_loop(consumer: &KafkaConsumer, topic: &str, rx: &Receiver<(i32, i64)>) {
    let mut pending: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_flush = Instant::now();
    // The last commit sent; confirmed once more before the thread ends.
    let mut unconfirmed: Option<TopicPartitionList> = None;
    loop {
        let closed = match rx.recv_timeout(COMMIT_INTERVAL.saturating_sub(last_flush.elapsed())) {
            // The latest wins, even if lower: after a pointer reset the group
            // mirrors the sink's new position.
            Ok((partition, next)) => {
                pending.insert(partition, next);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if (closed || last_flush.elapsed() >= COMMIT_INTERVAL) && !pending.is_empty() {
            last_flush = Instant::now();
            let mut tpl = TopicPartitionList::new();
            let mut ok = true;
            for (partition, next) in std::mem::take(&mut pending) {
                ok &= tpl.add_partition_offset(topic, partition, Offset::Offset(next)).is_ok();
            }
            // Asynchronous: a slow or absent coordinator must not hold up
            // the next commits (nor, below, the shutdown for long).
            match ok.then(|| consumer.commit(&tpl, CommitMode::Async)) {
                Some(Ok(())) => unconfirmed = Some(tpl),
                Some(Err(e)) => tracing::warn!(error = %e, "committing offsets to the consumer group failed"),
                None => tracing::warn!("offsets to commit do not fit a partition list"),
            }
        }
        if closed {
            // Before the consumer closes (and the process may exit): librdkafka
            // gives no callback for these commits here, but an offset fetch
            // from the same coordinator is answered after the commit, so it
            // bounds the wait for it.
            if let Some(tpl) = unconfirmed
                && let Err(e) = consumer.committed_offsets(tpl, FINAL_COMMIT_WAIT)
            {
                tracing::warn!(error = %e, "the last consumer-group commit may not have completed");
            }
            return;
        }
        // Serves the consumer's events (logs, errors) so its queue stays short.
        for _ in 0..16 {
            let _ = consumer.poll(Duration::ZERO);
        }
    }
}
