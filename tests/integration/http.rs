//! The HTTP API (`sluice serve --http-listen`), end to end: `curl` against a
//! real `sluice serve` child process, and the official OpenSearch Python
//! client (opensearch-py) running `http_opensearch_py.py` against it. Each
//! call's response body is checked, and so is its effect on the ingestion
//! (documents, pointers after a reset, paused flags, blocked shards).

use crate::support::grpc_server::{Server, TIMEOUT};
use crate::support::{Stream, msg};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OPENSEARCH_PY_HINT: &str = "the HTTP API tests need the opensearch-py client (PyPI) for python3: run \
     ./scripts/test (it installs it), or `python3 -m pip install opensearch-py==3.2.0`";

/// The HTTP API of a server, called with curl (also by `http_druid.rs`).
pub(crate) struct Api {
    base: String,
    /// The `Authorization` header's value.
    auth: Option<String>,
}

/// A response: status and JSON body (`Null` when empty).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Api {
    pub(crate) fn new(server: &Server, token: Option<&str>) -> Api {
        let base = server.http.clone().expect("started with --http-listen");
        Api { base, auth: token.map(|t| format!("Bearer {t}")) }
    }

    /// The same server with another `Authorization` header (or none).
    pub(crate) fn with_auth(&self, auth: Option<&str>) -> Api {
        Api { base: self.base.clone(), auth: auth.map(Into::into) }
    }

    /// One request; the body goes through stdin (never on the command line).
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}"]).arg(format!("{}{path}", self.base));
        if let Some(a) = &self.auth {
            cmd.args(["-H", &format!("Authorization: {a}")]);
        }
        if body.is_some() {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", "@-"]);
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("curl");
        child.stdin.take().unwrap().write_all(body.unwrap_or_default().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "curl {method} {path}: {}", String::from_utf8_lossy(&out.stderr));
        let out = String::from_utf8(out.stdout).unwrap();
        let (text, status) = out.rsplit_once('\n').unwrap();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        Reply { status: status.parse().unwrap(), body, text: text.to_string() }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None)
    }

    pub(crate) fn send(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.call(method, path, Some(&body.to_string()))
    }

    /// `HEAD`: the status only (curl -I).
    fn head(&self, path: &str) -> u16 {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o", "/dev/null", "-I", "-w", "%{http_code}"]).arg(format!("{}{path}", self.base));
        if let Some(a) = &self.auth {
            cmd.args(["-H", &format!("Authorization: {a}")]);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap().parse().unwrap()
    }

    /// Polls `path` until `pred` holds on its body.
    pub(crate) fn wait(&self, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let r = self.get(path);
            if r.status == 200 && pred(&r.body) {
                return r.body;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {} {}", r.status, r.text);
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

/// Asserts an OpenSearch error: status, type and a part of the reason.
#[track_caller]
fn assert_error(r: &Reply, status: u16, kind: &str, reason: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["status"], status, "{}", r.text);
    assert_eq!(r.body["error"]["type"], kind, "{}", r.text);
    assert_eq!(r.body["error"]["root_cause"][0]["type"], kind, "{}", r.text);
    let got = r.body["error"]["reason"].as_str().unwrap_or_default();
    assert!(got.contains(reason), "{got:?} does not mention {reason:?}");
}

/// Messages with ids `<prefix>-<i>`, external version 1.
fn docs(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| msg(Some(&format!("{prefix}-{i}")), Some(1), "index", json!({"n": i}))).collect()
}

/// The index body for `PUT /{index}`: a spec without its name.
fn index_body(stream: &Stream, shards: u32, source: Value) -> Value {
    let mut spec = stream.spec("unused", shards, source);
    spec.as_object_mut().unwrap().remove("name");
    spec
}

fn shard<'a>(stats: &'a Value, index: &str, shard: u32) -> &'a Value {
    &stats["indices"][index]["shards"][shard.to_string()][0]
}

fn processed(stats: &Value, index: &str, n: u32) -> u64 {
    shard(stats, index, n)["polling_ingest_stats"]["message_processor_stats"]["total_processed_count"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[test]
fn index_document_and_stats_calls_over_curl() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--http-listen", "127.0.0.1:0"]);
    let api = Api::new(&server, None);
    let stream = Stream::new(2);
    stream.append(0, &docs("a", 0..6));
    stream.append(1, &docs("b", 0..4));

    let r = api.get("/_cluster/health");
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("green")));
    assert_eq!(api.get("/").body["version"]["distribution"], "sluice");
    assert_eq!(api.head("/"), 200);

    // Create; the name comes from the URL.
    let body = index_body(&stream, 2, json!({}));
    let r = api.send("PUT", "/logs", &body);
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"acknowledged": true, "shards_acknowledged": true, "index": "logs"}))
    );
    assert_error(
        &api.send("PUT", "/logs", &body),
        400,
        "resource_already_exists_exception",
        "index [logs] already exists",
    );
    let mut named = body.clone();
    named["name"] = json!("other");
    assert_error(
        &api.send("PUT", "/logs2", &named),
        400,
        "illegal_argument_exception",
        "differs from the index in the URL [logs2]",
    );
    let typo = index_body(&stream, 2, json!({"error_stratgy": "DROP"}));
    assert_error(&api.send("PUT", "/typo", &typo), 400, "illegal_argument_exception", "error_stratgy");
    assert_error(&api.call("PUT", "/bad", Some("{not json")), 400, "parse_exception", "not valid JSON");
    assert_eq!((api.head("/logs"), api.head("/typo"), api.head("/nope")), (200, 404, 404));

    // Get: OpenSearch's shape, settings as strings.
    let r = api.get("/logs");
    let index = &r.body["logs"];
    assert_eq!(index["settings"]["index"]["number_of_shards"], "2", "{}", r.text);
    assert_eq!(index["settings"]["index"]["ingestion_source"]["type"], "file");
    assert_eq!(index["settings"]["index"]["ingestion_source"]["pointer"]["init"]["reset"], "earliest");
    assert_eq!(index["settings"]["index"]["provided_name"], "logs");
    assert_eq!((&index["mappings"], &index["aliases"]), (&json!({}), &json!({})));
    assert_eq!(index["sluice"]["plugin"]["name"], "opensearch");
    let flat = api.get("/logs/_settings?flat_settings=true");
    assert_eq!(flat.body["logs"]["settings"]["index.ingestion_source.poll.timeout"], "50");
    assert_eq!(api.get("/logs/_mapping").body, json!({"logs": {"mappings": {}}}));
    let missing = api.get("/nope");
    assert_error(&missing, 404, "index_not_found_exception", "no such index [nope]");
    assert_eq!(
        (&missing.body["error"]["index"], &missing.body["error"]["resource.id"]),
        (&json!("nope"), &json!("nope"))
    );

    // Documents.
    api.wait("/logs/_count", "10 documents", |b| b["count"] == 10);
    let r = api.get("/logs/_doc/a-3");
    assert_eq!(r.body, json!({"_index": "logs", "_id": "a-3", "_version": 1, "found": true, "_source": {"n": 3}}));
    let r = api.get("/logs/_doc/zz");
    assert_eq!((r.status, &r.body), (404, &json!({"_index": "logs", "_id": "zz", "found": false})));
    assert_error(&api.get("/nope/_doc/a-1"), 404, "index_not_found_exception", "no such index [nope]");
    assert_eq!(api.send("POST", "/logs/_count", &json!({"query": {"term": {"_id": "b-2"}}})).body["count"], 1);
    assert_eq!(api.get("/logs/_count").body["_shards"]["total"], 2);

    let ids = |r: &Reply| -> Vec<String> {
        r.body["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].as_str().unwrap().to_string()).collect()
    };
    let r = api.send("POST", "/logs/_search?size=3&from=1", &json!({"query": {"match_all": {}}}));
    assert_eq!(
        (ids(&r), &r.body["hits"]["total"]),
        (vec!["a-1".into(), "a-2".into(), "a-3".into()], &json!({"value": 10, "relation": "eq"}))
    );
    assert_eq!(r.body["hits"]["hits"][0]["_source"], json!({"n": 1}));
    let r = api.send("GET", "/logs/_search", &json!({"query": {"ids": {"values": ["b-3", "a-0", "zz"]}}}));
    assert_eq!((ids(&r), r.body["hits"]["total"]["value"].as_u64()), (vec!["a-0".into(), "b-3".into()], Some(2)));
    let (mut seen, mut after) = (vec![], None::<Value>);
    loop {
        let mut q = json!({"size": 4, "sort": ["_id"]});
        if let Some(a) = &after {
            q["search_after"] = a.clone();
        }
        let r = api.send("POST", "/logs/_search", &q);
        let page = r.body["hits"]["hits"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap()["sort"].clone());
        seen.extend(ids(&r));
    }
    let mut all: Vec<String> = (0..6).map(|i| format!("a-{i}")).chain((0..4).map(|i| format!("b-{i}"))).collect();
    all.sort();
    assert_eq!(seen, all, "search_after visits every document once, in _id order");
    let r = api.send("POST", "/logs/_search", &json!({"query": {"match": {"n": 1}}}));
    assert_error(
        &r,
        400,
        "illegal_argument_exception",
        "supports match_all, ids, and term or terms on _id; not [match]",
    );
    let r = api.send("POST", "/logs/_search", &json!({"from": 9_999, "size": 2}));
    assert_error(&r, 400, "illegal_argument_exception", "Result window is too large");
    assert_error(&api.get("/logs/_search?q=n:1"), 400, "illegal_argument_exception", "[q]");

    // State, paged; stats with polling_ingest_stats per shard.
    let r = api.get("/logs/ingestion/_state?size=1");
    let s0 = &r.body["ingestion_state"]["logs"][0];
    assert_eq!((&s0["shard"], &s0["poller_paused"], &s0["error_policy"]), (&json!(0), &json!(false), &json!("DROP")));
    assert_eq!((&s0["last_pointer"], &s0["live_docs"]), (&json!("5"), &json!(6)));
    assert_eq!((&r.body["next_page_token"], &r.body["_shards"]["total"]), (&json!("1"), &json!(1)));
    let r = api.get("/logs/ingestion/_state?size=1&next_token=1");
    assert_eq!(r.body["ingestion_state"]["logs"][0]["shard"], 1);
    assert!(r.body.get("next_page_token").is_none(), "{}", r.text);
    assert_error(&api.get("/logs/ingestion/_state?next_token=7"), 400, "illegal_argument_exception", "[next_token]");
    assert_error(&api.get("/nope/ingestion/_state"), 404, "index_not_found_exception", "nope");

    let stats = api.get("/logs/_stats").body;
    assert_eq!((processed(&stats, "logs", 0), processed(&stats, "logs", 1)), (6, 4));
    assert_eq!(shard(&stats, "logs", 1)["docs"]["count"], 4);
    let p = &shard(&stats, "logs", 0)["polling_ingest_stats"];
    assert_eq!(p["message_processor_stats"]["total_ops_applied_count"], 6);
    assert!(p["consumer_stats"]["total_polled_count"].as_u64().unwrap() >= 6, "{p}");
    assert_eq!(stats["_all"]["primaries"]["docs"]["count"], 10);
    assert!(api.get("/logs/_stats?level=indices").body["indices"]["logs"].get("shards").is_none());
    assert_error(&api.get("/logs/_stats?level=galaxy"), 400, "illegal_argument_exception", "level parameter");
    let nodes = api.get("/_nodes/stats/indices?level=shards").body;
    let per = &nodes["nodes"]["sluice"]["indices"]["shards"]["logs"];
    assert_eq!(per[1]["1"]["polling_ingest_stats"]["message_processor_stats"]["total_processed_count"], 4, "{nodes}");
    assert_eq!(nodes["nodes"]["sluice"]["indices"]["docs"]["count"], 10);
    assert!(api.get("/_nodes/stats").body["nodes"]["sluice"]["indices"].get("shards").is_none());
    assert_error(&api.get("/_nodes/stats/jvm"), 400, "illegal_argument_exception", "[indices] metric only");

    // What sluice does not serve, in OpenSearch's words; ?pretty.
    assert_error(
        &api.get("/_cat/indices"),
        400,
        "illegal_argument_exception",
        "no handler found for uri [/_cat/indices]",
    );
    assert_error(&api.call("POST", "/logs", None), 405, "method_not_allowed_exception", "Incorrect HTTP method");
    assert!(api.get("/logs/_count?pretty").text.contains("\n  \"count\": 10"));

    // Delete keeps the data unless asked; a new index of the name adopts it only when asked.
    let sinks = data.path().join("sinks").join("logs");
    let r = api.call("DELETE", "/logs", None);
    assert_eq!(r.body["acknowledged"], true);
    assert!(r.body["data_left"].as_str().unwrap().contains(sinks.to_str().unwrap()), "{}", r.text);
    assert_eq!(api.head("/logs"), 404);
    assert_error(
        &api.send("PUT", "/logs", &body),
        400,
        "illegal_argument_exception",
        "earlier ingestion of the same name",
    );
    assert_eq!(api.send("PUT", "/logs?adopt_data=true", &body).status, 200);
    assert_eq!(api.get("/logs/_count").body["count"], 10, "the adopted documents");
    let r = api.call("DELETE", "/logs?delete_data=true", None);
    assert_eq!((r.status, &r.body), (200, &json!({"acknowledged": true})));
    assert!(!sinks.exists(), "delete_data removes the sinks");
    assert_error(&api.call("DELETE", "/logs", None), 404, "index_not_found_exception", "no such index [logs]");

    // SIGTERM stops the HTTP server with the gRPC one.
    let base = api.base.clone();
    let code = tokio::runtime::Runtime::new().unwrap().block_on(server.terminate());
    assert_eq!(code, Some(0));
    let refused =
        Command::new("curl").args(["-s", "-o", "/dev/null", &format!("{base}/_cluster/health")]).status().unwrap();
    assert!(!refused.success(), "the HTTP port still answers after SIGTERM");
}

#[test]
fn pause_resume_with_resets_and_settings_over_curl_change_the_ingestion() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--http-listen", "127.0.0.1:0"]);
    let api = Api::new(&server, None);
    let stream = Stream::new(2);
    stream.append(0, &docs("a", 0..6));
    stream.append(1, &docs("b", 0..4));
    assert_eq!(api.send("PUT", "/ing", &index_body(&stream, 2, json!({}))).status, 200);
    api.wait("/ing/_stats", "all 10 read", |s| processed(s, "ing", 0) == 6 && processed(s, "ing", 1) == 4);

    // Pause: both shards stop; what arrives now stays unread.
    let r = api.call("POST", "/ing/ingestion/_pause", None);
    assert_eq!(r.body, json!({"acknowledged": true, "shards_acknowledged": true, "error": ""}));
    let state = api.get("/ing/ingestion/_state").body;
    for s in state["ingestion_state"]["ing"].as_array().unwrap() {
        assert_eq!((&s["poller_paused"], &s["poller_state"]), (&json!(true), &json!("PAUSED")), "{state}");
    }
    assert_eq!(api.get("/ing").body["ing"]["sluice"]["paused_shards"], json!([0, 1]));
    stream.append(0, &docs("a", 6..8));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(api.get("/ing/_count").body["count"], 10, "a paused index reads nothing");
    assert_eq!(api.get("/ing/_doc/a-7").status, 404);
    assert_eq!(api.get("/ing/ingestion/_state").body["ingestion_state"]["ing"][0]["last_pointer"], "5");

    // A reset needs a paused shard, a known shard and a valid mode.
    let reset = |shard: u32, mode: &str, value: &str| json!({"reset_settings": [{"shard": shard, "mode": mode, "value": value}]});
    assert_error(
        &api.send("POST", "/ing/ingestion/_resume", &reset(5, "offset", "1")),
        400,
        "illegal_argument_exception",
        "no shard 5",
    );
    assert_error(
        &api.send("POST", "/ing/ingestion/_resume", &reset(0, "sideways", "1")),
        400,
        "parse_exception",
        "[mode]",
    );
    assert_error(
        &api.send("POST", "/ing/ingestion/_resume", &json!({"resets": []})),
        400,
        "parse_exception",
        "unknown key [resets]",
    );
    assert_error(&api.send("POST", "/nope/ingestion/_resume", &json!({})), 404, "index_not_found_exception", "nope");

    // Resume with shard 0 reset to offset 2: lines 2..7 are read (2..5 again,
    // stale versions; 6 and 7 new); shard 1 goes on where it was.
    let r = api.send("POST", "/ing/ingestion/_resume", &reset(0, "offset", "2"));
    assert_eq!(r.body["acknowledged"], true, "{}", r.text);
    let stats = api.wait("/ing/_stats", "shard 0 re-read 2..7", |s| processed(s, "ing", 0) == 12);
    let m = &shard(&stats, "ing", 0)["polling_ingest_stats"]["message_processor_stats"];
    assert_eq!((&m["total_version_conflicts_count"], &m["total_ops_applied_count"]), (&json!(4), &json!(8)));
    assert_eq!(processed(&stats, "ing", 1), 4);
    let state = api.get("/ing/ingestion/_state").body;
    let s = &state["ingestion_state"]["ing"];
    assert_eq!(
        (&s[0]["last_pointer"], &s[0]["poller_paused"], &s[1]["poller_paused"]),
        (&json!("7"), &json!(false), &json!(false))
    );
    assert_eq!(api.get("/ing/_count").body["count"], 12);
    assert_eq!(api.get("/ing/_doc/a-7").body["found"], true);
    assert_eq!(api.get("/ing").body["ing"]["sluice"]["paused_shards"], json!([]));
    assert_error(
        &api.send("POST", "/ing/ingestion/_resume", &reset(0, "offset", "1")),
        400,
        "illegal_argument_exception",
        "not paused",
    );

    // Settings exactly as OpenSearch's documentation shows them: BLOCK stops
    // shard 1 at a bad line; DROP (nested form) lets it through.
    let r = api.send("PUT", "/ing/_settings", &json!({"index.ingestion_source.error_strategy": "BLOCK"}));
    assert_eq!((r.status, &r.body), (200, &json!({"acknowledged": true})));
    assert_eq!(
        api.get("/ing/_settings").body["ing"]["settings"]["index"]["ingestion_source"]["error_strategy"],
        "BLOCK"
    );
    stream.append(1, &["{broken".to_string()]);
    stream.append(1, &docs("b", 4..5));
    let state = api.wait("/ing/ingestion/_state", "shard 1 BLOCKED", |b| {
        b["ingestion_state"]["ing"][1]["poller_state"] == "BLOCKED"
    });
    let s1 = &state["ingestion_state"]["ing"][1];
    assert_eq!(
        (&s1["error_policy"], &s1["blocked"]["pointer"], &s1["blocked"]["cause"]),
        (&json!("BLOCK"), &json!("4"), &json!("invalid_message"))
    );
    assert_eq!(api.get("/ing/_doc/b-4").status, 404, "nothing after the blocking line");
    let nested = json!({"index": {"ingestion_source": {"error_strategy": "DROP", "poll.max_batch_size": 50}}});
    assert_eq!(api.send("PUT", "/ing/_settings", &nested).status, 200);
    let stats = api.wait("/ing/_stats", "shard 1 through the bad line", |s| processed(s, "ing", 1) == 6);
    let m = &shard(&stats, "ing", 1)["polling_ingest_stats"]["message_processor_stats"];
    assert_eq!((&m["total_invalid_message_count"], &m["total_failures_dropped_count"]), (&json!(1), &json!(1)));
    assert_eq!(api.get("/ing/_doc/b-4").body["_source"], json!({"n": 4}));
    let flat = api.get("/ing/_settings?flat_settings=true").body;
    assert_eq!(flat["ing"]["settings"]["index.ingestion_source.poll.max_batch_size"], "50");
    assert_eq!(flat["ing"]["settings"]["index.ingestion_source.error_strategy"], "DROP");
    // The wrapped form OpenSearch also takes; static settings and empty bodies are refused.
    let wrapped = json!({"settings": {"index.ingestion_source.poll.timeout": 60}});
    assert_eq!(api.send("PUT", "/ing/_settings", &wrapped).status, 200);
    let r = api.send("PUT", "/ing/_settings", &json!({"index.number_of_shards": 3}));
    assert_error(&r, 400, "illegal_argument_exception", "setting [index.number_of_shards] is static");
    assert_error(
        &api.send("PUT", "/ing/_settings", &json!({})),
        400,
        "illegal_argument_exception",
        "no settings to update",
    );
    assert_error(&api.send("PUT", "/nope/_settings", &wrapped), 404, "index_not_found_exception", "nope");
}

/// Fails (never skips) when opensearch-py is missing, saying how to install it.
fn require_opensearch_py() {
    let probe = Command::new("python3").args(["-c", "import opensearchpy"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("{OPENSEARCH_PY_HINT} ({})", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => panic!("{OPENSEARCH_PY_HINT} (python3: {e})"),
    }
}

#[test]
fn the_opensearch_python_client_drives_the_ingestion() {
    require_opensearch_py();
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().with_extension("token");
    std::fs::write(&token_file, "py-tok-81f2\n").unwrap();
    let server =
        Server::start(data.path(), &["--http-listen", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()]);
    let stream = Stream::new(2);
    stream.append(0, &docs("p", 0..10));
    stream.append(1, &docs("q", 0..5));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/integration/http_opensearch_py.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(server.http.as_ref().unwrap())
        .arg("py-tok-81f2")
        .arg(stream.dir.path())
        .arg(&stream.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the opensearch-py script failed:\n{stdout}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    let mut lines = stdout.lines();
    let facts: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(facts, json!({"shard0_processed": 14, "shard1_processed": 5}));
    assert_eq!(lines.next(), Some("ok"));
    // The script deleted the index with its data.
    assert!(!data.path().join("sinks").join("py-index").exists());
    assert!(!server.stderr().contains("py-tok-81f2"), "the token is never logged");
}

#[test]
fn without_the_token_every_call_but_the_health_check_is_401() {
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().with_extension("token");
    std::fs::write(&token_file, "tok-5e1d\n").unwrap();
    let server =
        Server::start(data.path(), &["--http-listen", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&server, Some("tok-5e1d"));
    let stream = Stream::new(1);
    stream.append(0, &docs("a", 0..2));
    let body = index_body(&stream, 1, json!({}));
    assert_eq!(api.send("PUT", "/sec", &body).status, 200);
    api.wait("/sec/_count", "2 documents", |b| b["count"] == 2);

    let spec = body.to_string();
    let calls: Vec<(&str, &str, Option<&str>)> = vec![
        ("GET", "/", None),
        ("PUT", "/sec2", Some(spec.as_str())),
        ("GET", "/sec", None),
        ("GET", "/sec/_settings", None),
        ("PUT", "/sec/_settings", Some(r#"{"index.ingestion_source.error_strategy": "BLOCK"}"#)),
        ("GET", "/sec/_mapping", None),
        ("POST", "/sec/ingestion/_pause", None),
        ("POST", "/sec/ingestion/_resume", Some("{}")),
        ("GET", "/sec/ingestion/_state", None),
        ("GET", "/sec/_doc/a-1", None),
        ("GET", "/sec/_count", None),
        ("POST", "/sec/_search", Some("{}")),
        ("GET", "/sec/_stats", None),
        ("GET", "/_nodes/stats/indices?level=shards", None),
        ("GET", "/_cat/indices", None),
        ("DELETE", "/sec", None),
    ];
    for (auth, reason) in [
        (None, "missing authentication credentials"),
        (Some("Bearer nope"), "wrong bearer token"),
        (Some("tok-5e1d"), "not \"Bearer <token>\""),
        (Some("Basic dG9rLTVlMWQ="), "not \"Bearer <token>\""),
    ] {
        let anonymous = api.with_auth(auth);
        for (method, path, body) in &calls {
            let r = anonymous.call(method, path, *body);
            assert_error(&r, 401, "security_exception", reason);
            assert!(!r.text.contains("tok-5e1d"), "the token is never echoed: {}", r.text);
        }
        assert_eq!(anonymous.head("/sec"), 401);
    }
    // WWW-Authenticate, as HTTP wants with a 401.
    let head = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(format!("{}/sec", api.base))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&head.stdout).to_ascii_lowercase().contains("www-authenticate: bearer"));
    // The refused calls changed nothing.
    assert_eq!(api.head("/sec2"), 404);
    let state = api.get("/sec/ingestion/_state").body;
    assert_eq!(state["ingestion_state"]["sec"][0]["poller_paused"], false, "{state}");
    assert_eq!(
        api.get("/sec/_settings").body["sec"]["settings"]["index"]["ingestion_source"].get("error_strategy"),
        None
    );
    // The health check stays open; with the token every call goes through.
    let open = api.with_auth(None).get("/_cluster/health");
    assert_eq!((open.status, open.body["status"].as_str()), (200, Some("green")));
    for (method, path, body) in &calls {
        let r = api.call(method, path, *body);
        assert_ne!(r.status, 401, "{method} {path}: {}", r.text);
    }
    assert!(!server.stderr().contains("tok-5e1d"), "the token is never logged");
}

#[test]
fn a_kinesis_secret_key_never_appears_in_an_http_response() {
    // A real Kinesis ingestion (kinesalite) whose spec holds the credentials.
    let kl = crate::support::kinesalite::Kinesalite::start();
    kl.create_stream("secret-stream", 1);
    let (access, secret) = ("AKIDSLUICEHTTP5Q", "wJalrXUtnFEMI-sluice-http-secret-3c2b");
    let mut spec = kl.spec("unused", "secret-stream", 1, json!({}));
    spec.as_object_mut().unwrap().remove("name");
    spec["settings"]["ingestion_source"]["param"]["access_key"] = json!(access);
    spec["settings"]["ingestion_source"]["param"]["secret_key"] = json!(secret);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--http-listen", "127.0.0.1:0"]);
    let api = Api::new(&server, None);

    let mut replies = vec![("PUT /kin", api.send("PUT", "/kin", &spec))];
    assert_eq!(replies[0].1.status, 200, "{}", replies[0].1.text);
    let mut typo = spec.clone();
    typo["settings"]["ingestion_source"]["error_stratgy"] = json!("DROP");
    replies.push(("PUT /kin again", api.send("PUT", "/kin", &spec)));
    replies.push(("PUT with a typo", api.send("PUT", "/kin-typo", &typo)));
    let broken = format!("{{\"settings\": {{\"param\": {{\"secret_key\": \"{secret}\"");
    replies.push(("PUT of broken JSON", api.call("PUT", "/kin-broken", Some(&broken))));
    replies.push((
        "PUT _settings",
        api.send("PUT", "/kin/_settings", &json!({"index.ingestion_source.error_strategy": "DROP"})),
    ));
    let changed = json!({"index.ingestion_source.param.secret_key": "another-secret-9"});
    replies.push(("PUT _settings of a static param", api.send("PUT", "/kin/_settings", &changed)));
    for path in [
        "/kin",
        "/kin?flat_settings=true",
        "/kin/_settings",
        "/kin/_settings?flat_settings=true",
        "/kin/_mapping",
        "/kin/ingestion/_state",
        "/kin/_stats",
        "/kin/_count",
        "/kin/_search",
        "/_nodes/stats/indices?level=shards",
    ] {
        replies.push((path, api.get(path)));
    }
    for (what, r) in &replies {
        assert!(!r.text.contains(secret) && !r.text.contains(access), "{what} shows a secret: {}", r.text);
        assert!(!r.text.contains("another-secret-9"), "{what} echoes a secret: {}", r.text);
    }
    let got = &replies.iter().find(|(w, _)| *w == "/kin").unwrap().1.body;
    let param = &got["kin"]["settings"]["index"]["ingestion_source"]["param"];
    assert_eq!((&param["secret_key"], &param["access_key"]), (&json!("<redacted>"), &json!("<redacted>")));
    assert_eq!(param["stream"], "secret-stream");
    let flat = &replies.iter().find(|(w, _)| *w == "/kin?flat_settings=true").unwrap().1.body;
    assert_eq!(flat["kin"]["settings"]["index.ingestion_source.param.secret_key"], "<redacted>");
    assert!(!server.stderr().contains(secret), "a secret was logged: {}", server.stderr());
}
