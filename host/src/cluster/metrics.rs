//! A host's lease counters, for `/metrics` and the ingestion state.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct ClusterMetrics {
    held: AtomicU64,
    acquired: AtomicU64,
    lost: AtomicU64,
    stolen: AtomicU64,
    failovers: AtomicU64,
    failover_ms_sum: AtomicU64,
    failover_ms_last: AtomicU64,
    failover_ms_max: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Leases this host holds now.
    pub held: u64,
    /// Leases it acquired (taken or stolen).
    pub acquired: u64,
    /// Leases it lost: not renewable any more (expired and taken, or
    /// stolen), or given up after its sink fenced it out.
    pub lost: u64,
    /// Leases it stole from a live host to balance the load.
    pub stolen: u64,
    /// Shards of a dead host this host took over, and the time from that
    /// host's last renewal to the shard running here (ms).
    pub failovers: u64,
    pub failover_ms_sum: u64,
    pub failover_ms_last: u64,
    pub failover_ms_max: u64,
}

impl ClusterMetrics {
    pub(super) fn set_held(&self, n: usize) {
        self.held.store(n as u64, Ordering::Relaxed);
    }

    pub(super) fn acquired(&self, stolen: bool) {
        self.acquired.fetch_add(1, Ordering::Relaxed);
        if stolen {
            self.stolen.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn failover(&self, ms: u64) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
        self.failover_ms_sum.fetch_add(ms, Ordering::Relaxed);
        self.failover_ms_last.store(ms, Ordering::Relaxed);
        self.failover_ms_max.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            held: get(&self.held),
            acquired: get(&self.acquired),
            lost: get(&self.lost),
            stolen: get(&self.stolen),
            failovers: get(&self.failovers),
            failover_ms_sum: get(&self.failover_ms_sum),
            failover_ms_last: get(&self.failover_ms_last),
            failover_ms_max: get(&self.failover_ms_max),
        }
    }
}
