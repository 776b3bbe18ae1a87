//! Sources: where messages come from.
//!
//! A [`Source`] knows a stream (a Kafka topic, a Kinesis stream, a directory
//! of NDJSON files) and opens one [`PartitionReader`] per shard: shard N reads
//! partition N. Readers are blocking and run on the shard's poller thread.

pub mod file;
pub mod kafka;
pub mod kinesis;
pub mod vec;
mod wakeup;

use crate::pointer::{Pointer, StartPosition};
use crate::spec::SourceType;
use std::time::Duration;
pub use wakeup::{Seen, Wakeup, Woken};

/// A header attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// One message as read from a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub pointer: Pointer,
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// `None` for a Kafka tombstone.
    pub payload: Option<Vec<u8>>,
}

/// The result of one poll.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<Message>,
    /// The reader has read everything the partition holds right now.
    pub caught_up: bool,
    /// Messages between the end of this batch and the end of the partition,
    /// when the source knows it cheaply (Kafka's high watermark).
    pub pointer_lag: Option<u64>,
    /// Milliseconds behind the newest message, when the source reports it
    /// (Kinesis' MillisBehindLatest).
    pub time_lag_ms: Option<u64>,
    /// The partition is closed for good (a Kinesis shard after a split or
    /// merge) and this batch ends it: the shard commits it, then shows
    /// `CLOSED` and stops polling (until a pointer reset or a restart).
    pub closed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source misconfigured: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "stream has {partitions} partitions but the ingestion has only {shards} shards; shard N reads partition N, so every partition needs a shard (raise index.number_of_shards, or a Druid spec's sluice.shards)"
    )]
    TooFewShards { partitions: u32, shards: u32 },
    #[error("source type {0:?} is not available in this build")]
    Unsupported(SourceType),
    /// The position to resume from no longer exists (retention deleted it, the
    /// topic was recreated). The shard blocks until its pointer is reset:
    /// never a silent skip.
    #[error("cannot resume at {position}: {reason}; resume the shard with a pointer reset")]
    PositionLost { position: String, reason: String },
    /// A transient failure (broker or endpoint unreachable, throttling): the
    /// shard retries with backoff.
    #[error("source unavailable: {0}")]
    Unavailable(String),
}

/// A stream with numbered partitions.
pub trait Source: Send + Sync {
    /// How many partitions the stream has now.
    fn partition_count(&self) -> Result<u32, SourceError>;

    /// Opens partition `partition` at `start`.
    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError>;

    /// Called after the sink durably committed everything up to `pointer`.
    /// Sources may report progress outside (Kafka: consumer-group offsets for
    /// lag tools); it is never read back as the source of truth.
    fn on_committed(&self, _partition: u32, _pointer: &Pointer) {}
}

/// Reads one partition in order. Blocking.
pub trait PartitionReader: Send {
    /// Returns up to `max` messages, waiting at most `timeout` for the first one.
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Batch, SourceError>;

    /// A handle that makes a waiting `poll` return at once. A reader that
    /// has one waits for data without re-reading (the file source, woken
    /// by the filesystem), so the engine gives it long waits and wakes it
    /// when the shard must stop; readers without one are polled in short
    /// slices.
    fn wakeup(&self) -> Option<Wakeup> {
        None
    }
}

/// Checks that every partition has a shard.
pub fn check_partitions(source: &dyn Source, shards: u32) -> Result<(), SourceError> {
    let partitions = source.partition_count()?;
    if partitions > shards {
        return Err(SourceError::TooFewShards { partitions, shards });
    }
    Ok(())
}
