//! The manager's contracts for the state records (issue 17), on in-memory
//! doubles: statistics saved and continued, tombstones and cleanup,
//! per-ingestion export, import and reset.

use super::tests::Host;
use super::{Manager, ManagerError, ManagerOptions};
use crate::engine::PollerState;
use crate::sink::ShardSink;
use crate::state::memory::MemoryStateStore;
use crate::state::{IngestionRecord, SHARD_STATE_VERSION, StateStore};
use crate::testing::{eventually, msg, spec_json};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The payload bytes of [`Host::append`]'s messages `from..from + n`.
fn bytes(from: usize, n: usize) -> u64 {
    (from..from + n).map(|i| msg(&format!("d{i}"), 1, json!({"n": i})).len() as u64).sum()
}

/// A spec saving its statistics every 200 ms.
fn spec(name: &str) -> Value {
    let mut spec = spec_json(name, 2, "DROP");
    spec["sluice"] = json!({"state": {"auto_save_interval": "200ms"}});
    spec
}

fn record(host: &Host, name: &str) -> IngestionRecord {
    host.store.load(name).unwrap().unwrap()
}

#[test]
fn statistics_are_saved_at_the_interval_and_on_stop_and_continue_after_a_restart() {
    let host = Host::new();
    let m = host.open();
    m.create(spec("s")).unwrap();
    host.append("s", 0, 0, 10);
    eventually("the messages", || host.processed("s", 0) == 10);
    // Saved while running, at the interval: the record says what was read.
    eventually("a saved record", || {
        host.store.load_shard_states("s").unwrap().first().is_some_and(|r| r.data.poll.total_documents_fetched == 10)
    });
    let saved = host.store.load_shard_states("s").unwrap();
    let id = record(&host, "s").id;
    assert_eq!(saved.len(), 2);
    let r = &saved[0];
    assert_eq!((r.id.as_str(), r.version, r.data.last_offset.as_deref()), ("s/0", SHARD_STATE_VERSION, Some("9")));
    assert_eq!(
        (r.metadata.ingestion_id.as_str(), r.metadata.source_type.as_str(), r.metadata.shard),
        (id.as_str(), "file", 0)
    );
    assert_eq!(r.data.poll.total_bytes_processed, bytes(0, 10));
    assert!(r.last_updated_ms().is_some());
    // Stopped: the final statistics are the ones saved.
    let stopped = m.stop("s").unwrap();
    let saved = host.store.load_shard_states("s").unwrap();
    for (status, record) in stopped.iter().zip(&saved) {
        assert_eq!(record.data.poll, status.poll.stats, "shard {}", status.shard);
    }
    let before = saved[0].data.poll.clone();
    assert!(
        before.empty_polls_count > 0 && before.poll_count == before.successful_polls_count + before.empty_polls_count
    );
    m.shutdown();
    drop(m);

    // A restart continues the counters.
    let m = host.open();
    host.append("s", 0, 10, 5);
    eventually("the new messages", || host.processed("s", 0) == 15);
    let state = m.state("s").unwrap();
    let p = &state[0].poll.stats;
    assert_eq!(p.total_documents_fetched, 15, "10 before the restart, 5 after");
    assert_eq!(p.total_bytes_processed, bytes(0, 15));
    assert_eq!(p.successful_polls_count, before.successful_polls_count + 1);
    assert!(p.poll_count > before.poll_count && p.empty_polls_count >= before.empty_polls_count);
    assert_eq!(m.stats("s").unwrap()[0].1.consumer_stats.total_polled_count, 15);
    m.shutdown();
}

#[test]
fn a_state_record_of_a_newer_version_keeps_its_ingestion_from_starting_and_says_why() {
    let host = Host::new();
    let m = host.open();
    m.create(spec("v")).unwrap();
    m.shutdown();
    drop(m);
    let mut records = host.store.load_shard_states("v").unwrap();
    records[1].version = SHARD_STATE_VERSION + 1;
    host.store.save_shard_states("v", &records).unwrap();
    let m = host.open();
    let e = m.get("v").unwrap().start_error.unwrap();
    assert!(e.contains("v/1") && e.contains("written by a newer sluice"), "{e}");
    m.shutdown();
}

#[test]
fn a_deleted_ingestion_is_a_tombstone_until_cleanup_removes_exactly_the_old_ones() {
    let host = Host::new();
    let m = host.open();
    for name in ["old", "recent", "live"] {
        m.create(spec(name)).unwrap();
        host.append(name, 0, 0, 3);
        eventually("the messages", || host.processed(name, 0) == 3);
    }
    m.delete("old", false).unwrap();
    m.delete("recent", false).unwrap();
    // Tombstones: not listed, not found, kept in the store with the statistics.
    assert_eq!(m.list().iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["live"]);
    assert!(matches!(m.get("old"), Err(ManagerError::NotFound(_))));
    assert!(record(&host, "old").deleted_at_ms.is_some());
    assert_eq!(host.store.load_shard_states("old").unwrap()[0].data.poll.total_documents_fetched, 3);
    // "old" was deleted 40 days ago.
    let mut old = record(&host, "old");
    old.deleted_at_ms = Some(crate::util::now_ms() - 40 * 86_400_000);
    host.store.save(&old).unwrap();

    eventually("live's statistics saved", || host.store.load_shard_states("live").unwrap().len() == 2);
    let stats = m.state_stats().unwrap();
    assert_eq!((stats.ingestions, stats.deleted, stats.usage.shard_records, stats.records()), (1, 2, 6, 9));
    assert!(stats.usage.bytes > 0 && stats.oldest_update_ms <= stats.newest_update_ms);

    let report = m.cleanup_old_states(Duration::from_secs(30 * 86_400)).unwrap();
    assert_eq!(report.ingestions, ["old"]);
    assert_eq!(report.records, 3, "the tombstone and its two shard records");
    assert!(report.bytes > 0);
    assert!(host.store.load("old").unwrap().is_none() && host.store.load_shard_states("old").unwrap().is_empty());
    let spec_of = |name| crate::spec::IngestionSpec::from_value(&spec(name)).unwrap();
    use crate::wiring::Wiring;
    assert!(host.wiring.local_data(&spec_of("old")).is_none(), "the old sinks are gone");
    assert!(host.wiring.local_data(&spec_of("recent")).is_some(), "the recent ones stay");
    assert!(record(&host, "recent").deleted_at_ms.is_some());
    assert_eq!(host.processed("live", 0), 3);
    assert!(m.cleanup_old_states(Duration::from_secs(30 * 86_400)).unwrap().ingestions.is_empty());

    // A restart restores no tombstone.
    m.shutdown();
    drop(m);
    let m = host.open();
    assert_eq!(m.list().iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["live"]);
    // Issue 13 still holds: a new "recent" refuses the sinks the deleted one left...
    let refused = m.create(spec("recent")).unwrap_err().to_string();
    assert!(refused.contains("belongs to an earlier ingestion of the same name"), "{refused}");
    // ...until cleanup removed them; then the name starts afresh.
    assert_eq!(m.cleanup_old_states(Duration::ZERO).unwrap().ingestions, ["recent"]);
    m.create(spec("recent")).unwrap();
    assert!(record(&host, "recent").deleted_at_ms.is_none());
    host.append("recent", 0, 3, 1);
    eventually("the new incarnation reads from the start", || host.processed("recent", 0) == 4);
    assert_eq!(m.state("recent").unwrap()[0].poll.stats.total_documents_fetched, 4, "not the old statistics");
    m.shutdown();
}

#[test]
fn resetting_one_ingestion_starts_it_over_with_zeroed_statistics() {
    let host = Host::new();
    let m = host.open();
    m.create(spec("r")).unwrap();
    m.create(spec("other")).unwrap();
    host.append("r", 0, 0, 10);
    host.append("other", 0, 0, 2);
    eventually("the messages", || host.processed("r", 0) == 10 && host.processed("other", 0) == 2);
    m.pause("r", &[1]).unwrap();

    let outcome = m.reset_ingestion("r", false).unwrap();
    assert!(outcome.detail.contains("back to pointer.init.reset (earliest)") && outcome.detail.contains("kept"));
    // Read again from the start: the documents were kept, so every version is a conflict now.
    eventually("read again", || host.processed("r", 0) == 10);
    let sink = host.wiring.sink("r", 0);
    eventually("committed", || sink.meta().unwrap().counters.total_version_conflicts_count == 10);
    assert_eq!(sink.meta().unwrap().live_docs, 10);
    let state = m.state("r").unwrap();
    assert_eq!(state[0].poll.stats.total_documents_fetched, 10, "statistics started over");
    assert!(state[1].paused, "a paused shard stays paused");
    assert_eq!(m.history("r").unwrap().last().unwrap().kind, "reset");
    assert_eq!(host.processed("other", 0), 2, "other ingestions are not touched");

    // With the documents deleted.
    m.reset_ingestion("r", true).unwrap();
    eventually("ingested anew", || host.wiring.sink("r", 0).meta().unwrap().counters.total_ops_applied_count == 10);
    assert_eq!(host.wiring.sink("r", 0).meta().unwrap().counters.total_version_conflicts_count, 0);

    // A redis sink's documents are not deleted this way: refused, nothing changed.
    let mut redis = spec("rs");
    redis["sluice"]["sink"] = json!({"type": "redis", "url": "redis://127.0.0.1:1/0"});
    m.create(redis).unwrap();
    let e = m.reset_ingestion("rs", true).unwrap_err();
    assert!(matches!(&e, ManagerError::FailedPrecondition(t) if t.contains("redis sink")), "{e}");
    assert_eq!(m.get("rs").unwrap().start_error, None);
    m.shutdown();
}

#[test]
fn one_ingestion_exported_and_imported_on_another_state_store_continues_where_it_was() {
    let a = Host::new();
    let m = a.open();
    m.create(spec("x")).unwrap();
    m.create(spec("y")).unwrap();
    a.append("x", 0, 0, 6);
    eventually("host a ingests", || a.processed("x", 0) == 6);
    m.pause("x", &[1]).unwrap();
    let export = m.export_ingestion("x").unwrap();
    assert_eq!(export.ingestions.len(), 1, "one ingestion only");
    let entry = &export.ingestions[0];
    assert_eq!((entry.shards[0].live_docs, entry.shard_states.len()), (6, 2));
    assert_eq!(entry.shard_states[0].data.poll.total_documents_fetched, 6);
    assert!(matches!(m.export_ingestion("nope"), Err(ManagerError::NotFound(_))));
    m.shutdown();
    drop(m);
    // As a file: JSON.
    let export = serde_json::from_str(&serde_json::to_string(&export).unwrap()).unwrap();

    // The same sinks, another state store (file -> Redis, in production).
    let b = Host { wiring: a.wiring.clone(), store: Arc::new(MemoryStateStore::new()) };
    let mb = Manager::with_wiring(b.wiring.clone(), b.store.clone(), ManagerOptions::default()).unwrap();
    assert_eq!(mb.import_state(&export, false).unwrap(), ["x"]);
    assert!(b.store.load("y").unwrap().is_none(), "only x came along");
    eventually("shard 1 paused as it was", || mb.state("x").unwrap()[1].state == PollerState::Paused);
    b.append("x", 0, 6, 3);
    eventually("host b continues", || b.processed("x", 0) == 9);
    let sink = b.wiring.sink("x", 0);
    let c = sink.meta().unwrap().counters;
    assert_eq!((c.total_processed_count, c.total_ops_applied_count, c.total_version_conflicts_count), (9, 9, 0));
    let p = &mb.state("x").unwrap()[0].poll.stats;
    assert_eq!((p.total_documents_fetched, p.total_bytes_processed), (9, bytes(0, 9)), "the counters continue");
    mb.shutdown();
}
