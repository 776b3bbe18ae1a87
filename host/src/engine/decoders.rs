//! The decoders of a session: the plugin stage. One decoder runs inline on
//! the processor's thread; with `num_processor_threads` = N > 1, N decoders
//! run on their own threads, batch n going to decoder n mod N, and results
//! come back in the same order. Either way the session sees one ordered
//! stream of decoded batches.

use super::committer::{DecodedBatch, Planned};
use super::control::ShardControl;
use super::processor::plan;
use super::shard_error::ShardError;
use crate::plugin::{CompiledPlugin, PluginInstance};
use crate::source::Batch;
use crate::spec::ErrorStrategy;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;
use std::time::Instant;

/// What a batch is decoded and planned with, fixed when it is dispatched.
#[derive(Clone, Copy, Debug)]
pub(super) struct BatchContext {
    pub strategy: ErrorStrategy,
    /// The shard's reference time for this batch (see `SinkMeta::reference_time_ms`).
    pub reference_time_ms: i64,
}

/// A batch for a decoder.
struct DecodeJob {
    batch: Batch,
    context: BatchContext,
    /// Switch to this plugin before decoding the batch.
    swap: Option<CompiledPlugin>,
    /// When the batch reached the processor.
    arrived: Instant,
}

type DecodeResult = Result<DecodedBatch, ShardError>;

enum Workers<'a> {
    Inline { instance: &'a mut PluginInstance, ready: VecDeque<DecodeResult> },
    Threads { jobs: Vec<SyncSender<DecodeJob>>, results: Vec<Receiver<DecodeResult>> },
}

/// A session's decoders and the order of the batches given to them.
pub(super) struct Decoders<'a> {
    workers: Workers<'a>,
    control: &'a ShardControl,
    config: &'a str,
    count: usize,
    dispatched: usize,
    collected: usize,
    /// A swapped-in plugin and how many decoders still have to get it: it
    /// travels with the next batch of each decoder, so every batch after
    /// the swap point is decoded by the new plugin, every one before by the old.
    swap: Option<(CompiledPlugin, usize)>,
}

impl<'a> Decoders<'a> {
    /// One decoder per instance; more than one run on threads of `scope`.
    pub fn start<'scope>(
        scope: &'scope Scope<'scope, 'a>,
        instances: &'a mut [PluginInstance],
        control: &'a ShardControl,
        config: &'a str,
    ) -> Decoders<'a> {
        let count = instances.len();
        let workers = match instances {
            [instance] => Workers::Inline { instance, ready: VecDeque::new() },
            _ => {
                let (mut jobs, mut results) = (Vec::with_capacity(count), Vec::with_capacity(count));
                for (i, instance) in instances.iter_mut().enumerate() {
                    let (job_tx, job_rx) = sync_channel::<DecodeJob>(1);
                    let (result_tx, result_rx) = sync_channel::<DecodeResult>(1);
                    std::thread::Builder::new()
                        .name(format!("sluice-dec-{}-{i}", control.shard))
                        .spawn_scoped(scope, move || {
                            while let Ok(job) = job_rx.recv() {
                                if result_tx.send(run_job(instance, control, config, job)).is_err() {
                                    return;
                                }
                            }
                        })
                        .expect("spawn decoder");
                    jobs.push(job_tx);
                    results.push(result_rx);
                }
                Workers::Threads { jobs, results }
            }
        };
        Decoders { workers, control, config, count, dispatched: 0, collected: 0, swap: None }
    }

    /// Batches given out and not yet taken back.
    pub fn in_flight(&self) -> usize {
        self.dispatched - self.collected
    }

    /// Gives out the next batch, which reached the processor at `arrived`;
    /// `swap`: a plugin to switch to from this batch on.
    pub fn dispatch(
        &mut self,
        batch: Batch,
        arrived: Instant,
        context: BatchContext,
        swap: Option<CompiledPlugin>,
    ) -> Result<(), ShardError> {
        if let Some(plugin) = swap {
            self.swap = Some((plugin, self.count));
        }
        let carry = match &mut self.swap {
            Some((plugin, left)) => {
                let plugin = plugin.clone();
                *left -= 1;
                if *left == 0 {
                    self.swap = None;
                }
                Some(plugin)
            }
            None => None,
        };
        let job = DecodeJob { batch, context, swap: carry, arrived };
        match &mut self.workers {
            Workers::Inline { instance, ready } => ready.push_back(run_job(instance, self.control, self.config, job)),
            Workers::Threads { jobs, .. } => {
                jobs[self.dispatched % self.count].send(job).map_err(|_| ShardError::DecoderGone)?;
            }
        }
        self.dispatched += 1;
        Ok(())
    }

    /// The next decoded batch in order: waits for it when every decoder is
    /// busy, else `None` if it is not ready yet.
    pub fn next(&mut self) -> Option<DecodeResult> {
        if self.in_flight() == 0 {
            return None;
        }
        let result = match &mut self.workers {
            Workers::Inline { ready, .. } => ready.pop_front()?,
            Workers::Threads { results, .. } => {
                let from = &results[self.collected % self.count];
                if self.dispatched - self.collected == self.count {
                    from.recv().unwrap_or(Err(ShardError::DecoderGone))
                } else {
                    from.try_recv().ok()?
                }
            }
        };
        self.collected += 1;
        Some(result)
    }

    /// Ends the decoders. A swap that not every decoder got yet is handed
    /// back to the control, so the next session swaps again (a repeat swap
    /// to the same plugin changes nothing).
    pub fn finish(self) {
        if let Some((plugin, _)) = self.swap {
            self.control.swap_plugin(plugin);
        }
        // Dropping the channels ends decoder threads still busy.
    }
}

fn run_job(instance: &mut PluginInstance, control: &ShardControl, config: &str, job: DecodeJob) -> DecodeResult {
    if let Some(plugin) = &job.swap {
        swap_plugin(control, instance, plugin, config);
    }
    decode_and_plan(instance, control.shard, job.batch, job.context, job.arrived)
}

/// Decodes and plans a batch (nothing to decode in an empty one: a
/// "caught up" report).
fn decode_and_plan(
    instance: &mut PluginInstance,
    shard: u32,
    batch: Batch,
    context: BatchContext,
    arrived: Instant,
) -> DecodeResult {
    if batch.messages.is_empty() {
        let planned = Planned { commit: None, last_timestamp_ms: None, caught_up: batch.caught_up, arrived: None };
        return Ok(DecodedBatch { planned, blocked: None, closed: batch.closed, counted: false, exceptions: vec![] });
    }
    let outcomes = instance.decode(shard, context.reference_time_ms, &batch.messages)?;
    let plan = plan(shard, &batch.messages, outcomes, context.strategy);
    drop(batch.messages);
    let planned = Planned {
        commit: plan.commit,
        last_timestamp_ms: plan.last_timestamp_ms,
        caught_up: batch.caught_up && plan.blocked.is_none(),
        arrived: Some(arrived),
    };
    Ok(DecodedBatch {
        planned,
        blocked: plan.blocked,
        closed: batch.closed,
        counted: true,
        exceptions: plan.exceptions,
    })
}

/// Switches `instance` to `plugin` (at a batch boundary); on failure the
/// current plugin stays.
fn swap_plugin(control: &ShardControl, instance: &mut PluginInstance, plugin: &CompiledPlugin, config: &str) {
    match plugin.instantiate(config) {
        Ok(new) => {
            tracing::info!(shard = control.shard, plugin = plugin.name(), "plugin swapped");
            *instance = new;
        }
        Err(e) => {
            tracing::error!(shard = control.shard, error = %e, "plugin swap failed; keeping the current plugin");
            control.record_error(None, format!("plugin swap failed: {e}"));
        }
    }
}
