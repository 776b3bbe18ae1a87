//! The gRPC control plane, end to end: a real tonic client over TCP against
//! a `sluice serve` child process (and `sluice ctl` against it).

use crate::support::grpc_server::{Clients, Server, TIMEOUT};
use crate::support::{Stream, msg};
use serde_json::{Value, json};
use sluice::api::proto::{self as pb, ingestions_client::IngestionsClient, state_client::StateClient};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::Code;

/// The code of a failed call, asserting that its message mentions `needle`.
fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>, needle: &str) -> Code {
    let s = r.expect_err("the call should fail");
    assert!(s.message().contains(needle), "{:?}: {:?} does not mention {needle:?}", s.code(), s.message());
    s.code()
}

fn spec_text(stream: &Stream, name: &str, shards: u32, source: Value) -> String {
    stream.spec(name, shards, source).to_string()
}

/// Messages with ids `<prefix>-<i>`.
fn docs_lines(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| msg(Some(&format!("{prefix}-{i}")), None, "index", json!({"n": i}))).collect()
}

/// Messages without ids (the host names them `<shard>-<pointer>`).
fn auto_lines(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| msg(None, None, "index", json!({"n": i}))).collect()
}

struct Snapshot {
    state: Vec<pb::ShardState>,
    stats: Vec<pb::ShardStats>,
}

impl Snapshot {
    fn processor(&self, shard: u32) -> pb::MessageProcessorStats {
        self.stats[shard as usize].polling_ingest_stats.unwrap().message_processor_stats.unwrap()
    }
    fn processed(&self, shard: u32) -> u64 {
        self.processor(shard).total_processed_count
    }
    fn last_pointer(&self, shard: u32) -> Option<String> {
        self.state[shard as usize].last_pointer.clone()
    }
}

async fn snapshot(c: &mut Clients, name: &str) -> Snapshot {
    // Stats first, then state: the two calls are not one atomic read, and
    // a state read after the stats is at least as new (a predicate on the
    // counters then sees the pointers of that commit or a later one).
    let stats = c.ingestions.get_stats(pb::GetStatsRequest { name: name.into() }).await.unwrap().into_inner().shards;
    let state = c
        .ingestions
        .get_ingestion_state(pb::GetIngestionStateRequest { name: name.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .shards;
    Snapshot { state, stats }
}

/// Polls state and stats until `pred` holds.
async fn wait_until(c: &mut Clients, name: &str, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let s = snapshot(c, name).await;
        if pred(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}: {:#?}\n{:#?}", s.state, s.stats);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn pause(c: &mut Clients, name: &str, shards: &[u32]) {
    c.ingestions
        .pause_ingestion(pb::PauseIngestionRequest { name: name.into(), shards: shards.to_vec() })
        .await
        .unwrap();
}

async fn resume_with(c: &mut Clients, name: &str, mode: pb::ResetMode, value: Option<&str>) {
    let reset = pb::ShardReset { shard: 0, mode: mode as i32, value: value.map(Into::into) };
    c.ingestions
        .resume_ingestion(pb::ResumeIngestionRequest { name: name.into(), shards: vec![], resets: vec![reset] })
        .await
        .unwrap();
}

async fn get_doc(c: &mut Clients, name: &str, id: &str) -> Result<pb::Document, tonic::Status> {
    c.documents
        .get_document(pb::GetDocumentRequest { ingestion: name.into(), id: id.into() })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn ingestion_rpcs_succeed_and_fail_with_the_right_codes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(2);
    stream.append(0, &docs_lines("a", 0..3));
    stream.append(1, &docs_lines("b", 0..3));
    let spec = spec_text(&stream, "crud", 2, json!({}));

    let i = c
        .ingestions
        .create_ingestion(pb::CreateIngestionRequest { spec_json: spec.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((i.name.as_str(), i.shards, i.source_type.as_str()), ("crud", 2, "file"));
    assert_eq!(i.plugin.as_ref().unwrap().name, "opensearch");
    assert_eq!(i.error_strategy, pb::ErrorPolicy::Drop as i32);
    assert_eq!(i.start_error, None);
    assert_eq!(
        code(
            c.ingestions.create_ingestion(pb::CreateIngestionRequest { spec_json: spec, ..Default::default() }).await,
            "crud"
        ),
        Code::AlreadyExists
    );
    let bad = pb::CreateIngestionRequest { spec_json: "{not json".into(), ..Default::default() };
    assert_eq!(code(c.ingestions.create_ingestion(bad).await, "spec_json is not valid JSON"), Code::InvalidArgument);
    let typo = pb::CreateIngestionRequest {
        spec_json: spec_text(&stream, "typo", 2, json!({"error_stratgy": "DROP"})),
        ..Default::default()
    };
    assert_eq!(code(c.ingestions.create_ingestion(typo).await, "error_stratgy"), Code::InvalidArgument);
    let mut unregistered = stream.spec("plug", 2, json!({}));
    unregistered["sluice"] = json!({"plugin": {"name": "nope"}});
    let unregistered = pb::CreateIngestionRequest { spec_json: unregistered.to_string(), ..Default::default() };
    assert_eq!(
        code(c.ingestions.create_ingestion(unregistered).await, "plugin nope is not registered"),
        Code::FailedPrecondition
    );

    let got = c.ingestions.get_ingestion(pb::GetIngestionRequest { name: "crud".into() }).await.unwrap().into_inner();
    assert_eq!(got.name, "crud");
    assert_eq!(
        code(
            c.ingestions.get_ingestion(pb::GetIngestionRequest { name: "nope".into() }).await,
            "no ingestion named nope"
        ),
        Code::NotFound
    );
    let list = c.ingestions.list_ingestions(pb::ListIngestionsRequest {}).await.unwrap().into_inner().ingestions;
    assert_eq!(list.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["crud"]);

    // Updates: dynamic settings pass, static ones are refused by name.
    let update =
        |name: &str, json: Value| pb::UpdateIngestionRequest { name: name.into(), update_json: json.to_string() };
    let updated = c
        .ingestions
        .update_ingestion(update("crud", json!({"settings": {"index.ingestion_source.poll.max_batch_size": 2}})))
        .await
        .unwrap();
    assert!(updated.into_inner().spec_json.contains("\"index.ingestion_source.poll.max_batch_size\":2"));
    let r = c.ingestions.update_ingestion(update("crud", json!({"settings": {"index.number_of_shards": 3}}))).await;
    assert_eq!(code(r, "index.number_of_shards"), Code::FailedPrecondition);
    assert_eq!(
        code(c.ingestions.update_ingestion(update("crud", json!({"mappings": {}}))).await, "[mappings]"),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(c.ingestions.update_ingestion(update("crud", json!([1]))).await, "JSON object"),
        Code::InvalidArgument
    );
    assert_eq!(code(c.ingestions.update_ingestion(update("nope", json!({}))).await, "nope"), Code::NotFound);
    let history = c
        .ingestions
        .get_spec_history(pb::GetSpecHistoryRequest { name: "crud".into() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(history.iter().map(|h| h.kind.as_str()).collect::<Vec<_>>(), ["created", "updated"]);
    assert_eq!(history[1].detail, "poll.max_batch_size 2");
    assert!(history[0].at_ms > 0 && history[0].spec_json.contains("\"name\":\"crud\""));
    assert_eq!(
        code(c.ingestions.get_spec_history(pb::GetSpecHistoryRequest { name: "nope".into() }).await, "nope"),
        Code::NotFound
    );

    // Pause and resume errors.
    let p = |name: &str, shards: Vec<u32>| pb::PauseIngestionRequest { name: name.into(), shards };
    assert_eq!(code(c.ingestions.pause_ingestion(p("crud", vec![5])).await, "no shard 5"), Code::InvalidArgument);
    assert_eq!(code(c.ingestions.pause_ingestion(p("nope", vec![])).await, "nope"), Code::NotFound);
    let reset = |mode: pb::ResetMode, value: Option<&str>| pb::ResumeIngestionRequest {
        name: "crud".into(),
        shards: vec![0],
        resets: vec![pb::ShardReset { shard: 0, mode: mode as i32, value: value.map(Into::into) }],
    };
    assert_eq!(
        code(c.ingestions.resume_ingestion(reset(pb::ResetMode::Earliest, None)).await, "not paused"),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(c.ingestions.resume_ingestion(reset(pb::ResetMode::Unspecified, None)).await, "mode is required"),
        Code::InvalidArgument
    );
    pause(&mut c, "crud", &[0]).await;
    assert_eq!(
        code(c.ingestions.resume_ingestion(reset(pb::ResetMode::Offset, None)).await, "needs a value"),
        Code::InvalidArgument
    );
    assert_eq!(
        code(c.ingestions.resume_ingestion(reset(pb::ResetMode::Timestamp, Some("soon"))).await, "not a timestamp"),
        Code::InvalidArgument
    );
    c.ingestions
        .resume_ingestion(pb::ResumeIngestionRequest { name: "crud".into(), shards: vec![], resets: vec![] })
        .await
        .unwrap();

    // State pages through the shards; stats carry OpenSearch's names.
    let s = wait_until(&mut c, "crud", "3 messages per shard", |s| s.processed(0) == 3 && s.processed(1) == 3).await;
    assert_eq!((s.last_pointer(0).as_deref(), s.state[0].committed_position.as_deref()), (Some("2"), Some("after 2")));
    assert_eq!((s.state[0].live_docs, s.state[0].state), (3, pb::PollerState::Polling as i32));
    let page =
        |token: &str| pb::GetIngestionStateRequest { name: "crud".into(), page_size: 1, page_token: token.into() };
    let first = c.ingestions.get_ingestion_state(page("")).await.unwrap().into_inner();
    assert_eq!(
        (first.shards.len(), first.shards[0].shard, first.next_page_token.as_str(), first.total_shards),
        (1, 0, "1", 2)
    );
    let second = c.ingestions.get_ingestion_state(page(&first.next_page_token)).await.unwrap().into_inner();
    assert_eq!((second.shards.len(), second.shards[0].shard, second.next_page_token.as_str()), (1, 1, ""));
    assert_eq!(code(c.ingestions.get_ingestion_state(page("7")).await, "page_token"), Code::InvalidArgument);
    let missing = pb::GetIngestionStateRequest { name: "nope".into(), ..Default::default() };
    assert_eq!(code(c.ingestions.get_ingestion_state(missing).await, "nope"), Code::NotFound);
    let stats = c.ingestions.get_stats(pb::GetStatsRequest { name: "crud".into() }).await.unwrap().into_inner();
    let p0 = stats.shards[0].polling_ingest_stats.unwrap();
    assert_eq!(p0.message_processor_stats.unwrap().total_ops_applied_count, 3);
    assert!(p0.consumer_stats.unwrap().total_polled_count >= 3);
    assert_eq!(code(c.ingestions.get_stats(pb::GetStatsRequest { name: "nope".into() }).await, "nope"), Code::NotFound);

    // Delete, with its data.
    let sinks = data.path().join("sinks").join("crud");
    assert!(sinks.exists());
    c.ingestions.delete_ingestion(pb::DeleteIngestionRequest { name: "crud".into(), delete_data: true }).await.unwrap();
    assert!(!sinks.exists());
    let again = pb::DeleteIngestionRequest { name: "crud".into(), delete_data: false };
    assert_eq!(code(c.ingestions.delete_ingestion(again).await, "crud"), Code::NotFound);
    assert!(
        c.ingestions.list_ingestions(pb::ListIngestionsRequest {}).await.unwrap().into_inner().ingestions.is_empty()
    );
}

#[tokio::test]
async fn documents_are_read_back_by_id_counted_and_scanned_in_id_order() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(2);
    // 300 documents in shard 0: a scan crosses the server's 256-document pages.
    stream.append(
        0,
        &(0..300).map(|i| msg(Some(&format!("d{i:03}")), Some(7), "index", json!({"n": i}))).collect::<Vec<_>>(),
    );
    stream.append(1, &docs_lines("e", 0..2));
    let spec_json = spec_text(&stream, "docs", 2, json!({}));
    c.ingestions.create_ingestion(pb::CreateIngestionRequest { spec_json, ..Default::default() }).await.unwrap();
    wait_until(&mut c, "docs", "every message", |s| s.processed(0) == 300 && s.processed(1) == 2).await;

    let d = get_doc(&mut c, "docs", "d042").await.unwrap();
    assert_eq!((d.shard, d.version), (0, Some(7)));
    assert_eq!(serde_json::from_str::<Value>(&d.source_json).unwrap(), json!({"n": 42}));
    assert_eq!(get_doc(&mut c, "docs", "e-1").await.unwrap().shard, 1);
    assert_eq!(code(get_doc(&mut c, "docs", "zzz").await, "zzz"), Code::NotFound);
    assert_eq!(code(get_doc(&mut c, "docs", "").await, "id is required"), Code::InvalidArgument);
    assert_eq!(code(get_doc(&mut c, "nope", "d001").await, "nope"), Code::NotFound);

    let count = |shard: Option<u32>| pb::CountDocumentsRequest { ingestion: "docs".into(), shard };
    assert_eq!(c.documents.count_documents(count(None)).await.unwrap().into_inner().count, 302);
    assert_eq!(c.documents.count_documents(count(Some(1))).await.unwrap().into_inner().count, 2);
    assert_eq!(code(c.documents.count_documents(count(Some(9))).await, "no shard 9"), Code::InvalidArgument);

    async fn scan(c: &mut Clients, shard: u32, after: &str, limit: u64) -> Result<Vec<String>, tonic::Status> {
        let request = pb::ScanDocumentsRequest { ingestion: "docs".into(), shard, start_after: after.into(), limit };
        let mut stream = c.documents.scan_documents(request).await?.into_inner();
        let mut ids = vec![];
        while let Some(d) = stream.message().await? {
            assert_eq!(d.shard, shard);
            ids.push(d.id);
        }
        Ok(ids)
    }
    let all = scan(&mut c, 0, "", 0).await.unwrap();
    assert_eq!(all, (0..300).map(|i| format!("d{i:03}")).collect::<Vec<_>>());
    assert_eq!(scan(&mut c, 0, "d100", 3).await.unwrap(), ["d101", "d102", "d103"]);
    assert_eq!(scan(&mut c, 0, "d250", 0).await.unwrap().len(), 49);
    assert_eq!(scan(&mut c, 1, "", 0).await.unwrap(), ["e-0", "e-1"]);
    assert_eq!(code(scan(&mut c, 9, "", 0).await, "no shard 9"), Code::InvalidArgument);
}

#[tokio::test]
async fn pause_stops_the_committed_pointers_while_messages_arrive_and_resume_catches_up() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(2);
    stream.append(0, &docs_lines("p", 0..5));
    stream.append(1, &docs_lines("q", 0..5));
    c.ingestions
        .create_ingestion(pb::CreateIngestionRequest {
            spec_json: spec_text(&stream, "pz", 2, json!({})),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_until(&mut c, "pz", "5 messages per shard", |s| s.processed(0) == 5 && s.processed(1) == 5).await;

    pause(&mut c, "pz", &[0]).await;
    let info = c.ingestions.get_ingestion(pb::GetIngestionRequest { name: "pz".into() }).await.unwrap().into_inner();
    assert_eq!(info.paused_shards, [0]);
    // PauseIngestion returns once the shard stopped: what arrives now stays unread.
    stream.append(0, &docs_lines("p", 5..10));
    stream.append(1, &docs_lines("q", 5..10));
    // Shard 1 goes on: the new messages are there to be read.
    wait_until(&mut c, "pz", "shard 1 at 10", |s| s.processed(1) == 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = snapshot(&mut c, "pz").await;
    assert_eq!((s.processed(0), s.last_pointer(0).as_deref()), (5, Some("4")), "a paused shard commits nothing");
    assert_eq!((s.state[0].state, s.state[0].paused), (pb::PollerState::Paused as i32, true));
    assert_eq!(code(get_doc(&mut c, "pz", "p-5").await, "p-5"), Code::NotFound);

    c.ingestions
        .resume_ingestion(pb::ResumeIngestionRequest { name: "pz".into(), shards: vec![0], resets: vec![] })
        .await
        .unwrap();
    let s = wait_until(&mut c, "pz", "shard 0 at 10", |s| s.processed(0) == 10).await;
    assert_eq!(s.last_pointer(0).as_deref(), Some("9"));
    assert!(!s.state[0].paused);
    assert_eq!(get_doc(&mut c, "pz", "p-9").await.unwrap().shard, 0);
    let info = c.ingestions.get_ingestion(pb::GetIngestionRequest { name: "pz".into() }).await.unwrap().into_inner();
    assert!(info.paused_shards.is_empty());
}

#[tokio::test]
async fn each_reset_mode_reingests_or_skips_exactly_the_right_messages() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(1);
    stream.append(0, &auto_lines(0..10));
    c.ingestions
        .create_ingestion(pb::CreateIngestionRequest {
            spec_json: spec_text(&stream, "rs", 1, json!({})),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_until(&mut c, "rs", "10 messages", |s| s.processed(0) == 10).await;
    let idle_at = |n: u64| move |s: &Snapshot| s.processed(0) == n && s.state[0].idle;

    // offset 6: lines 6..9 again (their auto ids make the same documents).
    pause(&mut c, "rs", &[]).await;
    resume_with(&mut c, "rs", pb::ResetMode::Offset, Some("6")).await;
    let s = wait_until(&mut c, "rs", "4 re-read", idle_at(14)).await;
    assert_eq!((s.last_pointer(0).as_deref(), s.state[0].live_docs), (Some("9"), 10));

    // earliest: all 10 again.
    pause(&mut c, "rs", &[]).await;
    resume_with(&mut c, "rs", pb::ResetMode::Earliest, None).await;
    wait_until(&mut c, "rs", "10 re-read", idle_at(24)).await;

    // latest: the 3 lines written while paused are skipped; later ones are read.
    pause(&mut c, "rs", &[]).await;
    stream.append(0, &auto_lines(10..13));
    resume_with(&mut c, "rs", pb::ResetMode::Latest, None).await;
    wait_until(&mut c, "rs", "idle at the end", idle_at(24)).await;
    stream.append(0, &auto_lines(13..15));
    let s = wait_until(&mut c, "rs", "the 2 new lines", idle_at(26)).await;
    assert_eq!((s.last_pointer(0).as_deref(), s.state[0].live_docs), (Some("14"), 12));
    for skipped in ["0-10", "0-11", "0-12"] {
        assert_eq!(code(get_doc(&mut c, "rs", skipped).await, skipped), Code::NotFound);
    }
    assert!(get_doc(&mut c, "rs", "0-13").await.is_ok());

    // timestamp: files have none, so it is earliest (OpenSearch's fallback): all 15.
    pause(&mut c, "rs", &[]).await;
    resume_with(&mut c, "rs", pb::ResetMode::Timestamp, Some("1700000000000")).await;
    let s = wait_until(&mut c, "rs", "15 re-read", idle_at(41)).await;
    assert_eq!((s.last_pointer(0).as_deref(), s.state[0].live_docs), (Some("14"), 15));
    assert!(get_doc(&mut c, "rs", "0-11").await.is_ok());

    let history = c
        .ingestions
        .get_spec_history(pb::GetSpecHistoryRequest { name: "rs".into() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let resets: Vec<&str> = history.iter().filter(|h| h.kind == "reset").map(|h| h.detail.as_str()).collect();
    assert_eq!(
        resets,
        [
            "shard 0 reset to at 6",
            "shard 0 reset to earliest",
            "shard 0 reset to latest",
            "shard 0 reset to timestamp 1700000000000"
        ]
    );
}

#[tokio::test]
async fn switching_block_to_drop_with_update_unblocks_a_blocked_shard() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(1);
    stream.append(
        0,
        &[msg(Some("ok-1"), None, "index", json!({})), "{broken".into(), msg(Some("ok-2"), None, "index", json!({}))],
    );
    let spec_json = spec_text(&stream, "blk", 1, json!({"error_strategy": "BLOCK"}));
    let i = c
        .ingestions
        .create_ingestion(pb::CreateIngestionRequest { spec_json, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(i.error_strategy, pb::ErrorPolicy::Block as i32);

    wait_until(&mut c, "blk", "BLOCKED", |s| s.state[0].state == pb::PollerState::Blocked as i32).await;
    // Read again: a snapshot's stats are read before its state, so the one
    // that saw BLOCKED may hold stats from before the commit that preceded
    // it (the shard blocks only after committing what came before).
    let s = snapshot(&mut c, "blk").await;
    assert_eq!(s.state[0].state, pb::PollerState::Blocked as i32);
    let blocked = s.state[0].blocked.clone().unwrap();
    assert_eq!((blocked.pointer.as_str(), blocked.cause.as_str()), ("1", "invalid_message"));
    assert!(!blocked.reason.is_empty());
    assert_eq!(s.state[0].last_error.as_ref().unwrap().pointer.as_deref(), Some("1"));
    assert_eq!((s.processed(0), s.state[0].live_docs), (1, 1));

    let update = json!({"settings": {"index.ingestion_source.error_strategy": "DROP"}}).to_string();
    let i = c
        .ingestions
        .update_ingestion(pb::UpdateIngestionRequest { name: "blk".into(), update_json: update })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(i.error_strategy, pb::ErrorPolicy::Drop as i32);
    let s = wait_until(&mut c, "blk", "all 3 through", |s| s.processed(0) == 3 && s.state[0].idle).await;
    let p = s.processor(0);
    assert_eq!((p.total_invalid_message_count, p.total_failures_dropped_count, p.total_ops_applied_count), (1, 1, 2));
    assert_eq!((s.state[0].blocked.clone(), s.state[0].error_strategy), (None, pb::ErrorPolicy::Drop as i32));
    assert!(get_doc(&mut c, "blk", "ok-2").await.is_ok());
}

fn echo_component() -> Vec<u8> {
    let path = Path::new(env!("SLUICE_TEST_GUESTS_DIR")).join("sluice_echo.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn a_plugin_registered_over_grpc_is_used_and_broken_components_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let register = |name: &str, version: &str, component: Vec<u8>| pb::RegisterPluginRequest {
        name: name.into(),
        version: version.into(),
        component,
    };

    // Random bytes, then a valid core module (not a component): both refused with the reason.
    let mut x = 0x9e3779b97f4a7c15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_eq!(
        code(
            c.plugins.register_plugin(register("noise", "1", noise)).await,
            "not a sluice:plugin/message-format component"
        ),
        Code::InvalidArgument
    );
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    assert_eq!(
        code(c.plugins.register_plugin(register("core", "1", core_module)).await, "component"),
        Code::InvalidArgument
    );
    assert_eq!(
        code(c.plugins.register_plugin(register("bad name", "1", echo_component())).await, "plugin name"),
        Code::InvalidArgument
    );

    let echo = echo_component();
    let p = c.plugins.register_plugin(register("echo", "1.0.0", echo.clone())).await.unwrap().into_inner();
    assert_eq!((p.name.as_str(), p.version.as_str(), p.size), ("echo", "1.0.0", echo.len() as u64));
    assert_eq!(
        code(c.plugins.register_plugin(register("echo", "1.0.0", echo)).await, "already registered"),
        Code::AlreadyExists
    );
    let list = c.plugins.list_plugins(pb::ListPluginsRequest {}).await.unwrap().into_inner().plugins;
    // The built-in plugins first (registered_at_ms 0), then the registered one.
    assert_eq!((list[0].name.as_str(), list[0].registered_at_ms), ("opensearch", 0));
    let registered: Vec<&str> = list.iter().filter(|p| p.registered_at_ms > 0).map(|p| p.name.as_str()).collect();
    assert_eq!((registered, list.last().unwrap().name.as_str()), (vec!["echo"], "echo"));

    let stream = Stream::new(1);
    stream.append(0, &["hello", "world"]);
    let mut spec = stream.spec("echoed", 1, json!({}));
    spec["sluice"] = json!({"plugin": {"name": "echo", "version": "1.0.0"}});
    let i = c
        .ingestions
        .create_ingestion(pb::CreateIngestionRequest { spec_json: spec.to_string(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let plugin = i.plugin.unwrap();
    assert_eq!(
        (plugin.name.as_str(), plugin.version.as_str(), plugin.sha256.as_str()),
        ("echo", "1.0.0", p.sha256.as_str())
    );
    wait_until(&mut c, "echoed", "2 messages", |s| s.processed(0) == 2).await;
    let doc: Value = serde_json::from_str(&get_doc(&mut c, "echoed", "0-1").await.unwrap().source_json).unwrap();
    assert_eq!((doc["payload"].as_str(), doc["pointer"].as_str()), (Some("world"), Some("1")), "{doc}");

    let remove = |name: &str, version: &str| pb::RemovePluginRequest { name: name.into(), version: version.into() };
    assert_eq!(
        code(c.plugins.remove_plugin(remove("echo", "1.0.0")).await, "used by ingestion echoed"),
        Code::FailedPrecondition
    );
    assert_eq!(code(c.plugins.remove_plugin(remove("echo", "9")).await, "not registered"), Code::NotFound);
    c.ingestions
        .delete_ingestion(pb::DeleteIngestionRequest { name: "echoed".into(), delete_data: true })
        .await
        .unwrap();
    c.plugins.remove_plugin(remove("echo", "1.0.0")).await.unwrap();
    let list = c.plugins.list_plugins(pb::ListPluginsRequest {}).await.unwrap().into_inner().plugins;
    assert!(list.iter().all(|p| p.name != "echo" && p.registered_at_ms == 0), "{list:?}");
}

#[tokio::test]
async fn a_restarted_server_restores_a_paused_ingestion_as_paused() {
    let data = tempfile::tempdir().unwrap();
    let stream = Stream::new(2);
    stream.append(0, &docs_lines("r", 0..3));
    stream.append(1, &docs_lines("s", 0..3));
    {
        let server = Server::start(data.path(), &[]);
        let mut c = server.clients().await;
        c.ingestions
            .create_ingestion(pb::CreateIngestionRequest {
                spec_json: spec_text(&stream, "rst", 2, json!({})),
                ..Default::default()
            })
            .await
            .unwrap();
        wait_until(&mut c, "rst", "3 per shard", |s| s.processed(0) == 3 && s.processed(1) == 3).await;
        pause(&mut c, "rst", &[0]).await;
        // A graceful stop: SIGTERM, exit 0.
        let mut watch =
            c.ingestions.watch_ingestion(pb::WatchIngestionRequest { name: "rst".into() }).await.unwrap().into_inner();
        watch.message().await.unwrap().unwrap();
        // An open watch does not hold the shutdown up.
        assert_eq!(server.terminate().await, Some(0));
    }
    stream.append(0, &docs_lines("r", 3..6));
    stream.append(1, &docs_lines("s", 3..6));
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let i = c.ingestions.get_ingestion(pb::GetIngestionRequest { name: "rst".into() }).await.unwrap().into_inner();
    assert_eq!((i.paused_shards, i.start_error), (vec![0], None));
    wait_until(&mut c, "rst", "shard 1 reads on", |s| s.processed(1) == 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = snapshot(&mut c, "rst").await;
    assert_eq!((s.state[0].state, s.state[0].paused), (pb::PollerState::Paused as i32, true));
    assert_eq!((s.processed(0), s.last_pointer(0).as_deref()), (3, Some("2")));
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_unauthenticated_and_the_right_one_accepted() {
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().with_extension("token");
    std::fs::write(&token_file, "tok-3f9a1c\n").unwrap();
    let server = Server::start(data.path(), &["--token-file", token_file.to_str().unwrap()]);
    let channel = server.channel().await;
    let list = |token: Option<&'static str>| {
        let mut request = tonic::Request::new(pb::ListIngestionsRequest {});
        if let Some(t) = token {
            request.metadata_mut().insert("authorization", t.parse().unwrap());
        }
        let mut client = IngestionsClient::new(channel.clone());
        async move { client.list_ingestions(request).await }
    };
    assert_eq!(code(list(None).await, "missing authorization"), Code::Unauthenticated);
    assert_eq!(code(list(Some("Bearer nope")).await, "wrong bearer token"), Code::Unauthenticated);
    assert_eq!(code(list(Some("tok-3f9a1c")).await, "Bearer"), Code::Unauthenticated);
    assert!(list(Some("Bearer tok-3f9a1c")).await.is_ok());
    // Other services too.
    let r = StateClient::new(channel.clone()).export_state(pb::ExportStateRequest {}).await;
    assert_eq!(code(r, "authorization"), Code::Unauthenticated);
    // Health stays open for probes.
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .unwrap();
    assert_eq!(health.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // sluice ctl: with the token file it works; without, the code is printed.
    let ok = ctl(&server, &["--token-file", token_file.to_str().unwrap(), "list"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let refused = ctl(&server, &["list"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("UNAUTHENTICATED: missing authorization"));
    assert!(!server.stderr().contains("tok-3f9a1c"), "the token is never logged");
}

#[test]
fn secrets_are_redacted_in_get_ingestion_history_and_export_state_and_never_logged() {
    // The kinesis source's credentials: a real ingestion (kinesalite) whose
    // spec holds param.access_key and param.secret_key.
    let kl = crate::support::kinesalite::Kinesalite::start();
    kl.create_stream("secret-stream", 1);
    let (access, secret) = ("AKIDSLUICETEST7Q2", "wJalrXUtnFEMI-sluice-secret-9f8e7d");
    let mut spec = kl.spec("kin", "secret-stream", 1, json!({}));
    spec["settings"]["ingestion_source"]["param"]["access_key"] = json!(access);
    spec["settings"]["ingestion_source"]["param"]["secret_key"] = json!(secret);
    // Kinesalite drives its own runtime: the gRPC calls get theirs.
    tokio::runtime::Runtime::new().unwrap().block_on(redaction_over_grpc(spec, access, secret));
}

async fn redaction_over_grpc(spec: Value, access: &str, secret: &str) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let created = c
        .ingestions
        .create_ingestion(pb::CreateIngestionRequest { spec_json: spec.to_string(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let got = c.ingestions.get_ingestion(pb::GetIngestionRequest { name: "kin".into() }).await.unwrap().into_inner();
    let listed = c.ingestions.list_ingestions(pb::ListIngestionsRequest {}).await.unwrap().into_inner();
    let history =
        c.ingestions.get_spec_history(pb::GetSpecHistoryRequest { name: "kin".into() }).await.unwrap().into_inner();
    let export = c.state.export_state(pb::ExportStateRequest {}).await.unwrap().into_inner().state_json;
    for (what, text) in [
        ("CreateIngestion", created.spec_json.clone()),
        ("GetIngestion", got.spec_json.clone()),
        ("ListIngestions", format!("{listed:?}")),
        ("GetSpecHistory", format!("{history:?}")),
        ("ExportState", export.clone()),
    ] {
        assert!(!text.contains(secret) && !text.contains(access), "{what} shows a secret: {text}");
    }
    let spec: Value = serde_json::from_str(&got.spec_json).unwrap();
    let param = &spec["settings"]["ingestion_source"]["param"];
    assert_eq!((param["secret_key"].as_str(), param["access_key"].as_str()), (Some("<redacted>"), Some("<redacted>")));
    assert_eq!(param["stream"], "secret-stream");
    assert!(export.contains("<redacted>"));
    // The redacted export cannot be imported as it is: the secret must be supplied.
    c.ingestions.delete_ingestion(pb::DeleteIngestionRequest { name: "kin".into(), delete_data: false }).await.unwrap();
    let r = c.state.import_state(pb::ImportStateRequest { state_json: export, ..Default::default() }).await;
    // Both lost secrets are named at once, with where to put them.
    let both = "ingestions[0].record.spec.settings.ingestion_source.param.access_key, \
                ingestions[0].record.spec.settings.ingestion_source.param.secret_key";
    assert_eq!(code(r, both), Code::InvalidArgument);
    assert!(!server.stderr().contains(secret), "a secret was logged: {}", server.stderr());
}

#[tokio::test]
async fn state_is_exported_reset_and_imported_with_pointers_and_counters() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(1);
    stream.append(0, &docs_lines("x", 0..4));
    c.ingestions
        .create_ingestion(pb::CreateIngestionRequest {
            spec_json: spec_text(&stream, "exp", 1, json!({})),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_until(&mut c, "exp", "4 messages", |s| s.processed(0) == 4 && s.state[0].idle).await;
    let export = c.state.export_state(pb::ExportStateRequest {}).await.unwrap().into_inner().state_json;
    let v: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(v["format"], "sluice-state-v1");
    assert_eq!(v["ingestions"][0]["shards"][0]["last_pointer"], "3");

    c.state.reset_state(pb::ResetStateRequest { delete_data: false }).await.unwrap();
    assert!(
        c.ingestions.list_ingestions(pb::ListIngestionsRequest {}).await.unwrap().into_inner().ingestions.is_empty()
    );
    let imported = c
        .state
        .import_state(pb::ImportStateRequest { state_json: export.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.ingestions, ["exp"]);
    // It resumes after the exported pointer: nothing is read twice.
    stream.append(0, &docs_lines("x", 4..5));
    let s = wait_until(&mut c, "exp", "the new message", |s| s.processed(0) == 5 && s.state[0].idle).await;
    assert_eq!(s.last_pointer(0).as_deref(), Some("4"));
    let kinds: Vec<String> = c
        .ingestions
        .get_spec_history(pb::GetSpecHistoryRequest { name: "exp".into() })
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .map(|h| h.kind)
        .collect();
    assert_eq!(kinds, ["created", "imported"]);

    assert_eq!(
        code(c.state.import_state(pb::ImportStateRequest { state_json: export, ..Default::default() }).await, "exp"),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            c.state.import_state(pb::ImportStateRequest { state_json: "{}".into(), ..Default::default() }).await,
            "sluice-state-v1"
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            c.state.import_state(pb::ImportStateRequest { state_json: "[".into(), ..Default::default() }).await,
            "state_json"
        ),
        Code::InvalidArgument
    );
    c.state.reset_state(pb::ResetStateRequest { delete_data: true }).await.unwrap();
    assert!(!data.path().join("sinks").join("exp").exists());
}

#[tokio::test]
async fn watch_streams_a_snapshot_whenever_state_or_stats_change() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let stream = Stream::new(1);
    c.ingestions
        .create_ingestion(pb::CreateIngestionRequest {
            spec_json: spec_text(&stream, "w", 1, json!({})),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = c.ingestions.watch_ingestion(pb::WatchIngestionRequest { name: "nope".into() }).await;
    assert_eq!(code(r, "nope"), Code::NotFound);

    let mut watch =
        c.ingestions.watch_ingestion(pb::WatchIngestionRequest { name: "w".into() }).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!((first.name.as_str(), first.shards.len(), first.stats.len()), ("w", 1, 1));
    stream.append(0, &docs_lines("w", 0..3));
    let processed = |s: &pb::IngestionSnapshot| {
        s.stats[0].polling_ingest_stats.unwrap().message_processor_stats.unwrap().total_processed_count
    };
    let deadline = Instant::now() + TIMEOUT;
    let mut snapshots = 1;
    loop {
        let s = tokio::time::timeout(TIMEOUT, watch.message()).await.expect("a snapshot").unwrap().unwrap();
        snapshots += 1;
        if processed(&s) == 3 && s.shards[0].idle {
            assert_eq!(s.shards[0].last_pointer.as_deref(), Some("2"));
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert!(snapshots < 30, "{snapshots} snapshots for 3 messages");
    // Nothing changes now: nothing is sent.
    let quiet = tokio::time::timeout(Duration::from_millis(700), watch.message()).await;
    assert!(quiet.is_err(), "a snapshot came without a change: {quiet:?}");

    // Deleting the ingestion ends a watch with NOT_FOUND.
    let mut watch =
        c.ingestions.watch_ingestion(pb::WatchIngestionRequest { name: "w".into() }).await.unwrap().into_inner();
    watch.message().await.unwrap().unwrap();
    c.ingestions.delete_ingestion(pb::DeleteIngestionRequest { name: "w".into(), delete_data: true }).await.unwrap();
    let end = tokio::time::timeout(TIMEOUT, watch.message()).await.expect("the stream ends");
    assert_eq!(end.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn health_is_serving_and_reflection_lists_the_services() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let channel = server.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "sluice.v1.Ingestions",
        "sluice.v1.Documents",
        "sluice.v1.Plugins",
        "sluice.v1.State",
        "sluice.v1.Supervisors",
    ] {
        let r =
            health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(r.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service}");
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let ask = |request: MessageRequest| {
        tokio_stream::iter([ServerReflectionRequest { host: String::new(), message_request: Some(request) }])
    };
    let mut responses =
        reflection.server_reflection_info(ask(MessageRequest::ListServices(String::new()))).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list of services")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "sluice.v1.Documents",
            "sluice.v1.Ingestions",
            "sluice.v1.Plugins",
            "sluice.v1.State",
            "sluice.v1.Supervisors"
        ]
    );
    let mut responses = reflection
        .server_reflection_info(ask(MessageRequest::FileContainingSymbol("sluice.v1.Ingestions".into())))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("no file descriptor for sluice.v1.Ingestions")
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn the_metrics_endpoint_exposes_the_stats_per_ingestion_and_shard() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let mut c = server.clients().await;
    let stream = Stream::new(2);
    stream.append(0, &docs_lines("m", 0..3));
    stream.append(0, &["{broken"]);
    stream.append(1, &docs_lines("n", 0..1));
    c.ingestions
        .create_ingestion(pb::CreateIngestionRequest {
            spec_json: spec_text(&stream, "met", 2, json!({})),
            ..Default::default()
        })
        .await
        .unwrap();
    wait_until(&mut c, "met", "every message", |s| s.processed(0) == 4 && s.processed(1) == 1).await;

    let get = |path: &str| server.metrics_get(path);
    let body = get("/metrics");
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    for line in [
        "# TYPE sluice_total_processed_count counter",
        "sluice_total_processed_count{ingestion=\"met\",shard=\"0\"} 4",
        "sluice_total_processed_count{ingestion=\"met\",shard=\"1\"} 1",
        "sluice_total_invalid_message_count{ingestion=\"met\",shard=\"0\"} 1",
        "sluice_live_docs{ingestion=\"met\",shard=\"0\"} 3",
        "sluice_shard_paused{ingestion=\"met\",shard=\"1\"} 0",
        "# TYPE sluice_lag_in_millis gauge",
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line:?} in:\n{body}");
    }
    assert!(get("/other").starts_with("HTTP/1.1 404"));
}

fn ctl(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(["ctl", "--addr", &server.addr]).args(args).output().unwrap()
}

fn ctl_ok(server: &Server, args: &[&str]) -> String {
    let out = ctl(server, args);
    assert!(out.status.success(), "sluice ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sluice_ctl_drives_the_main_operations_and_prints_error_codes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let stream = Stream::new(2);
    stream.append(0, &docs_lines("c", 0..3));
    stream.append(1, &docs_lines("d", 0..2));
    let spec = data.path().with_extension("spec.json");
    std::fs::write(&spec, spec_text(&stream, "cli", 2, json!({}))).unwrap();

    let created = ctl_ok(&server, &["create", spec.to_str().unwrap()]);
    assert!(created.contains("name:            cli") && created.contains("status:          running"), "{created}");
    let list = ctl_ok(&server, &["list"]);
    assert!(list.lines().next().unwrap().starts_with("NAME") && list.contains("cli"), "{list}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let stats: Value = serde_json::from_str(&ctl_ok(&server, &["stats", "cli", "--json"])).unwrap();
        let processed: u64 = stats["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["polling_ingest_stats"]["message_processor_stats"]["total_processed_count"].as_u64().unwrap())
            .sum();
        if processed == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "{stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let state: Value = serde_json::from_str(&ctl_ok(&server, &["--json", "state", "cli"])).unwrap();
    assert_eq!(state["shards"][0]["last_pointer"], "2");
    assert_eq!(state["shards"][0]["error_strategy"], "DROP");
    let table = ctl_ok(&server, &["state", "cli"]);
    assert!(table.starts_with("SHARD") && table.contains("after 2"), "{table}");
    assert!(ctl_ok(&server, &["stats", "cli"]).lines().last().unwrap().starts_with("total"));

    assert!(ctl_ok(&server, &["pause", "cli", "--shard", "0"]).contains("paused cli: shards 0"));
    let resumed = ctl_ok(&server, &["resume", "cli", "--shard", "0", "--reset", "0:offset:1"]);
    assert!(resumed.contains("shard 0 reset to offset 1"), "{resumed}");
    let history = ctl_ok(&server, &["history", "cli"]);
    assert!(history.contains("shard 0 reset to at 1"), "{history}");
    assert_eq!(ctl_ok(&server, &["doc", "count", "cli"]).trim(), "5");
    let doc: Value = serde_json::from_str(&ctl_ok(&server, &["doc", "get", "cli", "d-1"])).unwrap();
    assert_eq!((doc["_shard"].as_u64(), &doc["_source"]), (Some(1), &json!({"n": 1})));
    let scanned = ctl_ok(&server, &["doc", "scan", "cli", "--limit", "4"]);
    let ids: Vec<String> = scanned
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["c-0", "c-1", "c-2", "d-0"]);
    let snapshot: Value =
        serde_json::from_str(ctl_ok(&server, &["watch", "cli", "--count", "1", "--json"]).trim()).unwrap();
    assert_eq!(snapshot["name"], "cli");
    assert!(
        ctl_ok(&server, &["update", "cli", r#"{"settings": {"index.ingestion_source.error_strategy": "BLOCK"}}"#])
            .contains("error_strategy:  BLOCK")
    );
    assert!(ctl_ok(&server, &["plugin", "list"]).contains("opensearch"));
    let export: Value = serde_json::from_str(&ctl_ok(&server, &["state", "export"])).unwrap();
    assert_eq!(export["format"], "sluice-state-v1");

    let missing = ctl(&server, &["get", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NOT_FOUND: no ingestion named nope"));
    let refused = ctl(&server, &["state", "reset"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(ctl_ok(&server, &["delete", "cli", "--delete-data"]).contains("deleted cli and its data"));
}

#[test]
fn serve_reports_an_unreachable_redis_state_store_without_echoing_its_password() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--state",
            &format!("redis://:hunter2@127.0.0.1:{port}/0"),
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Redis state store") && stderr.contains(&port.to_string()), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn dropped_messages_are_read_over_the_control_plane_while_the_host_runs() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let stream = Stream::new(2);
    stream.append(0, &docs_lines("a", 0..2));
    stream.append(0, &["{bad 0".to_string(), "{bad 1".to_string()]);
    stream.append(1, &["{bad 2".to_string()]);
    let spec = data.path().with_extension("spec.json");
    std::fs::write(&spec, spec_text(&stream, "drops", 2, json!({"error_strategy": "DROP"}))).unwrap();
    ctl_ok(&server, &["create", spec.to_str().unwrap()]);
    let deadline = Instant::now() + TIMEOUT;
    let lines = loop {
        let out = ctl_ok(&server, &["doc", "dropped", "drops", "--limit", "0"]);
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.len() == 3 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let seen: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|d| (d["shard"].as_u64().unwrap(), d["pointer"].as_str().unwrap(), d["payload"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, vec![(0, "2", "{bad 0"), (0, "3", "{bad 1"), (1, "0", "{bad 2")]);
    assert!(lines.iter().all(|d| !d["reason"].as_str().unwrap().is_empty()));
    // --limit is a total, --shard a list.
    assert_eq!(ctl_ok(&server, &["doc", "dropped", "drops", "--limit", "2"]).lines().count(), 2);
    assert_eq!(ctl_ok(&server, &["doc", "dropped", "drops", "--shard", "1", "--limit", "0"]).lines().count(), 1);
    let bad = ctl(&server, &["doc", "dropped", "drops", "--shard", "5"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("has no shard 5"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
