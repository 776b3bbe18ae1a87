//! The `embedded` sink: one fjall database (a directory) per shard.
//!
//! Four keyspaces: `docs` (id -> record), `meta` (checkpoint, counters, live
//! document count), `dropped` (pointer -> dropped message) and `tombstones`
//! (deletion time + id -> nothing: the index `index.gc_deletes` walks; an
//! entry whose document was written again since is dropped by the walk).
//! Each batch is ONE fjall write batch across them, committed with `SyncAll`: fjall
//! writes it to its journal and fsyncs before the batch becomes visible, and
//! recovery replays whole batches only. So documents, checkpoint and counters
//! move together or not at all. docs/architecture.md says why fjall (measured
//! against redb).

use super::{
    CommitBatch, DroppedMessage, ShardSink, SinkError, SinkMeta, StoredDoc, decode_doc, parse_tombstone_key,
    plan_writes, tombstone_key,
};
use crate::pointer::{Pointer, StartPosition};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const META_KEY: &[u8] = b"meta";
/// fjall's memtable size for a shard's documents (see `Store::open`). A
/// shard holds at most five: the one written and up to four sealed ones
/// waiting for their flush (fjall then stalls writes).
const SHARD_MEMTABLE_BYTES: u64 = 8 << 20;
/// fjall's block cache of a shard.
const SHARD_CACHE_BYTES: u64 = 4 << 20;
/// Background workers of a shard's database: three. fjall 3.1's worker 0
/// hands every compaction request back to the queue when the pool has more
/// than one worker; with two, it takes the request again and again while
/// worker 1 compacts (a busy loop), and with one, a request to rotate the
/// memtable waits behind a long compaction while the memtable grows past
/// its size (169 MiB for one shard and a 4M backlog, against ~100). With
/// three, an idle worker takes what worker 0 hands back (issue 19, measured
/// with `cargo bench -p sluice-bench`: the 1-shard pipeline used 8.1 CPU-s
/// per 1M, against 8.9 with two and 9.2 with one).
const SHARD_WORKERS: usize = 3;
/// When the documents' level 0 is compacted into level 1: at 16 tables
/// (fjall's default is 4; it slows writes from 20 on), and level 1 holds 16
/// tables of 16 MiB (with fjall's 64 MiB tables it would hold 16 x 64 MiB:
/// L1's size is the L0 threshold times the table size). Updates land all
/// over the key space, so every L0 table overlaps all of L1, and each L0
/// compaction rewrites L1: a larger batch of L0 against a smaller L1 writes
/// each document fewer times. Measured with `cargo bench -p sluice-bench`
/// (issue 19), 1 shard, against L0 at 8 and 64 MiB tables: the 10M backlog
/// at 119-135k msgs/s instead of 80-95k and a peak of 108-112 MiB instead of
/// 120-122; the 1M pipeline at 7.4 CPU-s per 1M instead of 9.3.
const DOCS_L0_TABLES: u8 = 16;
const DOCS_TABLE_BYTES: u64 = 16 << 20;
/// The checkpoint keyspace holds one small record rewritten by every commit,
/// and the dropped-message keyspace is written rarely and read on request:
/// fjall's default 64 MiB memtable would hold up to 64 MiB of them per
/// shard (measured with `cargo bench -p sluice-bench`: the dropped memtable
/// alone added ~40 MiB to the peak of a 10M backlog).
const META_MEMTABLE_BYTES: u64 = 1 << 20;
const DROPPED_MEMTABLE_BYTES: u64 = 4 << 20;

/// An open fjall database and its keyspaces.
struct Store {
    db: Database,
    docs: Keyspace,
    meta: Keyspace,
    dropped: Keyspace,
    tombstones: Keyspace,
}

impl Store {
    fn open(path: &Path) -> Result<Store, SinkError> {
        let err = |e: fjall::Error| store_err(path, e);
        // The documents' keyspace is tuned for a long backlog (measured with
        // `cargo bench -p sluice-bench`): with fjall's defaults (64 MiB
        // memtables, L0 compacted at 4 tables) writes stall on compaction,
        // 133k msgs/s and 329 MiB peak for 10M messages into one shard. L0 is
        // compacted at 16 tables into a smaller L1 (see `DOCS_L0_TABLES`), by
        // three workers (see `SHARD_WORKERS`). The memory is
        // what the settings allow, whatever the backlog: per shard at most
        // five 8 MiB memtables and a 4 MiB cache, plus the pinned index and
        // filter blocks of L0/L1 (issue 19: 32 MiB memtables and a 16 MiB
        // cache peaked at 1.3 GiB for 16 shards and a 4M backlog; these at
        // ~0.6 GiB). Settings are stored with the keyspace when it is
        // created: a sink created before keeps its own.
        let db = Database::builder(path).worker_threads(SHARD_WORKERS).cache_size(SHARD_CACHE_BYTES).open().map_err(
            |e| {
                if matches!(e, fjall::Error::Locked) {
                    // The usual cause: a second `sluice run`, or `sluice serve`, on the same data directory.
                    return SinkError::Store {
                        path: path.display().to_string(),
                        message: "another sluice process has this sink open (the data directory is locked): stop it, \
                              use its control plane (`sluice ctl`), or give this command another --data-dir"
                            .into(),
                    };
                }
                err(e)
            },
        )?;
        let docs = db
            .keyspace("docs", || {
                KeyspaceCreateOptions::default().max_memtable_size(SHARD_MEMTABLE_BYTES).compaction_strategy(Arc::new(
                    fjall::compaction::Leveled::default()
                        .with_l0_threshold(DOCS_L0_TABLES)
                        .with_table_target_size(DOCS_TABLE_BYTES),
                ))
            })
            .map_err(err)?;
        let small = |bytes: u64| move || KeyspaceCreateOptions::default().max_memtable_size(bytes);
        let meta = db.keyspace("meta", small(META_MEMTABLE_BYTES)).map_err(err)?;
        let dropped = db.keyspace("dropped", small(DROPPED_MEMTABLE_BYTES)).map_err(err)?;
        let tombstones = db.keyspace("tombstones", small(DROPPED_MEMTABLE_BYTES)).map_err(err)?;
        Ok(Store { db, docs, meta, dropped, tombstones })
    }

    fn read_meta(&self, path: &Path) -> Result<SinkMeta, SinkError> {
        match self.meta.get(META_KEY).map_err(|e| store_err(path, e))? {
            None => Ok(SinkMeta::default()),
            Some(v) => SinkMeta::decode(&v).map_err(|message| SinkError::Corrupt {
                path: path.display().to_string(),
                key: "meta".into(),
                message,
            }),
        }
    }
}

pub struct EmbeddedSink {
    path: PathBuf,
    /// `None` after a write failed: fjall poisons itself on an I/O error
    /// (a full or read-only disk), so the next use reopens the database,
    /// whose recovery keeps whole batches only.
    store: Mutex<Option<Arc<Store>>>,
    /// The committed meta. Commits are serialized through this lock: one
    /// writer per shard, so a read-then-write sees no interleaved commit.
    meta: Mutex<SinkMeta>,
}

impl EmbeddedSink {
    /// Opens (or creates) the shard's database directory.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let store = Store::open(path)?;
        let meta = store.read_meta(path)?;
        Ok(EmbeddedSink { path: path.to_path_buf(), store: Mutex::new(Some(Arc::new(store))), meta: Mutex::new(meta) })
    }

    /// The open store, reopening it after a failure. A reopened store may
    /// hold a batch whose commit reported an error (written, then the sync
    /// failed): the committed meta is re-read from it, so the shard resumes
    /// from what is really there. Callers hold the meta lock (lock order:
    /// meta, then store).
    fn ensure(&self, committed: &mut SinkMeta) -> Result<Arc<Store>, SinkError> {
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let store = Arc::new(Store::open(&self.path)?);
        *committed = store.read_meta(&self.path)?;
        tracing::info!(sink = %self.path.display(), "sink reopened after a failure");
        *guard = Some(store.clone());
        Ok(store)
    }

    /// The store, for readers: without the meta lock (a commit holds it
    /// through its sync) unless the store must be reopened.
    fn store(&self) -> Result<Arc<Store>, SinkError> {
        if let Some(s) = self.store.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(s.clone());
        }
        let mut committed = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        self.ensure(&mut committed)
    }

    /// Drops the store after a write failure; the next use reopens it.
    fn fail(&self, e: impl std::fmt::Display) -> SinkError {
        self.drop_store();
        self.err(e)
    }

    fn drop_store(&self) {
        *self.store.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn err(&self, e: impl std::fmt::Display) -> SinkError {
        store_err(&self.path, e)
    }

    fn load_doc(&self, store: &Store, id: &str) -> Result<Option<StoredDoc>, SinkError> {
        match store.docs.get(id).map_err(|e| self.err(e))? {
            Some(v) => decode_doc(&v).map(Some).ok_or_else(|| self.corrupt(id)),
            None => Ok(None),
        }
    }

    /// The stored record as it is, for [`plan_writes`] (no copy).
    fn load_raw(&self, store: &Store, id: &str) -> Result<Option<fjall::Slice>, SinkError> {
        store.docs.get(id).map_err(|e| self.err(e))
    }

    fn corrupt(&self, id: &str) -> SinkError {
        SinkError::Corrupt {
            path: self.path.display().to_string(),
            key: id.to_string(),
            message: "document record shorter than its header".into(),
        }
    }

    fn write_meta_only(&self, change: impl FnOnce(&mut SinkMeta)) -> Result<(), SinkError> {
        let mut committed = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let store = self.ensure(&mut committed)?;
        let mut meta = committed.clone();
        change(&mut meta);
        let mut wb = store.db.batch().durability(Some(PersistMode::SyncAll));
        wb.insert(&store.meta, META_KEY, meta.encode());
        match wb.commit() {
            Ok(()) => {
                *committed = meta;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

fn store_err(path: &Path, e: impl std::fmt::Display) -> SinkError {
    SinkError::Store { path: path.display().to_string(), message: e.to_string() }
}

impl ShardSink for EmbeddedSink {
    fn meta(&self) -> Result<SinkMeta, SinkError> {
        let mut committed = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        self.ensure(&mut committed)?;
        Ok(committed.clone())
    }

    fn commit(&self, batch: CommitBatch) -> Result<SinkMeta, SinkError> {
        let mut committed = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let store = self.ensure(&mut committed)?;
        let mut wb = store.db.batch().durability(Some(PersistMode::SyncAll));
        // A fjall write batch does not read its own writes; plan_writes keeps
        // an overlay so a later op on the same id sees the earlier one.
        let stamp = super::tombstone_stamp(crate::util::now_ms());
        let label = self.path.display().to_string();
        let planned = match plan_writes(&batch.ops, &stamp, &label, |id| self.load_raw(&store, id)) {
            Ok(p) => p,
            Err(e) => {
                // A read that failed poisons the store like a write; a
                // corrupt record is reported as it is.
                if matches!(e, SinkError::Store { .. }) {
                    self.drop_store();
                }
                return Err(e);
            }
        };
        let mut record = Vec::new();
        for (id, value) in &planned.writes {
            match value {
                Some(v) => {
                    v.encode_into(&mut record);
                    wb.insert(&store.docs, *id, record.as_slice());
                    if let Some(at) = v.deleted_at_ms() {
                        wb.insert(&store.tombstones, tombstone_key(at, id), b"");
                    }
                }
                None => wb.remove(&store.docs, *id),
            }
        }
        for d in &batch.dropped {
            wb.insert(&store.dropped, d.pointer.sort_key(), serde_json::to_vec(d).expect("serializes"));
        }
        let meta = committed.advance(&batch, &planned);
        wb.insert(&store.meta, META_KEY, meta.encode());
        match wb.commit() {
            Ok(()) => {
                *committed = meta.clone();
                Ok(meta)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn reset_position(&self, position: StartPosition) -> Result<(), SinkError> {
        self.write_meta_only(|meta| meta.resume = Some(position))
    }

    fn set_reference_time(&self, ms: i64) -> Result<(), SinkError> {
        self.write_meta_only(|meta| meta.reference_time_ms = Some(ms))
    }

    fn set_owner(&self, owner: super::SinkOwner) -> Result<(), SinkError> {
        self.write_meta_only(|meta| meta.owner = Some(owner))
    }

    fn import_meta(
        &self,
        resume: Option<StartPosition>,
        last_pointer: Option<Pointer>,
        counters: crate::sink::ShardCounters,
    ) -> Result<(), SinkError> {
        self.write_meta_only(|meta| {
            *meta = SinkMeta {
                resume,
                last_pointer,
                counters,
                live_docs: meta.live_docs,
                owner: meta.owner.clone(),
                reference_time_ms: meta.reference_time_ms,
                epoch: meta.epoch,
            };
        })
    }

    fn get(&self, id: &str) -> Result<Option<StoredDoc>, SinkError> {
        let store = self.store()?;
        Ok(self.load_doc(&store, id)?.filter(|d| !d.deleted))
    }

    fn scan(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>, SinkError> {
        use std::ops::Bound;
        let store = self.store()?;
        let lower = match after {
            Some(a) => Bound::Excluded(a.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for guard in store.docs.range::<Vec<u8>, _>((lower, Bound::Unbounded)) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = guard.into_inner().map_err(|e| self.err(e))?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let doc = decode_doc(&v).ok_or_else(|| self.corrupt(&id))?;
            if !doc.deleted {
                out.push((id, doc));
            }
        }
        Ok(out)
    }

    fn gc_tombstones(&self, cutoff_ms: i64, limit: usize) -> Result<u64, SinkError> {
        use std::ops::Bound;
        // The commit lock: no commit interleaves with the walk and its write.
        let mut committed = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let store = self.ensure(&mut committed)?;
        let upper = tombstone_key(cutoff_ms.saturating_add(1), "");
        let mut wb = store.db.batch();
        let (mut removed, mut visited) = (0, 0);
        for guard in store.tombstones.range::<Vec<u8>, _>((Bound::Unbounded, Bound::Excluded(upper))).take(limit) {
            visited += 1;
            let key = guard.key().map_err(|e| self.fail(e))?;
            wb.remove(&store.tombstones, key.to_vec());
            let Some((at, id)) = parse_tombstone_key(&key) else { continue };
            // Only if the document is still that tombstone (not written again since).
            if self.load_doc(&store, &id)?.is_some_and(|d| d.deleted_at_ms() == Some(at)) {
                wb.remove(&store.docs, id);
                removed += 1;
            }
        }
        if visited == 0 {
            // Nothing is old enough: the usual case, and no write.
            return Ok(0);
        }
        wb.commit().map_err(|e| self.fail(e))?;
        Ok(removed)
    }

    fn dropped(&self, after: Option<Pointer>, limit: usize) -> Result<Vec<DroppedMessage>, SinkError> {
        use std::ops::Bound;
        let store = self.store()?;
        let lower = match after {
            Some(p) => Bound::Excluded(p.sort_key()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for guard in store.dropped.range::<Vec<u8>, _>((lower, Bound::Unbounded)).take(limit) {
            let (k, v) = guard.into_inner().map_err(|e| self.err(e))?;
            out.push(serde_json::from_slice(&v).map_err(|e| SinkError::Corrupt {
                path: self.path.display().to_string(),
                key: format!("dropped/{k:?}"),
                message: e.to_string(),
            })?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{DocOp, OpType, ShardCounters};

    fn op(id: &str, op_type: OpType, version: Option<u64>, source: Option<&str>) -> DocOp {
        DocOp { id: id.into(), version, op_type, source: source.map(Into::into), ..Default::default() }
    }

    #[test]
    fn commits_documents_checkpoint_and_counters_together_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard-0");
        let sink = EmbeddedSink::open(&path).unwrap();
        assert_eq!(sink.meta().unwrap(), SinkMeta::default());
        let meta = sink
            .commit(CommitBatch {
                ops: vec![
                    op("a", OpType::Index, Some(2), Some(r#"{"x":1}"#)),
                    op("a", OpType::Index, Some(1), Some(r#"{"x":0}"#)),
                    op("b", OpType::Index, None, Some(r#"{"y":2}"#)),
                    op("c", OpType::Delete, Some(5), None),
                    op("d", OpType::Create, None, Some("{}")),
                    op("d", OpType::Create, None, Some("{}")),
                ],
                last_pointer: Pointer::Small(9),
                counters: ShardCounters { total_processed_count: 6, ..Default::default() },
                dropped: vec![DroppedMessage {
                    pointer: Pointer::Small(3),
                    reason: "bad".into(),
                    payload: Some("x".into()),
                }],
            })
            .unwrap();
        assert_eq!(meta.live_docs, 3);
        assert_eq!(meta.counters.total_version_conflicts_count, 2, "a@1 and the second create of d");
        assert_eq!(meta.counters.total_ops_applied_count, 4);
        assert_eq!(meta.resume, Some(StartPosition::After(Pointer::Small(9))));
        drop(sink);

        let sink = EmbeddedSink::open(&path).unwrap();
        assert_eq!(sink.meta().unwrap(), meta);
        assert_eq!(
            sink.get("a").unwrap().unwrap(),
            StoredDoc { version: Some(2), deleted: false, source: br#"{"x":1}"#.to_vec() }
        );
        assert_eq!(sink.get("c").unwrap(), None, "tombstones are not documents");
        let ids: Vec<_> = sink.scan(None, 10).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(ids, ["a", "b", "d"]);
        let ids: Vec<_> = sink.scan(Some("a"), 1).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(ids, ["b"]);
        assert_eq!(sink.dropped(None, 10).unwrap()[0].reason, "bad");
        assert!(sink.dropped(Some(Pointer::Small(3)), 10).unwrap().is_empty());

        // The tombstone of c (version 5) fences an older index.
        let meta = sink
            .commit(CommitBatch {
                ops: vec![op("c", OpType::Index, Some(4), Some("{}")), op("b", OpType::Delete, None, None)],
                last_pointer: Pointer::Small(11),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(meta.live_docs, 2);
        assert_eq!(meta.counters.total_version_conflicts_count, 3);
        sink.reset_position(StartPosition::At(Pointer::Small(3))).unwrap();
        drop(sink);
        let sink = EmbeddedSink::open(&path).unwrap();
        assert_eq!(sink.meta().unwrap().resume, Some(StartPosition::At(Pointer::Small(3))));
        assert_eq!(sink.meta().unwrap().last_pointer, Some(Pointer::Small(11)));
    }

    #[test]
    fn collects_old_tombstones_under_the_commit_lock() {
        let dir = tempfile::tempdir().unwrap();
        crate::sink::contract::tombstone_gc(&EmbeddedSink::open(&dir.path().join("shard-0")).unwrap());
    }

    #[test]
    fn merges_rows_and_updates_documents() {
        let dir = tempfile::tempdir().unwrap();
        crate::sink::contract::merges(&EmbeddedSink::open(&dir.path().join("shard-0")).unwrap());
    }
}
