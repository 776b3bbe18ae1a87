//! Redis: the shard sink and the state store against a real redis-server.

use crate::support::redis_server::RedisServer;
use crate::support::*;
use serde_json::json;
use sluice::spec::ErrorStrategy;
use sluice::state::redis::RedisStateStore;
use sluice::state::{IngestionRecord, PluginRecord, StateStore, now_ms, sha256_hex};
use std::time::Duration;

fn redis_spec(
    stream: &Stream,
    name: &str,
    shards: u32,
    redis: &RedisServer,
    source: serde_json::Value,
) -> serde_json::Value {
    let mut spec = stream.spec(name, shards, source);
    spec["sluice"] = json!({"sink": {"type": "redis", "url": redis.url(), "key_prefix": "t"}});
    spec
}

#[test]
fn a_stream_into_redis_sinks_matches_the_reference_model() {
    let redis = RedisServer::start();
    let stream = Stream::new(3);
    let mut model = Model::new("{}");
    for (shard, lines) in generated_stream(3, 4000, 11).iter().enumerate() {
        stream.append(shard as u32, lines);
        model.apply(shard as u32, 0, lines);
    }
    let data = tempfile::tempdir().unwrap();
    let ing = start(&redis_spec(&stream, "r1", 3, &redis, json!({"poll.max_batch_size": 100})), data.path());
    wait_idle(&ing);
    assert_eq!(docs(&ing), model.live());
    for shard in 0..3 {
        assert_eq!(counters(&ing, shard), model.counters[&shard], "shard {shard}");
    }
    drop(ing);
    assert!(std::fs::read_dir(data.path().join("sinks")).is_err(), "nothing of a redis sink lives on local disk");
}

#[test]
fn redis_killed_and_restarted_mid_run_loses_nothing_and_doubles_nothing() {
    let mut redis = RedisServer::start();
    let stream = Stream::new(2);
    let mut model = Model::new("{}");
    let lines = generated_stream(2, 20_000, 5);
    for (shard, lines) in lines.iter().enumerate() {
        model.apply(shard as u32, 0, lines);
    }
    // The last quarter is appended only while Redis is down: the crash lands
    // mid-run and the shards meet the outage, however fast the machine.
    let (head, tail): (Vec<_>, Vec<_>) = lines.iter().map(|l| l.split_at(l.len() * 3 / 4)).unzip();
    for (shard, lines) in head.iter().enumerate() {
        stream.append(shard as u32, lines);
    }
    let data = tempfile::tempdir().unwrap();
    let ing = start(&redis_spec(&stream, "r2", 2, &redis, json!({"poll.max_batch_size": 20})), data.path());
    let processed = |ing: &sluice::engine::Ingestion| -> u64 {
        ing.status().iter().map(|s| s.meta.counters.total_processed_count).sum()
    };
    assert!(
        ing.shards()[0].wait_until(Duration::from_secs(30), |s| s.meta.counters.total_processed_count > 500),
        "ingestion did not start"
    );
    let before = processed(&ing);
    assert!(before < 20_000, "the crash must land mid-run ({before} processed already)");
    // Killed (SIGKILL: no shutdown save beyond the AOF), and started again on
    // the same port and directory once a shard has met the outage and at
    // least 1.5 s have passed.
    redis.kill();
    let down = std::time::Instant::now();
    for (shard, lines) in tail.iter().enumerate() {
        stream.append(shard as u32, lines);
    }
    while !ing.status().iter().any(|s| s.last_error.is_some()) {
        assert!(down.elapsed() < Duration::from_secs(60), "no shard met the outage: {:#?}", ing.status());
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(down.elapsed()));
    redis.restart();
    // The shards saw the outage and retry by themselves.
    wait_idle(&ing);
    let saw_error = ing.status().iter().any(|s| s.last_error.is_some());
    assert!(saw_error, "the outage should be visible in the shards' last errors");
    assert_eq!(docs(&ing), model.live());
    for shard in 0..2 {
        assert_eq!(counters(&ing, shard), model.counters[&shard], "shard {shard}");
    }
}

#[test]
fn block_policy_and_counters_work_the_same_on_redis() {
    let redis = RedisServer::start();
    let stream = Stream::new(1);
    stream.append(
        0,
        &[msg(Some("a"), Some(2), "index", json!({})), "{bad".into(), msg(Some("a"), Some(1), "index", json!({}))],
    );
    let data = tempfile::tempdir().unwrap();
    let ing = start(&redis_spec(&stream, "r3", 1, &redis, json!({"error_strategy": "BLOCK"})), data.path());
    assert!(ing.shards()[0].wait_until(Duration::from_secs(30), |s| s.blocked.is_some()));
    assert_eq!(ing.status()[0].blocked.as_ref().unwrap().pointer.as_u64(), Some(1));
    ing.set_error_strategy(ErrorStrategy::Drop);
    wait_idle(&ing);
    let c = counters(&ing, 0);
    assert_eq!((c.total_processed_count, c.total_invalid_message_count, c.total_version_conflicts_count), (3, 1, 1));
    assert_eq!(ing.sinks()[0].dropped(None, 10).unwrap()[0].payload.as_deref(), Some("{bad"));
}

#[test]
fn the_redis_state_store_keeps_records_and_plugins_and_detects_damage() {
    let redis = RedisServer::start();
    let store = RedisStateStore::open(&redis.url(), "st").unwrap();
    let record = IngestionRecord {
        name: "a".into(),
        id: "a@1".into(),
        spec: json!({"name": "a"}),
        paused_shards: [0, 2].into(),
        error_strategy: Some(ErrorStrategy::Block),
        last_errors: vec![],
        history: vec![],
        updated_at_ms: now_ms(),
        deleted_at_ms: None,
    };
    store.save(&record).unwrap();
    assert_eq!(store.load("a").unwrap().unwrap(), record);
    assert!(store.load("b").unwrap().is_none());
    let bytes = b"component".to_vec();
    let plugin = PluginRecord {
        name: "p".into(),
        version: "1".into(),
        sha256: sha256_hex(&bytes),
        size: 9,
        registered_at_ms: 1,
    };
    store.save_plugin(&plugin, &bytes).unwrap();
    assert_eq!(store.load_plugins().unwrap(), std::slice::from_ref(&plugin));
    assert_eq!(store.load_component(&plugin.sha256).unwrap(), bytes);

    // A damaged value is an error naming where it is, and does not hide the others.
    let mut c = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    redis::cmd("HSET")
        .arg("st:ingestions")
        .arg("broken")
        .arg("sluice-state v1 length=3 crc32=00000000\nabc")
        .exec(&mut c)
        .unwrap();
    let all = store.load_all().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].as_ref().unwrap().name, "a");
    let err = all[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("broken") && err.contains("checksum"), "{err}");

    store.delete_plugin("p", "1").unwrap();
    assert!(store.load_plugins().unwrap().is_empty());
    assert!(store.load_component(&plugin.sha256).is_err());
    store.delete("a").unwrap();
    assert!(store.load("a").unwrap().is_none());
}

/// A host that restarts while the Redis holding an ingestion's sinks is down
/// reports why the ingestion is not running and starts it by itself once
/// Redis is back, resuming from the checkpoint there.
#[test]
fn an_ingestion_whose_redis_sink_is_down_at_restart_starts_once_redis_is_back() {
    let mut redis = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let stream = Stream::new(1);
    let line = |i: usize| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}));
    stream.append(0, &(0..40).map(line).collect::<Vec<_>>());
    let open = || {
        let store = std::sync::Arc::new(sluice::state::file::FileStateStore::open(&data.path().join("state")).unwrap());
        sluice::manager::Manager::open(data.path(), store).unwrap()
    };
    let processed = |m: &sluice::manager::Manager| m.state("r").unwrap()[0].meta.counters.total_processed_count;
    let wait = |m: &sluice::manager::Manager, n: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while m.get("r").unwrap().start_error.is_some() || processed(m) < n {
            assert!(std::time::Instant::now() < deadline, "{:?}", m.get("r").unwrap().start_error);
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    let manager = open();
    manager.create(redis_spec(&stream, "r", 1, &redis, json!({}))).unwrap();
    wait(&manager, 40);
    manager.shutdown();
    drop(manager);

    redis.kill();
    let manager = open();
    let error = manager.get("r").unwrap().start_error.expect("not running while Redis is down");
    let address = redis.url().trim_start_matches("redis://").trim_end_matches("/0").to_string();
    assert!(error.contains(&address), "the error names the Redis at {address}: {error}");
    assert!(manager.state("r").is_err(), "no state while not running");
    std::thread::sleep(Duration::from_millis(1500)); // at least one failed retry
    assert!(manager.get("r").unwrap().start_error.is_some());

    stream.append(0, &(40..50).map(line).collect::<Vec<_>>());
    redis.restart();
    wait(&manager, 50);
    let meta = &manager.state("r").unwrap()[0].meta;
    assert_eq!(meta.last_pointer.as_ref().and_then(|p| p.as_u64()), Some(49));
    assert_eq!(meta.counters.total_processed_count, 50, "resumed from the checkpoint: nothing read twice");
    assert_eq!(meta.live_docs, 50);
    manager.shutdown();
}

/// Scans page through a Redis shard in id order (documents) and pointer
/// order (dropped messages) from its sorted-set indexes, skipping
/// tombstones, with any page size; a shard written before the indexes
/// existed is indexed when it is opened.
#[test]
fn redis_scans_page_in_order_and_a_shard_without_indexes_is_indexed_at_open() {
    use sluice::sink::ShardSink;
    use sluice::sink::redis::RedisSink;
    let redis = RedisServer::start();
    let stream = Stream::new(1);
    let lines = generated_stream(1, 3000, 5).remove(0);
    stream.append(0, &lines);
    let mut model = Model::new("{}");
    model.apply(0, 0, &lines);
    let data = tempfile::tempdir().unwrap();
    let ing = start(&redis_spec(&stream, "idx", 1, &redis, json!({"poll.max_batch_size": 64})), data.path());
    wait_idle(&ing);
    let expected_ids: Vec<String> = model.live().into_keys().map(|(_, id)| id).collect();
    let invalid = model.counters[&0].total_invalid_message_count;
    assert!(invalid > 20 && expected_ids.len() > 500, "the stream has dropped messages and deletes to skip");
    drop(ing);

    let check = |sink: &RedisSink| {
        for page_size in [7, 1000, 5000] {
            let (mut ids, mut after) = (Vec::new(), None::<String>);
            loop {
                let page = sink.scan(after.as_deref(), page_size).unwrap();
                assert!(page.len() <= page_size);
                let Some((last, _)) = page.last() else { break };
                after = Some(last.clone());
                ids.extend(page.into_iter().map(|(id, _)| id));
            }
            assert_eq!(ids, expected_ids, "page size {page_size}");
        }
        let (mut pointers, mut after) = (Vec::new(), None);
        loop {
            let page = sink.dropped(after.clone(), 5).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.pointer.clone());
            pointers.extend(page.into_iter().map(|d| d.pointer));
        }
        assert_eq!(pointers.len() as u64, invalid);
        assert!(pointers.windows(2).all(|w| w[0] < w[1]), "in pointer order: {pointers:?}");
    };
    check(&RedisSink::open(&redis.url(), "t", "idx", 0).unwrap());

    // As written before the indexes existed: only the hashes.
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let () = redis::cmd("DEL").arg("t:{idx:0}:ids").arg("t:{idx:0}:dropped-ids").query(&mut conn).unwrap();
    check(&RedisSink::open(&redis.url(), "t", "idx", 0).unwrap());
}
