//! The manager: every ingestion of a host, their state and their plugins.
//!
//! This is the core the control plane adapts (gRPC knows nothing below this
//! line, and this module knows nothing of gRPC). One file per job:
//! `lifecycle` (create, update, pause, resume with resets, delete, state),
//! `restarter` (restore on open; retry ingestions that could not start),
//! `documents` (reads), `plugins` (the registry), `export` (state export,
//! import and reset), `statistics` (the shards' state records: loaded at
//! start, saved at an interval and when shards stop), `housekeeping`
//! (resetting one ingestion's state, cleanup of deleted ingestions, state
//! store statistics), `rules` (what an update may change), `shards` (a
//! Druid spec's shard count, learned from the stream at creation),
//! `supervisor` (Druid's supervisor operations: submit, suspend, resume,
//! reset, terminate) and `supervisor_report` (its status, row statistics
//! and history, typed with Druid's field names). Every change is
//! written to the state store before it is acknowledged, and on open the
//! manager restores each ingestion exactly as it was left (a paused shard
//! stays paused).

mod cluster;
mod documents;
mod export;
mod housekeeping;
mod info;
mod lifecycle;
mod plugins;
mod restarter;
mod rules;
mod shards;
mod statistics;
mod supervisor;
mod supervisor_report;

pub use export::{EXPORT_FORMAT, IngestionExport, ShardExport, StateExport};
pub use housekeeping::{CleanupReport, ResetOutcome, StateStats};
pub use info::{
    ActivePlugin, DocHit, DocPage, DocQuery, DocSearch, IngestionInfo, MAX_RESULT_WINDOW, ResetMode, ResetRequest,
};
pub use lifecycle::DeleteOutcome;
pub use plugins::{BUILTIN_VERSION, FILE_VERSION, PluginFiles, PluginRegistry};
pub use supervisor::{PartitionOffsets, SubmitOutcome};
pub use supervisor_report::{
    ExceptionEvent, Offset, RowStats, SupervisorHistoryEntry, SupervisorState, SupervisorStats, SupervisorStatus,
    SupervisorSummary, TaskReport, TaskRowStats,
};

use crate::cluster::Cluster;
use crate::engine::Ingestion;
use crate::spec::{IngestionSpec, SpecError};
use crate::state::{IngestionRecord, StateError, StateStore};
use crate::wiring::{DiskWiring, Wiring};
use restarter::Retry;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What went wrong, classified the way callers need to react.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Internal(String),
}

impl From<SpecError> for ManagerError {
    fn from(e: SpecError) -> Self {
        ManagerError::InvalidArgument(format!("invalid spec: {e}"))
    }
}

impl From<StateError> for ManagerError {
    fn from(e: StateError) -> Self {
        ManagerError::Internal(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ManagerError>;

/// How a manager opens.
#[derive(Clone)]
pub struct ManagerOptions {
    /// Start every ingestion the state store holds (`sluice serve`), or
    /// none until asked (`sluice run`, which runs one).
    pub restore: bool,
    /// Whether specs may name a component file (`sluice.plugin.path`).
    pub plugin_files: PluginFiles,
    /// `sluice serve --cluster`: this host runs only the shards whose
    /// leases it holds (see [`crate::cluster`]); every change to the state
    /// store is announced to the other hosts.
    pub cluster: Option<Arc<Cluster>>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions { restore: true, plugin_files: PluginFiles::Refused, cluster: None }
    }
}

/// One ingestion as the manager holds it.
struct Managed {
    record: IngestionRecord,
    spec: IngestionSpec,
    plugin: ActivePlugin,
    running: Option<Ingestion>,
    start_error: Option<String>,
    /// When to try starting it again, if it could not start.
    retry: Option<Retry>,
    /// When its shards' statistics were last saved.
    saved_at: std::time::Instant,
}

impl Managed {
    fn info(&self) -> IngestionInfo {
        IngestionInfo {
            name: self.spec.name.clone(),
            spec: crate::util::redact_secrets(&self.record.spec),
            shards: self.spec.shards,
            source_type: self.spec.source_type,
            plugin: self.plugin.clone(),
            paused_shards: self.record.paused_shards.iter().copied().collect(),
            error_strategy: self.record.error_strategy.unwrap_or(self.spec.error_strategy),
            start_error: self.start_error.clone(),
            created_at_ms: self.record.history.first().map(|h| h.at_ms).unwrap_or(self.record.updated_at_ms),
            updated_at_ms: self.record.updated_at_ms,
        }
    }

    fn running(&self) -> Result<&Ingestion> {
        self.running.as_ref().ok_or_else(|| {
            ManagerError::FailedPrecondition(format!(
                "ingestion {} is not running: {}",
                self.spec.name,
                self.start_error.as_deref().unwrap_or("stopped")
            ))
        })
    }
}

pub struct Manager {
    /// Opens the sources and sinks specs name.
    wiring: Arc<dyn Wiring>,
    store: Arc<dyn StateStore>,
    plugins: PluginRegistry,
    ingestions: Mutex<BTreeMap<String, Managed>>,
    /// Set by [`Manager::shutdown`]: no more start retries.
    stopping: AtomicBool,
    /// Held while shard state records are saved or deleted.
    saving: Mutex<()>,
    /// In a cluster: this host's membership.
    cluster: Option<Arc<Cluster>>,
    /// Ingestions this host is creating or restarting right now (stored,
    /// not yet in `ingestions`): applying other hosts' changes leaves them alone.
    launching: Mutex<std::collections::BTreeSet<String>>,
}

impl Manager {
    /// Opens a host over `data_dir` and `store`, restoring every ingestion the
    /// store holds. A record that cannot be restored is reported and left out;
    /// the others run.
    pub fn open(data_dir: &Path, store: Arc<dyn StateStore>) -> Result<Arc<Manager>> {
        Self::open_with(data_dir, store, ManagerOptions::default())
    }

    pub fn open_with(data_dir: &Path, store: Arc<dyn StateStore>, options: ManagerOptions) -> Result<Arc<Manager>> {
        Self::with_wiring(Arc::new(DiskWiring::new(data_dir)), store, options)
    }

    /// A manager over any wiring (tests pass [`crate::wiring::MemoryWiring`]).
    pub fn with_wiring(
        wiring: Arc<dyn Wiring>,
        store: Arc<dyn StateStore>,
        options: ManagerOptions,
    ) -> Result<Arc<Manager>> {
        // In a cluster every change to the store is announced to the other hosts.
        let store = match &options.cluster {
            Some(c) => cluster::announcing(store, c.clone()),
            None => store,
        };
        let plugins = PluginRegistry::open(wiring.component_cache().as_deref(), store.clone(), options.plugin_files)?;
        let manager = Arc::new(Manager {
            wiring,
            store,
            plugins,
            ingestions: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
            saving: Mutex::new(()),
            cluster: options.cluster,
            launching: Mutex::new(Default::default()),
        });
        if options.restore {
            manager.restore()?;
        }
        restarter::spawn(&manager)?;
        Ok(manager)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Managed>> {
        self.ingestions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Managed) -> Result<T>) -> Result<T> {
        let mut map = self.lock();
        let m = map.get_mut(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        f(m)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// The plugin registry (built-in, registered, compiled).
    pub fn plugins(&self) -> &PluginRegistry {
        &self.plugins
    }

    /// Stops every ingestion (state stays as it is, to be restored) and
    /// saves its shards' statistics.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let running: Vec<(IngestionRecord, IngestionSpec, ActivePlugin, Ingestion)> = self
            .lock()
            .values_mut()
            .filter_map(|m| Some((m.record.clone(), m.spec.clone(), m.plugin.clone(), m.running.take()?)))
            .collect();
        for (record, spec, plugin, i) in running {
            let statuses = i.stop();
            self.save_final_records(&spec.name, &statistics::shard_records(&record, &spec, &plugin, &statuses));
        }
    }
}

#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod supervisor_tests;
#[cfg(test)]
mod tests;
