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
use crate::sink::{CommitBatch, ShardSink, SinkError};
use crate::source::{Batch, PartitionReader, Source, SourceError};
use crate::spec::InitReset;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
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
        let mut instance: Option<PluginInstance> = None;
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
                    let Some(position) = self.control.take_pending_reset() else { continue };
                    match self.sink.reset_position(position.clone()) {
                        Ok(()) => {
                            closed = false;
                            tracing::info!(shard, %position, "shard pointer reset");
                            if let Ok(meta) = self.sink.meta() {
                                self.control.committed(meta, None);
                            }
                        }
                        Err(e) => {
                            tracing::error!(shard, error = %e, "pointer reset failed; retrying");
                            self.control.record_error(None, format!("pointer reset failed: {e}"));
                            self.control.requeue_reset(position);
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
                    if instance.is_none() {
                        match self.plugin.instantiate(&self.plugin_config) {
                            Ok(i) => instance = Some(i),
                            Err(e) => {
                                self.retry_later(&e.into(), &mut backoff);
                                continue;
                            }
                        }
                    }
                    let committed_before = self.control.status().meta.counters.total_processed_count;
                    let result = self.session(instance.as_mut().expect("instantiated"));
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

    fn retry_later(&self, e: &ShardError, backoff: &mut Duration) {
        tracing::error!(shard = self.control.shard, error = %e, retry_in = ?*backoff, "shard failed; retrying");
        self.control.record_error(None, e.to_string());
        self.control.set_state(PollerState::Retrying);
        self.control.wait_for_change(*backoff);
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
    }

    fn session(&self, instance: &mut PluginInstance) -> Result<SessionEnd, ShardError> {
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
        let result = loop {
            if self.control.should_end_session() {
                break Ok(SessionEnd::Interrupted);
            }
            if pipeline.failed() {
                break Ok(SessionEnd::Interrupted); // the committer's error is returned below
            }
            let batch = match rx.recv_timeout(Duration::from_millis(50)) {
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) if self.control.should_end_session() => {
                    break Ok(SessionEnd::Interrupted);
                }
                Err(RecvTimeoutError::Disconnected) => break Err(ShardError::PollerGone),
                Ok(Err(SourceError::PositionLost { position, reason })) => {
                    break Ok(SessionEnd::Blocked(position_lost(&meta, position, reason)));
                }
                Ok(Err(e)) => break Err(e.into()),
                Ok(Ok(batch)) => batch,
            };
            let closed = batch.closed;
            match self.process(instance, batch, &commit_tx, &pipeline) {
                Ok(None) if closed => break Ok(SessionEnd::Closed),
                Ok(None) => {}
                Ok(Some(blocked)) => break Ok(SessionEnd::Blocked(blocked)),
                Err(e) => break Err(e),
            }
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

    /// Decodes and plans one batch and hands it to the committer. Returns
    /// where it blocked, if it did.
    fn process(
        &self,
        instance: &mut PluginInstance,
        batch: Batch,
        commits: &SyncSender<Planned>,
        pipeline: &Pipeline,
    ) -> Result<Option<BlockedAt>, ShardError> {
        if batch.messages.is_empty() {
            if batch.caught_up {
                // Idle once everything before it is committed.
                pipeline.send(commits, Planned { commit: None, last_timestamp_ms: None, caught_up: true })?;
            }
            return Ok(None);
        }
        let shard = self.control.shard;
        pipeline.begin_batch(&self.control);
        self.control.set_state(PollerState::Processing);
        if let Some(plugin) = self.control.take_pending_plugin() {
            // A batch boundary: nothing of this batch was decoded yet.
            match plugin.instantiate(&self.plugin_config) {
                Ok(new) => {
                    tracing::info!(shard, plugin = plugin.name(), "plugin swapped");
                    *instance = new;
                }
                Err(e) => {
                    tracing::error!(shard, error = %e, "plugin swap failed; keeping the current plugin");
                    self.control.record_error(None, format!("plugin swap failed: {e}"));
                }
            }
        }
        let outcomes = instance.decode(shard, &batch.messages)?;
        let strategy = self.control.settings().error_strategy;
        let plan = plan(shard, &batch.messages, outcomes, strategy);
        drop(batch.messages);
        let planned = Planned {
            commit: plan.commit,
            last_timestamp_ms: plan.last_timestamp_ms,
            caught_up: batch.caught_up && plan.blocked.is_none(),
        };
        pipeline.send_counted(commits, planned)?;
        if plan.blocked.is_some() {
            return Ok(plan.blocked);
        }
        self.control.set_state(PollerState::Polling);
        Ok(None)
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
            loop {
                match planned.try_recv() {
                    Ok(item) => items.push(item),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
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
