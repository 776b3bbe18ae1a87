//! The `redis` state store: the same records as the file store, in Redis.
//!
//! Keys under a configurable prefix: `<prefix>:ingestions` (hash name ->
//! record), `<prefix>:shard-states:<ingestion>` (hash shard -> shard state
//! record), `<prefix>:plugins` (hash `name@version` -> record) and
//! `<prefix>:component:<sha256>` (the component bytes). Records keep the file
//! store's checksummed encoding, so a damaged value is reported, not used.
//! With the shard sinks in Redis too, a fresh host with an empty data
//! directory restores every ingestion from here and continues its shards.

use super::file::{decode, encode};
use super::{IngestionRecord, PluginRecord, ShardStateRecord, StateError, StateStore, StateUsage, sha256_hex};
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

    fn shard_states_key(&self, ingestion: &str) -> String {
        self.key(&format!("shard-states:{ingestion}"))
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

    fn save_shard_states(&self, ingestion: &str, records: &[ShardStateRecord]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        let fields: Vec<(String, Vec<u8>)> =
            records.iter().map(|r| (r.metadata.shard.to_string(), encode(r))).collect();
        self.with(|c| c.hset_multiple(self.shard_states_key(ingestion), &fields))
    }

    fn load_shard_states(&self, ingestion: &str) -> Result<Vec<ShardStateRecord>, StateError> {
        let all: Vec<(String, Vec<u8>)> = self.with(|c| c.hgetall(self.shard_states_key(ingestion)))?;
        let mut out = Vec::new();
        for (field, bytes) in all {
            let Ok(shard) = field.parse::<u32>() else { continue };
            let place = self.where_(&format!("shard-states:{ingestion}[{field}]"));
            let value: serde_json::Value = decode(Path::new(&place), &bytes)?;
            out.push((shard, ShardStateRecord::from_json(&place, value)?));
        }
        out.sort_by_key(|(shard, _)| *shard);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    fn delete_shard_states(&self, ingestion: &str) -> Result<(), StateError> {
        self.with(|c| c.del(self.shard_states_key(ingestion)))
    }

    fn usage(&self) -> Result<StateUsage, StateError> {
        let sizes = |key: String| -> Result<(u64, u64), StateError> {
            let all: Vec<(String, Vec<u8>)> = self.with(|c| c.hgetall(key))?;
            Ok((all.len() as u64, all.iter().map(|(_, v)| v.len() as u64).sum()))
        };
        let ingestions = sizes(self.key("ingestions"))?;
        let plugins = sizes(self.key("plugins"))?;
        let mut shards = (0, 0);
        let shard_keys: Vec<String> = self.with(|c| {
            c.scan_match::<_, String>(self.shard_states_key("*")).and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        })?;
        for key in shard_keys {
            let (n, b) = sizes(key)?;
            shards = (shards.0 + n, shards.1 + b);
        }
        let component_keys: Vec<String> = self.with(|c| {
            c.scan_match::<_, String>(self.key("component:*")).and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        })?;
        let mut components = 0;
        for key in component_keys {
            components += self.with(|c| c.strlen::<_, u64>(&key))?;
        }
        Ok(StateUsage {
            ingestion_records: ingestions.0,
            shard_records: shards.0,
            plugin_records: plugins.0,
            bytes: ingestions.1 + plugins.1 + shards.1 + components,
        })
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
