//! Contracts every [`ShardSink`] must keep, written once and run against
//! each sink by its tests (unit tests for the memory and embedded sinks, an
//! integration test with a real redis-server for the Redis sink).

use super::{Aggregator, CommitBatch, DocOp, GC_BATCH, OpType, ShardSink};
use crate::pointer::Pointer;

/// What every sink's tombstone collection must do: each sink's tests run
/// it (the memory and embedded sinks' unit tests, the Redis sink's
/// integration test against a real redis-server). Panics on a breach.
pub fn tombstone_gc(sink: &dyn ShardSink) {
    let op = |id: &str, op_type, version| DocOp {
        id: id.into(),
        version: Some(version),
        op_type,
        source: (op_type != OpType::Delete).then(|| format!(r#"{{"v":{version}}}"#)),
        ..Default::default()
    };
    let commit = |ops: Vec<DocOp>, at: u64| {
        sink.commit(CommitBatch { ops, last_pointer: Pointer::Small(at), ..Default::default() }).unwrap()
    };
    commit(vec![op("a", OpType::Index, 1), op("b", OpType::Index, 1), op("c", OpType::Index, 1)], 0);
    commit(vec![op("a", OpType::Delete, 2), op("b", OpType::Delete, 2)], 1);
    let old = crate::util::now_ms();
    std::thread::sleep(std::time::Duration::from_millis(20));
    commit(vec![op("c", OpType::Delete, 2)], 2);
    // b is written again after its delete: its tombstone is gone already.
    commit(vec![op("b", OpType::Index, 3)], 3);
    let before = sink.meta().unwrap();
    assert_eq!(sink.gc_tombstones(old, GC_BATCH).unwrap(), 1, "only a's tombstone is old enough");
    assert_eq!(sink.meta().unwrap(), before, "collection changes no checkpoint or counter");
    assert_eq!(sink.gc_tombstones(old, GC_BATCH).unwrap(), 0);
    // A late older index of a applies now; of c (a newer tombstone) it still conflicts.
    let meta = commit(vec![op("a", OpType::Index, 1), op("c", OpType::Index, 1)], 4);
    assert_eq!(meta.counters.total_version_conflicts_count, 1);
    assert_eq!(sink.get("a").unwrap().map(|d| d.version), Some(Some(1)));
    assert_eq!(sink.get("c").unwrap(), None);
    assert_eq!(sink.get("b").unwrap().map(|d| d.version), Some(Some(3)), "a live document is never collected");
    assert_eq!(sink.gc_tombstones(crate::util::now_ms(), 1).unwrap(), 1, "c's turn");
    let ids: Vec<_> = sink.scan(None, 10).unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["a", "b"]);
}

/// What every sink's `update` and `merge` ops must do, within a batch and
/// across batches: the combined document, its version, live count and
/// counters, with the first/last event times kept beside the row (readers
/// never see them). Panics on a breach.
pub fn merges(sink: &dyn ShardSink) {
    use serde_json::{Value, json};
    let aggs = vec![
        ("count".to_string(), Aggregator::Count),
        ("bytes".to_string(), Aggregator::LongSum),
        ("first".to_string(), Aggregator::StringFirst),
    ];
    let merge = |id: &str, bytes: i64, first: &str, at: i64| DocOp {
        id: id.into(),
        op_type: OpType::Merge,
        source: Some(
            json!({"__time": "2018-01-01T01:01:00.000Z", "src": id, "count": 1, "bytes": bytes, "first": first})
                .to_string(),
        ),
        aggregators: aggs.clone(),
        event_time_ms: Some(at),
        ..Default::default()
    };
    let update = |id: &str, version: Option<u64>, doc: Value| DocOp {
        id: id.into(),
        version,
        op_type: OpType::Update,
        source: Some(doc.to_string()),
        ..Default::default()
    };
    let commit = |ops: Vec<DocOp>, at: u64| {
        sink.commit(CommitBatch { ops, last_pointer: Pointer::Small(at), ..Default::default() }).unwrap()
    };
    let source = |id: &str| -> Value { serde_json::from_slice(&sink.get(id).unwrap().unwrap().source).unwrap() };
    // Three events of row r in one batch (one of them earlier in event time), one of s.
    let meta = commit(
        vec![merge("r", 10, "b", 200), merge("r", 5, "a", 100), merge("s", 1, "x", 1), merge("r", 1, "c", 300)],
        0,
    );
    assert_eq!(meta.live_docs, 2);
    assert_eq!(meta.counters.total_ops_applied_count, 4);
    assert_eq!(
        source("r"),
        json!({"__time": "2018-01-01T01:01:00.000Z", "src": "r", "count": 3, "bytes": 16, "first": "a"})
    );
    // And across batches, from the stored row and its stored event times.
    commit(vec![merge("r", 4, "z", 50), merge("r", 100, "late", 400)], 1);
    assert_eq!(source("r")["count"], 5);
    assert_eq!(source("r")["bytes"], 120);
    assert_eq!(source("r")["first"], "z", "the earliest event time wins, whatever the batch");
    assert_eq!(sink.scan(None, 10).unwrap().len(), 2);
    // A partial update merges into the document, versioned like an index.
    commit(
        vec![DocOp {
            id: "d".into(),
            version: Some(2),
            op_type: OpType::Index,
            source: Some(json!({"a": {"b": 1, "c": 2}, "k": "v"}).to_string()),
            ..Default::default()
        }],
        2,
    );
    let meta = commit(
        vec![
            update("d", Some(3), json!({"a": {"c": 3}, "n": 1})),
            update("d", Some(3), json!({"k": "stale"})),
            update("e", None, json!({"new": true})),
        ],
        3,
    );
    assert_eq!(meta.counters.total_version_conflicts_count, 1, "an update with a version not newer conflicts");
    assert_eq!(source("d"), json!({"a": {"b": 1, "c": 3}, "k": "v", "n": 1}));
    assert_eq!(sink.get("d").unwrap().unwrap().version, Some(3));
    assert_eq!(source("e"), json!({"new": true}), "an update of a missing document creates it");
    assert_eq!(meta.live_docs, 4);
    // A merge after a delete starts a new row.
    commit(vec![DocOp { id: "s".into(), op_type: OpType::Delete, ..Default::default() }, merge("s", 7, "y", 5)], 4);
    assert_eq!(source("s")["count"], 1);
    assert_eq!(source("s")["bytes"], 7);
}
