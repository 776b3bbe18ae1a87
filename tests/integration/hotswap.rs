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

/// A manager over `data` with two versions of plugin `tagger` (v1 indexes
/// `<shard>-<pointer>` (echo), v2 indexes `m<N>` (misbehave's healthy path)),
/// and ingestion `swap` reading `messages` lines `ok m<N>` through v1 with
/// the given `ingestion_source` settings. Returns the stream (keep it while
/// the ingestion runs) and v2's sha256 too.
pub fn tagger(data: &std::path::Path, messages: u64, source: serde_json::Value) -> (Stream, Arc<Manager>, String) {
    let stream = Stream::new(1);
    let lines: Vec<String> = (0..messages).map(|n| format!("ok m{n}")).collect();
    stream.append(0, &lines);
    let store = Arc::new(FileStateStore::open(&data.join("state")).unwrap());
    let manager = Manager::open(data, store).unwrap();
    manager.register_plugin("tagger", "1", &guest("sluice_echo")).unwrap();
    let v2 = manager.register_plugin("tagger", "2", &guest("sluice_misbehave")).unwrap();
    let mut spec = stream.spec("swap", 1, source);
    spec["sluice"] = json!({"plugin": {"name": "tagger", "version": "1"}});
    manager.create(spec).unwrap();
    (stream, manager, v2.sha256)
}

/// Messages `swap` has processed.
pub fn processed(manager: &Manager) -> u64 {
    manager.state("swap").unwrap()[0].meta.counters.total_processed_count
}

pub fn wait_processed(manager: &Manager, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while processed(manager) < n {
        assert!(Instant::now() < deadline, "stuck at {} of {n}", processed(manager));
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Which version of `tagger` decoded each of the `messages` messages, in
/// stream order; fails if one was decoded twice or not at all.
pub fn versions_by_message(manager: &Manager, messages: u64) -> Vec<u8> {
    let mut by: Vec<Option<u8>> = vec![None; messages as usize];
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
            if version == 1 {
                let source: serde_json::Value = serde_json::from_slice(&doc.source).unwrap();
                assert_eq!(source["payload"], format!("ok m{n}"), "v1 saw the message at its own pointer");
            }
            assert!(by[n].replace(version).is_none(), "message {n} decoded twice");
        }
    }
    by.iter().enumerate().map(|(n, v)| v.unwrap_or_else(|| panic!("message {n} never decoded"))).collect()
}

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
    let swaps: Vec<&str> = history.iter().filter(|h| h.detail.contains("plugin tagger")).map(|h| h.detail.as_str()).collect();
    assert_eq!(swaps.len(), 2, "{history:#?}");
    assert!(swaps[0].contains("tagger 2") && swaps[1].contains("tagger 1"), "{swaps:?}");
    manager.shutdown();
}
