//! A running ingestion: its shards, their sinks and their threads.

use super::control::{BlockedAt, DynamicSettings, ShardControl, ShardStatus};
use super::shard::ShardWorker;
use crate::plugin::{CompiledPlugin, PluginError};
use crate::pointer::StartPosition;
use crate::sink::embedded::EmbeddedSink;
use crate::sink::redis::RedisSink;
use crate::sink::{ShardSink, SinkError};
use crate::source::{check_partitions, open_source, SourceError};
use crate::spec::{ErrorStrategy, IngestionSpec, SinkType};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("ingestion {name}: {source}")]
    Source { name: String, source: SourceError },
    #[error("ingestion {name}: {source}")]
    Sink { name: String, source: SinkError },
    #[error("ingestion {name}: {source}")]
    Plugin { name: String, source: PluginError },
    #[error("ingestion {name}: no shard {shard} (it has {shards})")]
    NoSuchShard { name: String, shard: u32, shards: u32 },
}

/// The directory of shard `shard`'s embedded sink.
pub fn sink_path(data_dir: &Path, ingestion: &str, shard: u32) -> PathBuf {
    data_dir.join("sinks").join(ingestion).join(format!("shard-{shard}"))
}

/// Opens the shard sinks the spec names.
pub fn open_sinks(data_dir: &Path, spec: &IngestionSpec) -> Result<Vec<Arc<dyn ShardSink>>, SinkError> {
    let open = |shard: u32| -> Result<Arc<dyn ShardSink>, SinkError> {
        Ok(match &spec.sink {
            SinkType::Embedded => Arc::new(EmbeddedSink::open(&sink_path(data_dir, &spec.name, shard))?),
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

/// Runtime settings that override the spec (kept in the state store).
#[derive(Clone, Debug, Default)]
pub struct RuntimeOverrides {
    pub paused_shards: BTreeSet<u32>,
    pub error_strategy: Option<ErrorStrategy>,
}

/// How [`Ingestion::wait_until_idle`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum IdleOutcome {
    /// Every shard caught up with its partition and committed all it read.
    Idle,
    /// Some shards are blocked (and the others idle).
    Blocked(Vec<(u32, BlockedAt)>),
    TimedOut,
}

pub struct Ingestion {
    spec: IngestionSpec,
    controls: Vec<Arc<ShardControl>>,
    sinks: Vec<Arc<dyn ShardSink>>,
    threads: Vec<JoinHandle<()>>,
}

impl Ingestion {
    /// Validates the source and plugin config, opens the sinks and starts every shard.
    pub fn start(
        spec: IngestionSpec,
        plugin: CompiledPlugin,
        data_dir: &Path,
        overrides: RuntimeOverrides,
    ) -> Result<Self, EngineError> {
        let name = spec.name.clone();
        let plugin = plugin.with_limits(spec.plugin.limits);
        let source: Arc<dyn crate::source::Source> = open_source(&spec)
            .map_err(|source| EngineError::Source { name: name.clone(), source })?
            .into();
        check_partitions(source.as_ref(), spec.shards).map_err(|source| EngineError::Source { name: name.clone(), source })?;
        let plugin_config = spec.plugin_config();
        // A configuration the plugin rejects is an error now, not in every shard later.
        plugin.instantiate(&plugin_config).map_err(|source| EngineError::Plugin { name: name.clone(), source })?;
        let sinks = open_sinks(data_dir, &spec).map_err(|source| EngineError::Sink { name: name.clone(), source })?;
        let settings = DynamicSettings {
            error_strategy: overrides.error_strategy.unwrap_or(spec.error_strategy),
            max_batch_size: spec.max_batch_size,
            poll_timeout: spec.poll_timeout(),
        };
        // internal_queue_size counts messages, as in OpenSearch; the queue holds batches.
        let queue_batches = spec.internal_queue_size.div_ceil(spec.max_batch_size).max(1);
        let mut controls = Vec::new();
        let mut threads = Vec::new();
        for shard in 0..spec.shards {
            let sink = sinks[shard as usize].clone();
            let meta = sink.meta().map_err(|source| EngineError::Sink { name: name.clone(), source })?;
            let control = Arc::new(ShardControl::new(shard, settings, overrides.paused_shards.contains(&shard), meta));
            let worker = ShardWorker {
                control: control.clone(),
                source: source.clone(),
                sink,
                plugin: plugin.clone(),
                plugin_config: plugin_config.clone(),
                init_reset: spec.init_reset.clone(),
                queue_batches,
                decoders: spec.num_processor_threads,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sluice-shard-{shard}"))
                    .spawn(move || worker.run())
                    .expect("spawn shard"),
            );
            controls.push(control);
        }
        tracing::info!(ingestion = %name, shards = spec.shards, plugin = plugin.name(), "ingestion started");
        Ok(Ingestion { spec, controls, sinks, threads })
    }

    pub fn spec(&self) -> &IngestionSpec {
        &self.spec
    }

    pub fn shards(&self) -> &[Arc<ShardControl>] {
        &self.controls
    }

    pub fn sinks(&self) -> &[Arc<dyn ShardSink>] {
        &self.sinks
    }

    pub fn status(&self) -> Vec<ShardStatus> {
        self.controls.iter().map(|c| c.status()).collect()
    }

    fn selected(&self, shards: Option<&[u32]>) -> Result<Vec<&Arc<ShardControl>>, EngineError> {
        match shards {
            None => Ok(self.controls.iter().collect()),
            Some(list) => list
                .iter()
                .map(|&s| {
                    self.controls.get(s as usize).ok_or(EngineError::NoSuchShard {
                        name: self.spec.name.clone(),
                        shard: s,
                        shards: self.spec.shards,
                    })
                })
                .collect(),
        }
    }

    /// Changes the error policy of every shard, effective from the next batch.
    pub fn set_error_strategy(&self, strategy: ErrorStrategy) {
        self.update_settings(|s| s.error_strategy = strategy);
    }

    /// Changes dynamic settings of every shard, effective from the next poll or batch.
    pub fn update_settings(&self, change: impl Fn(&mut DynamicSettings)) {
        for c in &self.controls {
            let mut s = c.settings();
            change(&mut s);
            c.set_settings(s);
        }
    }

    /// Switches every shard to another plugin at its next batch boundary.
    /// The new plugin must accept the ingestion's configuration.
    pub fn swap_plugin(&self, plugin: CompiledPlugin) -> Result<(), EngineError> {
        // The ingestion's limits, as at start (sources cut messages to them).
        let plugin = plugin.with_limits(self.spec.plugin.limits);
        plugin
            .instantiate(&self.spec.plugin_config())
            .map_err(|source| EngineError::Plugin { name: self.spec.name.clone(), source })?;
        for c in &self.controls {
            c.swap_plugin(plugin.clone());
        }
        Ok(())
    }

    pub fn pause(&self, shards: Option<&[u32]>) -> Result<(), EngineError> {
        for c in self.selected(shards)? {
            c.pause();
        }
        Ok(())
    }

    /// Resumes shards; `resets` move the listed shards' checkpoints first.
    pub fn resume(&self, shards: Option<&[u32]>, resets: &[(u32, StartPosition)]) -> Result<(), EngineError> {
        for (shard, _) in resets {
            self.selected(Some(&[*shard]))?;
        }
        for c in self.selected(shards)? {
            let reset = resets.iter().find(|(s, _)| *s == c.shard).map(|(_, p)| p.clone());
            c.resume(reset);
        }
        Ok(())
    }

    /// Waits until every shard is idle (or blocked), or `timeout` passes.
    pub fn wait_until_idle(&self, timeout: Duration) -> IdleOutcome {
        let deadline = Instant::now() + timeout;
        for c in &self.controls {
            let left = deadline.saturating_duration_since(Instant::now());
            if !c.wait_until(left, |s| s.idle || s.blocked.is_some()) {
                return IdleOutcome::TimedOut;
            }
        }
        let blocked: Vec<_> = self
            .controls
            .iter()
            .filter_map(|c| c.status().blocked.map(|b| (c.shard, b)))
            .collect();
        if blocked.is_empty() { IdleOutcome::Idle } else { IdleOutcome::Blocked(blocked) }
    }

    /// Stops every shard after its current batch and waits for them.
    /// Stops every shard (each finishes its batch in flight) and returns
    /// the final status, with every commit made before the stop.
    pub fn stop(mut self) -> Vec<ShardStatus> {
        self.shutdown();
        self.status()
    }

    fn shutdown(&mut self) {
        for c in &self.controls {
            c.stop();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Ingestion {
    fn drop(&mut self) {
        self.shutdown();
    }
}

