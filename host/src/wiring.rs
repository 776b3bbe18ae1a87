//! Wiring: where a host keeps things on disk, and the factories that turn a
//! spec into opened parts (a source, shard sinks, a running [`Ingestion`]).
//!
//! This is the one module that knows the data directory's layout and which
//! concrete source and sink a spec names; the engine takes opened parts, so
//! its tests can hand it in-memory doubles instead.

use crate::engine::{EngineError, Ingestion, RuntimeOverrides};
use crate::plugin::CompiledPlugin;
use crate::sink::embedded::EmbeddedSink;
use crate::sink::redis::RedisSink;
use crate::sink::{ShardSink, SinkError, SinkOwner};
use crate::source::{Source, SourceError, file, kafka, kinesis};
use crate::spec::{IngestionSpec, SinkType, SourceType};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The layout of a host's data directory:
///
/// ```text
/// DATA_DIR/state/                    file state store (ingestion records, plugins)
/// DATA_DIR/sinks/<ingestion>/shard-N embedded shard sinks (fjall)
/// DATA_DIR/cache/components/         compiled plugin components
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataLayout {
    root: PathBuf,
}

impl DataLayout {
    pub fn new(root: &Path) -> Self {
        DataLayout { root: root.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file state store's directory.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The cache of compiled plugin components.
    pub fn component_cache(&self) -> PathBuf {
        self.root.join("cache").join("components")
    }

    /// Every embedded sink of one ingestion.
    pub fn ingestion_sinks(&self, ingestion: &str) -> PathBuf {
        self.root.join("sinks").join(ingestion)
    }

    /// The directory of shard `shard`'s embedded sink.
    pub fn sink_path(&self, ingestion: &str, shard: u32) -> PathBuf {
        self.ingestion_sinks(ingestion).join(format!("shard-{shard}"))
    }
}

/// The directory of shard `shard`'s embedded sink under `data_dir`.
pub fn sink_path(data_dir: &Path, ingestion: &str, shard: u32) -> PathBuf {
    DataLayout::new(data_dir).sink_path(ingestion, shard)
}

/// Builds the source a spec names.
pub fn open_source(spec: &IngestionSpec) -> Result<Arc<dyn Source>, SourceError> {
    Ok(match spec.source_type {
        SourceType::File => Arc::new(
            file::FileSource::from_params(&spec.params)?.with_max_line_bytes(spec.plugin.limits.max_message_bytes()),
        ),
        SourceType::Kafka => Arc::new(kafka::KafkaSource::from_params(&spec.params)?),
        SourceType::Kinesis => Arc::new(kinesis::KinesisSource::from_params(&spec.params)?),
    })
}

/// Opens the shard sinks the spec names, one per shard.
pub fn open_sinks(data_dir: &Path, spec: &IngestionSpec) -> Result<Vec<Arc<dyn ShardSink>>, SinkError> {
    let layout = DataLayout::new(data_dir);
    let open = |shard: u32| -> Result<Arc<dyn ShardSink>, SinkError> {
        Ok(match &spec.sink {
            SinkType::Embedded => Arc::new(EmbeddedSink::open(&layout.sink_path(&spec.name, shard))?),
            SinkType::Redis { url, key_prefix } => Arc::new(RedisSink::open(url, key_prefix, &spec.name, shard)?),
        })
    };
    // Creating a store costs a few syncs (~60 ms each on the benchmark's
    // disk): shards open in parallel, a few at a time.
    const PARALLEL_OPENS: u32 = 8;
    let mut sinks = Vec::with_capacity(spec.shards as usize);
    for first in (0..spec.shards).step_by(PARALLEL_OPENS as usize) {
        let last = (first + PARALLEL_OPENS).min(spec.shards);
        let opened: Vec<_> = std::thread::scope(|scope| {
            let open = &open;
            let handles: Vec<_> = (first..last).map(|shard| scope.spawn(move || open(shard))).collect();
            handles.into_iter().map(|h| h.join().expect("opening a sink panicked")).collect()
        });
        for sink in opened {
            sinks.push(sink?);
        }
    }
    Ok(sinks)
}

/// What turns a spec into opened parts. [`DiskWiring`] is the real one;
/// [`MemoryWiring`] hands out in-memory doubles for tests.
pub trait Wiring: Send + Sync {
    fn open_source(&self, spec: &IngestionSpec) -> Result<Arc<dyn Source>, SourceError>;

    /// One sink per shard, in shard order.
    fn open_sinks(&self, spec: &IngestionSpec) -> Result<Vec<Arc<dyn ShardSink>>, SinkError>;

    /// Where the ingestion's host-local data lives, if it has any (embedded sinks).
    fn local_data(&self, spec: &IngestionSpec) -> Option<PathBuf>;

    /// Deletes the ingestion's host-local data.
    fn delete_local_data(&self, spec: &IngestionSpec) -> std::io::Result<()>;

    /// Where compiled plugin components are cached, if anywhere.
    fn component_cache(&self) -> Option<PathBuf>;
}

/// The real parts, with embedded sinks under a data directory.
pub struct DiskWiring {
    layout: DataLayout,
}

impl DiskWiring {
    pub fn new(data_dir: &Path) -> Self {
        DiskWiring { layout: DataLayout::new(data_dir) }
    }

    pub fn layout(&self) -> &DataLayout {
        &self.layout
    }
}

impl Wiring for DiskWiring {
    fn open_source(&self, spec: &IngestionSpec) -> Result<Arc<dyn Source>, SourceError> {
        open_source(spec)
    }

    fn open_sinks(&self, spec: &IngestionSpec) -> Result<Vec<Arc<dyn ShardSink>>, SinkError> {
        open_sinks(self.layout.root(), spec)
    }

    fn local_data(&self, spec: &IngestionSpec) -> Option<PathBuf> {
        let dir = self.layout.ingestion_sinks(&spec.name);
        (matches!(spec.sink, SinkType::Embedded) && dir.exists()).then_some(dir)
    }

    fn delete_local_data(&self, spec: &IngestionSpec) -> std::io::Result<()> {
        let dir = self.layout.ingestion_sinks(&spec.name);
        if dir.exists() { std::fs::remove_dir_all(&dir) } else { Ok(()) }
    }

    fn component_cache(&self) -> Option<PathBuf> {
        Some(self.layout.component_cache())
    }
}

/// In-memory doubles: one [`VecSource`](crate::source::vec::VecSource) per
/// ingestion name, and [`MemorySink`](crate::sink::memory::MemorySink)s
/// that outlive the ingestion (as a disk would), until deleted.
#[derive(Default)]
pub struct MemoryWiring {
    component_cache: Option<PathBuf>,
    sources: std::sync::Mutex<std::collections::BTreeMap<String, crate::source::vec::VecSource>>,
    sinks: std::sync::Mutex<std::collections::BTreeMap<(String, u32), Arc<crate::sink::memory::MemorySink>>>,
}

impl MemoryWiring {
    pub fn new() -> Self {
        Self::default()
    }

    /// Caches compiled plugins in `dir` (tests share one, so that only the
    /// first compiles).
    pub fn with_component_cache(dir: &Path) -> Self {
        MemoryWiring { component_cache: Some(dir.to_path_buf()), ..Self::default() }
    }

    /// The source an ingestion named `name` reads (made with `partitions` on first use).
    pub fn source(&self, name: &str, partitions: u32) -> crate::source::vec::VecSource {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        sources.entry(name.to_string()).or_insert_with(|| crate::source::vec::VecSource::new(partitions)).clone()
    }

    /// Shard `shard`'s sink of ingestion `name`.
    pub fn sink(&self, name: &str, shard: u32) -> Arc<crate::sink::memory::MemorySink> {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks.entry((name.to_string(), shard)).or_default().clone()
    }
}

impl Wiring for MemoryWiring {
    fn open_source(&self, spec: &IngestionSpec) -> Result<Arc<dyn Source>, SourceError> {
        Ok(Arc::new(self.source(&spec.name, spec.shards)))
    }

    fn open_sinks(&self, spec: &IngestionSpec) -> Result<Vec<Arc<dyn ShardSink>>, SinkError> {
        Ok((0..spec.shards).map(|s| self.sink(&spec.name, s) as Arc<dyn ShardSink>).collect())
    }

    fn local_data(&self, spec: &IngestionSpec) -> Option<PathBuf> {
        let sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks.keys().any(|(n, _)| n == &spec.name).then(|| PathBuf::from(format!("memory:{}", spec.name)))
    }

    fn delete_local_data(&self, spec: &IngestionSpec) -> std::io::Result<()> {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).retain(|(n, _), _| n != &spec.name);
        Ok(())
    }

    fn component_cache(&self) -> Option<PathBuf> {
        self.component_cache.clone()
    }
}

/// Which incarnation of an ingestion is starting, so that its sinks can be
/// checked to be its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The ingestion's id (its record's).
    pub ingestion_id: String,
    /// Take over sinks that belong to another incarnation or source (an
    /// explicit decision of the operator).
    pub adopt: bool,
}

/// Opens the spec's source and sinks through `wiring` and starts the
/// ingestion on them. The source and the plugin are checked before any sink
/// is opened, so a spec that cannot run leaves nothing behind. With a
/// `claim`, every sink must belong to that incarnation and the spec's
/// source (or to nobody yet, and is then claimed).
pub fn start(
    wiring: &dyn Wiring,
    spec: IngestionSpec,
    plugin: CompiledPlugin,
    overrides: RuntimeOverrides,
    claim: Option<&Claim>,
) -> Result<Ingestion, EngineError> {
    let name = spec.name.clone();
    let source = wiring.open_source(&spec).map_err(|source| EngineError::Source { name: name.clone(), source })?;
    Ingestion::check(&spec, &plugin, source.as_ref())?;
    let sinks = wiring.open_sinks(&spec).map_err(|source| EngineError::Sink { name: name.clone(), source })?;
    if let Some(claim) = claim {
        claim_sinks(wiring, &spec, &sinks, claim)?;
    }
    Ingestion::start(spec, plugin, source, sinks, overrides)
}

/// Checks, and records where missing, who each sink belongs to.
fn claim_sinks(
    wiring: &dyn Wiring,
    spec: &IngestionSpec,
    sinks: &[Arc<dyn ShardSink>],
    claim: &Claim,
) -> Result<(), EngineError> {
    let ours = SinkOwner { ingestion_id: claim.ingestion_id.clone(), source: spec.source_fingerprint() };
    let sink_error = |source| EngineError::Sink { name: spec.name.clone(), source };
    for (shard, sink) in sinks.iter().enumerate() {
        let meta = sink.meta().map_err(sink_error)?;
        match &meta.owner {
            Some(owner) if *owner == ours => continue,
            Some(owner) if !claim.adopt => {
                let place = match wiring.local_data(spec) {
                    Some(dir) => format!("remove {}", dir.display()),
                    None => "delete its keys in the sink".to_string(),
                };
                let what = if owner.ingestion_id != ours.ingestion_id {
                    format!(
                        "belongs to an earlier ingestion of the same name ({}, reading {}), not to this one ({})",
                        owner.ingestion_id, owner.source, ours.ingestion_id
                    )
                } else {
                    format!("holds a checkpoint in {}, but the spec now reads {}", owner.source, ours.source)
                };
                return Err(EngineError::SinkNotOurs {
                    name: spec.name.clone(),
                    shard: shard as u32,
                    reason: format!(
                        "the sink of shard {shard} {what}; resuming from its checkpoint would skip or repeat messages. \
                         Delete that data ({place}), choose another name, or adopt it explicitly (--adopt-data) \
                         if its checkpoint really is a position in this stream"
                    ),
                });
            }
            Some(owner) => tracing::warn!(ingestion = %spec.name, shard, previous = ?owner, "sink adopted explicitly"),
            None => {}
        }
        sink.set_owner(ours.clone()).map_err(sink_error)?;
    }
    Ok(())
}

/// [`start`] with the real parts under `data_dir`.
pub fn start_ingestion(
    spec: IngestionSpec,
    plugin: CompiledPlugin,
    data_dir: &Path,
    overrides: RuntimeOverrides,
) -> Result<Ingestion, EngineError> {
    start(&DiskWiring::new(data_dir), spec, plugin, overrides, None)
}
