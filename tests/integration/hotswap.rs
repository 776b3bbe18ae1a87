//! Hot plugin swap: a new plugin version takes over at a batch boundary in
//! the middle of an ingestion, and swapping back is the rollback. Every
//! message is decoded by exactly one version; documents and counters are exact.

use crate::support::*;
use serde_json::json;
use sluice::manager::Manager;
use sluice::state::file::FileStateStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn guest(stem: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("SLUICE_TEST_GUESTS_DIR")).join(format!("{stem}.wasm"))).unwrap()
}

#[test]
fn a_hot_swap_mid_ingestion_decodes_each_message_with_exactly_one_version() {
    const MESSAGES: u64 = 100_000;
    let stream = Stream::new(1);
    let lines: Vec<String> = (0..MESSAGES).map(|n| format!("ok m{n}")).collect();
    stream.append(0, &lines);
    let data = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStateStore::open(&data.path().join("state")).unwrap());
    let manager = Manager::open(data.path(), store).unwrap();
    // Two versions of one plugin: v1 indexes `<shard>-<pointer>` (echo), v2 indexes `m<N>` (misbehave's healthy path).
    manager.register_plugin("tagger", "1", &guest("sluice_echo")).unwrap();
    let v2 = manager.register_plugin("tagger", "2", &guest("sluice_misbehave")).unwrap();
    let mut spec = stream.spec("swap", 1, json!({"poll.max_batch_size": 500}));
    spec["sluice"] = json!({"plugin": {"name": "tagger", "version": "1"}});
    manager.create(spec).unwrap();

    let processed = || manager.state("swap").unwrap()[0].meta.counters.total_processed_count;
    let wait_for = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while processed() < n {
            assert!(Instant::now() < deadline, "stuck at {} of {n}", processed());
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    wait_for(20_000);
    let info = manager.update("swap", json!({"sluice": {"plugin": {"version": "2"}}})).unwrap();
    let swapped_at = processed();
    assert_eq!((info.plugin.version.as_str(), info.plugin.sha256.as_str()), ("2", v2.sha256.as_str()));
    wait_for(swapped_at + 20_000);
    manager.update("swap", json!({"sluice": {"plugin": {"version": "1"}}})).unwrap();
    let rolled_back_at = processed();
    assert!(rolled_back_at < MESSAGES, "the rollback must land mid-ingestion");
    wait_for(MESSAGES);

    // Which version decoded each message, in stream order.
    let mut by: Vec<Option<u8>> = vec![None; MESSAGES as usize];
    let mut after: Option<String> = None;
    loop {
        let page = manager.scan_documents("swap", 0, after.as_deref(), 5000).unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (id, doc) in page {
            let (n, version) = match id.strip_prefix("0-") {
                Some(pointer) => (pointer.parse::<usize>().unwrap(), 1),
                None => (id.strip_prefix('m').unwrap().parse::<usize>().unwrap(), 2),
            };
            let source: serde_json::Value = serde_json::from_slice(&doc.source).unwrap();
            if version == 1 {
                assert_eq!(source["payload"], format!("ok m{n}"), "v1 saw the message at its own pointer");
            }
            assert!(by[n].replace(version).is_none(), "message {n} decoded twice");
        }
    }
    assert!(by.iter().all(Option::is_some), "every message decoded");
    let runs: Vec<u8> = by.iter().map(|v| v.unwrap()).fold(Vec::new(), |mut runs, v| {
        if runs.last() != Some(&v) {
            runs.push(v);
        }
        runs
    });
    assert_eq!(runs, [1, 2, 1], "v1, then v2 from a batch boundary, then v1 again after the rollback");
    let c = manager.state("swap").unwrap()[0].meta.counters;
    assert_eq!((c.total_processed_count, c.total_ops_applied_count, c.total_failed_count), (MESSAGES, MESSAGES, 0));
    let history = manager.history("swap").unwrap();
    let swaps: Vec<&str> = history.iter().filter(|h| h.detail.contains("plugin tagger")).map(|h| h.detail.as_str()).collect();
    assert_eq!(swaps.len(), 2, "{history:#?}");
    assert!(swaps[0].contains("tagger 2") && swaps[1].contains("tagger 1"), "{swaps:?}");
    manager.shutdown();
}
