// Durable atomic batch benchmark: redb 3.x vs fjall 3.x
// usage: storebench <redb|redb-qr|fjall> <write|rmw> <dir> [seed]
//        storebench all <dir>     (both stores, both variants, and the ratio fjall/redb)
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

const BATCHES: usize = 200;
const BATCH: usize = 1000;
const KEYSPACE: u64 = 200_000;
const VAL: usize = 300;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
}

const ALPHA: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,";

/// Pre-generated workload: per batch, 1000 distinct keys + payloads (292 bytes).
fn workload(seed: u64) -> Vec<Vec<(String, Vec<u8>)>> {
    let mut rng = Rng(seed | 1);
    (0..BATCHES)
        .map(|_| {
            let mut seen = HashSet::new();
            let mut out = Vec::with_capacity(BATCH);
            while out.len() < BATCH {
                let n = rng.next() % KEYSPACE;
                if !seen.insert(n) {
                    continue; // a batch upserts distinct docs
                }
                let mut payload = Vec::with_capacity(VAL - 8);
                while payload.len() < VAL - 8 {
                    let r = rng.next();
                    for i in 0..8 {
                        if payload.len() < VAL - 8 {
                            payload.push(ALPHA[((r >> (i * 6)) & 63) as usize]);
                        }
                    }
                }
                out.push((format!("doc-{n}"), payload));
            }
            out
        })
        .collect()
}

/// value = version (u64 LE) ++ payload  => 300 bytes
fn make_value(version: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(VAL);
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

fn old_version(old: Option<&[u8]>) -> u64 {
    old.map(|b| u64::from_le_bytes(b[..8].try_into().unwrap())).unwrap_or(0)
}

fn dir_size(p: &Path) -> (u64, u64, usize) {
    use std::os::unix::fs::MetadataExt;
    let (mut apparent, mut alloc, mut files) = (0, 0, 0);
    let md = std::fs::metadata(p).unwrap();
    if md.is_file() {
        return (md.len(), md.blocks() * 512, 1);
    }
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let (a, b, c) = dir_size(&e.path());
        apparent += a;
        alloc += b;
        files += c;
    }
    (apparent, alloc, files)
}

struct Res {
    batch: Vec<Duration>,
    commit: Vec<Duration>,
    total: Duration,
    docs: u64,
}

// ---------------- redb ----------------
mod rb {
    use super::*;
    use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
    const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs");
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

    pub fn run(path: &Path, rmw: bool, quick_repair: bool, wl: &[Vec<(String, Vec<u8>)>]) -> Res {
        let db = Database::create(path).unwrap();
        let mut r = Res { batch: vec![], commit: vec![], total: Duration::ZERO, docs: 0 };
        let mut doc_count = 0u64;
        let t0 = Instant::now();
        for (seq, batch) in wl.iter().enumerate() {
            let tb = Instant::now();
            let mut txn = db.begin_write().unwrap();
            // Durability::Immediate is the default; set explicitly for clarity.
            txn.set_durability(redb::Durability::Immediate).unwrap();
            if quick_repair {
                txn.set_quick_repair(true);
            }
            {
                let mut docs = txn.open_table(DOCS).unwrap();
                for (k, payload) in batch {
                    let ver = if rmw {
                        let old = docs.get(k.as_str()).unwrap();
                        let ov = old_version(old.as_ref().map(|g| g.value()));
                        if ov == 0 {
                            doc_count += 1;
                        }
                        ov + 1
                    } else {
                        1
                    };
                    let v = make_value(ver, payload);
                    let prev = docs.insert(k.as_str(), v.as_slice()).unwrap();
                    if !rmw && prev.is_none() {
                        doc_count += 1;
                    }
                }
                let mut meta = txn.open_table(META).unwrap();
                meta.insert("last_seq", seq as u64 + 1).unwrap();
                meta.insert("doc_count", doc_count).unwrap();
            }
            let tc = Instant::now();
            txn.commit().unwrap(); // fsync before return (Durability::Immediate)
            let end = Instant::now();
            r.commit.push(end - tc);
            r.batch.push(end - tb);
            r.docs += batch.len() as u64;
        }
        r.total = t0.elapsed();
        drop(db);
        // verify after reopen
        let db = Database::create(path).unwrap();
        let rt = db.begin_read().unwrap();
        let meta = rt.open_table(META).unwrap();
        assert_eq!(meta.get("last_seq").unwrap().unwrap().value(), wl.len() as u64);
        let dc = meta.get("doc_count").unwrap().unwrap().value();
        let n = rt.open_table(DOCS).unwrap().len().unwrap();
        assert_eq!(dc, n);
        eprintln!("redb verify ok: {n} docs");
        r
    }
}

// ---------------- fjall ----------------
mod fj {
    use super::*;
    use fjall::{Database, KeyspaceCreateOptions, PersistMode};

    pub fn run(path: &Path, rmw: bool, wl: &[Vec<(String, Vec<u8>)>]) -> Res {
        let db = Database::builder(path).open().unwrap();
        let docs = db.keyspace("docs", KeyspaceCreateOptions::default).unwrap();
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default).unwrap();
        let mut r = Res { batch: vec![], commit: vec![], total: Duration::ZERO, docs: 0 };
        let mut doc_count = 0u64;
        let t0 = Instant::now();
        for (seq, batch) in wl.iter().enumerate() {
            let tb = Instant::now();
            // journal is fsync'ed (SyncAll) inside commit(), before the batch becomes visible
            let mut wb = db.batch().durability(Some(PersistMode::SyncAll));
            for (k, payload) in batch {
                let ver = if rmw {
                    let old = docs.get(k.as_bytes()).unwrap();
                    let ov = old_version(old.as_deref());
                    if ov == 0 {
                        doc_count += 1;
                    }
                    ov + 1
                } else {
                    // blind upsert: no read, doc_count can't be maintained exactly
                    1
                };
                let v = make_value(ver, payload);
                wb.insert(&docs, k.as_bytes(), v);
            }
            wb.insert(&meta, "last_seq", (seq as u64 + 1).to_le_bytes());
            wb.insert(&meta, "doc_count", doc_count.to_le_bytes());
            let tc = Instant::now();
            wb.commit().unwrap();
            let end = Instant::now();
            r.commit.push(end - tc);
            r.batch.push(end - tb);
            r.docs += batch.len() as u64;
        }
        r.total = t0.elapsed();
        drop((docs, meta, db));
        // verify after reopen
        let db = Database::builder(path).open().unwrap();
        let docs = db.keyspace("docs", KeyspaceCreateOptions::default).unwrap();
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default).unwrap();
        let ls = meta.get("last_seq").unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(ls[..8].try_into().unwrap()), wl.len() as u64);
        let n = docs.len().unwrap() as u64;
        if rmw {
            let dc = meta.get("doc_count").unwrap().unwrap();
            assert_eq!(u64::from_le_bytes(dc[..8].try_into().unwrap()), n);
        }
        eprintln!("fjall verify ok: {n} docs");
        r
    }
}

fn pct(v: &[Duration], p: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let idx = ((s.len() as f64 - 1.0) * p).round() as usize;
    s[idx]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("all") {
        let dir = Path::new(a.get(2).map(String::as_str).unwrap_or("storebench-data"));
        let wl = workload(42);
        for rmw in [false, true] {
            let mut rates = Vec::new();
            for store in ["redb", "fjall"] {
                let d = dir.join(store);
                let _ = std::fs::remove_dir_all(&d);
                std::fs::create_dir_all(&d).unwrap();
                let r = if store == "redb" { rb::run(&d.join("shard.redb"), rmw, false, &wl) } else { fj::run(&d.join("shard.fjall"), rmw, &wl) };
                let rate = r.docs as f64 / r.total.as_secs_f64();
                println!("{store:6} {:5} batch_med={:6.2}ms docs/s={rate:8.0}", if rmw { "rmw" } else { "write" }, pct(&r.batch, 0.5));
                rates.push(rate);
            }
            println!("fjall/redb ({}): {:.2}x", if rmw { "rmw" } else { "write" }, rates[1] / rates[0]);
        }
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    let (store, variant, dir) = (a[1].as_str(), a[2].as_str(), Path::new(&a[3]));
    let seed: u64 = a.get(4).map(|s| s.parse().unwrap()).unwrap_or(42);
    let rmw = variant == "rmw";
    let wl = workload(seed);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let r = match store {
        "redb" => rb::run(&dir.join("shard.redb"), rmw, false, &wl),
        "redb-qr" => rb::run(&dir.join("shard.redb"), rmw, true, &wl),
        "fjall" => fj::run(&dir.join("shard.fjall"), rmw, &wl),
        _ => panic!("store"),
    };
    let (app, alloc, files) = dir_size(dir);
    println!(
        "{store:8} {variant:5} batch_med={:7.2}ms batch_p99={:7.2}ms commit_med={:7.2}ms commit_p99={:7.2}ms docs/s={:8.0} total={:6.2}s disk_apparent={:6.1}MB disk_alloc={:6.1}MB files={files}",
        pct(&r.batch, 0.5),
        pct(&r.batch, 0.99),
        pct(&r.commit, 0.5),
        pct(&r.commit, 0.99),
        r.docs as f64 / r.total.as_secs_f64(),
        r.total.as_secs_f64(),
        app as f64 / 1e6,
        alloc as f64 / 1e6,
    );
}
