//! Fencing of a Redis shard sink: the stored lease epoch (`...:fence`) that
//! a cluster host's writes are checked against (see the module above).

use super::{RedisSink, State};
use crate::sink::{SinkError, SinkMeta};
use redis::{Commands, Connection};
use std::sync::Mutex;

/// Raises the fence (KEYS[1]) to ARGV[1] unless a newer epoch is stored;
/// returns the stored epoch after the call.
const RAISE_FENCE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = tonumber(ARGV[1])
if current > epoch then return current end
redis.call('SET', KEYS[1], ARGV[1])
return epoch
";

impl RedisSink {
    /// Another handle on the same shard, with its own connection, writing under `epoch`.
    pub(super) fn handle(&self, epoch: Option<u64>) -> RedisSink {
        RedisSink {
            client: self.client.clone(),
            label: self.label.clone(),
            docs_key: self.docs_key.clone(),
            meta_key: self.meta_key.clone(),
            dropped_key: self.dropped_key.clone(),
            ids_key: self.ids_key.clone(),
            dropped_ids_key: self.dropped_ids_key.clone(),
            tombstones_key: self.tombstones_key.clone(),
            fence_key: self.fence_key.clone(),
            epoch,
            state: Mutex::new(State { conn: None, meta: SinkMeta::default() }),
        }
    }

    /// With an epoch: WATCHes the fence (the caller has WATCHed or will
    /// WATCH the meta on the same connection) and fails with
    /// [`SinkError::Fenced`] (unwatching) if a newer epoch is stored. Returns
    /// whether the stored fence is older than this handle's epoch (the
    /// transaction then raises it).
    pub(super) fn watch_fence(&self, conn: &mut Connection) -> Result<bool, SinkError> {
        let Some(held) = self.epoch else { return Ok(false) };
        redis::cmd("WATCH").arg(&self.fence_key).exec(conn).map_err(|e| self.err(e))?;
        let current: Option<u64> = conn.get(&self.fence_key).map_err(|e| self.err(e))?;
        let current = current.unwrap_or(0);
        if current > held {
            let _ = redis::cmd("UNWATCH").exec(conn);
            tracing::error!(sink = %self.label, held, current, "fenced: another host holds this shard under a newer lease");
            return Err(SinkError::Fenced { path: self.label.clone(), held, current });
        }
        Ok(current < held)
    }

    /// `ShardSink::fenced`: a handle writing under `epoch`, the stored fence raised to it.
    pub(super) fn fenced_handle(&self, epoch: u64) -> Result<RedisSink, SinkError> {
        let sink = self.handle(Some(epoch));
        let meta = sink.with_conn(|s, conn| {
            let stored: u64 = redis::cmd("EVAL")
                .arg(RAISE_FENCE)
                .arg(1)
                .arg(&s.fence_key)
                .arg(epoch)
                .query(conn)
                .map_err(|e| s.err(e))?;
            if stored > epoch {
                return Err(SinkError::Fenced { path: s.label.clone(), held: epoch, current: stored });
            }
            s.read_meta(conn)
        })?;
        sink.state.lock().unwrap_or_else(|p| p.into_inner()).meta = meta;
        Ok(sink)
    }
}
