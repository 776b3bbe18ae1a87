//! The in-process engine: the built-in and test plugins, starting an
//! ingestion, waiting for it, and reading its documents and counters back.

use serde_json::Value;
use sluice::engine::{IdleOutcome, Ingestion, RuntimeOverrides};
use sluice::plugin::{CompiledPlugin, Limits, PluginEngine, builtin};
use sluice::sink::ShardCounters;
use sluice::spec::IngestionSpec;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// The built-in opensearch plugin, compiled once per test process.
pub fn plugin() -> CompiledPlugin {
    static PLUGIN: OnceLock<CompiledPlugin> = OnceLock::new();
    PLUGIN
        .get_or_init(|| {
            PluginEngine::new().unwrap().compile("opensearch", builtin::SLUICE_OPENSEARCH, Limits::default()).unwrap()
        })
        .clone()
}

/// A test guest built by host/build.rs (`echo`: indexes message metadata).
pub fn test_plugin(stem: &str) -> CompiledPlugin {
    let path = Path::new(env!("SLUICE_TEST_GUESTS_DIR")).join(format!("{stem}.wasm"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    PluginEngine::new().unwrap().compile(stem, &bytes, Limits::default()).unwrap()
}

/// Starts an ingestion with the given plugin instead of the built-in one.
pub fn start_with_plugin(spec: &Value, data_dir: &Path, plugin: CompiledPlugin) -> Ingestion {
    let spec = IngestionSpec::from_value(spec).unwrap();
    sluice::wiring::start_ingestion(spec, plugin, data_dir, RuntimeOverrides::default()).unwrap()
}

pub fn start(spec: &Value, data_dir: &Path) -> Ingestion {
    start_with(spec, data_dir, RuntimeOverrides::default())
}

pub fn start_with(spec: &Value, data_dir: &Path, overrides: RuntimeOverrides) -> Ingestion {
    let spec = IngestionSpec::from_value(spec).unwrap();
    sluice::wiring::start_ingestion(spec, plugin(), data_dir, overrides).unwrap()
}

pub fn wait_idle(ing: &Ingestion) {
    match ing.wait_until_idle(Duration::from_secs(60)) {
        IdleOutcome::Idle => {}
        other => panic!("expected every shard idle, got {other:?}: {:#?}", ing.status()),
    }
}

/// Live documents of every shard: (shard, id) -> (version, source).
pub fn docs(ing: &Ingestion) -> BTreeMap<(u32, String), (Option<u64>, Value)> {
    let mut out = BTreeMap::new();
    for (shard, sink) in ing.sinks().iter().enumerate() {
        let mut after: Option<String> = None;
        loop {
            let page = sink.scan(after.as_deref(), 1000).unwrap();
            if page.is_empty() {
                break;
            }
            for (id, doc) in page {
                out.insert((shard as u32, id.clone()), (doc.version, serde_json::from_slice(&doc.source).unwrap()));
                after = Some(id);
            }
        }
    }
    out
}

pub fn counters(ing: &Ingestion, shard: u32) -> ShardCounters {
    ing.sinks()[shard as usize].meta().unwrap().counters
}
