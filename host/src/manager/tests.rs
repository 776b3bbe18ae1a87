//! The manager's contracts, on in-memory doubles: a memory state store and
//! memory sources and sinks (no files, no gRPC).

use super::{DocQuery, Manager, ManagerError, ManagerOptions, PluginFiles, ResetMode, ResetRequest};
use crate::engine::{IdleOutcome, PollerState};
use crate::pointer::{Pointer, StartPosition};
use crate::sink::ShardSink;
use crate::spec::ErrorStrategy;
use crate::state::StateStore;
use crate::state::memory::MemoryStateStore;
use crate::testing::{component_cache, eventually, msg, spec_json};
use crate::wiring::MemoryWiring;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct Host {
    pub(super) wiring: Arc<MemoryWiring>,
    pub(super) store: Arc<MemoryStateStore>,
}

impl Host {
    pub(super) fn new() -> Self {
        Host {
            wiring: Arc::new(MemoryWiring::with_component_cache(&component_cache())),
            store: Arc::new(MemoryStateStore::new()),
        }
    }

    pub(super) fn open(&self) -> Arc<Manager> {
        Manager::with_wiring(self.wiring.clone(), self.store.clone(), ManagerOptions::default()).unwrap()
    }

    pub(super) fn append(&self, name: &str, shard: u32, from: usize, n: usize) {
        let lines: Vec<String> = (from..from + n).map(|i| msg(&format!("d{i}"), 1, json!({"n": i}))).collect();
        self.wiring.source(name, 2).append(shard, &lines);
    }

    pub(super) fn processed(&self, name: &str, shard: u32) -> u64 {
        self.wiring.sink(name, shard).meta().unwrap().counters.total_processed_count
    }
}

#[test]
fn pause_returns_once_the_shards_stopped_committing() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("p", 2, "DROP")).unwrap();
    host.append("p", 0, 0, 50);
    eventually("the first messages", || host.processed("p", 0) == 50);
    m.pause("p", &[0]).unwrap();
    let commits = host.wiring.sink("p", 0).commits();
    assert_eq!(m.state("p").unwrap()[0].state, PollerState::Paused);
    host.append("p", 0, 50, 20);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(host.wiring.sink("p", 0).commits(), commits, "nothing is committed after pause returned");
    assert!(host.store.load("p").unwrap().unwrap().paused_shards.contains(&0), "the pause is stored");
    m.resume("p", &[0], &[]).unwrap();
    eventually("the messages after resume", || host.processed("p", 0) == 70);
    m.shutdown();
}

#[test]
fn resume_with_a_reset_returns_once_the_reset_is_in_the_sink() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("r", 2, "DROP")).unwrap();
    host.append("r", 1, 0, 10);
    eventually("shard 1 drained", || host.processed("r", 1) == 10);
    m.pause("r", &[1]).unwrap();
    let reset = ResetRequest { shard: 1, mode: ResetMode::Offset, value: Some("4".into()) };
    m.resume("r", &[1], std::slice::from_ref(&reset)).unwrap();
    // Read right after the return: the reset must already be durable.
    let resume = host.wiring.sink("r", 1).meta().unwrap().resume;
    assert!(
        matches!(&resume, Some(StartPosition::At(p)) if *p == Pointer::from(4))
            || matches!(&resume, Some(StartPosition::After(p)) if *p >= Pointer::from(4)),
        "resume position after the reset: {resume:?}"
    );
    eventually("messages 4..9 again", || host.processed("r", 1) == 16);
    let history = m.history("r").unwrap();
    assert_eq!(history.last().unwrap().detail, "shard 1 reset to at 4");
    // A reset of a shard that is not paused is refused with the reason.
    let refused = m.resume("r", &[0], &[ResetRequest { shard: 0, ..reset }]).unwrap_err();
    assert!(matches!(&refused, ManagerError::FailedPrecondition(e) if e.contains("not paused")), "{refused}");
    m.shutdown();
}

#[test]
fn block_then_drop_by_update_skips_the_bad_message_once() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("b", 2, "BLOCK")).unwrap();
    host.wiring.source("b", 2).append(0, &[msg("a", 1, json!({})), "{oops".into(), msg("c", 1, json!({}))]);
    let IdleOutcome::Blocked(blocked) = m.wait_until_idle("b", Duration::from_secs(10)).unwrap() else {
        panic!("must block")
    };
    assert_eq!(blocked[0].1.pointer, Pointer::from(1));
    let info = m.update("b", json!({"settings": {"index.ingestion_source.error_strategy": "DROP"}})).unwrap();
    assert_eq!(info.error_strategy, ErrorStrategy::Drop);
    assert_eq!(m.wait_until_idle("b", Duration::from_secs(10)).unwrap(), IdleOutcome::Idle);
    let c = host.wiring.sink("b", 0).meta().unwrap().counters;
    assert_eq!((c.total_processed_count, c.total_invalid_message_count, c.total_failures_dropped_count), (3, 1, 1));
    // A static setting is refused by name.
    let e = m.update("b", json!({"settings": {"index.number_of_shards": 3}})).unwrap_err();
    assert!(e.to_string().contains("index.number_of_shards"), "{e}");
    m.shutdown();
}

#[test]
fn update_takes_opensearchs_settings_bodies_flat_nested_or_wrapped() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("u", 2, "DROP")).unwrap();
    let batch = |m: &Manager| {
        let spec = crate::spec::IngestionSpec::from_value(&m.get("u").unwrap().spec).unwrap();
        (spec.error_strategy, spec.max_batch_size, spec.poll_timeout_ms)
    };
    // OpenSearch's `PUT /{index}/_settings` body, verbatim from its docs.
    let info = m.update("u", json!({"index.ingestion_source.error_strategy": "BLOCK"})).unwrap();
    assert_eq!(info.error_strategy, ErrorStrategy::Block);
    // The nested form, and both at once with sluice's section.
    m.update("u", json!({"index": {"ingestion_source": {"poll.max_batch_size": 7}}})).unwrap();
    assert_eq!(batch(&m), (ErrorStrategy::Block, 7, 10));
    m.update("u", json!({"ingestion_source.poll.timeout": 50, "sluice": {}})).unwrap();
    assert_eq!(batch(&m), (ErrorStrategy::Block, 7, 50));
    // The wrapped form still works.
    m.update("u", json!({"settings": {"index.ingestion_source.error_strategy": "DROP"}})).unwrap();
    assert_eq!(batch(&m).0, ErrorStrategy::Drop);
    // A static setting in the flat form is refused by its name, not as an unknown key.
    let e = m.update("u", json!({"index.number_of_shards": 3})).unwrap_err();
    assert!(
        matches!(&e, ManagerError::FailedPrecondition(s) if s.contains("setting [index.number_of_shards] is static")),
        "{e}"
    );
    let e = m.update("u", json!({"index": {"ingestion_source": {"type": "kafka"}}})).unwrap_err();
    assert!(e.to_string().contains("ingestion_source.type"), "{e}");
    // Keys that are not settings are still refused with their name.
    let e = m.update("u", json!({"mappings": {"properties": {}}})).unwrap_err();
    assert!(matches!(&e, ManagerError::FailedPrecondition(s) if s.contains("[mappings] cannot be changed")), "{e}");
    let e = m.update("u", json!({"settings": {}, "index.x": 1})).unwrap_err();
    assert!(
        matches!(&e, ManagerError::InvalidArgument(s) if s.contains("[settings]") && s.contains("[index.x]")),
        "{e}"
    );
    assert!(m.update("u", json!({})).unwrap_err().to_string().contains("no settings to update"));
    m.shutdown();
}

#[test]
fn a_paused_shard_stays_paused_when_the_host_restarts() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("k", 2, "DROP")).unwrap();
    m.pause("k", &[1]).unwrap();
    m.shutdown();
    drop(m);
    host.append("k", 0, 0, 5);
    host.append("k", 1, 0, 5);
    let m = host.open();
    eventually("shard 0 runs after the restart", || host.processed("k", 0) == 5);
    eventually("shard 1 paused after the restart", || m.state("k").unwrap()[1].state == PollerState::Paused);
    assert!(m.state("k").unwrap()[1].paused);
    assert_eq!(host.processed("k", 1), 0);
    assert_eq!(m.get("k").unwrap().paused_shards, vec![1]);
    m.shutdown();
}

#[test]
fn delete_says_what_it_left_behind() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("d", 2, "DROP")).unwrap();
    let kept = m.delete("d", false).unwrap();
    assert!(kept.data_left.as_deref().is_some_and(|t| t.contains("memory:d")), "{kept:?}");
    assert!(matches!(m.get("d"), Err(ManagerError::NotFound(_))));
    m.create(spec_json("e", 2, "DROP")).unwrap();
    assert_eq!(m.delete("e", true).unwrap().data_left, None);
    m.shutdown();
}

#[test]
fn a_name_reused_after_delete_refuses_the_old_sinks_until_adopted() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("n", 2, "DROP")).unwrap();
    host.append("n", 0, 0, 8);
    eventually("the first incarnation's messages", || host.processed("n", 0) == 8);
    let left = m.delete("n", false).unwrap().data_left.unwrap();
    assert!(left.contains("refuses them"), "{left}");
    // Same name, new ingestion: the old checkpoint (pointer 7) must not be resumed silently.
    let refused = m.create(spec_json("n", 2, "DROP")).unwrap_err().to_string();
    assert!(refused.contains("belongs to an earlier ingestion of the same name"), "{refused}");
    assert!(refused.contains("--adopt-data") && refused.contains("choose another name"), "{refused}");
    assert!(matches!(m.get("n"), Err(ManagerError::NotFound(_))), "nothing is stored for a refused create");
    assert_eq!(host.processed("n", 0), 8, "the old sink is untouched");
    // Adopted explicitly: it continues from the old checkpoint.
    m.create_with(spec_json("n", 2, "DROP"), true).unwrap();
    host.append("n", 0, 8, 2);
    eventually("the adopted sink continues", || host.processed("n", 0) == 10);
    assert_eq!(host.wiring.sink("n", 0).meta().unwrap().live_docs, 10);
    // Deleted with its data, the name is free again.
    m.delete("n", true).unwrap();
    m.create(spec_json("n", 2, "DROP")).unwrap();
    m.shutdown();
}

#[test]
fn a_run_whose_source_or_shard_count_changed_is_refused_not_resumed() {
    let host = Host::new();
    let m = Manager::with_wiring(
        host.wiring.clone(),
        host.store.clone(),
        ManagerOptions { restore: false, ..Default::default() },
    )
    .unwrap();
    m.apply(spec_json("s", 2, "DROP"), "s.json", false).unwrap();
    host.append("s", 0, 0, 3);
    eventually("the first run", || host.processed("s", 0) == 3);
    m.stop("s").unwrap();
    let mut other_stream = spec_json("s", 2, "DROP");
    other_stream["settings"]["ingestion_source"]["param"]["stream"] = json!("other");
    let e = m.apply(other_stream.clone(), "s.json", false).unwrap_err().to_string();
    assert!(e.contains("holds a checkpoint in file stream /nonexistent/unused over 2 shards"), "{e}");
    assert!(e.contains("now reads file stream /nonexistent/other"), "{e}");
    let e = m.apply(spec_json("s", 3, "DROP"), "s.json", false).unwrap_err().to_string();
    assert!(e.contains("over 3 shards"), "{e}");
    // The unchanged spec still continues where it was.
    m.apply(spec_json("s", 2, "DROP"), "s.json", false).unwrap();
    host.append("s", 0, 3, 1);
    eventually("the unchanged spec continues", || host.processed("s", 0) == 4);
    m.shutdown();
}

#[test]
fn an_import_without_the_documents_is_refused_or_starts_over_when_asked() {
    let a = Host::new();
    let m = a.open();
    m.create(spec_json("i", 2, "DROP")).unwrap();
    a.append("i", 0, 0, 6);
    eventually("host a ingests", || a.processed("i", 0) == 6);
    let export = m.export_state().unwrap();
    assert_eq!(export.ingestions[0].shards[0].live_docs, 6);
    m.shutdown();
    // Another host, whose sinks are empty.
    let b = Host::new();
    let mb = b.open();
    let e = mb.import_state(&export, false).unwrap_err();
    assert!(
        matches!(&e, ManagerError::FailedPrecondition(t) if t.contains("not in this host's sink") && t.contains("--reset-positions")),
        "{e}"
    );
    assert!(mb.list().is_empty(), "a refused import changes nothing");
    b.append("i", 0, 0, 6);
    assert_eq!(mb.import_state(&export, true).unwrap(), vec!["i".to_string()]);
    eventually("host b ingests again from pointer.init.reset", || b.processed("i", 0) == 6);
    assert_eq!(b.wiring.sink("i", 0).meta().unwrap().live_docs, 6);
    assert!(mb.history("i").unwrap().last().unwrap().detail.contains("start over from pointer.init.reset"));
    mb.shutdown();
    // The same host, whose sinks hold the data: the sink's checkpoint stands.
    let again = a.open();
    again.delete("i", false).unwrap();
    a.append("i", 0, 6, 1);
    again.import_state(&export, false).unwrap();
    eventually("host a continues after the import", || a.processed("i", 0) == 7);
    assert_eq!(a.wiring.sink("i", 0).meta().unwrap().live_docs, 7);
    again.shutdown();
}

#[test]
fn a_spec_may_name_a_component_file_where_the_host_takes_files_and_is_told_what_to_do_where_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let bytes = crate::plugin::builtin::get("opensearch").unwrap();
    std::fs::write(dir.path().join("plugins/lines.wasm"), bytes).unwrap();
    let mut spec = spec_json("f", 1, "DROP");
    spec["sluice"] = json!({"plugin": {"path": "plugins/lines.wasm"}});

    // `sluice serve`: refused, with the commands that do it.
    let host = Host::new();
    let err = host.open().create(spec.clone()).unwrap_err();
    assert!(matches!(err, ManagerError::InvalidArgument(_)), "{err:?}");
    assert!(
        err.to_string().contains("registered plugins only")
            && err.to_string().contains("sluice ctl plugin register lines 0.1.0 plugins/lines.wasm"),
        "{err}"
    );

    // `sluice run`: relative to the spec file's directory.
    let host = Host::new();
    let options =
        ManagerOptions { restore: false, plugin_files: PluginFiles::RelativeTo(dir.path().into()), cluster: None };
    let m = Manager::with_wiring(host.wiring.clone(), host.store.clone(), options).unwrap();
    let info = m.apply(spec.clone(), "spec.json", false).unwrap();
    assert_eq!((info.plugin.name.as_str(), info.plugin.version.as_str()), ("lines", "file"));
    assert_eq!(info.plugin.sha256, crate::util::sha256_hex(bytes));
    host.append("f", 0, 0, 3);
    eventually("decoded by the file's plugin", || host.processed("f", 0) == 3);
    m.shutdown();

    let mut missing = spec;
    missing["name"] = json!("g");
    missing["sluice"]["plugin"]["path"] = json!("nope.wasm");
    let err = m.apply(missing, "spec.json", false).unwrap_err();
    let expected = format!("cannot read the component {}", dir.path().join("nope.wasm").display());
    assert!(err.to_string().contains(&expected), "{err}");
}

#[test]
fn searches_page_through_every_shard_in_id_order() {
    let host = Host::new();
    let m = host.open();
    m.create(spec_json("q", 2, "DROP")).unwrap();
    // d0..d9 in shard 0, d5..d14 in shard 1: d5..d9 live in both shards.
    host.append("q", 0, 0, 10);
    host.append("q", 1, 5, 10);
    eventually("both shards drained", || host.processed("q", 0) == 10 && host.processed("q", 1) == 10);
    let ids = |s: &super::DocSearch| s.hits.iter().map(|h| format!("{}@{}", h.id, h.shard)).collect::<Vec<_>>();
    let page =
        |after: Option<&str>, from: usize, size: usize| super::DocPage { after: after.map(Into::into), from, size };

    let all = m.search_documents("q", &DocQuery::All, &page(None, 0, 100)).unwrap();
    assert_eq!((all.total, all.shards, all.hits.len()), (20, 2, 20));
    let mut expected: Vec<(String, u32)> = (0..10).map(|i| (format!("d{i}"), 0)).collect();
    expected.extend((5..15).map(|i| (format!("d{i}"), 1)));
    expected.sort();
    assert_eq!(ids(&all), expected.iter().map(|(id, s)| format!("{id}@{s}")).collect::<Vec<_>>());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&all.hits[0].doc.source).unwrap(), json!({"n": 0}));

    // from/size, and search_after (on _id: both copies of an id are behind it).
    let p = m.search_documents("q", &DocQuery::All, &page(None, 2, 3)).unwrap();
    assert_eq!((p.total, ids(&p)), (20, vec!["d10@1".into(), "d11@1".into(), "d12@1".into()]));
    let p = m.search_documents("q", &DocQuery::All, &page(Some("d8"), 0, 3)).unwrap();
    assert_eq!((p.total, ids(&p)), (20, vec!["d9@0".to_string(), "d9@1".into()]));
    let p = m.search_documents("q", &DocQuery::All, &page(Some("d9"), 1, 2)).unwrap();
    assert!(p.hits.is_empty(), "nothing sorts after d9: {:?}", ids(&p));
    let p = m.search_documents("q", &DocQuery::All, &page(None, 0, 0)).unwrap();
    assert_eq!((p.total, p.hits.len()), (20, 0));

    // ids: every shard's copy, missing ids ignored, duplicates once.
    let q = DocQuery::Ids(vec!["d7".into(), "d1".into(), "nope".into(), "d7".into(), "d14".into()]);
    let p = m.search_documents("q", &q, &page(None, 0, 10)).unwrap();
    assert_eq!((p.total, ids(&p)), (4, vec!["d1@0".into(), "d14@1".into(), "d7@0".into(), "d7@1".into()]));
    let p = m.search_documents("q", &q, &page(Some("d14"), 1, 10)).unwrap();
    assert_eq!((p.total, ids(&p)), (4, vec!["d7@1".to_string()]));

    // The result window, and an unknown ingestion.
    let e = m.search_documents("q", &DocQuery::All, &page(None, 9_999, 2)).unwrap_err();
    assert!(
        matches!(&e, ManagerError::InvalidArgument(t) if t.contains("[10001]") && t.contains("search_after")),
        "{e}"
    );
    assert!(matches!(m.search_documents("zz", &DocQuery::All, &page(None, 0, 1)), Err(ManagerError::NotFound(_))));

    // find_document tells a missing document from a missing ingestion.
    assert_eq!(m.find_document("q", "d12").unwrap().map(|(s, _)| s), Some(1));
    assert_eq!(m.find_document("q", "nope").unwrap(), None);
    assert!(matches!(m.find_document("zz", "d1"), Err(ManagerError::NotFound(_))));
    m.shutdown();
}
