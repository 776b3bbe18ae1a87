//! The hot-swap rig: a manager with two versions of a `tagger` plugin and an
//! ingestion over them, and what each message was decoded by.

use super::stream::Stream;
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
