//! The `file` state store: one JSON file per ingestion.
//!
//! Each file is a header line with the body's length and CRC-32, then the
//! JSON body. Writes go to a temporary file that is fsync'd, renamed over the
//! old one, and the directory fsync'd, so a crash leaves either the old or
//! the new record, never a mix. A truncated or altered file fails its
//! checksum and is reported with its path instead of being ignored.
//!
//! Layout: `<dir>/<ingestion>.json`, `<dir>/shards/<ingestion>/<shard>.json`
//! (shard state records), `<dir>/plugins/<name>@<version>.json`,
//! `<dir>/components/<sha256>.wasm`.

use super::{IngestionRecord, PluginRecord, ShardStateRecord, StateError, StateStore, StateUsage, sha256_hex};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "sluice-state v1";

pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        for d in [dir.to_path_buf(), dir.join("plugins"), dir.join("components"), dir.join("shards")] {
            fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
        }
        Ok(FileStateStore { dir: dir.to_path_buf() })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn plugin_path(&self, name: &str, version: &str) -> PathBuf {
        self.dir.join("plugins").join(format!("{name}@{version}.json"))
    }

    fn shards_dir(&self, ingestion: &str) -> PathBuf {
        self.dir.join("shards").join(ingestion)
    }

    fn component_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("components").join(format!("{sha256}.wasm"))
    }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, dir fsync.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().expect("state paths have a parent");
    let tmp = dir.join(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    // Owner-only: records hold source credentials (e.g. Kinesis keys).
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)
    }
    .map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

fn remove_optional(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => File::open(path.parent().unwrap()).and_then(|d| d.sync_all()).map_err(|e| io(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

fn io(path: &Path, source: std::io::Error) -> StateError {
    StateError::Io { path: path.display().to_string(), source }
}

/// Serializes a record with its checksum header.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    let body = serde_json::to_vec_pretty(record).expect("record serializes");
    let mut out = format!("{MAGIC} length={} crc32={:08x}\n", body.len(), crc32fast::hash(&body)).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Parses and verifies a state file's bytes.
pub fn decode<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, StateError> {
    let corrupt = |reason: String| StateError::Corrupt { path: path.display().to_string(), reason };
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| corrupt("no header line".into()))?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| corrupt("header is not text".into()))?;
    let body = &bytes[newline + 1..];
    let mut parts = header
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt(format!("header {header:?} is not {MAGIC:?}")))?
        .split_whitespace();
    let field = |part: Option<&str>, name: &str| -> Result<String, StateError> {
        part.and_then(|p| p.strip_prefix(name))
            .map(str::to_string)
            .ok_or_else(|| corrupt(format!("header lacks {name}")))
    };
    let length: usize = field(parts.next(), "length=")?.parse().map_err(|_| corrupt("bad length".into()))?;
    let crc = u32::from_str_radix(&field(parts.next(), "crc32=")?, 16).map_err(|_| corrupt("bad crc32".into()))?;
    if body.len() != length {
        return Err(corrupt(format!("body is {} bytes, header says {length} (truncated?)", body.len())));
    }
    let actual = crc32fast::hash(body);
    if actual != crc {
        return Err(corrupt(format!("checksum mismatch: header {crc:08x}, body {actual:08x}")));
    }
    serde_json::from_slice(body).map_err(|e| corrupt(format!("body is not a valid record: {e}")))
}

impl StateStore for FileStateStore {
    fn load(&self, name: &str) -> Result<Option<IngestionRecord>, StateError> {
        let path = self.path(name);
        read_optional(&path)?.map(|b| decode(&path, &b)).transpose()
    }

    fn load_all(&self) -> Result<Vec<Result<IngestionRecord, StateError>>, StateError> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .map_err(|e| io(&self.dir, e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names
            .iter()
            .filter_map(|n| match self.load(n) {
                Ok(Some(r)) => Some(Ok(r)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            })
            .collect())
    }

    fn save(&self, record: &IngestionRecord) -> Result<(), StateError> {
        write_atomically(&self.path(&record.name), &encode(record))
    }

    fn delete(&self, name: &str) -> Result<(), StateError> {
        remove_optional(&self.path(name))
    }

    fn save_shard_states(&self, ingestion: &str, records: &[ShardStateRecord]) -> Result<(), StateError> {
        let dir = self.shards_dir(ingestion);
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        for r in records {
            write_atomically(&dir.join(format!("{}.json", r.metadata.shard)), &encode(r))?;
        }
        Ok(())
    }

    fn load_shard_states(&self, ingestion: &str) -> Result<Vec<ShardStateRecord>, StateError> {
        let dir = self.shards_dir(ingestion);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Some(shard) = name.to_str().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
            let value: serde_json::Value = decode(&path, &bytes)?;
            let record = ShardStateRecord::from_json(&path.display().to_string(), value)?;
            out.push((shard, record));
        }
        out.sort_by_key(|(shard, _)| *shard);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    fn delete_shard_states(&self, ingestion: &str) -> Result<(), StateError> {
        let dir = self.shards_dir(ingestion);
        match fs::remove_dir_all(&dir) {
            Ok(()) => File::open(self.dir.join("shards")).and_then(|d| d.sync_all()).map_err(|e| io(&dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir, e)),
        }
    }

    fn usage(&self) -> Result<StateUsage, StateError> {
        // (count, bytes) of the `.json` files (or any files) directly in `dir`.
        let files = |dir: &Path, json_only: bool| -> Result<(u64, u64), StateError> {
            let mut acc = (0, 0);
            let entries = match fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(acc),
                Err(e) => return Err(io(dir, e)),
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata().map_err(|e| io(&entry.path(), e))?;
                if meta.is_file() && !name.starts_with('.') && (!json_only || name.ends_with(".json")) {
                    acc = (acc.0 + 1, acc.1 + meta.len());
                }
            }
            Ok(acc)
        };
        let ingestions = files(&self.dir, true)?;
        let plugins = files(&self.dir.join("plugins"), true)?;
        let components = files(&self.dir.join("components"), false)?;
        let mut shards = (0, 0);
        let shards_dir = self.dir.join("shards");
        if let Ok(entries) = fs::read_dir(&shards_dir) {
            for entry in entries.flatten() {
                let (n, b) = files(&entry.path(), true)?;
                shards = (shards.0 + n, shards.1 + b);
            }
        }
        Ok(StateUsage {
            ingestion_records: ingestions.0,
            shard_records: shards.0,
            plugin_records: plugins.0,
            bytes: ingestions.1 + shards.1 + plugins.1 + components.1,
        })
    }

    fn save_plugin(&self, record: &PluginRecord, component: &[u8]) -> Result<(), StateError> {
        let blob = self.component_path(&record.sha256);
        if !blob.exists() {
            write_atomically(&blob, component)?;
        }
        write_atomically(&self.plugin_path(&record.name, &record.version), &encode(record))
    }

    fn load_plugins(&self) -> Result<Vec<PluginRecord>, StateError> {
        let dir = self.dir.join("plugins");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
                out.push(decode(&path, &bytes)?);
            }
        }
        out.sort_by(|a: &PluginRecord, b| (&a.name, a.registered_at_ms).cmp(&(&b.name, b.registered_at_ms)));
        Ok(out)
    }

    fn load_component(&self, sha256: &str) -> Result<Vec<u8>, StateError> {
        let path = self.component_path(sha256);
        let bytes = fs::read(&path).map_err(|e| io(&path, e))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(StateError::Corrupt {
                path: path.display().to_string(),
                reason: format!("content hash is {actual}"),
            });
        }
        Ok(bytes)
    }

    fn delete_plugin(&self, name: &str, version: &str) -> Result<(), StateError> {
        let path = self.plugin_path(name, version);
        let record: Option<PluginRecord> = read_optional(&path)?.map(|b| decode(&path, &b)).transpose()?;
        remove_optional(&path)?;
        // The component goes too unless another version shares it.
        if let Some(r) = record
            && !self.load_plugins()?.iter().any(|p| p.sha256 == r.sha256)
        {
            remove_optional(&self.component_path(&r.sha256))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ErrorStrategy;

    fn record(name: &str) -> IngestionRecord {
        IngestionRecord {
            id: String::new(),
            name: name.into(),
            spec: serde_json::json!({"name": name}),
            paused_shards: [1].into(),
            error_strategy: Some(ErrorStrategy::Block),
            last_errors: vec![],
            history: vec![],
            updated_at_ms: 1,
            deleted_at_ms: None,
        }
    }

    #[test]
    fn round_trips_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        assert!(store.load("a").unwrap().is_none());
        store.save(&record("a")).unwrap();
        store.save(&record("b")).unwrap();
        assert_eq!(store.load("a").unwrap().unwrap(), record("a"));
        let all: Vec<_> = store.load_all().unwrap().into_iter().map(|r| r.unwrap().name).collect();
        assert_eq!(all, ["a", "b"]);
        store.delete("a").unwrap();
        assert!(store.load("a").unwrap().is_none());
    }

    #[test]
    fn truncated_or_flipped_files_are_reported_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        store.save(&record("a")).unwrap();
        store.save(&record("b")).unwrap();
        let path = dir.path().join("a.json");
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let err = store.load("a").unwrap_err().to_string();
        assert!(err.contains("a.json") && err.contains("truncated"), "{err}");
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        fs::write(&path, &flipped).unwrap();
        let err = store.load("a").unwrap_err().to_string();
        assert!(err.contains("a.json") && err.contains("checksum"), "{err}");
        // The corrupt record does not hide the healthy one.
        let all = store.load_all().unwrap();
        assert!(all[0].is_err());
        assert_eq!(all[1].as_ref().unwrap().name, "b");
    }

    #[test]
    fn plugins_are_stored_by_content_hash_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        let bytes = b"\0asm component bytes".to_vec();
        let rec = |v: &str, at| PluginRecord {
            name: "p".into(),
            version: v.into(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            registered_at_ms: at,
        };
        store.save_plugin(&rec("1", 1), &bytes).unwrap();
        store.save_plugin(&rec("2", 2), &bytes).unwrap();
        assert_eq!(store.load_plugins().unwrap(), [rec("1", 1), rec("2", 2)]);
        assert_eq!(store.load_component(&rec("1", 1).sha256).unwrap(), bytes);
        store.delete_plugin("p", "1").unwrap();
        assert_eq!(store.load_component(&rec("2", 2).sha256).unwrap(), bytes, "still used by version 2");
        let blob = dir.path().join("components").join(format!("{}.wasm", rec("2", 2).sha256));
        fs::write(&blob, b"tampered").unwrap();
        let err = store.load_component(&rec("2", 2).sha256).unwrap_err().to_string();
        assert!(err.contains("content hash"), "{err}");
        store.delete_plugin("p", "2").unwrap();
        assert!(!blob.exists());
    }

    fn shard_record(ingestion: &str, shard: u32, polls: u64) -> ShardStateRecord {
        let metadata = crate::state::ShardStateMetadata {
            ingestion: ingestion.into(),
            ingestion_id: format!("{ingestion}@1"),
            shard,
            ..Default::default()
        };
        let mut data = crate::state::ShardStateData::default();
        data.poll.poll_count = polls;
        ShardStateRecord::new(metadata, data, 1_700_000_000_000)
    }

    #[test]
    fn shard_state_records_round_trip_are_counted_and_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::open(dir.path()).unwrap();
        assert!(store.load_shard_states("a").unwrap().is_empty());
        store.save(&record("a")).unwrap();
        let records: Vec<_> = (0..3).map(|s| shard_record("a", s, 10 + s as u64)).collect();
        store.save_shard_states("a", &records).unwrap();
        store.save_shard_states("a", &[shard_record("a", 1, 99)]).unwrap();
        let loaded = store.load_shard_states("a").unwrap();
        assert_eq!(loaded.iter().map(|r| r.data.poll.poll_count).collect::<Vec<_>>(), [10, 99, 12]);
        assert!(dir.path().join("shards/a/1.json").exists());
        let usage = store.usage().unwrap();
        assert_eq!((usage.ingestion_records, usage.shard_records, usage.plugin_records), (1, 3, 0));
        let on_disk: u64 = ["a.json", "shards/a/0.json", "shards/a/1.json", "shards/a/2.json"]
            .iter()
            .map(|f| fs::metadata(dir.path().join(f)).unwrap().len())
            .sum();
        assert_eq!(usage.bytes, on_disk);
        // A record a newer sluice wrote is refused, naming the file.
        let mut newer = serde_json::to_value(shard_record("a", 2, 1)).unwrap();
        newer["version"] = 2.into();
        write_atomically(&dir.path().join("shards/a/2.json"), &encode(&newer)).unwrap();
        let e = store.load_shard_states("a").unwrap_err().to_string();
        assert!(e.contains("shards/a/2.json") && e.contains("version 2"), "{e}");
        store.delete_shard_states("a").unwrap();
        assert!(store.load_shard_states("a").unwrap().is_empty());
        assert!(!store.load_all().unwrap().is_empty(), "the ingestion record stays");
    }
}
