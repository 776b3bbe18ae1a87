//! Plugins in Python and JavaScript, built by their real toolchains
//! (componentize-py 0.25.1; componentize-js 0.23 with its default flags, so
//! the component imports `wasi:http`): `tests/plugins/build.sh` builds them
//! (`./scripts/test` runs it), and each ingests 1,000 messages through
//! `sluice run`, the real binary. The documents, counters and dropped
//! messages must equal a reference model's, including messages on which the
//! plugin fails (an uncaught Python exception; a JavaScript `fetch`, which
//! calls an import the sandbox does not grant): those are dropped with their
//! reasons and the rest go through.

use crate::support::Stream;
use serde_json::{Value, json};
use sluice::sink::{ShardCounters, ShardSink};
use sluice::spec::IngestionSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const SHARDS: u32 = 2;
const MESSAGES: usize = 1000;

const BUILD: &str = "run tests/plugins/build.sh: it installs componentize-py (`python3 -m venv \
    target/plugin-toolchains/venv && target/plugin-toolchains/venv/bin/pip install componentize-py==0.25.1`) and \
    componentize-js (`npm install --prefix target/plugin-toolchains/js @bytecodealliance/componentize-js@0.23`) \
    when missing, then builds both test plugins (./scripts/test runs it)";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The component `tests/plugins/build.sh` built from `source`; a missing or
/// stale one fails the test (never skips it).
fn component(name: &str, source: &str) -> PathBuf {
    let wasm = repo_root().join(format!("target/test-plugins/{name}.wasm"));
    let built = std::fs::metadata(&wasm)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{} is missing ({e}): {BUILD}", wasm.display()));
    let changed = std::fs::metadata(repo_root().join(source)).unwrap().modified().unwrap();
    assert!(built >= changed, "{} is older than {source}: {BUILD}", wasm.display());
    wasm
}

/// What the reference model expects of one message.
#[derive(Debug)]
enum Expect {
    /// Indexed under this id, the payload as its document.
    Doc(String),
    /// Invalid, with a reason that starts with this.
    Invalid(&'static str),
    /// The plugin fails on it (trap, denied import).
    Failed,
}

/// The test plugins' rules (tests/plugins/*/): a JSON object with a
/// non-empty string `id` is indexed under it; a `hook` member makes the
/// plugin fail.
fn expect(line: &str, hook: &str) -> Expect {
    let Ok(value) = serde_json::from_str::<Value>(line) else { return Expect::Invalid("payload is not valid JSON") };
    let Some(doc) = value.as_object() else { return Expect::Invalid("payload is not a JSON object") };
    match doc.get("id") {
        Some(Value::String(id)) if !id.is_empty() && doc.contains_key(hook) => Expect::Failed,
        Some(Value::String(id)) if !id.is_empty() => Expect::Doc(id.clone()),
        _ => Expect::Invalid("id must be a non-empty string"),
    }
}

/// 1,000 messages over the shards, deterministic: documents (ids reused, so
/// later versions overwrite earlier ones; non-ASCII text, nesting, numbers),
/// invalid lines of each kind, and three that make the plugin fail.
fn messages(hook: &str, hook_value: Value) -> Vec<Vec<String>> {
    let mut rng = 0x5eed_u64;
    let mut next = move |n: u64| {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut out = vec![Vec::new(); SHARDS as usize];
    for i in 0..MESSAGES {
        let shard = next(SHARDS as u64) as usize;
        let line = match (i, next(100)) {
            (100 | 500 | 900, _) => {
                let mut m = json!({"id": format!("fails-{i}")});
                m[hook] = hook_value.clone();
                m.to_string()
            }
            (_, 0..6) => ["{broken", "[1, 2, 3]", "42", r#"{"id": 7}"#, r#"{"id": ""}"#, r#"{"n": 1}"#]
                [next(6) as usize]
                .to_string(),
            (_, roll) => json!({
                "id": format!("doc-{}", next(150)),
                "n": i,
                "text": format!("ünïcødé ✓ {roll}"),
                "nested": {"half": i as f64 / 2.0, "tags": ["a", roll.to_string()]},
            })
            .to_string(),
        };
        out[shard].push(line);
    }
    out
}

/// What the sinks hold after an ingestion.
struct Sinks {
    docs: BTreeMap<(u32, String), Value>,
    counters: Vec<ShardCounters>,
    /// (shard, pointer) -> reason
    dropped: BTreeMap<(u32, u64), String>,
}

fn read_sinks(sinks: &[Arc<dyn ShardSink>]) -> Sinks {
    let mut out = Sinks { docs: BTreeMap::new(), counters: vec![], dropped: BTreeMap::new() };
    for (shard, sink) in sinks.iter().enumerate() {
        let shard = shard as u32;
        for (id, doc) in sink.scan(None, usize::MAX).unwrap() {
            assert_eq!(doc.version, None, "no versions in these messages");
            out.docs.insert((shard, id), serde_json::from_slice(&doc.source).unwrap());
        }
        out.counters.push(sink.meta().unwrap().counters);
        for d in sink.dropped(None, usize::MAX).unwrap() {
            out.dropped.insert((shard, d.pointer.as_u64().unwrap()), d.reason);
        }
    }
    out
}

/// Ingests `lines` with `sluice run` (spec `spec_json` written to
/// `work/spec.json`, extra `args`, run in `cwd`) and checks the sinks against
/// the model; `failure` is what each failed message's reason must contain.
fn ingest_and_check(
    work: &Path,
    mut spec_json: Value,
    args: &[&str],
    cwd: &Path,
    lines: &[Vec<String>],
    hook: &str,
    failure: &[&str],
) {
    spec_json["settings"]["ingestion_source"]["error_strategy"] = json!("DROP");
    spec_json["settings"]["ingestion_source"]["poll.max_batch_size"] = json!(200);
    let spec_path = work.join("spec.json");
    std::fs::write(&spec_path, spec_json.to_string()).unwrap();
    let data = work.join("data");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(&spec_path)
        .args(["--until-idle", "--timeout", "300", "--data-dir"])
        .arg(&data)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "sluice run failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("sluice run took {:.1}s (compiling the component included)", started.elapsed().as_secs_f64());

    // The reference model: every message exactly once, the last write of an id wins.
    let mut docs = BTreeMap::new();
    let mut counters = vec![ShardCounters::default(); SHARDS as usize];
    let mut dropped = BTreeMap::new();
    for (shard, lines) in lines.iter().enumerate() {
        let c = &mut counters[shard];
        for (pointer, line) in lines.iter().enumerate() {
            c.total_processed_count += 1;
            match expect(line, hook) {
                Expect::Doc(id) => {
                    c.total_ops_applied_count += 1;
                    docs.insert((shard as u32, id), serde_json::from_str::<Value>(line).unwrap());
                }
                failed => {
                    if matches!(failed, Expect::Invalid(_)) {
                        c.total_invalid_message_count += 1;
                    }
                    c.total_failed_count += 1;
                    c.total_failures_dropped_count += 1;
                    dropped.insert((shard as u32, pointer as u64), failed);
                }
            }
        }
    }
    assert!(dropped.values().filter(|e| matches!(e, Expect::Failed)).count() == 3, "the plugin fails on 3 messages");
    assert!(docs.len() > 250, "many documents: {}", docs.len());

    let spec = IngestionSpec::from_value(&spec_json).unwrap();
    let got = read_sinks(&sluice::wiring::open_sinks(&data, &spec).unwrap());
    assert_eq!(got.counters, counters, "counters equal the reference model's");
    assert_eq!(got.docs.len(), docs.len());
    assert!(got.docs == docs, "documents equal the reference model's");
    assert_eq!(got.dropped.keys().collect::<Vec<_>>(), dropped.keys().collect::<Vec<_>>(), "dropped pointers");
    for (at, reason) in &got.dropped {
        match &dropped[at] {
            Expect::Invalid(start) => assert!(reason.starts_with(start), "{at:?}: {reason:?} should start {start:?}"),
            Expect::Failed => {
                for part in failure {
                    assert!(reason.contains(part), "{at:?}: {reason:?} should say {part:?}");
                }
            }
            Expect::Doc(_) => unreachable!(),
        }
    }
}

#[test]
fn a_python_plugin_built_by_componentize_py_ingests_through_sluice_run() {
    let wasm = component("python", "tests/plugins/python/app.py");
    let work = tempfile::tempdir().unwrap();
    // Named by the spec, relative to the spec file (the run's working
    // directory is elsewhere).
    std::fs::create_dir(work.path().join("plugins")).unwrap();
    std::fs::copy(&wasm, work.path().join("plugins/lines.wasm")).unwrap();
    let lines = messages("open", json!("/etc/hostname"));
    let stream = Stream::new(SHARDS);
    for (shard, lines) in lines.iter().enumerate() {
        stream.append(shard as u32, lines);
    }
    let mut spec = stream.spec("py", SHARDS, json!({}));
    spec["sluice"] = json!({"plugin": {"path": "plugins/lines.wasm"}});
    // Reading a file raises (the sandbox has none); the uncaught exception traps.
    ingest_and_check(work.path(), spec, &[], stream.dir.path(), &lines, "open", &["plugin trapped"]);
}

#[test]
fn a_javascript_plugin_built_by_componentize_js_with_default_flags_loads_and_its_fetch_fails_only_that_message() {
    let wasm = component("js", "tests/plugins/js/plugin.js");
    let work = tempfile::tempdir().unwrap();
    let lines = messages("fetch", json!("http://127.0.0.1:9/"));
    let stream = Stream::new(SHARDS);
    for (shard, lines) in lines.iter().enumerate() {
        stream.append(shard as u32, lines);
    }
    // `--plugin FILE`, relative to the working directory.
    let relative = wasm.strip_prefix(repo_root()).unwrap().to_str().unwrap().to_string();
    let spec = stream.spec("js", SHARDS, json!({}));
    let denied = ["plugin called wasi:http/", "an import the sandbox does not grant"];
    ingest_and_check(work.path(), spec, &["--plugin", &relative], &repo_root(), &lines, "fetch", &denied);

    // The component does import wasi:http (componentize-js's default), and
    // the host says so.
    let engine = sluice::plugin::PluginEngine::with_cache(&work.path().join("data/cache/components")).unwrap();
    let compiled = engine.compile("js", &std::fs::read(&wasm).unwrap(), Default::default()).unwrap();
    assert!(compiled.from_cache(), "sluice run cached the compiled component");
    assert!(compiled.denied_imports().iter().any(|i| i.starts_with("wasi:http/")), "{:?}", compiled.denied_imports());
}

/// The README's Python and JavaScript plugins are the test plugins, without
/// their test-only lines.
#[test]
fn the_readme_shows_the_test_plugins_sources() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for source in ["tests/plugins/python/app.py", "tests/plugins/js/plugin.js"] {
        let text = std::fs::read_to_string(repo_root().join(source)).unwrap();
        let mut shown = String::new();
        let mut test_only = false;
        for line in text.lines() {
            if line.contains("--- test only") {
                test_only = true;
            } else if line.contains("--- end test only") {
                test_only = false;
            } else if !test_only {
                shown.push_str(line);
                shown.push('\n');
            }
        }
        assert!(readme.contains(&shown), "README.md should show {source} without its test-only lines:\n{shown}");
    }
}
