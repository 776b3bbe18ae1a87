//! OpenSearch's and gRPC's conventions: an index body without `name` (the
//! name comes from the file or `--name`), `_settings` bodies as OpenSearch's
//! docs write them, and server reflection v1alpha for older clients
//! (Python's grpcio-reflection).

use crate::support::grpc_server::Server;
use crate::support::{Stream, msg};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const GRPCIO_REFLECTION_HINT: &str = "the reflection test needs Python's grpcio-reflection client (PyPI) for python3: \
     run ./scripts/test (it installs it), or `python3 -m pip install grpcio-reflection==1.85.1`";

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap()
}

fn ctl(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(["ctl", "--addr", &server.addr]).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stream's spec as an OpenSearch index body: no `name`.
fn index_body(stream: &Stream, shards: u32) -> Value {
    let mut body = stream.spec("unused", shards, json!({}));
    body.as_object_mut().unwrap().remove("name");
    body
}

fn write(path: &Path, body: &Value) -> String {
    std::fs::write(path, body.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn run_takes_the_name_of_an_index_body_from_the_file_and_says_so() {
    let stream = Stream::new(1);
    stream.append(0, &[msg(Some("a"), None, "index", json!({"n": 1}))]);
    let dir = tempfile::tempdir().unwrap();
    let spec = write(&dir.path().join("my-index.json"), &index_body(&stream, 1));
    let data = dir.path().join("data");
    let out = sluice(&["run", &spec, "--until-idle", "--data-dir", data.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "sluice run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ingestion my-index: 1 shards"), "{stdout}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("my-index")).collect();
    assert_eq!(
        notes,
        [format!("{spec} has no \"name\": the ingestion is named \"my-index\" after the file").as_str()],
        "{stderr}"
    );
    let count = sluice(&["docs", "count", "my-index", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(text(&count.stdout).trim(), "1");

    // A stem that is no valid name says where the name came from.
    let bad = write(&dir.path().join("My Index.json"), &index_body(&stream, 1));
    let out = sluice(&["run", &bad, "--until-idle", "--data-dir", data.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(r#"has no "name" and its file name "My Index" is no valid name"#)
            && stderr.contains(r#"add a "name""#),
        "{stderr}"
    );
}

#[test]
fn run_takes_a_druid_supervisor_spec_named_by_its_data_source() {
    // sluice's file supervisor: a relative baseDirectory is relative to the spec file.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("streams").join("events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("0.ndjson"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
    std::fs::write(events.join("1.ndjson"), "{\"a\":3}\n").unwrap();
    let mut spec = json!({"type": "file", "spec": {
        "dataSchema": {"dataSource": "wiki-edits", "timestampSpec": {"column": "ts"}, "dimensionsSpec": {}},
        "ioConfig": {"stream": "events", "baseDirectory": "streams", "useEarliestOffset": true,
                     "inputFormat": {"type": "json"}},
        "tuningConfig": {"type": "file"}}});
    let path = write(&dir.path().join("supervisor.json"), &spec);
    let data = dir.path().join("data");
    let echo = Path::new(env!("SLUICE_TEST_GUESTS_DIR")).join("sluice_echo.wasm");
    let run = |spec: &str| {
        let args =
            ["run", spec, "--until-idle", "--plugin", echo.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
        sluice(&args)
    };
    let out = run(&path);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "sluice run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ingestion wiki-edits: 2 shards"), "the shard count comes from the stream: {stdout}");
    assert!(!stderr.contains("after the file"), "the dataSource is the name: {stderr}");
    let count = sluice(&["docs", "count", "wiki-edits", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(text(&count.stdout).trim(), "3");

    // Without a dataSource, the file's stem names it, and the note says which key was missing.
    spec["spec"]["dataSchema"].as_object_mut().unwrap().remove("dataSource");
    let path = write(&dir.path().join("edits.json"), &spec);
    let out = run(&path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = format!("{path} has no \"dataSchema.dataSource\": the ingestion is named \"edits\" after the file");
    assert!(text(&out.stderr).contains(&note), "{}", text(&out.stderr));
}

#[test]
fn ctl_create_takes_the_name_from_the_flag_or_the_file() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let stream = Stream::new(1);
    let dir = tempfile::tempdir().unwrap();
    let spec = write(&dir.path().join("orders.json"), &index_body(&stream, 1));

    let out = ctl(&server, &["create", &spec]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("name:            orders"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("the ingestion is named \"orders\" after the file"), "{}", text(&out.stderr));

    let out = ctl(&server, &["create", &spec, "--name", "orders-2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("name:            orders-2"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));

    // A body that names itself: --name must agree.
    let mut named = index_body(&stream, 1);
    named["name"] = json!("orders-3");
    let named = write(&dir.path().join("named.json"), &named);
    let out = ctl(&server, &["create", &named, "--name", "other"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(r#"names the ingestion "orders-3" but --name says "other""#), "{stderr}");
    assert!(ctl(&server, &["get", "other"]).status.code() == Some(2), "nothing was created");
    let out = ctl(&server, &["create", &named, "--name", "orders-3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn ctl_update_takes_opensearchs_settings_body_verbatim() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let stream = Stream::new(1);
    let dir = tempfile::tempdir().unwrap();
    let spec = write(&dir.path().join("upd.json"), &index_body(&stream, 1));
    assert!(ctl(&server, &["create", &spec]).status.success());

    // Verbatim from OpenSearch's pull-based ingestion docs.
    let out = ctl(&server, &["update", "upd", r#"{"index.ingestion_source.error_strategy": "BLOCK"}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("error_strategy:  BLOCK"), "{}", text(&out.stdout));
    let out = ctl(&server, &["update", "upd", r#"{"index": {"ingestion_source": {"error_strategy": "DROP"}}}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("error_strategy:  DROP"), "{}", text(&out.stdout));
    // A static setting is named as such.
    let out = ctl(&server, &["update", "upd", r#"{"index.number_of_shards": 2}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("FAILED_PRECONDITION: setting [index.number_of_shards] is static"),
        "{}",
        text(&out.stderr)
    );
}

/// Fails (never skips) when grpcio-reflection is missing, saying how to install it.
fn require_grpcio_reflection() {
    let probe = Command::new("python3").args(["-c", "import grpc_reflection.v1alpha.reflection_pb2_grpc"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("{GRPCIO_REFLECTION_HINT} ({})", text(&out.stderr).trim()),
        Err(e) => panic!("{GRPCIO_REFLECTION_HINT} (python3: {e})"),
    }
}

#[test]
fn pythons_grpcio_reflection_client_lists_and_resolves_the_services_over_v1alpha() {
    require_grpcio_reflection();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/integration/grpc_reflection_v1alpha.py");
    let addr = server.addr.trim_start_matches("http://");
    let out = Command::new("python3").arg(script).arg(addr).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "the grpcio-reflection script failed:\n{stdout}\n{}", text(&out.stderr));
    let facts: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        facts["services"],
        json!([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "sluice.v1.Documents",
            "sluice.v1.Ingestions",
            "sluice.v1.Plugins",
            "sluice.v1.State",
            "sluice.v1.Supervisors"
        ])
    );
    let methods: Vec<&str> =
        facts["ingestions_methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    for m in ["CreateIngestion", "UpdateIngestion", "PauseIngestion", "ResumeIngestion", "WatchIngestion"] {
        assert!(methods.contains(&m), "{m} missing from {methods:?}");
    }
    assert_eq!(facts["create_input"], "sluice.v1.CreateIngestionRequest");
    assert_eq!(stdout.lines().nth(1), Some("ok"));
}

/// `_op_type: update` (OpenSearch #19081, partial updates in pull-based
/// ingestion): the partial `_source` merges into the stored document,
/// versioned like an index, and an update of a missing document creates it.
#[test]
fn an_update_message_merges_a_partial_document_into_the_stored_one() {
    let stream = Stream::new(1);
    stream.append(
        0,
        &[
            msg(Some("a"), Some(1), "index", json!({"name": "Ann", "addr": {"city": "Oslo", "zip": "0150"}, "n": 1})),
            msg(Some("a"), Some(2), "update", json!({"addr": {"city": "Bergen"}, "tags": ["x"]})),
            msg(Some("a"), Some(2), "update", json!({"name": "stale"})), // not newer: a version conflict
            msg(Some("b"), None, "update", json!({"only": true})),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let ing = crate::support::start(&stream.spec("upd", 1, json!({})), data.path());
    crate::support::wait_idle(&ing);
    let docs = crate::support::docs(&ing);
    assert_eq!(
        docs[&(0, "a".to_string())],
        (Some(2), json!({"name": "Ann", "addr": {"city": "Bergen", "zip": "0150"}, "n": 1, "tags": ["x"]}))
    );
    assert_eq!(docs[&(0, "b".to_string())], (None, json!({"only": true})));
    let c = crate::support::counters(&ing, 0);
    assert_eq!((c.total_version_conflicts_count, c.total_ops_applied_count), (1, 3));
}
