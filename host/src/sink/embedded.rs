//! The `embedded` sink: one fjall database (a directory) per shard.
//!
//! Three keyspaces: `docs` (id -> record), `meta` (checkpoint, counters, live
//! document count) and `dropped` (pointer -> dropped message). Each batch is
//! ONE fjall write batch across the three, committed with `SyncAll`: fjall
//! writes it to its journal and fsyncs before the batch becomes visible, and
//! recovery replays whole batches only. So documents, checkpoint and counters
//! move together or not at all. docs/architecture.md says why fjall (measured
//! against redb).

use super::{decode_doc, plan_writes, CommitBatch, DroppedMessage, ShardSink, SinkError, SinkMeta, StoredDoc};
use crate::pointer::{Pointer, StartPosition};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const META_KEY: &[u8] = b"meta";

pub struct EmbeddedSink {
    db: Database,
    docs: Keyspace,
    meta_ks: Keyspace,
    dropped_ks: Keyspace,
    path: PathBuf,
    /// The committed meta. Commits are serialized through this lock: one
    /// writer per shard, so a read-then-write sees no interleaved commit.
    meta: Mutex<SinkMeta>,
}

impl EmbeddedSink {
    /// Opens (or creates) the shard's database directory.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        let err = |e: fjall::Error| store_err(path, e);
        // Per-shard databases: a couple of background workers each is plenty.
        let db = Database::builder(path).worker_threads(1).open().map_err(err)?;
        let docs = db.keyspace("docs", KeyspaceCreateOptions::default).map_err(err)?;
        let meta_ks = db.keyspace("meta", KeyspaceCreateOptions::default).map_err(err)?;
        let dropped_ks = db.keyspace("dropped", KeyspaceCreateOptions::default).map_err(err)?;
        let meta = match meta_ks.get(META_KEY).map_err(err)? {
            None => SinkMeta::default(),
            Some(v) => serde_json::from_slice(&v).map_err(|e| SinkError::Corrupt {
                path: path.display().to_string(),
                key: "meta".into(),
                message: e.to_string(),
            })?,
        };
        Ok(EmbeddedSink { db, docs, meta_ks, dropped_ks, path: path.to_path_buf(), meta: Mutex::new(meta) })
    }

    fn err(&self, e: impl std::fmt::Display) -> SinkError {
        store_err(&self.path, e)
    }

    fn load_doc(&self, id: &str) -> Result<Option<StoredDoc>, SinkError> {
        match self.docs.get(id).map_err(|e| self.err(e))? {
            Some(v) => decode_doc(&v).map(Some).ok_or_else(|| self.corrupt(id)),
            None => Ok(None),
        }
    }

    fn corrupt(&self, id: &str) -> SinkError {
        SinkError::Corrupt {
            path: self.path.display().to_string(),
            key: id.to_string(),
            message: "document record shorter than its header".into(),
        }
    }
}

fn store_err(path: &Path, e: impl std::fmt::Display) -> SinkError {
    SinkError::Store { path: path.display().to_string(), message: e.to_string() }
}

impl ShardSink for EmbeddedSink {
    fn meta(&self) -> Result<SinkMeta, SinkError> {
        Ok(self.meta.lock().unwrap().clone())
    }

    fn commit(&self, batch: CommitBatch) -> Result<SinkMeta, SinkError> {
        let mut committed = self.meta.lock().unwrap();
        let mut meta = committed.clone();
        let mut counters = batch.counters;
        let mut wb = self.db.batch().durability(Some(PersistMode::SyncAll));
        // A fjall write batch does not read its own writes; plan_writes keeps
        // an overlay so a later op on the same id sees the earlier one.
        let planned = plan_writes(&batch.ops, |id| self.load_doc(id))?;
        for (id, value) in planned.writes {
            match value {
                Some(v) => wb.insert(&self.docs, id.as_str(), v),
                None => wb.remove(&self.docs, id.as_str()),
            }
        }
        counters.total_version_conflicts_count += planned.version_conflicts;
        counters.total_ops_applied_count += planned.ops_applied;
        meta.live_docs = meta.live_docs.checked_add_signed(planned.live_delta).expect("live count never negative");
        for d in &batch.dropped {
            wb.insert(&self.dropped_ks, d.pointer.sort_key(), serde_json::to_vec(d).expect("serializes"));
        }
        meta.counters.add(&counters);
        meta.resume = Some(StartPosition::After(batch.last_pointer.clone()));
        meta.last_pointer = Some(batch.last_pointer);
        wb.insert(&self.meta_ks, META_KEY, serde_json::to_vec(&meta).expect("serializes"));
        wb.commit().map_err(|e| self.err(e))?;
        *committed = meta.clone();
        Ok(meta)
    }

    fn reset_position(&self, position: StartPosition) -> Result<(), SinkError> {
        let mut committed = self.meta.lock().unwrap();
        let mut meta = committed.clone();
        meta.resume = Some(position);
        let mut wb = self.db.batch().durability(Some(PersistMode::SyncAll));
        wb.insert(&self.meta_ks, META_KEY, serde_json::to_vec(&meta).expect("serializes"));
        wb.commit().map_err(|e| self.err(e))?;
        *committed = meta;
        Ok(())
    }

    fn import_meta(
        &self,
        resume: Option<StartPosition>,
        last_pointer: Option<Pointer>,
        counters: crate::sink::ShardCounters,
    ) -> Result<(), SinkError> {
        let mut committed = self.meta.lock().unwrap();
        let meta = SinkMeta { resume, last_pointer, counters, live_docs: committed.live_docs };
        let mut wb = self.db.batch().durability(Some(PersistMode::SyncAll));
        wb.insert(&self.meta_ks, META_KEY, serde_json::to_vec(&meta).expect("serializes"));
        wb.commit().map_err(|e| self.err(e))?;
        *committed = meta;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<StoredDoc>, SinkError> {
        Ok(self.load_doc(id)?.filter(|d| !d.deleted))
    }

    fn scan(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>, SinkError> {
        use std::ops::Bound;
        let lower = match after {
            Some(a) => Bound::Excluded(a.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for guard in self.docs.range::<Vec<u8>, _>((lower, Bound::Unbounded)) {
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

    fn dropped(&self, after: Option<Pointer>, limit: usize) -> Result<Vec<DroppedMessage>, SinkError> {
        use std::ops::Bound;
        let lower = match after {
            Some(p) => Bound::Excluded(p.sort_key()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for guard in self.dropped_ks.range::<Vec<u8>, _>((lower, Bound::Unbounded)).take(limit) {
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
        DocOp { id: id.into(), version, op_type, source: source.map(Into::into) }
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
                dropped: vec![DroppedMessage { pointer: Pointer::Small(3), reason: "bad".into(), payload: Some("x".into()) }],
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
}
