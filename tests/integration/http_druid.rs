//! Druid's supervisor API (`/druid/indexer/v1/supervisor`) end to end:
//! `curl` against a real `sluice serve --http-listen` child, with the
//! built-in `druid` plugin over sluice's file supervisor and over the Kafka
//! mock cluster. Each call's body is checked, and so is its effect on the
//! ingestion: rows (sums of the rollup's `count` and `v` through `_search`),
//! offsets in the status after resets, suspended flags, terminate not
//! restored after a restart with its history kept; 404, 400 and 401; and a
//! Kafka `sasl.password` never in any response.

use crate::http::{Api, Reply};
use crate::support::Stream;
use crate::support::grpc_server::Server;
use crate::support::kafka::{Kafka, TOPIC};
use serde_json::{Value, json};
use std::time::Duration;

const S: &str = "/druid/indexer/v1/supervisor";

/// 2018-01-01T01:00:00Z: every event falls in one hour, so the rollup keeps
/// one row per key and shard, and sums are exact counts of what was applied.
const T0: u64 = 1_514_768_400_000;

/// Events `{"timestamp", "k", "v": i}` for `i` in `range`.
fn events(range: std::ops::Range<u64>, k: &str) -> Vec<String> {
    range.map(|i| json!({"timestamp": T0 + i * 1000, "k": k, "v": i}).to_string()).collect()
}

fn data_schema(name: &str) -> Value {
    json!({
        "dataSource": name,
        "timestampSpec": {"column": "timestamp", "format": "millis"},
        "dimensionsSpec": {"dimensions": ["k"]},
        "metricsSpec": [{"type": "count", "name": "count"}, {"type": "longSum", "name": "v", "fieldName": "v"}],
        "granularitySpec": {"segmentGranularity": "hour", "queryGranularity": "hour", "rollup": true}
    })
}

/// A file supervisor spec (sluice's Druid extension) over `stream`.
fn file_spec(stream: &Stream, name: &str) -> Value {
    json!({
        "type": "file",
        "dataSchema": data_schema(name),
        "ioConfig": {"stream": stream.name, "baseDirectory": stream.dir.path(), "inputFormat": {"type": "json"},
            "useEarliestOffset": true, "pollTimeout": 20},
        "tuningConfig": {"type": "file"}
    })
}

/// (sum of `count`, sum of `v`) over every row of `index`, through `_search`.
fn sums(api: &Api, index: &str) -> (u64, u64) {
    let r = api.send("POST", &format!("/{index}/_search"), &json!({"size": 1000}));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["hits"]["hits"].as_array().unwrap().iter().fold((0, 0), |(c, v), h| {
        (c + h["_source"]["count"].as_u64().unwrap(), v + h["_source"]["v"].as_u64().unwrap())
    })
}

/// Messages shard `shard` has processed, from Druid's row stats.
fn processed(stats: &Value, id: &str, kind: &str, shard: u32) -> u64 {
    stats[shard.to_string()][format!("index_{kind}_{id}_{shard}")]["totals"]["buildSegments"]["processed"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

fn wait_processed(api: &Api, id: &str, kind: &str, want: &[u64]) -> Value {
    api.wait(&format!("{S}/{id}/stats"), &format!("{id} processed {want:?}"), |s| {
        want.iter().enumerate().all(|(shard, n)| processed(s, id, kind, shard as u32) == *n)
    })
}

/// Asserts Druid's `{"error": message}`.
#[track_caller]
fn assert_druid(r: &Reply, status: u16, message: &str) {
    assert_eq!((r.status, &r.body), (status, &json!({ "error": message })), "{}", r.text);
}

/// Asserts Druid's invalid-input exception, with part of its message.
#[track_caller]
fn assert_invalid_input(r: &Reply, message: &str) {
    assert_eq!(
        (r.status, &r.body["error"], &r.body["errorCode"]),
        (400, &json!("druidException"), &json!("invalidInput"))
    );
    let got = r.body["errorMessage"].as_str().unwrap_or_default();
    assert!(got.contains(message), "{got:?} does not say {message:?}");
}

fn post(api: &Api, path: &str) -> Reply {
    api.call("POST", &format!("{S}{path}"), None)
}

fn reset_body(kind: &str, stream: &str, offsets: Value) -> Value {
    json!({"type": kind, "partitions": {"type": "end", "stream": stream, "partitionOffsetMap": offsets}})
}

fn status(api: &Api, id: &str) -> Value {
    let r = api.get(&format!("{S}/{id}/status"));
    assert_eq!((r.status, &r.body["id"]), (200, &json!(id)), "{}", r.text);
    r.body["payload"].clone()
}

#[test]
fn druid_supervisor_calls_over_http_drive_a_real_ingestion() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--http-listen", "127.0.0.1:0"]);
    let api = Api::new(&server, None);
    let stream = Stream::new(2);
    stream.append(0, &events(0..10, "a"));
    stream.append(1, &events(0..4, "b"));
    let spec = file_spec(&stream, "flows");

    // Submit; list; the rows.
    let r = api.send("POST", S, &spec);
    assert_eq!((r.status, &r.body), (200, &json!({"id": "flows"})), "{}", r.text);
    assert_eq!(api.get(S).body, json!(["flows"]));
    let stats = wait_processed(&api, "flows", "file", &[10, 4]);
    assert_eq!(
        stats["0"]["index_file_flows_0"],
        json!({"movingAverages": {}, "totals": {"buildSegments":
            {"processed": 10, "processedWithError": 0, "thrownAway": 0, "unparseable": 0}}})
    );
    assert_eq!(sums(&api, "flows"), (14, 45 + 6));
    let full = api.get(&format!("{S}?full")).body;
    let f = &full[0];
    assert_eq!(
        (&f["id"], &f["state"], &f["healthy"], &f["suspended"]),
        (&json!("flows"), &json!("RUNNING"), &json!(true), &json!(false))
    );
    assert_eq!((&f["spec"]["dataSchema"], &f["spec"]["ioConfig"]), (&spec["dataSchema"], &spec["ioConfig"]));
    let state = api.get(&format!("{S}?state=true")).body;
    assert_eq!(
        state,
        json!([{"id": "flows", "state": "RUNNING", "detailedState": "RUNNING", "healthy": true, "suspended": false}])
    );
    // The spec as submitted, with the shard count sluice learned.
    let mut stored = spec.clone();
    stored["sluice"] = json!({"shards": 2});
    assert_eq!(api.get(&format!("{S}/flows")).body, stored);
    let st = status(&api, "flows");
    assert_eq!((&st["dataSource"], &st["stream"], &st["partitions"]), (&json!("flows"), &json!("events"), &json!(2)));
    assert_eq!(
        (&st["currentOffsets"], &st["state"], &st["suspended"]),
        (&json!({"0": 10, "1": 4}), &json!("RUNNING"), &json!(false))
    );
    assert_eq!(st["activeTasks"][1]["id"], "index_file_flows_1");
    assert!(api.get(&format!("{S}/flows/status")).body["generationTime"].as_str().unwrap().ends_with('Z'));
    let h = api.get(&format!("{S}/flows/health"));
    assert_eq!((h.status, &h.body), (200, &json!({"healthy": true})));

    // Replace the spec: the new one starts at the offsets the old one reached.
    let mut thirty = spec.clone();
    thirty["ioConfig"]["taskDuration"] = json!("PT30M");
    assert_eq!(api.send("POST", S, &thirty).body, json!({"id": "flows"}));
    assert_eq!(api.send("POST", &format!("{S}?skipRestartIfUnmodified=true"), &thirty).status, 200);
    assert_eq!(status(&api, "flows")["durationSeconds"], 1800);
    stream.append(0, &events(10..12, "a"));
    wait_processed(&api, "flows", "file", &[12, 4]);
    assert_eq!(sums(&api, "flows"), (16, 51 + 21), "nothing read twice across the switch");

    // Suspend: the updated spec; nothing is read; a second suspend is 400.
    let r = post(&api, "/flows/suspend");
    assert_eq!((r.status, &r.body["suspended"], &r.body["dataSchema"]), (200, &json!(true), &spec["dataSchema"]));
    assert_druid(&post(&api, "/flows/suspend"), 400, "supervisor flows is already suspended");
    let st = status(&api, "flows");
    assert_eq!((&st["state"], &st["suspended"], &st["activeTasks"]), (&json!("SUSPENDED"), &json!(true), &json!([])));
    stream.append(1, &events(4..7, "b"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(processed(&api.get(&format!("{S}/flows/stats")).body, "flows", "file", 1), 4);

    // resetOffsets (while suspended): the position is durable when the call returns.
    let r = api.send("POST", &format!("{S}/flows/resetOffsets"), &reset_body("file", "events", json!({"0": 8})));
    assert_eq!((r.status, &r.body), (200, &json!({"id": "flows"})), "{}", r.text);
    let st = status(&api, "flows");
    assert_eq!((&st["currentOffsets"], &st["suspended"]), (&json!({"0": 8, "1": 4}), &json!(true)));
    assert_eq!(sums(&api, "flows"), (16, 72));
    for (body, message) in [
        (
            reset_body("file", "other", json!({"0": 1})),
            "Stream[other] doesn't exist in the supervisor[flows]. Supervisor is consuming stream[events].",
        ),
        (reset_body("kafka", "events", json!({"0": 1})), "of type [kafka]; supervisor [flows] is of type [file]"),
        (reset_body("file", "events", json!({"7": 1})), "partition [7] is not one of stream [events]'s 2 partitions"),
        (
            json!({"type": "file", "partitions": {"type": "start", "stream": "events", "partitionOffsetMap": {}}}),
            "can only be of type",
        ),
    ] {
        assert_invalid_input(&api.send("POST", &format!("{S}/flows/resetOffsets"), &body), message);
    }
    let r = api.call("POST", &format!("{S}/flows/resetOffsets"), Some("{nope"));
    assert!(r.status == 400 && r.body["error"].as_str().unwrap().contains("not valid JSON"), "{}", r.text);
    let r = api.send("POST", &format!("{S}/flows/resetOffsets"), &json!({"type": "file"}));
    assert_druid(
        &r,
        400,
        "the resetOffsets body: [partitions] is required; it reads {\"type\": \"kafka\", \"partitions\": {\"type\": \"end\", \"stream\": \"<topic>\", \"partitionOffsetMap\": {\"0\": 100}}}",
    );

    // Resume: offsets 8..11 of partition 0 again, and partition 1's new ones.
    let r = post(&api, "/flows/resume");
    assert_eq!((r.status, &r.body["suspended"]), (200, &json!(false)));
    assert_druid(&post(&api, "/flows/resume"), 400, "supervisor flows is already running");
    wait_processed(&api, "flows", "file", &[16, 7]);
    assert_eq!(sums(&api, "flows"), (23, 72 + 38 + 15));
    assert_eq!(status(&api, "flows")["currentOffsets"], json!({"0": 12, "1": 7}));

    // A hard reset (suspended): no offsets until read again from the earliest.
    post(&api, "/flows/suspend");
    assert_eq!(post(&api, "/flows/reset").body, json!({"id": "flows"}));
    assert_eq!(status(&api, "flows")["currentOffsets"], json!({}));
    post(&api, "/flows/resume");
    wait_processed(&api, "flows", "file", &[28, 14]);
    assert_eq!(sums(&api, "flows"), (42, 125 + 66 + 21));
    assert_eq!(status(&api, "flows")["currentOffsets"], json!({"0": 12, "1": 7}));

    // History: each spec version, newest first (resets are none).
    let history = api.get(&format!("{S}/flows/history")).body;
    let flags: Vec<Value> = history.as_array().unwrap().iter().map(|h| h["spec"]["suspended"].clone()).collect();
    assert_eq!(flags, [json!(false), json!(true), json!(false), json!(true), Value::Null, Value::Null]);
    assert_eq!((&history[4]["spec"]["ioConfig"]["taskDuration"], &history[5]["spec"]), (&json!("PT30M"), &stored));
    let versions: Vec<&str> = history.as_array().unwrap().iter().map(|h| h["version"].as_str().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] >= w[1]) && versions[0].ends_with('Z'), "{versions:?}");
    assert_eq!(api.get(&format!("{S}/history")).body, json!({ "flows": history }));
    assert_eq!(api.get(&format!("{S}/history")).status, 200);
}

#[test]
fn druid_all_calls_terminate_and_errors_over_http() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--http-listen", "127.0.0.1:0"]);
    let api = Api::new(&server, None);
    let (sa, sb, si) = (Stream::new(1), Stream::new(1), Stream::new(1));
    sa.append(0, &events(0..5, "a"));
    sb.append(0, &events(0..3, "b"));
    for (s, name) in [(&sa, "alpha"), (&sb, "beta")] {
        assert_eq!(api.send("POST", S, &file_spec(s, name)).body, json!({ "id": name }));
    }
    // An OpenSearch index beside them is no supervisor.
    let mut index = si.spec("unused", 1, json!({}));
    index.as_object_mut().unwrap().remove("name");
    assert_eq!(api.send("PUT", "/idx", &index).status, 200);
    wait_processed(&api, "alpha", "file", &[5]);
    wait_processed(&api, "beta", "file", &[3]);
    assert_eq!(api.get(S).body, json!(["alpha", "beta"]));

    // suspendAll, resumeAll.
    assert_eq!(post(&api, "/suspendAll").body, json!({"status": "success"}));
    let all_suspended =
        |api: &Api| api.get(&format!("{S}?state=true")).body.as_array().unwrap().iter().all(|s| s["suspended"] == true);
    assert!(all_suspended(&api));
    assert_eq!(post(&api, "/suspendAll").body, json!({"status": "success"}), "nothing left to suspend is fine");
    sa.append(0, &events(5..7, "a"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sums(&api, "alpha"), (5, 10));
    assert_eq!(api.get("/idx/ingestion/_state").body["ingestion_state"]["idx"][0]["poller_paused"], false);
    assert_eq!(post(&api, "/resumeAll").body, json!({"status": "success"}));
    wait_processed(&api, "alpha", "file", &[7]);
    assert_eq!(sums(&api, "alpha"), (7, 21));

    // 404 in Druid's words for an unknown id.
    for path in ["/nope", "/nope/status", "/nope/stats"] {
        assert_druid(&api.get(&format!("{S}{path}")), 404, "[nope] does not exist");
    }
    assert_druid(&api.get(&format!("{S}/nope/health")), 404, "[nope] does not exist or health check not implemented");
    assert_druid(&api.get(&format!("{S}/nope/history")), 404, "No history for [nope].");
    for path in ["/nope/suspend", "/nope/resume", "/nope/reset", "/nope/terminate", "/nope/shutdown"] {
        assert_druid(&post(&api, path), 404, "[nope] does not exist");
    }
    let body = reset_body("file", "events", json!({"0": 1}));
    assert_druid(&api.send("POST", &format!("{S}/nope/resetOffsets"), &body), 404, "[nope] does not exist");
    // 400: an index named as a supervisor, bad specs (naming the key), bad bodies.
    let r = api.get(&format!("{S}/idx"));
    assert!(r.status == 400 && r.body["error"].as_str().unwrap().contains("OpenSearch index body"), "{}", r.text);
    let bad = |edit: &dyn Fn(&mut Value), needle: &str| {
        let mut spec = file_spec(&sa, "gamma");
        edit(&mut spec);
        let r = api.send("POST", S, &spec);
        let error = r.body["error"].as_str().unwrap_or_default();
        assert!(r.status == 400 && error.contains(needle), "{needle}: {}", r.text);
    };
    bad(&|s| s["ioConfig"]["taskCount"] = json!(0), "[ioConfig.taskCount]");
    bad(&|s| s["ioConfig"]["topik"] = json!("x"), "topik");
    bad(&|s| *s = index.clone(), "not a Druid supervisor spec");
    let moved = api.send("POST", S, &file_spec(&sb, "alpha"));
    let error = moved.body["error"].as_str().unwrap_or_default();
    assert!(moved.status == 400 && error.contains("[ioConfig.baseDirectory] cannot change"), "{}", moved.text);
    assert!(api.call("POST", S, Some("{\"type\": ")).body["error"].as_str().unwrap().contains("not valid JSON"));
    assert_druid(&api.call("POST", S, None), 400, "the request body is empty: give a supervisor spec");
    assert_eq!(api.get(S).body, json!(["alpha", "beta"]), "nothing was created");

    // Terminate: gone from the list and the indices, history kept.
    assert_eq!(post(&api, "/alpha/terminate").body, json!({"id": "alpha"}));
    assert_eq!(api.get(S).body, json!(["beta"]));
    assert_druid(&api.get(&format!("{S}/alpha")), 404, "[alpha] does not exist");
    assert_druid(&post(&api, "/alpha/terminate"), 404, "[alpha] does not exist");
    assert_eq!(api.get("/alpha/_count").status, 404);
    let history = api.get(&format!("{S}/alpha/history")).body;
    assert_eq!(history[0]["spec"], json!({"type": "NoopSupervisorSpec", "dataSources": ["alpha"], "suspended": false}));
    assert_eq!(history.as_array().unwrap().len(), 4, "created, suspended, resumed, terminated: {history}");
    assert_eq!(post(&api, "/terminateAll").body, json!({"status": "success"}));
    assert_eq!(api.get(S).body, json!([]));
    assert_eq!(api.get("/idx").status, 200, "terminateAll leaves indices alone");

    // After a restart: not restored, history kept; submitted again, a
    // supervisor goes on from its offsets (nothing read twice).
    drop(server);
    let server = Server::start(data.path(), &["--http-listen", "127.0.0.1:0"]);
    let api = Api::new(&server, None);
    assert_eq!(api.get(S).body, json!([]));
    assert_eq!(api.get("/alpha/_count").status, 404);
    assert_eq!(api.get("/idx").status, 200);
    let all = api.get(&format!("{S}/history")).body;
    let ids: Vec<&String> = all.as_object().unwrap().keys().collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(all["alpha"], history);
    assert_eq!(all["beta"][0]["spec"]["type"], "NoopSupervisorSpec");
    sa.append(0, &events(7..8, "a"));
    assert_eq!(api.send("POST", S, &file_spec(&sa, "alpha")).body, json!({"id": "alpha"}));
    wait_processed(&api, "alpha", "file", &[8]);
    assert_eq!(sums(&api, "alpha"), (8, 28));
    assert_eq!(api.get(&format!("{S}/alpha/history")).body.as_array().unwrap().len(), 5);
    // shutdown is terminate's old name.
    assert_eq!(post(&api, "/alpha/shutdown").body, json!({"id": "alpha"}));
    assert_eq!(api.get(S).body, json!([]));
}

#[test]
fn druid_http_calls_need_the_token_and_never_show_a_kafka_password() {
    const PASSWORD: &str = "sasl-pw-7f3e-never-shown";
    const KEY_PASSWORD: &str = "ssl-key-pw-90ab";
    let kafka = Kafka::new(2);
    kafka.produce(0, &events(0..6, "a"));
    kafka.produce(1, &events(0..3, "b"));
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().with_extension("token");
    std::fs::write(&token_file, "druid-tok-4c1a\n").unwrap();
    let server =
        Server::start(data.path(), &["--http-listen", "127.0.0.1:0", "--token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&server, Some("druid-tok-4c1a"));
    // Druid's wrapped form, as its docs write a Kafka supervisor.
    let spec = json!({"type": "kafka", "spec": {
        "dataSchema": data_schema("kflows"),
        "ioConfig": {"topic": TOPIC, "inputFormat": {"type": "json"}, "useEarliestOffset": true,
            "consumerProperties": {"bootstrap.servers": kafka.bootstrap(), "sasl.username": "druid",
                "sasl.password": PASSWORD, "ssl.key.password": KEY_PASSWORD}},
        "tuningConfig": {"type": "kafka"}}});

    // Without the token every call is 401 and changes nothing.
    let reset = reset_body("kafka", TOPIC, json!({"0": 2}));
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", S.into(), Some(spec.clone())),
        ("GET", S.into(), None),
        ("GET", format!("{S}?full"), None),
        ("GET", format!("{S}/kflows"), None),
        ("GET", format!("{S}/kflows/status"), None),
        ("GET", format!("{S}/kflows/health"), None),
        ("GET", format!("{S}/kflows/stats"), None),
        ("GET", format!("{S}/kflows/history"), None),
        ("GET", format!("{S}/history"), None),
        ("POST", format!("{S}/kflows/suspend"), None),
        ("POST", format!("{S}/kflows/resume"), None),
        ("POST", format!("{S}/kflows/reset"), None),
        ("POST", format!("{S}/kflows/resetOffsets"), Some(reset.clone())),
        ("POST", format!("{S}/kflows/terminate"), None),
        ("POST", format!("{S}/kflows/shutdown"), None),
        ("POST", format!("{S}/suspendAll"), None),
        ("POST", format!("{S}/resumeAll"), None),
        ("POST", format!("{S}/terminateAll"), None),
    ];
    for auth in [None, Some("Bearer wrong")] {
        let anonymous = api.with_auth(auth);
        for (method, path, body) in &calls {
            let r = anonymous.call(method, path, body.as_ref().map(|b| b.to_string()).as_deref());
            assert_eq!((r.status, &r.body["error"]["type"]), (401, &json!("security_exception")), "{method} {path}");
            assert!(!r.text.contains("druid-tok-4c1a") && !r.text.contains(PASSWORD), "{}", r.text);
        }
    }
    assert_eq!(api.get(S).body, json!([]), "the refused submit created nothing");

    // With it: a real Kafka supervisor; no response shows the passwords.
    let mut replies = vec![api.send("POST", S, &spec)];
    assert_eq!(replies[0].body, json!({"id": "kflows"}), "{}", replies[0].text);
    wait_processed(&api, "kflows", "kafka", &[6, 3]);
    assert_eq!(sums(&api, "kflows"), (9, 15 + 3));
    let got = api.get(&format!("{S}/kflows"));
    let props = &got.body["spec"]["ioConfig"]["consumerProperties"];
    assert_eq!((&props["sasl.password"], &props["ssl.key.password"]), (&json!("<redacted>"), &json!("<redacted>")));
    assert_eq!((&props["bootstrap.servers"], &props["sasl.username"]), (&json!(kafka.bootstrap()), &json!("druid")));
    replies.push(got);
    let st = status(&api, "kflows");
    assert_eq!(
        (&st["stream"], &st["currentOffsets"], &st["latestOffsets"]),
        (&json!(TOPIC), &json!({"0": 6, "1": 3}), &json!({"0": 6, "1": 3}))
    );
    // resetOffsets exactly as Druid's docs write it (partition 0 from offset 2).
    let r = api.send("POST", &format!("{S}/kflows/resetOffsets"), &reset);
    assert_eq!(r.body, json!({"id": "kflows"}), "{}", r.text);
    replies.push(r);
    wait_processed(&api, "kflows", "kafka", &[10, 3]);
    assert_eq!(sums(&api, "kflows"), (13, 18 + 2 + 3 + 4 + 5));
    let mut typo = spec.clone();
    typo["spec"]["ioConfig"]["consumerProperties"]["sasl.jaas.config"] = json!(format!("password=\"{PASSWORD}\""));
    replies.push(api.send("POST", S, &typo));
    assert_eq!(replies.last().unwrap().status, 400);
    replies.push(api.send("POST", &format!("{S}/kflows/resetOffsets"), &reset_body("kafka", "other", json!({"0": 1}))));
    for (method, path, body) in &calls {
        if !path.ends_with("All") && !path.ends_with("terminate") && !path.ends_with("shutdown") {
            replies.push(api.call(method, path, body.as_ref().map(|b| b.to_string()).as_deref()));
        }
    }
    replies.push(post(&api, "/kflows/terminate"));
    replies.push(api.get(&format!("{S}/kflows/history")));
    assert_eq!(replies.last().unwrap().body.as_array().map(Vec::len), Some(4), "{}", replies.last().unwrap().text);
    for r in &replies {
        assert!(!r.text.contains(PASSWORD) && !r.text.contains(KEY_PASSWORD), "a password in a response: {}", r.text);
    }
    let log = server.stderr();
    assert!(!log.contains(PASSWORD) && !log.contains(KEY_PASSWORD) && !log.contains("druid-tok-4c1a"), "logged: {log}");
}
