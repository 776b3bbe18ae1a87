//! The `kafka` source: partition N of `param.topic` feeds shard N.
//!
//! Each partition reader owns one librdkafka consumer that is `assign()`ed
//! its single partition at an explicit offset: no group subscription, no
//! rebalance, no auto commit. The shard sink's checkpoint is the only source
//! of truth for positions; when `param.group.id` is set, offsets are also
//! committed to that group after each sink commit (coalesced, asynchronous)
//! so that standard Kafka lag tools see progress, but they are never read
//! back.
//!
//! Every `param.*` except `topic` and `bootstrap_servers` is passed through to
//! librdkafka as a consumer property, as OpenSearch does; [`DEFAULTS`] are
//! set first, so the spec can override any of them.
//!
//! Positions: the pointer is the Kafka offset. A start offset outside the
//! partition's `[low, high]` watermarks (retention deleted it, the topic was
//! recreated) is [`SourceError::PositionLost`], never a silent reset
//! (`auto.offset.reset=error`, unless the spec overrides it).

//!
//! Parts: `config.rs` (`param.*` into a consumer configuration), `client.rs`
//! (the librdkafka client context), `positions.rs` (metadata, watermarks and
//! start offsets), `reader.rs` (a partition's reader), `committer.rs` (the
//! consumer-group offset committer).

mod client;
mod committer;
mod config;
mod positions;
mod reader;

pub use client::KafkaContext;
pub use config::DEFAULTS;

use super::{PartitionReader, Source, SourceError};
use crate::pointer::{Pointer, StartPosition};
use rdkafka::TopicPartitionList;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use reader::{EmptyReader, KafkaReader};
use std::ffi::CString;
use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest a metadata or watermark request may take at session start.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

pub struct KafkaSource {
    topic: String,
    /// The topic for librdkafka's C API (cached watermarks).
    topic_c: CString,
    bootstrap: String,
    /// Every reader's consumer configuration.
    config: ClientConfig,
    /// `auto.offset.reset` is `error`: an out-of-range start is `PositionLost`.
    strict_positions: bool,
    /// Sends (partition, next offset) to the group committer, when `param.group.id` is set.
    commits: Option<Sender<(i32, i64)>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        // Closing the channel makes the committer flush its last offsets and end.
        self.commits = None;
        if let Some(handle) = self.committer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl Source for KafkaSource {
    fn partition_count(&self) -> Result<u32, SourceError> {
        self.partitions(&self.consumer()?)
    }

    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError> {
        let consumer = self.consumer()?;
        if partition >= self.partitions(&consumer)? {
            // More shards than partitions: this shard has nothing to read.
            tracing::debug!(topic = %self.topic, partition, "no such partition: the shard stays empty");
            return Ok(Box::new(EmptyReader));
        }
        let p = partition as i32;
        let (low, high) =
            consumer.fetch_watermarks(&self.topic, p, METADATA_TIMEOUT).map_err(|e| self.unreachable(&e))?;
        let begin = self.resolve(&consumer, p, &start, low, high)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, p, begin.offset).and_then(|()| consumer.assign(&tpl)).map_err(|e| {
            SourceError::Unavailable(format!("assigning Kafka topic {:?} partition {p}: {e}", self.topic))
        })?;
        tracing::debug!(topic = %self.topic, partition, %start, offset = ?begin.offset, low, high, "Kafka partition opened");
        Ok(Box::new(KafkaReader {
            topic_c: self.topic_c.clone(),
            consumer,
            topic: self.topic.clone(),
            partition: p,
            bootstrap: self.bootstrap.clone(),
            position: begin.position,
            high,
            at_eof: false,
            skip_before_ts: begin.skip_before_ts,
            errors_since: None,
        }))
    }

    fn on_committed(&self, partition: u32, pointer: &Pointer) {
        let (Some(tx), Some(offset)) = (&self.commits, pointer.as_u64().and_then(|n| i64::try_from(n).ok())) else {
            return;
        };
        // Kafka's committed offset is the next one to read.
        let _ = tx.send((partition as i32, offset.saturating_add(1)));
    }
}
