//! State export, import and reset, host-wide. The export format
//! (`sluice-state-v1`) is typed here; JSON only at the edge.

use super::rules::check_no_redacted;
use super::{Manager, ManagerError, Result};
use crate::pointer::{Pointer, StartPosition};
use crate::sink::ShardCounters;
use crate::spec::IngestionSpec;
use crate::util::redact_secrets;
use crate::state::{HistoryEntry, IngestionRecord, PluginRecord};
use crate::util::now_ms;
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

/// One ingestion: its record (spec and history redacted) and its shards' checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestionExport {
    pub record: IngestionRecord,
    pub shards: Vec<ShardExport>,
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
        let mut ingestions = Vec::new();
        for m in map.values() {
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
                history: m.record.history.iter().map(|h| HistoryEntry { spec: redact_secrets(&h.spec), ..h.clone() }).collect(),
                ..m.record.clone()
            };
            ingestions.push(IngestionExport { record, shards });
        }
        Ok(StateExport {
            format: EXPORT_FORMAT.into(),
            exported_at_ms: now_ms(),
            ingestions,
            plugins: self.plugins.records()?,
        })
    }

    /// Recreates the exported ingestions with their pointers, counters and
    /// paused shards. Existing names are refused; nothing is changed then.
    pub fn import_state(&self, export: &StateExport) -> Result<Vec<String>> {
        if export.format != EXPORT_FORMAT {
            return Err(ManagerError::InvalidArgument(format!("not a {EXPORT_FORMAT} export (format {:?})", export.format)));
        }
        let mut plan = Vec::new();
        for entry in &export.ingestions {
            let spec = IngestionSpec::from_value(&entry.record.spec)?;
            check_no_redacted(&spec)?;
            if self.lock().contains_key(&spec.name) {
                return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", spec.name)));
            }
            if let Some(s) = entry.shards.iter().find(|s| s.shard >= spec.shards) {
                return Err(ManagerError::InvalidArgument(format!("{}: exported shard {} is beyond its spec", spec.name, s.shard)));
            }
            plan.push((entry.record.clone(), spec, &entry.shards));
        }
        let mut names = Vec::new();
        for (mut record, spec, shards) in plan {
            let sinks = self.wiring.open_sinks(&spec).map_err(|e| ManagerError::Internal(e.to_string()))?;
            for s in shards {
                sinks[s.shard as usize]
                    .import_meta(s.resume.clone(), s.last_pointer.clone(), s.counters)
                    .map_err(|e| ManagerError::Internal(e.to_string()))?;
            }
            drop(sinks);
            let now = now_ms();
            record.history.push(HistoryEntry { at_ms: now, kind: "imported".into(), spec: redact_secrets(&record.spec), detail: String::new() });
            record.updated_at_ms = now;
            self.store.save(&record)?;
            let managed = self.launch_or_retry(record, spec, "imported");
            names.push(managed.spec.name.clone());
            self.lock().insert(managed.spec.name.clone(), managed);
        }
        Ok(names)
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
