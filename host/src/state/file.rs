//! The `file` state store: one JSON file per ingestion.
//!
//! Each file is a header line with the body's length and CRC-32, then the
//! JSON body. Writes go to a temporary file that is fsync'd, renamed over the
//! old one, and the directory fsync'd, so a crash leaves either the old or
//! the new record, never a mix. A truncated or altered file fails its
//! checksum and is reported with its path instead of being ignored.

use super::{IngestionRecord, StateError, StateStore};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "sluice-state v1";

pub struct FileStateStore {
    dir: PathBuf,
}

impl FileStateStore {
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        Ok(FileStateStore { dir: dir.to_path_buf() })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }
}

fn io(path: &Path, source: std::io::Error) -> StateError {
    StateError::Io { path: path.display().to_string(), source }
}

/// Serializes a record with its checksum header.
pub fn encode(record: &IngestionRecord) -> Vec<u8> {
    let body = serde_json::to_vec_pretty(record).expect("record serializes");
    let mut out = format!("{MAGIC} length={} crc32={:08x}\n", body.len(), crc32fast::hash(&body)).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Parses and verifies a state file's bytes.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<IngestionRecord, StateError> {
    let corrupt = |reason: String| StateError::Corrupt { path: path.display().to_string(), reason };
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| corrupt("no header line".into()))?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| corrupt("header is not text".into()))?;
    let body = &bytes[newline + 1..];
    let mut parts = header.strip_prefix(MAGIC).ok_or_else(|| corrupt(format!("header {header:?} is not {MAGIC:?}")))?.split_whitespace();
    let field = |part: Option<&str>, name: &str| -> Result<String, StateError> {
        part.and_then(|p| p.strip_prefix(name)).map(str::to_string).ok_or_else(|| corrupt(format!("header lacks {name}")))
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
        match fs::read(&path) {
            Ok(bytes) => decode(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn load_all(&self) -> Result<Vec<Result<IngestionRecord, StateError>>, StateError> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .map_err(|e| io(&self.dir, e))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
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
        let path = self.path(&record.name);
        let tmp = self.dir.join(format!(".{}.json.tmp", record.name));
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(&encode(record)).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io(&self.dir, e))
    }

    fn delete(&self, name: &str) -> Result<(), StateError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io(&self.dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ErrorStrategy;

    fn record(name: &str) -> IngestionRecord {
        IngestionRecord {
            name: name.into(),
            spec: serde_json::json!({"name": name}),
            paused_shards: [1].into(),
            error_strategy: Some(ErrorStrategy::Block),
            last_errors: vec![],
            updated_at_ms: 1,
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
}
