//! Host registration: each host's heartbeat is its id in a sorted set,
//! scored by when it expires (Redis' clock), refreshed every round. A host
//! is live while its score is in the future; hosts dead for a minute are
//! removed with their acknowledgements.

use super::store::{ClusterStore, NOW_MS, eval};
use super::{ClusterError, ClusterSettings};

/// How long a dead host stays listed (ms), so that a host that was only
/// slow is not forgotten between two rounds.
const FORGET_AFTER_MS: i64 = 60_000;

/// KEYS: hosts, acks. ARGV: me, lease ms, forget after ms. Returns now.
const HEARTBEAT: &str = r"
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
for _, host in ipairs(gone) do
  redis.call('ZREM', KEYS[1], host)
  redis.call('HDEL', KEYS[2], host)
end
return now
";

/// Registers or refreshes this host for one lease time; returns Redis' time (ms).
pub(super) fn heartbeat(store: &ClusterStore, settings: &ClusterSettings) -> Result<i64, ClusterError> {
    let args = [settings.host_id.clone(), settings.lease_time.as_millis().to_string(), FORGET_AFTER_MS.to_string()];
    let script = format!("{NOW_MS}{HEARTBEAT}");
    store.with(|c| eval(&script, &[&store.hosts, &store.acks], &args).query(c))
}

/// Removes this host at once (a clean shutdown, after releasing its leases),
/// so the others rebalance without waiting for its heartbeat to expire.
pub(super) fn leave(store: &ClusterStore, host_id: &str) -> Result<(), ClusterError> {
    store.with(|c| redis::pipe().zrem(&store.hosts, host_id).ignore().hdel(&store.acks, host_id).ignore().query(c))
}
