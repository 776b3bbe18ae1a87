//! One shard at work: a supervisor loop around sessions.
//!
//! A session reads from the sink's checkpoint: a poller thread pulls batches
//! from the partition into a bounded queue (a full queue blocks the poller,
//! leaving the backlog in the stream), and the processor decodes each batch
//! through the plugin, plans it under the error policy and commits it to the
//! sink with its last pointer. A session ends on stop, pause, reset, a
//! blocking message or an error; the supervisor then waits, applies the reset,
//! or retries with backoff, and starts a new session from the checkpoint.
//! Everything not committed is simply read again, so nothing is lost or doubled.

use super::control::{BlockCause, BlockedAt, PollerState, ShardControl, Step};
use super::processor::plan;
use crate::plugin::{CompiledPlugin, PluginError, PluginInstance};
use crate::pointer::StartPosition;
use crate::sink::{ShardSink, SinkError};
use crate::source::{Batch, PartitionReader, Source, SourceError};
use crate::spec::InitReset;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest a poller waits inside a source before checking for stop/pause.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

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
        self.control.set_state(PollerState::Polling);
        let result = loop {
            if self.control.should_end_session() {
                break Ok(SessionEnd::Interrupted);
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
            match self.process(instance, batch) {
                Ok(None) if closed => break Ok(SessionEnd::Closed),
                Ok(None) => {}
                Ok(Some(blocked)) => break Ok(SessionEnd::Blocked(blocked)),
                Err(e) => break Err(e),
            }
        };
        stop.store(true, Ordering::Relaxed);
        drop(rx); // unblocks a poller waiting on a full queue
        let _ = poller.join();
        result
    }

    /// Decodes, plans and commits one batch. Returns where it blocked, if it did.
    fn process(&self, instance: &mut PluginInstance, batch: Batch) -> Result<Option<BlockedAt>, ShardError> {
        if batch.messages.is_empty() {
            self.control.set_idle(batch.caught_up);
            return Ok(None);
        }
        let shard = self.control.shard;
        self.control.set_idle(false);
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
        if let Some(commit) = plan.commit {
            let meta = self.sink.commit(commit)?;
            if let Some(p) = &meta.last_pointer {
                self.source.on_committed(shard, p);
            }
            self.control.committed(meta, plan.last_timestamp_ms);
        }
        if plan.blocked.is_some() {
            return Ok(plan.blocked);
        }
        self.control.set_state(PollerState::Polling);
        if batch.caught_up {
            self.control.set_idle(true);
        }
        Ok(None)
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
