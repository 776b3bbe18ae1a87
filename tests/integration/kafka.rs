//! The Kafka source against librdkafka's mock cluster (the real broker
//! protocol over TCP): partitions into shards, reset modes, message metadata
//! in the guest, a broker outage, a lost position, and SIGKILL crash recovery
//! of the `sluice` binary reading a topic the test process serves.

use crate::support::kafka::{Kafka, TOPIC, rec};
use crate::support::*;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use sluice::engine::{IdleOutcome, Ingestion, PollerState};
use sluice::pointer::{Pointer, StartPosition};
use sluice::spec::IngestionSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Waits until `f` holds, or panics with `what` after `timeout`.
fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pointers of the echo guest's documents (`<shard>-<pointer>`), per shard.
fn echoed(ing: &Ingestion) -> BTreeMap<u32, BTreeSet<u64>> {
    let mut out: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for ((shard, _), (_, doc)) in docs(ing) {
        out.entry(shard).or_default().insert(doc["pointer"].as_str().unwrap().parse().unwrap());
    }
    out
}

fn range(r: std::ops::Range<u64>) -> BTreeSet<u64> {
    r.collect()
}

fn echo() -> sluice::plugin::CompiledPlugin {
    test_plugin("sluice_echo")
}

#[test]
fn a_three_partition_topic_fills_three_shards_or_five_with_two_empty_and_commits_group_offsets() {
    let kafka = Kafka::new(3);
    let mut expected = BTreeMap::new();
    for p in 0..3 {
        let msgs: Vec<String> =
            (0..40 + 10 * p).map(|i| msg(Some(&format!("p{p}-{i}")), None, "index", json!({"p": p, "i": i}))).collect();
        kafka.produce(p, &msgs);
        for i in 0..40 + 10 * p {
            expected.insert((p as u32, format!("p{p}-{i}")), (None, json!({"p": p, "i": i})));
        }
    }

    let data = tempfile::tempdir().unwrap();
    let spec = kafka.spec("three", 3, json!({"poll.max_batch_size": 7, "param": {"group.id": "sluice-lag"}}));
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    assert_eq!(docs(&ing), expected);
    for (shard, status) in ing.status().iter().enumerate() {
        assert_eq!(status.meta.counters.total_processed_count, 40 + 10 * shard as u64, "each message once");
        assert_eq!(status.consumer.pointer_based_lag, Some(0), "caught up with the high watermark");
    }
    // Progress is mirrored to the consumer group for lag tools (next offset =
    // high watermark); the last commits are flushed when the ingestion stops.
    drop(ing);
    let group = kafka.consumer(&[("group.id", "sluice-lag")]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(TOPIC, p);
    }
    let committed = group.committed_offsets(tpl, Duration::from_secs(5)).unwrap();
    for p in 0..3 {
        assert_eq!(committed.find_partition(TOPIC, p).unwrap().offset(), Offset::Offset(40 + 10 * p as i64));
    }

    // Five shards: shard N still reads partition N; shards 3 and 4 stay empty and idle.
    let data5 = tempfile::tempdir().unwrap();
    let ing = start(&kafka.spec("five", 5, json!({})), data5.path());
    wait_idle(&ing);
    assert_eq!(docs(&ing), expected);
    let status = ing.status();
    assert!(status[3..].iter().all(|s| s.idle && s.meta.counters.total_processed_count == 0 && s.last_error.is_none()));
    drop(ing);

    // Fewer shards than partitions is an error at creation.
    let spec = IngestionSpec::from_value(&kafka.spec("two", 2, json!({}))).unwrap();
    let err =
        sluice::wiring::start_ingestion(spec, plugin(), data5.path(), Default::default()).err().unwrap().to_string();
    assert!(err.contains("3 partitions") && err.contains("2 shards"), "{err}");
}

#[test]
fn every_reset_mode_starts_where_it_says() {
    let kafka = Kafka::new(1);
    // Offsets 0..10 with create times 1000, 1100, ... 1900.
    for i in 0..10_i64 {
        let payload = format!("m{i}");
        kafka.send(rec().partition(0).payload(payload.as_bytes()).timestamp(1000 + 100 * i));
    }
    kafka.flush();

    let run = |name: &str, reset: Value| {
        let data = tempfile::tempdir().unwrap();
        let ing = start_with_plugin(&kafka.spec(name, 1, reset), data.path(), echo());
        wait_idle(&ing);
        (echoed(&ing).remove(&0).unwrap_or_default(), ing, data)
    };
    assert_eq!(run("earliest", json!({"pointer.init.reset": "earliest"})).0, range(0..10));
    assert_eq!(
        run("by-offset", json!({"pointer.init.reset": "reset_by_offset", "pointer.init.reset.value": 4})).0,
        range(4..10)
    );
    // The first message at or after 1450 ms is offset 5 (1500 ms).
    assert_eq!(
        run("by-time", json!({"pointer.init.reset": "reset_by_timestamp", "pointer.init.reset.value": 1450})).0,
        range(5..10)
    );
    // After the newest message: nothing now, then whatever comes (Kafka's behaviour).
    let (seen, ing, _data) =
        run("by-late-time", json!({"pointer.init.reset": "reset_by_timestamp", "pointer.init.reset.value": 5000}));
    assert!(seen.is_empty());
    let (seen, latest, _data2) = run("latest", json!({"pointer.init.reset": "latest"}));
    assert!(seen.is_empty(), "latest skips what is already there");
    kafka.produce(0, &["n10", "n11"]);
    for i in [&ing, &latest] {
        wait_for(Duration::from_secs(10), "new messages", || echoed(i).get(&0).is_some_and(|s| s.len() == 2));
        assert_eq!(echoed(i)[&0], range(10..12));
    }
}

#[test]
fn key_headers_timestamp_and_tombstones_reach_the_guest() {
    let kafka = Kafka::new(2);
    let headers = OwnedHeaders::new()
        .insert(Header { key: "trace", value: Some("abc") })
        .insert(Header { key: "empty", value: None::<&[u8]> });
    kafka.send(
        rec().partition(1).key(&b"user-7"[..]).payload(&b"{\"a\":1}"[..]).headers(headers).timestamp(1_700_000_000_123),
    );
    kafka.send(rec().partition(1).key(&b"user-7"[..])); // tombstone: no payload
    kafka.send(rec().partition(1).payload(&b"plain"[..]).timestamp(1_700_000_000_999));
    kafka.flush();

    let data = tempfile::tempdir().unwrap();
    let ing = start_with_plugin(&kafka.spec("meta", 2, json!({})), data.path(), echo());
    wait_idle(&ing);
    let got = docs(&ing);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(
        got[&(1, "1-0".to_string())].1,
        json!({"shard": 1, "pointer": "0", "timestamp_ms": 1_700_000_000_123_i64, "key": "user-7",
               "headers": {"trace": "abc", "empty": null}, "payload": "{\"a\":1}"})
    );
    assert_eq!(
        got[&(1, "1-2".to_string())].1,
        json!({"shard": 1, "pointer": "2", "timestamp_ms": 1_700_000_000_999_i64, "key": null, "headers": {}, "payload": "plain"})
    );
    let c = counters(&ing, 1);
    assert_eq!((c.total_processed_count, c.total_skipped_count), (3, 1), "the tombstone reached the guest (skipped)");
}

#[test]
fn a_broker_outage_shows_in_the_shard_state_and_ingestion_resumes_with_nothing_lost_or_repeated() {
    let kafka = Kafka::new(2);
    let batch = |from: usize, n: usize| -> Vec<String> {
        (from..from + n).map(|i| msg(Some(&format!("d{i}")), Some(1), "index", json!({"i": i}))).collect()
    };
    kafka.produce(0, &batch(0, 150));
    kafka.produce(1, &batch(150, 150));
    let data = tempfile::tempdir().unwrap();
    let ing = start(&kafka.spec("outage", 2, json!({"poll.max_batch_size": 20})), data.path());
    wait_idle(&ing);
    assert_eq!(docs(&ing).len(), 300);

    kafka.mock.broker_down(-1).unwrap();
    // Retrying, then Starting while a new session waits for the broker, and so on.
    let mut retried = [false; 2];
    wait_for(Duration::from_secs(15), "shards retrying with the outage in their state", || {
        for s in ing.status() {
            let outage = s
                .last_error
                .as_ref()
                .is_some_and(|e| e.message.contains("unreachable") || e.message.contains("cannot reach Kafka"));
            retried[s.shard as usize] |= outage && s.state == PollerState::Retrying;
        }
        retried == [true, true]
    });
    // Written while the broker is down: the producer delivers them when it is back.
    for p in 0..2 {
        for m in batch(300 + 100 * p as usize, 100) {
            kafka.send(rec().partition(p).payload(m.as_bytes()));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    kafka.mock.broker_up(-1).unwrap();
    kafka.flush();
    assert_eq!((kafka.watermarks(0).1, kafka.watermarks(1).1), (250, 250));

    wait_for(Duration::from_secs(20), "every message after the outage", || docs(&ing).len() == 500);
    wait_idle(&ing);
    assert_eq!(
        docs(&ing).keys().map(|(_, id)| id.clone()).collect::<BTreeSet<_>>(),
        (0..500).map(|i| format!("d{i}")).collect()
    );
    for shard in 0..2 {
        let c = counters(&ing, shard);
        assert_eq!(
            (c.total_processed_count, c.total_version_conflicts_count),
            (250, 0),
            "shard {shard}: each message once"
        );
    }
    assert!(ing.status().iter().all(|s| s.state != PollerState::Retrying));
}

#[test]
fn a_missing_topic_or_unreachable_broker_is_a_clear_error_and_a_vanished_topic_is_retried_until_it_is_back() {
    let kafka = Kafka::new(1);
    let data = tempfile::tempdir().unwrap();
    let start_err = |spec: Value| {
        let spec = IngestionSpec::from_value(&spec).unwrap();
        sluice::wiring::start_ingestion(spec, plugin(), data.path(), Default::default()).err().unwrap().to_string()
    };
    let err = start_err(kafka.spec("missing", 1, json!({"param": {"topic": "nope"}})));
    assert!(err.contains(r#"Kafka topic "nope" does not exist at 127.0.0.1:"#), "{err}");
    // A port nothing listens on (the mock's own listener of a dropped cluster).
    let gone = Kafka::new(1).bootstrap();
    let err = start_err(kafka.spec("unreachable", 1, json!({"param": {"bootstrap_servers": gone}})));
    assert!(err.contains(&format!("cannot reach Kafka at {gone}")), "{err}");

    // At run time: the topic vanishes from the metadata, the shard says so
    // and retries; when the topic is back, ingestion goes on by itself.
    kafka.produce(0, &[msg(Some("a"), None, "index", json!({}))]);
    let ing = start(&kafka.spec("vanish", 1, json!({})), data.path());
    wait_idle(&ing);
    kafka.mock.topic_error(TOPIC, rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART).unwrap();
    ing.pause(None).unwrap();
    wait_for(Duration::from_secs(10), "paused", || ing.status()[0].state == PollerState::Paused);
    ing.resume(None, &[]).unwrap(); // a new session looks the topic up again
    wait_for(Duration::from_secs(10), "the shard retrying on the missing topic", || {
        let s = &ing.status()[0];
        s.state == PollerState::Retrying && s.last_error.as_ref().is_some_and(|e| e.message.contains("does not exist"))
    });
    kafka.produce(0, &[msg(Some("b"), None, "index", json!({}))]);
    kafka.mock.topic_error(TOPIC, rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR).unwrap();
    wait_for(Duration::from_secs(15), "ingestion after the topic is back", || docs(&ing).len() == 2);
    assert_eq!(counters(&ing, 0).total_processed_count, 2);
}

#[test]
fn an_out_of_range_checkpoint_blocks_the_shard_until_a_reset() {
    let kafka = Kafka::new(1);
    kafka.produce(0, &(0..10).map(|i| format!("small {i}")).collect::<Vec<_>>());
    let data = tempfile::tempdir().unwrap();
    let spec = kafka.spec("lost", 1, json!({}));
    let ing = start_with_plugin(&spec, data.path(), echo());
    wait_idle(&ing);
    assert_eq!(echoed(&ing)[&0], range(0..10));
    drop(ing);

    // Retention: the mock keeps about 5 MiB per partition, so 7 MiB more
    // delete the oldest messages, including the checkpoint's next offset 10.
    let big = "x".repeat(100 * 1024);
    kafka.produce(0, &vec![big; 70]);
    let (low, high) = kafka.watermarks(0);
    assert!(low > 10 && high == 80, "retention moved the start to {low}");

    let ing = start_with_plugin(&spec, data.path(), echo());
    let blocked = match ing.wait_until_idle(Duration::from_secs(20)) {
        IdleOutcome::Blocked(b) => b,
        other => panic!("expected a blocked shard, got {other:?}"),
    };
    let reason = &blocked[0].1.reason;
    assert!(
        reason.contains("offset 10")
            && reason.contains(&format!("starts at offset {low}"))
            && reason.contains("retention"),
        "{reason}"
    );
    // (`blocked` is set a moment before the supervisor shows the state)
    wait_for(Duration::from_secs(5), "state BLOCKED", || ing.status()[0].state == PollerState::Blocked);
    assert_eq!(ing.status()[0].last_error.as_ref().unwrap().message, *reason);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ing.status()[0].state, PollerState::Blocked, "never a silent reset");

    ing.pause(None).unwrap();
    ing.resume(None, &[(0, StartPosition::Earliest)]).unwrap();
    wait_for(Duration::from_secs(20), "reading after the reset", || echoed(&ing)[&0].len() == 10 + (80 - low) as usize);
    wait_idle(&ing);
    assert_eq!(echoed(&ing)[&0], range(0..10).union(&range(low as u64..80)).copied().collect());
    assert!(ing.status()[0].blocked.is_none());
    drop(ing);

    // The topic recreated (a new cluster) with fewer messages: the checkpoint
    // is beyond its end.
    let recreated = Kafka::new(1);
    recreated.produce(0, &["a", "b", "c"]);
    let spec = recreated.spec("lost", 1, json!({}));
    let ing = start_with_plugin(&spec, data.path(), echo());
    let IdleOutcome::Blocked(blocked) = ing.wait_until_idle(Duration::from_secs(20)) else {
        panic!("expected blocked")
    };
    assert!(
        blocked[0].1.reason.contains("offset 80") && blocked[0].1.reason.contains("recreated"),
        "{}",
        blocked[0].1.reason
    );
    ing.pause(None).unwrap();
    ing.resume(None, &[(0, StartPosition::At(Pointer::Small(1)))]).unwrap();
    // (documents 0-1 and 0-2 exist from the first topic: count what is processed)
    let expected = 10 + (80 - low) as u64 + 2;
    wait_for(Duration::from_secs(20), "reading the recreated topic", || {
        counters(&ing, 0).total_processed_count == expected
    });
    wait_idle(&ing);
    assert_eq!(echoed(&ing)[&0], range(0..10).union(&range(low as u64..80)).copied().collect());
    assert_eq!(docs(&ing)[&(0, "0-2".to_string())].1["payload"], "c");
    assert_eq!(counters(&ing, 0).total_processed_count, expected);
}

/// SIGKILLs `sluice run` at random points while it ingests a 50,000-message
/// topic served by this test process, and checks that the final sinks hold
/// exactly what a model that applies every message once holds.
#[test]
fn sigkill_while_ingesting_from_kafka_loses_nothing_and_doubles_nothing() {
    const SHARDS: u32 = 3;
    const MESSAGES: usize = 50_000;
    let kafka = Kafka::new(SHARDS as i32);
    let mut model = Model::new("{}");
    let lines = generated_stream(SHARDS, MESSAGES, 7);
    for (shard, lines) in lines.iter().enumerate() {
        model.apply(shard as u32, 0, lines);
    }
    // Produced in 7 parts, the last one only after the 6th kill (see
    // sigkill_repeatedly): however fast or slow the machine, the ingestion
    // cannot finish before the kills are done.
    let parts = split_parts(&lines, 7);
    let sizes: Vec<u64> = parts.iter().map(|p| p.iter().map(|l| l.len() as u64).sum()).collect();
    let feed = |k: usize| {
        for (shard, lines) in parts[k].iter().enumerate() {
            for l in lines {
                kafka.send(rec().partition(shard as i32).payload(l.as_bytes()));
            }
        }
        kafka.flush();
    };

    let rig =
        RunRig::new(&kafka.spec("kcrash", SHARDS, json!({"poll.max_batch_size": 20, "internal_queue_size": 100})));
    let kills = sigkill_repeatedly(6, &sizes, feed, || rig.committed(), || rig.follow_command());
    eprintln!("{kills}; committed before the final run: {} of {MESSAGES}", rig.committed());
    for shard in 0..SHARDS {
        assert_eq!(kafka.watermarks(shard as i32), (0, model.counters[&shard].total_processed_count as i64));
    }
    rig.finish_and_check(&model);
}

/// Record batches compressed with each codec librdkafka offers (zstd
/// included: this build has it) end as the reference model's documents.
#[test]
fn every_compression_codec_is_read() {
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let kafka = Kafka::compressed(2, codec);
        let mut model = Model::new("{}");
        for (shard, lines) in generated_stream(2, 400, 11).iter().enumerate() {
            for l in lines {
                kafka.send(rec().partition(shard as i32).payload(l.as_bytes()));
            }
            model.apply(shard as u32, 0, lines);
        }
        kafka.flush();
        let data = tempfile::tempdir().unwrap();
        let ing = start(&kafka.spec(codec, 2, json!({})), data.path());
        wait_idle(&ing);
        assert_eq!(docs(&ing), model.live(), "{codec}");
        for shard in 0..2 {
            assert_eq!(counters(&ing, shard), model.counters[&shard], "{codec}: shard {shard}");
        }
        ing.stop();
    }
}

/// TLS and SASL over TLS (what managed clusters ask for) are in this build:
/// such consumer properties are accepted, where a build without them refuses
/// them at creation. (The mock cluster speaks plaintext only, so the TLS
/// handshake itself is not exercised here.)
#[test]
fn tls_and_sasl_over_tls_properties_are_accepted() {
    use sluice::source::kafka::KafkaSource;
    let params = |extra: &[(&str, &str)]| {
        let mut p = BTreeMap::from([
            ("topic".to_string(), TOPIC.to_string()),
            ("bootstrap_servers".to_string(), "127.0.0.1:9".to_string()),
        ]);
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    };
    for extra in [
        &[("security.protocol", "SSL")][..],
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ],
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ],
    ] {
        if let Err(e) = KafkaSource::from_params(&params(extra)) {
            panic!("{extra:?}: {e}");
        }
    }
    // A property librdkafka does not know is still a clear error.
    let err = KafkaSource::from_params(&params(&[("ssl.no.such.thing", "x")])).err().expect("refused");
    assert!(err.to_string().contains("ssl.no.such.thing"), "{err}");
}
