//! The manager as a cluster host (`sluice serve --cluster`).
//!
//! Every host holds every ingestion (restored from the shared state store)
//! with no shard running; the coordinator ([`crate::cluster`]) starts and
//! stops single shards through [`ShardHost`] as it takes and loses their
//! leases. Each change this host writes to the store is announced
//! (`Announcing`); changes other hosts made are applied by
//! [`Manager::apply_store_changes`]: ingestions created, restarted or
//! deleted elsewhere, settings, plugin versions, pauses and resumes.

use super::rules::static_change;
use super::{Managed, Manager, ManagerError, Result};
use crate::cluster::{Cluster, RunningShard, ShardHost, ShardKey, StartError};
use crate::engine::{PollerState, ShardLease, ShardStatus};
use crate::spec::{IngestionSpec, SinkType};
use crate::state::{IngestionRecord, PluginRecord, ShardStateRecord, StateError, StateStore, StateUsage};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long a change made on this host waits for every host to apply it.
const HOSTS_ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// The state store, announcing every change of a record or plugin to the
/// other hosts (shard statistics are not changes anyone acts on).
struct Announcing {
    inner: Arc<dyn StateStore>,
    cluster: Arc<Cluster>,
}

pub(super) fn announcing(inner: Arc<dyn StateStore>, cluster: Arc<Cluster>) -> Arc<dyn StateStore> {
    Arc::new(Announcing { inner, cluster })
}

impl Announcing {
    fn announced<T>(&self, result: std::result::Result<T, StateError>) -> std::result::Result<T, StateError> {
        if result.is_ok()
            && let Err(e) = self.cluster.announce()
        {
            // The others see the change at the next one; a pause that waits
            // for them fails on its own.
            tracing::warn!(error = %e, "could not announce a change to the other hosts");
        }
        result
    }
}

impl StateStore for Announcing {
    fn load(&self, name: &str) -> std::result::Result<Option<IngestionRecord>, StateError> {
        self.inner.load(name)
    }
    fn load_all(&self) -> std::result::Result<Vec<std::result::Result<IngestionRecord, StateError>>, StateError> {
        self.inner.load_all()
    }
    fn save(&self, record: &IngestionRecord) -> std::result::Result<(), StateError> {
        self.announced(self.inner.save(record))
    }
    fn delete(&self, name: &str) -> std::result::Result<(), StateError> {
        self.announced(self.inner.delete(name))
    }
    fn save_shard_states(&self, ingestion: &str, records: &[ShardStateRecord]) -> std::result::Result<(), StateError> {
        self.inner.save_shard_states(ingestion, records)
    }
    fn load_shard_states(&self, ingestion: &str) -> std::result::Result<Vec<ShardStateRecord>, StateError> {
        self.inner.load_shard_states(ingestion)
    }
    fn delete_shard_states(&self, ingestion: &str) -> std::result::Result<(), StateError> {
        self.inner.delete_shard_states(ingestion)
    }
    fn usage(&self) -> std::result::Result<StateUsage, StateError> {
        self.inner.usage()
    }
    fn save_plugin(&self, record: &PluginRecord, component: &[u8]) -> std::result::Result<(), StateError> {
        self.announced(self.inner.save_plugin(record, component))
    }
    fn load_plugins(&self) -> std::result::Result<Vec<PluginRecord>, StateError> {
        self.inner.load_plugins()
    }
    fn load_component(&self, sha256: &str) -> std::result::Result<Vec<u8>, StateError> {
        self.inner.load_component(sha256)
    }
    fn delete_plugin(&self, name: &str, version: &str) -> std::result::Result<(), StateError> {
        self.announced(self.inner.delete_plugin(name, version))
    }
}

/// While held, applying other hosts' changes leaves the ingestion alone
/// (this host stored it and is starting it).
pub(super) struct Launching<'a> {
    manager: &'a Manager,
    name: String,
}

impl Drop for Launching<'_> {
    fn drop(&mut self) {
        self.manager.launching.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.name);
    }
}

/// What applying a stored record to a local ingestion takes.
enum Follow {
    /// Its incarnation or a static setting changed: start it again.
    Relaunch(IngestionRecord),
    /// Shards paused there that run here: wait until they stopped.
    Paused(Vec<Arc<crate::engine::ShardControl>>),
}

impl Manager {
    /// This host's cluster membership, with `--cluster`.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    pub(super) fn launching(&self, name: &str) -> Launching<'_> {
        self.launching.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string());
        Launching { manager: self, name: name.to_string() }
    }

    /// In a cluster, a shard may run on any host: its sink must be shared.
    pub(super) fn cluster_refuses(&self, spec: &IngestionSpec) -> Option<ManagerError> {
        (self.cluster.is_some() && matches!(spec.sink, SinkType::Embedded)).then(|| {
            ManagerError::InvalidArgument(format!(
                "ingestion {}: a clustered ingestion must use the redis sink (\"sluice\": {{\"sink\": {{\"type\": \
                 \"redis\", \"url\": \"redis://...\"}}}}): its shards move between hosts, and an embedded sink \
                 lives on one host's disk",
                spec.name
            ))
        })
    }

    /// In a cluster: waits until every live host applied the changes made so far.
    pub(super) fn wait_for_hosts(&self) -> Result<()> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        let n = cluster.announce().map_err(|e| ManagerError::Internal(e.to_string()))?;
        cluster.wait_applied(n, HOSTS_ACK_TIMEOUT).map_err(|e| ManagerError::Internal(e.to_string()))
    }

    /// In a cluster: each shard's lease (owner host and epoch); a shard
    /// not run here is `ELSEWHERE` with its checkpoint read from the sink.
    pub(super) fn show_leases(&self, name: &str, statuses: &mut [ShardStatus]) {
        let Some(cluster) = &self.cluster else { return };
        let leases = match cluster.leases() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(ingestion = name, error = %e, "could not read the leases");
                return;
            }
        };
        for status in statuses {
            let lease = leases.get(&ShardKey::new(name, status.shard)).cloned().unwrap_or_default();
            status.lease =
                Some(ShardLease { owner: lease.owner, epoch: lease.epoch, expires_at_ms: lease.expires_at_ms });
        }
    }

    /// Applies the stored records to this host: what other hosts created,
    /// changed or deleted. Returns once shards paused elsewhere stopped here.
    pub(super) fn apply_store_changes(&self) {
        let stored: BTreeMap<String, IngestionRecord> = match self.store.load_all() {
            Ok(all) => all.into_iter().filter_map(|r| r.ok()).map(|r| (r.name.clone(), r)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the state store; applying changes later");
                return;
            }
        };
        let launching = self.launching.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let local: BTreeMap<String, IngestionRecord> =
            self.lock().iter().map(|(name, m)| (name.clone(), m.record.clone())).collect();
        let names: BTreeSet<&String> = stored.keys().chain(local.keys()).collect();
        for name in names.into_iter().filter(|n| !launching.contains(*n)) {
            let live = stored.get(name).filter(|r| r.deleted_at_ms.is_none());
            match (local.get(name), live) {
                (Some(_), None) => self.forget_locally(name),
                (None, Some(record)) => self.adopt(record.clone(), "created on another host"),
                (Some(mine), Some(theirs)) if mine != theirs => self.follow(name, theirs.clone()),
                _ => {}
            }
        }
    }

    /// Starts an ingestion stored by another host (no shard runs until leased).
    fn adopt(&self, record: IngestionRecord, how: &str) {
        let spec = match IngestionSpec::from_value(&record.spec) {
            Ok(s) => s,
            Err(e) => {
                return tracing::error!(ingestion = %record.name, error = %e, "stored spec is invalid; not started");
            }
        };
        let _launching = self.launching(&record.name);
        let managed = self.launch_or_retry(record, spec, how);
        let mut map = self.lock();
        if map.contains_key(&managed.spec.name) {
            drop(map);
            if let Some(i) = managed.running {
                i.stop();
            }
            return;
        }
        map.insert(managed.spec.name.clone(), managed);
    }

    /// Stops and forgets an ingestion deleted on another host (its record
    /// is already a tombstone there); the statistics of its shards that ran
    /// here are saved.
    fn forget_locally(&self, name: &str) {
        let Some(managed) = self.lock().remove(name) else { return };
        if let Some(i) = managed.running {
            let statuses = i.stop();
            let records = super::statistics::shard_records(&managed.record, &managed.spec, &managed.plugin, &statuses);
            self.save_final_records(name, &records);
        }
        tracing::info!(ingestion = name, "ingestion deleted on another host: stopped here");
    }

    /// Brings a local ingestion to the stored record another host wrote.
    fn follow(&self, name: &str, stored: IngestionRecord) {
        let next = self.with(name, |m| Ok(self.follow_in(m, stored)));
        match next {
            Ok(Some(Follow::Relaunch(record))) => {
                self.forget_locally(name);
                self.adopt(record, "restarted with a spec changed on another host");
            }
            Ok(Some(Follow::Paused(controls))) => {
                for c in controls {
                    let _ = c.wait_until(HOSTS_ACK_TIMEOUT, |s| {
                        !s.paused
                            || matches!(s.state, PollerState::Paused | PollerState::Closed | PollerState::Elsewhere)
                    });
                }
                self.save_statistics(name);
            }
            Ok(None) | Err(_) => {}
        }
    }

    fn follow_in(&self, m: &mut Managed, stored: IngestionRecord) -> Option<Follow> {
        let spec = match IngestionSpec::from_value(&stored.spec) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(ingestion = %stored.name, error = %e, "stored spec is invalid; ignoring the change");
                return None;
            }
        };
        if stored.id != m.record.id || m.running.is_none() || static_change(&m.spec, &spec).is_some() {
            return Some(Follow::Relaunch(stored));
        }
        if stored.spec != m.record.spec {
            match self.apply_dynamic(m, &spec) {
                Ok(swap) => m.plugin = swap.unwrap_or_else(|| m.plugin.clone()),
                Err(e) => {
                    tracing::warn!(ingestion = %stored.name, error = %e, "a settings change made elsewhere could not apply here; restarting");
                    return Some(Follow::Relaunch(stored));
                }
            }
        }
        let running = m.running.as_ref().expect("checked above");
        let strategy = stored.error_strategy.unwrap_or(spec.error_strategy);
        if strategy != m.record.error_strategy.unwrap_or(m.spec.error_strategy) {
            running.set_error_strategy(strategy);
        }
        let paused: Vec<u32> = stored.paused_shards.difference(&m.record.paused_shards).copied().collect();
        let resumed: Vec<u32> = m.record.paused_shards.difference(&stored.paused_shards).copied().collect();
        if !resumed.is_empty() {
            // A reset made with the resume is in the sink already.
            let _ = running.resume(Some(&resumed), &[]);
        }
        let waiting = if paused.is_empty() {
            Vec::new()
        } else {
            let _ = running.pause(Some(&paused));
            paused.iter().filter_map(|s| running.shards().get(*s as usize).cloned()).collect()
        };
        m.spec = spec;
        m.record = stored;
        Some(Follow::Paused(waiting))
    }

    fn with_running<T>(&self, key: &ShardKey, f: impl FnOnce(&mut crate::engine::Ingestion) -> T) -> Option<T> {
        let mut map = self.lock();
        map.get_mut(&key.ingestion).and_then(|m| m.running.as_mut()).map(f)
    }
}

impl ShardHost for Manager {
    fn ingestions(&self) -> Vec<(String, u32)> {
        self.lock().values().filter(|m| m.running.is_some()).map(|m| (m.spec.name.clone(), m.spec.shards)).collect()
    }

    fn start_shard(&self, key: &ShardKey, epoch: u64) -> std::result::Result<(), StartError> {
        // A shard arriving here continues the poll statistics the host
        // that ran it last saved (its exact counters are in the sink).
        let record = self.lock().get(&key.ingestion).map(|m| m.record.clone());
        let restored = record.and_then(|r| self.restored_shards(&r).ok()).and_then(|mut all| all.remove(&key.shard));
        let started = self.with_running(key, |i| {
            let control = i.shards().get(key.shard as usize).cloned();
            if let (Some(control), Some(r)) = (control, restored)
                && control.status().state == PollerState::Elsewhere
            {
                control.restore(r.poll, r.last_error);
            }
            i.start_shard(key.shard, epoch)
        });
        match started {
            None => Err(StartError::Other(format!("ingestion {} does not run on this host", key.ingestion))),
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(match e.fenced_at() {
                Some(current) => StartError::Fenced { current },
                None => StartError::Other(e.to_string()),
            }),
        }
    }

    fn stop_shard(&self, key: &ShardKey) {
        // Its statistics as they are, for the host that runs it next.
        let records = self.with(&key.ingestion, |m| {
            let running = m.running()?;
            let status: Vec<ShardStatus> = running.status().into_iter().filter(|s| s.shard == key.shard).collect();
            Ok(super::statistics::shard_records(&m.record, &m.spec, &m.plugin, &status))
        });
        if let Some(Err(e)) = self.with_running(key, |i| i.stop_shard(key.shard)) {
            tracing::warn!(shard = %key, error = %e, "could not stop a shard");
        }
        if let Ok(records) = records {
            self.save_final_records(&key.ingestion, &records);
        }
    }

    fn running(&self) -> Vec<RunningShard> {
        let mut map = self.lock();
        let mut out = Vec::new();
        for (name, m) in map.iter_mut() {
            let Some(running) = m.running.as_mut() else { continue };
            for (shard, epoch, fenced) in running.running_shards() {
                out.push(RunningShard { key: ShardKey::new(name, shard), epoch: epoch.unwrap_or(0), fenced });
            }
        }
        out
    }

    fn apply_changes(&self) {
        if !self.stopping() {
            self.apply_store_changes();
        }
    }

    fn stop_all(&self) {
        self.shutdown();
    }
}
