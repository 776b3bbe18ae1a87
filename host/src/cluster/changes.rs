//! Control-plane changes between hosts: every change to the state store
//! (create, update, pause, resume, delete, a plugin registered) increments
//! a counter; each host's follower polls it, applies what changed
//! ([`super::ShardHost::apply_changes`]) and acknowledges the number, so the
//! host that made a change can wait until every live host applied it (a
//! pause returns once the shards stopped on whichever host runs them).

use super::store::{ClusterStore, NOW_MS, eval};
use super::{ClusterError, ShardHost};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a follower looks at the counter.
pub(super) const POLL: Duration = Duration::from_millis(200);

pub(super) fn announce(store: &ClusterStore) -> Result<u64, ClusterError> {
    store.with(|c| redis::cmd("INCR").arg(&store.changes).query(c))
}

fn current(store: &ClusterStore) -> Result<u64, ClusterError> {
    let n: Option<u64> = store.with(|c| redis::cmd("GET").arg(&store.changes).query(c))?;
    Ok(n.unwrap_or(0))
}

fn acknowledge(store: &ClusterStore, me: &str, n: u64) -> Result<(), ClusterError> {
    store.with(|c| redis::cmd("HSET").arg(&store.acks).arg(me).arg(n).exec(c))
}

/// KEYS: hosts, acks. ARGV: change number. The live hosts that have not acknowledged it.
const BEHIND: &str = r"
local now = now_ms()
local behind = {}
for _, host in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local acked = tonumber(redis.call('HGET', KEYS[2], host) or '0')
  if acked < tonumber(ARGV[1]) then table.insert(behind, host) end
end
return behind
";

pub(super) fn wait_applied(store: &ClusterStore, n: u64, timeout: Duration) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    let script = format!("{NOW_MS}{BEHIND}");
    loop {
        let behind: Vec<String> =
            store.with(|c| eval(&script, &[&store.hosts, &store.acks], &[n.to_string()]).query(c))?;
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Redis {
                place: "the cluster".into(),
                message: format!("hosts {} did not apply change {n} within {timeout:?}", behind.join(", ")),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The follower thread: applies changes until `stop`.
pub(super) fn follow(cluster: Arc<super::Cluster>, host: Arc<dyn ShardHost>, stop: Arc<AtomicBool>) {
    let me = cluster.host_id().to_string();
    let mut applied: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        match current(&cluster.store) {
            Ok(n) if applied != Some(n) => {
                host.apply_changes();
                match acknowledge(&cluster.store, &me, n) {
                    Ok(()) => applied = Some(n),
                    Err(e) => tracing::warn!(host = %me, error = %e, "could not acknowledge a change; retrying"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(host = %me, error = %e, "could not read the change counter; retrying"),
        }
        std::thread::sleep(POLL);
    }
}
