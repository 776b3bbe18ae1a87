//! Many hosts, one set of shards (`sluice serve --cluster`).
//!
//! Every shard of every ingestion has a **lease** in Redis (`lease`): an
//! owner host, an expiry, and an epoch that increases on every acquisition.
//! Each host registers with a heartbeat (`hosts`), and its `coordinator`
//! renews the leases it holds, takes expired or unowned ones and steals a
//! few from the most loaded host until it holds its share (`balancer`, a
//! pure function, like the Kinesis Client Library's lease taker), starting
//! and stopping shards through a [`ShardHost`] (the manager). The epoch is
//! the fence: a host starts a shard with a sink handle fenced at the lease's
//! epoch ([`crate::sink::ShardSink::fenced`]), so a host whose lease expired
//! (paused, partitioned) has its next commit refused and stops the shard.
//! Control-plane changes made on one host reach the others through a change
//! counter that each host's `changes` follower polls and acknowledges.
//!
//! This module knows Redis and the leases, not the manager: the manager
//! implements [`ShardHost`] and holds a [`Cluster`] to announce changes and
//! show owners.

mod balancer;
mod changes;
mod coordinator;
mod hosts;
mod lease;
mod metrics;
mod store;

pub use balancer::{Action, LeaseView, plan};
pub use coordinator::Coordinator;
pub use lease::{Acquired, Lease};
pub use metrics::{ClusterMetrics, MetricsSnapshot};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use store::ClusterStore;

/// How a host takes part in a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This host's id, unique in the cluster (default: hostname and pid).
    pub host_id: String,
    /// How long a lease lasts unless renewed: a dead host's shards move
    /// after at most this plus one renew interval.
    pub lease_time: Duration,
    /// How often a host renews its leases, heartbeats and rebalances.
    pub renew_interval: Duration,
    /// Leases a host steals from the most loaded host per round, at most.
    pub max_steal: usize,
}

impl ClusterSettings {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);
    pub const DEFAULT_RENEW: Duration = Duration::from_secs(1);

    pub fn new(host_id: String) -> Self {
        ClusterSettings { host_id, lease_time: Self::DEFAULT_LEASE, renew_interval: Self::DEFAULT_RENEW, max_steal: 2 }
    }

    /// A renew interval under half the lease time leaves room for one
    /// failed renewal before the lease expires.
    pub fn check(&self) -> Result<(), ClusterError> {
        if self.host_id.is_empty() || self.host_id.contains(['\n', ' ']) {
            return Err(ClusterError::Settings(format!(
                "host id {:?}: must be non-empty without spaces",
                self.host_id
            )));
        }
        if self.renew_interval.is_zero() || self.renew_interval * 2 > self.lease_time {
            return Err(ClusterError::Settings(format!(
                "the renew interval ({:?}) must be above zero and at most half the lease time ({:?}), so that a \
                 renewal can fail once without losing the leases",
                self.renew_interval, self.lease_time
            )));
        }
        Ok(())
    }
}

/// A default host id: the machine's hostname and this process' id.
pub fn default_host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{name}-{}", std::process::id())
}

/// One shard of one ingestion: what a lease is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardKey {
    pub ingestion: String,
    pub shard: u32,
}

impl ShardKey {
    pub fn new(ingestion: &str, shard: u32) -> Self {
        ShardKey { ingestion: ingestion.to_string(), shard }
    }

    /// The lease's field in Redis: `<ingestion>/<shard>`.
    pub fn field(&self) -> String {
        format!("{}/{}", self.ingestion, self.shard)
    }

    /// The inverse of [`ShardKey::field`] (names may hold `/`: the shard is after the last one).
    pub fn parse(field: &str) -> Option<Self> {
        let (ingestion, shard) = field.rsplit_once('/')?;
        Some(ShardKey { ingestion: ingestion.to_string(), shard: shard.parse().ok()? })
    }
}

impl std::fmt::Display for ShardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} shard {}", self.ingestion, self.shard)
    }
}

/// A shard running on this host, as the coordinator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningShard {
    pub key: ShardKey,
    /// The lease epoch its sink handle is fenced with.
    pub epoch: u64,
    /// Its sink refused a write: another host took it over.
    pub fenced: bool,
}

/// What the coordinator runs shards on (the manager).
pub trait ShardHost: Send + Sync {
    /// Every ingestion this host can run shards of, with its shard count.
    fn ingestions(&self) -> Vec<(String, u32)>;
    /// Starts `key` under lease `epoch` (its sink fenced at it); nothing if
    /// it already runs under that epoch. An error leaves it stopped.
    fn start_shard(&self, key: &ShardKey, epoch: u64) -> Result<(), StartError>;
    /// Stops `key` (its batch in flight is committed or refused); returns at once.
    fn stop_shard(&self, key: &ShardKey);
    /// The shards running (or still stopping) here.
    fn running(&self) -> Vec<RunningShard>;
    /// Applies what other hosts changed in the state store (ingestions
    /// created, updated, paused, resumed, deleted); returns once applied.
    fn apply_changes(&self);
    /// Stops every shard, waiting for their last commits.
    fn stop_all(&self);
}

/// Why a shard could not start under a lease.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its sink holds a newer epoch than the lease's.
    #[error("its sink is fenced at epoch {current}, newer than the lease's")]
    Fenced { current: u64 },
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster store {place}: {message}")]
    Redis { place: String, message: String },
    #[error("cluster settings: {0}")]
    Settings(String),
}

/// A host's handle on the cluster: its settings, the Redis keys and its metrics.
pub struct Cluster {
    settings: ClusterSettings,
    store: ClusterStore,
    metrics: ClusterMetrics,
}

impl Cluster {
    /// Connects to the cluster's Redis (`url`, keys under `prefix`).
    pub fn open(url: &str, prefix: &str, settings: ClusterSettings) -> Result<Arc<Cluster>, ClusterError> {
        settings.check()?;
        let store = ClusterStore::open(url, prefix)?;
        // The host registers (heartbeats) once its coordinator runs: until
        // then it must not count as live, or others would leave it shards.
        Ok(Arc::new(Cluster { settings, store, metrics: ClusterMetrics::default() }))
    }

    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    pub fn host_id(&self) -> &str {
        &self.settings.host_id
    }

    pub fn metrics(&self) -> &ClusterMetrics {
        &self.metrics
    }

    /// Tells every host that the state store changed; returns the change
    /// number to wait for with [`Cluster::wait_applied`].
    pub fn announce(&self) -> Result<u64, ClusterError> {
        changes::announce(&self.store)
    }

    /// Waits until every live host applied change `n` (at most `timeout`);
    /// the error names the hosts that did not.
    pub fn wait_applied(&self, n: u64, timeout: Duration) -> Result<(), ClusterError> {
        changes::wait_applied(&self.store, n, timeout)
    }

    /// Takes (`steal` false: only a free lease, or one recorded as this
    /// host's) or steals `key`'s lease if its epoch is still `seen_epoch`,
    /// under a new epoch. `None`: it moved first. (The coordinator does this;
    /// public for tests and tools.)
    pub fn acquire(&self, key: &ShardKey, seen_epoch: u64, steal: bool) -> Result<Option<Acquired>, ClusterError> {
        let s = &self.settings;
        lease::acquire(&self.store, key, &s.host_id, seen_epoch, steal, s.lease_time, 0)
    }

    /// Renews the leases in `held` (key -> epoch); returns those no longer this host's.
    pub fn renew(&self, held: &BTreeMap<ShardKey, u64>) -> Result<Vec<ShardKey>, ClusterError> {
        lease::renew_all(&self.store, &self.settings.host_id, held, self.settings.lease_time)
    }

    /// Gives `key`'s lease up if this host holds it under `epoch`.
    pub fn release(&self, key: &ShardKey, epoch: u64) -> Result<bool, ClusterError> {
        lease::release(&self.store, key, &self.settings.host_id, epoch)
    }

    /// Every lease, by shard.
    pub fn leases(&self) -> Result<BTreeMap<ShardKey, Lease>, ClusterError> {
        Ok(lease::snapshot(&self.store, &self.settings.host_id)?.leases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_keys_round_trip_through_their_field_even_with_slashes() {
        let key = ShardKey::new("a/b", 7);
        assert_eq!(key.field(), "a/b/7");
        assert_eq!(ShardKey::parse("a/b/7"), Some(key));
        assert_eq!(ShardKey::parse("#epoch"), None);
        assert_eq!(ShardKey::parse("x/y"), None);
    }

    #[test]
    fn the_renew_interval_must_leave_room_for_a_failed_renewal() {
        let mut s = ClusterSettings::new("h1".into());
        s.check().unwrap();
        s.renew_interval = Duration::from_secs(2);
        assert!(s.check().unwrap_err().to_string().contains("half the lease time"));
        s.renew_interval = Duration::from_millis(500);
        s.host_id = "a b".into();
        assert!(s.check().is_err());
    }
}
