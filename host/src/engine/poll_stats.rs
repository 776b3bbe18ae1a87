//! Poll statistics of a shard: what its poller read and how long its batches
//! took, in the names of Iggy's connector state records.
//!
//! They count reads, not effects: a batch read and not committed before a
//! restart is read (and counted) again. Unlike the counters committed with
//! the data ([`crate::sink::ShardCounters`], exact), these are kept in
//! memory and saved by the manager at an interval, so a crash loses at most
//! one interval of them. The recent window of batch times is memory only.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// How many recent batch processing times the percentiles are taken over.
pub const RECENT_BATCHES: usize = 1024;

/// The counters (saved with the shard's state record; serde defaults let an
/// older or partial record load).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PollStats {
    /// When the last poll returned (ms since the epoch; RFC 3339 in JSON).
    #[serde(with = "crate::util::rfc3339_opt")]
    pub last_poll_timestamp: Option<i64>,
    /// When the last poll that returned messages returned.
    #[serde(with = "crate::util::rfc3339_opt")]
    pub last_successful_poll: Option<i64>,
    /// Every poll: `successful_polls_count + empty_polls_count + consumer_error_count`.
    pub poll_count: u64,
    /// Polls that returned at least one message.
    pub successful_polls_count: u64,
    /// Polls that returned none (waiting at the end of the partition).
    pub empty_polls_count: u64,
    /// Messages read (OpenSearch's `total_polled_count`).
    pub total_documents_fetched: u64,
    /// Payload bytes of the messages read.
    pub total_bytes_processed: u64,
    /// Every error the shard recorded: a failed poll, sink commit or plugin
    /// instantiation (each retry that fails again counts), a failed pointer
    /// reset or plugin swap, and each block at a message or a lost position.
    pub error_count: u64,
    /// Polls that failed (OpenSearch's `total_consumer_error_count`).
    pub consumer_error_count: u64,
    /// Batches with messages committed to the sink.
    pub batches_processed: u64,
    /// Their processing time in all, from a batch's arrival at the processor
    /// to its durable commit, in microseconds.
    pub total_batch_processing_time_us: u64,
}

/// The counters and what is derived from them and the recent window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PollStatsReport {
    #[serde(flatten)]
    pub stats: PollStats,
    /// Mean processing time of every batch counted.
    pub avg_batch_processing_time_ms: f64,
    /// Median and 99th percentile over the last [`RECENT_BATCHES`] batches
    /// (since this process started the shard); 0 without any.
    pub p50_batch_processing_time_ms: f64,
    pub p99_batch_processing_time_ms: f64,
}

/// The live statistics of one shard: the counters and the recent window.
#[derive(Debug, Default)]
pub struct PollRecorder {
    stats: PollStats,
    /// Processing times of the recent batches, in microseconds, oldest first.
    recent: VecDeque<u64>,
}

impl PollRecorder {
    /// Continues from saved counters (the window starts empty).
    pub fn restored(stats: PollStats) -> Self {
        PollRecorder { stats, recent: VecDeque::new() }
    }

    /// A poll returned `messages` messages holding `bytes` payload bytes.
    pub fn poll(&mut self, messages: u64, bytes: u64, now_ms: i64) {
        let s = &mut self.stats;
        s.poll_count += 1;
        s.last_poll_timestamp = Some(now_ms);
        if messages == 0 {
            s.empty_polls_count += 1;
        } else {
            s.successful_polls_count += 1;
            s.last_successful_poll = Some(now_ms);
            s.total_documents_fetched += messages;
            s.total_bytes_processed += bytes;
        }
    }

    /// A poll failed (the error itself is recorded with [`PollRecorder::error`]).
    pub fn poll_failed(&mut self, now_ms: i64) {
        self.stats.poll_count += 1;
        self.stats.consumer_error_count += 1;
        self.stats.last_poll_timestamp = Some(now_ms);
    }

    pub fn error(&mut self) {
        self.stats.error_count += 1;
    }

    /// Batches committed, with the time each one took.
    pub fn batches(&mut self, times: &[Duration]) {
        for t in times {
            let us = t.as_micros().min(u64::MAX as u128) as u64;
            self.stats.batches_processed += 1;
            self.stats.total_batch_processing_time_us += us;
            if self.recent.len() == RECENT_BATCHES {
                self.recent.pop_front();
            }
            self.recent.push_back(us);
        }
    }

    pub fn stats(&self) -> &PollStats {
        &self.stats
    }

    pub fn report(&self) -> PollStatsReport {
        let s = &self.stats;
        let avg = if s.batches_processed == 0 {
            0.0
        } else {
            s.total_batch_processing_time_us as f64 / s.batches_processed as f64 / 1000.0
        };
        let mut sorted: Vec<u64> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        PollStatsReport {
            stats: s.clone(),
            avg_batch_processing_time_ms: avg,
            p50_batch_processing_time_ms: percentile(&sorted, 50),
            p99_batch_processing_time_ms: percentile(&sorted, 99),
        }
    }
}

/// The nearest-rank percentile of sorted microseconds, in ms.
fn percentile(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_kind_of_poll_and_batch() {
        let mut r = PollRecorder::default();
        r.poll(0, 0, 10);
        r.poll(3, 300, 20);
        r.poll(0, 0, 30);
        r.poll_failed(40);
        r.error();
        let s = r.stats().clone();
        assert_eq!((s.poll_count, s.successful_polls_count, s.empty_polls_count, s.consumer_error_count), (4, 1, 2, 1));
        assert_eq!((s.total_documents_fetched, s.total_bytes_processed, s.error_count), (3, 300, 1));
        assert_eq!((s.last_poll_timestamp, s.last_successful_poll), (Some(40), Some(20)));
        let ms = |n: u64| Duration::from_millis(n);
        r.batches(&(1..=100).map(ms).collect::<Vec<_>>());
        let report = r.report();
        assert_eq!(report.stats.batches_processed, 100);
        assert_eq!(report.avg_batch_processing_time_ms, 50.5);
        assert_eq!((report.p50_batch_processing_time_ms, report.p99_batch_processing_time_ms), (50.0, 99.0));
    }

    #[test]
    fn the_window_keeps_the_recent_batches_and_the_counters_all_of_them() {
        let mut r = PollRecorder::restored(PollStats { batches_processed: 7, ..Default::default() });
        r.batches(&vec![Duration::from_millis(100); RECENT_BATCHES]);
        r.batches(&vec![Duration::from_millis(1); RECENT_BATCHES]);
        let report = r.report();
        assert_eq!(report.stats.batches_processed, 7 + 2 * RECENT_BATCHES as u64);
        assert_eq!(report.p99_batch_processing_time_ms, 1.0, "the older batches left the window");
    }

    #[test]
    fn saved_counters_read_back_and_older_records_default_what_they_lack() {
        let s = PollStats { last_poll_timestamp: Some(1_700_000_000_123), poll_count: 5, ..Default::default() };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["last_poll_timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(json["last_successful_poll"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<PollStats>(json).unwrap(), s);
        let partial: PollStats = serde_json::from_str(r#"{"poll_count": 2}"#).unwrap();
        assert_eq!((partial.poll_count, partial.error_count), (2, 0));
    }
}
