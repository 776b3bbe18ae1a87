//! Exactly once for what users do (issue 13): a name reused after a delete,
//! a spec whose source or shard count changed under the same name, an
//! import into a host without the documents, and a second host's reads of
//! a shared sink. Each drives the real binary (`sluice run`, `sluice serve`
//! over gRPC) and checks the documents, not only the messages.

use crate::support::grpc_server::{Server, TIMEOUT};
use crate::support::redis_server::RedisServer;
use crate::support::*;
use serde_json::{Value, json};
use sluice::api::proto as pb;
use sluice::sink::ShardSink;
use sluice::sink::redis::RedisSink;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tonic::Code;

fn run(data: &std::path::Path, spec: &Value, extra: &[&str]) -> Output {
    let file = data.with_extension("spec.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--until-idle", "--timeout", "60", "--data-dir"])
        .arg(data)
        .arg(&file)
        .args(extra)
        .output()
        .unwrap()
}

/// Appends `n` documents `d<from>`.. to a shard's file.
fn docs_of(stream: &Stream, shard: u32, from: usize, n: usize) {
    let lines: Vec<String> =
        (from..from + n).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))).collect();
    stream.append(shard, &lines);
}

fn count(data: &std::path::Path, name: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["docs", "count", name, "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn sluice_run_refuses_a_changed_source_or_shard_count_under_the_same_name() {
    let data = tempfile::tempdir().unwrap();
    let users = Stream::new(1);
    docs_of(&users, 0, 0, 9);
    let first = run(data.path(), &users.spec("people", 1, json!({})), &[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(count(data.path(), "people"), 9);

    // The same name, another stream: its lines 0-8 must not be skipped silently.
    let nest = Stream::new(1);
    docs_of(&nest, 0, 100, 12);
    let changed = run(data.path(), &nest.spec("people", 1, json!({})), &[]);
    let stderr = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success(), "a changed source must be refused, not resumed: {stderr}");
    assert!(
        stderr.contains("holds a checkpoint in file stream") && stderr.contains("but the spec now reads"),
        "{stderr}"
    );
    assert!(stderr.contains("--adopt-data") && stderr.contains("choose another name"), "{stderr}");
    assert_eq!(count(data.path(), "people"), 9, "nothing of the new stream was applied");

    // 1 -> 3 shards is refused the same way.
    let wider = run(data.path(), &users.spec("people", 3, json!({})), &[]);
    assert!(!wider.status.success());
    assert!(String::from_utf8_lossy(&wider.stderr).contains("over 3 shards"));

    // Adopted explicitly, the old checkpoint (after line 8) is taken as a
    // position in the new stream: lines 9-11 only, as asked.
    let adopted = run(data.path(), &nest.spec("people", 1, json!({})), &["--adopt-data"]);
    assert!(adopted.status.success(), "{}", String::from_utf8_lossy(&adopted.stderr));
    assert_eq!(count(data.path(), "people"), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_reused_after_delete_is_refused_until_the_data_is_deleted_or_adopted() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let mut c = server.clients().await;
    let old = Stream::new(1);
    docs_of(&old, 0, 0, 20);
    let create = |spec: Value, adopt_data| pb::CreateIngestionRequest { spec_json: spec.to_string(), adopt_data };
    c.ingestions.create_ingestion(create(old.spec("reuse", 1, json!({})), false)).await.unwrap();
    wait_for(|| async { doc_count(&mut c.documents.clone(), "reuse").await == 20 }).await;

    let deleted = c
        .ingestions
        .delete_ingestion(pb::DeleteIngestionRequest { name: "reuse".into(), delete_data: false })
        .await
        .unwrap();
    let left = deleted.into_inner().data_left.expect("a delete without --delete-data says what it left");
    assert!(left.contains(&data.path().join("sinks").join("reuse").display().to_string()), "{left}");

    // A new stream under the old name: refused, nothing stored.
    let new = Stream::new(1);
    docs_of(&new, 0, 500, 5);
    let refused = c.ingestions.create_ingestion(create(new.spec("reuse", 1, json!({})), false)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("belongs to an earlier ingestion of the same name"), "{}", refused.message());
    let listed = c.ingestions.list_ingestions(pb::ListIngestionsRequest {}).await.unwrap().into_inner();
    assert!(listed.ingestions.is_empty());

    // Deleted with its data, the name starts afresh: all 5 new documents, none of the old.
    std::fs::remove_dir_all(data.path().join("sinks").join("reuse")).unwrap();
    c.ingestions.create_ingestion(create(new.spec("reuse", 1, json!({})), false)).await.unwrap();
    wait_for(|| async { doc_count(&mut c.documents.clone(), "reuse").await == 5 }).await;
    let old_doc = c.documents.get_document(pb::GetDocumentRequest { ingestion: "reuse".into(), id: "d0".into() }).await;
    assert_eq!(old_doc.unwrap_err().code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_host_without_the_documents_is_refused_or_reingests() {
    let stream = Stream::new(2);
    docs_of(&stream, 0, 0, 30);
    docs_of(&stream, 1, 30, 10);
    let data_a = tempfile::tempdir().unwrap();
    let a = Server::start(data_a.path(), &[]);
    let mut ca = a.clients().await;
    let spec = stream.spec("imp", 2, json!({}));
    ca.ingestions
        .create_ingestion(pb::CreateIngestionRequest { spec_json: spec.to_string(), adopt_data: false })
        .await
        .unwrap();
    wait_for(|| async { doc_count(&mut ca.documents.clone(), "imp").await == 40 }).await;
    let export = ca.state.export_state(pb::ExportStateRequest {}).await.unwrap().into_inner().state_json;
    drop(a);

    let data_b = tempfile::tempdir().unwrap();
    let b = Server::start(data_b.path(), &[]);
    let mut cb = b.clients().await;
    let refused = cb
        .state
        .import_state(pb::ImportStateRequest { state_json: export.clone(), reset_positions: false })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("not in this host's sink") && refused.message().contains("--reset-positions"),
        "{}",
        refused.message()
    );
    assert!(
        cb.ingestions.list_ingestions(pb::ListIngestionsRequest {}).await.unwrap().into_inner().ingestions.is_empty()
    );

    let imported = cb
        .state
        .import_state(pb::ImportStateRequest { state_json: export, reset_positions: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.ingestions, vec!["imp".to_string()]);
    wait_for(|| async { doc_count(&mut cb.documents.clone(), "imp").await == 40 }).await;
    let state = cb
        .ingestions
        .get_ingestion_state(pb::GetIngestionStateRequest { name: "imp".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let pointers: Vec<_> = state.shards.iter().map(|s| s.last_pointer.clone()).collect();
    assert_eq!(pointers, vec![Some("29".to_string()), Some("9".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_host_reads_the_shared_sinks_pointers_not_a_stale_copy() {
    let redis = RedisServer::start();
    let state = ["--state", &redis.url(), "--state-prefix", "st2"].map(String::from);
    let state: Vec<&str> = state.iter().map(String::as_str).collect();
    let stream = Stream::new(1);
    docs_of(&stream, 0, 0, 10);
    let mut spec = stream.spec("shared", 1, json!({}));
    spec["sluice"] = json!({"sink": {"type": "redis", "url": redis.url(), "key_prefix": "st2"}});

    let data_a = tempfile::tempdir().unwrap();
    let a = Server::start(data_a.path(), &state);
    let mut ca = a.clients().await;
    ca.ingestions
        .create_ingestion(pb::CreateIngestionRequest { spec_json: spec.to_string(), adopt_data: false })
        .await
        .unwrap();
    let sink = RedisSink::open(&redis.url(), "st2", "shared", 0).unwrap();
    wait_for(|| async { sink.meta().unwrap().counters.total_processed_count == 10 }).await;

    // Host B restores the ingestion from Redis and pauses it: B commits
    // nothing more, A goes on.
    let data_b = tempfile::tempdir().unwrap();
    let b = Server::start(data_b.path(), &state);
    let mut cb = b.clients().await;
    cb.ingestions.pause_ingestion(pb::PauseIngestionRequest { name: "shared".into(), shards: vec![] }).await.unwrap();
    docs_of(&stream, 0, 10, 15);
    wait_for(|| async { sink.meta().unwrap().counters.total_processed_count == 25 }).await;

    let state = cb
        .ingestions
        .get_ingestion_state(pb::GetIngestionStateRequest { name: "shared".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let shard = &state.shards[0];
    assert_eq!(shard.last_pointer.as_deref(), Some("24"), "host B shows what Redis holds, not what it last committed");
    assert_eq!(shard.live_docs, 25);
    assert!(shard.paused, "host B's shard is the paused one: every newer commit came from host A");
    let stats = cb.ingestions.get_stats(pb::GetStatsRequest { name: "shared".into() }).await.unwrap().into_inner();
    let processed =
        stats.shards[0].polling_ingest_stats.unwrap().message_processor_stats.unwrap().total_processed_count;
    assert_eq!(processed, 25);
}

async fn doc_count(
    c: &mut sluice::api::proto::documents_client::DocumentsClient<tonic::transport::Channel>,
    name: &str,
) -> u64 {
    match c.count_documents(pb::CountDocumentsRequest { ingestion: name.into(), ..Default::default() }).await {
        Ok(r) => r.into_inner().count,
        Err(_) => 0,
    }
}

async fn wait_for<F, Fut>(mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + TIMEOUT;
    while !cond().await {
        assert!(Instant::now() < deadline, "condition not reached in {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
