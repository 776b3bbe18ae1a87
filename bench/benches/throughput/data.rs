//! The benchmark's messages: OpenSearch's format, about 300 bytes each,
//! deterministic for a seed.
//!
//! The mix: 80% `index` of a new document (`_version` 1), 10% updates (an
//! `index` of an existing document with its next version), 5% versioned
//! deletes of an existing document, 5% invalid messages (truncated JSON, a
//! `_source` that is not an object, an `_id` that is not a scalar, a value
//! that breaks the mappings). A message goes to the partition of its document
//! (`doc number % partitions`), so every partition count sees the same
//! messages and each document's history stays in order in one partition.

use std::io::Write;
use std::path::Path;

/// The index mappings of the benchmark's spec (`dynamic: strict`): the
/// plugin validates every document against them.
pub fn mappings() -> serde_json::Value {
    serde_json::json!({
        "dynamic": "strict",
        "properties": {
            "name": {"type": "text"},
            "email": {"type": "keyword"},
            "city": {"type": "keyword"},
            "age": {"type": "integer"},
            "active": {"type": "boolean"},
            "score": {"type": "double"},
            "tags": {"type": "keyword"},
            "created": {"type": "date"},
            "note": {"type": "text"}
        }
    })
}

const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
];

pub struct Generator {
    rng: u64,
    /// Version of each document so far (index = document number); 0 = deleted.
    versions: Vec<u32>,
    deleted: Vec<bool>,
    pub live: u64,
    pub invalid: u64,
    pub deletes: u64,
    pub updates: u64,
    pub bytes: u64,
    pub messages: u64,
}

/// One generated message: its line and the number that picks its partition.
pub struct Line {
    pub text: String,
    pub key: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407),
            versions: Vec::new(),
            deleted: Vec::new(),
            live: 0,
            invalid: 0,
            deletes: 0,
            updates: 0,
            bytes: 0,
            messages: 0,
        }
    }

    fn next(&mut self, n: u64) -> u64 {
        self.rng = self.rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.rng >> 33) % n
    }

    fn source(&mut self, doc: u64, version: u32) -> String {
        let age = 18 + self.next(70);
        let city = self.next(500);
        let score = self.next(100_000) as f64 / 100.0;
        let (t1, t2) = (self.next(40), self.next(40));
        let (d, h, m) = (1 + self.next(28), self.next(24), self.next(60));
        let mut note = String::with_capacity(80);
        while note.len() < 70 {
            if !note.is_empty() {
                note.push(' ');
            }
            note.push_str(WORDS[self.next(WORDS.len() as u64) as usize]);
        }
        format!(
            r#"{{"name":"user {doc} v{version}","email":"user{doc}@example.com","city":"city-{city}","age":{age},"active":{},"score":{score},"tags":["t{t1}","u{t2}"],"created":"2024-03-{d:02}T{h:02}:{m:02}:00Z","note":"{note}"}}"#,
            !doc.is_multiple_of(3)
        )
    }

    fn index(&mut self, doc: u64, version: u32) -> String {
        let source = self.source(doc, version);
        format!(r#"{{"_id":"doc-{doc:010}","_version":{version},"_op_type":"index","_source":{source}}}"#)
    }

    /// The next message.
    pub fn line(&mut self) -> Line {
        let roll = self.next(100);
        let (text, key) = if roll < 80 || self.versions.is_empty() {
            let doc = self.versions.len() as u64;
            self.versions.push(1);
            self.deleted.push(false);
            self.live += 1;
            (self.index(doc, 1), doc)
        } else if roll < 90 {
            let doc = self.next(self.versions.len() as u64);
            self.versions[doc as usize] += 1;
            let v = self.versions[doc as usize];
            if self.deleted[doc as usize] {
                self.deleted[doc as usize] = false;
                self.live += 1;
            }
            self.updates += 1;
            (self.index(doc, v), doc)
        } else if roll < 95 {
            let doc = self.next(self.versions.len() as u64);
            self.versions[doc as usize] += 1;
            let v = self.versions[doc as usize];
            if !self.deleted[doc as usize] {
                self.deleted[doc as usize] = true;
                self.live -= 1;
            }
            self.deletes += 1;
            (format!(r#"{{"_id":"doc-{doc:010}","_version":{v},"_op_type":"delete"}}"#), doc)
        } else {
            self.invalid += 1;
            let doc = self.next(self.versions.len() as u64);
            let valid = self.index(doc, 999_999);
            let text = match self.next(4) {
                // Truncated JSON: parsed to the end before it fails.
                0 => valid[..valid.len() * 2 / 3].to_string(),
                1 => valid.replacen(r#""_source":{"#, r#""_source":[{"#, 1).replacen("}}", "}]}", 1),
                2 => valid.replacen(&format!(r#""_id":"doc-{doc:010}""#), &format!(r#""_id":{{"n":{doc}}}"#), 1),
                // The mappings say integer.
                _ => valid
                    .replace(r#""active":true"#, r#""active":"maybe""#)
                    .replace(r#""active":false"#, r#""active":"maybe""#),
            };
            (text, doc)
        };
        self.messages += 1;
        self.bytes += text.len() as u64;
        Line { text, key }
    }
}

/// Writes `count` messages as a file stream `<base>/events/<N>.ndjson` with
/// `partitions` partitions, without holding them in memory. Returns the
/// generator (its counts say what the stream holds).
pub fn write_stream(base: &Path, partitions: u32, count: u64, seed: u64) -> std::io::Result<Generator> {
    let dir = base.join("events");
    std::fs::create_dir_all(&dir)?;
    let mut files = (0..partitions)
        .map(|p| {
            Ok(std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(format!("{p}.ndjson")))?))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut g = Generator::new(seed);
    for _ in 0..count {
        let line = g.line();
        let f = &mut files[(line.key % partitions as u64) as usize];
        f.write_all(line.text.as_bytes())?;
        f.write_all(b"\n")?;
    }
    for f in files {
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    Ok(g)
}

/// Writes already generated lines as a stream with `partitions` partitions.
pub fn write_lines(base: &Path, partitions: u32, lines: &[Line]) -> std::io::Result<()> {
    let dir = base.join("events");
    std::fs::create_dir_all(&dir)?;
    let mut files = (0..partitions)
        .map(|p| {
            Ok(std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(format!("{p}.ndjson")))?))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for line in lines {
        let f = &mut files[(line.key % partitions as u64) as usize];
        f.write_all(line.text.as_bytes())?;
        f.write_all(b"\n")?;
    }
    for f in files {
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    Ok(())
}
