//! Shard sinks: where documents land, together with the stream position.
//!
//! A sink commits each batch in ONE atomic, durable transaction: the
//! document writes, the checkpoint (the last pointer of the batch) and the
//! shard's cumulative counters. A crash therefore loses nothing and repeats
//! nothing: on restart the shard resumes right after the committed pointer.

pub mod contract;
pub mod embedded;
pub mod memory;
pub mod merge;
mod plan;
mod record;
pub mod redis;
pub mod versioning;

use crate::pointer::{Pointer, StartPosition};
use serde::{Deserialize, Serialize};

pub use merge::Aggregator;
pub use plan::{PlannedWrites, plan_writes};
pub use record::{Record, decode_doc, decode_doc_header, decode_record};
pub use versioning::OpType;

/// A document as stored, or its delete tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    pub version: Option<u64>,
    /// A tombstone keeps the version of the delete so that a late, older
    /// index cannot bring the document back (until `index.gc_deletes`
    /// removes it).
    pub deleted: bool,
    /// The document's JSON; for a tombstone, the time of the delete (ms since
    /// the epoch, 8 bytes little-endian: see [`StoredDoc::deleted_at_ms`]),
    /// or nothing in tombstones written before sluice kept that time.
    pub source: Vec<u8>,
}

impl StoredDoc {
    /// When a tombstone was written; `None` for a live document or a
    /// tombstone from before sluice recorded the time (kept forever).
    pub fn deleted_at_ms(&self) -> Option<i64> {
        tombstone_time(self.deleted, &self.source)
    }
}

/// The deletion time a tombstone record's source holds.
pub(crate) fn tombstone_time(deleted: bool, source: &[u8]) -> Option<i64> {
    if !deleted {
        return None;
    }
    source.try_into().ok().map(i64::from_le_bytes)
}

/// What a tombstone written at `now_ms` stores as its source.
pub fn tombstone_stamp(now_ms: i64) -> [u8; 8] {
    now_ms.to_le_bytes()
}

/// The key of a tombstone in a sink's index of tombstones by time: the
/// deletion time (big-endian, so keys sort by time) and the id.
pub fn tombstone_key(deleted_at_ms: i64, id: &str) -> Vec<u8> {
    let mut key = (deleted_at_ms.max(0) as u64).to_be_bytes().to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

/// The inverse of [`tombstone_key`].
pub fn parse_tombstone_key(key: &[u8]) -> Option<(i64, String)> {
    let (time, id) = key.split_at_checked(8)?;
    Some((u64::from_be_bytes(time.try_into().ok()?) as i64, String::from_utf8(id.to_vec()).ok()?))
}

/// Tombstones a garbage collection removes in one go at most (one write,
/// under the commit lock).
pub const GC_BATCH: usize = 10_000;

/// One operation to apply, with its final id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocOp {
    pub id: String,
    pub version: Option<u64>,
    pub op_type: OpType,
    pub source: Option<String>,
    /// `merge` only: how fields combine.
    pub aggregators: Vec<(String, Aggregator)>,
    /// `merge` only: the event time first/last aggregators order by.
    pub event_time_ms: Option<i64>,
}

/// A message skipped under the `DROP` policy: kept, with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedMessage {
    pub pointer: Pointer,
    pub reason: String,
    /// The payload, lossily decoded and cut at [`DROPPED_PAYLOAD_LIMIT`] bytes.
    pub payload: Option<String>,
}

/// How much of a dropped payload is kept.
pub const DROPPED_PAYLOAD_LIMIT: usize = 4096;

/// Cumulative per-shard counters, committed with the data they count.
///
/// The names follow OpenSearch's `polling_ingest_stats.message_processor_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCounters {
    /// Messages taken through the processor and committed (valid or not).
    pub total_processed_count: u64,
    /// Messages the plugin found invalid.
    pub total_invalid_message_count: u64,
    /// Operations rejected because their version was not newer than the stored one.
    pub total_version_conflicts_count: u64,
    /// Messages that failed: invalid, or the plugin failed on them.
    pub total_failed_count: u64,
    /// Failed messages skipped under the `DROP` policy.
    pub total_failures_dropped_count: u64,
    /// Valid messages that carried nothing to apply (sluice).
    pub total_skipped_count: u64,
    /// Operations applied to documents (sluice).
    pub total_ops_applied_count: u64,
    /// Valid messages outside what the ingestion accepts (Druid's
    /// `thrownAway`: outside the rejection periods); also counted as failed.
    #[serde(default)]
    pub total_thrown_away_count: u64,
    /// Messages applied with errors in some fields (Druid's `processedWithError`).
    #[serde(default)]
    pub total_processed_with_error_count: u64,
}

impl ShardCounters {
    pub fn add(&mut self, o: &ShardCounters) {
        self.total_processed_count += o.total_processed_count;
        self.total_invalid_message_count += o.total_invalid_message_count;
        self.total_version_conflicts_count += o.total_version_conflicts_count;
        self.total_failed_count += o.total_failed_count;
        self.total_failures_dropped_count += o.total_failures_dropped_count;
        self.total_skipped_count += o.total_skipped_count;
        self.total_ops_applied_count += o.total_ops_applied_count;
        self.total_thrown_away_count += o.total_thrown_away_count;
        self.total_processed_with_error_count += o.total_processed_with_error_count;
    }
}

/// What a sink holds besides documents, all committed together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkMeta {
    /// Where the shard resumes: `After(last applied pointer)` after a commit,
    /// or the target of an explicit reset. `None`: never committed.
    pub resume: Option<StartPosition>,
    /// The last pointer applied (survives resets, for display).
    pub last_pointer: Option<Pointer>,
    pub counters: ShardCounters,
    /// Documents currently live (not deleted).
    pub live_docs: u64,
    /// Which ingestion incarnation and source this sink's checkpoint belongs
    /// to. `None`: never claimed (a new sink, or one written before sluice
    /// recorded owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<SinkOwner>,
    /// The start of the shard's current task period (ms since the epoch):
    /// the reference time its plugin judges time-relative things against.
    /// Committed with the checkpoint, so a message re-read after a crash is
    /// judged against the same time. `None`: no task period started yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_time_ms: Option<i64>,
    /// The lease epoch of the writer that made the last commit (a cluster
    /// host; see [`ShardSink::fenced`]). `None`: written without a lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// Who a sink belongs to: its checkpoint is a position in one stream, for
/// one incarnation of one ingestion. A sink claimed by another incarnation
/// (a name reused after a delete) or another source (the spec's stream
/// changed) is refused, never silently resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkOwner {
    /// The ingestion's id, made when it was created.
    pub ingestion_id: String,
    /// What the checkpoint's pointers are positions in (source type, stream
    /// and shard count), in words: [`crate::spec::IngestionSpec::source_fingerprint`].
    pub source: String,
}

impl SinkMeta {
    /// Whether anything was ever committed or set here.
    pub fn is_pristine(&self) -> bool {
        self.resume.is_none()
            && self.last_pointer.is_none()
            && self.live_docs == 0
            && self.counters == ShardCounters::default()
    }
}

impl SinkMeta {
    /// The stored form: `crc32=<8 hex digits> <JSON>`. The checksum catches a
    /// flipped bit that would still parse (a digit of the checkpoint), which
    /// would silently skip or replay messages.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("SinkMeta serializes");
        let mut out = format!("crc32={:08x} ", crc32fast::hash(&json)).into_bytes();
        out.extend_from_slice(&json);
        out
    }

    /// The meta after committing `batch` whose document writes were
    /// `planned`: counters (with the sink's own version conflicts and
    /// applied ops), live documents and the checkpoint. Every sink advances
    /// its meta with this one function, so exactly-once means the same in each.
    pub fn advance(&self, batch: &CommitBatch, planned: &PlannedWrites<'_>) -> SinkMeta {
        let mut meta = self.clone();
        let mut counters = batch.counters;
        counters.total_version_conflicts_count += planned.version_conflicts;
        counters.total_ops_applied_count += planned.ops_applied;
        meta.counters.add(&counters);
        meta.live_docs = meta.live_docs.checked_add_signed(planned.live_delta).expect("live count never negative");
        meta.resume = Some(StartPosition::After(batch.last_pointer.clone()));
        meta.last_pointer = Some(batch.last_pointer.clone());
        meta
    }

    /// Reads [`SinkMeta::encode`]'s form; the error says what is wrong.
    pub fn decode(stored: &[u8]) -> Result<SinkMeta, String> {
        let (header, json) = match (stored.get(..15), stored.get(15..)) {
            (Some(h), Some(j)) if h.starts_with(b"crc32=") && h[14] == b' ' => (&h[6..14], j),
            _ => return Err("checkpoint record has no checksum header".into()),
        };
        let expected = std::str::from_utf8(header)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("checkpoint record has an unreadable checksum header")?;
        let actual = crc32fast::hash(json);
        if actual != expected {
            return Err(format!("checkpoint record fails its checksum (stored {expected:08x}, computed {actual:08x})"));
        }
        serde_json::from_slice(json).map_err(|e| format!("checkpoint record does not parse: {e}"))
    }
}

/// One batch to commit atomically.
#[derive(Debug, Default)]
pub struct CommitBatch {
    pub ops: Vec<DocOp>,
    /// The last pointer of the batch: the new checkpoint.
    pub last_pointer: Pointer,
    /// Counter increments (the sink adds version conflicts and applied ops itself).
    pub counters: ShardCounters,
    pub dropped: Vec<DroppedMessage>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {path}: {message}")]
    Store { path: String, message: String },
    #[error("sink {path} holds a corrupt record {key:?}: {message}")]
    Corrupt { path: String, key: String, message: String },
    /// The stored checkpoint is not the one this writer last saw (the store
    /// lost recent writes, or another host wrote the shard). Nothing was
    /// written; the shard resumes from the stored checkpoint.
    #[error("sink {path}: the stored checkpoint moved underneath this writer; resuming from it")]
    CheckpointMoved { path: String },
    /// This writer's lease epoch is older than the one stored with the shard:
    /// another host took the shard's lease since (this one's lease expired
    /// while it was paused, partitioned or stopped). Nothing was written; the
    /// writer must stop the shard, never retry.
    #[error(
        "sink {path}: fenced: this host writes under lease epoch {held}, but the shard is now held under epoch \
         {current} (another host took it over); nothing was written and this host stops the shard"
    )]
    Fenced { path: String, held: u64, current: u64 },
}

/// A shard's document store. Shared by the shard's processor (the only
/// writer) and readers (document queries), hence `&self` and `Sync`.
pub trait ShardSink: Send + Sync {
    fn meta(&self) -> Result<SinkMeta, SinkError>;

    /// Applies the batch, moves the checkpoint and adds the counters in one
    /// atomic durable transaction. Returns the meta after the commit.
    fn commit(&self, batch: CommitBatch) -> Result<SinkMeta, SinkError>;

    /// Moves the resume position (an explicit pointer reset).
    fn reset_position(&self, position: StartPosition) -> Result<(), SinkError>;

    /// Starts a task period: the reference time the shard's plugin judges
    /// time-relative things against from now on (a durable meta write; see
    /// [`SinkMeta::reference_time_ms`]).
    fn set_reference_time(&self, ms: i64) -> Result<(), SinkError>;

    /// Records who the sink belongs to (a durable meta write).
    fn set_owner(&self, owner: SinkOwner) -> Result<(), SinkError>;

    /// A handle on the same shard that writes under lease epoch `epoch`: it
    /// raises the shard's stored epoch (the fence) to `epoch` now, and every
    /// write through it (commits, resets, task periods, tombstone removal)
    /// checks in the same transaction that the fence is still `epoch`; once a
    /// newer epoch is stored, its writes fail with [`SinkError::Fenced`] and
    /// change nothing. Refused at once if the stored epoch is newer already.
    /// Only a sink shared between hosts can be fenced.
    fn fenced(&self, epoch: u64) -> Result<std::sync::Arc<dyn ShardSink>, SinkError> {
        let _ = epoch;
        Err(SinkError::Store {
            path: "embedded sink".into(),
            message: "a host-local sink cannot move between hosts, so it cannot be fenced: a clustered ingestion \
                      must use the redis sink"
                .into(),
        })
    }

    /// True when the sink lives outside this host (Redis): another host may
    /// commit to it, so its meta must be read, not remembered.
    fn shared(&self) -> bool {
        false
    }

    /// Restores an exported checkpoint and counters (state import). Live
    /// documents are what the sink holds, not what was exported.
    fn import_meta(
        &self,
        resume: Option<StartPosition>,
        last_pointer: Option<Pointer>,
        counters: ShardCounters,
    ) -> Result<(), SinkError>;

    /// A live document (tombstones are not returned).
    fn get(&self, id: &str) -> Result<Option<StoredDoc>, SinkError>;

    /// Live documents in id order, starting after `after`.
    fn scan(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>, SinkError>;

    /// Messages dropped under `DROP`, oldest first, starting after `after`.
    fn dropped(&self, after: Option<Pointer>, limit: usize) -> Result<Vec<DroppedMessage>, SinkError>;

    /// Removes up to `limit` tombstones deleted at or before `cutoff_ms`
    /// (`index.gc_deletes`), under the commit lock so that it never
    /// interleaves with a commit; returns how many went. A later older
    /// `index` of such an id then applies (as in OpenSearch). Tombstones
    /// without a deletion time (written before sluice kept it) stay.
    fn gc_tombstones(&self, cutoff_ms: i64, limit: usize) -> Result<u64, SinkError>;
}

#[cfg(test)]
mod meta_record_tests {
    use super::*;

    #[test]
    fn a_checkpoint_record_round_trips_and_any_damage_is_named() {
        let meta = SinkMeta { last_pointer: Some(Pointer::from(41)), live_docs: 7, ..SinkMeta::default() };
        let stored = meta.encode();
        assert_eq!(SinkMeta::decode(&stored).unwrap(), meta);
        let truncated = &stored[..stored.len() - 3];
        assert!(SinkMeta::decode(truncated).unwrap_err().contains("checksum"));
        assert!(SinkMeta::decode(&stored[..10]).unwrap_err().contains("no checksum header"));
        let legacy = serde_json::to_vec(&meta).unwrap();
        assert!(SinkMeta::decode(&legacy).unwrap_err().contains("no checksum header"));
    }
}

#[cfg(test)]
mod gc_tests {
    #[test]
    fn the_memory_sink_collects_old_tombstones() {
        super::contract::tombstone_gc(&super::memory::MemorySink::new());
    }

    #[test]
    fn the_memory_sink_merges_rows_and_updates_documents() {
        super::contract::merges(&super::memory::MemorySink::new());
    }

    #[test]
    fn tombstones_keep_their_deletion_time_and_old_ones_read_without_it() {
        let stamp = super::tombstone_stamp(1_700_000_000_123);
        let r = super::Record { deleted: true, version: Some(3), source: stamp[..].into(), times: None };
        let doc = super::decode_doc(&r.encode()).unwrap();
        assert_eq!((doc.deleted, doc.version, doc.deleted_at_ms()), (true, Some(3), Some(1_700_000_000_123)));
        let legacy = super::Record { deleted: true, version: Some(3), source: b""[..].into(), times: None }.encode();
        assert_eq!(super::decode_doc(&legacy).unwrap().deleted_at_ms(), None, "kept forever");
        let key = super::tombstone_key(1_700_000_000_123, "id-1");
        assert_eq!(super::parse_tombstone_key(&key), Some((1_700_000_000_123, "id-1".to_string())));
        assert!(super::tombstone_key(9, "z") < super::tombstone_key(10, "a"), "keys sort by time");
    }
}
