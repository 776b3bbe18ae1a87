//! Druid's supervisor operations on in-memory doubles, with the built-in
//! `druid` plugin without rollup (one row per message), so a shard's
//! processed count is the messages it applied.

use super::tests::Host;
use super::{Manager, ManagerError, ManagerOptions, SubmitOutcome, SupervisorState};
use crate::engine::PollerState;
use crate::pointer::{Pointer, StartPosition};
use crate::sink::ShardSink;
use crate::state::StateStore;
use crate::testing::{druid_spec_json, eventually};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn open(host: &Host) -> Arc<Manager> {
    Manager::with_wiring(host.wiring.clone(), host.store.clone(), ManagerOptions::default()).unwrap()
}

fn append(host: &Host, name: &str, partition: u32, n: usize) {
    let lines: Vec<String> = (0..n).map(|i| json!({"n": i}).to_string()).collect();
    host.wiring.source(name, 2).append(partition, &lines);
}

fn processed(host: &Host, name: &str, shard: u32) -> u64 {
    host.wiring.sink(name, shard).meta().unwrap().counters.total_processed_count
}

fn kinds(m: &Manager, name: &str) -> Vec<String> {
    m.history(name).unwrap().into_iter().map(|h| h.kind).collect()
}

#[test]
fn submit_creates_then_switches_specs_at_the_same_offsets() {
    let host = Host::new();
    host.wiring.source("s", 2);
    let m = open(&host);
    let (info, outcome) = m.submit_supervisor(druid_spec_json("s")).unwrap();
    assert_eq!((outcome, info.shards), (SubmitOutcome::Created, 2));
    // Messages keep coming while the spec is replaced twice.
    let appender = {
        let source = host.wiring.source("s", 2);
        std::thread::spawn(move || {
            for i in 0..200 {
                source.append(i % 2, &[json!({"i": i}).to_string()]);
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
        })
    };
    for duration in ["PT30M", "PT10M"] {
        let mut spec = druid_spec_json("s");
        spec["ioConfig"]["taskDuration"] = json!(duration);
        let (_, outcome) = m.submit_supervisor(spec).unwrap();
        assert_eq!(outcome, SubmitOutcome::Replaced);
    }
    appender.join().unwrap();
    eventually("every message once", || processed(&host, "s", 0) == 100 && processed(&host, "s", 1) == 100);
    std::thread::sleep(std::time::Duration::from_millis(50));
    for shard in 0..2 {
        let meta = host.wiring.sink("s", shard).meta().unwrap();
        assert_eq!(
            (meta.counters.total_processed_count, meta.live_docs),
            (100, 100),
            "nothing skipped or applied twice"
        );
    }
    let spec = m.get("s").unwrap().spec;
    assert_eq!(spec["ioConfig"]["taskDuration"], "PT10M");
    assert_eq!(spec["sluice"]["shards"], 2, "the stored spec keeps the shard count");
    assert_eq!(kinds(&m, "s"), ["created", "updated", "updated"]);
    assert_eq!(m.history("s").unwrap()[1].detail, "supervisor spec submitted");
    // The same spec again changes nothing.
    let mut same = druid_spec_json("s");
    same["ioConfig"]["taskDuration"] = json!("PT10M");
    assert_eq!(m.submit_supervisor(same).unwrap().1, SubmitOutcome::Unchanged);
    assert_eq!(kinds(&m, "s").len(), 3);
    m.shutdown();
}

#[test]
fn what_a_running_supervisor_cannot_change_is_refused_by_its_key() {
    let host = Host::new();
    host.wiring.source("c", 2);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("c")).unwrap();
    let changed = |pointer: &str, value: Value| {
        let mut spec = druid_spec_json("c");
        *spec.pointer_mut(pointer).unwrap() = value;
        m.submit_supervisor(spec).unwrap_err()
    };
    for (pointer, value, key) in [
        ("/ioConfig/stream", json!("other"), "[ioConfig.stream]"),
        ("/ioConfig/baseDirectory", json!("/elsewhere"), "[ioConfig.baseDirectory]"),
    ] {
        let e = changed(pointer, value);
        assert!(
            matches!(&e, ManagerError::FailedPrecondition(t) if t.contains(key) && t.contains("cannot change")),
            "{e}"
        );
    }
    let mut spec = druid_spec_json("c");
    spec["sluice"] = json!({"shards": 3});
    assert!(m.submit_supervisor(spec).unwrap_err().to_string().contains("[sluice.shards]"));
    spec = druid_spec_json("c");
    spec["sluice"] = json!({"sink": {"type": "redis", "url": "redis://h:6379/0"}});
    assert!(m.submit_supervisor(spec).unwrap_err().to_string().contains("[sluice.sink]"));
    // A new spec that cannot start is refused before the old one stops.
    spec = druid_spec_json("c");
    spec["sluice"] = json!({"plugin": {"version": "9.9.9"}});
    assert!(
        m.submit_supervisor(spec).unwrap_err().to_string().contains("plugin druid version 9.9.9 is not registered")
    );
    append(&host, "c", 0, 3);
    eventually("the old spec still runs", || processed(&host, "c", 0) == 3);
    // Not a supervisor spec; not a supervisor.
    let body = crate::testing::spec_json("c", 2, "DROP");
    assert!(matches!(m.submit_supervisor(body.clone()), Err(ManagerError::InvalidArgument(_))));
    let mut nameless = body.clone();
    nameless.as_object_mut().unwrap().remove("name");
    let e = m.submit_supervisor(nameless).unwrap_err().to_string();
    assert!(e.starts_with("not a Druid supervisor spec"), "{e}");
    let mut index = body;
    index["name"] = json!("index");
    m.create(index).unwrap();
    let mut spec = druid_spec_json("index");
    spec["sluice"] = json!({"shards": 2});
    let e = m.submit_supervisor(spec).unwrap_err().to_string();
    assert!(e.contains("created from an OpenSearch index body"), "{e}");
    assert!(m.suspend_supervisor("index").is_err());
    // OpenSearch settings do not apply to a supervisor.
    let e = m.update("c", json!({"index.ingestion_source.error_strategy": "BLOCK"})).unwrap_err().to_string();
    assert!(e.contains("submit a new supervisor spec"), "{e}");
    m.shutdown();
}

#[test]
fn suspend_and_resume_hold_across_restarts() {
    let host = Host::new();
    host.wiring.source("p", 2);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("p")).unwrap();
    m.suspend_supervisor("p").unwrap();
    let status = m.supervisor_status("p").unwrap();
    assert!(status.suspended && status.active_tasks.is_empty());
    assert_eq!((status.state, status.detailed_state), (SupervisorState::Suspended, SupervisorState::Suspended));
    assert!(m.suspend_supervisor("p").unwrap_err().to_string().contains("already suspended"));
    append(&host, "p", 0, 4);
    m.shutdown();
    drop(m);
    let m = open(&host);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(processed(&host, "p", 0), 0, "suspended after a restart");
    assert!(m.supervisor_status("p").unwrap().suspended);
    m.resume_supervisor("p").unwrap();
    eventually("resumed", || processed(&host, "p", 0) == 4);
    assert!(m.resume_supervisor("p").unwrap_err().to_string().contains("already running"));
    assert_eq!(kinds(&m, "p"), ["created", "suspended", "resumed"]);
    let history = m.supervisor_history("p").unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(
        (history[1].spec["suspended"].clone(), history[0].spec["suspended"].clone()),
        (json!(true), json!(false))
    );
    // A spec submitted with `suspended` starts suspended.
    host.wiring.source("q", 1);
    let mut spec = druid_spec_json("q");
    spec["suspended"] = json!(true);
    m.submit_supervisor(spec).unwrap();
    assert_eq!(m.get("q").unwrap().paused_shards, vec![0]);
    m.shutdown();
}

#[test]
fn terminate_keeps_the_data_and_the_history_and_a_new_spec_continues() {
    let host = Host::new();
    host.wiring.source("t", 2);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("t")).unwrap();
    append(&host, "t", 0, 5);
    eventually("the first messages", || processed(&host, "t", 0) == 5);
    let left = m.terminate_supervisor("t").unwrap().data_left.unwrap();
    assert!(left.contains("memory:t") && left.contains("continues from those offsets"), "{left}");
    assert!(matches!(m.get("t"), Err(ManagerError::NotFound(_))));
    assert!(host.store.load("t").unwrap().unwrap().deleted_at_ms.is_some(), "a tombstone");
    m.shutdown();
    drop(m);
    let m = open(&host);
    assert!(matches!(m.get("t"), Err(ManagerError::NotFound(_))), "not restored");
    let history = m.supervisor_history("t").unwrap();
    assert_eq!(history[0].spec["type"], "NoopSupervisorSpec");
    assert_eq!(history.len(), 2);
    // Submitted again for the same stream: it goes on from its offsets.
    assert_eq!(m.submit_supervisor(druid_spec_json("t")).unwrap().1, SubmitOutcome::Created);
    append(&host, "t", 0, 2);
    eventually("only the new messages", || processed(&host, "t", 0) == 7);
    assert_eq!(kinds(&m, "t"), ["created", "terminated", "created"]);
    assert_eq!(m.history("t").unwrap()[2].detail, "continues from the offsets of the terminated supervisor");
    m.shutdown();
}

#[test]
fn reset_and_reset_offsets_move_exactly_the_partitions_asked() {
    let host = Host::new();
    host.wiring.source("r", 2);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("r")).unwrap();
    append(&host, "r", 0, 10);
    append(&host, "r", 1, 4);
    eventually("both partitions read", || processed(&host, "r", 0) == 10 && processed(&host, "r", 1) == 4);
    // Partition 0 reads again from offset 3; partition 1 keeps its offset.
    m.reset_supervisor_offsets("r", &BTreeMap::from([(0, "3".to_string())])).unwrap();
    eventually("offsets 3..9 again", || processed(&host, "r", 0) == 17);
    assert_eq!(processed(&host, "r", 1), 4);
    // A hard reset: every partition from the earliest offset (useEarliestOffset).
    m.reset_supervisor("r").unwrap();
    eventually("everything again", || processed(&host, "r", 0) == 27 && processed(&host, "r", 1) == 8);
    // Reset while suspended: the position moves, the supervisor stays suspended.
    m.suspend_supervisor("r").unwrap();
    m.reset_supervisor_offsets("r", &BTreeMap::from([(1, "2".to_string())])).unwrap();
    let resume = host.wiring.sink("r", 1).meta().unwrap().resume;
    assert_eq!(resume, Some(StartPosition::At(Pointer::from(2))), "durable when the call returns");
    assert_eq!(m.state("r").unwrap()[1].state, PollerState::Paused);
    assert_eq!(processed(&host, "r", 1), 8);
    m.resume_supervisor("r").unwrap();
    eventually("offsets 2..3 again", || processed(&host, "r", 1) == 10);
    let details: Vec<String> =
        m.history("r").unwrap().into_iter().filter(|h| h.kind == "reset").map(|h| h.detail).collect();
    assert_eq!(
        details,
        ["shard 0 reset to at 3", "shard 0 reset to earliest", "shard 1 reset to earliest", "shard 1 reset to at 2"]
    );
    assert_eq!(m.supervisor_history("r").unwrap().len(), 3, "resets are no spec versions");
    for (offsets, expected) in [
        (BTreeMap::from([(5, "1".to_string())]), "has no shard 5"),
        (BTreeMap::from([(0, "x".to_string())]), "reset of shard 0"),
        (BTreeMap::new(), "no partition offsets"),
    ] {
        let e = m.reset_supervisor_offsets("r", &offsets).unwrap_err();
        assert!(matches!(&e, ManagerError::InvalidArgument(t) if t.contains(expected)), "{e}");
    }
    m.shutdown();
}

#[test]
fn the_status_report_has_druids_fields() {
    let host = Host::new();
    host.wiring.source("st", 2);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("st")).unwrap();
    append(&host, "st", 0, 3);
    eventually("idle", || {
        m.wait_until_idle("st", std::time::Duration::ZERO).unwrap() == crate::engine::IdleOutcome::Idle
    });
    let status = m.supervisor_status("st").unwrap();
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        (json["dataSource"].clone(), json["stream"].clone(), json["partitions"].clone(), json["replicas"].clone()),
        (json!("st"), json!("unused"), json!(2), json!(1))
    );
    assert_eq!(json["durationSeconds"], 3600);
    assert_eq!((json["state"].clone(), json["detailedState"].clone()), (json!("RUNNING"), json!("RUNNING")));
    assert_eq!((json["healthy"].clone(), json["suspended"].clone()), (json!(true), json!(false)));
    assert_eq!(json["currentOffsets"], json!({"0": 3}), "the next offset to read");
    assert_eq!(json["latestOffsets"], json!({"0": 3}));
    assert_eq!((json["minimumLag"].clone(), json["aggregateLag"].clone()), (json!({"0": 0, "1": 0}), json!(0)));
    assert_eq!(json["publishingTasks"], json!([]));
    assert!(json["offsetsLastUpdated"].as_str().is_some_and(|t| t.ends_with('Z')));
    let task = &json["activeTasks"][0];
    assert_eq!((task["id"].clone(), task["type"].clone()), (json!("index_file_st_0"), json!("ACTIVE")));
    assert_eq!((task["currentOffsets"].clone(), task["lag"].clone()), (json!({"0": 3}), json!({"0": 0})));
    assert_eq!(status.active_tasks.len(), 2);
    assert_eq!(json["recentErrors"], json!([]));
    // A partition that keeps failing makes the tasks unhealthy, with its error.
    host.wiring.source("st", 2).fail_polls(1, 1000);
    append(&host, "st", 1, 1);
    eventually("unhealthy", || m.supervisor_status("st").unwrap().state == SupervisorState::UnhealthyTasks);
    let status = m.supervisor_status("st").unwrap();
    assert!(!status.healthy);
    assert!(status.recent_errors.iter().any(|e| e.message.starts_with("partition 1: ")), "{:?}", status.recent_errors);
    let stats = m.supervisor_stats("st").unwrap();
    assert_eq!((stats.partitions["0"].processed, stats.partitions["1"].processed, stats.totals.processed), (3, 0, 3));
    m.shutdown();
}

#[test]
fn suspend_and_resume_return_the_updated_spec() {
    let host = Host::new();
    host.wiring.source("w", 1);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("w")).unwrap();
    let suspended = m.suspend_supervisor("w").unwrap();
    assert_eq!(
        (suspended["suspended"].clone(), suspended["dataSchema"]["dataSource"].clone()),
        (json!(true), json!("w"))
    );
    assert_eq!(m.get_supervisor("w").unwrap().spec, suspended);
    assert_eq!(m.resume_supervisor("w").unwrap()["suspended"], false);
    assert_eq!(m.get_supervisor("w").unwrap().spec["suspended"], false);
    m.shutdown();
}

#[test]
fn the_all_operations_skip_what_is_done_and_leave_indices_alone() {
    let host = Host::new();
    for name in ["a", "b"] {
        host.wiring.source(name, 1);
    }
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("a")).unwrap();
    m.submit_supervisor(druid_spec_json("b")).unwrap();
    m.create(crate::testing::spec_json("idx", 1, "DROP")).unwrap();
    m.suspend_supervisor("a").unwrap();
    let json = serde_json::to_value(m.get_supervisor("a").unwrap()).unwrap();
    assert_eq!((json["detailedState"].clone(), json["id"].clone()), (json!("SUSPENDED"), json!("a")));

    assert_eq!(m.suspend_all_supervisors().unwrap(), ["b"], "a was suspended already");
    assert!(m.list_supervisors().unwrap().iter().all(|s| s.suspended));
    assert_eq!(m.state("b").unwrap()[0].state, PollerState::Paused);
    assert_eq!(m.resume_all_supervisors().unwrap(), ["a", "b"]);
    append(&host, "a", 0, 2);
    eventually("a runs again", || processed(&host, "a", 0) == 2);
    assert_eq!(m.terminate_all_supervisors().unwrap(), ["a", "b"]);
    assert!(m.supervisor_ids().is_empty());
    assert!(m.get("idx").is_ok(), "the index is left alone");
    assert_eq!(m.terminate_all_supervisors().unwrap(), Vec::<String>::new());
    // Their history stays, keyed by id; the index has none.
    let all = m.all_supervisor_history().unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(all["a"][0].spec["type"], "NoopSupervisorSpec");
    let suspended: Vec<Value> = all["a"].iter().map(|h| h.spec["suspended"].clone()).collect();
    assert_eq!(
        suspended,
        [json!(false), json!(false), json!(true), Value::Null],
        "terminated, resumed, suspended, created"
    );
    m.shutdown();
}

#[test]
fn druids_reset_metadata_names_the_type_stream_and_partitions() {
    use super::PartitionOffsets;
    let host = Host::new();
    host.wiring.source("z", 2);
    let m = open(&host);
    m.submit_supervisor(druid_spec_json("z")).unwrap();
    append(&host, "z", 1, 6);
    eventually("read", || processed(&host, "z", 1) == 6);
    let reset = |kind: &str, stream: &str, offsets: &[(&str, &str)]| PartitionOffsets {
        stream_type: kind.into(),
        stream: stream.into(),
        offsets: offsets.iter().map(|(p, o)| (p.to_string(), o.to_string())).collect(),
    };
    m.reset_supervisor_partitions("z", &reset("file", "unused", &[("1", "4")])).unwrap();
    eventually("offsets 4 and 5 again", || processed(&host, "z", 1) == 8);
    assert_eq!(processed(&host, "z", 0), 0);
    for (r, expected) in [
        (
            reset("kafka", "unused", &[("1", "4")]),
            "the reset metadata is of type [kafka]; supervisor [z] is of type [file]",
        ),
        (
            reset("file", "other", &[("1", "4")]),
            "Stream[other] doesn't exist in the supervisor[z]. Supervisor is consuming stream[unused].",
        ),
        (reset("file", "unused", &[("2", "4")]), "partition [2] is not one of stream [unused]'s 2 partitions (0 to 1)"),
        (reset("file", "unused", &[]), "no partition offsets to reset"),
    ] {
        let e = m.reset_supervisor_partitions("z", &r).unwrap_err();
        assert!(matches!(&e, ManagerError::InvalidArgument(t) if t == expected), "{e}");
    }
    assert!(matches!(
        m.reset_supervisor_partitions("nope", &reset("file", "unused", &[])),
        Err(ManagerError::NotFound(_))
    ));
    let tasks = m.supervisor_task_stats("z").unwrap();
    let task = &tasks[1];
    assert_eq!((task.group, task.task.as_str(), task.partition.as_str()), (1, "index_file_z_1", "1"));
    assert_eq!((task.totals.processed, tasks[0].totals.processed), (8, 0));
    m.shutdown();
}
