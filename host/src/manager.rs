//! The manager: every ingestion of a host, their state and their plugins.
//!
//! This is the core the control plane adapts (gRPC knows nothing below this
//! line, and this module knows nothing of gRPC): create, update, pause,
//! resume with pointer resets, delete; read documents, state and stats;
//! register plugins; export, import and reset state. Every change is written
//! to the state store before it is acknowledged, and on start the manager
//! restores each ingestion exactly as it was left (a paused shard stays
//! paused).

use crate::engine::{open_sinks, sink_path, Ingestion, PollerState, RuntimeOverrides, ShardStatus};
use crate::plugin::{builtin, CompiledPlugin, Limits, PluginEngine, PluginError};
use crate::pointer::{Pointer, StartPosition};
use crate::sink::{ShardCounters, StoredDoc};
use crate::spec::{flat_settings, redact_secrets, IngestionSpec, SinkType, SpecError, REDACTED};
use crate::state::{now_ms, sha256_hex, HistoryEntry, IngestionRecord, PluginRecord, StateError, StateStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The version under which the built-in `opensearch` plugin is listed.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

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

type Result<T> = std::result::Result<T, ManagerError>;

/// The plugin an ingestion decodes with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePlugin {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// What the manager tells about one ingestion. Secrets are redacted.
#[derive(Clone, Debug, Serialize)]
pub struct IngestionInfo {
    pub name: String,
    pub spec: Value,
    pub shards: u32,
    pub source_type: String,
    pub plugin: ActivePlugin,
    pub paused_shards: Vec<u32>,
    pub error_strategy: String,
    /// Why the ingestion is not running, if it is not.
    pub start_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A pointer reset requested with a resume.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ResetRequest {
    pub shard: u32,
    /// `offset`, `timestamp`, `earliest` or `latest`.
    pub mode: String,
    /// The offset (a pointer) or the timestamp (ms) for those modes.
    #[serde(default)]
    pub value: Option<String>,
}

impl ResetRequest {
    pub fn position(&self) -> Result<StartPosition> {
        let value = || {
            self.value.as_deref().ok_or_else(|| {
                ManagerError::InvalidArgument(format!("reset of shard {}: mode {} needs a value", self.shard, self.mode))
            })
        };
        match self.mode.to_ascii_lowercase().as_str() {
            "earliest" => Ok(StartPosition::Earliest),
            "latest" => Ok(StartPosition::Latest),
            "offset" | "reset_by_offset" => {
                let v = value()?;
                v.parse::<Pointer>()
                    .map(StartPosition::At)
                    .map_err(|e| ManagerError::InvalidArgument(format!("reset of shard {}: {e}", self.shard)))
            }
            "timestamp" | "reset_by_timestamp" => {
                let v = value()?;
                v.trim().parse::<i64>().ok().filter(|t| *t >= 0).map(StartPosition::Timestamp).ok_or_else(|| {
                    ManagerError::InvalidArgument(format!(
                        "reset of shard {}: {v:?} is not a timestamp in ms since the epoch",
                        self.shard
                    ))
                })
            }
            other => Err(ManagerError::InvalidArgument(format!(
                "reset of shard {}: unknown mode {other:?}; allowed: offset, timestamp, earliest, latest",
                self.shard
            ))),
        }
    }
}

struct Managed {
    record: IngestionRecord,
    spec: IngestionSpec,
    plugin: ActivePlugin,
    running: Option<Ingestion>,
    start_error: Option<String>,
    /// When to try starting it again: a restored ingestion that could not
    /// start (its cluster or Redis unreachable, its plugin not registered
    /// yet, ...) is retried with backoff instead of staying down.
    retry: Option<Retry>,
}

#[derive(Clone, Copy, Debug)]
struct Retry {
    at: Instant,
    backoff: Duration,
    attempts: u32,
}

const FIRST_START_RETRY: Duration = Duration::from_secs(1);
const MAX_START_RETRY: Duration = Duration::from_secs(60);

impl Managed {
    fn info(&self) -> IngestionInfo {
        IngestionInfo {
            name: self.spec.name.clone(),
            spec: redact_secrets(&self.record.spec),
            shards: self.spec.shards,
            source_type: serde_json::to_value(self.spec.source_type).unwrap().as_str().unwrap_or_default().into(),
            plugin: self.plugin.clone(),
            paused_shards: self.record.paused_shards.iter().copied().collect(),
            error_strategy: self.spec.error_strategy.as_str().into(),
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
    data_dir: PathBuf,
    store: Arc<dyn StateStore>,
    engine: Arc<PluginEngine>,
    /// The plugins compiled into the binary, listed under [`BUILTIN_VERSION`].
    builtins: Vec<(ActivePlugin, CompiledPlugin)>,
    ingestions: Mutex<BTreeMap<String, Managed>>,
    compiled: Mutex<HashMap<String, CompiledPlugin>>,
    /// Set by [`Manager::shutdown`]: no more start retries.
    stopping: std::sync::atomic::AtomicBool,
}

impl Manager {
    /// Opens a host over `data_dir` and `store`, restoring every ingestion the
    /// store holds. A record that cannot be restored is reported and left out;
    /// the others run.
    pub fn open(data_dir: &Path, store: Arc<dyn StateStore>) -> Result<Arc<Manager>> {
        let engine = PluginEngine::with_cache(&data_dir.join("cache").join("components"))
            .map_err(|e| ManagerError::Internal(e.to_string()))?;
        let mut builtins = Vec::new();
        for (name, bytes) in builtin::ALL {
            let compiled =
                engine.compile(name, bytes, Limits::default()).map_err(|e| ManagerError::Internal(e.to_string()))?;
            let active = ActivePlugin { name: (*name).into(), version: BUILTIN_VERSION.into(), sha256: sha256_hex(bytes) };
            builtins.push((active, compiled));
        }
        let manager = Arc::new(Manager {
            data_dir: data_dir.to_path_buf(),
            store,
            engine,
            builtins,
            ingestions: Mutex::new(BTreeMap::new()),
            compiled: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        });
        manager.restore()?;
        let weak = Arc::downgrade(&manager);
        std::thread::Builder::new()
            .name("sluice-restarter".into())
            .spawn(move || {
                // Ends with the manager (or its shutdown).
                while let Some(manager) = weak.upgrade() {
                    if manager.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    manager.retry_failed_starts();
                    drop(manager);
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .map_err(|e| ManagerError::Internal(format!("spawning the restarter thread: {e}")))?;
        Ok(manager)
    }

    /// Tries again to start the restored ingestions that could not start and
    /// whose retry is due. Starting happens outside the lock (it may wait on
    /// a cluster); the result is kept only if the ingestion was not changed
    /// or deleted meanwhile.
    fn retry_failed_starts(&self) {
        let now = Instant::now();
        let due: Vec<(IngestionRecord, IngestionSpec)> = self
            .lock()
            .values()
            .filter(|m| m.running.is_none() && m.retry.is_some_and(|r| r.at <= now))
            .map(|m| (m.record.clone(), m.spec.clone()))
            .collect();
        for (record, spec) in due {
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let name = spec.name.clone();
            let updated_at = record.updated_at_ms;
            let attempt = self.launch(record, spec);
            let mut map = self.lock();
            let stopping = self.stopping.load(std::sync::atomic::Ordering::Relaxed);
            let Some(current) = map
                .get_mut(&name)
                .filter(|m| !stopping && m.running.is_none() && m.record.updated_at_ms == updated_at)
            else {
                drop(map);
                if let Some(i) = attempt.running {
                    i.stop(); // changed or deleted meanwhile, or shutting down
                }
                continue;
            };
            let mut retry = current.retry.expect("due");
            retry.attempts += 1;
            match attempt.running {
                Some(i) => {
                    tracing::info!(ingestion = %name, attempts = retry.attempts, "ingestion started on a retry");
                    current.running = Some(i);
                    current.plugin = attempt.plugin;
                    current.start_error = None;
                    current.retry = None;
                }
                None => {
                    retry.backoff = (retry.backoff * 2).min(MAX_START_RETRY);
                    retry.at = Instant::now() + retry.backoff;
                    let error = attempt.start_error.unwrap_or_default();
                    tracing::warn!(ingestion = %name, error = %error, retry_in = ?retry.backoff, "ingestion still cannot start");
                    current.start_error = Some(error);
                    current.retry = Some(retry);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Managed>> {
        self.ingestions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn restore(&self) -> Result<()> {
        for loaded in self.store.load_all()? {
            let record = match loaded {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "an ingestion record could not be restored; the others start");
                    continue;
                }
            };
            let spec = match IngestionSpec::from_value(&record.spec) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(ingestion = %record.name, error = %e, "stored spec is invalid; not started");
                    continue;
                }
            };
            let name = spec.name.clone();
            let managed = self.launch_or_retry(record, spec, "restored");
            self.lock().insert(name, managed);
        }
        Ok(())
    }

    /// Starts a stored ingestion (restored or imported); one that cannot
    /// start now is retried by the restarter.
    fn launch_or_retry(&self, record: IngestionRecord, spec: IngestionSpec, how: &str) -> Managed {
        let name = spec.name.clone();
        let mut managed = self.launch(record, spec);
        match &managed.start_error {
            Some(e) => {
                tracing::error!(ingestion = %name, error = %e, retry_in = ?FIRST_START_RETRY, "ingestion {how} but not running; retrying");
                managed.retry =
                    Some(Retry { at: Instant::now() + FIRST_START_RETRY, backoff: FIRST_START_RETRY, attempts: 0 });
            }
            None => tracing::info!(ingestion = %name, "ingestion {how}"),
        }
        managed
    }

    /// Starts an ingestion; a failure to start is kept as its `start_error`.
    fn launch(&self, record: IngestionRecord, spec: IngestionSpec) -> Managed {
        let (plugin, start) = match self.resolve_plugin(&spec) {
            Ok((active, compiled)) => {
                let overrides = RuntimeOverrides {
                    paused_shards: record.paused_shards.clone(),
                    error_strategy: record.error_strategy,
                };
                (active, Ingestion::start(spec.clone(), compiled, &self.data_dir, overrides).map_err(|e| e.to_string()))
            }
            Err(e) => (
                ActivePlugin {
                    name: spec.plugin.name.clone(),
                    version: spec.plugin.version.clone().unwrap_or_default(),
                    sha256: String::new(),
                },
                Err(e.to_string()),
            ),
        };
        let (running, start_error) = match start {
            Ok(i) => (Some(i), None),
            Err(e) => (None, Some(e)),
        };
        Managed { record, spec, plugin, running, start_error, retry: None }
    }

    /// The plugin a spec names: the built-in `opensearch`, or a registered one
    /// (a given version, or the most recently registered).
    fn resolve_plugin(&self, spec: &IngestionSpec) -> Result<(ActivePlugin, CompiledPlugin)> {
        let (name, version) = (&spec.plugin.name, spec.plugin.version.as_deref());
        if let Some(b) = self.builtins.iter().find(|(a, _)| &a.name == name)
            && version.is_none_or(|v| v == BUILTIN_VERSION)
        {
            return Ok(b.clone());
        }
        let record = self
            .store
            .load_plugins()?
            .into_iter()
            .filter(|p| &p.name == name && version.is_none_or(|v| v == p.version))
            .max_by_key(|p| p.registered_at_ms)
            .ok_or_else(|| {
                ManagerError::FailedPrecondition(format!(
                    "plugin {name}{} is not registered",
                    version.map(|v| format!(" version {v}")).unwrap_or_default()
                ))
            })?;
        let compiled = self.compiled_component(&record)?;
        Ok((ActivePlugin { name: record.name, version: record.version, sha256: record.sha256 }, compiled))
    }

    fn compiled_component(&self, record: &PluginRecord) -> Result<CompiledPlugin> {
        if let Some(c) = self.compiled.lock().unwrap().get(&record.sha256) {
            return Ok(c.clone());
        }
        let bytes = self.store.load_component(&record.sha256)?;
        let compiled = self
            .engine
            .compile(&record.name, &bytes, Limits::default())
            .map_err(|e| ManagerError::Internal(e.to_string()))?;
        self.compiled.lock().unwrap().insert(record.sha256.clone(), compiled.clone());
        Ok(compiled)
    }

    // ----- ingestions -----

    pub fn create(&self, spec_json: Value) -> Result<IngestionInfo> {
        let spec = IngestionSpec::from_value(&spec_json)?;
        check_no_redacted(&spec)?;
        if self.lock().contains_key(&spec.name) {
            return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", spec.name)));
        }
        // Fail before writing anything if the source or plugin is not usable.
        self.resolve_plugin(&spec)?;
        let now = now_ms();
        let record = IngestionRecord {
            name: spec.name.clone(),
            spec: spec_json.clone(),
            paused_shards: Default::default(),
            error_strategy: None,
            last_errors: vec![],
            history: vec![HistoryEntry { at_ms: now, kind: "created".into(), spec: redact_secrets(&spec_json), detail: String::new() }],
            updated_at_ms: now,
        };
        let managed = self.launch(record, spec);
        if let Some(e) = managed.start_error.clone() {
            // Nothing was stored: the caller fixes the spec and tries again.
            return Err(ManagerError::InvalidArgument(e));
        }
        self.store.save(&managed.record)?;
        let info = managed.info();
        let mut map = self.lock();
        if map.contains_key(&info.name) {
            return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", info.name)));
        }
        map.insert(info.name.clone(), managed);
        Ok(info)
    }

    pub fn get(&self, name: &str) -> Result<IngestionInfo> {
        self.with(name, |m| Ok(m.info()))
    }

    pub fn list(&self) -> Vec<IngestionInfo> {
        self.lock().values().map(Managed::info).collect()
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Managed) -> Result<T>) -> Result<T> {
        let mut map = self.lock();
        let m = map.get_mut(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        f(m)
    }

    /// Applies dynamic settings (`error_strategy`, `poll.max_batch_size`,
    /// `poll.timeout`, `sluice.plugin.version`) without a restart. `update` is
    /// a partial spec body, e.g. `{"settings": {"index.ingestion_source.error_strategy": "DROP"}}`.
    /// A static setting is refused with its name.
    pub fn update(&self, name: &str, update: Value) -> Result<IngestionInfo> {
        let obj = update
            .as_object()
            .ok_or_else(|| ManagerError::InvalidArgument("the update must be a JSON object".into()))?;
        for key in obj.keys() {
            if key != "settings" && key != "sluice" {
                return Err(ManagerError::FailedPrecondition(format!(
                    "[{key}] cannot be changed on a running ingestion; updatable: settings (error_strategy, poll.max_batch_size, poll.timeout) and sluice.plugin.version"
                )));
            }
        }
        let mut map = self.lock();
        let m = map.get_mut(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        let mut new_json = m.record.spec.clone();
        if let Some(settings) = obj.get("settings") {
            let mut merged = flat_settings(&new_json["settings"])?;
            merged.extend(flat_settings(settings)?);
            new_json["settings"] = Value::Object(merged.into_iter().collect());
        }
        if let Some(sluice) = obj.get("sluice") {
            merge(&mut new_json["sluice"], sluice);
        }
        let new_spec = IngestionSpec::from_value(&new_json)?;
        if let Some(setting) = static_change(&m.spec, &new_spec) {
            return Err(ManagerError::FailedPrecondition(format!(
                "setting [{setting}] is static: it cannot change on a running ingestion (delete and re-create it)"
            )));
        }
        let running = m.running()?;
        let swap = if new_spec.plugin.version != m.spec.plugin.version {
            let (active, compiled) = self.resolve_plugin(&new_spec)?;
            running.swap_plugin(compiled).map_err(|e| ManagerError::FailedPrecondition(e.to_string()))?;
            Some(active)
        } else {
            None
        };
        running.update_settings(|s| {
            s.error_strategy = new_spec.error_strategy;
            s.max_batch_size = new_spec.max_batch_size;
            s.poll_timeout = new_spec.poll_timeout();
        });
        let mut detail = vec![];
        if new_spec.error_strategy != m.spec.error_strategy {
            detail.push(format!("error_strategy {}", new_spec.error_strategy.as_str()));
        }
        if new_spec.max_batch_size != m.spec.max_batch_size {
            detail.push(format!("poll.max_batch_size {}", new_spec.max_batch_size));
        }
        if new_spec.poll_timeout_ms != m.spec.poll_timeout_ms {
            detail.push(format!("poll.timeout {}", new_spec.poll_timeout_ms));
        }
        if let Some(active) = swap {
            detail.push(format!("plugin {} {} ({})", active.name, active.version, short(&active.sha256)));
            m.plugin = active;
        }
        let now = now_ms();
        m.record.spec = new_json;
        // The spec now says the policy; a runtime override would hide it.
        m.record.error_strategy = None;
        m.record.updated_at_ms = now;
        m.record.history.push(HistoryEntry {
            at_ms: now,
            kind: "updated".into(),
            spec: redact_secrets(&m.record.spec),
            detail: detail.join(", "),
        });
        m.spec = new_spec;
        self.store.save(&m.record)?;
        Ok(m.info())
    }

    /// Stops an ingestion and forgets it; with `delete_data`, its sinks too.
    pub fn delete(&self, name: &str, delete_data: bool) -> Result<()> {
        let managed = self.lock().remove(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        if let Some(i) = managed.running {
            i.stop();
        }
        self.store.delete(name)?;
        if delete_data {
            let dir = self.data_dir.join("sinks").join(name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| ManagerError::Internal(format!("deleting {}: {e}", dir.display())))?;
            }
        }
        tracing::info!(ingestion = name, delete_data, "ingestion deleted");
        Ok(())
    }

    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        self.with(name, |m| Ok(m.record.history.iter().map(|h| HistoryEntry { spec: redact_secrets(&h.spec), ..h.clone() }).collect()))
    }

    fn check_shards(spec: &IngestionSpec, shards: &[u32]) -> Result<()> {
        match shards.iter().find(|&&s| s >= spec.shards) {
            Some(s) => Err(ManagerError::InvalidArgument(format!(
                "ingestion {} has no shard {s} (it has {})",
                spec.name, spec.shards
            ))),
            None => Ok(()),
        }
    }

    /// Pauses the listed shards (all when empty). Remembered across restarts.
    /// Returns once those shards have stopped: a batch in flight is committed
    /// first, and nothing is committed after the return (so a caller that
    /// pauses, then reads the pointers, sees them stay put).
    pub fn pause(&self, name: &str, shards: &[u32]) -> Result<()> {
        let controls = self.with(name, |m| {
            Self::check_shards(&m.spec, shards)?;
            let list: Vec<u32> = if shards.is_empty() { (0..m.spec.shards).collect() } else { shards.to_vec() };
            let running = m.running()?;
            running.pause(Some(&list)).map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
            let controls: Vec<_> = list.iter().map(|s| running.shards()[*s as usize].clone()).collect();
            m.record.paused_shards.extend(list);
            m.record.updated_at_ms = now_ms();
            self.store.save(&m.record)?;
            Ok(controls)
        })?;
        for c in controls {
            // PAUSED once its session ended; one resumed or stopped meanwhile is not waited for.
            let stopped = c.wait_until(Duration::from_secs(30), |s| {
                !s.paused || matches!(s.state, PollerState::Paused | PollerState::Closed)
            });
            if !stopped {
                return Err(ManagerError::Internal(format!("shard {} of {name} did not pause within 30 s", c.shard)));
            }
        }
        Ok(())
    }

    /// Resumes the listed shards (all when empty), first moving the pointers
    /// of the shards in `resets`, which must be paused (as in OpenSearch).
    /// Returns once the resets are durably applied to the sinks.
    pub fn resume(&self, name: &str, shards: &[u32], resets: &[ResetRequest]) -> Result<()> {
        let controls = self.with(name, |m| {
            Self::check_shards(&m.spec, shards)?;
            Self::check_shards(&m.spec, &resets.iter().map(|r| r.shard).collect::<Vec<_>>())?;
            let list: Vec<u32> = if shards.is_empty() { (0..m.spec.shards).collect() } else { shards.to_vec() };
            let mut positions = Vec::new();
            for r in resets {
                if !m.record.paused_shards.contains(&r.shard) {
                    return Err(ManagerError::FailedPrecondition(format!(
                        "shard {} of {name} is not paused: pause it before resetting its pointer",
                        r.shard
                    )));
                }
                if !list.contains(&r.shard) {
                    return Err(ManagerError::InvalidArgument(format!(
                        "shard {} has a reset but is not among the shards to resume",
                        r.shard
                    )));
                }
                positions.push((r.shard, r.position()?));
            }
            let running = m.running()?;
            running.resume(Some(&list), &positions).map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
            let controls: Vec<_> = positions.iter().map(|(s, _)| running.shards()[*s as usize].clone()).collect();
            let now = now_ms();
            for (shard, position) in &positions {
                m.record.history.push(HistoryEntry {
                    at_ms: now,
                    kind: "reset".into(),
                    spec: redact_secrets(&m.record.spec),
                    detail: format!("shard {shard} reset to {position}"),
                });
            }
            for s in &list {
                m.record.paused_shards.remove(s);
            }
            m.record.updated_at_ms = now;
            self.store.save(&m.record)?;
            Ok(controls)
        })?;
        let deadline = Instant::now() + Duration::from_secs(30);
        for c in controls {
            if !c.wait_reset_applied(deadline.saturating_duration_since(Instant::now())) {
                let why = c.status().last_error.map(|e| format!(": {}", e.message)).unwrap_or_default();
                return Err(ManagerError::Internal(format!("shard {} did not apply its reset in 30 s{why}", c.shard)));
            }
        }
        Ok(())
    }

    pub fn state(&self, name: &str) -> Result<Vec<ShardStatus>> {
        self.with(name, |m| Ok(m.running()?.status()))
    }

    /// `polling_ingest_stats` per shard.
    pub fn stats(&self, name: &str) -> Result<Vec<(u32, Value)>> {
        Ok(self
            .state(name)?
            .iter()
            .map(|s| (s.shard, crate::stats::polling_ingest_stats(&s.meta.counters, Some(&s.consumer))))
            .collect())
    }

    // ----- documents -----

    fn sinks(&self, name: &str) -> Result<Vec<Arc<dyn crate::sink::ShardSink>>> {
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

    pub fn count_documents(&self, name: &str, shard: Option<u32>) -> Result<u64> {
        let sinks = self.sinks(name)?;
        let mut total = 0;
        for (i, sink) in sinks.iter().enumerate() {
            if shard.is_none_or(|s| s as usize == i) {
                total += sink.meta().map_err(|e| ManagerError::Internal(e.to_string()))?.live_docs;
            }
        }
        if let Some(s) = shard.filter(|s| *s as usize >= sinks.len()) {
            return Err(ManagerError::InvalidArgument(format!("{name} has no shard {s}")));
        }
        Ok(total)
    }

    /// Live documents of one shard in id order, after `after`.
    pub fn scan_documents(&self, name: &str, shard: u32, after: Option<&str>, limit: usize) -> Result<Vec<(String, StoredDoc)>> {
        let sinks = self.sinks(name)?;
        let sink = sinks
            .get(shard as usize)
            .ok_or_else(|| ManagerError::InvalidArgument(format!("{name} has no shard {shard}")))?;
        sink.scan(after, limit).map_err(|e| ManagerError::Internal(e.to_string()))
    }

    // ----- plugins -----

    /// Registers a plugin version after checking that the component
    /// implements the `message-format` world.
    pub fn register_plugin(&self, name: &str, version: &str, component: &[u8]) -> Result<PluginRecord> {
        let valid = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid(name) || !valid(version) {
            return Err(ManagerError::InvalidArgument(
                "plugin name and version: 1-64 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if builtin::get(name).is_some() && version == BUILTIN_VERSION {
            return Err(ManagerError::AlreadyExists(format!("{name} {BUILTIN_VERSION} is built in")));
        }
        if self.store.load_plugins()?.iter().any(|p| p.name == name && p.version == version) {
            return Err(ManagerError::AlreadyExists(format!("plugin {name} version {version} is already registered")));
        }
        let compiled = self.engine.compile(name, component, Limits::default()).map_err(|e| match e {
            PluginError::Invalid { reason, .. } => {
                ManagerError::InvalidArgument(format!("not a sluice:plugin/message-format component: {reason}"))
            }
            other => ManagerError::InvalidArgument(other.to_string()),
        })?;
        let record = PluginRecord {
            name: name.into(),
            version: version.into(),
            sha256: sha256_hex(component),
            size: component.len() as u64,
            registered_at_ms: now_ms(),
        };
        self.store.save_plugin(&record, component)?;
        self.compiled.lock().unwrap().insert(record.sha256.clone(), compiled);
        tracing::info!(plugin = name, version, sha256 = %record.sha256, "plugin registered");
        Ok(record)
    }

    /// Registered plugins, the built-in ones first.
    pub fn list_plugins(&self) -> Result<Vec<PluginRecord>> {
        let mut out: Vec<PluginRecord> = self
            .builtins
            .iter()
            .map(|(a, _)| PluginRecord {
                name: a.name.clone(),
                version: a.version.clone(),
                sha256: a.sha256.clone(),
                size: builtin::get(&a.name).map_or(0, |b| b.len() as u64),
                registered_at_ms: 0,
            })
            .collect();
        out.extend(self.store.load_plugins()?);
        Ok(out)
    }

    /// Removes a plugin version; refused while an ingestion uses it.
    pub fn remove_plugin(&self, name: &str, version: &str) -> Result<()> {
        if !self.store.load_plugins()?.iter().any(|p| p.name == name && p.version == version) {
            return Err(ManagerError::NotFound(format!("plugin {name} version {version} is not registered")));
        }
        if let Some(user) = self.lock().values().find(|m| m.plugin.name == name && m.plugin.version == version) {
            return Err(ManagerError::FailedPrecondition(format!(
                "plugin {name} version {version} is used by ingestion {}",
                user.spec.name
            )));
        }
        self.store.delete_plugin(name, version)?;
        Ok(())
    }

    // ----- state -----

    /// Specs (redacted), paused shards, history, and each shard's pointers
    /// and counters, as JSON.
    pub fn export_state(&self) -> Result<Value> {
        let map = self.lock();
        let mut ingestions = Vec::new();
        for m in map.values() {
            // Every checkpoint, or an error: an export without one would
            // restart that shard from `pointer.init.reset` when imported.
            let cannot = |e: String| ManagerError::Internal(format!("exporting ingestion {}: {e}", m.spec.name));
            let sinks: Vec<_> = match &m.running {
                Some(i) => i.sinks().to_vec(),
                None => open_sinks(&self.data_dir, &m.spec).map_err(|e| cannot(e.to_string()))?,
            };
            let shards = sinks
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let meta = s.meta().map_err(|e| cannot(e.to_string()))?;
                    Ok(json!({"shard": i, "resume": meta.resume, "last_pointer": meta.last_pointer, "counters": meta.counters, "live_docs": meta.live_docs}))
                })
                .collect::<Result<Vec<Value>>>()?;
            let record = IngestionRecord {
                spec: redact_secrets(&m.record.spec),
                history: m.record.history.iter().map(|h| HistoryEntry { spec: redact_secrets(&h.spec), ..h.clone() }).collect(),
                ..m.record.clone()
            };
            ingestions.push(json!({"record": record, "shards": shards}));
        }
        Ok(json!({
            "format": "sluice-state-v1",
            "exported_at_ms": now_ms(),
            "ingestions": ingestions,
            "plugins": self.store.load_plugins()?,
        }))
    }

    /// Recreates the exported ingestions with their pointers, counters and
    /// paused shards. Existing names are refused; nothing is changed then.
    pub fn import_state(&self, export: &Value) -> Result<Vec<String>> {
        if export["format"] != "sluice-state-v1" {
            return Err(ManagerError::InvalidArgument("not a sluice-state-v1 export".into()));
        }
        #[derive(Deserialize)]
        struct ShardExport {
            shard: u32,
            resume: Option<StartPosition>,
            last_pointer: Option<Pointer>,
            counters: ShardCounters,
        }
        let mut plan = Vec::new();
        for entry in export["ingestions"].as_array().cloned().unwrap_or_default() {
            let record: IngestionRecord = serde_json::from_value(entry["record"].clone())
                .map_err(|e| ManagerError::InvalidArgument(format!("bad ingestion record: {e}")))?;
            let shards: Vec<ShardExport> = serde_json::from_value(entry["shards"].clone())
                .map_err(|e| ManagerError::InvalidArgument(format!("bad shard export of {}: {e}", record.name)))?;
            let spec = IngestionSpec::from_value(&record.spec)?;
            check_no_redacted(&spec)?;
            if self.lock().contains_key(&spec.name) {
                return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", spec.name)));
            }
            plan.push((record, spec, shards));
        }
        let mut names = Vec::new();
        for (mut record, spec, shards) in plan {
            let sinks = open_sinks(&self.data_dir, &spec).map_err(|e| ManagerError::Internal(e.to_string()))?;
            for s in shards {
                let sink = sinks.get(s.shard as usize).ok_or_else(|| {
                    ManagerError::InvalidArgument(format!("{}: exported shard {} is beyond its spec", spec.name, s.shard))
                })?;
                sink.import_meta(s.resume, s.last_pointer, s.counters).map_err(|e| ManagerError::Internal(e.to_string()))?;
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
        for p in self.store.load_plugins()? {
            self.store.delete_plugin(&p.name, &p.version)?;
        }
        self.compiled.lock().unwrap().clear();
        Ok(())
    }

    /// Stops every ingestion (state stays as it is, to be restored).
    pub fn shutdown(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        let running: Vec<Ingestion> = self.lock().values_mut().filter_map(|m| m.running.take()).collect();
        for i in running {
            i.stop();
        }
    }

    /// Where a shard's embedded sink lives (for tools and tests).
    pub fn sink_dir(&self, name: &str, shard: u32) -> PathBuf {
        sink_path(&self.data_dir, name, shard)
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// A spec that still holds a redacted placeholder lost its secret on export.
/// Refuses a spec that still holds what [`redact_secrets`] put in place of a
/// secret (a param, or the password of a sink URL).
fn check_no_redacted(spec: &IngestionSpec) -> Result<()> {
    let redacted = match spec.params.iter().find(|(_, v)| v.as_str() == REDACTED) {
        Some((k, _)) => Some(format!("param.{k}")),
        None => match &spec.sink {
            SinkType::Redis { url, .. } if url.contains(REDACTED) => Some("the password of sluice.sink.url".to_string()),
            _ => None,
        },
    };
    match redacted {
        Some(what) => Err(ManagerError::InvalidArgument(format!(
            "ingestion {}: {what} is {REDACTED} (secrets are never exported); supply its value",
            spec.name
        ))),
        None => Ok(()),
    }
}

/// Deep-merges `patch` into `target` (objects merge, anything else replaces).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The first setting that differs and cannot change while running.
fn static_change(old: &IngestionSpec, new: &IngestionSpec) -> Option<String> {
    if old.shards != new.shards {
        return Some("index.number_of_shards".into());
    }
    if old.source_type != new.source_type {
        return Some("ingestion_source.type".into());
    }
    if old.params != new.params {
        let key = old
            .params
            .keys()
            .chain(new.params.keys())
            .find(|k| old.params.get(*k) != new.params.get(*k))
            .cloned()
            .unwrap_or_default();
        return Some(format!("ingestion_source.param.{key}"));
    }
    let checks: [(&str, bool); 10] = [
        ("ingestion_source.pointer.init.reset", old.init_reset != new.init_reset),
        ("ingestion_source.internal_queue_size", old.internal_queue_size != new.internal_queue_size),
        ("ingestion_source.num_processor_threads", old.num_processor_threads != new.num_processor_threads),
        ("ingestion_source.mapper_type", old.mapper_type != new.mapper_type),
        ("ingestion_source.mapper_settings", old.mapper_settings != new.mapper_settings),
        ("mappings", old.mappings != new.mappings),
        ("sluice.plugin.name", old.plugin.name != new.plugin.name),
        ("sluice.plugin.config", old.plugin.config != new.plugin.config),
        ("sluice.plugin.limits", old.plugin.limits != new.plugin.limits),
        ("sluice.sink", old.sink != new.sink),
    ];
    checks.iter().find(|(_, changed)| *changed).map(|(k, _)| k.to_string())
}
