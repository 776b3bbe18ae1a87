//! Contracts every [`ShardSink`] must keep, written once and run against
//! each sink by its tests (unit tests for the memory and embedded sinks, an
//! integration test with a real redis-server for the Redis sink).

use super::{CommitBatch, DocOp, GC_BATCH, OpType, ShardSink};
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
