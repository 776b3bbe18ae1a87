//! A running ingestion: its shards, their sinks and their threads.

use super::control::{BlockedAt, DynamicSettings, LastError, ShardControl, ShardStatus};
use super::poll_stats::PollStats;
use super::supervisor::ShardWorker;
use crate::plugin::{CompiledPlugin, PluginError};
use crate::pointer::StartPosition;
use crate::sink::{ShardSink, SinkError};
use crate::source::{Source, SourceError, check_partitions};
use crate::spec::{ErrorStrategy, IngestionSpec};
use std::collections::{BTreeMap, BTreeSet};
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
    /// A sink holds another incarnation's or another stream's checkpoint.
    #[error("ingestion {name}: {reason}")]
    SinkNotOurs { name: String, shard: u32, reason: String },
    #[error("ingestion {name}: {sinks} sinks for {shards} shards")]
    SinkCount { name: String, sinks: usize, shards: u32 },
    #[error("ingestion {name}: no shard {shard} (it has {shards})")]
    NoSuchShard { name: String, shard: u32, shards: u32 },
}

impl EngineError {
    /// The epoch a sink is fenced at, if that is why a shard could not start.
    pub fn fenced_at(&self) -> Option<u64> {
        match self {
            EngineError::Sink { source: SinkError::Fenced { current, .. }, .. } => Some(*current),
            _ => None,
        }
    }
}

/// Runtime settings that override the spec (kept in the state store).
#[derive(Clone, Debug, Default)]
pub struct RuntimeOverrides {
    pub paused_shards: BTreeSet<u32>,
    pub error_strategy: Option<ErrorStrategy>,
    /// What shards continue from: their saved poll statistics and last error.
    pub restored: BTreeMap<u32, RestoredShard>,
    /// No shard starts with the ingestion: each starts when asked
    /// ([`Ingestion::start_shard`]), as a cluster host starts the shards
    /// it holds leases for.
    pub leased: bool,
}

/// A shard's saved statistics, to continue counting from after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoredShard {
    pub poll: PollStats,
    pub last_error: Option<LastError>,
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
    /// Each shard's worker thread while it runs (or stops) on this host.
    threads: Vec<Option<JoinHandle<()>>>,
    source: Arc<dyn Source>,
    /// The plugin (with the ingestion's limits) new workers start with: the
    /// last one swapped in.
    plugin: std::sync::Mutex<CompiledPlugin>,
    plugin_config: String,
    queue_batches: usize,
}

impl Ingestion {
    /// Checks what can be checked before anything is written: every
    /// partition of the source has a shard, and the plugin accepts the
    /// ingestion's configuration.
    pub fn check(spec: &IngestionSpec, plugin: &CompiledPlugin, source: &dyn Source) -> Result<(), EngineError> {
        let name = spec.name.clone();
        if spec.shards_unresolved() {
            let reason = "a Druid spec's shard count is learned from the stream when the manager creates the \
                          ingestion (or set sluice.shards)";
            return Err(EngineError::Source { name, source: crate::source::SourceError::Config(reason.into()) });
        }
        check_partitions(source, spec.shards).map_err(|source| EngineError::Source { name: name.clone(), source })?;
        // A configuration the plugin rejects is an error now, not in every shard later.
        let plugin = plugin.with_limits(spec.plugin.limits);
        plugin.instantiate(&spec.plugin_config()).map_err(|source| EngineError::Plugin { name, source })?;
        Ok(())
    }

    /// Starts every shard on an opened source and its sinks (one per
    /// shard, in shard order). Call [`Ingestion::check`] first (the wiring
    /// does): start does not repeat it.
    pub fn start(
        spec: IngestionSpec,
        plugin: CompiledPlugin,
        source: Arc<dyn Source>,
        sinks: Vec<Arc<dyn ShardSink>>,
        overrides: RuntimeOverrides,
    ) -> Result<Self, EngineError> {
        let name = spec.name.clone();
        if sinks.len() != spec.shards as usize {
            return Err(EngineError::SinkCount { name, sinks: sinks.len(), shards: spec.shards });
        }
        let plugin = plugin.with_limits(spec.plugin.limits);
        let plugin_config = spec.plugin_config();
        let settings = DynamicSettings {
            error_strategy: overrides.error_strategy.unwrap_or(spec.error_strategy),
            max_batch_size: spec.max_batch_size,
            poll_timeout: spec.poll_timeout(),
            gc_deletes: spec.gc_deletes(),
            max_parse_exceptions: spec.max_parse_exceptions,
            task_duration: Duration::from_millis(spec.task_duration_ms),
        };
        // internal_queue_size counts messages, as in OpenSearch; the queue holds batches.
        let queue_batches = spec.internal_queue_size.div_ceil(spec.max_batch_size).max(1);
        let mut controls = Vec::new();
        for shard in 0..spec.shards {
            let sink = sinks[shard as usize].clone();
            let meta = sink.meta().map_err(|source| EngineError::Sink { name: name.clone(), source })?;
            let control = Arc::new(ShardControl::new(shard, settings, overrides.paused_shards.contains(&shard), meta));
            if let Some(restored) = overrides.restored.get(&shard) {
                control.restore(restored.poll.clone(), restored.last_error.clone());
            }
            if overrides.leased {
                control.set_elsewhere();
            }
            controls.push(control);
        }
        tracing::info!(ingestion = %name, shards = spec.shards, plugin = plugin.name(), leased = overrides.leased, "ingestion started");
        let mut ingestion = Ingestion {
            threads: (0..spec.shards).map(|_| None).collect(),
            spec,
            controls,
            sinks,
            source,
            plugin: std::sync::Mutex::new(plugin),
            plugin_config,
            queue_batches,
        };
        if !overrides.leased {
            for shard in 0..ingestion.spec.shards {
                let sink = ingestion.sinks[shard as usize].clone();
                ingestion.spawn(shard, sink);
            }
        }
        Ok(ingestion)
    }

    fn spawn(&mut self, shard: u32, sink: Arc<dyn ShardSink>) {
        let worker = ShardWorker {
            control: self.controls[shard as usize].clone(),
            source: self.source.clone(),
            sink,
            plugin: self.plugin.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            plugin_config: self.plugin_config.clone(),
            init_reset: self.spec.init_reset.clone(),
            queue_batches: self.queue_batches,
            decoders: self.spec.num_processor_threads,
        };
        self.threads[shard as usize] = Some(
            std::thread::Builder::new()
                .name(format!("sluice-shard-{shard}"))
                .spawn(move || worker.run())
                .expect("spawn shard"),
        );
    }

    /// Starts one shard on this host, under lease `epoch` (its sink handle
    /// fenced at it: see [`ShardSink::fenced`]). Nothing happens
    /// if it already runs under that epoch; a worker still stopping is
    /// waited for first (it commits or is refused its batch in flight).
    pub fn start_shard(&mut self, shard: u32, epoch: u64) -> Result<(), EngineError> {
        let name = self.spec.name.clone();
        let control = self.selected(Some(&[shard]))?[0].clone();
        if let Some(thread) = &self.threads[shard as usize] {
            let running = !thread.is_finished() && !control.should_stop();
            if running && control.status().lease.map(|l| l.epoch) == Some(epoch) && !control.is_fenced() {
                return Ok(());
            }
            control.stop();
            if let Some(t) = self.threads[shard as usize].take() {
                let _ = t.join();
            }
        }
        let sink = self.sinks[shard as usize]
            .fenced(epoch)
            .map_err(|source| EngineError::Sink { name: name.clone(), source })?;
        let meta = sink.meta().map_err(|source| EngineError::Sink { name: name.clone(), source })?;
        control.rearm(meta, Some(epoch));
        self.spawn(shard, sink);
        tracing::info!(ingestion = %name, shard, epoch, "shard started");
        Ok(())
    }

    /// Tells one shard to stop (it finishes its batch in flight); returns at
    /// once. The shard then shows as running elsewhere.
    pub fn stop_shard(&mut self, shard: u32) -> Result<(), EngineError> {
        let control = self.selected(Some(&[shard]))?[0].clone();
        control.stop();
        self.reap(shard);
        tracing::info!(ingestion = %self.spec.name, shard, "shard stopping");
        Ok(())
    }

    /// Joins a shard's worker that stopped because it was told to.
    fn reap(&mut self, shard: u32) {
        let control = &self.controls[shard as usize];
        let slot = &mut self.threads[shard as usize];
        if slot.as_ref().is_some_and(|t| t.is_finished()) && control.should_stop() {
            if let Some(t) = slot.take() {
                let _ = t.join();
            }
            control.set_elsewhere();
        }
    }

    /// The shards with a worker on this host (running, stopping, or ended
    /// because their sink fenced them out), with their lease epoch and
    /// whether they were fenced.
    pub fn running_shards(&mut self) -> Vec<(u32, Option<u64>, bool)> {
        for shard in 0..self.spec.shards {
            self.reap(shard);
        }
        self.threads
            .iter()
            .zip(&self.controls)
            .filter(|(t, _)| t.is_some())
            .map(|(_, c)| (c.shard, c.status().lease.map(|l| l.epoch), c.is_fenced()))
            .collect()
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
        *self.plugin.lock().unwrap_or_else(|p| p.into_inner()) = plugin;
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

    /// Moves the listed shards' checkpoints (see [`ShardControl::reset`]),
    /// leaving them paused or running as they are.
    pub fn reset(&self, resets: &[(u32, StartPosition)]) -> Result<(), EngineError> {
        for (shard, _) in resets {
            self.selected(Some(&[*shard]))?;
        }
        for (shard, position) in resets {
            self.controls[*shard as usize].reset(position.clone());
        }
        Ok(())
    }

    /// Waits until every shard is idle (or blocked), or `timeout` passes.
    pub fn wait_until_idle(&self, timeout: Duration) -> IdleOutcome {
        wait_until_idle(&self.controls, timeout)
    }

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
        for t in self.threads.iter_mut().filter_map(Option::take) {
            let _ = t.join();
        }
    }
}

impl Drop for Ingestion {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until every shard of `controls` is idle (or blocked), or `timeout` passes.
pub fn wait_until_idle(controls: &[Arc<ShardControl>], timeout: Duration) -> IdleOutcome {
    let deadline = Instant::now() + timeout;
    for c in controls {
        let left = deadline.saturating_duration_since(Instant::now());
        if !c.wait_until(left, |s| s.idle || s.blocked.is_some()) {
            return IdleOutcome::TimedOut;
        }
    }
    let blocked: Vec<_> = controls.iter().filter_map(|c| c.status().blocked.map(|b| (c.shard, b))).collect();
    if blocked.is_empty() { IdleOutcome::Idle } else { IdleOutcome::Blocked(blocked) }
}
