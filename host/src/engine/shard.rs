//! One shard at work: a supervisor loop around sessions.
//!
//! A session reads from the sink's checkpoint: a poller thread pulls batches
//! from the partition into a bounded queue (a full queue blocks the poller,
//! leaving the backlog in the stream), the processor decodes each batch
//! through the plugin and plans it under the error policy, and a committer
//! thread commits the planned batches to the sink in order, each with its
//! last pointer. Decoding batch n+1 overlaps the durable commit of batch n;
//! batches that wait for the committer are merged into one commit (a group
//! commit: one sync for several batches). A session ends on stop, pause,
//! reset, a blocking message or an error; the supervisor then waits, applies
//! the reset, or retries with backoff, and starts a new session from the
//! checkpoint. Everything not committed is simply read again, so nothing is
//! lost or doubled.

use super::control::{BlockCause, BlockedAt, PollerState, ShardControl, Step};
use super::processor::plan;
use crate::plugin::{CompiledPlugin, PluginError, PluginInstance};
use crate::pointer::StartPosition;
use crate::sink::{CommitBatch, ShardSink, SinkError, SinkMeta};
use crate::source::{Batch, PartitionReader, Source, SourceError};
use crate::spec::InitReset;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest a poller waits inside a source before checking for stop/pause.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// Planned batches that may wait for the committer. More waiting batches make
/// bigger group commits when the sink is slower than decoding; each holds up
/// to `poll.max_batch_size` decoded messages.
const COMMIT_QUEUE_BATCHES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("poller thread ended unexpectedly")]
    PollerGone,
    #[error("committer thread ended unexpectedly")]
    CommitterGone,
    #[error("a decoder thread ended unexpectedly")]
    DecoderGone,
}

pub struct ShardWorker {
    pub control: Arc<ShardControl>,
    pub source: Arc<dyn Source>,
    pub sink: Arc<dyn ShardSink>,
    pub plugin: CompiledPlugin,
    pub plugin_config: String,
    pub init_reset: InitReset,
    /// Capacity of the poller -> processor queue, in batches.
    pub queue_batches: usize,
    /// Plugin instances decoding batches of this shard in parallel
    /// (`num_processor_threads`); their results are committed in order.
    pub decoders: usize,
}

enum SessionEnd {
    /// Stop, pause or reset requested.
    Interrupted,
    Blocked(BlockedAt),
    /// The partition is closed for good and fully committed.
    Closed,
}

pub fn start_position(reset: InitReset) -> StartPosition {
    match reset {
        InitReset::Earliest => StartPosition::Earliest,
        InitReset::Latest => StartPosition::Latest,
        InitReset::ResetByOffset(p) => StartPosition::At(p),
        InitReset::ResetByTimestamp(t) => StartPosition::Timestamp(t),
    }
}

impl ShardWorker {
    pub fn run(self) {
        let shard = self.control.shard;
        let mut instances: Vec<PluginInstance> = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        // The partition ended (a closed Kinesis shard): stay CLOSED, without
        // polling, until a reset moves the pointer or the shard stops.
        let mut closed = false;
        loop {
            match self.control.next_step() {
                Step::Stop => break,
                Step::Wait(state) => {
                    self.control.set_state(state);
                    self.control.wait_for_change(Duration::from_secs(1));
                }
                Step::Reset => {
                    let Some(position) = self.control.pending_reset() else { continue };
                    match self.sink.reset_position(position.clone()) {
                        Ok(()) => {
                            closed = false;
                            tracing::info!(shard, %position, "shard pointer reset");
                            if let Ok(meta) = self.sink.meta() {
                                self.control.committed(meta, None);
                            }
                            self.control.reset_done(&position);
                        }
                        Err(e) => {
                            // Still pending: retried after the backoff.
                            tracing::error!(shard, error = %e, "pointer reset failed; retrying");
                            self.control.record_error(None, format!("pointer reset failed: {e}"));
                            self.control.wait_for_change(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                Step::Run if closed => {
                    self.control.set_state(PollerState::Closed);
                    self.control.set_idle(true);
                    self.control.wait_for_change(Duration::from_secs(1));
                }
                Step::Run => {
                    if self.control.status().blocked.is_some() {
                        self.control.set_blocked(None);
                    }
                    if let Err(e) = self.instantiate(&mut instances) {
                        self.retry_later(&e.into(), &mut backoff);
                        continue;
                    }
                    let committed_before = self.control.status().meta.counters.total_processed_count;
                    let result = self.session(&mut instances);
                    if self.control.status().meta.counters.total_processed_count > committed_before {
                        // The session made progress: a failure now is a new one, not a repeat.
                        backoff = FIRST_BACKOFF;
                    }
                    match result {
                        Ok(SessionEnd::Interrupted) => backoff = FIRST_BACKOFF,
                        Ok(SessionEnd::Closed) => {
                            tracing::info!(shard, "partition closed and drained");
                            closed = true;
                            backoff = FIRST_BACKOFF;
                        }
                        Ok(SessionEnd::Blocked(b)) => {
                            tracing::warn!(shard, pointer = %b.pointer, reason = %b.reason, "shard blocked");
                            self.control.set_blocked(Some(b));
                        }
                        Err(e) => self.retry_later(&e, &mut backoff),
                    }
                }
            }
        }
        self.control.set_state(PollerState::Closed);
    }

    /// Makes the shard's plugin instances (one per decoder) that do not exist yet.
    fn instantiate(&self, instances: &mut Vec<PluginInstance>) -> Result<(), PluginError> {
        while instances.len() < self.decoders.max(1) {
            // The plugin a hot swap installed, if one did: every decoder runs the same.
            let instance = match instances.first() {
                Some(first) => first.plugin().instantiate(&self.plugin_config)?,
                None => self.plugin.instantiate(&self.plugin_config)?,
            };
            instances.push(instance);
        }
        Ok(())
    }

    fn retry_later(&self, e: &ShardError, backoff: &mut Duration) {
        tracing::error!(shard = self.control.shard, error = %e, retry_in = ?*backoff, "shard failed; retrying");
        self.control.record_error(None, e.to_string());
        self.control.set_state(PollerState::Retrying);
        self.control.wait_for_change(*backoff);
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
    }

    fn session(&self, instances: &mut [PluginInstance]) -> Result<SessionEnd, ShardError> {
        let shard = self.control.shard;
        self.control.set_state(PollerState::Starting);
        let meta = self.sink.meta()?;
        let start = meta.resume.clone().unwrap_or_else(|| start_position(self.init_reset.clone()));
        tracing::debug!(shard, %start, "session starts");
        let reader = match self.source.open(shard, start.clone()) {
            Err(SourceError::PositionLost { position, reason }) => {
                return Ok(SessionEnd::Blocked(position_lost(&meta, position, reason)));
            }
            other => other?,
        };
        let (tx, rx) = sync_channel(self.queue_batches.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (control, stop) = (self.control.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("sluice-poll-{shard}"))
                .spawn(move || poll_loop(reader, &control, &tx, &stop))
                .expect("spawn poller")
        };
        let pipeline = Arc::new(Pipeline::default());
        let (commit_tx, commit_rx) = sync_channel(COMMIT_QUEUE_BATCHES);
        let committer = {
            let committer = Committer {
                control: self.control.clone(),
                source: self.source.clone(),
                sink: self.sink.clone(),
                pipeline: pipeline.clone(),
            };
            std::thread::Builder::new()
                .name(format!("sluice-commit-{shard}"))
                .spawn(move || committer.run(commit_rx))
                .expect("spawn committer")
        };
        self.control.set_state(PollerState::Polling);
        let result = match instances {
            [instance] => self.process_in_turn(instance, &meta, &rx, &commit_tx, &pipeline),
            _ => self.process_in_parallel(instances, &meta, &rx, &commit_tx, &pipeline),
        };
        stop.store(true, Ordering::Relaxed);
        drop(rx); // unblocks a poller waiting on a full queue
        // The committer commits what was already planned, then ends: the
        // session is over only when nothing of it can still be committed.
        drop(commit_tx);
        let _ = committer.join();
        let _ = poller.join();
        match pipeline.take_error() {
            // A failed commit ends the session whatever else happened: it
            // resumes from the checkpoint that really is in the sink.
            Some(e) => Err(e.into()),
            None => result,
        }
    }

    /// The next batch from the poller; `Err` ends the session.
    fn next_batch(
        &self,
        meta: &SinkMeta,
        batches: &Receiver<Result<Batch, SourceError>>,
        wait: Duration,
    ) -> Result<Option<Batch>, Result<SessionEnd, ShardError>> {
        match batches.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) if self.control.should_end_session() => Err(Ok(SessionEnd::Interrupted)),
            Err(RecvTimeoutError::Disconnected) => Err(Err(ShardError::PollerGone)),
            Ok(Err(SourceError::PositionLost { position, reason })) => {
                Err(Ok(SessionEnd::Blocked(position_lost(meta, position, reason))))
            }
            Ok(Err(e)) => Err(Err(e.into())),
            Ok(Ok(batch)) => Ok(Some(batch)),
        }
    }

    /// One decoder: each batch is decoded, planned and handed to the committer in turn.
    fn process_in_turn(
        &self,
        instance: &mut PluginInstance,
        meta: &SinkMeta,
        batches: &Receiver<Result<Batch, SourceError>>,
        commits: &SyncSender<Planned>,
        pipeline: &Pipeline,
    ) -> Result<SessionEnd, ShardError> {
        loop {
            if self.control.should_end_session() || pipeline.failed() {
                // (a committer error is returned by the caller)
                return Ok(SessionEnd::Interrupted);
            }
            let batch = match self.next_batch(meta, batches, Duration::from_millis(50)) {
                Ok(Some(batch)) => batch,
                Ok(None) => continue,
                Err(end) => return end,
            };
            if !batch.messages.is_empty() {
                pipeline.begin_batch(&self.control);
                self.control.set_state(PollerState::Processing);
                if let Some(plugin) = self.control.take_pending_plugin() {
                    // A batch boundary: nothing of this batch was decoded yet.
                    swap_plugin(&self.control, instance, &plugin, &self.plugin_config);
                }
            }
            let strategy = self.control.settings().error_strategy;
            let decoded = decode_and_plan(instance, self.control.shard, batch, strategy)?;
            match pipeline.hand_over(commits, decoded)? {
                Some(end) => return Ok(end),
                None => self.control.set_state(PollerState::Polling),
            }
        }
    }

    /// Several decoders (`num_processor_threads`): batch n goes to decoder
    /// n mod N, and results are taken back in the same order, so the
    /// committer sees the batches in stream order, exactly as with one
    /// decoder. A batch that blocks ends the session; later batches already
    /// decoded are dropped (read again by the next session). A plugin swap
    /// travels with the next batch of each decoder: every batch after the
    /// swap point is decoded by the new plugin, every one before by the old.
    fn process_in_parallel(
        &self,
        instances: &mut [PluginInstance],
        meta: &SinkMeta,
        batches: &Receiver<Result<Batch, SourceError>>,
        commits: &SyncSender<Planned>,
        pipeline: &Pipeline,
    ) -> Result<SessionEnd, ShardError> {
        let shard = self.control.shard;
        let n = instances.len();
        std::thread::scope(|scope| {
            let mut jobs = Vec::with_capacity(n);
            let mut results = Vec::with_capacity(n);
            for (i, instance) in instances.iter_mut().enumerate() {
                let (job_tx, job_rx) = sync_channel::<DecodeJob>(1);
                let (result_tx, result_rx) = sync_channel::<Result<DecodedBatch, ShardError>>(1);
                let (control, config) = (&*self.control, &self.plugin_config);
                std::thread::Builder::new()
                    .name(format!("sluice-dec-{shard}-{i}"))
                    .spawn_scoped(scope, move || {
                        while let Ok(job) = job_rx.recv() {
                            if let Some(plugin) = &job.swap {
                                swap_plugin(control, instance, plugin, config);
                            }
                            let result = decode_and_plan(instance, shard, job.batch, job.strategy);
                            if result_tx.send(result).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("spawn decoder");
                jobs.push(job_tx);
                results.push(result_rx);
            }
            let (mut dispatched, mut collected) = (0_usize, 0_usize);
            // A swapped-in plugin and how many decoders still have to get it.
            let mut swap: Option<(CompiledPlugin, usize)> = None;
            let end = 'session: loop {
                // Hand decoded batches to the committer, in order; wait when
                // every decoder is busy.
                while collected < dispatched {
                    let from = &results[collected % n];
                    let result = if dispatched - collected == n {
                        match from.recv() {
                            Ok(r) => r,
                            Err(_) => break 'session Err(ShardError::DecoderGone),
                        }
                    } else {
                        match from.try_recv() {
                            Ok(r) => r,
                            Err(_) => break,
                        }
                    };
                    collected += 1;
                    match result.and_then(|decoded| pipeline.hand_over(commits, decoded)) {
                        Ok(None) => {}
                        Ok(Some(end)) => break 'session Ok(end),
                        Err(e) => break 'session Err(e),
                    }
                }
                if collected == dispatched {
                    self.control.set_state(PollerState::Polling);
                }
                if self.control.should_end_session() || pipeline.failed() {
                    break Ok(SessionEnd::Interrupted);
                }
                // While decoders work, come back soon to collect their results.
                let wait = if collected < dispatched { Duration::from_millis(1) } else { Duration::from_millis(50) };
                let batch = match self.next_batch(meta, batches, wait) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => continue,
                    Err(end) => break end,
                };
                if !batch.messages.is_empty() {
                    pipeline.begin_batch(&self.control);
                    self.control.set_state(PollerState::Processing);
                    if let Some(plugin) = self.control.take_pending_plugin() {
                        swap = Some((plugin, n));
                    }
                }
                let carry = match &mut swap {
                    Some((plugin, left)) => {
                        let plugin = plugin.clone();
                        *left -= 1;
                        if *left == 0 {
                            swap = None;
                        }
                        Some(plugin)
                    }
                    None => None,
                };
                let job = DecodeJob { batch, strategy: self.control.settings().error_strategy, swap: carry };
                if jobs[dispatched % n].send(job).is_err() {
                    break Err(ShardError::DecoderGone);
                }
                dispatched += 1;
            };
            if let Some((plugin, _)) = swap {
                // Not every decoder got it before the session ended: the
                // next session swaps again (a repeat swap to the same plugin
                // changes nothing).
                self.control.swap_plugin(plugin);
            }
            // Decoders still busy finish, fail to hand back, and end.
            drop(jobs);
            drop(results);
            end
        })
    }
}

/// A batch for a decoder of [`ShardWorker::process_in_parallel`].
struct DecodeJob {
    batch: Batch,
    strategy: crate::spec::ErrorStrategy,
    /// Switch to this plugin before decoding the batch.
    swap: Option<CompiledPlugin>,
}

/// A batch decoded and planned, before it goes to the committer.
struct DecodedBatch {
    planned: Planned,
    blocked: Option<BlockedAt>,
    /// The partition ended with this batch.
    closed: bool,
    /// Whether `Pipeline::begin_batch` counted it (non-empty batches).
    counted: bool,
}

/// Decodes and plans a batch (nothing to decode in an empty one: a
/// "caught up" report).
fn decode_and_plan(
    instance: &mut PluginInstance,
    shard: u32,
    batch: Batch,
    strategy: crate::spec::ErrorStrategy,
) -> Result<DecodedBatch, ShardError> {
    if batch.messages.is_empty() {
        let planned = Planned { commit: None, last_timestamp_ms: None, caught_up: batch.caught_up };
        return Ok(DecodedBatch { planned, blocked: None, closed: batch.closed, counted: false });
    }
    let outcomes = instance.decode(shard, &batch.messages)?;
    let plan = plan(shard, &batch.messages, outcomes, strategy);
    drop(batch.messages);
    let planned = Planned {
        commit: plan.commit,
        last_timestamp_ms: plan.last_timestamp_ms,
        caught_up: batch.caught_up && plan.blocked.is_none(),
    };
    Ok(DecodedBatch { planned, blocked: plan.blocked, closed: batch.closed, counted: true })
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

/// A planned batch on its way to the committer.
struct Planned {
    /// `None` for a "caught up" report, or a batch that blocked at its first message.
    commit: Option<CommitBatch>,
    last_timestamp_ms: Option<i64>,
    /// The source had nothing more after this batch.
    caught_up: bool,
}

/// What the processor and the committer of one session share.
#[derive(Default)]
struct Pipeline {
    /// Batches handed to the committer and not yet committed. The shard is
    /// idle only when this is zero after a caught-up batch; changes of it and
    /// of the idle flag happen under this lock, so "idle" is never set while
    /// a newer batch is on its way.
    in_flight: Mutex<usize>,
    /// The first commit error; the committer stops at it.
    error: Mutex<Option<SinkError>>,
}

impl Pipeline {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A non-empty batch arrived: the shard is not idle until it is committed.
    fn begin_batch(&self, control: &ShardControl) {
        let mut n = self.lock();
        *n += 1;
        control.set_idle(false);
    }

    /// Hands a batch counted by `begin_batch` to the committer.
    fn send_counted(&self, commits: &SyncSender<Planned>, planned: Planned) -> Result<(), ShardError> {
        commits.send(planned).map_err(|_| self.gone())
    }

    /// Counts and hands an item to the committer.
    fn send(&self, commits: &SyncSender<Planned>, planned: Planned) -> Result<(), ShardError> {
        *self.lock() += 1;
        commits.send(planned).map_err(|_| self.gone())
    }

    /// Hands a decoded batch to the committer. `Some`: the session ends
    /// after it (it blocked, or the partition ended).
    fn hand_over(&self, commits: &SyncSender<Planned>, decoded: DecodedBatch) -> Result<Option<SessionEnd>, ShardError> {
        // An empty batch (a "caught up" report) is counted now, a batch with
        // messages was counted when it arrived.
        if decoded.counted {
            self.send_counted(commits, decoded.planned)?;
        } else if decoded.planned.caught_up || decoded.closed {
            self.send(commits, decoded.planned)?;
        }
        Ok(match (decoded.blocked, decoded.closed) {
            (Some(blocked), _) => Some(SessionEnd::Blocked(blocked)),
            (None, true) => Some(SessionEnd::Closed),
            (None, false) => None,
        })
    }

    /// The committer stopped (at an error): the session ends with that error.
    fn gone(&self) -> ShardError {
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => e.into(),
            None => ShardError::CommitterGone,
        }
    }

    fn failed(&self) -> bool {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn take_error(&self) -> Option<SinkError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// `count` items are committed; `caught_up`: the last of them was.
    fn done(&self, control: &ShardControl, count: usize, caught_up: bool) {
        let mut n = self.lock();
        *n -= count;
        if *n == 0 && caught_up {
            control.set_idle(true);
        }
    }
}

/// The committer thread of a session: commits planned batches in order,
/// merging those that wait into one commit.
struct Committer {
    control: Arc<ShardControl>,
    source: Arc<dyn Source>,
    sink: Arc<dyn ShardSink>,
    pipeline: Arc<Pipeline>,
}

impl Committer {
    fn run(self, planned: Receiver<Planned>) {
        let shard = self.control.shard;
        while let Ok(first) = planned.recv() {
            let mut items = vec![first];
            // Everything that waits goes into the same commit.
            while let Ok(item) = planned.try_recv() {
                items.push(item);
            }
            let count = items.len();
            let caught_up = items.last().is_some_and(|i| i.caught_up);
            let mut merged: Option<CommitBatch> = None;
            let mut last_ts = None;
            for item in items {
                if item.last_timestamp_ms.is_some() {
                    last_ts = item.last_timestamp_ms;
                }
                if let Some(next) = item.commit {
                    merged = Some(match merged {
                        None => next,
                        Some(mut group) => {
                            group.ops.extend(next.ops);
                            group.last_pointer = next.last_pointer;
                            group.counters.add(&next.counters);
                            group.dropped.extend(next.dropped);
                            group
                        }
                    });
                }
            }
            if let Some(batch) = merged {
                match self.sink.commit(batch) {
                    Ok(meta) => {
                        if let Some(p) = &meta.last_pointer {
                            self.source.on_committed(shard, p);
                        }
                        self.control.committed(meta, last_ts);
                    }
                    Err(e) => {
                        // Nothing after a failed commit may be committed:
                        // stop here; the session ends and starts over from
                        // the sink's checkpoint.
                        *self.pipeline.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return;
                    }
                }
            }
            self.pipeline.done(&self.control, count, caught_up);
        }
    }
}

/// The block of a shard whose resume position is gone from the stream.
fn position_lost(meta: &crate::sink::SinkMeta, position: String, reason: String) -> BlockedAt {
    BlockedAt {
        pointer: meta.last_pointer.clone().unwrap_or_default(),
        reason: format!("cannot resume at {position}: {reason}; resume the shard with a pointer reset"),
        cause: BlockCause::PositionLost,
    }
}

/// The poller thread: reads batches into the queue until told to stop.
fn poll_loop(
    mut reader: Box<dyn PartitionReader>,
    control: &ShardControl,
    tx: &SyncSender<Result<Batch, SourceError>>,
    stop: &AtomicBool,
) {
    // Empty polls are only worth sending once, to report "caught up".
    let mut reported_caught_up = false;
    while !stop.load(Ordering::Relaxed) && !control.should_end_session() {
        let settings = control.settings();
        // Waits are sliced so that a stop or pause is noticed quickly; an
        // empty poll costs nothing.
        match reader.poll(settings.max_batch_size, settings.poll_timeout.min(STOP_CHECK_INTERVAL)) {
            Ok(batch) => {
                control.set_source_lag(batch.pointer_lag, batch.time_lag_ms);
                let closed = batch.closed;
                if batch.messages.is_empty() && !closed {
                    if !batch.caught_up || reported_caught_up {
                        continue;
                    }
                    reported_caught_up = true;
                } else {
                    reported_caught_up = batch.caught_up;
                    control.add_polled(batch.messages.len() as u64);
                }
                // A closed partition has nothing more: the poller ends.
                if tx.send(Ok(batch)).is_err() || closed {
                    return;
                }
            }
            Err(e) => {
                control.add_consumer_error();
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}
