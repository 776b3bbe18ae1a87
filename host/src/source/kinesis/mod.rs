//! The `kinesis` source: Amazon Kinesis Data Streams through aws-sdk-kinesis.
//!
//! **Shards to partitions.** Kinesis names shards `shardId-<12 digits>` and
//! numbers them increasingly as they are created: the initial shards are 0..n,
//! and a split or merge creates the next numbers. Partition N is the shard
//! numbered N, which is also its place in ListShards' order (sorted by shard
//! id) as long as no closed shard has expired; unlike the place, the number
//! never changes, so sluice shard N keeps reading the same Kinesis shard (and
//! committing to the same sink) forever. Closed parent shards count: they keep
//! their partition, are drained, and then report `closed` (the sluice shard
//! shows `CLOSED`). Children of a split get new partitions: with spare
//! `index.number_of_shards` they are picked up while running (see
//! [`RELIST_INTERVAL`]); otherwise the next start asks for more shards.
//! Shard ids of another form (an emulator that numbers differently) fall back
//! to the sorted position.
//!
//! **Pointers** are sequence numbers (decimal strings of ~56 digits, compared
//! numerically as [`Pointer`](crate::pointer::Pointer)s). Start positions map to iterator types:
//! `Earliest` -> TRIM_HORIZON, `Latest` -> LATEST, `At(p)` ->
//! AT_SEQUENCE_NUMBER, `Timestamp(ms)` -> AT_TIMESTAMP, and `After(p)` (the
//! sink's checkpoint) -> AT_SEQUENCE_NUMBER p, dropping p itself: reading p
//! again proves it still exists, so a checkpoint that retention trimmed away
//! (or that belongs to a deleted and recreated stream) is reported as
//! [`SourceError::PositionLost`] instead of silently skipping to the trim
//! horizon. An expired iterator (unused for 5 minutes, e.g. while a full
//! queue blocked the poller) is re-acquired AFTER_SEQUENCE_NUMBER the last
//! record read.
//!
//! **Service limits.** One GetRecords call returns at most `min(max, 10,000)`
//! records, and calls on one shard are at least 200 ms apart (5 calls a
//! second). Empty reads at the tip back off to one call a second; throttling
//! (ProvisionedThroughputExceeded, LimitExceeded, ...) backs off exponentially
//! up to 10 s, keeping the same iterator. Other failures (endpoint
//! unreachable, timeouts, 5xx) end the session as [`SourceError::Unavailable`]:
//! the shard supervisor shows the error, retries with backoff and resumes from
//! the sink's checkpoint, so nothing is lost or repeated.
//!
//! **Async inside, blocking outside.** The SDK is async; the engine's readers
//! are blocking and run on the shards' poller threads. The source owns one
//! small tokio runtime (one worker thread) that drives every SDK call; a
//! reader spawns its call there and waits on a plain channel. A call that
//! outlives a poll's timeout stays in flight and is picked up by the next poll,
//! so polls return on time (stop and pause stay snappy) without abandoning
//! requests. Every call has connect and operation timeouts.
//!
//! **Credentials** (`param.access_key` + `param.secret_key`, else the SDK's
//! default chain: environment, profile, web identity, ECS, IMDS) are handed to
//! the SDK and never kept, logged or shown: no type here derives `Debug`
//! over them.
//!
//! Parts: `config.rs` (`param.*`, credentials and the SDK client),
//! `client.rs` (SDK calls from blocking code, shard listing, error
//! classification), `reader.rs` (a shard's reader).

mod client;
mod config;
mod reader;

use crate::pointer::StartPosition;
use crate::source::{PartitionReader, Source, SourceError};
use aws_sdk_kinesis::Client;
use reader::{KinesisReader, Position};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};

/// GetRecords returns at most this many records a call.
const MAX_RECORDS_PER_CALL: usize = 10_000;
/// Kinesis allows 5 GetRecords calls a second per shard.
const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
/// At the tip, empty reads back off from [`MIN_CALL_INTERVAL`] to this.
const MAX_IDLE_INTERVAL: Duration = Duration::from_secs(1);
const FIRST_THROTTLE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_THROTTLE_BACKOFF: Duration = Duration::from_secs(10);
/// How often a reader whose shard does not exist yet lists the shards again.
pub const RELIST_INTERVAL: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bounds every SDK call (GetRecords returns at most 10 MiB).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kinesis data stream.
pub struct KinesisSource {
    stream: String,
    client: Client,
    /// `Some` until drop; see [`Drop`].
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Drop for KinesisSource {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end and panics inside an
        // async context; the last owner may be anywhere, so shut down in the
        // background (readers abort their in-flight calls on drop anyway).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Source for KinesisSource {
    fn partition_count(&self) -> Result<u32, SourceError> {
        Ok(self.partitions()?.keys().next_back().map_or(0, |n| n + 1))
    }

    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError> {
        let shard_id = self.partitions()?.remove(&partition);
        let (mut position, verify) = match &start {
            StartPosition::Earliest => (Position::TrimHorizon, None),
            StartPosition::Latest => (Position::Latest, None),
            StartPosition::At(p) => (Position::AtSequence(p.to_string()), None),
            StartPosition::After(p) => (Position::AtSequence(p.to_string()), Some(p.clone())),
            StartPosition::Timestamp(ms) => (Position::AtTimestamp(*ms), None),
        };
        if shard_id.is_none() && position == Position::Latest {
            // The shard does not exist yet (a future child of a split):
            // everything it will ever hold arrives after this open.
            position = Position::TrimHorizon;
        }
        tracing::debug!(partition, shard = shard_id.as_deref().unwrap_or("(not yet created)"), %start, "kinesis reader opens");
        Ok(Box::new(KinesisReader {
            partition,
            stream: self.stream.clone(),
            client: self.client.clone(),
            handle: self.handle.clone(),
            shard_id,
            start,
            position,
            verify,
            iterator: None,
            pending: None,
            buffered: VecDeque::new(),
            next_call: Instant::now(),
            idle_interval: MIN_CALL_INTERVAL,
            throttle_backoff: FIRST_THROTTLE_BACKOFF,
            next_list: Instant::now() + RELIST_INTERVAL,
            caught_up: false,
            closed: false,
            time_lag_ms: None,
        }))
    }
}
