//! The plugin on the Debezium documentation's own event samples
//! (`tests/fixtures/`, provenance in `tests/fixtures/README.md`): MySQL and
//! PostgreSQL create, update, delete, truncate, snapshot and incremental
//! snapshot read events, with and without the schema envelope, and their
//! keys.

use sluice_debezium::Debezium;
use sluice_plugin_sdk::json::{self, Value};
use sluice_plugin_sdk::{Decoded, Message, OpType, Operation, Plugin};

const MYSQL_KEY: &str = include_str!("fixtures/mysql-key.json");
const MYSQL_CREATE: &str = include_str!("fixtures/mysql-create.json");
const MYSQL_UPDATE: &str = include_str!("fixtures/mysql-update.payload.json");
const MYSQL_DELETE: &str = include_str!("fixtures/mysql-delete.payload.json");
const MYSQL_TRUNCATE: &str = include_str!("fixtures/mysql-truncate.payload.json");
const PG_KEY: &str = include_str!("fixtures/postgresql-key.json");
const PG_CREATE: &str = include_str!("fixtures/postgresql-create.json");
const PG_UPDATE: &str = include_str!("fixtures/postgresql-update.payload.json");
const PG_DELETE: &str = include_str!("fixtures/postgresql-delete.payload.json");
const PG_TRUNCATE: &str = include_str!("fixtures/postgresql-truncate.payload.json");
const PG_MESSAGE: &str = include_str!("fixtures/postgresql-message.payload.json");
const TUTORIAL_KEY: &str = include_str!("fixtures/tutorial-snapshot-key.json");
const TUTORIAL_SNAPSHOT: &str = include_str!("fixtures/tutorial-snapshot.json");
const INCREMENTAL_READ: &str = include_str!("fixtures/incremental-snapshot-read.payload.json");

const ANNE_MYSQL: &str = r#"{"id":1004,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"}"#;
const ANNE_MARIE_MYSQL: &str =
    r#"{"id":1004,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"}"#;
const ANNE_PG: &str = r#"{"id":1,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"}"#;
const ANNE_MARIE_PG: &str =
    r#"{"id":1,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"}"#;

/// A full `{"schema", "payload"}` sample split into its two parts, as compact JSON.
fn split(full: &str) -> (String, String) {
    let members = json::parse_object(full, "fixture").unwrap();
    let part = |name: &str| {
        let value = json::member(&members, name).unwrap_or_else(|| panic!("no {name}"));
        json::to_json(value.as_object().unwrap(), 0).unwrap()
    };
    (part("schema"), part("payload"))
}

/// A payload in the schema envelope.
fn enveloped(schema: &str, payload: &str) -> String {
    format!(r#"{{"schema":{schema},"payload":{payload}}}"#)
}

/// The two forms of a value sample: `[with schema, without schema]`.
fn both_forms(full: &str) -> [String; 2] {
    let (_, payload) = split(full);
    [full.to_owned(), payload]
}

/// The two forms of a payload-only sample, enveloped with `schema_of`'s schema.
fn both_forms_of_payload(payload: &str, schema_of: &str) -> [String; 2] {
    let (schema, _) = split(schema_of);
    [enveloped(&schema, payload), payload.to_owned()]
}

fn plugin(config: &str) -> Debezium {
    Debezium::configure(config).unwrap_or_else(|e| panic!("{config}: {e}"))
}

fn message(key: Option<&str>, payload: Option<&str>) -> Message {
    Message {
        shard: 1,
        pointer: "42".into(),
        timestamp_ms: None,
        key: key.map(|k| k.as_bytes().to_vec()),
        headers: vec![],
        payload: payload.map(|p| p.as_bytes().to_vec()),
        reference_time_ms: 0,
    }
}

#[track_caller]
fn decode(p: &Debezium, key: Option<&str>, payload: &str) -> Decoded {
    as_text(p.decode(&message(key, Some(payload))), Some(payload.as_bytes()))
}

/// `d` with each document as text (a span resolved against its payload), as the host stores it.
fn as_text(d: Decoded, payload: Option<&[u8]>) -> Decoded {
    let text = |op: Operation| op.with_text_source(payload).expect("a source in the payload");
    match d {
        Decoded::Ops(ops) => Decoded::Ops(ops.into_iter().map(text).collect()),
        other => other,
    }
}

fn index(id: &str, version: u64, source: &str) -> Decoded {
    Decoded::Ops(vec![Operation {
        id: Some(id.into()),
        version: Some(version),
        op_type: OpType::Index,
        source: Some(source.into()),
    }])
}

fn delete(id: &str, version: u64) -> Decoded {
    Decoded::Ops(vec![Operation { id: Some(id.into()), version: Some(version), op_type: OpType::Delete, source: None }])
}

#[track_caller]
fn assert_invalid(decoded: Decoded, expected: &str) {
    match decoded {
        Decoded::Invalid(reason) => {
            assert!(reason.contains(expected), "reason {reason:?} does not contain {expected:?}")
        }
        other => panic!("expected invalid ({expected}), got {other:?}"),
    }
}

/// The key of row 1004 (MySQL tutorial), with and without its schema.
fn keys_1004() -> [String; 2] {
    both_forms(TUTORIAL_KEY)
}

#[test]
fn mysql_create_update_delete_and_tombstone_with_the_message_key() {
    let p = plugin("{}");
    for key in keys_1004() {
        let key = Some(key.as_str());
        for create in both_forms(MYSQL_CREATE) {
            assert_eq!(decode(&p, key, &create), index("1004", 1465491411815, ANNE_MYSQL));
        }
        for update in both_forms_of_payload(MYSQL_UPDATE, MYSQL_CREATE) {
            assert_eq!(decode(&p, key, &update), index("1004", 1465581029523, ANNE_MARIE_MYSQL));
        }
        for delete_event in both_forms_of_payload(MYSQL_DELETE, MYSQL_CREATE) {
            assert_eq!(decode(&p, key, &delete_event), delete("1004", 1465581902461));
        }
        // The tombstone that follows a delete: same key, null value.
        assert_eq!(p.decode(&message(key, None)), Decoded::Skipped("tombstone".into()));
    }
}

#[test]
fn mysql_events_with_key_columns_and_no_message_key() {
    let p = plugin(r#"{"key_columns":["id"]}"#);
    let [create, _] = both_forms(MYSQL_CREATE);
    assert_eq!(decode(&p, None, &create), index("1004", 1465491411815, ANNE_MYSQL));
    let [_, update] = both_forms_of_payload(MYSQL_UPDATE, MYSQL_CREATE);
    assert_eq!(decode(&p, None, &update), index("1004", 1465581029523, ANNE_MARIE_MYSQL));
    // The delete's id comes from `before`.
    for delete_event in both_forms_of_payload(MYSQL_DELETE, MYSQL_CREATE) {
        assert_eq!(decode(&p, None, &delete_event), delete("1004", 1465581902461));
    }
}

#[test]
fn mysql_key_example_is_read_as_written() {
    // The documentation's key example is for row 1001, its value examples for
    // row 1004: the default id is the key's, whatever the row says.
    let p = plugin("{}");
    for key in both_forms(MYSQL_KEY) {
        for create in both_forms(MYSQL_CREATE) {
            assert_eq!(decode(&p, Some(&key), &create), index("1001", 1465491411815, ANNE_MYSQL));
        }
    }
}

#[test]
fn mysql_update_as_printed_is_rejected_for_its_duplicate_key() {
    // The documentation prints the update's `source` with "name" twice.
    let verbatim = MYSQL_UPDATE.replacen(
        "      \"connector\": \"mysql\",\n",
        "      \"name\": \"mysql-server-1\",\n      \"connector\": \"mysql\",\n",
        1,
    );
    assert_ne!(verbatim, MYSQL_UPDATE);
    assert_invalid(
        decode(&plugin("{}"), Some(r#"{"id":1004}"#), &verbatim),
        "payload is invalid: duplicate key [name]",
    );
}

#[test]
fn mysql_binlog_position_as_the_version() {
    let p = plugin(r#"{"version_field":"source.pos"}"#);
    let key = Some(r#"{"id":1004}"#);
    let version = |event: &str| match decode(&p, key, event) {
        Decoded::Ops(ops) => ops[0].version,
        other => panic!("{other:?}"),
    };
    let [create, _] = both_forms(MYSQL_CREATE);
    assert_eq!(version(&create), Some(154));
    assert_eq!(version(MYSQL_UPDATE), Some(484));
    assert_eq!(version(MYSQL_DELETE), Some(805));
}

#[test]
fn postgresql_create_update_delete_with_the_message_key() {
    let p = plugin("{}");
    // The key example carries the id as the string "1".
    for key in both_forms(PG_KEY) {
        let key = Some(key.as_str());
        for create in both_forms(PG_CREATE) {
            assert_eq!(decode(&p, key, &create), index("1", 24023128, ANNE_PG));
        }
        // Same source.lsn as the create in the documentation (see the README).
        for update in both_forms_of_payload(PG_UPDATE, PG_CREATE) {
            assert_eq!(decode(&p, key, &update), index("1", 24023128, ANNE_MARIE_PG));
        }
        for delete_event in both_forms_of_payload(PG_DELETE, PG_CREATE) {
            assert_eq!(decode(&p, key, &delete_event), delete("1", 46523128));
        }
        assert_eq!(p.decode(&message(key, None)), Decoded::Skipped("tombstone".into()));
    }
}

#[test]
fn postgresql_delete_with_replica_identity_default_and_key_columns() {
    // `before` holds only the primary key (REPLICA IDENTITY DEFAULT): enough.
    let p = plugin(r#"{"key_columns":["id"]}"#);
    for delete_event in both_forms_of_payload(PG_DELETE, PG_CREATE) {
        assert_eq!(decode(&p, None, &delete_event), delete("1", 46523128));
    }
    // A column that `before` does not carry is a clear error.
    let p = plugin(r#"{"key_columns":["email"]}"#);
    assert_invalid(decode(&p, None, PG_DELETE), "key column [email] is missing from [before]");
}

#[test]
fn postgresql_versions_from_a_configured_field() {
    // ts_ns of the source (the commit time) instead of the WAL position.
    let p = plugin(r#"{"version_field":"source.ts_ns"}"#);
    let key = Some(r#"{"id":"1"}"#);
    let [create, _] = both_forms(PG_CREATE);
    assert_eq!(decode(&p, key, &create), index("1", 1559033904863123000, ANNE_PG));
    assert_eq!(decode(&p, key, PG_DELETE), delete("1", 1559033904863852000));
}

#[test]
fn truncate_and_message_events_are_invalid() {
    let p = plugin("{}");
    // Truncate events have a null key.
    for truncate in [MYSQL_TRUNCATE, PG_TRUNCATE] {
        assert_invalid(decode(&p, None, truncate), "op \"t\" (truncate) is not supported");
    }
    let [with_schema, _] = both_forms_of_payload(PG_TRUNCATE, PG_CREATE);
    assert_invalid(decode(&p, None, &with_schema), "op \"t\" (truncate) is not supported");
    assert_invalid(
        decode(&p, Some(r#"{"prefix":"foo"}"#), PG_MESSAGE),
        "unknown op \"m\": expected one of [c, r, u, d]",
    );
}

#[test]
fn snapshot_events_with_and_without_schema() {
    let p = plugin("{}");
    // The tutorial's snapshot row, as that version emitted it ("op": "c") and
    // as current connectors do ("op": "r").
    let as_read = TUTORIAL_SNAPSHOT.replacen("\"op\": \"c\"", "\"op\": \"r\"", 1);
    assert_ne!(as_read, TUTORIAL_SNAPSHOT);
    for key in keys_1004() {
        for value in [TUTORIAL_SNAPSHOT, as_read.as_str()] {
            for form in both_forms(value) {
                assert_eq!(decode(&p, Some(&key), &form), index("1004", 1486500577691, ANNE_MYSQL));
            }
        }
    }
}

#[test]
fn incremental_snapshot_read() {
    // `ts_ms` is a string of digits in this example; the row's key is `pk`.
    let expected = index("1", 1620393591654, r#"{"pk":"1","value":"New data"}"#);
    let p = plugin(r#"{"key_columns":["pk"]}"#);
    assert_eq!(decode(&p, None, INCREMENTAL_READ), expected);
    let p = plugin("{}");
    assert_eq!(decode(&p, Some(r#"{"pk":"1"}"#), INCREMENTAL_READ), expected);
    let (schema, _) = split(TUTORIAL_SNAPSHOT);
    assert_eq!(decode(&p, Some(r#"{"pk":"1"}"#), &enveloped(&schema, INCREMENTAL_READ)), expected);
}

#[test]
fn mappings_validate_the_documented_rows() {
    let customers = r#""mappings":{"dynamic":"strict","properties":{
        "id":{"type":"integer"},"first_name":{"type":"text"},"last_name":{"type":"text"},"email":{"type":"keyword"}}}"#;
    let p = plugin(&format!("{{{customers}}}"));
    let key = Some(r#"{"id":1004}"#);
    let [create, _] = both_forms(MYSQL_CREATE);
    assert_eq!(decode(&p, key, &create), index("1004", 1465491411815, ANNE_MYSQL));
    assert_eq!(decode(&p, key, MYSQL_DELETE), delete("1004", 1465581902461));

    let strict_without_email = plugin(
        r#"{"mappings":{"dynamic":"strict","properties":{"id":{"type":"integer"},"first_name":{"type":"text"},"last_name":{"type":"text"}}}}"#,
    );
    assert_invalid(
        decode(&strict_without_email, key, MYSQL_UPDATE),
        "field [email] is not allowed: mapping has dynamic [strict]",
    );
    let byte_id = plugin(r#"{"mappings":{"properties":{"id":{"type":"byte"}}}}"#);
    assert_invalid(decode(&byte_id, key, MYSQL_UPDATE), "field [id] of type [byte]: cannot parse 1004 (out of range)");
}

#[test]
fn a_topic_in_order() {
    // What a consumer of the MySQL customers topic reads for row 1004.
    let p = plugin("{}");
    let key = r#"{"id":1004}"#;
    let [_, create] = both_forms(MYSQL_CREATE);
    let batch = [
        message(Some(key), Some(&create)),
        message(Some(key), Some(MYSQL_UPDATE)),
        message(Some(key), Some(MYSQL_DELETE)),
        message(Some(key), None),
        message(None, Some(MYSQL_TRUNCATE)),
    ];
    assert_eq!(
        p.decode_batch(&batch)
            .into_iter()
            .zip(&batch)
            .map(|(d, m)| as_text(d, m.payload.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            index("1004", 1465491411815, ANNE_MYSQL),
            index("1004", 1465581029523, ANNE_MARIE_MYSQL),
            delete("1004", 1465581902461),
            Decoded::Skipped("tombstone".into()),
            Decoded::Invalid(
                "op \"t\" (truncate) is not supported: a truncated table cannot be expressed as per-document operations"
                    .into()
            ),
        ]
    );
}

#[test]
fn fixtures_are_what_the_readme_says() {
    // Every value sample with a schema has exactly the two envelope members,
    // and the payload-only samples have none of them.
    for full in [MYSQL_CREATE, PG_CREATE, TUTORIAL_SNAPSHOT, MYSQL_KEY, PG_KEY, TUTORIAL_KEY] {
        let members = json::parse_object(full, "fixture").unwrap();
        let keys: Vec<&str> = members.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["schema", "payload"]);
    }
    for payload in
        [MYSQL_UPDATE, MYSQL_DELETE, MYSQL_TRUNCATE, PG_UPDATE, PG_DELETE, PG_TRUNCATE, PG_MESSAGE, INCREMENTAL_READ]
    {
        let members = json::parse_object(payload, "fixture").unwrap();
        assert!(json::member(&members, "schema").is_none());
        assert!(matches!(json::member(&members, "op"), Some(Value::Str(_))));
    }
}
