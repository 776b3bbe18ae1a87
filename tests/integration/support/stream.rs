//! File streams on disk in OpenSearch's ingestion-fs layout, specs over
//! them, and message generators.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// A file stream in OpenSearch's ingestion-fs layout, in a temp dir.
pub struct Stream {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Stream {
    pub fn new(shards: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let s = Stream { dir, name: "events".into() };
        std::fs::create_dir_all(s.dir.path().join(&s.name)).unwrap();
        for shard in 0..shards {
            std::fs::File::create(s.path(shard)).unwrap();
        }
        s
    }

    pub fn path(&self, shard: u32) -> PathBuf {
        self.dir.path().join(&self.name).join(format!("{shard}.ndjson"))
    }

    pub fn append<S: AsRef<str>>(&self, shard: u32, lines: &[S]) {
        let mut f = std::fs::OpenOptions::new().append(true).open(self.path(shard)).unwrap();
        for l in lines {
            writeln!(f, "{}", l.as_ref()).unwrap();
        }
        f.sync_all().unwrap();
    }

    pub fn lines(&self, shard: u32) -> Vec<String> {
        std::fs::read_to_string(self.path(shard)).unwrap().lines().map(str::to_string).collect()
    }

    /// A spec reading this stream; `source` entries are merged into `ingestion_source`.
    pub fn spec(&self, name: &str, shards: u32, source: Value) -> Value {
        let mut ingestion_source = json!({
            "type": "file",
            "pointer.init.reset": "earliest",
            "poll.timeout": 50,
            "param": {"stream": self.name, "base_directory": self.dir.path()}
        });
        for (k, v) in source.as_object().unwrap() {
            ingestion_source[k] = v.clone();
        }
        json!({"name": name, "settings": {"index.number_of_shards": shards, "ingestion_source": ingestion_source}})
    }
}

/// A message in OpenSearch's format.
pub fn msg(id: Option<&str>, version: Option<u64>, op: &str, source: Value) -> String {
    let mut m = json!({"_op_type": op, "_source": source});
    if let Some(id) = id {
        m["_id"] = json!(id);
    }
    if let Some(v) = version {
        m["_version"] = json!(v);
    }
    m.to_string()
}

/// A mixed stream per shard: indexes, version updates (newer and stale),
/// deletes, auto-ids, creates and invalid lines. Deterministic for a seed.
pub fn generated_stream(shards: u32, messages: usize, seed: u64) -> Vec<Vec<String>> {
    let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move |n: u64| {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut out = vec![Vec::new(); shards as usize];
    let mut versions: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); shards as usize];
    for i in 0..messages {
        let shard = next(shards as u64) as usize;
        let known = &mut versions[shard];
        let roll = next(100);
        let line = if roll < 5 {
            ["{broken", r#"{"_op_type": "delete"}"#, r#"{"_id": 7, "_source": {}}"#, r#"{"_id": "x", "_source": []}"#]
                [next(4) as usize]
                .to_string()
        } else if roll < 10 {
            msg(None, None, "index", json!({"i": i}))
        } else if roll < 50 || known.is_empty() {
            let id = format!("doc-{shard}-{}", known.len());
            known.insert(id.clone(), 1);
            msg(Some(&id), Some(1), if roll % 2 == 0 { "index" } else { "create" }, json!({"i": i}))
        } else {
            let id = known.keys().nth(next(known.len() as u64) as usize).unwrap().clone();
            let v = known.get_mut(&id).unwrap();
            if roll < 75 {
                *v += 1;
                msg(Some(&id), Some(*v), "index", json!({"i": i, "v": *v}))
            } else if roll < 85 {
                msg(Some(&id), Some(v.saturating_sub(1)), "index", json!({"stale": i}))
            } else {
                *v += 1;
                msg(Some(&id), Some(*v), "delete", json!({}))
            }
        };
        out[shard].push(line);
    }
    out
}
