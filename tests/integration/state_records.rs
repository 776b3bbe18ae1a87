//! The state records of issue 17 with real parts: poll statistics across a
//! restart on the file and Redis state stores (and `sluice docs stats`
//! offline), one ingestion exported from a file-state host and continued on
//! a Redis-state host, cleanup of deleted ingestions, and the Redis sink's
//! collection of old tombstones.

use crate::support::grpc_server::{Server, TIMEOUT};
use crate::support::redis_server::RedisServer;
use crate::support::*;
use serde_json::{Value, json};
use sluice::api::proto as pb;
use sluice::manager::Manager;
use sluice::pointer::Pointer;
use sluice::sink::redis::RedisSink;
use sluice::spec::IngestionSpec;
use sluice::state::StateStore;
use sluice::state::file::FileStateStore;
use sluice::state::redis::RedisStateStore;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn line(i: usize) -> String {
    msg(Some(&format!("a{i}")), Some(1), "index", json!({"i": i}))
}

fn bytes(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64).sum()
}

/// `sluice <args>`, which must succeed; its stdout.
fn sluice_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap();
    assert!(out.status.success(), "sluice {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every statistic against what the stream held: polls with and without
/// messages, bytes, batches, a block, across a restart of the host, and
/// read offline by `sluice docs stats`. `state` selects the store (`--state`
/// and `--state-prefix` as the CLI takes them).
fn statistics_across_a_restart(data: &Path, state: &[&str], open_store: impl Fn() -> Arc<dyn StateStore>) {
    let stream = Stream::new(1);
    let mut lines: Vec<String> = (0..20).map(line).collect();
    lines.push("{broken".into());
    lines.extend((21..26).map(line));
    stream.append(0, &lines);
    let mut spec = stream.spec("st", 1, json!({"error_strategy": "BLOCK", "poll.max_batch_size": 10}));
    spec["sluice"] = json!({"state": {"auto_save_interval": "200ms"}});

    let m = Manager::open(data, open_store()).unwrap();
    m.create(spec).unwrap();
    wait("the block at line 20", || m.state("st").unwrap()[0].blocked.is_some());
    let s = m.state("st").unwrap().remove(0);
    // Three polls of 10, 10 and 6 lines; the block is an error with its pointer.
    let p = &s.poll.stats;
    assert_eq!((p.successful_polls_count, p.total_documents_fetched, p.total_bytes_processed), (3, 26, bytes(&lines)));
    assert_eq!((p.error_count, p.consumer_error_count, p.batches_processed), (1, 0, 2));
    assert_eq!(s.last_error.as_ref().unwrap().pointer, Some(Pointer::from(20)));

    // Under DROP the shard reads the blocked batch again (a read counts each time).
    m.update("st", json!({"settings": {"index.ingestion_source.error_strategy": "DROP"}})).unwrap();
    wait("every message", || m.state("st").unwrap()[0].meta.counters.total_processed_count == 26);
    // (The first empty poll says the shard caught up; an idle file shard
    // polls again only every 30 s, or when woken by an append.)
    wait("an empty poll at the end", || m.state("st").unwrap()[0].poll.stats.empty_polls_count >= 1);
    m.shutdown();
    drop(m);
    let saved = open_store().load_shard_states("st").unwrap().remove(0);
    let p = &saved.data.poll;
    let reread = bytes(&lines[20..]);
    assert_eq!((p.successful_polls_count, p.total_documents_fetched), (4, 32));
    assert_eq!((p.total_bytes_processed, p.batches_processed, p.error_count), (bytes(&lines) + reread, 3, 1));
    assert_eq!(p.poll_count, p.successful_polls_count + p.empty_polls_count);
    assert_eq!(saved.data.last_offset.as_deref(), Some("25"));
    let before = p.clone();

    // The host starts again: the counters continue.
    let more: Vec<String> = (26..30).map(line).collect();
    stream.append(0, &more);
    let m = Manager::open(data, open_store()).unwrap();
    wait("the new messages", || m.state("st").unwrap()[0].meta.counters.total_processed_count == 30);
    let s = m.state("st").unwrap().remove(0);
    let p = &s.poll.stats;
    assert_eq!((p.successful_polls_count, p.total_documents_fetched), (5, 36));
    assert_eq!((p.total_bytes_processed, p.error_count), (before.total_bytes_processed + bytes(&more), 1));
    assert!(p.poll_count > before.poll_count && p.empty_polls_count >= before.empty_polls_count);
    assert_eq!(s.last_error.as_ref().unwrap().pointer, Some(Pointer::from(20)), "the last error survives too");
    assert_eq!(m.stats("st").unwrap()[0].1.consumer_stats.total_polled_count, 36);
    m.shutdown();
    drop(m);

    // Offline, next to the sink's checkpoint.
    let data_dir = data.to_str().unwrap();
    let out = sluice_ok(&[&["docs", "stats", "st", "--data-dir", data_dir], state].concat());
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let stats = &v["polling_ingest_stats"];
    assert_eq!(stats["consumer_stats"]["total_polled_count"], 36, "{v}");
    assert_eq!(stats["message_processor_stats"]["total_processed_count"], 30, "{v}");
    assert_eq!((&v["poll_stats"]["total_documents_fetched"], &v["last_error"]["pointer"]), (&json!(36), &json!("20")));
}

#[test]
fn poll_statistics_survive_a_restart_on_the_file_state_store() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("state");
    statistics_across_a_restart(data.path(), &["--state", "file"], || Arc::new(FileStateStore::open(&dir).unwrap()));
    // The record is a file of its own, in Iggy's shape.
    let text = std::fs::read_to_string(data.path().join("state/shards/st/0.json")).unwrap();
    let record: Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
    assert_eq!(
        (&record["id"], &record["version"], &record["metadata"]["ingestion"]),
        (&json!("st/0"), &json!(1), &json!("st"))
    );
    assert!(record["last_updated"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn poll_statistics_survive_a_restart_on_the_redis_state_store() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let url = redis.url();
    statistics_across_a_restart(data.path(), &["--state", &url, "--state-prefix", "s17"], || {
        Arc::new(RedisStateStore::open(&url, "s17").unwrap())
    });
    let mut conn = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let fields: Vec<String> = redis::cmd("HKEYS").arg("s17:shard-states:st").query(&mut conn).unwrap();
    assert_eq!(fields, ["0"]);
}

async fn processed(c: &mut pb::ingestions_client::IngestionsClient<tonic::transport::Channel>, name: &str) -> u64 {
    let r = c.get_stats(pb::GetStatsRequest { name: name.into() }).await.unwrap().into_inner();
    r.shards
        .iter()
        .map(|s| s.polling_ingest_stats.unwrap().message_processor_stats.unwrap().total_processed_count)
        .sum()
}

async fn wait_processed(
    c: &mut pb::ingestions_client::IngestionsClient<tonic::transport::Channel>,
    name: &str,
    n: u64,
) {
    let deadline = Instant::now() + TIMEOUT;
    while processed(c, name).await != n {
        assert!(Instant::now() < deadline, "{name} did not reach {n} processed messages");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ctl_ok(addr: &str, args: &[&str]) -> String {
    sluice_ok(&[&["ctl", "--addr", addr], args].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ingestion_exported_from_a_file_state_host_continues_on_a_redis_state_host() {
    const SHARDS: u32 = 2;
    let redis = RedisServer::start();
    let stream = Stream::new(SHARDS);
    let lines = generated_stream(SHARDS, 3000, 17);
    let mut model = Model::new("{}");
    for (shard, l) in lines.iter().enumerate() {
        model.apply(shard as u32, 0, l);
    }
    let (head, tail): (Vec<_>, Vec<_>) = lines.iter().map(|l| l.split_at(l.len() / 2)).unzip();
    for (shard, l) in head.iter().enumerate() {
        stream.append(shard as u32, l);
    }
    let mut spec = stream.spec("mig", SHARDS, json!({}));
    spec["sluice"] = json!({"sink": {"type": "redis", "url": redis.url(), "key_prefix": "mg"}});
    let other = stream.spec("other", SHARDS, json!({}));

    // Host A keeps its state in files.
    let a_dir = tempfile::tempdir().unwrap();
    let host_a = Server::start(a_dir.path(), &[]);
    let mut a = host_a.clients().await;
    for s in [&spec, &other] {
        let request = pb::CreateIngestionRequest { spec_json: s.to_string(), ..Default::default() };
        a.ingestions.create_ingestion(request).await.unwrap();
    }
    let head_count = head.iter().map(|l| l.len() as u64).sum();
    wait_processed(&mut a.ingestions, "mig", head_count).await;
    let export = ctl_ok(&host_a.addr, &["state", "export", "mig"]);
    let v: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(v["ingestions"].as_array().unwrap().len(), 1, "one ingestion: {v}");
    assert_eq!(v["ingestions"][0]["shard_states"].as_array().unwrap().len(), SHARDS as usize);
    let file = a_dir.path().with_extension("mig.json");
    std::fs::write(&file, &export).unwrap();
    drop(a);
    host_a.terminate().await;

    // Host B keeps its state in Redis; the sinks are shared.
    let b_dir = tempfile::tempdir().unwrap();
    let host_b = Server::start(b_dir.path(), &["--state", &redis.url(), "--state-prefix", "hb"]);
    let imported = ctl_ok(&host_b.addr, &["state", "import", file.to_str().unwrap()]);
    assert!(imported.contains("imported mig"), "{imported}");
    for (shard, l) in tail.iter().enumerate() {
        stream.append(shard as u32, l);
    }
    let mut b = host_b.clients().await;
    wait_processed(&mut b.ingestions, "mig", lines.iter().map(|l| l.len() as u64).sum()).await;
    let spec = IngestionSpec::from_value(&spec).unwrap();
    assert_sinks_match(&sluice::wiring::open_sinks(b_dir.path(), &spec).unwrap(), &model);
    // Each message was read once: on A (the head), then on B (the tail).
    let state =
        b.ingestions.get_ingestion_state(pb::GetIngestionStateRequest { name: "mig".into(), ..Default::default() });
    let state = state.await.unwrap().into_inner();
    let fetched: u64 = state.shards.iter().map(|s| s.poll_stats.unwrap().total_documents_fetched).sum();
    assert_eq!(fetched, lines.iter().map(|l| l.len() as u64).sum::<u64>());
    let table = ctl_ok(&host_b.addr, &["state", "mig"]);
    assert!(table.contains("POLLS") && table.contains("FETCHED"), "{table}");

    // Deleted, it is a tombstone in B's Redis state until cleanup.
    ctl_ok(&host_b.addr, &["delete", "mig"]);
    let stats: Value = serde_json::from_str(&ctl_ok(&host_b.addr, &["--json", "state", "stats"])).unwrap();
    assert_eq!(
        (&stats["ingestions"], &stats["deleted_ingestions"], &stats["shard_records"]),
        (&json!(0), &json!(1), &json!(2))
    );
    let kept: Value =
        serde_json::from_str(&ctl_ok(&host_b.addr, &["--json", "state", "cleanup", "--older-than", "30d"])).unwrap();
    assert_eq!(kept["ingestions"], json!([]), "nothing is 30 days old: {kept}");
    let cleaned: Value =
        serde_json::from_str(&ctl_ok(&host_b.addr, &["--json", "state", "cleanup", "--older-than", "0s"])).unwrap();
    assert_eq!((&cleaned["ingestions"], &cleaned["records"]), (&json!(["mig"]), &json!(3)), "{cleaned}");
    assert!(cleaned["data_left"][0].as_str().unwrap().contains("stay in Redis"), "{cleaned}");
    let stats: Value = serde_json::from_str(&ctl_ok(&host_b.addr, &["--json", "state", "stats"])).unwrap();
    assert_eq!(stats["records"], json!(0), "nothing left: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_the_records_and_data_of_deleted_ingestions_only() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let mut c = server.clients().await;
    let stream = Stream::new(1);
    stream.append(0, &(0..5).map(line).collect::<Vec<_>>());
    for name in ["gone", "kept"] {
        let mut spec = stream.spec(name, 1, json!({}));
        spec["sluice"] = json!({"state": {"auto_save_interval": "200ms"}});
        let request = pb::CreateIngestionRequest { spec_json: spec.to_string(), ..Default::default() };
        c.ingestions.create_ingestion(request).await.unwrap();
        wait_processed(&mut c.ingestions, name, 5).await;
    }
    let state = data.path().join("state");
    wait("kept's record", || state.join("shards/kept/0.json").exists());
    // The metrics show the poll statistics.
    let body = server.metrics_get("/metrics");
    assert!(body.contains("sluice_total_documents_fetched{ingestion=\"kept\",shard=\"0\"} 5"), "{body}");
    assert!(body.contains("# TYPE sluice_p99_batch_processing_time_ms gauge"), "{body}");

    ctl_ok(&server.addr, &["delete", "gone"]);
    let sinks = data.path().join("sinks");
    assert!(sinks.join("gone").exists() && state.join("gone.json").exists(), "a delete keeps them until cleanup");
    let out = ctl_ok(&server.addr, &["state", "cleanup", "--older-than", "0s"]);
    assert!(out.contains("removed 1 deleted ingestion(s) (gone): 2 records"), "{out}");
    assert!(!sinks.join("gone").exists() && !state.join("gone.json").exists() && !state.join("shards/gone").exists());
    assert!(
        sinks.join("kept").exists() && state.join("kept.json").exists() && state.join("shards/kept/0.json").exists()
    );
    assert!(ctl_ok(&server.addr, &["list"]).contains("kept"));
    // kept's own state reset: read again from the start with zeroed statistics.
    let reset = ctl_ok(&server.addr, &["state", "reset", "kept"]);
    assert!(reset.contains("state reset") && reset.contains("documents kept"), "{reset}");
    let refused = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["ctl", "--addr", &server.addr, "state", "reset"])
        .output()
        .unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--yes"));
}

/// The redis sink removes tombstones older than the cutoff, under WATCH of
/// its meta; newer ones (and live documents) stay.
#[test]
fn the_redis_sink_collects_old_tombstones_and_keeps_newer_ones() {
    let redis = RedisServer::start();
    let sink = RedisSink::open(&redis.url(), "gc", "g", 0).unwrap();
    // The same contract as every sink's (old tombstones go, newer ones and
    // live documents stay, a newer tombstone still fences a late index).
    sluice::sink::contract::tombstone_gc(&sink);
    // Nothing of c is left: not in the documents, the scan index or the tombstone index.
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let left: (bool, Option<f64>, Option<f64>) = redis::pipe()
        .hexists("gc:{g:0}:docs", "c")
        .zscore("gc:{g:0}:ids", "c")
        .zscore("gc:{g:0}:tombstones", "c")
        .query(&mut conn)
        .unwrap();
    assert_eq!(left, (false, None, None));
}

/// The redis sink merges rows and updates documents like every sink (the
/// shared contract), across batches from what Redis holds.
#[test]
fn the_redis_sink_merges_rows_and_updates_documents() {
    let redis = RedisServer::start();
    let sink = RedisSink::open(&redis.url(), "merge", "m", 0).unwrap();
    sluice::sink::contract::merges(&sink);
}
