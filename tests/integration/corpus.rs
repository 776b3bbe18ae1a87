//! The bad-message corpus (issue 8): every kind of bad message, written as
//! lines of a file stream (raw bytes), through every shipped guest under
//! `DROP` and under `BLOCK`.
//!
//! Each guest configuration gets one stream: its corpus, then one healthy
//! message. Under `DROP` every bad message must be invalid with a reason that
//! names the problem, be kept in the sink's dropped messages, be counted
//! exactly once, and the healthy message must still be applied. Under `BLOCK`
//! the shard must stop at each bad message in turn, with its pointer and the
//! same reason; the test moves it past each one with a pointer reset (the
//! way an operator would: pause, resume with a reset), drops the last one by
//! switching to `DROP`, and checks the final counters.
//!
//! The table of kind -> guest -> outcome -> reason is printed (`--no-capture`
//! shows it) and must equal `docs/bad-input.md`; run with `SLUICE_BLESS=1` to
//! rewrite that file from the run.

use crate::support::*;
use serde_json::{Value, json};
use sluice::engine::Ingestion;
use sluice::plugin::{CompiledPlugin, PluginEngine, builtin};
use sluice::pointer::{Pointer, StartPosition};
use sluice::spec::ErrorStrategy;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Invalid,
    Skipped,
}

/// One bad message and what its reason must contain.
struct Case {
    kind: String,
    payload: Vec<u8>,
    outcome: Outcome,
    expect: String,
}

fn bad(kind: &str, payload: impl Into<Vec<u8>>, expect: &str) -> Case {
    Case { kind: kind.into(), payload: payload.into(), outcome: Outcome::Invalid, expect: expect.into() }
}

/// One shipped guest in one configuration.
struct Guest {
    label: &'static str,
    /// Extra `ingestion_source` keys (mapper type and settings).
    source: Value,
    /// The `sluice.plugin` section, for a guest other than the default.
    plugin_section: Option<Value>,
    plugin: fn() -> CompiledPlugin,
    healthy: String,
    cases: Vec<Case>,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    kind: String,
    guest: &'static str,
    outcome: Outcome,
    reason: String,
}

/// Strict mappings, so that the mapping kinds apply in every guest.
fn mappings() -> Value {
    json!({
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "name": {"type": "text"},
            "age": {"type": "integer"},
            "at": {"type": "date"},
            "flag": {"type": "boolean"},
            "addr": {"properties": {"zip": {"type": "keyword"}}}
        }
    })
}

fn debezium_plugin() -> CompiledPlugin {
    static PLUGIN: OnceLock<CompiledPlugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            PluginEngine::new()
                .unwrap()
                .compile("debezium", builtin::get("debezium").unwrap(), Default::default())
                .unwrap()
        })
        .clone()
}

const MIB: usize = 1 << 20;

/// `healthy` with `bytes` inserted inside its `fine` value.
fn spliced(healthy: &str, bytes: &[u8]) -> Vec<u8> {
    let at = healthy.find("fine").expect("healthy messages have a `fine` value");
    [&healthy.as_bytes()[..at], bytes, &healthy.as_bytes()[at..]].concat()
}

/// Kinds that every guest meets before its own format: the payload as bytes,
/// as text and as JSON. `top_duplicate` is the guest's healthy message with a
/// top-level key twice.
fn payload_cases(healthy: &str, top_duplicate: &str, null_is_tombstone: bool) -> Vec<Case> {
    let truncated = &healthy[..healthy.len() - 6];
    let mut cases = vec![
        bad("empty payload", "", "empty payload"),
        bad("whitespace only", " \t  ", "only whitespace"),
        bad("invalid UTF-8 (a 0xFF byte)", spliced(healthy, b"\xff"), "not valid UTF-8"),
        bad("invalid UTF-8 (an encoded surrogate)", spliced(healthy, b"\xed\xa0\x80"), "not valid UTF-8"),
        bad("UTF-8 byte order mark before the JSON", [b"\xef\xbb\xbf", healthy.as_bytes()].concat(), "byte order mark"),
        bad("NUL byte in a string", spliced(healthy, b"\0"), "control character"),
        bad("NUL byte between tokens", [b"\0", healthy.as_bytes()].concat(), "not valid JSON"),
        bad("JSON array", "[1,2]", "payload must be a JSON object, found an array"),
        bad("JSON string", r#""text""#, "payload must be a JSON object, found a string"),
        bad("JSON number", "42", "payload must be a JSON object, found a number"),
        bad("JSON boolean", "true", "payload must be a JSON object, found a boolean"),
    ];
    cases.push(if null_is_tombstone {
        Case { kind: "JSON null".into(), payload: b"null".to_vec(), outcome: Outcome::Skipped, expect: String::new() }
    } else {
        bad("JSON null", "null", "payload must be a JSON object, found null")
    });
    cases.extend([
        bad("truncated JSON", truncated, "EOF while parsing"),
        bad("trailing garbage", format!("{healthy} trailing"), "trailing characters"),
        bad("two messages on one line", format!("{healthy}{healthy}"), "trailing characters"),
        bad("single-quoted keys", "{'a': 1}", "key must be a string"),
        bad("duplicate keys (top level)", top_duplicate, "duplicate key ["),
    ]);
    cases
}

/// Kinds inside the document, written through `wrap` (which puts a document
/// object where the guest's format expects one).
fn document_cases(wrap: &dyn Fn(&str) -> String) -> Vec<Case> {
    let deep = format!(r#"{{"addr":{}1{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    vec![
        bad("duplicate keys (nested)", wrap(r#"{"addr":{"zip":"1","zip":"2"}}"#), "duplicate key [zip]"),
        bad("nesting 10,000 deep", wrap(&deep), "nested too deeply"),
        bad("number beyond f64", wrap(r#"{"age":1e400}"#), "number out of range"),
        bad("lone surrogate escape", wrap(r#"{"name":"\ud800"}"#), "hex escape"),
        bad("NaN literal", wrap(r#"{"age":NaN}"#), "expected value"),
        bad(
            "mapping: integer given \"abc\"",
            wrap(r#"{"age":"abc"}"#),
            r#"field [age] of type [integer]: cannot parse "abc""#,
        ),
        bad(
            "mapping: integer out of range",
            wrap(r#"{"age":3000000000}"#),
            "field [age] of type [integer]: cannot parse 3000000000 (out of range)",
        ),
        bad(
            "mapping: bad date",
            wrap(r#"{"at":"2024-13-01"}"#),
            r#"field [at] of type [date]: cannot parse "2024-13-01""#,
        ),
        bad(
            "mapping: boolean given \"maybe\"",
            wrap(r#"{"flag":"maybe"}"#),
            r#"field [flag] of type [boolean]: cannot parse "maybe""#,
        ),
        bad(
            "mapping: object given a string",
            wrap(r#"{"addr":"x"}"#),
            r#"field [addr] of type [object]: expected an object, found "x""#,
        ),
        bad(
            "mapping: unmapped field under dynamic strict",
            wrap(r#"{"nick":"b"}"#),
            "field [nick] is not allowed: mapping has dynamic [strict]",
        ),
        bad(
            "mapping: unmapped field named with a line break",
            wrap(r#"{"ni\nck":"b"}"#),
            r"field [ni\nck] is not allowed",
        ),
        bad(
            "mapping: unmapped field with a 10 KiB name",
            wrap(&format!(r#"{{"{}":"b"}}"#, "k".repeat(10 * 1024))),
            &format!("field [{}...(10240 bytes)] is not allowed", "k".repeat(64)),
        ),
    ]
}

/// A message of 16 MiB (over the default 8 MiB `max_message_mb`).
fn too_large(healthy: &str) -> Case {
    let payload = healthy.replacen("fine", &"x".repeat(16 * MIB), 1);
    bad("16 MiB message", payload, "message too large")
}

fn opensearch_default() -> Guest {
    let healthy = r#"{"_id":"ok","_version":1,"_source":{"id":"ok","name":"fine","age":3}}"#.to_string();
    let wrap = |doc: &str| format!(r#"{{"_id":"k","_version":1,"_source":{doc}}}"#);
    let with = |members: &str| format!(r#"{{{members}}}"#);
    let long_id = "i".repeat(10 * 1024);
    let mut cases = payload_cases(&healthy, r#"{"_id":"a","_id":"b","_source":{}}"#, false);
    cases.extend(document_cases(&wrap));
    cases.extend([
        bad(
            "`_op_type` unknown",
            with(r#""_id":"k","_op_type":"upsert","_source":{}"#),
            r#"invalid _op_type "upsert": expected one of [index, create, delete, update]"#,
        ),
        bad("`_op_type` of the wrong type", with(r#""_id":"k","_op_type":1,"_source":{}"#), "invalid _op_type 1"),
        bad("`_op_type` null", with(r#""_id":"k","_op_type":null,"_source":{}"#), "invalid _op_type null"),
        bad(
            "`_version` negative",
            with(r#""_id":"k","_version":-1,"_source":{}"#),
            "invalid _version: -1 is not an integer from 0",
        ),
        bad(
            "`_version` non-numeric",
            with(r#""_id":"k","_version":"abc","_source":{}"#),
            r#"invalid _version: "abc" is not an integer"#,
        ),
        bad(
            "`_version` fractional",
            with(r#""_id":"k","_version":1.5,"_source":{}"#),
            "invalid _version: 1.5 is not an integer",
        ),
        bad(
            "`_version` beyond 64 bits",
            with(r#""_id":"k","_version":18446744073709551616,"_source":{}"#),
            "invalid _version: 1.8446744073709552e+19 is not an integer from 0 to 18446744073709551615",
        ),
        bad(
            "`_version` beyond 64 bits, as a string",
            with(r#""_id":"k","_version":"18446744073709551616","_source":{}"#),
            r#"invalid _version: "18446744073709551616" is not an integer from 0 to 18446744073709551615"#,
        ),
        bad("`_id` empty", with(r#""_id":"","_source":{}"#), r#"_id must be a non-empty string, found """#),
        bad(
            "`_id` of 10 KiB",
            with(&format!(r#""_id":"{long_id}","_source":{{}}"#)),
            "_id is too long: must be no longer than 512 bytes but was 10240",
        ),
        bad("`_id` non-string", with(r#""_id":42,"_source":{}"#), "_id must be a non-empty string, found 42"),
        bad("`_id` null", with(r#""_id":null,"_source":{}"#), "_id must be a non-empty string, found null"),
        bad("`_source` missing", with(r#""_id":"k""#), "_source is required for operation [index]"),
        bad("`_source` null", with(r#""_id":"k","_source":null"#), "_source must be a JSON object, found null"),
        bad("`_source` an array", with(r#""_id":"k","_source":[{}]"#), "_source must be a JSON object, found an array"),
        bad("`_source` a string", with(r#""_id":"k","_source":"{}""#), "_source must be a JSON object, found a string"),
        bad("delete without `_id`", with(r#""_op_type":"delete""#), "_id is required for a delete operation"),
        bad(
            "create without `_source`",
            with(r#""_id":"k","_op_type":"create""#),
            "_source is required for operation [create]",
        ),
        too_large(&healthy),
    ]);
    Guest { label: "opensearch (default)", source: json!({}), plugin_section: None, plugin, healthy, cases }
}

fn opensearch_raw_payload() -> Guest {
    let healthy = r#"{"id":"ok","name":"fine","age":3}"#.to_string();
    let mut cases = payload_cases(&healthy, r#"{"name":"a","name":"b"}"#, false);
    cases.extend(document_cases(&|doc: &str| doc.to_string()));
    cases.push(too_large(&healthy));
    Guest {
        label: "opensearch (raw_payload)",
        source: json!({"mapper_type": "raw_payload"}),
        plugin_section: None,
        plugin,
        healthy,
        cases,
    }
}

fn opensearch_field_mapping() -> Guest {
    let healthy = r#"{"meta":{"id":"ok","v":1},"name":"fine","age":3}"#.to_string();
    let wrap = |doc: &str| format!(r#"{{"meta":{{"id":"k","v":1}},{}"#, &doc[1..]);
    let meta = |meta: &str| format!(r#"{{"meta":{meta},"name":"n"}}"#);
    let long_id = "i".repeat(10 * 1024);
    let mut cases = payload_cases(&healthy, r#"{"meta":{"id":"k","v":1},"name":"a","name":"b"}"#, false);
    cases.extend(document_cases(&wrap));
    cases.extend([
        bad("id field missing", meta(r#"{"v":1}"#), "configured id_field [meta.id] is missing from the message"),
        bad("id field null", meta(r#"{"id":null,"v":1}"#), "field [meta.id] has a null value"),
        bad("id field an object", meta(r#"{"id":{"a":1},"v":1}"#), "field [meta.id] must be a scalar value (string, number, or boolean), but found an object"),
        bad("id field blank", meta(r#"{"id":"  ","v":1}"#), "field [meta.id] has an empty value"),
        bad("id field of 10 KiB", meta(&format!(r#"{{"id":"{long_id}","v":1}}"#)), "id in field [meta.id] is too long: must be no longer than 512 bytes but was 10240"),
        bad("version field missing", meta(r#"{"id":"k"}"#), "configured version_field [meta.v] is missing from the message"),
        bad("version negative", meta(r#"{"id":"k","v":-1}"#), "invalid version in field [meta.v]: -1 is not an integer"),
        bad("version non-numeric", meta(r#"{"id":"k","v":"abc"}"#), r#"invalid version in field [meta.v]: "abc" is not an integer"#),
        bad("version fractional", meta(r#"{"id":"k","v":1.5}"#), "invalid version in field [meta.v]: 1.5 is not an integer"),
        bad("version beyond 64 bits", meta(r#"{"id":"k","v":18446744073709551616}"#), "invalid version in field [meta.v]: 1.8446744073709552e+19 is not an integer from 0 to 18446744073709551615"),
        bad("op type field an array", meta(r#"{"id":"k","v":1,"op":["D"]}"#), "field [meta.op] must be a scalar value (string, number, or boolean), but found an array"),
        too_large(&healthy),
    ]);
    Guest {
        label: "opensearch (field_mapping)",
        source: json!({
            "mapper_type": "field_mapping",
            "mapper_settings": {
                "id_field": "meta.id",
                "version_field": "meta.v",
                "op_type_field": "meta.op",
                "op_type_field.delete_value": "D",
                "op_type_field.create_value": "C"
            }
        }),
        plugin_section: None,
        plugin,
        healthy,
        cases,
    }
}

fn debezium() -> Guest {
    let healthy = r#"{"op":"c","after":{"id":"ok","name":"fine","age":3},"ts_ms":1}"#.to_string();
    let wrap = |doc: &str| format!(r#"{{"op":"c","after":{{"id":"k",{},"ts_ms":1}}"#, &doc[1..]);
    let long_id = "i".repeat(10 * 1024);
    let mut cases = payload_cases(&healthy, r#"{"op":"c","op":"u","after":{"id":"k"},"ts_ms":1}"#, true);
    cases.extend(document_cases(&wrap));
    cases.extend([
        bad("`op` missing", r#"{"after":{"id":"k"},"ts_ms":1}"#, "the event has no [op]"),
        bad(
            "`op` unknown",
            r#"{"op":"x","after":{"id":"k"},"ts_ms":1}"#,
            r#"unknown op "x": expected one of [c, r, u, d]"#,
        ),
        bad("`op` of the wrong type", r#"{"op":1,"after":{"id":"k"},"ts_ms":1}"#, "[op] must be a string, found 1"),
        bad("truncate event", r#"{"op":"t","ts_ms":1}"#, r#"op "t" (truncate) is not supported"#),
        bad(
            "`after` not an object",
            r#"{"op":"c","after":[1],"ts_ms":1}"#,
            "[after] must be a JSON object, found an array",
        ),
        bad("`after` null on a create", r#"{"op":"c","after":null,"ts_ms":1}"#, "the event has no [after] row"),
        bad(
            "`before` not an object on a delete",
            r#"{"op":"d","before":"x","ts_ms":1}"#,
            "[before] must be a JSON object, found a string",
        ),
        bad(
            "delete without `before`",
            r#"{"op":"d","ts_ms":1}"#,
            "the event has no [before] row to read key_columns from",
        ),
        bad(
            "key column missing",
            r#"{"op":"c","after":{"name":"n"},"ts_ms":1}"#,
            "key column [id] is missing from [after]",
        ),
        bad("key column null", r#"{"op":"c","after":{"id":null},"ts_ms":1}"#, "key column [id] in [after] is null"),
        bad(
            "key column an object",
            r#"{"op":"c","after":{"id":{"a":1}},"ts_ms":1}"#,
            "key column [id] in [after] must be a string, number or boolean to make a document id, found an object",
        ),
        bad(
            "key column of 10 KiB",
            format!(r#"{{"op":"c","after":{{"id":"{long_id}"}},"ts_ms":1}}"#),
            "the document id is too long: must be no longer than 512 bytes but was 10240",
        ),
        bad(
            "version negative",
            r#"{"op":"c","after":{"id":"k"},"ts_ms":-1}"#,
            "invalid version in field [ts_ms]: -1 is not an integer",
        ),
        bad(
            "version non-numeric",
            r#"{"op":"c","after":{"id":"k"},"ts_ms":"abc"}"#,
            r#"invalid version in field [ts_ms]: "abc" is not an integer"#,
        ),
        bad(
            "version fractional",
            r#"{"op":"c","after":{"id":"k"},"ts_ms":1.5}"#,
            "invalid version in field [ts_ms]: 1.5 is not an integer",
        ),
        bad(
            "version beyond 64 bits",
            r#"{"op":"c","after":{"id":"k"},"ts_ms":18446744073709551616}"#,
            "invalid version in field [ts_ms]: 1.8446744073709552e+19 is not an integer from 0 to 18446744073709551615",
        ),
        bad(
            "version missing",
            r#"{"op":"c","after":{"id":"k"}}"#,
            "the event has no version: it has none of [source.lsn, ts_ns, ts_ms]",
        ),
        bad(
            "`source.lsn` null",
            r#"{"op":"c","after":{"id":"k"},"source":{"lsn":null},"ts_ms":1}"#,
            "invalid version in field [source.lsn]: null is not an integer",
        ),
        bad("schema envelope without payload", r#"{"schema":{}}"#, "the schema envelope has no [payload]"),
        bad(
            "schema envelope with other members",
            r#"{"schema":{},"payload":{},"op":"c"}"#,
            "must be a schema envelope",
        ),
        bad(
            "schema envelope payload an array",
            r#"{"schema":{},"payload":[1]}"#,
            "the schema envelope's payload must be a JSON object, found an array",
        ),
        too_large(&healthy),
    ]);
    Guest {
        label: "debezium",
        source: json!({}),
        plugin_section: Some(json!({"name": "debezium", "config": {"key_columns": ["id"]}})),
        plugin: debezium_plugin,
        healthy,
        cases,
    }
}

/// The guest's stream: every case, one per line, then the healthy message.
fn stream_for(guest: &Guest) -> Stream {
    let stream = Stream::new(1);
    let mut bytes = Vec::new();
    for case in &guest.cases {
        assert!(!case.payload.contains(&b'\n') && !case.payload.ends_with(b"\r"), "{}: one line", case.kind);
        bytes.extend_from_slice(&case.payload);
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(guest.healthy.as_bytes());
    bytes.push(b'\n');
    std::fs::write(stream.path(0), bytes).unwrap();
    stream
}

fn start_guest(guest: &Guest, stream: &Stream, data: &std::path::Path, policy: &str) -> Ingestion {
    let name = format!("corpus-{}", policy.to_ascii_lowercase());
    let mut source = guest.source.clone();
    source["error_strategy"] = json!(policy);
    let mut spec = stream.spec(&name, 1, source);
    spec["mappings"] = mappings();
    if let Some(section) = &guest.plugin_section {
        spec["sluice"] = json!({"plugin": section});
    }
    start_with_plugin(&spec, data, (guest.plugin)())
}

/// The id the healthy message (the last line) is stored under.
fn healthy_id(guest: &Guest) -> String {
    match guest.label {
        "opensearch (raw_payload)" => format!("0-{}", guest.cases.len()),
        _ => "ok".into(),
    }
}

fn ids(ing: &Ingestion) -> Vec<String> {
    docs(ing).into_keys().map(|(_, id)| id).collect()
}

/// DROP: every bad message is invalid (or skipped), dropped with a reason that
/// names the problem, counted once; the healthy message is applied.
fn under_drop(guest: &Guest) -> Vec<Row> {
    let label = guest.label;
    let stream = stream_for(guest);
    let data = tempfile::tempdir().unwrap();
    let ing = start_guest(guest, &stream, data.path(), "DROP");
    wait_idle(&ing);

    let dropped = ing.sinks()[0].dropped(None, 10_000).unwrap();
    let mut dropped = dropped.into_iter();
    let mut rows = Vec::new();
    let mut vague = Vec::new();
    for (pointer, case) in guest.cases.iter().enumerate() {
        let reason = match case.outcome {
            Outcome::Invalid => {
                let d = dropped.next().unwrap_or_else(|| panic!("{label}: {}: not dropped", case.kind));
                assert_eq!(
                    d.pointer,
                    Pointer::from(pointer as u64),
                    "{label}: {}: dropped at its own pointer ({})",
                    case.kind,
                    d.reason
                );
                let kept = d.payload.unwrap_or_default();
                let expected = String::from_utf8_lossy(&case.payload[..case.payload.len().min(4096)]).into_owned();
                assert_eq!(kept, expected, "{label}: {}: the dropped payload is kept (cut at 4096 bytes)", case.kind);
                d.reason
            }
            // Skipped messages are counted (checked below), not kept with a
            // reason: there is no reason to check.
            Outcome::Skipped => {
                rows.push(Row {
                    kind: case.kind.clone(),
                    guest: label,
                    outcome: case.outcome,
                    reason: "(counted as skipped; no reason is kept)".into(),
                });
                continue;
            }
        };
        // A reason is one line of bounded length, whatever the message held.
        assert!(!reason.contains('\n') && reason.len() <= 1024, "{label}: {}: reason {reason:?}", case.kind);
        if !reason.contains(&case.expect) {
            vague.push(format!(
                "{label}: {} (line {pointer}): reason {reason:?} does not name the problem ({:?})",
                case.kind, case.expect
            ));
        }
        rows.push(Row { kind: case.kind.clone(), guest: label, outcome: case.outcome, reason });
    }
    assert_eq!(dropped.next(), None, "{label}: nothing else is dropped");
    assert!(vague.is_empty(), "{}", vague.join("\n"));

    let invalid = guest.cases.iter().filter(|c| c.outcome == Outcome::Invalid).count() as u64;
    let skipped = guest.cases.len() as u64 - invalid;
    let c = counters(&ing, 0);
    assert_eq!(c.total_processed_count, guest.cases.len() as u64 + 1, "{label}: every message processed once: {c:?}");
    assert_eq!(c.total_invalid_message_count, invalid, "{label}: each bad message counted once as invalid: {c:?}");
    assert_eq!(c.total_failed_count, invalid, "{label}: no plugin failures (a trap or panic would count here): {c:?}");
    assert_eq!(c.total_failures_dropped_count, invalid, "{label}: {c:?}");
    assert_eq!(c.total_skipped_count, skipped, "{label}: {c:?}");
    assert_eq!(c.total_ops_applied_count, 1, "{label}: only the healthy message applies: {c:?}");
    assert_eq!(ids(&ing), [healthy_id(guest)], "{label}: the healthy message after the corpus is applied");
    rows
}

/// BLOCK: the shard stops at each bad message in turn with its pointer and
/// the reason DROP gave; a reset moves it past each, and the last one is
/// dropped by switching to DROP.
fn under_block(guest: &Guest, drop_rows: &[Row]) {
    let label = guest.label;
    let stream = stream_for(guest);
    let data = tempfile::tempdir().unwrap();
    let ing = start_guest(guest, &stream, data.path(), "BLOCK");
    let shard = &ing.shards()[0];
    let bad: Vec<(u64, &Case, &Row)> = guest
        .cases
        .iter()
        .zip(drop_rows)
        .enumerate()
        .filter(|(_, (c, _))| c.outcome == Outcome::Invalid)
        .map(|(p, (c, r))| (p as u64, c, r))
        .collect();
    for (i, (pointer, case, row)) in bad.iter().enumerate() {
        let at = Pointer::from(*pointer);
        let reached =
            shard.wait_until(Duration::from_secs(30), |s| s.blocked.as_ref().is_some_and(|b| b.pointer == at));
        assert!(
            reached,
            "{label}: {}: expected a block at line {pointer}, got {:#?}",
            case.kind,
            shard.status().blocked
        );
        let status = shard.status();
        let blocked = status.blocked.unwrap();
        assert_eq!(blocked.reason, row.reason, "{label}: {}: the same reason under BLOCK as under DROP", case.kind);
        assert_eq!(
            status.meta.counters.total_invalid_message_count, 0,
            "{label}: a blocking message is not counted yet"
        );
        if i + 1 < bad.len() {
            ing.pause(None).unwrap();
            ing.resume(None, &[(0, StartPosition::At(Pointer::from(pointer + 1)))]).unwrap();
        } else {
            ing.set_error_strategy(ErrorStrategy::Drop);
        }
    }
    wait_idle(&ing);
    let last = bad.last().expect("a corpus").0;
    let dropped = ing.sinks()[0].dropped(None, 10).unwrap();
    assert_eq!(dropped.iter().map(|d| d.pointer.clone()).collect::<Vec<_>>(), [Pointer::from(last)], "{label}");
    let lines = guest.cases.len() as u64 + 1;
    let skipped = guest.cases.len() as u64 - bad.len() as u64;
    let c = counters(&ing, 0);
    // Messages skipped by a reset are never processed; the last bad one is
    // dropped once under DROP.
    assert_eq!(c.total_processed_count, lines - (bad.len() as u64 - 1), "{label}: {c:?}");
    assert_eq!(
        (c.total_invalid_message_count, c.total_failed_count, c.total_failures_dropped_count),
        (1, 1, 1),
        "{label}: {c:?}"
    );
    assert_eq!((c.total_skipped_count, c.total_ops_applied_count), (skipped, 1), "{label}: {c:?}");
    assert_eq!(ids(&ing), [healthy_id(guest)], "{label}");
}

fn table(rows: &[Row]) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("| kind | guest | outcome | reason |\n|---|---|---|---|\n");
    for r in rows {
        let outcome = match r.outcome {
            Outcome::Invalid => "invalid",
            Outcome::Skipped => "skipped",
        };
        out.push_str(&format!("| {} | {} | {outcome} | {} |\n", cell(&r.kind), r.guest, cell(&r.reason)));
    }
    out
}

fn document(guests: &[Guest], rows: &[Row]) -> String {
    let counts: Vec<String> = guests.iter().map(|g| format!("{} kinds through {}", g.cases.len(), g.label)).collect();
    let distinct: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let intro = [
        "# Bad input",
        "",
        "What every shipped guest makes of each kind of bad message. This file is",
        "generated by `tests/integration/corpus.rs` from an actual run (do not edit it",
        "by hand): the test fails when the run and this file differ, and",
        "`SLUICE_BLESS=1 cargo nextest run -p sluice --test integration corpus`",
        "rewrites it.",
        "",
        "Each message is one line of a file stream, followed by one healthy message,",
        "with strict `mappings` (`id` keyword, `name` text, `age` integer, `at` date,",
        "`flag` boolean, `addr.zip` keyword; `dynamic: strict`); `field_mapping`",
        "reads `meta.id`, `meta.v` and `meta.op`, and debezium takes the id from",
        "`key_columns: [\"id\"]` (files carry no message key).",
        "",
        "- Under `DROP` each invalid message was dropped, counted once",
        "  (`total_invalid_message_count`, `total_failures_dropped_count`) and kept in",
        "  the shard's dropped messages with the reason below; the healthy message",
        "  after the corpus was applied.",
        "- Under `BLOCK` the shard stopped at each invalid message in turn, with its",
        "  pointer and the same reason, until a pointer reset moved it past.",
        "- A skipped message (debezium's tombstone) is counted as skipped and never",
        "  blocks.",
        "- A 16 MiB message is over `sluice.plugin.limits.max_message_mb` (8 by",
        "  default) and never reaches the plugin.",
    ];
    format!("{}\n\n{} kinds in all; {}.\n\n{}", intro.join("\n"), distinct.len(), counts.join(", "), table(rows))
}

#[test]
fn corpus_of_bad_messages_through_every_guest_under_drop_and_block() {
    let guests = [opensearch_default(), opensearch_raw_payload(), opensearch_field_mapping(), debezium()];
    // Compile the guests once, before the threads need them.
    plugin();
    debezium_plugin();
    let rows: Vec<Vec<Row>> = std::thread::scope(|scope| {
        let runs: Vec<_> = guests
            .iter()
            .map(|guest| {
                scope.spawn(move || {
                    let rows = under_drop(guest);
                    under_block(guest, &rows);
                    rows
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("a guest's corpus run failed (see its panic above)")).collect()
    });
    let rows: Vec<Row> = rows.into_iter().flatten().collect();
    eprintln!("{}", table(&rows));

    let doc = document(&guests, &rows);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bad-input.md");
    if std::env::var_os("SLUICE_BLESS").is_some() {
        std::fs::write(&path, &doc).unwrap();
    } else {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == doc,
            "docs/bad-input.md differs from this run; if the change is intended, regenerate it with \
             SLUICE_BLESS=1 cargo nextest run -p sluice --test integration corpus"
        );
    }
}
