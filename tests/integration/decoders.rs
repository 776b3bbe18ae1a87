//! Several decoders per shard (`num_processor_threads`): batches are decoded
//! in parallel and committed in stream order, with the same exactly-once,
//! BLOCK and hot-swap behaviour as one decoder.

use crate::support::hotswap_rig::{processed, tagger, versions_by_message, wait_processed};
use crate::support::*;
use serde_json::json;
use sluice::engine::PollerState;
use sluice::spec::ErrorStrategy;
use std::time::Duration;

#[test]
fn parallel_decoders_commit_in_stream_order_and_match_the_reference_model() {
    let stream = Stream::new(3);
    let mut model = Model::new("{}");
    // Versioned updates, stale versions and deletes of the same ids: a batch
    // committed out of order would leave other versions and counters.
    let lines = generated_stream(3, 9000, 23);
    for (shard, l) in lines.iter().enumerate() {
        stream.append(shard as u32, l);
        model.apply(shard as u32, 0, l);
    }
    let data = tempfile::tempdir().unwrap();
    let spec = stream.spec("parallel", 3, json!({"poll.max_batch_size": 16, "num_processor_threads": 4}));
    let ing = start(&spec, data.path());
    wait_idle(&ing);
    assert_eq!(docs(&ing), model.live());
    for shard in 0..3 {
        assert_eq!(counters(&ing, shard), model.counters[&shard], "shard {shard}");
        let last = ing.sinks()[shard as usize].meta().unwrap().last_pointer.unwrap();
        assert_eq!(last.as_u64(), Some(lines[shard as usize].len() as u64 - 1), "shard {shard} committed to its end");
    }
}

#[test]
fn parallel_decoders_block_at_the_first_invalid_message_and_continue_once_set_to_drop() {
    let stream = Stream::new(1);
    let mut lines: Vec<String> = (0..5).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))).collect();
    lines.push(r#"{"_id": "bad", "_source": "not an object"}"#.into());
    lines.extend((5..40).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))));
    lines.push("{broken".into());
    lines.push(msg(Some("d40"), None, "index", json!({"i": 40})));
    stream.append(0, &lines);
    let data = tempfile::tempdir().unwrap();
    let spec = stream.spec(
        "block",
        1,
        json!({"error_strategy": "BLOCK", "poll.max_batch_size": 2, "num_processor_threads": 3, "internal_queue_size": 20}),
    );
    let ing = start(&spec, data.path());
    let shard = &ing.shards()[0];
    assert!(shard.wait_until(Duration::from_secs(30), |s| s.state == PollerState::Blocked));
    let status = shard.status();
    assert_eq!(status.blocked.unwrap().pointer.as_u64(), Some(5));
    assert_eq!(status.meta.last_pointer.unwrap().as_u64(), Some(4), "everything before it is committed, nothing after");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(docs(&ing).len(), 5, "batches decoded ahead of the blocking one are not committed");

    ing.set_error_strategy(ErrorStrategy::Drop);
    wait_idle(&ing);
    assert_eq!(docs(&ing).len(), 41);
    let c = counters(&ing, 0);
    assert_eq!(
        (c.total_processed_count, c.total_invalid_message_count),
        (lines.len() as u64, 2),
        "each message counted once"
    );
}

#[test]
fn a_hot_swap_with_parallel_decoders_switches_every_decoder_at_one_batch_boundary() {
    const MESSAGES: u64 = 30_000;
    let data = tempfile::tempdir().unwrap();
    let (_stream, manager, _) =
        tagger(data.path(), MESSAGES, json!({"poll.max_batch_size": 100, "num_processor_threads": 3}));
    wait_processed(&manager, 5_000);
    manager.update("swap", json!({"sluice": {"plugin": {"version": "2"}}})).unwrap();
    assert!(processed(&manager) < MESSAGES, "the swap must land mid-ingestion");
    wait_processed(&manager, MESSAGES);

    let versions = versions_by_message(&manager, MESSAGES);
    let switch = versions.iter().position(|&v| v == 2).expect("v2 decoded the rest");
    assert!(
        versions[..switch].iter().all(|&v| v == 1) && versions[switch..].iter().all(|&v| v == 2),
        "one switch point"
    );
    assert_eq!(switch % 100, 0, "the switch point is a batch boundary");
    manager.shutdown();
}
