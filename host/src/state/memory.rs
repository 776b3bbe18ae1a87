//! `MemoryStateStore`: a state store in memory, for tests of the manager.

use super::{IngestionRecord, PluginRecord, StateError, StateStore, sha256_hex};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStateStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    records: BTreeMap<String, IngestionRecord>,
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
