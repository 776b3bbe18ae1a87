//! The engine's contracts, on in-memory doubles (no files, no fjall).

use super::{BlockCause, IdleOutcome, Ingestion, LastError, PollStats, PollerState, RestoredShard, RuntimeOverrides};
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
    // The block was an error, with its pointer; dropping the message is not.
    let status = ing.shards()[0].status();
    assert_eq!(status.poll.stats.error_count, 1);
    assert_eq!(status.last_error.map(|e| e.pointer), Some(Some(Pointer::from(3))));
}

#[test]
fn a_block_ends_the_session_even_when_its_wake_lands_before_the_pollers_wait() {
    // The reader looks at its wakes 300 ms into each poll: the end of the
    // session (the block) wakes it inside that window, which its wait
    // alone does not see; the poller, caught up, would then wait 30 s.
    let source = VecSource::new(1).wakeable(Duration::from_millis(300));
    let mut lines = docs(3, 0);
    lines.push("not json".into());
    source.append(0, &lines);
    let (ing, _sinks) = start(1, "BLOCK", &source, RuntimeOverrides::default());
    let IdleOutcome::Blocked(blocked) = ing.wait_until_idle(Duration::from_secs(10)) else {
        panic!("the shard must block within 10 s, not after the poller's 30 s wait: {:?}", ing.status())
    };
    assert_eq!(blocked[0].1.pointer, Pointer::from(3));
}

/// Starts one shard over `source` with `poll.max_batch_size` 7 and extra settings.
fn start_one(
    source: &VecSource,
    settings: serde_json::Value,
    overrides: RuntimeOverrides,
) -> (Ingestion, Arc<MemorySink>) {
    let mut value = spec_json("t", 1, "DROP");
    value["settings"]["ingestion_source"]["poll.max_batch_size"] = json!(7);
    for (k, v) in settings.as_object().unwrap() {
        value["settings"][k] = v.clone();
    }
    let spec = IngestionSpec::from_value(&value).unwrap();
    let sink = Arc::new(MemorySink::new());
    let ing = Ingestion::start(spec, opensearch(), Arc::new(source.clone()), vec![sink.clone()], overrides).unwrap();
    (ing, sink)
}

#[test]
fn poll_statistics_count_every_poll_message_byte_batch_and_error() {
    let source = VecSource::new(1);
    let lines = docs(30, 0);
    let bytes: u64 = lines.iter().map(|l| l.len() as u64).sum();
    source.append(0, &lines);
    let (ing, _) = start_one(&source, json!({}), RuntimeOverrides::default());
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let control = ing.shards()[0].clone();
    // Caught up, it keeps polling: the empty polls count too.
    assert!(control.wait_until(Duration::from_secs(10), |s| s.poll.stats.empty_polls_count >= 3));
    let status = control.status();
    let p = &status.poll.stats;
    // 30 messages, at most 7 a poll: 7, 7, 7, 7, 2.
    assert_eq!((p.successful_polls_count, p.total_documents_fetched, p.total_bytes_processed), (5, 30, bytes));
    assert_eq!(p.poll_count, p.successful_polls_count + p.empty_polls_count);
    assert_eq!((p.batches_processed, p.error_count, p.consumer_error_count), (5, 0, 0));
    assert!(p.last_successful_poll.unwrap() <= p.last_poll_timestamp.unwrap());
    assert!(status.poll.avg_batch_processing_time_ms > 0.0);
    assert!(status.poll.p99_batch_processing_time_ms >= status.poll.p50_batch_processing_time_ms);
    assert_eq!(status.consumer.total_polled_count, 30);

    // Two failed polls: each is a consumer error and an error of the shard.
    source.fail_polls(0, 2);
    assert!(control.wait_until(Duration::from_secs(10), |s| s.poll.stats.consumer_error_count == 2));
    source.append(0, &docs(3, 30));
    assert!(control.wait_until(Duration::from_secs(10), |s| s.meta.counters.total_processed_count == 33));
    let status = ing.stop().remove(0);
    let p = &status.poll.stats;
    assert_eq!((p.successful_polls_count, p.consumer_error_count, p.error_count), (6, 2, 2));
    assert_eq!(p.poll_count, p.successful_polls_count + p.empty_polls_count + 2);
    assert_eq!(
        (p.batches_processed, p.total_bytes_processed),
        (6, bytes + docs(3, 30).iter().map(|l| l.len() as u64).sum::<u64>())
    );
    assert_eq!((status.consumer.total_polled_count, status.consumer.total_consumer_error_count), (33, 2));
    assert!(status.last_error.unwrap().message.contains("failed as asked"));
}

#[test]
fn a_restored_shard_continues_its_statistics() {
    let source = VecSource::new(1);
    source.append(0, &docs(4, 0));
    let saved = PollStats {
        poll_count: 100,
        successful_polls_count: 9,
        total_documents_fetched: 40,
        error_count: 3,
        ..Default::default()
    };
    let last_error = LastError { pointer: Some(Pointer::from(2)), message: "earlier".into(), at_ms: 5 };
    let restored = RestoredShard { poll: saved.clone(), last_error: Some(last_error.clone()) };
    let overrides = RuntimeOverrides { restored: [(0, restored)].into(), ..Default::default() };
    let (ing, _) = start_one(&source, json!({}), overrides);
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let status = ing.stop().remove(0);
    let p = &status.poll.stats;
    assert_eq!((p.successful_polls_count, p.total_documents_fetched, p.error_count), (10, 44, 3));
    assert!(p.poll_count > 100);
    assert_eq!(status.last_error, Some(last_error));
    assert_eq!(status.consumer.total_polled_count, 44);
}

#[test]
fn tombstones_older_than_gc_deletes_go_and_a_late_older_index_then_applies() {
    let source = VecSource::new(1);
    let delete = |id: &str, v: u64| json!({"_id": id, "_version": v, "_op_type": "delete"}).to_string();
    source.append(0, &[msg("a", 1, json!({})), msg("b", 1, json!({})), delete("a", 2), delete("b", 2)]);
    // gc_deletes 0: collected at the committer's next look.
    let (ing, sink) = start_one(&source, json!({"index.gc_deletes": "0ms"}), RuntimeOverrides::default());
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    eventually("the tombstones collected", || sink.tombstones().is_empty());
    source.append(0, &[msg("a", 1, json!({"late": true}))]);
    eventually("the late index applied", || sink.get("a").unwrap().is_some());
    drop(ing);
    // -1 keeps them: the late index is a version conflict.
    let source = VecSource::new(1);
    source.append(0, &[msg("a", 1, json!({})), delete("a", 2)]);
    let (ing, sink) = start_one(&source, json!({"index.gc_deletes": -1}), RuntimeOverrides::default());
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    std::thread::sleep(Duration::from_millis(300));
    source.append(0, &[msg("a", 1, json!({"late": true}))]);
    eventually("the late index read", || sink.meta().unwrap().counters.total_processed_count == 3);
    assert_eq!(sink.tombstones(), ["a"]);
    assert!(sink.get("a").unwrap().is_none());
    assert_eq!(sink.meta().unwrap().counters.total_version_conflicts_count, 1);
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

#[test]
fn the_reference_time_is_durable_before_use_kept_by_a_restart_and_rolls_over_only_when_idle() {
    let source = VecSource::new(1);
    source.append(0, &docs(5, 0));
    let sink = Arc::new(MemorySink::new());
    let run = |task_duration_ms: u64| {
        let mut spec = IngestionSpec::from_value(&spec_json("t", 1, "DROP")).unwrap();
        spec.task_duration_ms = task_duration_ms;
        let sinks = vec![sink.clone() as Arc<dyn ShardSink>];
        Ingestion::start(spec, opensearch(), Arc::new(source.clone()), sinks, RuntimeOverrides::default()).unwrap()
    };
    let before = crate::util::now_ms();
    let ing = run(3_600_000);
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    let first = sink.meta().unwrap().reference_time_ms.expect("set by the first session");
    assert!(first >= before);
    ing.stop();
    // Restarted with a 10 ms period (over long before the restart), the
    // shard first works with the stored time and starts a new period only
    // once it is idle. That a restart decodes against the stored time is
    // shown with a plugin that uses it: tests/integration/druid.rs,
    // `rejection_periods_are_judged_against_the_reference_time_in_the_checkpoint`.
    std::thread::sleep(Duration::from_millis(20));
    let ing = run(10);
    source.append(0, &docs(3, 5));
    eventually("the new messages", || sink.meta().unwrap().counters.total_processed_count == 8);
    // Once everything is committed and the shard is caught up, a new period starts.
    eventually("a new task period", || sink.meta().unwrap().reference_time_ms.unwrap() > first);
    ing.stop();
}

#[test]
fn a_shard_whose_sink_is_fenced_by_a_newer_epoch_stops_and_writes_nothing_more() {
    let source = VecSource::new(1);
    source.append(0, &docs(5, 0));
    let spec = IngestionSpec::from_value(&spec_json("t", 1, "DROP")).unwrap();
    let shared = Arc::new(MemorySink::new());
    let ours = shared.fenced(1).unwrap();
    let ing = Ingestion::start(spec, opensearch(), Arc::new(source.clone()), vec![ours], RuntimeOverrides::default())
        .unwrap();
    assert_eq!(ing.wait_until_idle(Duration::from_secs(10)), IdleOutcome::Idle);
    assert_eq!(shared.meta().unwrap().epoch, Some(1));
    // Another host takes the shard over (epoch 2); more messages arrive.
    let _theirs = shared.fenced(2).unwrap();
    source.append(0, &docs(5, 5));
    let control = ing.shards()[0].clone();
    assert!(control.wait_until(Duration::from_secs(10), |s| s.fenced && s.state == PollerState::Closed));
    let meta = shared.meta().unwrap();
    assert_eq!((meta.counters.total_processed_count, meta.epoch), (5, Some(1)), "nothing committed after the fence");
    assert!(control.status().last_error.unwrap().message.contains("fenced"));
}

#[test]
fn a_leased_ingestion_runs_only_the_shards_started_and_they_stop_and_move_one_by_one() {
    let source = VecSource::new(2);
    source.append(0, &docs(10, 0));
    source.append(1, &docs(10, 100));
    let spec = IngestionSpec::from_value(&spec_json("t", 2, "DROP")).unwrap();
    let shared: Vec<Arc<MemorySink>> = (0..2).map(|_| Arc::new(MemorySink::new())).collect();
    let sinks = shared.iter().map(|s| s.clone() as Arc<dyn ShardSink>).collect();
    let leased = RuntimeOverrides { leased: true, ..Default::default() };
    let mut ing = Ingestion::start(spec, opensearch(), Arc::new(source.clone()), sinks, leased).unwrap();
    assert!(ing.running_shards().is_empty(), "nothing runs before its lease is taken");
    assert!(ing.status().iter().all(|s| s.state == PollerState::Elsewhere));

    ing.start_shard(0, 1).unwrap();
    let c0 = ing.shards()[0].clone();
    assert!(c0.wait_until(Duration::from_secs(10), |s| s.idle));
    assert_eq!(ing.running_shards(), [(0, Some(1), false)]);
    assert_eq!(shared[0].meta().unwrap().counters.total_processed_count, 10);
    assert_eq!(shared[1].commits(), 0, "shard 1 is not run here");
    assert_eq!(ing.status()[0].lease.as_ref().map(|l| l.epoch), Some(1));
    ing.start_shard(0, 1).unwrap(); // already running: nothing happens

    // It moves away (stop), more messages arrive, it comes back under epoch 3:
    // it continues after its checkpoint.
    ing.stop_shard(0).unwrap();
    assert!(
        c0.wait_until(Duration::from_secs(10), |s| s.state == PollerState::Elsewhere || s.state == PollerState::Closed)
    );
    source.append(0, &docs(5, 10));
    eventually("stopped and reaped", || ing.running_shards().is_empty());
    assert_eq!(c0.status().state, PollerState::Elsewhere);
    ing.start_shard(0, 3).unwrap();
    eventually("the new messages", || shared[0].meta().unwrap().counters.total_processed_count == 15);
    assert_eq!(shared[0].meta().unwrap().epoch, Some(3));

    // Another host fenced shard 1 at epoch 5: starting it under 4 is refused, with the epoch.
    let _theirs = shared[1].fenced(5).unwrap();
    let e = ing.start_shard(1, 4).unwrap_err();
    assert_eq!(e.fenced_at(), Some(5), "{e}");
    ing.stop();
}
