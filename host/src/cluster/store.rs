//! The cluster's Redis: one connection (re-made after an error) and the
//! key names. Every key shares the `{<prefix>-cluster}` hash tag, so the
//! scripts that touch several of them work on a Redis Cluster too.

use super::ClusterError;
use std::sync::Mutex;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct ClusterStore {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    /// The URL without its password.
    label: String,
    /// Hash `<ingestion>/<shard>` -> `epoch:expires_ms:renewed_ms:owner`, and
    /// `#epoch`: the last epoch handed out.
    pub leases: String,
    /// Sorted set of host ids scored by when their heartbeat expires (ms).
    pub hosts: String,
    /// Hash host id -> the last change number it applied.
    pub acks: String,
    /// The change counter every control-plane change increments.
    pub changes: String,
}

impl ClusterStore {
    pub fn open(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let label = crate::util::redact_url_password(url);
        let client = redis::Client::open(url)
            .map_err(|e| ClusterError::Redis { place: label.clone(), message: e.to_string() })?;
        let tag = format!("{prefix}:{{{prefix}-cluster}}");
        let store = ClusterStore {
            client,
            conn: Mutex::new(None),
            label,
            leases: format!("{tag}:leases"),
            hosts: format!("{tag}:hosts"),
            acks: format!("{tag}:acks"),
            changes: format!("{tag}:changes"),
        };
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// Runs `f` on the connection, connecting first if needed; an error
    /// drops the connection so the next call reconnects.
    pub fn with<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, ClusterError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let conn = self.client.get_connection_with_timeout(IO_TIMEOUT).map_err(|e| self.err(e))?;
            conn.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| self.err(e))?;
            conn.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| self.err(e))?;
            *guard = Some(conn);
        }
        let result = f(guard.as_mut().expect("connected"));
        if result.is_err() {
            *guard = None;
        }
        result.map_err(|e| self.err(e))
    }

    fn err(&self, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::Redis { place: self.label.clone(), message: e.to_string() }
    }
}

/// Redis' clock in ms, as a Lua function every script defines: expiries are
/// all on one clock, whatever the hosts' clocks say.
pub(super) const NOW_MS: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// `EVAL script` with `keys` and `args`.
pub(super) fn eval(script: &str, keys: &[&str], args: &[String]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    for a in args {
        cmd.arg(a);
    }
    cmd
}
