//! The Kinesis source against kinesalite: shards, reset modes, restarts,
//! SIGKILL crashes, an outage (SIGSTOP), a split shard drained to CLOSED, and
//! a checkpoint that no longer exists.

use crate::support::kinesalite::{Call, FaultProxy, Kinesalite, Landed, Put};
use crate::support::*;
use serde_json::{Value, json};
use sluice::engine::{BlockCause, Ingestion, PollerState, ShardStatus};
use sluice::pointer::Pointer;
use sluice::source::kinesis::OPERATION_TIMEOUT;
use sluice::state::now_ms;
use sluice::wiring::open_sinks;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn echo() -> sluice::plugin::CompiledPlugin {
    test_plugin("sluice_echo")
}

fn processed(ing: &Ingestion) -> u64 {
    ing.status().iter().map(|s| s.meta.counters.total_processed_count).sum()
}

/// Waits until `pred` holds for the shards' statuses.
fn wait_for(ing: &Ingestion, timeout: Duration, what: &str, pred: impl Fn(&[ShardStatus]) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let status = ing.status();
        if pred(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {status:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn shard_of(landed: &Landed) -> u32 {
    landed.shard_id.strip_prefix("shardId-").unwrap().parse().unwrap()
}

/// Payloads of an echo ingestion's documents, per shard, in pointer order.
fn echoed(ing: &Ingestion) -> BTreeMap<u32, Vec<(Pointer, String)>> {
    let mut out: BTreeMap<u32, Vec<(Pointer, String)>> = BTreeMap::new();
    for ((shard, id), (_, doc)) in docs(ing) {
        let pointer: Pointer = doc["pointer"].as_str().unwrap().parse().unwrap();
        assert_eq!(id, format!("{shard}-{pointer}"));
        out.entry(shard).or_default().push((pointer, doc["payload"].as_str().unwrap().to_string()));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn payloads(ing: &Ingestion, shard: u32) -> Vec<String> {
    echoed(ing).remove(&shard).unwrap_or_default().into_iter().map(|(_, p)| p).collect()
}

/// Lines per shard as the model's `(pointer, line)` messages.
fn as_messages(lines: &[(Pointer, String)]) -> Vec<(String, String)> {
    lines.iter().map(|(p, l)| (p.to_string(), l.clone())).collect()
}

#[test]
fn a_two_shard_stream_lands_exactly_per_shard_with_keys_and_arrival_times() {
    let kl = Kinesalite::start();
    kl.create_stream("events", 2);
    let hash_keys = kl.hash_keys("events");
    let puts: Vec<Put> = (0..300)
        .map(|i| Put {
            key: format!("user-{i}"),
            hash_key: Some(hash_keys[i % 2].clone()),
            data: format!(r#"{{"n":{i}}}"#),
        })
        .collect();
    let before = now_ms();
    let landed = kl.put("events", &puts);
    let after = now_ms();

    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let ing = start_with_plugin(&kl.spec("two", "events", 2, json!({"poll.max_batch_size": 64})), data.path(), echo());
    wait_idle(&ing);
    eprintln!("300 records over 2 shards in batches of 64: idle after {:?}", started.elapsed());

    let got = docs(&ing);
    assert_eq!(got.len(), 300);
    for (put, l) in puts.iter().zip(&landed) {
        let shard = shard_of(l);
        let (_, doc) = &got[&(shard, format!("{shard}-{}", l.sequence))];
        assert_eq!(doc["shard"], json!(shard));
        assert_eq!(doc["pointer"], json!(l.sequence.to_string()));
        assert_eq!(doc["key"], json!(put.key), "partition key -> message key");
        assert_eq!(doc["payload"], json!(put.data));
        assert_eq!(doc["headers"], json!({}));
        let ts = doc["timestamp_ms"].as_i64().expect("arrival time -> timestamp");
        // kinesalite keeps arrival times as float seconds: allow 1 ms of rounding.
        assert!(ts >= before - 1 && ts <= after + 1, "{ts} not in [{before}, {after}]");
    }
    for (shard, status) in ing.status().iter().enumerate() {
        assert_eq!(status.meta.counters.total_processed_count, 150, "shard {shard}");
        assert_eq!(status.consumer.total_polled_count, 150, "shard {shard} read each record once");
        assert_eq!(status.consumer.lag_in_millis, 0, "MillisBehindLatest at the tip");
        let last = landed.iter().filter(|l| shard_of(l) == shard as u32).map(|l| l.sequence.clone()).max();
        assert_eq!(status.meta.last_pointer, last, "checkpoint is the last sequence number");
    }
}

#[test]
fn each_reset_mode_starts_where_it_says() {
    let kl = Kinesalite::start();
    kl.create_stream("modes", 1);
    let put = |prefix: &str, n: usize| -> Vec<Landed> {
        let puts: Vec<Put> =
            (0..n).map(|i| Put { key: format!("{prefix}{i}"), hash_key: None, data: format!("{prefix}{i}") }).collect();
        kl.put("modes", &puts)
    };
    let names = |prefix: &str, range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|i| format!("{prefix}{i}")).collect()
    };
    let a = put("a", 10);
    std::thread::sleep(Duration::from_millis(300));
    let between = now_ms();
    std::thread::sleep(Duration::from_millis(300));
    put("b", 10);

    let run = |name: &str, source: Value| {
        let data = tempfile::tempdir().unwrap();
        let ing = start_with_plugin(&kl.spec(name, "modes", 1, source), data.path(), echo());
        wait_idle(&ing);
        (payloads(&ing, 0), ing, data)
    };
    let all: Vec<String> = names("a", 0..10).into_iter().chain(names("b", 0..10)).collect();

    let (got, ..) = run("earliest", json!({"pointer.init.reset": "earliest"}));
    assert_eq!(got, all, "earliest: TRIM_HORIZON");

    let offset = a[5].sequence.to_string();
    let (got, ..) = run("offset", json!({"pointer.init.reset": "reset_by_offset", "pointer.init.reset.value": offset}));
    assert_eq!(got, all[5..].to_vec(), "reset_by_offset: AT_SEQUENCE_NUMBER, inclusive");

    // kinesalite never answers AT_TIMESTAMP past its last record: records follow `between`.
    let (got, ..) =
        run("timestamp", json!({"pointer.init.reset": "reset_by_timestamp", "pointer.init.reset.value": between}));
    assert_eq!(got, names("b", 0..10), "reset_by_timestamp: AT_TIMESTAMP");

    let (got, ing, _data) = run("latest", json!({"pointer.init.reset": "latest"}));
    assert!(got.is_empty(), "latest: nothing that was there before: {got:?}");
    put("c", 5);
    wait_for(&ing, Duration::from_secs(20), "5 new records", |s| s[0].meta.counters.total_processed_count == 5);
    assert_eq!(payloads(&ing, 0), names("c", 0..5), "latest: only what arrived after the start");
}

#[test]
fn a_restart_resumes_from_the_checkpoint_with_nothing_repeated() {
    const SHARDS: u32 = 2;
    let kl = Kinesalite::start();
    kl.create_stream("resume", SHARDS as i32);
    let lines = generated_stream(SHARDS, 24_000, 7);
    let (first, second): (Vec<_>, Vec<_>) = lines
        .iter()
        .map(|l| {
            let (a, b) = l.split_at(l.len() * 5 / 6);
            (a.to_vec(), b.to_vec())
        })
        .unzip();
    let first = kl.put_per_shard("resume", &first);
    let data = tempfile::tempdir().unwrap();
    // The largest batch GetRecords allows: this also measures the drain rate.
    let spec = kl.spec("resume", "resume", SHARDS, json!({"poll.max_batch_size": 10000, "internal_queue_size": 20000}));
    let started = Instant::now();
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    let elapsed = started.elapsed();
    let n: usize = first.iter().map(Vec::len).sum();
    eprintln!("drained {n} records from kinesalite in {elapsed:?}: {:.0} records/s", n as f64 / elapsed.as_secs_f64());
    assert_eq!(processed(&ing), n as u64);
    ing.stop();

    let second = kl.put_per_shard("resume", &second);
    let ing = start(&spec, data.path());
    wait_idle(&ing);

    let mut model = Model::new("{}");
    for shard in 0..SHARDS as usize {
        model.apply_at(shard as u32, &as_messages(&first[shard]));
        model.apply_at(shard as u32, &as_messages(&second[shard]));
    }
    for shard in 0..SHARDS {
        assert_eq!(counters(&ing, shard), model.counters[&shard], "shard {shard}: every record counted once");
    }
    assert_eq!(docs(&ing), model.live());
}

/// As tests/integration/cli.rs does for files: SIGKILLs `sluice run` at
/// random points while it ingests from kinesalite, restarts it, and compares
/// the final sinks with the reference model.
#[test]
fn sigkill_at_random_points_loses_nothing_and_doubles_nothing() {
    const SHARDS: u32 = 2;
    const MESSAGES: usize = 12_000;
    let kl = Kinesalite::start();
    kl.create_stream("crash", SHARDS as i32);
    // Put in 7 parts, the last one only after the 6th kill (see
    // sigkill_repeatedly), so the ingestion cannot finish before the kills.
    let parts = split_parts(&generated_stream(SHARDS, MESSAGES, 42), 7);
    let sizes: Vec<u64> = parts.iter().map(|p| p.iter().map(|l| l.len() as u64).sum()).collect();
    let mut lines: Vec<Vec<(Pointer, String)>> = vec![Vec::new(); SHARDS as usize];
    let feed = |k: usize| {
        for (shard, landed) in kl.put_per_shard("crash", &parts[k]).into_iter().enumerate() {
            lines[shard].extend(landed);
        }
    };
    // Small batches: many commits, and the 5 calls/s per shard limit makes
    // the ingestion last long enough to be killed in the middle.
    let rig = RunRig::new(&kl.spec(
        "crash",
        "crash",
        SHARDS,
        json!({"poll.max_batch_size": 250, "internal_queue_size": 1000}),
    ));

    let started = Instant::now();
    // The kill delay adapts: longer when start-up (plugin compilation,
    // ListShards) is slow under load, shorter when one run commits too much.
    let kills = sigkill_repeatedly(6, &sizes, feed, || rig.committed(), || rig.follow_command());
    eprintln!("{kills} ({:?}); committed before the final run: {} of {MESSAGES}", started.elapsed(), rig.committed());
    let mut model = Model::new("{}");
    for (shard, l) in lines.iter().enumerate() {
        model.apply_at(shard as u32, &as_messages(l));
    }

    rig.finish_and_check(&model);
    for (shard, sink) in open_sinks(&rig.data, &rig.spec).unwrap().iter().enumerate() {
        assert_eq!(
            sink.meta().unwrap().last_pointer.as_ref(),
            lines[shard].last().map(|(p, _)| p),
            "shard {shard} checkpoint"
        );
    }
}

#[test]
fn kinesalite_frozen_longer_than_the_client_timeouts_then_thawed_loses_and_repeats_nothing() {
    const SHARDS: u32 = 2;
    let kl = Kinesalite::start();
    kl.create_stream("outage", SHARDS as i32);
    let lines = generated_stream(SHARDS, 8_000, 11);
    let (first, second): (Vec<_>, Vec<_>) = lines
        .iter()
        .map(|l| {
            let (a, b) = l.split_at(l.len() * 3 / 4);
            (a.to_vec(), b.to_vec())
        })
        .unzip();
    let first = kl.put_per_shard("outage", &first);
    let total_first: u64 = first.iter().map(|l| l.len() as u64).sum();
    let data = tempfile::tempdir().unwrap();
    // 5 calls/s x 100 records x 2 shards: about 6 s to drain, frozen early on.
    let ing = start(&kl.spec("outage", "outage", SHARDS, json!({"poll.max_batch_size": 100})), data.path());
    wait_for(&ing, Duration::from_secs(20), "the first commits", |s| {
        s.iter().all(|s| s.meta.counters.total_processed_count >= 200)
    });

    kl.freeze();
    let frozen_at = processed(&ing);
    let freeze = OPERATION_TIMEOUT + Duration::from_secs(2);
    std::thread::sleep(freeze);
    let during = ing.status();
    kl.thaw();
    eprintln!(
        "froze kinesalite for {freeze:?} at {frozen_at}/{total_first} committed; shards then: {:?}",
        during.iter().map(|s| (s.state, s.last_error.as_ref().map(|e| e.message.clone()))).collect::<Vec<_>>()
    );
    assert!(frozen_at < total_first, "the outage must hit mid-ingestion");
    for s in &during {
        let error = s.last_error.as_ref().map(|e| e.message.as_str()).unwrap_or_default();
        assert!(error.contains("source unavailable"), "shard {} shows the outage: {error:?} ({:?})", s.shard, s.state);
    }

    // After the thaw, ingestion goes on by itself, including new records.
    let second = kl.put_per_shard("outage", &second);
    let total: u64 = lines.iter().map(|l| l.len() as u64).sum();
    wait_for(&ing, Duration::from_secs(40), "every record after the thaw", |s| {
        s.iter().map(|s| s.meta.counters.total_processed_count).sum::<u64>() == total
    });
    wait_idle(&ing);

    let mut model = Model::new("{}");
    for shard in 0..SHARDS as usize {
        model.apply_at(shard as u32, &as_messages(&first[shard]));
        model.apply_at(shard as u32, &as_messages(&second[shard]));
    }
    for shard in 0..SHARDS {
        assert_eq!(counters(&ing, shard), model.counters[&shard], "shard {shard}: nothing lost, nothing repeated");
    }
    assert_eq!(docs(&ing), model.live());
}

#[test]
fn a_split_shard_is_drained_to_closed_and_its_children_are_read() {
    let kl = Kinesalite::start();
    kl.create_stream("split", 1);
    let before: Vec<Put> =
        (0..50).map(|i| Put { key: format!("p{i}"), hash_key: None, data: format!("parent-{i}") }).collect();
    kl.put("split", &before);

    let data = tempfile::tempdir().unwrap();
    // Three shards: the parent keeps partition 0, the children get 1 and 2.
    let spec = kl.spec("split", "split", 3, json!({"poll.max_batch_size": 20}));
    let ing = start_with_plugin(&spec, data.path(), echo());
    wait_for(&ing, Duration::from_secs(20), "the parent's records", |s| s[0].meta.counters.total_processed_count == 50);

    let middle = (u128::MAX / 2 + 1).to_string();
    kl.split("split", "shardId-000000000000", &middle);
    let shards = kl.shards("split");
    assert_eq!(
        shards.iter().map(|(id, _, open)| (id.as_str(), *open)).collect::<Vec<_>>(),
        [("shardId-000000000000", false), ("shardId-000000000001", true), ("shardId-000000000002", true)]
    );
    let after: Vec<Put> = (0..40)
        .map(|i| Put { key: format!("c{i}"), hash_key: Some(shards[1 + i % 2].1.clone()), data: format!("child-{i}") })
        .collect();
    kl.put("split", &after);

    wait_for(&ing, Duration::from_secs(30), "parent CLOSED, children read", |s| {
        s[0].state == PollerState::Closed
            && s[0].idle
            && s[1].meta.counters.total_processed_count == 20
            && s[2].meta.counters.total_processed_count == 20
    });
    let polled = ing.status()[0].consumer.total_polled_count;
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ing.status()[0].state, PollerState::Closed, "stays CLOSED");
    assert_eq!(ing.status()[0].consumer.total_polled_count, polled);
    let expect =
        |prefix: &str, range: std::ops::Range<usize>| range.map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
    assert_eq!(payloads(&ing, 0), expect("parent", 0..50));
    assert_eq!(payloads(&ing, 1), (0..40).step_by(2).map(|i| format!("child-{i}")).collect::<Vec<_>>());
    assert_eq!(payloads(&ing, 2), (1..40).step_by(2).map(|i| format!("child-{i}")).collect::<Vec<_>>());
    wait_idle(&ing);
    ing.stop();

    // A restart finds the parent closed again at once and repeats nothing.
    let ing = start_with_plugin(&spec, data.path(), echo());
    wait_for(&ing, Duration::from_secs(20), "CLOSED after a restart", |s| s[0].state == PollerState::Closed);
    wait_idle(&ing);
    let counts: Vec<u64> = ing.status().iter().map(|s| s.meta.counters.total_processed_count).collect();
    assert_eq!(counts, [50, 20, 20]);
}

#[test]
fn a_checkpoint_that_no_longer_exists_blocks_the_shard_until_a_reset() {
    let kl = Kinesalite::start();
    kl.create_stream("gone", 1);
    let put = |prefix: &str| {
        let puts: Vec<Put> =
            (0..5).map(|i| Put { key: format!("{i}"), hash_key: None, data: format!("{prefix}{i}") }).collect();
        kl.put("gone", &puts)
    };
    put("old");
    let data = tempfile::tempdir().unwrap();
    let spec = kl.spec("gone", "gone", 1, json!({}));
    let ing = start_with_plugin(&spec, data.path(), echo());
    wait_idle(&ing);
    ing.stop();

    // Deleted and created again: the checkpoint's sequence number is from
    // another stream (as after a trim by retention, it is not in the shard).
    kl.delete_stream("gone");
    // kinesalite tells streams apart by their creation second.
    std::thread::sleep(Duration::from_millis(1100));
    kl.create_stream("gone", 1);
    put("new");
    let ing = start_with_plugin(&spec, data.path(), echo());
    wait_for(&ing, Duration::from_secs(20), "BLOCKED", |s| s[0].state == PollerState::Blocked);
    let blocked = ing.status()[0].blocked.clone().unwrap();
    assert_eq!(blocked.cause, BlockCause::PositionLost);
    assert!(blocked.reason.contains("cannot resume at after"), "{}", blocked.reason);
    assert_eq!(processed(&ing), 5, "nothing skipped silently");

    ing.resume(None, &[(0, sluice::pointer::StartPosition::Earliest)]).unwrap();
    wait_for(&ing, Duration::from_secs(20), "the new records", |s| s[0].meta.counters.total_processed_count == 10);
    let got = payloads(&ing, 0);
    assert!(got.iter().filter(|p| p.starts_with("new")).count() == 5, "{got:?}");
}

/// Through a proxy that answers chosen GetRecords calls with errors:
/// throttling backs off and keeps the iterator, an expired iterator is
/// re-acquired AFTER_SEQUENCE_NUMBER the last record read, and calls respect
/// the service's limits. Every record is read once.
#[test]
fn throttling_and_expired_iterators_cost_nothing_and_calls_stay_within_the_limits() {
    let kl = Kinesalite::start();
    kl.create_stream("faults", 1);
    let puts: Vec<Put> = (0..100).map(|i| Put { key: format!("{i}"), hash_key: None, data: format!("r{i}") }).collect();
    let landed = kl.put("faults", &puts);
    let proxy = FaultProxy::start(
        &kl.endpoint,
        &[
            (3, "ExpiredIteratorException"),
            (5, "ProvisionedThroughputExceededException"),
            (6, "ProvisionedThroughputExceededException"),
        ],
    );
    let mut spec = kl.spec("faults", "faults", 1, json!({"poll.max_batch_size": 10}));
    spec["settings"]["ingestion_source"]["param"]["endpoint_override"] = json!(proxy.endpoint);
    let data = tempfile::tempdir().unwrap();
    let ing = start_with_plugin(&spec, data.path(), echo());
    wait_idle(&ing);
    assert_eq!(payloads(&ing, 0), (0..100).map(|i| format!("r{i}")).collect::<Vec<_>>());
    let status = &ing.status()[0];
    assert_eq!(status.consumer.total_polled_count, 100, "no record read twice");
    assert_eq!(status.meta.counters.total_processed_count, 100);

    let calls = proxy.calls();
    let records: Vec<&Call> = calls.iter().filter(|c| c.action == "GetRecords").collect();
    for c in &records {
        assert!(c.body["Limit"].as_i64().unwrap() <= 10, "a call asks for at most poll.max_batch_size: {:?}", c.body);
    }
    // The reader starts calls 200 ms apart; seen at the proxy, scheduling
    // on a loaded machine moves each arrival by a few ms.
    for w in records.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= Duration::from_millis(150), "GetRecords calls {gap:?} apart: more than 5 a second");
    }
    // Call 3 expired: a new iterator after the 20th record (two calls of 10).
    let expired = calls.iter().position(|c| c.fault == Some("ExpiredIteratorException")).unwrap();
    let reacquire = &calls[expired + 1];
    assert_eq!(reacquire.action, "GetShardIterator");
    assert_eq!(reacquire.body["ShardIteratorType"], "AFTER_SEQUENCE_NUMBER");
    assert_eq!(reacquire.body["StartingSequenceNumber"], json!(landed[19].sequence.to_string()));
    // Calls 5 and 6 throttled: the retries back off 500 ms, then 1 s, with the same iterator.
    let gaps: Vec<Duration> = records[4..7].windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(500) && gaps[1] >= Duration::from_millis(1000), "{gaps:?}");
    assert_eq!(records[4].body["ShardIterator"], records[5].body["ShardIterator"]);
    assert_eq!(records[5].body["ShardIterator"], records[6].body["ShardIterator"]);
    assert_eq!(
        calls.iter().filter(|c| c.action == "GetShardIterator").count(),
        2,
        "one at the start, one after expiry"
    );
}
