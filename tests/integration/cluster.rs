//! Many hosts, one set of shards: fencing in the Redis sink, and (below)
//! `sluice serve --cluster` hosts sharing the shards of an ingestion.

use crate::support::redis_server::RedisServer;
use sluice::pointer::{Pointer, StartPosition};
use sluice::sink::redis::RedisSink;
use sluice::sink::{CommitBatch, DocOp, ShardSink, SinkError};

fn batch(ids: &[&str], last_pointer: u64) -> CommitBatch {
    CommitBatch {
        ops: ids
            .iter()
            .map(|id| DocOp { id: id.to_string(), source: Some("{}".into()), ..Default::default() })
            .collect(),
        last_pointer: Pointer::from(last_pointer),
        ..Default::default()
    }
}

fn is_fenced(result: Result<impl std::fmt::Debug, SinkError>, held: u64, current: u64) -> bool {
    matches!(result, Err(SinkError::Fenced { held: h, current: c, .. }) if h == held && c == current)
}

/// Two writers on one shard with lease epochs 1 and 2: once the newer one
/// fenced the shard, every write of the older one is refused and changes
/// nothing, and the newer one continues from the checkpoint.
#[test]
fn cluster_fencing_refuses_the_older_epoch_and_writes_nothing_of_it() {
    let redis = RedisServer::start();
    let reader = RedisSink::open(&redis.url(), "f", "fenced", 0).unwrap();
    let old = reader.fenced(1).unwrap();
    let meta = old.commit(batch(&["a1"], 0)).unwrap();
    assert_eq!(meta.epoch, Some(1), "the commit stores the writer's epoch");

    // The older writer read the checkpoint before the newer one took over:
    // its commit is refused all the same.
    let new = reader.fenced(2).unwrap();
    assert!(is_fenced(old.commit(batch(&["a2"], 1)), 1, 2));
    assert!(reader.get("a2").unwrap().is_none(), "nothing of the refused commit is written");
    let stored = reader.meta().unwrap();
    assert_eq!((stored.last_pointer, stored.epoch, stored.live_docs), (Some(Pointer::from(0)), Some(1), 1));

    // Its other writes are refused too; an older epoch cannot fence again.
    assert!(is_fenced(old.reset_position(StartPosition::Earliest), 1, 2));
    assert!(is_fenced(old.set_reference_time(7), 1, 2));
    assert!(is_fenced(old.gc_tombstones(i64::MAX, 10), 1, 2));
    assert!(is_fenced(reader.fenced(1).map(|_| ()), 1, 2));

    // The newer writer continues after the checkpoint.
    let meta = new.commit(batch(&["b1"], 1)).unwrap();
    assert_eq!((meta.epoch, meta.live_docs, meta.last_pointer), (Some(2), 2, Some(Pointer::from(1))));
    assert!(reader.get("b1").unwrap().is_some());
    assert!(is_fenced(old.commit(batch(&["a3"], 2)), 1, 2), "and the older one stays fenced out");
    assert_eq!(reader.meta().unwrap().counters, new.meta().unwrap().counters);
}
