//! The plugin sandbox: misbehaving guests are contained, narrowed to the
//! messages that cause the failure, and follow the error policy; the healthy
//! messages of the same batch are applied exactly once.

use crate::support::*;
use serde_json::json;
use sluice::engine::PollerState;
use sluice::plugin::{Limits, PluginEngine};
use sluice::spec::ErrorStrategy;
use std::time::Duration;

fn ids(ing: &sluice::engine::Ingestion) -> Vec<String> {
    docs(ing).into_keys().map(|(_, id)| id).collect()
}

/// A batch of healthy messages around one bad one, all in one poll.
fn stream_with(bad: &str) -> Stream {
    let stream = Stream::new(1);
    stream.append(0, &["ok a", "ok b", &format!("{bad} x"), "ok c", "ok d"]);
    stream
}

fn spec(stream: &Stream, name: &str, policy: &str, limits: serde_json::Value) -> serde_json::Value {
    let mut spec = stream.spec(name, 1, json!({"error_strategy": policy, "poll.max_batch_size": 10}));
    spec["sluice"] = json!({"plugin": {"name": "misbehave", "limits": limits}});
    spec
}

const CASES: &[(&str, &str, &str)] = &[
    // (command, expected words in the reason, limits)
    ("trap", "trapped", r#"{}"#),
    ("loop", "CPU time", r#"{"cpu_ms": 150, "cpu_us_per_message": 0}"#),
    ("hog", "out of memory", r#"{"memory_mb": 24}"#),
    ("extra", "2 results for 1 messages", r#"{}"#),
    ("big", "exceeds the limit of 4 MiB", r#"{"memory_mb": 128, "max_output_mb": 4}"#),
];

#[test]
fn each_misbehaving_guest_is_contained_under_drop() {
    for (bad, reason, limits) in CASES {
        let stream = stream_with(bad);
        let data = tempfile::tempdir().unwrap();
        let limits: serde_json::Value = serde_json::from_str(limits).unwrap();
        let ing = start_with_plugin(&spec(&stream, bad, "DROP", limits), data.path(), test_plugin("sluice_misbehave"));
        wait_idle(&ing);
        // A wrong result count fails the whole call; narrowed down to single
        // messages, only the message that causes it fails.
        assert_eq!(ids(&ing), ["a", "b", "c", "d"], "{bad}: healthy messages applied");
        let c = counters(&ing, 0);
        assert_eq!(
            (
                c.total_processed_count,
                c.total_failed_count,
                c.total_failures_dropped_count,
                c.total_invalid_message_count
            ),
            (5, 1, 1, 0),
            "{bad}: counted once, as a plugin failure"
        );
        assert_eq!(c.total_ops_applied_count, 4, "{bad}: each healthy message applied exactly once");
        let dropped = ing.sinks()[0].dropped(None, 10).unwrap();
        assert_eq!(dropped.len(), 1, "{bad}");
        assert_eq!(dropped[0].pointer.as_u64(), Some(2), "{bad}");
        assert!(dropped[0].reason.contains(reason), "{bad}: {:?} should mention {reason:?}", dropped[0].reason);
    }
}

#[test]
fn each_misbehaving_guest_blocks_the_shard_under_block_and_continues_under_drop() {
    for (bad, reason, limits) in CASES {
        let stream = stream_with(bad);
        let data = tempfile::tempdir().unwrap();
        let limits: serde_json::Value = serde_json::from_str(limits).unwrap();
        let ing = start_with_plugin(&spec(&stream, bad, "BLOCK", limits), data.path(), test_plugin("sluice_misbehave"));
        let shard = &ing.shards()[0];
        assert!(shard.wait_until(Duration::from_secs(60), |s| s.state == PollerState::Blocked), "{bad}");
        let blocked = shard.status().blocked.unwrap();
        assert_eq!(blocked.pointer.as_u64(), Some(2), "{bad}");
        assert!(blocked.reason.contains(reason), "{bad}: {:?}", blocked.reason);
        assert_eq!(ids(&ing), ["a", "b"], "{bad}: what precedes the failure is committed");
        ing.set_error_strategy(ErrorStrategy::Drop);
        wait_idle(&ing);
        assert_eq!(ids(&ing), ["a", "b", "c", "d"], "{bad}");
        let c = counters(&ing, 0);
        assert_eq!((c.total_processed_count, c.total_failed_count, c.total_ops_applied_count), (5, 1, 4), "{bad}");
    }
}

#[test]
fn a_document_said_to_be_past_the_end_of_its_payload_is_an_invalid_message() {
    let stream = stream_with("outside");
    let data = tempfile::tempdir().unwrap();
    let ing =
        start_with_plugin(&spec(&stream, "outside", "DROP", json!({})), data.path(), test_plugin("sluice_misbehave"));
    wait_idle(&ing);
    assert_eq!(ids(&ing), ["a", "b", "c", "d"]);
    let c = counters(&ing, 0);
    assert_eq!((c.total_processed_count, c.total_invalid_message_count, c.total_ops_applied_count), (5, 1, 4));
    let dropped = ing.sinks()[0].dropped(None, 10).unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].pointer.as_u64(), Some(2));
    // "outside x" is 9 bytes; the plugin said 7..17.
    assert_eq!(dropped[0].reason, "plugin error: a document source at 7..17 of a payload of 9 bytes");
}

#[test]
fn a_misbehaving_plugin_does_not_disturb_other_ingestions() {
    let bad = Stream::new(1);
    bad.append(0, &(0..40).map(|i| format!("trap t{i}")).collect::<Vec<_>>());
    let good = Stream::new(1);
    good.append(0, &(0..200).map(|i| msg(Some(&format!("g{i}")), None, "index", json!({}))).collect::<Vec<_>>());
    let data = tempfile::tempdir().unwrap();
    let trapping =
        start_with_plugin(&spec(&bad, "bad", "DROP", json!({})), data.path(), test_plugin("sluice_misbehave"));
    let healthy = start(&good.spec("good", 1, json!({"poll.max_batch_size": 10})), data.path());
    wait_idle(&healthy);
    assert_eq!(docs(&healthy).len(), 200);
    wait_idle(&trapping);
    let c = counters(&trapping, 0);
    assert_eq!((c.total_processed_count, c.total_failed_count), (40, 40));
    assert!(trapping.status()[0].state != PollerState::Closed);
}

#[test]
fn compiled_components_are_cached_on_disk_across_restarts() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(std::path::Path::new(env!("SLUICE_TEST_GUESTS_DIR")).join("sluice_echo.wasm")).unwrap();
    let first = PluginEngine::with_cache(cache.path()).unwrap().compile("echo", &bytes, Limits::default()).unwrap();
    assert!(!first.from_cache());
    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "one compiled file, named by content and engine hash");
    let second = PluginEngine::with_cache(cache.path()).unwrap().compile("echo", &bytes, Limits::default()).unwrap();
    assert!(second.from_cache(), "a new engine (a restart) loads the compiled code");
    second.instantiate("{}").unwrap();
    // A damaged cache entry is ignored and rebuilt, never trusted.
    std::fs::write(entries[0].path(), b"garbage").unwrap();
    let third = PluginEngine::with_cache(cache.path()).unwrap().compile("echo", &bytes, Limits::default()).unwrap();
    assert!(!third.from_cache());
    third.instantiate("{}").unwrap();
}
