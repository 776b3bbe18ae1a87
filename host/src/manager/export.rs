//! State export, import and reset, host-wide or of one ingestion (an
//! export of one ingestion is an export with one entry). The export format
//! (`sluice-state-v1`) is typed here; JSON only at the edge.

use super::rules::check_no_redacted;
use super::{Managed, Manager, ManagerError, Result};
use crate::pointer::{Pointer, StartPosition};
use crate::sink::ShardCounters;
use crate::spec::IngestionSpec;
use crate::state::{HistoryEntry, IngestionRecord, PluginRecord, ShardStateRecord};
use crate::util::now_ms;
use crate::util::{REDACTED, redact_secrets};
use serde::{Deserialize, Serialize};

pub const EXPORT_FORMAT: &str = "sluice-state-v1";

/// Everything a host remembers, without documents and without secrets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateExport {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    pub exported_at_ms: i64,
    pub ingestions: Vec<IngestionExport>,
    /// Registered plugins (records only; components stay in the state store).
    #[serde(default)]
    pub plugins: Vec<PluginRecord>,
}

/// One ingestion: its record (spec and history redacted), its shards'
/// checkpoints and their state records (poll statistics, last error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestionExport {
    pub record: IngestionRecord,
    pub shards: Vec<ShardExport>,
    /// Absent in exports made before sluice kept them.
    #[serde(default)]
    pub shard_states: Vec<ShardStateRecord>,
}

/// One shard's checkpoint and counters, as its sink held them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardExport {
    pub shard: u32,
    pub resume: Option<StartPosition>,
    pub last_pointer: Option<Pointer>,
    pub counters: ShardCounters,
    #[serde(default)]
    pub live_docs: u64,
}

impl Manager {
    /// Specs (redacted), paused shards, history, and each shard's pointers
    /// and counters.
    pub fn export_state(&self) -> Result<StateExport> {
        let map = self.lock();
        let ingestions = map.values().map(|m| self.export_one(m)).collect::<Result<Vec<_>>>()?;
        Ok(StateExport {
            format: EXPORT_FORMAT.into(),
            exported_at_ms: now_ms(),
            ingestions,
            plugins: self.plugins.records()?,
        })
    }

    /// One ingestion's state, as an export with that one entry (and the
    /// plugin records it may need); [`Manager::import_state`] takes it.
    pub fn export_ingestion(&self, name: &str) -> Result<StateExport> {
        let map = self.lock();
        let m = map.get(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        let entry = self.export_one(m)?;
        let plugins = self.plugins.records()?.into_iter().filter(|p| p.name == m.spec.plugin.name).collect();
        Ok(StateExport { format: EXPORT_FORMAT.into(), exported_at_ms: now_ms(), ingestions: vec![entry], plugins })
    }

    fn export_one(&self, m: &Managed) -> Result<IngestionExport> {
        // Every checkpoint, or an error: an export without one would
        // restart that shard from `pointer.init.reset` when imported.
        let cannot = |e: String| ManagerError::Internal(format!("exporting ingestion {}: {e}", m.spec.name));
        let sinks = match &m.running {
            Some(i) => i.sinks().to_vec(),
            None => self.wiring.open_sinks(&m.spec).map_err(|e| cannot(e.to_string()))?,
        };
        let shards = sinks
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let meta = s.meta().map_err(|e| cannot(e.to_string()))?;
                Ok(ShardExport {
                    shard: i as u32,
                    resume: meta.resume,
                    last_pointer: meta.last_pointer,
                    counters: meta.counters,
                    live_docs: meta.live_docs,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let record = IngestionRecord {
            spec: redact_secrets(&m.record.spec),
            history: m
                .record
                .history
                .iter()
                .map(|h| HistoryEntry { spec: redact_secrets(&h.spec), ..h.clone() })
                .collect(),
            ..m.record.clone()
        };
        // The statistics as the shards have them now, or as last saved.
        let shard_states = match m.shard_records() {
            Some(records) => records,
            None => self.restored_records(&m.record)?,
        };
        Ok(IngestionExport { record, shards, shard_states })
    }

    /// The stored state records of `record`'s incarnation.
    fn restored_records(&self, record: &IngestionRecord) -> Result<Vec<ShardStateRecord>> {
        Ok(self
            .store
            .load_shard_states(&record.name)?
            .into_iter()
            .filter(|r| r.metadata.ingestion_id == record.id)
            .collect())
    }

    /// Recreates the exported ingestions with their pointers, counters and
    /// paused shards. Existing names are refused; nothing is changed then.
    ///
    /// An export holds checkpoints, not documents. Where a shard's sink on
    /// this host already holds that ingestion's data (a shared Redis sink,
    /// or a copied data directory), the sink's own checkpoint stands. Where
    /// the sink is empty but the export says documents were committed, the
    /// import is refused (the checkpoint would point past documents that are
    /// not here) unless `reset_positions`: then those shards start over from
    /// `pointer.init.reset`, and the history says so.
    pub fn import_state(&self, export: &StateExport, reset_positions: bool) -> Result<Vec<String>> {
        if export.format != EXPORT_FORMAT {
            return Err(ManagerError::InvalidArgument(format!(
                "not a {EXPORT_FORMAT} export (format {:?})",
                export.format
            )));
        }
        // Every secret the export lost, at once, with where to put it.
        let lost: Vec<String> = export
            .ingestions
            .iter()
            .enumerate()
            .flat_map(|(i, e)| redacted_paths(&e.record.spec, &format!("ingestions[{i}].record.spec")))
            .collect();
        if !lost.is_empty() {
            return Err(ManagerError::InvalidArgument(format!(
                "the export holds no secrets (they are never exported): put each value in place of {REDACTED} at {} \
                 and import again",
                lost.join(", ")
            )));
        }
        let mut plan = Vec::new();
        for entry in &export.ingestions {
            let spec = IngestionSpec::from_value(&entry.record.spec)?;
            check_no_redacted(&spec)?;
            if self.lock().contains_key(&spec.name) {
                return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", spec.name)));
            }
            if let Some(s) = entry.shards.iter().find(|s| s.shard >= spec.shards) {
                return Err(ManagerError::InvalidArgument(format!(
                    "{}: exported shard {} is beyond its spec",
                    spec.name, s.shard
                )));
            }
            let sinks = self.wiring.open_sinks(&spec).map_err(|e| ManagerError::Internal(e.to_string()))?;
            let mut restore = Vec::new();
            let mut reset = Vec::new();
            for s in &entry.shards {
                let sink = &sinks[s.shard as usize];
                let meta = sink.meta().map_err(|e| ManagerError::Internal(e.to_string()))?;
                let committed = s.resume.is_some() || s.live_docs > 0 || s.counters.total_processed_count > 0;
                match (&meta.owner, meta.is_pristine()) {
                    // The sink holds this ingestion's data: its checkpoint is the truth.
                    (Some(owner), _) if owner.ingestion_id == entry.record.id => {}
                    (_, true) if committed && !reset_positions => {
                        return Err(ManagerError::FailedPrecondition(format!(
                            "ingestion {}: the export's checkpoint of shard {} (pointer {}, {} live documents) refers to \
                             documents that are not in this host's sink{}. An export carries checkpoints, not documents: \
                             copy the data directory's sinks along, use a shared (redis) sink, or import with \
                             reset_positions (`sluice ctl state import --reset-positions`) to ingest again from \
                             pointer.init.reset",
                            spec.name,
                            s.shard,
                            s.last_pointer.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                            s.live_docs,
                            self.wiring
                                .local_data(&spec)
                                .or_else(|| Some(self.wiring_place(&spec)))
                                .map(|p| format!(" ({})", p.display()))
                                .unwrap_or_default(),
                        )));
                    }
                    (_, true) if committed => reset.push(s.shard),
                    (_, true) => {}
                    // Data written before sinks had owners: as before, the export's checkpoint.
                    (None, false) => restore.push(s),
                    // Another incarnation's data: starting refuses it, with the ways out.
                    (Some(_), false) => {}
                }
            }
            plan.push((entry.record.clone(), spec, sinks, restore, reset, entry.shard_states.clone()));
        }
        let mut names = Vec::new();
        for (mut record, spec, sinks, restore, reset, shard_states) in plan {
            for s in restore {
                sinks[s.shard as usize]
                    .import_meta(s.resume.clone(), s.last_pointer.clone(), s.counters)
                    .map_err(|e| ManagerError::Internal(e.to_string()))?;
            }
            drop(sinks);
            let now = now_ms();
            let detail = if reset.is_empty() {
                String::new()
            } else {
                format!("documents not on this host: shards {reset:?} start over from pointer.init.reset")
            };
            record.record_change(now, "imported", detail);
            record.deleted_at_ms = None;
            let _launching = self.launching(&record.name);
            self.replace_tombstone(&record.name)?;
            // The shards' statistics continue, except where they start over.
            let states: Vec<ShardStateRecord> = shard_states
                .into_iter()
                .filter(|r| r.metadata.ingestion_id == record.id && !reset.contains(&r.metadata.shard))
                .collect();
            {
                let _saving = self.saving();
                self.store.delete_shard_states(&record.name)?;
                self.store.save_shard_states(&record.name, &states)?;
            }
            self.store.save(&record)?;
            let managed = self.launch_or_retry(record, spec, "imported");
            names.push(managed.spec.name.clone());
            self.lock().insert(managed.spec.name.clone(), managed);
        }
        Ok(names)
    }

    /// Where a spec's sinks are, in words, when they are not on local disk.
    fn wiring_place(&self, spec: &IngestionSpec) -> std::path::PathBuf {
        match &spec.sink {
            crate::spec::SinkType::Redis { key_prefix, .. } => format!("redis {key_prefix}:{}:*", spec.name).into(),
            crate::spec::SinkType::Embedded => "empty embedded sink".into(),
        }
    }

    /// Stops and forgets every ingestion and plugin; with `delete_data`, the sinks too.
    pub fn reset_state(&self, delete_data: bool) -> Result<()> {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for name in names {
            self.delete(&name, delete_data)?;
        }
        self.plugins.remove_all()
    }
}

/// The JSON paths under `at` whose value is, or holds, the redaction marker.
fn redacted_paths(value: &serde_json::Value, at: &str) -> Vec<String> {
    match value {
        serde_json::Value::String(s) if s.contains(REDACTED) => vec![at.to_string()],
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| {
                let key = if k.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    format!("{at}.{k}")
                } else {
                    format!("{at}[{k:?}]")
                };
                redacted_paths(v, &key)
            })
            .collect(),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().flat_map(|(i, v)| redacted_paths(v, &format!("{at}[{i}]"))).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_redacted_secret_is_named_with_its_path() {
        let spec = json!({"settings": {"ingestion_source": {"param": {"secret_key": REDACTED, "region": "eu"},
            "index.x": {"sasl.password": REDACTED}}}, "sluice": {"sink": {"url": format!("redis://:{REDACTED}@h/0")}}});
        assert_eq!(
            redacted_paths(&spec, "spec"),
            vec![
                "spec.settings.ingestion_source[\"index.x\"][\"sasl.password\"]".to_string(),
                "spec.settings.ingestion_source.param.secret_key".to_string(),
                "spec.sluice.sink.url".to_string(),
            ]
        );
    }
}
