//! Reading an ingestion's documents back from its shard sinks.

use super::{DocHit, DocPage, DocQuery, DocSearch, MAX_RESULT_WINDOW, Manager, ManagerError, Result};
use crate::pointer::Pointer;
use crate::sink::{DroppedMessage, ShardSink, StoredDoc};
use std::sync::Arc;

fn internal(e: impl std::fmt::Display) -> ManagerError {
    ManagerError::Internal(e.to_string())
}

impl Manager {
    fn sinks(&self, name: &str) -> Result<Vec<Arc<dyn ShardSink>>> {
        self.with(name, |m| Ok(m.running()?.sinks().to_vec()))
    }

    /// The first shard holding a live document with this id.
    pub fn get_document(&self, name: &str, id: &str) -> Result<(u32, StoredDoc)> {
        self.find_document(name, id)?.ok_or_else(|| ManagerError::NotFound(format!("no document {id:?} in {name}")))
    }

    /// Like [`Manager::get_document`], but a missing document is `None`:
    /// `NotFound` then always means the ingestion.
    pub fn find_document(&self, name: &str, id: &str) -> Result<Option<(u32, StoredDoc)>> {
        for (shard, sink) in self.sinks(name)?.iter().enumerate() {
            if let Some(doc) = sink.get(id).map_err(internal)? {
                return Ok(Some((shard as u32, doc)));
            }
        }
        Ok(None)
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
                total += sink.meta().map_err(internal)?.live_docs;
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
        self.sink(name, shard)?.scan(after, limit).map_err(internal)
    }

    /// One shard's sink; a shard the ingestion does not have is the caller's mistake.
    fn sink(&self, name: &str, shard: u32) -> Result<Arc<dyn ShardSink>> {
        let sinks = self.sinks(name)?;
        sinks
            .get(shard as usize)
            .cloned()
            .ok_or_else(|| ManagerError::InvalidArgument(format!("{name} has no shard {shard}")))
    }

    /// A page of the live documents `query` selects, across every shard, in
    /// (`_id`, shard) order. `from + size` may not exceed
    /// [`MAX_RESULT_WINDOW`]: each shard is read up to that many documents
    /// (deep pages go with `after`, which costs only `size` per shard).
    pub fn search_documents(&self, name: &str, query: &DocQuery, page: &DocPage) -> Result<DocSearch> {
        let window = page.from.saturating_add(page.size);
        if window > MAX_RESULT_WINDOW {
            return Err(ManagerError::InvalidArgument(format!(
                "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was \
                 [{window}]; page deeper with search_after"
            )));
        }
        let sinks = self.sinks(name)?;
        let after = page.after.as_deref();
        let (total, mut hits) = match query {
            DocQuery::All => {
                let mut total = 0;
                let mut hits = Vec::new();
                for (shard, sink) in sinks.iter().enumerate() {
                    total += sink.meta().map_err(internal)?.live_docs;
                    if window > 0 {
                        let docs = sink.scan(after, window).map_err(internal)?;
                        hits.extend(docs.into_iter().map(|(id, doc)| DocHit { id, shard: shard as u32, doc }));
                    }
                }
                (total, hits)
            }
            DocQuery::Ids(ids) => {
                let mut ids: Vec<&String> = ids.iter().collect();
                ids.sort();
                ids.dedup();
                let mut hits = Vec::new();
                for id in ids {
                    for (shard, sink) in sinks.iter().enumerate() {
                        if let Some(doc) = sink.get(id).map_err(internal)? {
                            hits.push(DocHit { id: id.clone(), shard: shard as u32, doc });
                        }
                    }
                }
                let total = hits.len() as u64;
                hits.retain(|h| after.is_none_or(|a| h.id.as_str() > a));
                (total, hits)
            }
        };
        hits.sort_by(|a, b| (a.id.as_str(), a.shard).cmp(&(b.id.as_str(), b.shard)));
        let hits = hits.into_iter().skip(page.from).take(page.size).collect();
        Ok(DocSearch { total, shards: sinks.len() as u32, hits })
    }

    /// Messages of one shard dropped under `DROP`, oldest first, after `after`.
    pub fn dropped_messages(
        &self,
        name: &str,
        shard: u32,
        after: Option<Pointer>,
        limit: usize,
    ) -> Result<Vec<DroppedMessage>> {
        self.sink(name, shard)?.dropped(after, limit).map_err(internal)
    }
}
