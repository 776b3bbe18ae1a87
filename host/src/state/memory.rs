//! `MemoryStateStore`: a state store in memory, for tests of the manager.

use super::file::encode;
use super::{IngestionRecord, PluginRecord, ShardStateRecord, StateError, StateStore, StateUsage, sha256_hex};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStateStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    records: BTreeMap<String, IngestionRecord>,
    shard_states: BTreeMap<(String, u32), ShardStateRecord>,
    plugins: Vec<PluginRecord>,
    components: BTreeMap<String, Vec<u8>>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateStore for MemoryStateStore {
    fn load(&self, name: &str) -> Result<Option<IngestionRecord>, StateError> {
        Ok(self.lock().records.get(name).cloned())
    }

    fn load_all(&self) -> Result<Vec<Result<IngestionRecord, StateError>>, StateError> {
        Ok(self.lock().records.values().cloned().map(Ok).collect())
    }

    fn save(&self, record: &IngestionRecord) -> Result<(), StateError> {
        self.lock().records.insert(record.name.clone(), record.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), StateError> {
        self.lock().records.remove(name);
        Ok(())
    }

    fn save_shard_states(&self, ingestion: &str, records: &[ShardStateRecord]) -> Result<(), StateError> {
        let mut inner = self.lock();
        for r in records {
            inner.shard_states.insert((ingestion.to_string(), r.metadata.shard), r.clone());
        }
        Ok(())
    }

    fn load_shard_states(&self, ingestion: &str) -> Result<Vec<ShardStateRecord>, StateError> {
        let inner = self.lock();
        let records: Vec<_> =
            inner.shard_states.iter().filter(|((n, _), _)| n == ingestion).map(|(_, r)| r.clone()).collect();
        // As the stores that read JSON: a newer version is refused.
        for r in &records {
            if r.version > super::SHARD_STATE_VERSION {
                return Err(StateError::NewerVersion {
                    path: format!("memory:{}", r.id),
                    version: r.version,
                    supported: super::SHARD_STATE_VERSION,
                });
            }
        }
        Ok(records)
    }

    fn delete_shard_states(&self, ingestion: &str) -> Result<(), StateError> {
        self.lock().shard_states.retain(|(n, _), _| n != ingestion);
        Ok(())
    }

    fn usage(&self) -> Result<StateUsage, StateError> {
        let inner = self.lock();
        let bytes = inner.records.values().map(|r| encode(r).len()).sum::<usize>()
            + inner.shard_states.values().map(|r| encode(r).len()).sum::<usize>()
            + inner.plugins.iter().map(|r| encode(r).len()).sum::<usize>()
            + inner.components.values().map(Vec::len).sum::<usize>();
        Ok(StateUsage {
            ingestion_records: inner.records.len() as u64,
            shard_records: inner.shard_states.len() as u64,
            plugin_records: inner.plugins.len() as u64,
            bytes: bytes as u64,
        })
    }

    fn save_plugin(&self, record: &PluginRecord, component: &[u8]) -> Result<(), StateError> {
        let mut inner = self.lock();
        inner.components.insert(record.sha256.clone(), component.to_vec());
        inner.plugins.retain(|p| !(p.name == record.name && p.version == record.version));
        inner.plugins.push(record.clone());
        Ok(())
    }

    fn load_plugins(&self) -> Result<Vec<PluginRecord>, StateError> {
        Ok(self.lock().plugins.clone())
    }

    fn load_component(&self, sha256: &str) -> Result<Vec<u8>, StateError> {
        let inner = self.lock();
        let bytes =
            inner.components.get(sha256).ok_or_else(|| StateError::Backend(format!("no component {sha256}")))?;
        if sha256_hex(bytes) != sha256 {
            return Err(StateError::Corrupt { path: format!("memory:{sha256}"), reason: "hash mismatch".into() });
        }
        Ok(bytes.clone())
    }

    fn delete_plugin(&self, name: &str, version: &str) -> Result<(), StateError> {
        self.lock().plugins.retain(|p| !(p.name == name && p.version == version));
        Ok(())
    }
}
