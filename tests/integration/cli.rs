//! The `sluice` binary: the README's quick start, and SIGKILL crash recovery.

use crate::support::*;
use serde_json::json;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The number of live documents the quick start's example data implies (the README states it).
const QUICKSTART_LIVE_DOCS: u64 = 1274;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn sluice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.current_dir(repo_root());
    cmd
}

#[test]
fn the_quick_start_ingests_the_examples_and_counts_the_documents_the_data_implies() {
    let data = tempfile::tempdir().unwrap();
    let out = sluice()
        .args(["run", "examples/quickstart.json", "--until-idle", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "sluice run failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ingestion quickstart: 3 shards"), "{stdout}");

    let count = sluice().args(["docs", "count", "quickstart", "--data-dir"]).arg(data.path()).output().unwrap();
    assert!(count.status.success());
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), QUICKSTART_LIVE_DOCS.to_string());

    // The same number from the reference model over the example files.
    let mut model = Model::new(
        r#"{"mappings": {"dynamic": "strict", "properties": {"name": {"type": "text"}, "age": {"type": "integer"}, "city": {"type": "keyword"}, "joined": {"type": "date"}}}}"#,
    );
    for shard in 0..3 {
        let text =
            std::fs::read_to_string(repo_root().join(format!("examples/streams/quickstart/{shard}.ndjson"))).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        model.apply(shard, 0, &lines);
    }
    assert_eq!(model.live().len() as u64, QUICKSTART_LIVE_DOCS);

    let get =
        sluice().args(["docs", "get", "quickstart", "user-00003", "--data-dir"]).arg(data.path()).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
    let expected = &model.live()[&(doc["_shard"].as_u64().unwrap() as u32, "user-00003".to_string())];
    assert_eq!(doc["_source"], expected.1);
    assert_eq!(doc["_version"].as_u64(), expected.0);

    let dropped = sluice()
        .args(["docs", "dropped", "quickstart", "--limit", "1000", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let dropped = String::from_utf8_lossy(&dropped.stdout).lines().count() as u64;
    let invalid: u64 = model.counters.values().map(|c| c.total_invalid_message_count).sum();
    assert_eq!(dropped, invalid, "every invalid message is kept with its reason");
}

#[test]
fn an_unknown_spec_key_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"name": "x", "settings": {"ingestion_source": {"type": "file", "error_stratgy": "DROP"}}}"#,
    )
    .unwrap();
    let out = sluice().arg("run").arg(&spec).arg("--data-dir").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ingestion_source.error_stratgy") && stderr.contains("error_strategy"), "{stderr}");
}

/// SIGKILLs `sluice run` at random points while it ingests, restarts it each
/// time, and checks that the final sinks hold exactly what a model that
/// applies every message once holds: no loss, no double counting.
#[test]
fn sigkill_at_random_points_loses_nothing_and_doubles_nothing() {
    const SHARDS: u32 = 3;
    const MESSAGES: usize = 60_000;
    let stream = Stream::new(SHARDS);
    let mut model = Model::new("{}");
    let lines = generated_stream(SHARDS, MESSAGES, 42);
    for (shard, lines) in lines.iter().enumerate() {
        model.apply(shard as u32, 0, lines);
    }
    // Appended in 7 parts, the last one only after the 6th kill.
    let parts = split_parts(&lines, 7);
    let sizes: Vec<u64> = parts.iter().map(|p| p.iter().map(|l| l.len() as u64).sum()).collect();
    let feed = |k: usize| {
        for (shard, lines) in parts[k].iter().enumerate() {
            stream.append(shard as u32, lines);
        }
    };
    let rig =
        RunRig::new(&stream.spec("crash", SHARDS, json!({"poll.max_batch_size": 20, "internal_queue_size": 100})));
    let kills = sigkill_repeatedly(6, &sizes, feed, || rig.committed(), || rig.follow_command());
    eprintln!("{kills}; committed before the final run: {} of {MESSAGES}", rig.committed());
    rig.finish_and_check(&model);
}
