//! The engine's contracts, on in-memory doubles (no files, no fjall).

use super::{BlockCause, IdleOutcome, Ingestion, PollerState, RuntimeOverrides};
use crate::pointer::{Pointer, StartPosition};
use crate::sink::ShardSink;
use crate::sink::memory::MemorySink;
use crate::source::vec::VecSource;
use crate::spec::{ErrorStrategy, IngestionSpec};
use crate::testing::{eventually, msg, opensearch, spec_json};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn start(
    shards: u32,
    strategy: &str,
    source: &VecSource,
    overrides: RuntimeOverrides,
) -> (Ingestion, Vec<Arc<MemorySink>>) {
    let spec = IngestionSpec::from_value(&spec_json("t", shards, strategy)).unwrap();
    let sinks: Vec<Arc<MemorySink>> = (0..shards).map(|_| Arc::new(MemorySink::new())).collect();
    let dyn_sinks = sinks.iter().map(|s| s.clone() as Arc<dyn ShardSink>).collect();
    Ingestion::check(&spec, &opensearch(), source).unwrap();
    let ing = Ingestion::start(spec, opensearch(), Arc::new(source.clone()), dyn_sinks, overrides).unwrap();
    (ing, sinks)
}

fn docs(n: usize, from: usize) -> Vec<String> {
    (from..from + n).map(|i| msg(&format!("d{i}"), 1, json!({"n": i}))).collect()
}

#[test]
fn every_message_is_committed_once_with_its_checkpoint() {
    let source = VecSource::new(2);
    source.append(0, &docs(30, 0));
    source.append(1, &docs(5, 100));
    let (ing, sinks) = start(2, "DROP", &source, RuntimeOverrides::default());
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let meta = sinks[0].meta().unwrap();
    assert_eq!((meta.live_docs, meta.counters.total_processed_count), (30, 30));
    assert_eq!(meta.resume, Some(StartPosition::After(Pointer::from(29))));
    assert_eq!(sinks[1].meta().unwrap().live_docs, 5);
    assert_eq!(sinks[0].get("d7").unwrap().unwrap().source, br#"{"n":7}"#.to_vec());
    // More data later: read from the checkpoint, nothing twice.
    source.append(0, &docs(3, 30));
    eventually("the new messages", || sinks[0].meta().unwrap().counters.total_processed_count == 33);
    assert_eq!(sinks[0].meta().unwrap().live_docs, 33);
    let statuses = ing.stop();
    assert_eq!(statuses[0].meta.counters.total_processed_count, 33);
}

#[test]
fn a_paused_shard_commits_nothing_until_resumed_and_a_reset_moves_its_checkpoint() {
    let source = VecSource::new(1);
    let paused = RuntimeOverrides { paused_shards: [0].into(), ..Default::default() };
    let (ing, sinks) = start(1, "DROP", &source, paused);
    source.append(0, &docs(10, 0));
    let control = ing.shards()[0].clone();
    assert!(control.wait_until(Duration::from_secs(10), |s| s.state == PollerState::Paused));
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(sinks[0].commits(), 0, "a paused shard commits nothing");
    // Resume with a reset to pointer 6: messages 6..9 only.
    ing.resume(None, &[(0, StartPosition::At(Pointer::from(6)))]).unwrap();
    assert!(control.wait_reset_applied(Duration::from_secs(10)));
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let meta = sinks[0].meta().unwrap();
    assert_eq!((meta.counters.total_processed_count, meta.live_docs), (4, 4));
    assert!(sinks[0].get("d5").unwrap().is_none() && sinks[0].get("d6").unwrap().is_some());
}

#[test]
fn block_stops_at_the_bad_message_and_drop_then_counts_it_once() {
    let source = VecSource::new(1);
    let mut lines = docs(3, 0);
    lines.push("not json".into());
    lines.extend(docs(2, 3));
    source.append(0, &lines);
    let (ing, sinks) = start(1, "BLOCK", &source, RuntimeOverrides::default());
    let IdleOutcome::Blocked(blocked) = ing.wait_until_idle(Duration::from_secs(10)) else { panic!("must block") };
    assert_eq!(
        (blocked[0].0, &blocked[0].1.pointer, blocked[0].1.cause),
        (0, &Pointer::from(3), BlockCause::InvalidMessage)
    );
    let meta = sinks[0].meta().unwrap();
    assert_eq!(
        (meta.counters.total_processed_count, meta.live_docs, meta.last_pointer),
        (3, 3, Some(Pointer::from(2)))
    );
    ing.set_error_strategy(ErrorStrategy::Drop);
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let meta = sinks[0].meta().unwrap();
    assert_eq!(meta.counters.total_processed_count, 6);
    assert_eq!((meta.counters.total_invalid_message_count, meta.counters.total_failures_dropped_count), (1, 1));
    let dropped = sinks[0].dropped(None, 10).unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].pointer, Pointer::from(3));
}

#[test]
fn several_decoders_commit_in_stream_order() {
    let source = VecSource::new(1);
    // The same id rewritten with rising versions: the last one must win,
    // whatever decoder finished first.
    let lines: Vec<String> = (1..=200).map(|v| msg("same", v, json!({"v": v}))).collect();
    source.append(0, &lines);
    let mut value = spec_json("t", 1, "DROP");
    value["settings"]["ingestion_source"]["num_processor_threads"] = json!(3);
    value["settings"]["ingestion_source"]["poll.max_batch_size"] = json!(7);
    let spec = IngestionSpec::from_value(&value).unwrap();
    let sink = Arc::new(MemorySink::new());
    let ing = Ingestion::start(spec, opensearch(), Arc::new(source), vec![sink.clone()], RuntimeOverrides::default())
        .unwrap();
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let meta = sink.meta().unwrap();
    assert_eq!((meta.counters.total_processed_count, meta.counters.total_version_conflicts_count), (200, 0));
    assert_eq!(sink.get("same").unwrap().unwrap().version, Some(200));
}
