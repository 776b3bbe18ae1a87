//! An ingestion's life: create, update, pause, resume with pointer resets,
//! delete; its state, statistics and history.

use super::rules::{check_no_redacted, check_shards, merge, split_update, static_change};
use super::{ActivePlugin, IngestionInfo, Managed, Manager, ManagerError, ResetRequest, Result};
use crate::engine::{IdleOutcome, PollerState, RuntimeOverrides, ShardStatus};
use crate::spec::{IngestionSpec, SinkType, flat_settings};
use crate::state::{HistoryEntry, IngestionRecord, new_ingestion_id};
use crate::stats::PollingIngestStats;
use crate::util::{now_ms, redact_secrets};
use crate::wiring::Claim;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long pause and resume wait for the shards to act.
const SHARD_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// What a delete left behind, in words for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// `None` when nothing is left (the data was deleted, or lives in no
    /// place this host owns).
    pub data_left: Option<String>,
}

impl Manager {
    /// Starts an ingestion; a failure to start is kept as its `start_error`.
    /// Its sinks must be its own (see [`crate::wiring::Claim`]), unless `adopt`.
    pub(super) fn launch(&self, mut record: IngestionRecord, spec: IngestionSpec, adopt: bool) -> Managed {
        if record.id.is_empty() {
            // A record from before ingestion ids: it gets one now, and claims
            // its sinks with it.
            record.id = new_ingestion_id(&record.name);
            if let Err(e) = self.store.save(&record) {
                tracing::warn!(ingestion = %record.name, error = %e, "could not store the new ingestion id");
            }
        }
        let resolved = match self.cluster_refuses(&spec) {
            Some(refused) => Err(refused),
            None => self.plugins.resolve(&spec),
        };
        let (plugin, start) = match resolved {
            Ok((active, compiled)) => {
                // The shards continue their saved statistics.
                let started = self.restored_shards(&record).map_err(|e| e.to_string()).and_then(|restored| {
                    let overrides = RuntimeOverrides {
                        paused_shards: record.paused_shards.clone(),
                        error_strategy: record.error_strategy,
                        restored,
                        leased: self.cluster.is_some(),
                    };
                    let claim = Claim { ingestion_id: record.id.clone(), adopt };
                    crate::wiring::start(self.wiring.as_ref(), spec.clone(), compiled, overrides, Some(&claim))
                        .map_err(|e| e.to_string())
                });
                (active, started)
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
        Managed { record, spec, plugin, running, start_error, retry: None, saved_at: Instant::now() }
    }

    pub fn create(&self, spec_json: Value) -> Result<IngestionInfo> {
        self.create_with(spec_json, false)
    }

    /// Creates an ingestion; `adopt_data`: take over sinks left by an earlier
    /// ingestion of the same name (or another stream) instead of refusing them.
    pub fn create_with(&self, mut spec_json: Value, adopt_data: bool) -> Result<IngestionInfo> {
        let mut spec = IngestionSpec::from_value(&spec_json)?;
        if let Some(dir) = crate::spec::relative_base_directory(&spec_json) {
            // A server's working directory is nobody's business: a relative
            // path would silently read wherever the host was started.
            let key = if spec.supervisor.is_some() { "ioConfig.baseDirectory" } else { "param.base_directory" };
            return Err(ManagerError::InvalidArgument(format!(
                "{key} {dir:?} is relative: a host cannot tell what it is relative to; give an absolute \
                 path (`sluice ctl create` and `sluice run` resolve it against the spec file)"
            )));
        }
        check_no_redacted(&spec)?;
        if self.lock().contains_key(&spec.name) {
            return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", spec.name)));
        }
        self.resolve_shards(&mut spec_json, &mut spec, None)?;
        // Fail before writing anything if the plugin is not usable.
        self.plugins.resolve(&spec)?;
        let now = now_ms();
        // A Druid spec with `suspended` starts suspended: every shard paused.
        let suspended = spec.supervisor.as_ref().is_some_and(|s| s.suspended);
        let record = IngestionRecord {
            name: spec.name.clone(),
            id: new_ingestion_id(&spec.name),
            spec: spec_json.clone(),
            paused_shards: if suspended { (0..spec.shards).collect() } else { Default::default() },
            error_strategy: None,
            last_errors: vec![],
            history: vec![HistoryEntry {
                at_ms: now,
                kind: "created".into(),
                spec: redact_secrets(&spec_json),
                detail: String::new(),
            }],
            updated_at_ms: now,
            deleted_at_ms: None,
        };
        let _launching = self.launching(&spec.name);
        let (managed, previous) = self.launch_stored(record, spec, adopt_data)?;
        if previous.is_some_and(|p| p.deleted_at_ms.is_some()) {
            // The tombstone's shard state records belong to the deleted ingestion.
            let _saving = self.saving();
            self.store.delete_shard_states(&managed.record.name)?;
        }
        let info = managed.info();
        let mut map = self.lock();
        if map.contains_key(&info.name) {
            return Err(ManagerError::AlreadyExists(format!("ingestion {} already exists", info.name)));
        }
        map.insert(info.name.clone(), managed);
        Ok(info)
    }

    /// Runs the ingestion a spec describes, as `sluice run` does: the first
    /// time it is created; after that the stored ingestion continues, and a
    /// changed spec is recorded in its history. `source` says where the spec
    /// came from (for the history); `adopt_data` as in [`Manager::create_with`].
    pub fn apply(&self, mut spec_json: Value, source: &str, adopt_data: bool) -> Result<IngestionInfo> {
        let mut spec = IngestionSpec::from_value(&spec_json)?;
        check_no_redacted(&spec)?;
        if self.lock().contains_key(&spec.name) {
            return Err(ManagerError::AlreadyExists(format!("ingestion {} is already running", spec.name)));
        }
        let now = now_ms();
        // A deleted ingestion's tombstone does not continue: a new one starts.
        let previous = self.store.load(&spec.name)?;
        let stored = previous.clone().filter(|r| r.deleted_at_ms.is_none());
        // A Druid spec continues with the shard count it was created with.
        self.resolve_shards(&mut spec_json, &mut spec, stored.as_ref())?;
        let new = stored.is_none();
        let mut record = stored.unwrap_or_else(|| IngestionRecord {
            name: spec.name.clone(),
            id: new_ingestion_id(&spec.name),
            spec: Value::Null,
            paused_shards: Default::default(),
            error_strategy: None,
            last_errors: vec![],
            history: vec![],
            updated_at_ms: now,
            deleted_at_ms: None,
        });
        if record.spec != spec_json {
            let kind = if record.history.is_empty() { "created" } else { "updated" };
            record.history.push(HistoryEntry {
                at_ms: now,
                kind: kind.into(),
                spec: redact_secrets(&spec_json),
                detail: format!("spec from {source}"),
            });
            record.spec = spec_json;
            record.updated_at_ms = now;
        }
        if new {
            // Stored before its sinks are claimed with its id: a run killed
            // between the two would leave sinks owned by an id that no record
            // holds, which the next run (with a new id) would refuse.
            self.store.save(&record)?;
        }
        let managed = self.launch(record, spec, adopt_data);
        if let Some(e) = managed.start_error.clone() {
            if new {
                match &previous {
                    Some(tombstone) => self.store.save(tombstone)?,
                    None => self.store.delete(&managed.record.name)?,
                }
            }
            return Err(ManagerError::InvalidArgument(e));
        }
        if new && previous.is_some() {
            // The tombstone's shard state records belong to the deleted ingestion.
            let _saving = self.saving();
            self.store.delete_shard_states(&managed.record.name)?;
        }
        self.store.save(&managed.record)?;
        let info = managed.info();
        self.lock().insert(info.name.clone(), managed);
        Ok(info)
    }

    /// Stores `record`, then starts it. The record is stored first because
    /// starting claims the sinks with its id: a crash in between must leave
    /// the id the sinks were claimed with in the store. If the start fails,
    /// the record that was stored before is put back (nothing changed).
    fn launch_stored(
        &self,
        record: IngestionRecord,
        spec: IngestionSpec,
        adopt_data: bool,
    ) -> Result<(Managed, Option<IngestionRecord>)> {
        let previous = self.store.load(&record.name)?;
        self.store.save(&record)?;
        let managed = self.launch(record, spec, adopt_data);
        if let Some(e) = managed.start_error.clone() {
            match previous {
                Some(p) => self.store.save(&p)?,
                None => self.store.delete(&managed.record.name)?,
            }
            // The caller fixes the spec and tries again.
            return Err(ManagerError::InvalidArgument(e));
        }
        Ok((managed, previous))
    }

    pub fn get(&self, name: &str) -> Result<IngestionInfo> {
        self.with(name, |m| Ok(m.info()))
    }

    pub fn list(&self) -> Vec<IngestionInfo> {
        self.lock().values().map(Managed::info).collect()
    }

    /// Applies dynamic settings (`error_strategy`, `poll.max_batch_size`,
    /// `poll.timeout`, `sluice.plugin.version`) without a restart. `update` is
    /// OpenSearch's `_settings` body as its docs write it, flat
    /// (`{"index.ingestion_source.error_strategy": "DROP"}`) or nested
    /// (`{"index": {"ingestion_source": {...}}}`), or wrapped in `settings`;
    /// plus sluice's `sluice` section. A static setting is refused with its name.
    pub fn update(&self, name: &str, update: Value) -> Result<IngestionInfo> {
        let mut map = self.lock();
        let m = map.get_mut(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        let (settings, sluice) = split_update(&update)?;
        if settings.is_some() && m.spec.supervisor.is_some() {
            return Err(ManagerError::FailedPrecondition(format!(
                "ingestion {name} runs a Druid supervisor spec, which has no OpenSearch settings: submit a new \
                 supervisor spec to change it (an update may change its sluice section)"
            )));
        }
        let mut new_json = m.record.spec.clone();
        if let Some(settings) = &settings {
            let mut merged = flat_settings(&new_json["settings"])?;
            merged.extend(flat_settings(settings)?);
            new_json["settings"] = Value::Object(merged.into_iter().collect());
        }
        if let Some(sluice) = &sluice {
            merge(&mut new_json["sluice"], sluice);
        }
        let new_spec = IngestionSpec::from_value(&new_json)?;
        if let Some(setting) = static_change(&m.spec, &new_spec) {
            return Err(ManagerError::FailedPrecondition(format!(
                "setting [{setting}] is static: it cannot change on a running ingestion (delete and re-create it)"
            )));
        }
        let swap = self.apply_dynamic(m, &new_spec)?;
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
        if new_spec.gc_deletes_ms != m.spec.gc_deletes_ms {
            let keep = new_spec.gc_deletes_ms.map(|ms| format!("{ms}ms")).unwrap_or_else(|| "-1".into());
            detail.push(format!("index.gc_deletes {keep}"));
        }
        if new_spec.auto_save_interval_ms != m.spec.auto_save_interval_ms {
            detail.push(format!("sluice.state.auto_save_interval {}ms", new_spec.auto_save_interval_ms));
        }
        if let Some(active) = swap {
            detail.push(format!(
                "plugin {} {} ({})",
                active.name,
                active.version,
                &active.sha256[..active.sha256.len().min(12)]
            ));
            m.plugin = active;
        }
        let now = now_ms();
        m.record.spec = new_json;
        // The spec now says the policy; a runtime override would hide it.
        m.record.error_strategy = None;
        m.record.record_change(now, "updated", detail.join(", "));
        m.spec = new_spec;
        self.store.save(&m.record)?;
        Ok(m.info())
    }

    /// Applies a spec's dynamic settings to a running ingestion: a plugin
    /// version swapped in at the next batch (returned), the error policy,
    /// batch size, poll timeout and `index.gc_deletes` from the next batch.
    pub(super) fn apply_dynamic(&self, m: &Managed, new_spec: &IngestionSpec) -> Result<Option<ActivePlugin>> {
        let running = m.running()?;
        let swap = if new_spec.plugin.version != m.spec.plugin.version {
            let (active, compiled) = self.plugins.resolve(new_spec)?;
            running.swap_plugin(compiled).map_err(|e| ManagerError::FailedPrecondition(e.to_string()))?;
            Some(active)
        } else {
            None
        };
        running.update_settings(|s| {
            s.error_strategy = new_spec.error_strategy;
            s.max_batch_size = new_spec.max_batch_size;
            s.poll_timeout = new_spec.poll_timeout();
            s.gc_deletes = new_spec.gc_deletes();
        });
        Ok(swap)
    }

    /// Stops an ingestion and forgets it; with `delete_data`, its sinks too.
    /// Its record stays as a tombstone (with its shards' last statistics)
    /// until [`Manager::cleanup_old_states`]. The outcome says what was left behind.
    pub fn delete(&self, name: &str, delete_data: bool) -> Result<DeleteOutcome> {
        let detail = if delete_data { "with its data".into() } else { String::new() };
        let managed = self.retire(name, "deleted", detail)?;
        let data_left = match (self.wiring.local_data(&managed.spec), &managed.spec.sink) {
            (Some(dir), _) if delete_data => {
                self.wiring
                    .delete_local_data(&managed.spec)
                    .map_err(|e| ManagerError::Internal(format!("deleting {}: {e}", dir.display())))?;
                None
            }
            (Some(dir), _) => Some(format!(
                "the documents and checkpoints of {name} are kept in {}; a new ingestion named {name} refuses them \
                 (its sinks belong to this incarnation) until they are deleted (remove that directory) or adopted explicitly",
                dir.display()
            )),
            (None, SinkType::Redis { key_prefix, .. }) => Some(format!(
                "the documents and checkpoints of {name} stay in Redis under {key_prefix}:{name}:*; a new ingestion named \
                 {name} refuses them until they are deleted there or adopted explicitly"
            )),
            (None, SinkType::Embedded) => None,
        };
        tracing::info!(ingestion = name, delete_data, "ingestion deleted");
        Ok(DeleteOutcome { data_left })
    }

    /// Stops an ingestion and forgets it, keeping its record as a tombstone
    /// whose last history entry is `kind` (`deleted`, `terminated`).
    pub(super) fn retire(&self, name: &str, kind: &str, detail: String) -> Result<Managed> {
        let mut managed =
            self.lock().remove(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        if let Some(i) = managed.running.take() {
            let statuses = i.stop();
            let records = super::statistics::shard_records(&managed.record, &managed.spec, &managed.plugin, &statuses);
            self.save_final_records(name, &records);
        }
        let now = now_ms();
        let mut tombstone = managed.record.clone();
        tombstone.deleted_at_ms = Some(now);
        tombstone.record_change(now, kind, detail);
        self.store.save(&tombstone)?;
        Ok(managed)
    }

    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        self.with(name, |m| {
            Ok(m.record.history.iter().map(|h| HistoryEntry { spec: redact_secrets(&h.spec), ..h.clone() }).collect())
        })
    }

    /// Pauses the listed shards (all when empty). Remembered across restarts.
    /// Returns once those shards have stopped: a batch in flight is committed
    /// first, and nothing is committed after the return (so a caller that
    /// pauses, then reads the pointers, sees them stay put).
    pub fn pause(&self, name: &str, shards: &[u32]) -> Result<()> {
        let controls = self.with(name, |m| {
            check_shards(&m.spec, shards)?;
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
            let stopped = c.wait_until(SHARD_ACK_TIMEOUT, |s| {
                !s.paused || matches!(s.state, PollerState::Paused | PollerState::Closed | PollerState::Elsewhere)
            });
            if !stopped {
                return Err(ManagerError::Internal(format!("shard {} of {name} did not pause within 30 s", c.shard)));
            }
        }
        self.save_statistics(name);
        // In a cluster: once every host paused the shards it runs.
        self.wait_for_hosts()
    }

    /// Resumes the listed shards (all when empty), first moving the pointers
    /// of the shards in `resets`, which must be paused (as in OpenSearch).
    /// Returns once the resets are durably applied to the sinks.
    pub fn resume(&self, name: &str, shards: &[u32], resets: &[ResetRequest]) -> Result<()> {
        let controls = self.with(name, |m| {
            check_shards(&m.spec, shards)?;
            check_shards(&m.spec, &resets.iter().map(|r| r.shard).collect::<Vec<_>>())?;
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
                positions.push((r.shard, r.position().map_err(ManagerError::InvalidArgument)?));
            }
            let running = m.running()?;
            if self.cluster.is_some() {
                // The paused shard may run on another host: its reset goes
                // straight into the shared sink (nobody commits to a paused
                // shard), where its next session starts from.
                for (shard, position) in &positions {
                    running.sinks()[*shard as usize].reset_position(position.clone()).map_err(|e| {
                        ManagerError::Internal(format!("shard {shard} of {name}: the reset failed: {e}"))
                    })?;
                }
            }
            let resets: &[_] = if self.cluster.is_some() { &[] } else { &positions };
            running.resume(Some(&list), resets).map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
            let controls: Vec<_> = resets.iter().map(|(s, _)| running.shards()[*s as usize].clone()).collect();
            let now = now_ms();
            m.record.record_resets(now, &positions);
            for s in &list {
                m.record.paused_shards.remove(s);
            }
            m.record.updated_at_ms = now;
            self.store.save(&m.record)?;
            Ok(controls)
        })?;
        wait_resets_applied(&controls)
    }

    /// Each shard's status. The committed meta of a shared sink (Redis) is
    /// read from the sink, not remembered: another host may have committed
    /// since this one did, and then this host is not idle on that shard.
    pub fn state(&self, name: &str) -> Result<Vec<ShardStatus>> {
        let (mut statuses, sinks) = self.with(name, |m| {
            let running = m.running()?;
            Ok((running.status(), running.sinks().to_vec()))
        })?;
        for (status, sink) in statuses.iter_mut().zip(&sinks) {
            if !sink.shared() {
                continue;
            }
            let stored = sink.meta().map_err(|e| ManagerError::Internal(format!("shard {}: {e}", status.shard)))?;
            if stored.last_pointer != status.meta.last_pointer || stored.resume != status.meta.resume {
                status.idle = false;
            }
            status.meta = stored;
        }
        self.show_leases(name, &mut statuses);
        Ok(statuses)
    }

    /// `polling_ingest_stats` per shard.
    pub fn stats(&self, name: &str) -> Result<Vec<(u32, PollingIngestStats)>> {
        Ok(self
            .state(name)?
            .iter()
            .map(|s| (s.shard, PollingIngestStats::new(&s.meta.counters, Some(&s.consumer))))
            .collect())
    }

    /// Waits until every shard of `name` is idle (or blocked), at most `timeout`.
    pub fn wait_until_idle(&self, name: &str, timeout: Duration) -> Result<IdleOutcome> {
        // The wait happens outside the lock: shards report through their controls.
        let controls = self.with(name, |m| Ok(m.running()?.shards().to_vec()))?;
        Ok(crate::engine::ingestion::wait_until_idle(&controls, timeout))
    }

    /// Stops one ingestion and keeps it stored (to run again later); returns
    /// each shard's final status, with every commit made before the stop.
    pub fn stop(&self, name: &str) -> Result<Vec<ShardStatus>> {
        let managed =
            self.lock().remove(name).ok_or_else(|| ManagerError::NotFound(format!("no ingestion named {name}")))?;
        let Some(running) = managed.running else { return Ok(Vec::new()) };
        let statuses = running.stop();
        let records = super::statistics::shard_records(&managed.record, &managed.spec, &managed.plugin, &statuses);
        self.save_final_records(name, &records);
        Ok(statuses)
    }

    /// Before a new ingestion's record replaces a deleted one's tombstone:
    /// the tombstone's shard state records go (they belong to the old one).
    pub(super) fn replace_tombstone(&self, name: &str) -> Result<()> {
        if self.store.load(name)?.is_some_and(|r| r.deleted_at_ms.is_some()) {
            let _saving = self.saving();
            self.store.delete_shard_states(name)?;
        }
        Ok(())
    }
}

/// Waits until each shard applied its pending reset durably (so a resume
/// with resets, or a supervisor's reset, returns only once it holds).
pub(super) fn wait_resets_applied(controls: &[std::sync::Arc<crate::engine::ShardControl>]) -> Result<()> {
    let deadline = Instant::now() + SHARD_ACK_TIMEOUT;
    for c in controls {
        if !c.wait_reset_applied(deadline.saturating_duration_since(Instant::now())) {
            let why = c.status().last_error.map(|e| format!(": {}", e.message)).unwrap_or_default();
            return Err(ManagerError::Internal(format!("shard {} did not apply its reset in 30 s{why}", c.shard)));
        }
    }
    Ok(())
}
