//! Shared helpers: streams on disk, specs, an in-process engine, and a
//! reference model that applies every message exactly once.

#![allow(dead_code)]

use serde_json::{json, Value};
use sluice::engine::{IdleOutcome, Ingestion, RuntimeOverrides};
use sluice::plugin::{builtin, CompiledPlugin, Limits, PluginEngine};
use sluice::sink::versioning::{decide, Decision};
use sluice::sink::{OpType, ShardCounters, StoredDoc};
use sluice::spec::IngestionSpec;
use sluice_plugin_sdk::{Decoded, Message, Plugin};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

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

/// The built-in opensearch plugin, compiled once per test process.
pub fn plugin() -> CompiledPlugin {
    static PLUGIN: OnceLock<CompiledPlugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            PluginEngine::new()
                .unwrap()
                .compile("opensearch", builtin::SLUICE_OPENSEARCH, Limits::default())
                .unwrap()
        })
        .clone()
}

/// A test guest built by host/build.rs (`echo`: indexes message metadata).
pub fn test_plugin(stem: &str) -> CompiledPlugin {
    let path = Path::new(env!("SLUICE_TEST_GUESTS_DIR")).join(format!("{stem}.wasm"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PluginEngine::new().unwrap().compile(stem, &bytes, Limits::default()).unwrap()
}

/// Starts an ingestion with the given plugin instead of the built-in one.
pub fn start_with_plugin(spec: &Value, data_dir: &Path, plugin: CompiledPlugin) -> Ingestion {
    let spec = IngestionSpec::from_value(spec).unwrap();
    sluice::wiring::start_ingestion(spec, plugin, data_dir, RuntimeOverrides::default()).unwrap()
}

pub fn start(spec: &Value, data_dir: &Path) -> Ingestion {
    start_with(spec, data_dir, RuntimeOverrides::default())
}

pub fn start_with(spec: &Value, data_dir: &Path, overrides: RuntimeOverrides) -> Ingestion {
    let spec = IngestionSpec::from_value(spec).unwrap();
    sluice::wiring::start_ingestion(spec, plugin(), data_dir, overrides).unwrap()
}

pub fn wait_idle(ing: &Ingestion) {
    match ing.wait_until_idle(Duration::from_secs(60)) {
        IdleOutcome::Idle => {}
        other => panic!("expected every shard idle, got {other:?}: {:#?}", ing.status()),
    }
}

/// Live documents of every shard: (shard, id) -> (version, source).
pub fn docs(ing: &Ingestion) -> BTreeMap<(u32, String), (Option<u64>, Value)> {
    let mut out = BTreeMap::new();
    for (shard, sink) in ing.sinks().iter().enumerate() {
        let mut after: Option<String> = None;
        loop {
            let page = sink.scan(after.as_deref(), 1000).unwrap();
            if page.is_empty() {
                break;
            }
            for (id, doc) in page {
                out.insert((shard as u32, id.clone()), (doc.version, serde_json::from_slice(&doc.source).unwrap()));
                after = Some(id);
            }
        }
    }
    out
}

pub fn counters(ing: &Ingestion, shard: u32) -> ShardCounters {
    ing.sinks()[shard as usize].meta().unwrap().counters
}

/// The reference model: decodes with the same plugin logic compiled
/// natively, applies each message exactly once with the versioning rules.
pub struct Model {
    pub docs: BTreeMap<(u32, String), StoredDoc>,
    pub counters: BTreeMap<u32, ShardCounters>,
    plugin: sluice_opensearch::OpenSearch,
}

impl Model {
    pub fn new(config: &str) -> Self {
        Model { docs: BTreeMap::new(), counters: BTreeMap::new(), plugin: sluice_opensearch::OpenSearch::configure(config).unwrap() }
    }

    /// Applies `lines` as shard `shard`'s messages, starting at line `first`.
    pub fn apply(&mut self, shard: u32, first: u64, lines: &[String]) {
        let messages: Vec<(String, &String)> =
            lines.iter().enumerate().map(|(i, line)| ((first + i as u64).to_string(), line)).collect();
        self.apply_at(shard, &messages);
    }

    /// Applies `(pointer, line)` messages of shard `shard`: for sources whose
    /// pointers are not line numbers (Kinesis sequence numbers).
    pub fn apply_at<L: AsRef<str>>(&mut self, shard: u32, messages: &[(String, L)]) {
        for (pointer, line) in messages {
            let line = line.as_ref();
            let message = Message { shard, pointer: pointer.clone(), payload: Some(line.as_bytes().to_vec()), ..Default::default() };
            let c = self.counters.entry(shard).or_default();
            c.total_processed_count += 1;
            match self.plugin.decode(&message) {
                Decoded::Invalid(_) => {
                    c.total_invalid_message_count += 1;
                    c.total_failed_count += 1;
                    c.total_failures_dropped_count += 1;
                }
                Decoded::Skipped(_) => c.total_skipped_count += 1,
                Decoded::Ops(ops) => {
                    for (n, op) in ops.into_iter().enumerate() {
                        let id = op.id.unwrap_or_else(|| if n == 0 { format!("{shard}-{pointer}") } else { format!("{shard}-{pointer}-{n}") });
                        let op_type = match op.op_type {
                            sluice_plugin_sdk::OpType::Index => OpType::Index,
                            sluice_plugin_sdk::OpType::Create => OpType::Create,
                            sluice_plugin_sdk::OpType::Delete => OpType::Delete,
                        };
                        let key = (shard, id);
                        let c = self.counters.get_mut(&shard).unwrap();
                        match decide(self.docs.get(&key), op_type, op.version) {
                            Decision::Conflict => c.total_version_conflicts_count += 1,
                            Decision::Put { version } => {
                                c.total_ops_applied_count += 1;
                                let source = op.source.unwrap_or_default().into_bytes();
                                self.docs.insert(key, StoredDoc { version, deleted: false, source });
                            }
                            Decision::Tombstone { version } => {
                                c.total_ops_applied_count += 1;
                                self.docs.insert(key, StoredDoc { version, deleted: true, source: vec![] });
                            }
                            Decision::Remove => {
                                c.total_ops_applied_count += 1;
                                self.docs.remove(&key);
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn live(&self) -> BTreeMap<(u32, String), (Option<u64>, Value)> {
        self.docs
            .iter()
            .filter(|(_, d)| !d.deleted)
            .map(|(k, d)| (k.clone(), (d.version, serde_json::from_slice(&d.source).unwrap())))
            .collect()
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
            ["{broken", r#"{"_op_type": "delete"}"#, r#"{"_id": 7, "_source": {}}"#, r#"{"_id": "x", "_source": []}"#][next(4) as usize].to_string()
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

/// SIGKILLs a `sluice` child process (its command made by `command`)
/// repeatedly while it ingests, and returns how many kills landed
/// mid-ingestion (after some progress, before the end) and in how many runs.
///
/// Start-up time varies a lot on a loaded machine, so the clock for each kill
/// starts when the child logs that a shard session started (the child runs
/// with `RUST_LOG=sluice=debug`); the kill then comes after 10-40% of the
/// remaining work at the rate measured in earlier runs. `committed` reads the
/// committed message count while no child runs.
pub fn sigkill_repeatedly(
    total: u64,
    wanted: u32,
    mut committed: impl FnMut() -> u64,
    mut command: impl FnMut() -> std::process::Command,
) -> (u32, u32) {
    use std::io::BufRead;
    use std::process::Stdio;
    // messages/s, refined after each run; a high first guess kills early.
    let mut rate: f64 = 200_000.0;
    let mut rng = 0x5eed_u64;
    let (mut kills, mut runs) = (0, 0);
    while kills < wanted {
        runs += 1;
        assert!(runs <= 60, "could not land {wanted} kills mid-ingestion in 60 runs ({kills} did)");
        let before = committed();
        assert!(before < total, "the ingestion finished after {kills} kills mid-ingestion; {wanted} were wanted");
        let mut child = command()
            .env("RUST_LOG", "sluice=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        // The child's log, for the failure messages.
        let log = std::thread::spawn(move || {
            let (mut sent, mut log) = (false, String::new());
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("session starts") {
                    let _ = tx.send(());
                    sent = true;
                }
                log.push_str(&line);
                log.push('\n');
            }
            log
        });
        // Start-up: until the first session starts (or the child exits).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while rx.recv_timeout(Duration::from_millis(10)).is_err() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                child.wait().unwrap();
                panic!("the child never started a session:\n{}", log.join().unwrap());
            }
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the child failed ({status}):\n{}", log.join().unwrap());
                break;
            }
        }
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // 5-25% of the remaining work: six kills still leave work for a seventh run.
        let fraction = 0.05 + ((rng >> 33) % 200) as f64 / 1000.0;
        let remaining = (total - before) as f64;
        let delay = Duration::from_secs_f64((remaining * fraction / rate).clamp(0.01, 5.0));
        let started = std::time::Instant::now();
        while started.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let ran = started.elapsed();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(log.join());
        let after = committed();
        assert!(after >= before, "committed progress never goes backwards ({before} -> {after})");
        let progress = after - before;
        if progress == 0 {
            rate /= 2.0; // killed before the first commit: wait longer next time
        } else {
            rate = (progress as f64 / ran.as_secs_f64().max(0.001)).max(100.0);
            if after < total {
                kills += 1;
            }
        }
    }
    (kills, runs)
}

/// A spec file, a data directory and the `sluice run --until-idle` command
/// over them: what the crash tests kill and restart.
pub struct RunRig {
    _dir: tempfile::TempDir,
    pub spec_path: PathBuf,
    pub spec: IngestionSpec,
    pub data: PathBuf,
}

impl RunRig {
    pub fn new(spec_json: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = IngestionSpec::from_value(spec_json).unwrap();
        let spec_path = dir.path().join(format!("{}.json", spec.name));
        std::fs::write(&spec_path, spec_json.to_string()).unwrap();
        let data = dir.path().join("data");
        RunRig { _dir: dir, spec_path, spec, data }
    }

    /// `sluice run <spec> --until-idle --data-dir <data>` from the repository root.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap());
        cmd.arg("run").arg(&self.spec_path).args(["--until-idle", "--data-dir"]).arg(&self.data);
        cmd
    }

    /// Messages committed so far over every shard (0 before the sinks exist).
    pub fn committed(&self) -> u64 {
        match sluice::wiring::open_sinks(&self.data, &self.spec) {
            Ok(sinks) => sinks.iter().map(|s| s.meta().unwrap().counters.total_processed_count).sum(),
            Err(_) => 0,
        }
    }

    /// Runs to the end once more (it must succeed), then checks the sinks
    /// against `model`.
    pub fn finish_and_check(&self, model: &Model) {
        let out = self.command().output().unwrap();
        assert!(out.status.success(), "final run failed: {}", String::from_utf8_lossy(&out.stderr));
        let sinks = sluice::wiring::open_sinks(&self.data, &self.spec).unwrap();
        assert_sinks_match(&sinks, model);
    }
}

/// Every shard's counters, live count, documents and versions equal the model's.
pub fn assert_sinks_match(sinks: &[std::sync::Arc<dyn sluice::sink::ShardSink>], model: &Model) {
    let mut got = BTreeMap::new();
    for (shard, sink) in sinks.iter().enumerate() {
        let meta = sink.meta().unwrap();
        assert_eq!(meta.counters, model.counters[&(shard as u32)], "shard {shard} counters");
        for (id, doc) in sink.scan(None, usize::MAX).unwrap() {
            got.insert((shard as u32, id), (doc.version, serde_json::from_slice::<Value>(&doc.source).unwrap()));
        }
        assert_eq!(meta.live_docs as usize, got.keys().filter(|(s, _)| *s == shard as u32).count(), "shard {shard} live");
    }
    assert_eq!(got, model.live(), "documents and versions equal the reference model");
}
