//! Druid supervisors over the gRPC control plane (`sluice.v1.Supervisors`)
//! and `sluice ctl supervisor`, against a `sluice serve` child process: the
//! built-in `druid` plugin rolls events of sluice's file stream up into
//! rows, read back through the Documents service.
//!
//! Events are `{"ts", "src", "bytes"}` with `bytes` = the event's line
//! number in its partition, all in the same hour of yesterday (the rows are
//! (hour, src) per shard), so the exact counts and sums are known.

use crate::support::Stream;
use crate::support::grpc_server::{Server, TIMEOUT};
use serde_json::{Value, json};
use sluice::api::proto::{self as pb, documents_client::DocumentsClient, supervisors_client::SupervisorsClient};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::transport::Channel;

struct Clients {
    sup: SupervisorsClient<Channel>,
    docs: DocumentsClient<Channel>,
}

async fn clients(server: &Server) -> Clients {
    let ch = server.channel().await;
    Clients { sup: SupervisorsClient::new(ch.clone()), docs: DocumentsClient::new(ch) }
}

/// Midnight UTC yesterday, ms, taken once (a test running over midnight
/// keeps its rows): within any lateMessageRejectionPeriod of a few days.
fn yesterday_ms() -> i64 {
    static YESTERDAY: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *YESTERDAY.get_or_init(|| {
        let now = sluice::util::now_ms();
        now - now % 86_400_000 - 86_400_000
    })
}

/// The event at line `offset` of a partition.
fn event(offset: usize) -> String {
    let src = if offset.is_multiple_of(2) { "a" } else { "b" };
    json!({"ts": yesterday_ms() + offset as i64 * 100, "src": src, "bytes": offset}).to_string()
}

fn append(stream: &Stream, partition: u32, offsets: std::ops::Range<usize>) {
    let lines: Vec<String> = offsets.map(event).collect();
    stream.append(partition, &lines);
}

/// sluice's file supervisor over `stream` (a Druid spec extension):
/// rollup by hour and `src`, `count` and `bytes` plus `extra` metrics;
/// events older than 7 days before the task period's start are thrown away.
fn spec(base: &Path, extra: &[Value]) -> Value {
    let mut metrics = vec![
        json!({"type": "count", "name": "count"}),
        json!({"type": "longSum", "name": "bytes", "fieldName": "bytes"}),
    ];
    metrics.extend_from_slice(extra);
    json!({
        "type": "file",
        "dataSchema": {
            "dataSource": "flows",
            "timestampSpec": {"column": "ts", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["src"]},
            "metricsSpec": metrics,
            "granularitySpec": {"segmentGranularity": "day", "queryGranularity": "hour", "rollup": true}
        },
        "ioConfig": {"stream": "events", "baseDirectory": base, "inputFormat": {"type": "json"},
            "useEarliestOffset": true, "lateMessageRejectionPeriod": "P7D", "pollTimeout": 50}
    })
}

async fn submit(c: &mut Clients, spec: &Value) -> pb::SubmitSupervisorResponse {
    let request = pb::SubmitSupervisorRequest { spec_json: spec.to_string() };
    c.sup.submit_supervisor(request).await.unwrap().into_inner()
}

async fn status(c: &mut Clients) -> pb::SupervisorStatus {
    c.sup.get_supervisor_status(pb::GetSupervisorStatusRequest { id: "flows".into() }).await.unwrap().into_inner()
}

async fn stats(c: &mut Clients) -> pb::SupervisorStats {
    c.sup.get_supervisor_stats(pb::GetSupervisorStatsRequest { id: "flows".into() }).await.unwrap().into_inner()
}

/// (processed, processed_with_error, unparseable, thrown_away).
fn counts(r: &pb::RowStats) -> (u64, u64, u64, u64) {
    (r.processed, r.processed_with_error, r.unparseable, r.thrown_away)
}

/// Polls the row statistics until every partition has counted `lines`
/// messages (whatever their outcome) and the status shows no lag.
async fn wait_caught_up(c: &mut Clients, lines: [u64; 2]) -> pb::SupervisorStats {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let s = stats(c).await;
        let seen = |p: &str| s.partitions.get(p).map(|r| r.processed + r.unparseable + r.thrown_away);
        if seen("0") == Some(lines[0]) && seen("1") == Some(lines[1]) && status(c).await.aggregate_lag == Some(0) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {lines:?} messages: {s:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Every row of a shard, through the Documents service.
async fn rows(c: &mut Clients, shard: u32) -> Vec<Value> {
    let request = pb::ScanDocumentsRequest { ingestion: "flows".into(), shard, ..Default::default() };
    let mut stream = c.docs.scan_documents(request).await.unwrap().into_inner();
    let mut out = vec![];
    while let Some(d) = stream.message().await.unwrap() {
        out.push(serde_json::from_str(&d.source_json).unwrap());
    }
    out
}

/// A metric summed over rows (absent: 0).
fn sum(rows: &[Value], metric: &str) -> i64 {
    rows.iter().map(|r| r[metric].as_i64().unwrap_or(0)).sum()
}

/// 0 + 1 + ... over `range`: the bytes of those lines.
fn bytes(range: std::ops::Range<usize>) -> i64 {
    range.map(|i| i as i64).sum()
}

/// The code of a failed call, asserting its message.
fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>, needle: &str) -> Code {
    let s = r.expect_err("the call should fail");
    assert!(s.message().contains(needle), "{:?}: {:?} does not mention {needle:?}", s.code(), s.message());
    s.code()
}

fn offsets(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(p, o)| (p.to_string(), o.to_string())).collect()
}

#[tokio::test]
async fn supervisor_submit_gives_exact_rows_status_and_row_stats_and_a_replaced_spec_takes_over_at_a_batch_boundary() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let stream = Stream::new(2);
    let created = submit(&mut c, &spec(stream.dir.path(), &[])).await;
    assert_eq!(
        (created.id.as_str(), created.outcome, created.partitions),
        ("flows", pb::SubmitOutcome::Created as i32, 2),
        "the partition count comes from the stream"
    );

    // Partition 0: 10 events, a line that is no JSON, and an event 30 days
    // old (before the task period's start minus lateMessageRejectionPeriod
    // P7D: thrown away, and dropped under the default DROP policy).
    append(&stream, 0, 0..10);
    stream.append(0, &["{not json"]);
    let old = json!({"ts": sluice::util::now_ms() - 30 * 86_400_000, "src": "a", "bytes": 1000}).to_string();
    stream.append(0, &[old]);
    append(&stream, 1, 0..6);
    let s = wait_caught_up(&mut c, [12, 6]).await;
    assert_eq!(counts(&s.partitions["0"]), (10, 0, 1, 1));
    assert_eq!(counts(&s.partitions["1"]), (6, 0, 0, 0));
    assert_eq!(counts(&s.totals.unwrap()), (16, 0, 1, 1));
    for shard in 0..2 {
        let r = rows(&mut c, shard).await;
        let n = [10, 6][shard as usize];
        assert_eq!(r.len(), 2, "one row per src in the hour: {r:?}");
        assert_eq!((sum(&r, "count"), sum(&r, "bytes")), (n as i64, bytes(0..n)), "shard {shard}: {r:?}");
        let a = r.iter().find(|r| r["src"] == "a").unwrap();
        assert_eq!((a["count"].clone(), a["bytes"].clone()), (json!(n / 2), json!((0..n).step_by(2).sum::<usize>())));
    }
    let dropped = c
        .docs
        .list_dropped(pb::ListDroppedRequest { ingestion: "flows".into(), shard: 0, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .messages;
    let dropped: Vec<(&str, bool)> =
        dropped.iter().map(|d| (d.pointer.as_str(), d.reason.starts_with("thrownAway: timestamp"))).collect();
    assert_eq!(dropped, [("10", false), ("11", true)], "the bad line and the late event, with their reasons");

    // The status report, field by field.
    let st = status(&mut c).await;
    assert_eq!((st.data_source.as_str(), st.stream.as_str(), st.partitions, st.replicas), ("flows", "events", 2, 1));
    assert_eq!(st.duration_seconds, 3600);
    assert_eq!(st.current_offsets, offsets(&[("0", "12"), ("1", "6")]), "the next offsets to read");
    assert_eq!(st.latest_offsets, offsets(&[("0", "12"), ("1", "6")]));
    assert_eq!(st.minimum_lag, BTreeMap::from([("0".to_string(), 0), ("1".to_string(), 0)]));
    assert_eq!(st.aggregate_lag, Some(0));
    assert_eq!(
        (st.state, st.detailed_state),
        (pb::SupervisorState::Running as i32, pb::SupervisorState::Running as i32)
    );
    assert!(st.healthy && !st.suspended && st.recent_errors.is_empty() && st.publishing_tasks.is_empty());
    let tasks: Vec<(&str, &str)> = st.active_tasks.iter().map(|t| (t.id.as_str(), t.r#type.as_str())).collect();
    assert_eq!(tasks, [("index_file_flows_0", "ACTIVE"), ("index_file_flows_1", "ACTIVE")]);
    assert_eq!(st.active_tasks[1].current_offsets, offsets(&[("1", "6")]));
    assert!(st.active_tasks[0].remaining_seconds.is_some_and(|s| s <= 3600));
    let health =
        c.sup.get_supervisor_health(pb::GetSupervisorHealthRequest { id: "flows".into() }).await.unwrap().into_inner();
    assert_eq!((health.healthy, health.state), (true, pb::SupervisorState::Running as i32));
    server.terminate().await;

    // Replaced mid-stream with an added metric: each partition's events
    // before the switch are aggregated by the old spec only, the rest by
    // the new one only (countNew and bytesNew count exactly those).
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let stream = Stream::new(2);
    let v1 = spec(stream.dir.path(), &[]);
    submit(&mut c, &v1).await;
    for p in 0..2 {
        append(&stream, p, 0..200);
    }
    let deadline = Instant::now() + TIMEOUT;
    let before = loop {
        let s = stats(&mut c).await;
        if s.partitions.values().all(|r| r.processed > 0) {
            break s;
        }
        assert!(Instant::now() < deadline, "nothing processed: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let writer = {
        let paths = [stream.path(0), stream.path(1)];
        std::thread::spawn(move || {
            for i in 200..600 {
                for path in &paths {
                    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
                    writeln!(f, "{}", event(i)).unwrap();
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let extra = [
        json!({"type": "count", "name": "countNew"}),
        json!({"type": "longSum", "name": "bytesNew", "fieldName": "bytes"}),
    ];
    let v2 = spec(stream.dir.path(), &extra);
    assert_eq!(submit(&mut c, &v2).await.outcome, pb::SubmitOutcome::Replaced as i32);
    writer.join().unwrap();
    // Written after the switch: the new spec's for sure.
    for p in 0..2 {
        append(&stream, p, 600..602);
    }
    let s = wait_caught_up(&mut c, [602, 602]).await;
    assert_eq!(counts(&s.totals.unwrap()), (1204, 0, 0, 0));
    for shard in 0..2u32 {
        let r = rows(&mut c, shard).await;
        assert_eq!((sum(&r, "count"), sum(&r, "bytes")), (602, bytes(0..602)), "nothing skipped or doubled: {r:?}");
        // The new spec started at offset `switch`: it aggregated exactly the rest.
        let switch = 602 - sum(&r, "countNew") as usize;
        assert_eq!(sum(&r, "bytesNew"), bytes(switch..602), "shard {shard}: {r:?}");
        let read_before = before.partitions[&shard.to_string()].processed as usize;
        assert!((read_before..=600).contains(&switch), "switched at {switch}, read {read_before} before");
    }
    assert_eq!(submit(&mut c, &v2).await.outcome, pb::SubmitOutcome::Unchanged as i32);
    let got = c.sup.get_supervisor(pb::GetSupervisorRequest { id: "flows".into() }).await.unwrap().into_inner();
    let got_spec: Value = serde_json::from_str(&got.spec_json).unwrap();
    assert_eq!(got_spec["dataSchema"]["metricsSpec"], v2["dataSchema"]["metricsSpec"], "the spec as submitted");
    assert_eq!(got_spec["sluice"]["shards"], 2);
    assert_eq!((got.id.as_str(), got.state, got.healthy), ("flows", pb::SupervisorState::Running as i32, true));
    let history = c
        .sup
        .get_supervisor_history(pb::GetSupervisorHistoryRequest { id: "flows".into() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let metrics: Vec<usize> = history
        .iter()
        .map(|h| {
            serde_json::from_str::<Value>(&h.spec_json).unwrap()["dataSchema"]["metricsSpec"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(metrics, [4, 2], "newest first");
    assert!(history[0].version > history[1].version, "{history:?}");
}

#[tokio::test]
async fn supervisor_suspend_resume_reset_offsets_and_hard_reset_move_exactly_the_offsets_asked() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let stream = Stream::new(2);
    submit(&mut c, &spec(stream.dir.path(), &[])).await;
    append(&stream, 0, 0..10);
    append(&stream, 1, 0..4);
    wait_caught_up(&mut c, [10, 4]).await;
    let id = || "flows".to_string();

    // Suspended: no progress while events are appended.
    c.sup.suspend_supervisor(pb::SuspendSupervisorRequest { id: id() }).await.unwrap();
    let again = c.sup.suspend_supervisor(pb::SuspendSupervisorRequest { id: id() }).await;
    assert_eq!(code(again, "supervisor flows is already suspended"), Code::FailedPrecondition);
    append(&stream, 0, 10..15);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let st = status(&mut c).await;
    assert_eq!((st.state, st.suspended, st.healthy), (pb::SupervisorState::Suspended as i32, true, true));
    assert!(st.active_tasks.is_empty(), "{:?}", st.active_tasks);
    assert_eq!(st.current_offsets, offsets(&[("0", "10"), ("1", "4")]), "no progress");
    assert_eq!(stats(&mut c).await.totals.unwrap().processed, 14);
    // Resumed: it catches up.
    c.sup.resume_supervisor(pb::ResumeSupervisorRequest { id: id() }).await.unwrap();
    let again = c.sup.resume_supervisor(pb::ResumeSupervisorRequest { id: id() }).await;
    assert_eq!(code(again, "supervisor flows is already running"), Code::FailedPrecondition);
    wait_caught_up(&mut c, [15, 4]).await;
    assert_eq!(status(&mut c).await.current_offsets, offsets(&[("0", "15"), ("1", "4")]));

    // resetOffsets of partition 0 to offset 3 (while suspended, so the
    // offsets are exactly the ones set): partition 1 keeps its offset.
    c.sup.suspend_supervisor(pb::SuspendSupervisorRequest { id: id() }).await.unwrap();
    let request = pb::ResetSupervisorOffsetsRequest { id: id(), offsets: BTreeMap::from([(0, "3".to_string())]) };
    c.sup.reset_supervisor_offsets(request).await.unwrap();
    assert_eq!(status(&mut c).await.current_offsets, offsets(&[("0", "3"), ("1", "4")]));
    c.sup.resume_supervisor(pb::ResumeSupervisorRequest { id: id() }).await.unwrap();
    // Offsets 3..14 of partition 0 are read again: 12 more messages.
    let s = wait_caught_up(&mut c, [27, 4]).await;
    assert_eq!((s.partitions["0"].processed, s.partitions["1"].processed), (27, 4));
    assert_eq!(status(&mut c).await.current_offsets, offsets(&[("0", "15"), ("1", "4")]));
    // Rollup keeps the rows: the events read again are aggregated again, as
    // in Druid, where re-read offsets are ingested again into new segments.
    let r0 = rows(&mut c, 0).await;
    assert_eq!((sum(&r0, "count"), sum(&r0, "bytes")), (15 + 12, bytes(0..15) + bytes(3..15)));

    // A hard reset with useEarliestOffset: every partition from offset 0.
    c.sup.reset_supervisor(pb::ResetSupervisorRequest { id: id() }).await.unwrap();
    let s = wait_caught_up(&mut c, [27 + 15, 4 + 4]).await;
    assert_eq!(counts(&s.totals.unwrap()), (50, 0, 0, 0));
    let (r0, r1) = (rows(&mut c, 0).await, rows(&mut c, 1).await);
    // Partition 0: 0..15 three times over but 0..3 twice; partition 1: 0..4 twice.
    assert_eq!((sum(&r0, "count"), sum(&r0, "bytes")), (42, 3 * bytes(0..15) - bytes(0..3)));
    assert_eq!((sum(&r1, "count"), sum(&r1, "bytes")), (8, 2 * bytes(0..4)));

    // Suspensions are spec versions; resets are not.
    let history =
        c.sup.get_supervisor_history(pb::GetSupervisorHistoryRequest { id: id() }).await.unwrap().into_inner().entries;
    let suspended: Vec<Value> =
        history.iter().map(|h| serde_json::from_str::<Value>(&h.spec_json).unwrap()["suspended"].clone()).collect();
    assert_eq!(suspended, [json!(false), json!(true), json!(false), json!(true), Value::Null], "newest first");
}

#[tokio::test]
async fn a_terminated_supervisor_is_not_restored_after_a_restart_and_keeps_its_history_and_data() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let stream = Stream::new(2);
    let spec = spec(stream.dir.path(), &[]);
    submit(&mut c, &spec).await;
    append(&stream, 0, 0..5);
    append(&stream, 1, 0..3);
    wait_caught_up(&mut c, [5, 3]).await;
    let r = c.sup.terminate_supervisor(pb::TerminateSupervisorRequest { id: "flows".into() }).await.unwrap();
    let left = r.into_inner().data_left.expect("the data is kept");
    assert!(
        left.starts_with(&format!("the documents and checkpoints of flows are kept in {}", data.path().display()))
            && left.contains("continues from those offsets"),
        "{left}"
    );
    let gone = c.sup.get_supervisor_status(pb::GetSupervisorStatusRequest { id: "flows".into() }).await;
    assert_eq!(code(gone, "no supervisor named flows"), Code::NotFound);
    server.terminate().await;

    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let list = c.sup.list_supervisors(pb::ListSupervisorsRequest { full: true }).await.unwrap().into_inner();
    assert!(list.ids.is_empty() && list.supervisors.is_empty(), "not restored: {list:?}");
    let gone = c.sup.get_supervisor(pb::GetSupervisorRequest { id: "flows".into() }).await;
    assert_eq!(code(gone, "no supervisor named flows"), Code::NotFound);
    let history = c
        .sup
        .get_supervisor_history(pb::GetSupervisorHistoryRequest { id: "flows".into() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let specs: Vec<Value> = history.iter().map(|h| serde_json::from_str(&h.spec_json).unwrap()).collect();
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0], json!({"type": "NoopSupervisorSpec", "dataSources": ["flows"], "suspended": false}));
    assert_eq!(specs[1]["dataSchema"], spec["dataSchema"]);

    // Submitted again for the same stream: it continues from the offsets it left.
    assert_eq!(submit(&mut c, &spec).await.outcome, pb::SubmitOutcome::Created as i32);
    append(&stream, 0, 5..7);
    let s = wait_caught_up(&mut c, [7, 3]).await;
    assert_eq!(s.totals.unwrap().processed, 10, "the 8 messages before the termination are not read again");
    let r0 = rows(&mut c, 0).await;
    assert_eq!((sum(&r0, "count"), sum(&r0, "bytes")), (7, bytes(0..7)));
}

#[tokio::test]
async fn supervisor_rpcs_fail_with_the_right_codes_and_messages() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let stream = Stream::new(2);
    let nope = || "nope".to_string();
    let missing = "no supervisor named nope";
    assert_eq!(code(c.sup.get_supervisor(pb::GetSupervisorRequest { id: nope() }).await, missing), Code::NotFound);
    let status = c.sup.get_supervisor_status(pb::GetSupervisorStatusRequest { id: nope() }).await;
    assert_eq!(code(status, missing), Code::NotFound);
    let health = c.sup.get_supervisor_health(pb::GetSupervisorHealthRequest { id: nope() }).await;
    assert_eq!(code(health, missing), Code::NotFound);
    let stats = c.sup.get_supervisor_stats(pb::GetSupervisorStatsRequest { id: nope() }).await;
    assert_eq!(code(stats, missing), Code::NotFound);
    let history = c.sup.get_supervisor_history(pb::GetSupervisorHistoryRequest { id: nope() }).await;
    assert_eq!(code(history, missing), Code::NotFound);
    let suspend = c.sup.suspend_supervisor(pb::SuspendSupervisorRequest { id: nope() }).await;
    assert_eq!(code(suspend, missing), Code::NotFound);
    let terminate = c.sup.terminate_supervisor(pb::TerminateSupervisorRequest { id: nope() }).await;
    assert_eq!(code(terminate, missing), Code::NotFound);
    let reset = c.sup.reset_supervisor(pb::ResetSupervisorRequest { id: nope() }).await;
    assert_eq!(code(reset, missing), Code::NotFound);

    let bad = |spec_json: String| pb::SubmitSupervisorRequest { spec_json };
    let r = c.sup.submit_supervisor(bad("{not json".into())).await;
    assert_eq!(code(r, "spec_json is not valid JSON"), Code::InvalidArgument);
    let mut typo = spec(stream.dir.path(), &[]);
    typo["ioConfig"]["taskDuration"] = json!("1h");
    let r = c.sup.submit_supervisor(bad(typo.to_string())).await;
    assert_eq!(code(r, "[ioConfig.taskDuration]: \"1h\" is not an ISO-8601 period"), Code::InvalidArgument);
    let index_body = stream.spec("flows", 2, json!({}));
    let r = c.sup.submit_supervisor(bad(index_body.to_string())).await;
    assert_eq!(code(r, "not a Druid supervisor spec"), Code::InvalidArgument);
    assert!(c.sup.list_supervisors(pb::ListSupervisorsRequest::default()).await.unwrap().into_inner().ids.is_empty());

    submit(&mut c, &spec(stream.dir.path(), &[])).await;
    let mut other = spec(stream.dir.path(), &[]);
    other["ioConfig"]["stream"] = json!("other");
    let r = c.sup.submit_supervisor(bad(other.to_string())).await;
    assert_eq!(code(r, "[ioConfig.stream] cannot change on a running supervisor"), Code::FailedPrecondition);
    let offsets = |p: u32, o: &str| pb::ResetSupervisorOffsetsRequest {
        id: "flows".into(),
        offsets: BTreeMap::from([(p, o.to_string())]),
    };
    let r = c.sup.reset_supervisor_offsets(offsets(5, "1")).await;
    assert_eq!(code(r, "has no shard 5"), Code::InvalidArgument);
    let r = c.sup.reset_supervisor_offsets(offsets(0, "x")).await;
    assert_eq!(code(r, "reset of shard 0"), Code::InvalidArgument);
    let r = c
        .sup
        .reset_supervisor_offsets(pb::ResetSupervisorOffsetsRequest { id: "flows".into(), offsets: BTreeMap::new() })
        .await;
    assert_eq!(code(r, "no partition offsets to reset"), Code::InvalidArgument);
    let ids = c.sup.list_supervisors(pb::ListSupervisorsRequest::default()).await.unwrap().into_inner();
    assert_eq!((ids.ids, ids.supervisors.len()), (vec!["flows".to_string()], 0), "ids only without full");
}

fn ctl(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(["ctl", "--addr", &server.addr]).args(args).output().unwrap()
}

/// The stdout of a `sluice ctl` call that must succeed.
fn ctl_ok(server: &Server, args: &[&str]) -> String {
    let out = ctl(server, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "sluice ctl {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn sluice_ctl_supervisor_submits_suspends_resets_offsets_and_reports() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = clients(&server).await;
    let stream = Stream::new(2);
    // A relative baseDirectory is relative to the spec file.
    let mut relative = spec(Path::new("."), &[]);
    relative["ioConfig"]["baseDirectory"] = json!(".");
    let file = stream.dir.path().join("flows.json");
    std::fs::write(&file, relative.to_string()).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(ctl_ok(&server, &["supervisor", "submit", file]), "created supervisor flows (2 partitions)\n");
    assert_eq!(
        ctl_ok(&server, &["supervisor", "submit", file]),
        "supervisor flows unchanged: it runs this spec already\n"
    );
    append(&stream, 0, 0..3);
    append(&stream, 1, 0..2);
    stream.append(1, &["{not json"]);
    wait_caught_up(&mut c, [3, 3]).await;

    let status = ctl_ok(&server, &["supervisor", "status", "flows"]);
    let lines: Vec<&str> = status.lines().filter(|l| !l.starts_with("offsets updated:")).collect();
    assert_eq!(
        lines[..12],
        [
            "id:              flows",
            "stream:          events, 2 partitions, replicas 1, task duration 3600 s",
            "state:           RUNNING (detailed: RUNNING)",
            "healthy:         true",
            "suspended:       false",
            "aggregate lag:   0",
            "",
            "PARTITION  CURRENT_OFFSET  LATEST_OFFSET  LAG",
            "0          3               3              0",
            "1          3               3              0",
            "",
            "TASK                TYPE    STARTED               REMAINING_S",
        ],
        "{status}"
    );
    assert!(lines[12].starts_with("index_file_flows_0  ACTIVE  "), "{status}");
    assert!(lines[13].starts_with("index_file_flows_1  ACTIVE  "), "{status}");
    assert_eq!(lines[14..], ["", "recent errors: none"], "{status}");
    assert_eq!(
        ctl_ok(&server, &["supervisor", "stats", "flows"]),
        "PARTITION  PROCESSED  PROCESSED_WITH_ERROR  UNPARSEABLE  THROWN_AWAY\n\
         0          3          0                     0            0\n\
         1          2          0                     1            0\n\
         total      5          0                     1            0\n"
    );
    assert_eq!(ctl_ok(&server, &["supervisor", "health", "flows"]), "healthy (RUNNING)\n");

    assert_eq!(ctl_ok(&server, &["supervisor", "suspend", "flows"]), "suspended flows\n");
    let out = ctl(&server, &["supervisor", "suspend", "flows"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: FAILED_PRECONDITION: supervisor flows is already suspended\n"
    );
    assert_eq!(
        ctl_ok(&server, &["supervisor", "list", "--full"]),
        "ID     STATE      DETAILED_STATE  HEALTHY  SUSPENDED\nflows  SUSPENDED  SUSPENDED       true     true\n"
    );
    assert_eq!(
        ctl_ok(&server, &["supervisor", "reset-offsets", "flows", "0=1"]),
        "reset flows: partition 0 resumes at 1\n"
    );
    let json: Value = serde_json::from_str(&ctl_ok(&server, &["--json", "supervisor", "status", "flows"])).unwrap();
    assert_eq!(json["current_offsets"], json!({"0": "1", "1": "3"}), "partition 1 keeps its offset");
    assert_eq!((json["state"].clone(), json["suspended"].clone()), (json!("SUSPENDED"), json!(true)));
    assert_eq!(json["active_tasks"], json!([]));

    // History: the suspension (newest) and the creation, the spec in the last column.
    let history = ctl_ok(&server, &["supervisor", "history", "flows"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].starts_with("VERSION") && lines[0].ends_with("SPEC"), "{history}");
    let spec_of = |line: &str| -> Value { serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap() };
    assert_eq!((spec_of(lines[1])["suspended"].clone(), spec_of(lines[2]).get("suspended")), (json!(true), None));
    assert_eq!(
        spec_of(lines[2])["ioConfig"]["baseDirectory"],
        json!(stream.dir.path().join(".")),
        "resolved against the file"
    );
    let json: Value = serde_json::from_str(&ctl_ok(&server, &["--json", "supervisor", "history", "flows"])).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    assert_eq!(json[0]["spec"]["suspended"], true, "spec_json as JSON: {json}");

    let out = ctl(&server, &["supervisor", "status", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "error: NOT_FOUND: no supervisor named nope\n");
    assert_eq!(ctl_ok(&server, &["supervisor", "resume", "flows"]), "resumed flows\n");
    wait_caught_up(&mut c, [5, 3]).await;
}
