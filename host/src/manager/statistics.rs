//! The shards' state records (poll statistics, last error, committed
//! pointer): loaded when an ingestion starts, so its counters continue, and
//! saved at `sluice.state.auto_save_interval` (by the restarter thread) and
//! whenever shards stop (pause, stop, delete, shutdown).

use super::{ActivePlugin, Managed, Manager};
use crate::engine::{PollerState, RestoredShard, ShardStatus};
use crate::spec::IngestionSpec;
use crate::state::{IngestionRecord, ShardStateData, ShardStateMetadata, ShardStateRecord, StateError};
use crate::util::now_ms;
use std::collections::BTreeMap;
use std::time::Instant;

/// The state records of an ingestion's shards, from their status now.
pub(super) fn shard_records(
    record: &IngestionRecord,
    spec: &IngestionSpec,
    plugin: &ActivePlugin,
    statuses: &[ShardStatus],
) -> Vec<ShardStateRecord> {
    let now = now_ms();
    statuses
        .iter()
        // A shard another cluster host runs keeps the record that host saves.
        .filter(|s| s.state != PollerState::Elsewhere)
        .map(|s| {
            let metadata = ShardStateMetadata {
                source_type: serde_json::to_value(spec.source_type)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                ingestion: spec.name.clone(),
                ingestion_id: record.id.clone(),
                shard: s.shard,
                plugin: format!("{} {}", plugin.name, plugin.version).trim().to_string(),
            };
            let data = ShardStateData {
                last_offset: s.meta.last_pointer.as_ref().map(|p| p.to_string()),
                last_error: s.last_error.clone(),
                poll: s.poll.stats.clone(),
            };
            ShardStateRecord::new(metadata, data, now)
        })
        .collect()
}

impl Managed {
    /// Its shards' state records now, if it runs.
    pub(super) fn shard_records(&self) -> Option<Vec<ShardStateRecord>> {
        let running = self.running.as_ref()?;
        Some(shard_records(&self.record, &self.spec, &self.plugin, &running.status()))
    }
}

impl Manager {
    /// What the shards of `record`'s incarnation continue from. Records of
    /// an earlier ingestion of the same name are left out; a damaged record
    /// or one of a newer version is an error (the ingestion does not start).
    pub(super) fn restored_shards(&self, record: &IngestionRecord) -> Result<BTreeMap<u32, RestoredShard>, StateError> {
        Ok(self
            .store
            .load_shard_states(&record.name)?
            .into_iter()
            .filter(|r| r.metadata.ingestion_id == record.id)
            .map(|r| (r.metadata.shard, RestoredShard { poll: r.data.poll, last_error: r.data.last_error }))
            .collect())
    }

    /// Saves state records; a failure is logged (statistics are not worth
    /// failing a pause or a stop for). Callers hold [`Manager::saving`].
    pub(super) fn save_shard_records(&self, name: &str, records: &[ShardStateRecord]) {
        if let Err(e) = self.store.save_shard_states(name, records) {
            tracing::warn!(ingestion = name, error = %e, "could not save the shards' statistics");
        }
    }

    /// Serializes the saves of state records with their deletion (reset,
    /// cleanup), so that a save collected before a reset cannot land after it.
    pub(super) fn saving(&self) -> std::sync::MutexGuard<'_, ()> {
        self.saving.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves the final records of shards that stopped.
    pub(super) fn save_final_records(&self, name: &str, records: &[ShardStateRecord]) {
        let _saving = self.saving();
        self.save_shard_records(name, records);
    }

    /// Saves the statistics of one running ingestion now.
    pub(super) fn save_statistics(&self, name: &str) {
        let _saving = self.saving();
        let records = self.lock().get_mut(name).and_then(|m| {
            m.saved_at = Instant::now();
            m.shard_records()
        });
        if let Some(records) = records {
            self.save_shard_records(name, &records);
        }
    }

    /// Saves the statistics of every running ingestion whose
    /// `sluice.state.auto_save_interval` has passed since its last save.
    pub(super) fn save_due_statistics(&self) {
        let _saving = self.saving();
        let now = Instant::now();
        let due: Vec<(String, Vec<ShardStateRecord>)> = self
            .lock()
            .values_mut()
            .filter(|m| m.running.is_some() && now.duration_since(m.saved_at) >= m.spec.auto_save_interval())
            .filter_map(|m| {
                m.saved_at = now;
                Some((m.spec.name.clone(), m.shard_records()?))
            })
            .collect();
        for (name, records) in due {
            self.save_shard_records(&name, &records);
        }
    }
}
