//! The `redis` state store: the same records as the file store, in Redis.
//!
//! Keys under a configurable prefix: `<prefix>:ingestions` (hash name ->
//! record), `<prefix>:plugins` (hash `name@version` -> record) and
//! `<prefix>:component:<sha256>` (the component bytes). Records keep the file
//! store's checksummed encoding, so a damaged value is reported, not used.
//! With the shard sinks in Redis too, a fresh host with an empty data
//! directory restores every ingestion from here and continues its shards.

use super::file::{decode, encode};
use super::{IngestionRecord, PluginRecord, StateError, StateStore, sha256_hex};
use redis::Commands;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

pub struct RedisStateStore {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    prefix: String,
    label: String,
}

impl RedisStateStore {
    /// `url`: `redis://host:port/db`; `prefix`: key prefix (default `sluice`).
    pub fn open(url: &str, prefix: &str) -> Result<Self, StateError> {
        let label = crate::spec::redact_url_password(url);
        let client = redis::Client::open(url).map_err(|e| StateError::Backend(format!("{label}: {e}")))?;
        let store = RedisStateStore { client, conn: Mutex::new(None), prefix: prefix.to_string(), label };
        // Fail now, with the address, rather than at the first write.
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    fn with<T>(&self, f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, StateError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(Duration::from_secs(10))
                .map_err(|e| StateError::Backend(format!("{}: {e}", self.label)))?;
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            *guard = Some(conn);
        }
        let result = f(guard.as_mut().expect("connected"));
        if result.is_err() {
            *guard = None; // reconnect next time
        }
        result.map_err(|e| StateError::Backend(format!("{}: {e}", self.label)))
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    fn where_(&self, field: &str) -> String {
        format!("{} {}:{field}", self.label, self.prefix)
    }
}

impl StateStore for RedisStateStore {
    fn load(&self, name: &str) -> Result<Option<IngestionRecord>, StateError> {
        let raw: Option<Vec<u8>> = self.with(|c| c.hget(self.key("ingestions"), name))?;
        raw.map(|b| decode(Path::new(&self.where_(name)), &b)).transpose()
    }

    fn load_all(&self) -> Result<Vec<Result<IngestionRecord, StateError>>, StateError> {
        let mut all: Vec<(String, Vec<u8>)> = self.with(|c| c.hgetall(self.key("ingestions")))?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all.into_iter().map(|(name, b)| decode(Path::new(&self.where_(&name)), &b)).collect())
    }

    fn save(&self, record: &IngestionRecord) -> Result<(), StateError> {
        self.with(|c| c.hset(self.key("ingestions"), &record.name, encode(record)))
    }

    fn delete(&self, name: &str) -> Result<(), StateError> {
        self.with(|c| c.hdel(self.key("ingestions"), name))
    }

    fn save_plugin(&self, record: &PluginRecord, component: &[u8]) -> Result<(), StateError> {
        let field = format!("{}@{}", record.name, record.version);
        let component_key = self.key(&format!("component:{}", record.sha256));
        self.with(|c| {
            redis::pipe()
                .atomic()
                .set(&component_key, component)
                .ignore()
                .hset(self.key("plugins"), &field, encode(record))
                .ignore()
                .query(c)
        })
    }

    fn load_plugins(&self) -> Result<Vec<PluginRecord>, StateError> {
        let all: Vec<(String, Vec<u8>)> = self.with(|c| c.hgetall(self.key("plugins")))?;
        let mut out = all
            .into_iter()
            .map(|(field, b)| decode(Path::new(&self.where_(&field)), &b))
            .collect::<Result<Vec<PluginRecord>, _>>()?;
        out.sort_by(|a, b| (&a.name, a.registered_at_ms).cmp(&(&b.name, b.registered_at_ms)));
        Ok(out)
    }

    fn load_component(&self, sha256: &str) -> Result<Vec<u8>, StateError> {
        let key = self.key(&format!("component:{sha256}"));
        let bytes: Option<Vec<u8>> = self.with(|c| c.get(&key))?;
        let bytes =
            bytes.ok_or_else(|| StateError::Backend(format!("{}: component {sha256} is missing", self.label)))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(StateError::Corrupt { path: self.where_(&key), reason: format!("content hash is {actual}") });
        }
        Ok(bytes)
    }

    fn delete_plugin(&self, name: &str, version: &str) -> Result<(), StateError> {
        let field = format!("{name}@{version}");
        let record: Option<Vec<u8>> = self.with(|c| c.hget(self.key("plugins"), &field))?;
        self.with(|c| c.hdel::<_, _, ()>(self.key("plugins"), &field))?;
        if let Some(b) = record {
            let r: PluginRecord = decode(Path::new(&self.where_(&field)), &b)?;
            if !self.load_plugins()?.iter().any(|p| p.sha256 == r.sha256) {
                self.with(|c| c.del::<_, ()>(self.key(&format!("component:{}", r.sha256))))?;
            }
        }
        Ok(())
    }
}
