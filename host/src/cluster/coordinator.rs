//! The coordinator: a host's lease loop (renew, give up, take, steal) and
//! its change follower, on two threads, so that applying a slow change
//! (a pause waits for a batch in flight) never delays a renewal.

use super::balancer::{Action, LeaseView, plan};
use super::lease::{self, Acquired};
use super::{Cluster, ShardHost, ShardKey, StartError, changes, hosts};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Coordinator {
    cluster: Arc<Cluster>,
    host: Arc<dyn ShardHost>,
    stop: Arc<AtomicBool>,
    leases: Option<JoinHandle<BTreeMap<ShardKey, u64>>>,
    follower: Option<JoinHandle<()>>,
}

impl Coordinator {
    /// Starts the lease loop and the change follower of this host.
    pub fn start(cluster: Arc<Cluster>, host: Arc<dyn ShardHost>) -> Coordinator {
        let stop = Arc::new(AtomicBool::new(false));
        let follower = {
            let (cluster, host, stop) = (cluster.clone(), host.clone(), stop.clone());
            std::thread::Builder::new()
                .name("sluice-cluster-changes".into())
                .spawn(move || changes::follow(cluster, host, stop))
                .expect("spawn the change follower")
        };
        let leases = {
            let mut l = LeaseLoop {
                cluster: cluster.clone(),
                host: host.clone(),
                held: BTreeMap::new(),
                last_renewed: Instant::now(),
                lowest_epoch: 0,
            };
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("sluice-cluster-leases".into())
                .spawn(move || {
                    l.run(&stop);
                    l.held
                })
                .expect("spawn the lease loop")
        };
        tracing::info!(host = cluster.host_id(), lease = ?cluster.settings.lease_time,
            renew = ?cluster.settings.renew_interval, "joined the cluster");
        Coordinator { cluster, host, stop, leases: Some(leases), follower: Some(follower) }
    }

    /// A clean shutdown: stops taking leases, stops every shard (each
    /// commits its batch in flight), then releases the leases and leaves, so
    /// the other hosts take the shards at their next round.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let held = self.leases.take().map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        if let Some(f) = self.follower.take() {
            let _ = f.join();
        }
        self.host.stop_all();
        let me = self.cluster.host_id();
        for (key, epoch) in &held {
            match lease::release(&self.cluster.store, key, me, *epoch) {
                Ok(true) => tracing::info!(host = me, shard = %key, epoch, "lease released"),
                Ok(false) => {}
                Err(e) => tracing::warn!(host = me, shard = %key, error = %e, "could not release a lease; it expires"),
            }
        }
        self.cluster.metrics.set_held(0);
        if let Err(e) = hosts::leave(&self.cluster.store, me) {
            tracing::warn!(host = me, error = %e, "could not unregister; the heartbeat expires");
        }
        tracing::info!(host = me, released = held.len(), "left the cluster");
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct LeaseLoop {
    cluster: Arc<Cluster>,
    host: Arc<dyn ShardHost>,
    /// The leases this host holds, with their epochs.
    held: BTreeMap<ShardKey, u64>,
    last_renewed: Instant,
    /// Epochs below this are refused by some sink (the lease store lost its
    /// counter while the sinks kept their fences): acquisitions skip them.
    lowest_epoch: u64,
}

impl LeaseLoop {
    fn run(&mut self, stop: &AtomicBool) {
        let every = self.cluster.settings.renew_interval;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if let Err(e) = self.round() {
                tracing::warn!(host = self.me(), error = %e, "cluster round failed; retrying");
            }
            self.cluster.metrics.set_held(self.held.len());
            while started.elapsed() < every && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20).min(every));
            }
        }
    }

    fn me(&self) -> &str {
        &self.cluster.settings.host_id
    }

    fn round(&mut self) -> Result<(), super::ClusterError> {
        self.renew()?;
        hosts::heartbeat(&self.cluster.store, &self.cluster.settings)?;
        let snapshot = lease::snapshot(&self.cluster.store, self.me())?;
        let universe: BTreeSet<ShardKey> = self
            .host
            .ingestions()
            .into_iter()
            .flat_map(|(name, shards)| (0..shards).map(move |s| ShardKey::new(&name, s)))
            .collect();
        self.reconcile(&universe);
        let me = self.me().to_string();
        let views: Vec<LeaseView> = universe
            .iter()
            .map(|key| {
                let l = snapshot.leases.get(key).cloned().unwrap_or_default();
                // A lease recorded as ours that this process does not hold
                // (it restarted under the same id) is ours to take again.
                let free = l.free_at(snapshot.now_ms) || (l.owner == me && !self.held.contains_key(key));
                LeaseView { key: key.clone(), owner: l.owner, epoch: l.epoch, free }
            })
            .collect();
        for action in plan(&me, &snapshot.live_hosts, &views, self.cluster.settings.max_steal) {
            let (key, epoch, from) = match action {
                Action::Take { key, epoch } => (key, epoch, None),
                Action::Steal { key, epoch, from } => (key, epoch, Some(from)),
            };
            self.acquire(&key, epoch, from)?;
        }
        Ok(())
    }

    /// Renews every held lease; a lease that is no longer ours stops its shard.
    /// When renewals fail for a whole lease time, every shard stops: other
    /// hosts may hold them by now (their sinks would refuse this host anyway).
    fn renew(&mut self) -> Result<(), super::ClusterError> {
        let cluster = self.cluster.clone();
        let settings = &cluster.settings;
        match lease::renew_all(&self.cluster.store, &settings.host_id, &self.held, settings.lease_time) {
            Ok(lost) => {
                self.last_renewed = Instant::now();
                for key in lost {
                    tracing::warn!(host = %settings.host_id, shard = %key, "lease lost (expired and taken, or stolen); stopping the shard");
                    self.give_up(&key, false);
                }
                Ok(())
            }
            Err(e) if self.last_renewed.elapsed() >= settings.lease_time && !self.held.is_empty() => {
                tracing::error!(host = %settings.host_id, error = %e, "leases not renewed for a lease time; stopping every shard");
                for key in self.held.keys().cloned().collect::<Vec<_>>() {
                    self.give_up(&key, false);
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Stops the shard, forgets the lease (releasing it if `release`), counts it lost.
    fn give_up(&mut self, key: &ShardKey, release: bool) {
        self.host.stop_shard(key);
        if let Some(epoch) = self.held.remove(key) {
            self.cluster.metrics.lost();
            if release && let Err(e) = lease::release(&self.cluster.store, key, self.me(), epoch) {
                tracing::warn!(host = self.me(), shard = %key, error = %e, "could not release a lease; it expires");
            }
        }
    }

    /// Makes what runs here match what this host holds: shards fenced out
    /// give their lease up, shards without a lease stop, held leases whose
    /// shard is not running (its ingestion restarted) start it again, and
    /// leases of ingestions gone from this host are released.
    fn reconcile(&mut self, universe: &BTreeSet<ShardKey>) {
        let running = self.host.running();
        for r in &running {
            match self.held.get(&r.key) {
                Some(epoch) if *epoch == r.epoch && r.fenced => {
                    tracing::warn!(host = self.me(), shard = %r.key, epoch, "fenced out by a newer lease; giving the lease up");
                    self.give_up(&r.key, true);
                }
                Some(epoch) if *epoch == r.epoch => {}
                _ => self.host.stop_shard(&r.key),
            }
        }
        let running: BTreeMap<&ShardKey, u64> =
            running.iter().filter(|r| !r.fenced).map(|r| (&r.key, r.epoch)).collect();
        for (key, epoch) in self.held.clone() {
            if !universe.contains(&key) {
                tracing::info!(host = self.me(), shard = %key, "the ingestion is gone from this host; releasing its lease");
                self.give_up(&key, true);
            } else if running.get(&key) != Some(&epoch)
                && let Err(e) = self.host.start_shard(&key, epoch)
            {
                self.start_failed(&key, e);
            }
        }
    }

    fn start_failed(&mut self, key: &ShardKey, e: StartError) {
        tracing::warn!(host = self.me(), shard = %key, error = %e, "could not start a leased shard; giving the lease up");
        if let StartError::Fenced { current } = e {
            // The sink holds a newer epoch than the lease store handed out:
            // later acquisitions hand out epochs above it.
            self.lowest_epoch = self.lowest_epoch.max(current);
        }
        self.give_up(key, true);
    }

    fn acquire(&mut self, key: &ShardKey, seen: u64, from: Option<String>) -> Result<(), super::ClusterError> {
        let settings = &self.cluster.settings;
        let me = settings.host_id.clone();
        let steal = from.is_some();
        let acquired =
            lease::acquire(&self.cluster.store, key, &me, seen, steal, settings.lease_time, self.lowest_epoch)?;
        let Some(Acquired { epoch, now_ms, previous }) = acquired else {
            tracing::debug!(host = %me, shard = %key, "lease moved before this host could take it");
            return Ok(());
        };
        let started = Instant::now();
        if let Err(e) = self.host.start_shard(key, epoch) {
            self.held.insert(key.clone(), epoch);
            self.start_failed(key, e);
            return Ok(());
        }
        self.held.insert(key.clone(), epoch);
        self.cluster.metrics.acquired(steal);
        let dead_owner = !steal && !previous.owner.is_empty() && previous.owner != me;
        if dead_owner {
            // From the dead host's last renewal (it died after that, within
            // one renew interval) to the shard running here.
            let ms = (now_ms - previous.renewed_at_ms).max(0) as u64 + started.elapsed().as_millis() as u64;
            self.cluster.metrics.failover(ms);
            tracing::info!(host = %me, shard = %key, epoch, from = %previous.owner, failover_ms = ms,
                "took over a shard whose lease expired");
        } else if let Some(from) = from {
            tracing::info!(host = %me, shard = %key, epoch, from = %from, "stole a lease to balance the load");
        } else {
            tracing::info!(host = %me, shard = %key, epoch, "took a free lease");
        }
        Ok(())
    }
}
