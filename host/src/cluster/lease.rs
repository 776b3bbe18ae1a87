//! Leases: one per shard, in one Redis hash, changed only by Lua scripts
//! (each runs atomically, on Redis' clock).
//!
//! A lease is `epoch:expires_ms:renewed_ms:owner`. Acquiring it (taking a
//! free one, or stealing a live one) is a compare-and-set on the epoch the
//! caller last saw, and hands out a new epoch from the `#epoch` counter,
//! so epochs only grow, across shards and across deletes of an ingestion.
//! Renewing keeps the epoch; releasing keeps it too and clears the owner.

use super::store::{ClusterStore, NOW_MS, eval};
use super::{ClusterError, ShardKey};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A shard's lease as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// The host holding it; empty when released or never taken.
    pub owner: String,
    pub epoch: u64,
    /// When it expires unless renewed (ms, Redis' clock).
    pub expires_at_ms: i64,
    /// When its owner last took or renewed it (ms, Redis' clock).
    pub renewed_at_ms: i64,
}

impl Lease {
    pub fn parse(value: &str) -> Option<Lease> {
        let mut parts = value.splitn(4, ':');
        Some(Lease {
            epoch: parts.next()?.parse().ok()?,
            expires_at_ms: parts.next()?.parse().ok()?,
            renewed_at_ms: parts.next()?.parse().ok()?,
            owner: parts.next()?.to_string(),
        })
    }

    /// Nobody holds it (released, never taken, or expired at `now_ms`).
    pub fn free_at(&self, now_ms: i64) -> bool {
        self.owner.is_empty() || self.expires_at_ms <= now_ms
    }
}

const PARSE: &str = r"
local function parse(v)
  if not v then return 0, 0, 0, '' end
  local e, x, r, o = string.match(v, '^(%d+):(%d+):(%d+):(.*)$')
  return tonumber(e), tonumber(x), tonumber(r), o
end
";

/// KEYS: leases. ARGV: field, me, expected epoch, steal (0/1), lease ms,
/// lowest epoch to hand out. Returns {1, epoch, expires, previous owner,
/// previous expiry, previous renewal} or {0, epoch, expires, owner}.
const ACQUIRE: &str = r"
local e, x, r, o = parse(redis.call('HGET', KEYS[1], ARGV[1]))
local now = now_ms()
if e ~= tonumber(ARGV[3]) then return {0, e, x, o} end
local free = (o == '') or (x <= now) or (o == ARGV[2])
if ARGV[4] ~= '1' and not free then return {0, e, x, o} end
local counter = tonumber(redis.call('HGET', KEYS[1], '#epoch') or '0')
if counter < e then counter = e end
local floor = tonumber(ARGV[6])
if counter < floor then counter = floor end
counter = counter + 1
local expires = now + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], '#epoch', counter, ARGV[1], counter .. ':' .. expires .. ':' .. now .. ':' .. ARGV[2])
return {1, counter, expires, o, x, r}
";

/// KEYS: leases. ARGV: field, me, epoch, lease ms. 1 if renewed, 0 if the
/// lease is no longer this host's under this epoch.
const RENEW: &str = r"
local e, x, r, o = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if o ~= ARGV[2] or e ~= tonumber(ARGV[3]) then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], e .. ':' .. (now + tonumber(ARGV[4])) .. ':' .. now .. ':' .. o)
return 1
";

/// KEYS: leases. ARGV: field, me, epoch. 1 if released.
const RELEASE: &str = r"
local e, x, r, o = parse(redis.call('HGET', KEYS[1], ARGV[1]))
if o ~= ARGV[2] or e ~= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], e .. ':0:' .. now_ms() .. ':')
return 1
";

/// KEYS: leases, hosts. Returns {now, live hosts, lease fields and values}.
const SNAPSHOT: &str = r"
local now = now_ms()
return {now, redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf'), redis.call('HGETALL', KEYS[1])}
";

fn script(body: &str) -> String {
    format!("{NOW_MS}{PARSE}{body}")
}

/// A lease acquired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquired {
    pub epoch: u64,
    pub now_ms: i64,
    /// The lease before: its owner, and when it last renewed (for the
    /// failover time, when that owner died).
    pub previous: Lease,
}

/// Takes (`steal` false: only if free, or this host's) or steals the lease of
/// `key`, if its epoch is still `seen_epoch`. `None`: someone moved it first.
pub(super) fn acquire(
    store: &ClusterStore,
    key: &ShardKey,
    me: &str,
    seen_epoch: u64,
    steal: bool,
    lease: Duration,
    lowest_epoch: u64,
) -> Result<Option<Acquired>, ClusterError> {
    let args = [
        key.field(),
        me.to_string(),
        seen_epoch.to_string(),
        (steal as u8).to_string(),
        lease.as_millis().to_string(),
        lowest_epoch.to_string(),
    ];
    let reply: Vec<redis::Value> = store.with(|c| eval(&script(ACQUIRE), &[&store.leases], &args).query(c))?;
    let int = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value_ref::<i64>(v).ok()).unwrap_or(0);
    let text = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value_ref::<String>(v).ok()).unwrap_or_default();
    if int(0) != 1 {
        return Ok(None);
    }
    let now_ms = int(2) - lease.as_millis() as i64;
    Ok(Some(Acquired {
        epoch: int(1) as u64,
        now_ms,
        previous: Lease { owner: text(3), epoch: seen_epoch, expires_at_ms: int(4), renewed_at_ms: int(5) },
    }))
}

/// Renews every lease in `held` in one round trip; returns the ones lost.
pub(super) fn renew_all(
    store: &ClusterStore,
    me: &str,
    held: &BTreeMap<ShardKey, u64>,
    lease: Duration,
) -> Result<Vec<ShardKey>, ClusterError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let body = script(RENEW);
    let mut pipe = redis::pipe();
    for (key, epoch) in held {
        let args = [key.field(), me.to_string(), epoch.to_string(), lease.as_millis().to_string()];
        pipe.add_command(eval(&body, &[&store.leases], &args));
    }
    let renewed: Vec<i64> = store.with(|c| pipe.query(c))?;
    Ok(held.keys().zip(renewed).filter(|(_, ok)| *ok != 1).map(|(k, _)| k.clone()).collect())
}

/// Gives the lease up (only if still this host's under `epoch`).
pub(super) fn release(store: &ClusterStore, key: &ShardKey, me: &str, epoch: u64) -> Result<bool, ClusterError> {
    let args = [key.field(), me.to_string(), epoch.to_string()];
    let released: i64 = store.with(|c| eval(&script(RELEASE), &[&store.leases], &args).query(c))?;
    Ok(released == 1)
}

/// The cluster as one round sees it.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub now_ms: i64,
    pub live_hosts: BTreeSet<String>,
    pub leases: BTreeMap<ShardKey, Lease>,
}

pub(super) fn snapshot(store: &ClusterStore, me: &str) -> Result<Snapshot, ClusterError> {
    let (now_ms, hosts, fields): (i64, Vec<String>, Vec<String>) =
        store.with(|c| eval(&script(SNAPSHOT), &[&store.leases, &store.hosts], &[]).query(c))?;
    let mut leases = BTreeMap::new();
    for pair in fields.chunks_exact(2) {
        if let (Some(key), Some(lease)) = (ShardKey::parse(&pair[0]), Lease::parse(&pair[1])) {
            leases.insert(key, lease);
        } else if !pair[0].starts_with('#') {
            tracing::warn!(host = me, field = %pair[0], value = %pair[1], "ignoring an unreadable lease record");
        }
    }
    Ok(Snapshot { now_ms, live_hosts: hosts.into_iter().collect(), leases })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_record_parses_with_colons_in_the_owner() {
        let l = Lease::parse("7:1000:900:host:1:x").unwrap();
        assert_eq!((l.epoch, l.expires_at_ms, l.renewed_at_ms, l.owner.as_str()), (7, 1000, 900, "host:1:x"));
        assert!(!l.free_at(999) && l.free_at(1000));
        assert!(Lease::parse("7:0:5:").unwrap().free_at(0), "released");
        assert_eq!(Lease::parse("x:1:2:h"), None);
    }
}
