//! `MemorySink`: a shard sink in memory, for tests of the engine and the
//! manager. It applies the same versioning rules and advances its meta with
//! the same function as the durable sinks; a commit is atomic because it
//! happens under one lock.

use super::{
    CommitBatch, DroppedMessage, ShardCounters, ShardSink, SinkError, SinkMeta, StoredDoc, decode_doc, plan_writes,
};
use crate::pointer::{Pointer, StartPosition};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct MemorySink {
    /// Shared with the handles [`ShardSink::fenced`] makes (same shard).
    inner: Arc<Mutex<Inner>>,
    /// The lease epoch this handle writes under, if any.
    epoch: Option<u64>,
}

#[derive(Default)]
struct Inner {
    meta: SinkMeta,
    /// Live documents and tombstones, as stored records (the durable sinks' encoding).
    docs: BTreeMap<String, Vec<u8>>,
    dropped: BTreeMap<Pointer, DroppedMessage>,
    commits: u64,
    /// The newest lease epoch a writer fenced the shard with (0: none).
    fence: u64,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails with [`SinkError::Fenced`] if a newer epoch than this handle's is stored.
    fn check_fence(&self, inner: &Inner) -> Result<(), SinkError> {
        match self.epoch {
            Some(held) if inner.fence > held => {
                Err(SinkError::Fenced { path: "memory".into(), held, current: inner.fence })
            }
            _ => Ok(()),
        }
    }

    /// How many commits were made (resets and imports not counted).
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    /// The ids of the tombstones held.
    pub fn tombstones(&self) -> Vec<String> {
        self.lock().docs.iter().filter(|(_, r)| doc(r).deleted).map(|(id, _)| id.clone()).collect()
    }
}

impl ShardSink for MemorySink {
    fn meta(&self) -> Result<SinkMeta, SinkError> {
        Ok(self.lock().meta.clone())
    }

    fn commit(&self, batch: CommitBatch) -> Result<SinkMeta, SinkError> {
        let mut inner = self.lock();
        self.check_fence(&inner)?;
        let stamp = super::tombstone_stamp(crate::util::now_ms());
        let planned = plan_writes(&batch.ops, &stamp, "memory", |id| Ok(inner.docs.get(id)))?;
        let mut meta = inner.meta.advance(&batch, &planned);
        if self.epoch.is_some() {
            meta.epoch = self.epoch;
        }
        let writes: Vec<(String, Option<Vec<u8>>)> =
            planned.writes.iter().map(|(id, r)| (id.to_string(), r.as_ref().map(|r| r.encode()))).collect();
        for (id, doc) in writes {
            match doc {
                Some(doc) => inner.docs.insert(id, doc),
                None => inner.docs.remove(&id),
            };
        }
        for d in batch.dropped {
            inner.dropped.insert(d.pointer.clone(), d);
        }
        inner.meta = meta.clone();
        inner.commits += 1;
        Ok(meta)
    }

    fn reset_position(&self, position: StartPosition) -> Result<(), SinkError> {
        let mut inner = self.lock();
        self.check_fence(&inner)?;
        inner.meta.resume = Some(position);
        Ok(())
    }

    fn set_reference_time(&self, ms: i64) -> Result<(), SinkError> {
        let mut inner = self.lock();
        self.check_fence(&inner)?;
        inner.meta.reference_time_ms = Some(ms);
        Ok(())
    }

    fn fenced(&self, epoch: u64) -> Result<Arc<dyn ShardSink>, SinkError> {
        let mut inner = self.lock();
        if inner.fence > epoch {
            return Err(SinkError::Fenced { path: "memory".into(), held: epoch, current: inner.fence });
        }
        inner.fence = epoch;
        Ok(Arc::new(MemorySink { inner: self.inner.clone(), epoch: Some(epoch) }))
    }

    fn shared(&self) -> bool {
        // Once fenced, handles share the shard as hosts share a Redis sink.
        self.lock().fence > 0
    }

    fn set_owner(&self, owner: super::SinkOwner) -> Result<(), SinkError> {
        self.lock().meta.owner = Some(owner);
        Ok(())
    }

    fn import_meta(
        &self,
        resume: Option<StartPosition>,
        last_pointer: Option<Pointer>,
        counters: ShardCounters,
    ) -> Result<(), SinkError> {
        let mut inner = self.lock();
        let (live_docs, owner, reference_time_ms, epoch) =
            (inner.meta.live_docs, inner.meta.owner.clone(), inner.meta.reference_time_ms, inner.meta.epoch);
        inner.meta = SinkMeta { resume, last_pointer, counters, live_docs, owner, reference_time_ms, epoch };
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<StoredDoc>, SinkError> {
        Ok(self.lock().docs.get(id).map(|r| doc(r)).filter(|d| !d.deleted))
    }

    fn scan(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>, SinkError> {
        let inner = self.lock();
        Ok(inner
            .docs
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
            .map(|(id, r)| (id.clone(), doc(r)))
            .filter(|(_, d)| !d.deleted)
            .take(limit)
            .collect())
    }

    fn gc_tombstones(&self, cutoff_ms: i64, limit: usize) -> Result<u64, SinkError> {
        let mut inner = self.lock();
        self.check_fence(&inner)?;
        let old: Vec<String> = inner
            .docs
            .iter()
            .filter(|(_, r)| doc(r).deleted_at_ms().is_some_and(|at| at <= cutoff_ms))
            .take(limit)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &old {
            inner.docs.remove(id);
        }
        Ok(old.len() as u64)
    }

    fn dropped(&self, after: Option<Pointer>, limit: usize) -> Result<Vec<DroppedMessage>, SinkError> {
        let inner = self.lock();
        Ok(inner
            .dropped
            .values()
            .filter(|d| after.as_ref().is_none_or(|a| &d.pointer > a))
            .take(limit)
            .cloned()
            .collect())
    }
}

/// A stored record as readers see it (this sink wrote it: it decodes).
fn doc(record: &[u8]) -> StoredDoc {
    decode_doc(record).expect("the memory sink stores whole records")
}
