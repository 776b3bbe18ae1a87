//! Recovery on another host: with the state store and the shard sinks in
//! Redis, a host with an empty data directory takes over from a killed one.

use crate::support::grpc_server::Server;
use crate::support::redis_server::RedisServer;
use crate::support::*;
use serde_json::json;
use sluice::api::proto as pb;
use sluice::sink::ShardSink;
use sluice::sink::redis::RedisSink;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn with_redis_sink(mut spec: serde_json::Value, redis: &RedisServer) -> serde_json::Value {
    spec["sluice"] = json!({"sink": {"type": "redis", "url": redis.url(), "key_prefix": "tk"}});
    // The reference model keeps every tombstone (index.gc_deletes would
    // collect them after 60 s, and a late older index would then apply).
    spec["settings"]["index.gc_deletes"] = json!(-1);
    spec
}

fn sinks(redis: &RedisServer, name: &str, shards: u32) -> Vec<RedisSink> {
    (0..shards).map(|s| RedisSink::open(&redis.url(), "tk", name, s).unwrap()).collect()
}

fn processed(sinks: &[RedisSink]) -> u64 {
    sinks.iter().map(|s| s.meta().unwrap().counters.total_processed_count).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_host_takes_over_from_a_killed_one_with_nothing_lost_or_doubled() {
    const SHARDS: u32 = 3;
    const MESSAGES: usize = 30_000;
    let redis = RedisServer::start();
    let state = ["--state", &redis.url(), "--state-prefix", "tk"].map(String::from);
    let state: Vec<&str> = state.iter().map(String::as_str).collect();

    // "main": a large stream; "held": paused; "stuck": blocked at a bad message.
    let main = Stream::new(SHARDS);
    let mut model = Model::new("{}");
    let lines = generated_stream(SHARDS, MESSAGES, 99);
    for (shard, lines) in lines.iter().enumerate() {
        model.apply(shard as u32, 0, lines);
    }
    // The last third of "main" is appended only after host A is killed: the
    // kill lands mid-ingestion however fast the machine.
    let (head, tail): (Vec<_>, Vec<_>) = lines.iter().map(|l| l.split_at(l.len() * 2 / 3)).unzip();
    for (shard, lines) in head.iter().enumerate() {
        main.append(shard as u32, lines);
    }
    let held = Stream::new(1);
    held.append(0, &[msg(Some("h1"), None, "index", json!({}))]);
    let stuck = Stream::new(1);
    stuck.append(
        0,
        &[msg(Some("s1"), None, "index", json!({})), "{broken".into(), msg(Some("s2"), None, "index", json!({}))],
    );

    let host_a_dir = tempfile::tempdir().unwrap();
    let host_a = Server::start(host_a_dir.path(), &state);
    let mut a = host_a.clients().await;
    let create =
        |spec: serde_json::Value| pb::CreateIngestionRequest { spec_json: spec.to_string(), ..Default::default() };
    a.ingestions
        .create_ingestion(create(with_redis_sink(
            main.spec("main", SHARDS, json!({"poll.max_batch_size": 25})),
            &redis,
        )))
        .await
        .unwrap();
    a.ingestions
        .create_ingestion(create(with_redis_sink(
            held.spec("held", 1, json!({"pointer.init.reset": "latest"})),
            &redis,
        )))
        .await
        .unwrap();
    a.ingestions.pause_ingestion(pb::PauseIngestionRequest { name: "held".into(), shards: vec![] }).await.unwrap();
    a.ingestions
        .create_ingestion(create(with_redis_sink(stuck.spec("stuck", 1, json!({"error_strategy": "BLOCK"})), &redis)))
        .await
        .unwrap();

    // Kill host A mid-ingestion.
    let main_sinks = sinks(&redis, "main", SHARDS);
    let deadline = Instant::now() + Duration::from_secs(60);
    while processed(&main_sinks) < 2_000 {
        assert!(Instant::now() < deadline, "host A made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(a);
    drop(host_a); // SIGKILL
    let at_kill = processed(&main_sinks);
    assert!(at_kill < MESSAGES as u64, "the kill must land mid-ingestion");
    // While nobody runs, the held stream grows: a paused shard must not read it.
    held.append(0, &[msg(Some("h2"), None, "index", json!({}))]);
    for (shard, lines) in tail.iter().enumerate() {
        main.append(shard as u32, lines);
    }

    // Host B: an empty data directory, another port, the same Redis.
    let host_b_dir = tempfile::tempdir().unwrap();
    let host_b = Server::start(host_b_dir.path(), &state);
    let mut b = host_b.clients().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while processed(&main_sinks) < MESSAGES as u64 {
        assert!(Instant::now() < deadline, "host B did not finish ({} of {MESSAGES})", processed(&main_sinks));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = BTreeMap::new();
    for (shard, sink) in main_sinks.iter().enumerate() {
        assert_eq!(sink.meta().unwrap().counters, model.counters[&(shard as u32)], "shard {shard} counters");
        for (id, doc) in sink.scan(None, usize::MAX).unwrap() {
            got.insert(
                (shard as u32, id),
                (doc.version, serde_json::from_slice::<serde_json::Value>(&doc.source).unwrap()),
            );
        }
    }
    assert_eq!(got, model.live(), "documents and versions equal the reference model");

    // The paused ingestion came back paused, the blocked one blocked, with its reason.
    let state_of =
        |name: &str| pb::GetIngestionStateRequest { name: name.into(), page_size: 0, page_token: String::new() };
    let held_state = b.ingestions.get_ingestion_state(state_of("held")).await.unwrap().into_inner();
    assert!(held_state.shards[0].paused, "held is still paused on host B");
    assert_eq!(sinks(&redis, "held", 1)[0].meta().unwrap().counters.total_processed_count, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = b.ingestions.get_ingestion_state(state_of("stuck")).await.unwrap().into_inner();
        if let Some(blocked) = &s.shards[0].blocked {
            assert_eq!(blocked.pointer, "1");
            assert!(blocked.reason.contains("not valid JSON"), "{}", blocked.reason);
            break;
        }
        assert!(Instant::now() < deadline, "stuck did not come back blocked: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stuck_sink = &sinks(&redis, "stuck", 1)[0];
    assert_eq!(stuck_sink.meta().unwrap().counters.total_processed_count, 1, "s1 only, counted once");
    assert!(!host_b_dir.path().join("sinks").exists(), "host B keeps no sink data on local disk");
}

/// Export from a host on the file state store, import into a host on Redis
/// over the same data directory: specs, pointers, paused shards and counters
/// carry over, and ingestion continues with nothing repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_to_redis_migration_through_export_and_import_keeps_every_pointer() {
    let redis = RedisServer::start();
    let stream = Stream::new(2);
    let mut model = Model::new("{}");
    let lines = generated_stream(2, 2_000, 3);
    for (shard, l) in lines.iter().enumerate() {
        stream.append(shard as u32, l);
        model.apply(shard as u32, 0, l);
    }
    let data = tempfile::tempdir().unwrap();
    let on_file = Server::start(data.path(), &[]);
    let mut a = on_file.clients().await;
    a.ingestions
        .create_ingestion(pb::CreateIngestionRequest {
            spec_json: stream.spec("moving", 2, json!({})).to_string(),
            ..Default::default()
        })
        .await
        .unwrap();
    let state_of = || pb::GetIngestionStateRequest { name: "moving".into(), page_size: 0, page_token: String::new() };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = a.ingestions.get_ingestion_state(state_of()).await.unwrap().into_inner();
        if s.shards.iter().all(|s| s.idle) {
            break;
        }
        assert!(Instant::now() < deadline, "host A did not drain the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.ingestions.pause_ingestion(pb::PauseIngestionRequest { name: "moving".into(), shards: vec![1] }).await.unwrap();
    let before = a.ingestions.get_ingestion_state(state_of()).await.unwrap().into_inner();
    let export = a.state.export_state(pb::ExportStateRequest {}).await.unwrap().into_inner().state_json;
    drop(a);
    assert_eq!(on_file.terminate().await, Some(0));

    let state = ["--state", &redis.url(), "--state-prefix", "mig"].map(String::from);
    let on_redis = Server::start(data.path(), &state.iter().map(String::as_str).collect::<Vec<_>>());
    let mut b = on_redis.clients().await;
    let imported = b
        .state
        .import_state(pb::ImportStateRequest { state_json: export, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.ingestions, ["moving"]);
    let after = b.ingestions.get_ingestion_state(state_of()).await.unwrap().into_inner();
    for (x, y) in before.shards.iter().zip(&after.shards) {
        assert_eq!(x.last_pointer, y.last_pointer, "shard {} pointer", x.shard);
        assert_eq!(x.committed_position, y.committed_position, "shard {} resume position", x.shard);
        assert_eq!(x.paused, y.paused, "shard {} paused flag", x.shard);
    }
    assert!(after.shards[1].paused);

    // More data arrives; shard 1 resumes; everything is applied exactly once.
    let more = generated_stream(2, 400, 4);
    for (shard, l) in more.iter().enumerate() {
        stream.append(shard as u32, l);
        let at: Vec<(String, String)> =
            l.iter().enumerate().map(|(i, s)| ((lines[shard].len() + i).to_string(), s.clone())).collect();
        model.apply_at(shard as u32, &at);
    }
    b.ingestions
        .resume_ingestion(pb::ResumeIngestionRequest { name: "moving".into(), shards: vec![1], resets: vec![] })
        .await
        .unwrap();
    let total: u64 = 2_400;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let processed: u64 = processor_stats(&mut b).await.iter().map(|s| s.total_processed_count).sum();
        if processed == total {
            break;
        }
        assert!(Instant::now() < deadline, "host B did not catch up: {processed} of {total}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (shard, s) in processor_stats(&mut b).await.iter().enumerate() {
        let m = &model.counters[&(shard as u32)];
        let got = sluice::sink::ShardCounters {
            total_processed_count: s.total_processed_count,
            total_invalid_message_count: s.total_invalid_message_count,
            total_version_conflicts_count: s.total_version_conflicts_count,
            total_failed_count: s.total_failed_count,
            total_failures_dropped_count: s.total_failures_dropped_count,
            total_skipped_count: s.total_skipped_count,
            total_ops_applied_count: s.total_ops_applied_count,
            ..Default::default()
        };
        assert_eq!(&got, m, "shard {shard}: every counter as the model's");
    }
}

async fn processor_stats(c: &mut crate::support::grpc_server::Clients) -> Vec<pb::MessageProcessorStats> {
    let s = c.ingestions.get_stats(pb::GetStatsRequest { name: "moving".into() }).await.unwrap().into_inner();
    s.shards.into_iter().map(|sh| sh.polling_ingest_stats.unwrap().message_processor_stats.unwrap()).collect()
}
