//! Druid supervisor specs through `sluice run` and the built-in `druid`
//! plugin: Druid's rollup tutorial through the Kafka mock cluster gives the
//! tutorial's rows, and a rollup stream SIGKILLed repeatedly ends with every
//! row equal to a reference model that aggregates each event once (while a
//! test-only at-least-once replay would not).

use crate::support::kafka::Kafka;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The network-flow events of Druid's `docs/tutorials/tutorial-rollup.md`.
const TUTORIAL_EVENTS: &[&str] = &[
    r#"{"timestamp":"2018-01-01T01:01:35Z","srcIP":"1.1.1.1", "dstIP":"2.2.2.2","packets":20,"bytes":9024}"#,
    r#"{"timestamp":"2018-01-01T01:01:51Z","srcIP":"1.1.1.1", "dstIP":"2.2.2.2","packets":255,"bytes":21133}"#,
    r#"{"timestamp":"2018-01-01T01:01:59Z","srcIP":"1.1.1.1", "dstIP":"2.2.2.2","packets":11,"bytes":5780}"#,
    r#"{"timestamp":"2018-01-01T01:02:14Z","srcIP":"1.1.1.1", "dstIP":"2.2.2.2","packets":38,"bytes":6289}"#,
    r#"{"timestamp":"2018-01-01T01:02:29Z","srcIP":"1.1.1.1", "dstIP":"2.2.2.2","packets":377,"bytes":359971}"#,
    r#"{"timestamp":"2018-01-01T01:03:29Z","srcIP":"1.1.1.1", "dstIP":"2.2.2.2","packets":49,"bytes":10204}"#,
    r#"{"timestamp":"2018-01-02T21:33:14Z","srcIP":"7.7.7.7", "dstIP":"8.8.8.8","packets":38,"bytes":6289}"#,
    r#"{"timestamp":"2018-01-02T21:33:45Z","srcIP":"7.7.7.7", "dstIP":"8.8.8.8","packets":123,"bytes":93999}"#,
    r#"{"timestamp":"2018-01-02T21:35:45Z","srcIP":"7.7.7.7", "dstIP":"8.8.8.8","packets":12,"bytes":2818}"#,
];

/// The tutorial's ingestion spec as a Kafka supervisor spec (its dataSchema
/// as it is; the ioConfig of Druid's Kafka indexing docs).
fn tutorial_supervisor(bootstrap: &str, topic: &str, rollup: bool) -> Value {
    json!({
        "type": "kafka",
        "spec": {
            "dataSchema": {
                "dataSource": "rollup-tutorial",
                "dimensionsSpec": {"dimensions": ["srcIP", "dstIP"]},
                "timestampSpec": {"column": "timestamp", "format": "iso"},
                "metricsSpec": [
                    {"type": "count", "name": "count"},
                    {"type": "longSum", "name": "packets", "fieldName": "packets"},
                    {"type": "longSum", "name": "bytes", "fieldName": "bytes"}
                ],
                "granularitySpec": {
                    "type": "uniform",
                    "segmentGranularity": "week",
                    "queryGranularity": "minute",
                    "intervals": ["2018-01-01/2018-01-03"],
                    "rollup": rollup
                }
            },
            "ioConfig": {
                "topic": topic,
                "inputFormat": {"type": "json"},
                "consumerProperties": {"bootstrap.servers": bootstrap},
                "taskCount": 1,
                "replicas": 1,
                "taskDuration": "PT1H",
                "useEarliestOffset": true
            },
            "tuningConfig": {"type": "kafka", "maxRowsPerSegment": 5000000, "maxRowsInMemory": 25000}
        }
    })
}

fn row(t: &str, bytes: i64, count: i64, dst: &str, packets: i64, src: &str) -> Value {
    json!({"__time": t, "bytes": bytes, "count": count, "dstIP": dst, "packets": packets, "srcIP": src})
}

/// The rows of the tutorial's `select * from "rollup-tutorial"`.
fn tutorial_rows() -> Vec<Value> {
    vec![
        row("2018-01-01T01:01:00.000Z", 35937, 3, "2.2.2.2", 286, "1.1.1.1"),
        row("2018-01-01T01:02:00.000Z", 366260, 2, "2.2.2.2", 415, "1.1.1.1"),
        row("2018-01-01T01:03:00.000Z", 10204, 1, "2.2.2.2", 49, "1.1.1.1"),
        row("2018-01-02T21:33:00.000Z", 100288, 2, "8.8.8.8", 161, "7.7.7.7"),
        row("2018-01-02T21:35:00.000Z", 2818, 1, "8.8.8.8", 12, "7.7.7.7"),
    ]
}

/// Rows by `__time`, then source address.
fn sorted(rows: &[(String, Value)]) -> Vec<Value> {
    let mut got: Vec<Value> = rows.iter().map(|(_, r)| r.clone()).collect();
    got.sort_by_key(|r| (r["__time"].as_str().unwrap().to_string(), r["srcIP"].as_str().unwrap().to_string()));
    got
}

/// The README's rollup quick start (`examples/rollup.json`: the tutorial's
/// events in a file, no broker) gives the tutorial's rows.
#[test]
fn the_rollup_quick_start_gives_the_tutorials_rows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("examples/rollup.json")).unwrap()).unwrap();
    let mut spec = spec;
    // The spec's base directory is relative to the spec file; run_and_scan writes it elsewhere.
    spec["spec"]["ioConfig"]["baseDirectory"] = json!(root.join("examples/streams").to_str().unwrap());
    assert_eq!(sorted(&run_and_scan(&spec, "rollup-tutorial")), tutorial_rows());
}

/// `sluice run <spec> --until-idle`, then every row of the ingestion as
/// `sluice docs scan` prints it: (_id, _source) in id order per shard.
fn run_and_scan(spec: &Value, name: &str) -> Vec<(String, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("supervisor.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let data = dir.path().join("data");
    let sluice = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success(), "sluice {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    sluice(&["run", spec_path.to_str().unwrap(), "--until-idle"]);
    sluice(&["docs", "scan", name, "--limit", "0"])
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["_id"].as_str().unwrap().to_string(), v["_source"].clone())
        })
        .collect()
}

#[test]
fn the_rollup_tutorial_through_kafka_gives_the_tutorials_rows_and_without_rollup_every_event() {
    let kafka = Kafka::new(1);
    kafka.produce(0, TUTORIAL_EVENTS);
    // Rolled up: exactly the tutorial's `select * from "rollup-tutorial"`.
    let rows =
        run_and_scan(&tutorial_supervisor(&kafka.bootstrap(), crate::support::kafka::TOPIC, true), "rollup-tutorial");
    assert_eq!(sorted(&rows), tutorial_rows());
    // Without rollup every event is its own row (its time still truncated
    // to the query granularity), id'd by its shard and offset.
    let rows =
        run_and_scan(&tutorial_supervisor(&kafka.bootstrap(), crate::support::kafka::TOPIC, false), "rollup-tutorial");
    assert_eq!(rows.len(), TUTORIAL_EVENTS.len());
    for (offset, event) in TUTORIAL_EVENTS.iter().enumerate() {
        let event: Value = serde_json::from_str(event).unwrap();
        let (_, r) = rows.iter().find(|(id, _)| *id == format!("0-{offset}")).expect("one row per event");
        let minute = format!("{}:00.000Z", &event["timestamp"].as_str().unwrap()[..16]);
        let (bytes, packets) = (event["bytes"].as_i64().unwrap(), event["packets"].as_i64().unwrap());
        let (dst, src) = (event["dstIP"].as_str().unwrap(), event["srcIP"].as_str().unwrap());
        assert_eq!(*r, row(&minute, bytes, 1, dst, packets, src), "event at offset {offset}");
    }
}

/// A generated flow event: few enough keys that many events share a row.
fn flow_event(rng: &mut u64, i: usize) -> Value {
    let mut next = |n: u64| {
        *rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*rng >> 33) % n
    };
    // Over two hours of 2018-01-01, minute granularity: ~120 x 8 x 3 keys.
    let ms = 1_514_768_400_000u64 + next(7_200_000);
    json!({
        "timestamp": ms,
        "srcIP": format!("10.0.0.{}", next(8)),
        "dstIP": format!("10.9.9.{}", next(3)),
        "packets": next(1000),
        "bytes": next(1_000_000),
        "latency": next(5000) as f64 / 4.0,
        "tag": format!("t{i}"),
    })
}

/// The supervisor spec of the crash test: sluice's file source (a Druid
/// spec extension), three partitions, every kind of metric.
fn flows_supervisor(base: &Path) -> Value {
    json!({
        "type": "file",
        "dataSchema": {
            "dataSource": "flows",
            "timestampSpec": {"column": "timestamp", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["srcIP", "dstIP"]},
            "metricsSpec": [
                {"type": "count", "name": "count"},
                {"type": "longSum", "name": "packets", "fieldName": "packets"},
                {"type": "longSum", "name": "bytes", "fieldName": "bytes"},
                {"type": "longMax", "name": "maxBytes", "fieldName": "bytes"},
                {"type": "longMin", "name": "minPackets", "fieldName": "packets"},
                {"type": "doubleSum", "name": "latency", "fieldName": "latency"},
                {"type": "stringFirst", "name": "firstTag", "fieldName": "tag"},
                {"type": "stringLast", "name": "lastTag", "fieldName": "tag"}
            ],
            "granularitySpec": {"segmentGranularity": "hour", "queryGranularity": "minute", "rollup": true}
        },
        "ioConfig": {"stream": "events", "baseDirectory": base.to_str().unwrap(), "inputFormat": {"type": "json"},
            "useEarliestOffset": true}
    })
}

/// A row's key in these tests: (shard, minute, srcIP, dstIP).
type RowKey = (u32, String, String, String);
type Rows = BTreeMap<RowKey, Value>;

/// Rows keyed by (shard, minute, srcIP, dstIP): what each shard's sink must
/// hold when every event is aggregated exactly once, in stream order.
fn reference_rows(lines: &[Vec<String>]) -> Rows {
    // Each row with the event times of its first and last tags.
    let mut rows: BTreeMap<RowKey, (Value, i64, i64)> = BTreeMap::new();
    for (shard, lines) in lines.iter().enumerate() {
        for line in lines {
            let e: Value = serde_json::from_str(line).unwrap();
            let ms = e["timestamp"].as_i64().unwrap();
            let minute = sluice::util::rfc3339(ms - ms % 60_000);
            let key = (
                shard as u32,
                minute.clone(),
                e["srcIP"].as_str().unwrap().to_string(),
                e["dstIP"].as_str().unwrap().to_string(),
            );
            let (packets, bytes, latency, tag) = (
                e["packets"].as_i64().unwrap(),
                e["bytes"].as_i64().unwrap(),
                e["latency"].as_f64().unwrap(),
                e["tag"].clone(),
            );
            let entry = rows.entry(key).or_insert_with(|| {
                (json!({"__time": minute, "srcIP": e["srcIP"], "dstIP": e["dstIP"], "count": 0, "packets": 0, "bytes": 0,
                    "maxBytes": bytes, "minPackets": packets, "latency": 0.0, "firstTag": tag, "lastTag": tag}), ms, ms)
            });
            let (row, first_at, last_at) = entry;
            row["count"] = (row["count"].as_i64().unwrap() + 1).into();
            row["packets"] = (row["packets"].as_i64().unwrap() + packets).into();
            row["bytes"] = (row["bytes"].as_i64().unwrap() + bytes).into();
            row["maxBytes"] = row["maxBytes"].as_i64().unwrap().max(bytes).into();
            row["minPackets"] = row["minPackets"].as_i64().unwrap().min(packets).into();
            row["latency"] = (row["latency"].as_f64().unwrap() + latency).into();
            if ms < *first_at {
                (*first_at, row["firstTag"]) = (ms, tag.clone());
            }
            if ms >= *last_at {
                (*last_at, row["lastTag"]) = (ms, tag);
            }
        }
    }
    rows.into_iter().map(|(k, (row, _, _))| (k, row)).collect()
}

/// Every row of every shard of `flows`, keyed like [`reference_rows`].
fn stored_rows(rig: &RunRig) -> Rows {
    let sinks = sluice::wiring::open_sinks(&rig.data, &rig.spec).unwrap();
    let mut out = BTreeMap::new();
    for (shard, sink) in sinks.iter().enumerate() {
        let mut after = None;
        loop {
            let page = sink.scan(after.as_deref(), 1000).unwrap();
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (_, doc) in page {
                let row: Value = serde_json::from_slice(&doc.source).unwrap();
                let key = (
                    shard as u32,
                    row["__time"].as_str().unwrap().to_string(),
                    row["srcIP"].as_str().unwrap().to_string(),
                    row["dstIP"].as_str().unwrap().to_string(),
                );
                out.insert(key, row);
            }
        }
    }
    out
}

/// Messages behind the committed checkpoints of every shard: the stream
/// position, which (unlike the processed counter) a replay does not move.
fn committed_position(rig: &RunRig) -> u64 {
    match sluice::wiring::open_sinks(&rig.data, &rig.spec) {
        Ok(sinks) => sinks.iter().map(|s| s.meta().unwrap().last_pointer.map_or(0, |p| p.as_u64().unwrap() + 1)).sum(),
        Err(_) => 0,
    }
}

/// One crash run over a fresh stream and data directory; returns the rows
/// and how the kills landed. `replay`: the test-only at-least-once hook.
fn crash_run(lines: &[Vec<String>], replay: Option<u64>) -> (Rows, Kills) {
    let stream = Stream::new(3);
    let mut spec = flows_supervisor(stream.dir.path());
    sluice::spec::set_shards(&mut spec, 3);
    let rig = RunRig::new(&spec);
    let parts = split_parts(lines, 8);
    let sizes: Vec<u64> = parts.iter().map(|p| p.iter().map(|s| s.len() as u64).sum()).collect();
    let command = || {
        let mut c = rig.follow_command();
        if let Some(n) = replay {
            c.env("SLUICE_TEST_REPLAY_COMMITTED", n.to_string());
        }
        c
    };
    let kills = sigkill_repeatedly(
        5,
        &sizes,
        |k| {
            for (shard, part) in parts[k].iter().enumerate() {
                stream.append(shard as u32, part);
            }
        },
        || committed_position(&rig),
        command,
    );
    let mut last = rig.command();
    if let Some(n) = replay {
        last.env("SLUICE_TEST_REPLAY_COMMITTED", n.to_string());
    }
    let out = last.output().unwrap();
    assert!(out.status.success(), "final run failed: {}", String::from_utf8_lossy(&out.stderr));
    (stored_rows(&rig), kills)
}

#[test]
fn rollup_under_repeated_sigkills_equals_a_model_that_counts_each_event_once() {
    let mut rng = 7u64;
    let lines: Vec<Vec<String>> = (0..3)
        .map(|shard| {
            (0..33_334 - (shard > 0) as usize).map(|i| flow_event(&mut rng, shard * 100_000 + i).to_string()).collect()
        })
        .collect();
    assert_eq!(lines.iter().map(Vec::len).sum::<usize>(), 100_000);
    let model = reference_rows(&lines);
    let (rows, kills) = crash_run(&lines, None);
    eprintln!("exactly once: {kills}; {} rows", rows.len());
    assert!(kills.landed >= 5, "{kills}");
    assert_eq!(rows.len(), model.len(), "one row per (shard, minute, srcIP, dstIP)");
    for (key, want) in &model {
        assert_eq!(rows.get(key), Some(want), "row {key:?}");
    }
    let total: i64 = rows.values().map(|r| r["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 100_000, "every event counted once");

    // The same kills with at-least-once delivery (each restart re-applies up
    // to 200 committed messages): counts and sums come out too high.
    let (replayed, kills) = crash_run(&lines, Some(200));
    let total: i64 = replayed.values().map(|r| r["count"].as_i64().unwrap()).sum();
    let wrong = model.iter().filter(|(k, want)| replayed.get(*k) != Some(*want)).count();
    eprintln!(
        "at-least-once ({kills}): {} events counted twice, {wrong} of {} rows wrong",
        total - 100_000,
        model.len()
    );
    assert!(total > 100_000 && wrong > 0, "a replay of committed messages counts events twice");
}

/// Late and early rejection are judged against the reference time stored
/// with the checkpoint, not the wall clock: with the sink's reference time
/// set to 2018-01-02T01:00Z, `lateMessageRejectionPeriod` PT1H throws away
/// exactly the events before 2018-01-02T00:00Z and `earlyMessageRejectionPeriod`
/// PT1H those after 2018-01-02T03:00Z (taskDuration PT1H), in 2026 as on the
/// day; and a restart from an earlier checkpoint with that reference time
/// (what a crash before the commit leaves) judges every message the same.
#[test]
fn rejection_periods_are_judged_against_the_reference_time_in_the_checkpoint() {
    let stream = Stream::new(1);
    let mut spec = flows_supervisor(stream.dir.path());
    spec["ioConfig"]["lateMessageRejectionPeriod"] = json!("PT1H");
    spec["ioConfig"]["earlyMessageRejectionPeriod"] = json!("PT1H");
    spec["ioConfig"]["taskDuration"] = json!("PT1H");
    // Every event its own row (id: shard-pointer), so a re-read rewrites the same rows.
    spec["dataSchema"]["granularitySpec"]["rollup"] = json!(false);
    sluice::spec::set_shards(&mut spec, 1);
    let rig = RunRig::new(&spec);
    let run = || {
        let out = rig.command().output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let sink = || sluice::wiring::open_sinks(&rig.data, &rig.spec).unwrap().remove(0);
    // A first run over nothing creates the sink (its reference time: now).
    stream.append(0, &[] as &[&str]);
    run();
    let reference = 1_514_854_800_000; // 2018-01-02T01:00:00Z
    sink().set_reference_time(reference).unwrap();
    let at = |ms: i64, tag: &str| {
        json!({"timestamp": ms, "srcIP": "s", "dstIP": "d", "packets": 1, "bytes": 10, "latency": 1.0, "tag": tag})
            .to_string()
    };
    let hour = 3_600_000;
    stream.append(
        0,
        &[
            at(reference - hour - 1, "late"),      // before the late bound: thrown away
            at(reference - hour, "first"),         // on it: kept
            at(reference + 2 * hour, "last"),      // on the early bound: kept
            at(reference + 2 * hour + 1, "early"), // past it: thrown away
        ],
    );
    let check = |runs: u64| {
        let sink = sink();
        let meta = sink.meta().unwrap();
        assert_eq!(meta.counters.total_thrown_away_count, 2 * runs, "{:?}", meta.counters);
        assert_eq!(meta.counters.total_processed_count, 4 * runs);
        let dropped: Vec<(u64, String)> =
            sink.dropped(None, 10).unwrap().into_iter().map(|d| (d.pointer.as_u64().unwrap(), d.reason)).collect();
        assert_eq!(dropped.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [0, 3], "{dropped:?}");
        assert!(dropped[0].1.starts_with("thrownAway") && dropped[0].1.contains("lateMessageRejectionPeriod"));
        assert!(dropped[1].1.starts_with("thrownAway") && dropped[1].1.contains("earlyMessageRejectionPeriod"));
        drop(sink);
        let rows = stored_rows(&rig);
        let tags: Vec<&str> = rows.values().map(|r| r["firstTag"].as_str().unwrap()).collect();
        assert_eq!(tags, ["first", "last"], "only the two kept events made rows");
    };
    run();
    check(1);
    // The checkpoint moved back before the four events, with the same
    // reference time (a crash before their commit): the same judgement,
    // although the wall clock is years past that task period.
    let s = sink();
    s.set_reference_time(reference).unwrap();
    s.reset_position(sluice::pointer::StartPosition::Earliest).unwrap();
    drop(s);
    run();
    check(2);
}
