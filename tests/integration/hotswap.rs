//! Hot plugin swap: a new plugin version takes over at a batch boundary in
//! the middle of an ingestion, and swapping back is the rollback. Every
//! message is decoded by exactly one version; documents and counters are exact.

use crate::support::hotswap_rig::{processed, tagger, versions_by_message, wait_processed};
use serde_json::json;

#[test]
fn a_hot_swap_mid_ingestion_decodes_each_message_with_exactly_one_version() {
    const MESSAGES: u64 = 100_000;
    let data = tempfile::tempdir().unwrap();
    let (_stream, manager, v2) = tagger(data.path(), MESSAGES, json!({"poll.max_batch_size": 500}));
    wait_processed(&manager, 20_000);
    let info = manager.update("swap", json!({"sluice": {"plugin": {"version": "2"}}})).unwrap();
    let swapped_at = processed(&manager);
    assert_eq!((info.plugin.version.as_str(), info.plugin.sha256.as_str()), ("2", v2.as_str()));
    wait_processed(&manager, swapped_at + 20_000);
    manager.update("swap", json!({"sluice": {"plugin": {"version": "1"}}})).unwrap();
    let rolled_back_at = processed(&manager);
    assert!(rolled_back_at < MESSAGES, "the rollback must land mid-ingestion");
    wait_processed(&manager, MESSAGES);

    // Which version decoded each message, in stream order.
    let by = versions_by_message(&manager, MESSAGES);
    let runs: Vec<u8> = by.into_iter().fold(Vec::new(), |mut runs, v| {
        if runs.last() != Some(&v) {
            runs.push(v);
        }
        runs
    });
    assert_eq!(runs, [1, 2, 1], "v1, then v2 from a batch boundary, then v1 again after the rollback");
    let c = manager.state("swap").unwrap()[0].meta.counters;
    assert_eq!((c.total_processed_count, c.total_ops_applied_count, c.total_failed_count), (MESSAGES, MESSAGES, 0));
    let history = manager.history("swap").unwrap();
    let swaps: Vec<&str> =
        history.iter().filter(|h| h.detail.contains("plugin tagger")).map(|h| h.detail.as_str()).collect();
    assert_eq!(swaps.len(), 2, "{history:#?}");
    assert!(swaps[0].contains("tagger 2") && swaps[1].contains("tagger 1"), "{swaps:?}");
    manager.shutdown();
}
