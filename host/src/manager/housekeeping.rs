//! Housekeeping of the state: resetting one ingestion's state, removing
//! what deleted ingestions left behind (`cleanup_old_states`), and what the
//! state store holds (`state_stats`, as Iggy's `get_state_stats`).

use super::{Manager, ManagerError, Result};
use crate::sink::ShardCounters;
use crate::spec::{IngestionSpec, SinkType};
use crate::state::StateUsage;
use crate::util::now_ms;
use std::path::Path;
use std::time::Duration;

/// What [`Manager::reset_ingestion`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetOutcome {
    /// In words, as the history records it.
    pub detail: String,
}

/// What [`Manager::cleanup_old_states`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// The deleted ingestions whose remains were removed.
    pub ingestions: Vec<String>,
    /// State records removed (ingestion tombstones and shard state records).
    pub records: u64,
    /// Bytes freed: the records' stored size and the local sink data.
    pub bytes: u64,
    /// What stays elsewhere (a Redis sink's keys), in words.
    pub data_left: Vec<String>,
}

/// What the state store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateStats {
    pub usage: StateUsage,
    /// Ingestion records of live ingestions, and tombstones of deleted ones.
    pub ingestions: u64,
    pub deleted: u64,
    /// The oldest and newest update of any ingestion or shard state record.
    pub oldest_update_ms: Option<i64>,
    pub newest_update_ms: Option<i64>,
}

impl StateStats {
    /// Every record: ingestions (tombstones too), shard states, plugins.
    pub fn records(&self) -> u64 {
        self.usage.ingestion_records + self.usage.shard_records + self.usage.plugin_records
    }
}

/// The size of a file or a directory tree, in bytes.
fn disk_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|entries| entries.flatten().map(|e| disk_size(&e.path())).sum()).unwrap_or(0)
}

impl Manager {
    /// Resets one ingestion's state: every shard back to
    /// `pointer.init.reset`, its counters and poll statistics zeroed, its
    /// last errors forgotten; documents are kept unless `delete_data`
    /// (embedded sinks: their directory; a Redis sink's documents cannot be
    /// deleted this way: refused). The ingestion restarts; paused shards and
    /// a runtime error policy stay.
    pub fn reset_ingestion(&self, name: &str, delete_data: bool) -> Result<ResetOutcome> {
        let (spec, sink) = self.with(name, |m| Ok((m.spec.clone(), m.spec.sink.clone())))?;
        if delete_data && let SinkType::Redis { key_prefix, .. } = &sink {
            return Err(ManagerError::FailedPrecondition(format!(
                "ingestion {name} writes to a redis sink: sluice does not delete its documents (delete the keys \
                 {key_prefix}:{{{name}:*}}:* in Redis, then reset without --delete-data)"
            )));
        }
        let _launching = self.launching(name);
        let managed =
            self.lock().remove(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        if let Some(i) = managed.running {
            i.stop();
        }
        let result = self.reset_sinks(&spec, delete_data);
        let mut record = managed.record;
        let detail = format!(
            "state reset: shards back to pointer.init.reset ({}), counters and statistics zeroed, documents {}",
            spec.init_reset,
            if delete_data { "deleted" } else { "kept" }
        );
        if result.is_ok() {
            let now = now_ms();
            record.last_errors.clear();
            record.record_change(now, "reset", detail.clone());
            {
                let _saving = self.saving();
                self.store.delete_shard_states(name)?;
            }
            self.store.save(&record)?;
        }
        // Started again either way; a failed reset leaves the state as it was.
        let managed = self.launch_or_retry(record, spec, "reset");
        self.lock().insert(name.to_string(), managed);
        result.map(|()| ResetOutcome { detail })
    }

    /// Moves every sink of a stopped ingestion back to the start.
    fn reset_sinks(&self, spec: &IngestionSpec, delete_data: bool) -> Result<()> {
        let failed = |e: String| ManagerError::Internal(format!("resetting ingestion {}: {e}", spec.name));
        if delete_data {
            return self.wiring.delete_local_data(spec).map_err(|e| failed(e.to_string()));
        }
        for sink in self.wiring.open_sinks(spec).map_err(|e| failed(e.to_string()))? {
            sink.import_meta(None, None, ShardCounters::default()).map_err(|e| failed(e.to_string()))?;
        }
        Ok(())
    }

    /// Removes the remains of ingestions deleted more than `older_than` ago:
    /// their tombstone, their shards' state records and their local sink
    /// data. A Redis sink's keys stay (the report says where).
    pub fn cleanup_old_states(&self, older_than: Duration) -> Result<CleanupReport> {
        let cutoff = now_ms().saturating_sub(older_than.as_millis().min(i64::MAX as u128) as i64);
        let mut report = CleanupReport::default();
        for loaded in self.store.load_all()? {
            let Ok(record) = loaded else { continue };
            let Some(deleted_at) = record.deleted_at_ms else { continue };
            if deleted_at > cutoff || self.lock().contains_key(&record.name) {
                continue;
            }
            let name = record.name.clone();
            let spec = IngestionSpec::from_value(&record.spec).ok();
            let shard_states = self.store.load_shard_states(&name).unwrap_or_default();
            let mut bytes = crate::state::file::encode(&record).len() as u64
                + shard_states.iter().map(|r| crate::state::file::encode(r).len() as u64).sum::<u64>();
            if let Some(spec) = &spec {
                if let Some(dir) = self.wiring.local_data(spec) {
                    bytes += disk_size(&dir);
                    self.wiring
                        .delete_local_data(spec)
                        .map_err(|e| ManagerError::Internal(format!("deleting {}: {e}", dir.display())))?;
                }
                if let SinkType::Redis { key_prefix, .. } = &spec.sink {
                    report.data_left.push(format!(
                        "the documents of {name} stay in Redis under {key_prefix}:{{{name}:*}}:* (delete them there)"
                    ));
                }
            }
            {
                let _saving = self.saving();
                self.store.delete_shard_states(&name)?;
            }
            // A create of the same name since replaced the tombstone: leave it.
            if self.store.load(&name)?.is_some_and(|r| r.deleted_at_ms == Some(deleted_at)) {
                self.store.delete(&name)?;
            }
            tracing::info!(ingestion = %name, bytes, "remains of a deleted ingestion removed");
            report.records += 1 + shard_states.len() as u64;
            report.bytes += bytes;
            report.ingestions.push(name);
        }
        Ok(report)
    }

    /// How many records the state store holds, their size, and the oldest
    /// and newest update among them.
    pub fn state_stats(&self) -> Result<StateStats> {
        let mut stats = StateStats { usage: self.store.usage()?, ..StateStats::default() };
        let mut seen = |ms: i64| {
            stats.oldest_update_ms = Some(stats.oldest_update_ms.map_or(ms, |o| o.min(ms)));
            stats.newest_update_ms = Some(stats.newest_update_ms.map_or(ms, |n| n.max(ms)));
        };
        let mut names = Vec::new();
        let (mut live, mut deleted) = (0, 0);
        for record in self.store.load_all()?.into_iter().flatten() {
            seen(record.updated_at_ms);
            if record.deleted_at_ms.is_some() {
                deleted += 1
            } else {
                live += 1
            }
            names.push(record.name);
        }
        for name in names {
            for r in self.store.load_shard_states(&name).unwrap_or_default() {
                if let Some(ms) = r.last_updated_ms() {
                    seen(ms);
                }
            }
        }
        stats.ingestions = live;
        stats.deleted = deleted;
        Ok(stats)
    }
}
