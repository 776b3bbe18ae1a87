//! The data path end to end on the file source: op types, versioning,
//! auto-ids, mapper modes, validation, error policies, resets, restarts.

use crate::support::*;
use serde_json::json;

#[test]
fn every_op_type_applies() {
    let stream = Stream::new(1);
    stream.append(
        0,
        &[
            msg(Some("a"), None, "index", json!({"n": 1})),
            msg(Some("b"), None, "create", json!({"n": 2})),
            msg(Some("b"), None, "create", json!({"n": 3})), // exists: conflict
            msg(Some("c"), None, "index", json!({"n": 4})),
            msg(Some("c"), None, "delete", json!({})),
            msg(Some("a"), None, "index", json!({"n": 5})),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("ops", 1, json!({})), data.path());
    wait_idle(&ing);
    let got = docs(&ing);
    let expected = [((0, "a".to_string()), (None, json!({"n": 5}))), ((0, "b".to_string()), (None, json!({"n": 2})))]
        .into_iter()
        .collect();
    assert_eq!(got, expected);
    let c = counters(&ing, 0);
    assert_eq!(c.total_processed_count, 6);
    assert_eq!(c.total_version_conflicts_count, 1);
    assert_eq!(c.total_ops_applied_count, 5);
    assert_eq!(ing.sinks()[0].meta().unwrap().live_docs, 2);
}

#[test]
fn external_versioning_drops_older_and_equal_versions_and_tombstones_fence_late_writes() {
    let stream = Stream::new(1);
    stream.append(
        0,
        &[
            msg(Some("a"), Some(5), "index", json!({"v": 5})),
            msg(Some("a"), Some(4), "index", json!({"v": 4})), // older: conflict
            msg(Some("a"), Some(5), "index", json!({"v": 55})), // equal: conflict
            msg(Some("a"), Some(7), "index", json!({"v": 7})),
            msg(Some("b"), Some(3), "index", json!({"v": 3})),
            msg(Some("b"), Some(9), "delete", json!({})),
            msg(Some("b"), Some(8), "index", json!({"v": 8})), // older than the tombstone: conflict
            r#"{"_id": "c", "_version": "12", "_source": {"v": 12}}"#.to_string(), // version as a string
            msg(Some("c"), Some(11), "delete", json!({})),     // older delete: conflict
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("versions", 1, json!({})), data.path());
    wait_idle(&ing);
    let expected =
        [((0, "a".to_string()), (Some(7), json!({"v": 7}))), ((0, "c".to_string()), (Some(12), json!({"v": 12})))]
            .into_iter()
            .collect();
    assert_eq!(docs(&ing), expected);
    let c = counters(&ing, 0);
    assert_eq!(c.total_version_conflicts_count, 4);
    assert_eq!(c.total_processed_count, 9);
    assert_eq!(c.total_invalid_message_count, 0);
}

#[test]
fn documents_without_id_get_deterministic_ids_from_shard_and_pointer() {
    let stream = Stream::new(2);
    stream.append(0, &[msg(None, None, "index", json!({"k": "x"})), msg(Some("named"), None, "index", json!({}))]);
    stream.append(1, &[msg(Some("n1"), None, "index", json!({})), msg(None, None, "index", json!({"k": "y"}))]);
    let spec = stream.spec("autoid", 2, json!({}));
    let first = tempfile::tempdir().unwrap();
    let ing = start(&spec, first.path());
    wait_idle(&ing);
    let got = docs(&ing);
    let ids: Vec<_> = got.keys().cloned().collect();
    assert_eq!(ids, [(0, "0-0".to_string()), (0, "named".to_string()), (1, "1-1".to_string()), (1, "n1".to_string())]);
    assert_eq!(got[&(1, "1-1".to_string())].1, json!({"k": "y"}));
    drop(ing);

    // A replay of the same stream from scratch (as after a lost checkpoint)
    // writes the same ids: nothing is duplicated.
    ing_reset_and_replay(&spec, first.path(), &got);
}

fn ing_reset_and_replay(
    spec: &serde_json::Value,
    data: &std::path::Path,
    expected: &std::collections::BTreeMap<(u32, String), (Option<u64>, serde_json::Value)>,
) {
    use sluice::pointer::StartPosition;
    let ing = start(spec, data);
    wait_idle(&ing);
    ing.pause(None).unwrap();
    ing.resume(None, &[(0, StartPosition::Earliest), (1, StartPosition::Earliest)]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    wait_idle(&ing);
    assert_eq!(&docs(&ing), expected);
    assert_eq!(counters(&ing, 0).total_processed_count, 4, "2 messages, each processed twice");
}

#[test]
fn raw_payload_mapper_indexes_the_whole_payload_under_shard_pointer_ids() {
    let stream = Stream::new(1);
    stream.append(0, &[r#"{"name": "alice", "age": 30}"#, r#"{"name": "bob", "_id": "ignored-as-metadata"}"#]);
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("raw", 1, json!({"mapper_type": "raw_payload"})), data.path());
    wait_idle(&ing);
    let expected = [
        ((0, "0-0".to_string()), (None, json!({"name": "alice", "age": 30}))),
        ((0, "0-1".to_string()), (None, json!({"name": "bob", "_id": "ignored-as-metadata"}))),
    ]
    .into_iter()
    .collect();
    assert_eq!(docs(&ing), expected);
}

#[test]
fn field_mapping_mapper_reads_id_version_and_op_type_from_nested_paths() {
    let stream = Stream::new(1);
    stream.append(
        0,
        &[
            r#"{"meta": {"id": "u1", "v": 1, "op": "upsert"}, "name": "alice"}"#,
            r#"{"meta": {"id": "u2", "v": 1, "op": "new"}, "name": "bob"}"#,
            r#"{"meta": {"id": "u1", "v": 2, "op": "upsert", "keep": true}, "name": "alice2"}"#,
            r#"{"meta": {"id": "u2", "v": 2, "op": "gone"}}"#,
            r#"{"meta": {"id": 42, "v": "3"}, "name": "numeric id"}"#,
            r#"{"meta": {"id": "u3"}, "name": "no version"}"#,
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let spec = stream.spec(
        "fieldmap",
        1,
        json!({
            "mapper_type": "field_mapping",
            "mapper_settings": {
                "id_field": "meta.id",
                "version_field": "meta.v",
                "op_type_field": "meta.op",
                "op_type_field.delete_value": "gone",
                "op_type_field.create_value": "new"
            }
        }),
    );
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    let expected = [
        ((0, "42".to_string()), (Some(3), json!({"name": "numeric id"}))),
        ((0, "u1".to_string()), (Some(2), json!({"meta": {"keep": true}, "name": "alice2"}))),
    ]
    .into_iter()
    .collect();
    assert_eq!(docs(&ing), expected);
    let dropped = ing.sinks()[0].dropped(None, 10).unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].pointer.as_u64(), Some(5));
    assert!(dropped[0].reason.contains("meta.v"), "names the missing version field: {}", dropped[0].reason);
}

#[test]
fn mapping_validation_rejects_mismatches_with_reasons_that_name_the_field() {
    let stream = Stream::new(1);
    stream.append(
        0,
        &[
            msg(
                Some("ok"),
                None,
                "index",
                json!({"name": "a", "age": 3, "tags": ["x"], "addr": {"zip": 1000}, "at": "2024-01-31T12:00:00Z"}),
            ),
            msg(Some("bad-age"), None, "index", json!({"name": "a", "age": "old"})),
            msg(Some("big-age"), None, "index", json!({"age": 3_000_000_000u64})),
            msg(Some("bad-zip"), None, "index", json!({"addr": {"zip": "x1"}})),
            msg(Some("extra"), None, "index", json!({"name": "a", "nick": "b"})),
            msg(Some("bad-date"), None, "index", json!({"at": "2024-13-01"})),
            msg(Some("bad-bool"), None, "index", json!({"flag": "maybe"})),
        ],
    );
    let mut spec = stream.spec("mapped", 1, json!({}));
    spec["mappings"] = json!({
        "dynamic": "strict",
        "properties": {
            "name": {"type": "text"},
            "age": {"type": "integer"},
            "tags": {"type": "keyword"},
            "addr": {"properties": {"zip": {"type": "long"}}},
            "at": {"type": "date"},
            "flag": {"type": "boolean"}
        }
    });
    let data = tempfile::tempdir().unwrap();
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    let ids: Vec<_> = docs(&ing).into_keys().map(|(_, id)| id).collect();
    assert_eq!(ids, ["ok"]);
    let reasons: Vec<String> = ing.sinks()[0].dropped(None, 10).unwrap().into_iter().map(|d| d.reason).collect();
    let expect = [
        ("age", "integer"),
        ("age", "integer"),
        ("addr.zip", "long"),
        ("nick", "strict"),
        ("at", "date"),
        ("flag", "boolean"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:#?}");
    for (reason, (field, kind)) in reasons.iter().zip(expect) {
        assert!(
            reason.contains(&format!("[{field}]")) && reason.contains(kind),
            "{reason:?} should name [{field}] and {kind}"
        );
    }
    let c = counters(&ing, 0);
    assert_eq!((c.total_invalid_message_count, c.total_failures_dropped_count, c.total_processed_count), (6, 6, 7));
}

#[test]
fn drop_policy_skips_invalid_messages_counts_them_and_keeps_their_reasons() {
    let stream = Stream::new(1);
    stream.append(
        0,
        &[
            msg(Some("a"), None, "index", json!({})),
            "{not json".to_string(),
            String::new(),
            msg(Some("b"), None, "index", json!({})),
            r#"{"_op_type": "delete"}"#.to_string(),
            msg(Some("c"), None, "index", json!({})),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("drop", 1, json!({"error_strategy": "DROP"})), data.path());
    wait_idle(&ing);
    let ids: Vec<_> = docs(&ing).into_keys().map(|(_, id)| id).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let dropped = ing.sinks()[0].dropped(None, 10).unwrap();
    let got: Vec<_> = dropped.iter().map(|d| (d.pointer.as_u64().unwrap(), d.payload.clone().unwrap())).collect();
    assert_eq!(got, [(1, "{not json".to_string()), (2, String::new()), (4, r#"{"_op_type": "delete"}"#.to_string())]);
    assert!(dropped[0].reason.contains("not valid JSON"), "{}", dropped[0].reason);
    assert!(dropped[1].reason.contains("empty payload"), "{}", dropped[1].reason);
    assert!(dropped[2].reason.contains("_id"), "{}", dropped[2].reason);
    let c = counters(&ing, 0);
    assert_eq!(c.total_processed_count, 6);
    assert_eq!(c.total_invalid_message_count, 3);
    assert_eq!(c.total_failures_dropped_count, 3);
}

#[test]
fn block_policy_stops_at_the_first_invalid_message_and_continues_once_set_to_drop() {
    use sluice::engine::PollerState;
    use sluice::spec::ErrorStrategy;
    let stream = Stream::new(1);
    let mut lines: Vec<String> = (0..5).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))).collect();
    lines.push(r#"{"_id": "bad", "_source": "not an object"}"#.into());
    lines.extend((5..8).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))));
    lines.push("{broken".into());
    lines.push(msg(Some("d8"), None, "index", json!({"i": 8})));
    stream.append(0, &lines);
    let data = tempfile::tempdir().unwrap();
    let ing =
        start(&stream.spec("block", 1, json!({"error_strategy": "BLOCK", "poll.max_batch_size": 3})), data.path());

    let shard = &ing.shards()[0];
    assert!(shard.wait_until(std::time::Duration::from_secs(30), |s| s.state == PollerState::Blocked));
    let status = shard.status();
    let blocked = status.blocked.clone().unwrap();
    assert_eq!(blocked.pointer.as_u64(), Some(5));
    assert!(blocked.reason.contains("_source"), "{}", blocked.reason);
    assert_eq!(status.last_error.unwrap().pointer.unwrap().as_u64(), Some(5));
    assert_eq!(status.meta.last_pointer.unwrap().as_u64(), Some(4), "everything before it is committed");
    let ids: Vec<_> = docs(&ing).into_keys().map(|(_, id)| id).collect();
    assert_eq!(ids, ["d0", "d1", "d2", "d3", "d4"]);
    // Still blocked a while later: it does not skip on its own.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(shard.status().state, PollerState::Blocked);
    assert_eq!(docs(&ing).len(), 5);

    ing.set_error_strategy(ErrorStrategy::Drop);
    wait_idle(&ing);
    let ids: Vec<_> = docs(&ing).into_keys().map(|(_, id)| id).collect();
    assert_eq!(ids, ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"]);
    let c = counters(&ing, 0);
    assert_eq!(c.total_processed_count, 11, "each message counted once");
    assert_eq!(c.total_invalid_message_count, 2);
    assert!(shard.status().blocked.is_none());
}

#[test]
fn pointer_init_reset_modes() {
    let stream = Stream::new(1);
    let lines: Vec<String> = (0..6).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({}))).collect();
    stream.append(0, &lines);
    let ids = |reset: serde_json::Value| {
        let data = tempfile::tempdir().unwrap();
        let ing = start(&stream.spec("reset", 1, reset), data.path());
        wait_idle(&ing);
        docs(&ing).into_keys().map(|(_, id)| id).collect::<Vec<_>>()
    };
    assert_eq!(ids(json!({"pointer.init.reset": "earliest"})), ["d0", "d1", "d2", "d3", "d4", "d5"]);
    assert_eq!(ids(json!({"pointer.init.reset": "reset_by_offset", "pointer.init.reset.value": 4})), ["d4", "d5"]);
    // Files have no timestamps: falls back to earliest, as OpenSearch does.
    assert_eq!(
        ids(json!({"pointer.init.reset": "reset_by_timestamp", "pointer.init.reset.value": 1_700_000_000_000u64}))
            .len(),
        6
    );

    // latest: only what arrives after the shard opened its partition.
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("latest", 1, json!({"pointer.init.reset": "latest"})), data.path());
    wait_idle(&ing);
    assert!(docs(&ing).is_empty());
    stream.append(0, &[msg(Some("new"), None, "index", json!({}))]);
    assert!(ing.shards()[0].wait_until(std::time::Duration::from_secs(30), |s| s.meta.live_docs == 1));
    wait_idle(&ing);
    let ids: Vec<_> = docs(&ing).into_keys().map(|(_, id)| id).collect();
    assert_eq!(ids, ["new"]);
    assert_eq!(counters(&ing, 0).total_processed_count, 1);
}

#[test]
fn a_restart_after_a_clean_stop_resumes_exactly_where_it_stopped() {
    let stream = Stream::new(2);
    let batch = |from: usize, to: usize, shard: u32| -> Vec<String> {
        (from..to).map(|i| msg(Some(&format!("s{shard}-{i}")), Some(1), "index", json!({"i": i}))).collect()
    };
    stream.append(0, &batch(0, 40, 0));
    stream.append(1, &batch(0, 25, 1));
    let spec = stream.spec("restart", 2, json!({"poll.max_batch_size": 7}));
    let data = tempfile::tempdir().unwrap();
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    ing.stop();

    // The stream grows while the host is down; the same specs resume.
    stream.append(0, &batch(40, 55, 0));
    stream.append(1, &batch(25, 30, 1));
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    let c0 = counters(&ing, 0);
    let c1 = counters(&ing, 1);
    assert_eq!((c0.total_processed_count, c1.total_processed_count), (55, 30), "nothing read twice");
    assert_eq!(c0.total_version_conflicts_count + c1.total_version_conflicts_count, 0, "no replays");
    assert_eq!(docs(&ing).len(), 85);
    assert_eq!(ing.sinks()[0].meta().unwrap().last_pointer.unwrap().as_u64(), Some(54));
}

#[test]
fn more_shards_than_partitions_leave_extra_shards_empty_and_fewer_is_an_error() {
    let stream = Stream::new(2);
    stream.append(0, &[msg(Some("a"), None, "index", json!({}))]);
    stream.append(1, &[msg(Some("b"), None, "index", json!({}))]);
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("wide", 4, json!({})), data.path());
    wait_idle(&ing);
    let per_shard: Vec<u64> = ing.sinks().iter().map(|s| s.meta().unwrap().live_docs).collect();
    assert_eq!(per_shard, [1, 1, 0, 0]);
    drop(ing);

    let spec = sluice::spec::IngestionSpec::from_value(&stream.spec("narrow", 1, json!({}))).unwrap();
    let err = sluice::wiring::start_ingestion(spec, plugin(), data.path(), Default::default()).err().unwrap();
    assert!(err.to_string().contains("2 partitions") && err.to_string().contains("1 shards"), "{err}");
}

#[test]
fn a_stream_matches_the_reference_model() {
    let stream = Stream::new(3);
    let mut model = Model::new("{}");
    let lines = crate::support::generated_stream(3, 3000, 7);
    for (shard, l) in lines.iter().enumerate() {
        stream.append(shard as u32, l);
        model.apply(shard as u32, 0, l);
    }
    let data = tempfile::tempdir().unwrap();
    let ing = start(&stream.spec("model", 3, json!({"poll.max_batch_size": 64})), data.path());
    wait_idle(&ing);
    assert_eq!(docs(&ing), model.live());
    for shard in 0..3 {
        assert_eq!(counters(&ing, shard), model.counters[&shard], "shard {shard}");
    }
}

#[test]
fn the_guest_sees_shard_pointer_and_payload() {
    let stream = Stream::new(2);
    stream.append(1, &["hello", "world"]);
    let data = tempfile::tempdir().unwrap();
    let ing = start_with_plugin(&stream.spec("echo", 2, json!({})), data.path(), test_plugin("sluice_echo"));
    wait_idle(&ing);
    let got = docs(&ing);
    assert_eq!(got.len(), 2);
    let doc = &got[&(1, "1-1".to_string())].1;
    assert_eq!(doc["shard"], 1);
    assert_eq!(doc["pointer"], "1");
    assert_eq!(doc["payload"], "world");
    assert_eq!(doc["timestamp_ms"], serde_json::Value::Null, "files carry no timestamps");
}

#[test]
fn the_builtin_debezium_plugin_applies_change_events_from_the_debezium_docs() {
    let fixture = |f: &str| -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/debezium/tests/fixtures").join(f);
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v.to_string()
    };
    let stream = Stream::new(1);
    stream.append(0, &[fixture("mysql-create.json"), fixture("mysql-update.payload.json")]);
    let mut spec = stream.spec("cdc", 1, json!({}));
    spec["sluice"] = json!({"plugin": {"name": "debezium", "config": {"key_columns": ["id"]}}});
    let data = tempfile::tempdir().unwrap();
    let compiled = sluice::plugin::PluginEngine::new()
        .unwrap()
        .compile("debezium", sluice::plugin::builtin::get("debezium").unwrap(), Default::default())
        .unwrap();
    let ing = start_with_plugin(&spec, data.path(), compiled);
    wait_idle(&ing);
    let got = docs(&ing);
    assert_eq!(got.len(), 1);
    let (version, doc) = &got[&(0, "1004".to_string())];
    assert_eq!(doc["first_name"], "Anne Marie", "the update applied over the create");
    assert!(version.is_some(), "versioned by the source position");

    // The delete, then the tombstone Debezium sends after it.
    stream.append(0, &[fixture("mysql-delete.payload.json"), "null".to_string()]);
    assert!(
        ing.shards()[0].wait_until(std::time::Duration::from_secs(30), |s| s.meta.counters.total_processed_count == 4)
    );
    wait_idle(&ing);
    assert!(docs(&ing).is_empty());
    let c = counters(&ing, 0);
    assert_eq!((c.total_skipped_count, c.total_invalid_message_count), (1, 0));
}
