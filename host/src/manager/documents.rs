//! Reading an ingestion's documents back from its shard sinks.

use super::{Manager, ManagerError, Result};
use crate::sink::{ShardSink, StoredDoc};
use std::sync::Arc;

impl Manager {
    fn sinks(&self, name: &str) -> Result<Vec<Arc<dyn ShardSink>>> {
        self.with(name, |m| Ok(m.running()?.sinks().to_vec()))
    }

    /// The first shard holding a live document with this id.
    pub fn get_document(&self, name: &str, id: &str) -> Result<(u32, StoredDoc)> {
        for (shard, sink) in self.sinks(name)?.iter().enumerate() {
            if let Some(doc) = sink.get(id).map_err(|e| ManagerError::Internal(e.to_string()))? {
                return Ok((shard as u32, doc));
            }
        }
        Err(ManagerError::NotFound(format!("no document {id:?} in {name}")))
    }

    /// Live documents of one shard, or of every shard.
    pub fn count_documents(&self, name: &str, shard: Option<u32>) -> Result<u64> {
        let sinks = self.sinks(name)?;
        if let Some(s) = shard.filter(|s| *s as usize >= sinks.len()) {
            return Err(ManagerError::InvalidArgument(format!("{name} has no shard {s}")));
        }
        let mut total = 0;
        for (i, sink) in sinks.iter().enumerate() {
            if shard.is_none_or(|s| s as usize == i) {
                total += sink.meta().map_err(|e| ManagerError::Internal(e.to_string()))?.live_docs;
            }
        }
        Ok(total)
    }

    /// Live documents of one shard in id order, after `after`.
    pub fn scan_documents(
        &self,
        name: &str,
        shard: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, StoredDoc)>> {
        let sinks = self.sinks(name)?;
        let sink = sinks
            .get(shard as usize)
            .ok_or_else(|| ManagerError::InvalidArgument(format!("{name} has no shard {shard}")))?;
        sink.scan(after, limit).map_err(|e| ManagerError::Internal(e.to_string()))
    }
}
