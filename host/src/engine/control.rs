//! The shared state of one running shard: what controllers change (pause,
//! error policy, batch size, resets) and what the shard reports (its state,
//! committed meta, errors). Changes wake the shard through a condvar.

use super::poll_stats::{PollRecorder, PollStats, PollStatsReport};
use crate::plugin::CompiledPlugin;
use crate::pointer::{Pointer, StartPosition};
use crate::sink::SinkMeta;
use crate::spec::ErrorStrategy;
use serde::{Deserialize, Serialize};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What a shard's poller is doing, with OpenSearch's state names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PollerState {
    /// Opening its sink and source.
    Starting,
    /// Waiting for messages.
    Polling,
    /// Decoding and committing a batch.
    Processing,
    Paused,
    /// Stopped at an invalid message under the `BLOCK` policy.
    Blocked,
    /// Failed (source, sink or plugin) and retrying with backoff.
    Retrying,
    /// Stopped for good.
    Closed,
    /// Not run by this host: another host of the cluster holds its lease
    /// (or none does yet). See [`ShardStatus::lease`].
    Elsewhere,
}

/// Settings that change while the shard runs, without a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicSettings {
    pub error_strategy: ErrorStrategy,
    pub max_batch_size: usize,
    pub poll_timeout: Duration,
    /// `index.gc_deletes`: delete tombstones older than this are removed
    /// from the sink; `None`: kept forever.
    pub gc_deletes: Option<Duration>,
    /// Druid's `maxParseExceptions`: under `DROP`, the shard blocks at the
    /// message that would make its parse exceptions exceed it.
    pub max_parse_exceptions: Option<u64>,
    /// How long a reference time (a task period) lasts: Druid's `taskDuration`.
    pub task_duration: Duration,
}

/// Where a shard is blocked and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockedAt {
    pub pointer: Pointer,
    pub reason: String,
    pub cause: BlockCause,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockCause {
    /// A message failed under `BLOCK`: switching to `DROP` or a reset clears it.
    InvalidMessage,
    /// The resume position is gone from the stream: only a reset clears it.
    PositionLost,
}

/// The last error a shard met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub pointer: Option<Pointer>,
    pub message: String,
    pub at_ms: i64,
}

/// A snapshot of a shard, for display and the control plane.
#[derive(Clone, Debug, Serialize)]
pub struct ShardStatus {
    pub shard: u32,
    pub state: PollerState,
    pub paused: bool,
    pub error_strategy: ErrorStrategy,
    /// Caught up with its partition and everything read is committed.
    pub idle: bool,
    pub blocked: Option<BlockedAt>,
    pub last_error: Option<LastError>,
    /// The sink's committed meta (checkpoint, counters, live documents).
    pub meta: SinkMeta,
    pub consumer: ConsumerStats,
    /// Poll statistics (saved at an interval, not committed with the data).
    pub poll: PollStatsReport,
    /// In a cluster: who holds the shard's lease, under which epoch.
    pub lease: Option<ShardLease>,
    /// This host's writer was fenced out (another host took the shard over).
    pub fenced: bool,
}

/// The lease a shard runs under in a cluster of hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShardLease {
    /// The host id holding it (empty: nobody).
    pub owner: String,
    /// Incremented on every acquisition; the sink refuses older writers.
    pub epoch: u64,
    /// When it expires unless renewed (ms since the epoch, Redis' clock; 0: unknown).
    pub expires_at_ms: i64,
}

/// Poller-side counters (they count reads, not effects; saved with the poll
/// statistics at an interval, not committed with the data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerStats {
    pub total_polled_count: u64,
    pub total_consumer_error_count: u64,
    /// ms between now and the timestamp of the last processed message, or
    /// the source's own time lag when it reports one.
    pub lag_in_millis: u64,
    /// Messages behind the end of the partition, when the source knows.
    pub pointer_based_lag: Option<u64>,
}

struct Inner {
    state: PollerState,
    paused: bool,
    stop: bool,
    settings: DynamicSettings,
    idle: bool,
    blocked: Option<BlockedAt>,
    last_error: Option<LastError>,
    pending_reset: Option<StartPosition>,
    meta: SinkMeta,
    last_message_ts: Option<i64>,
    pointer_lag: Option<u64>,
    time_lag_ms: Option<u64>,
    /// A plugin to switch to at the next batch boundary.
    pending_plugin: Option<CompiledPlugin>,
    /// The lease epoch the shard runs under here, in a cluster.
    epoch: Option<u64>,
    /// The sink refused this host's write: another host runs the shard.
    fenced: bool,
    /// Bumped by every control change, so a waiting shard sees it.
    generation: u64,
}

/// One shard's control block, shared between its threads and controllers.
pub struct ShardControl {
    pub shard: u32,
    inner: Mutex<Inner>,
    changed: Condvar,
    poll: Mutex<PollRecorder>,
    /// Called on every change a controller makes: wakes the running
    /// session's threads, which otherwise wait long while the shard is idle.
    session_waker: Mutex<Option<SessionWaker>>,
}

/// Wakes a session's waiting threads (see [`ShardControl::set_session_waker`]).
pub(super) type SessionWaker = Box<dyn Fn() + Send + Sync>;

impl ShardControl {
    pub fn new(shard: u32, settings: DynamicSettings, paused: bool, meta: SinkMeta) -> Self {
        ShardControl {
            shard,
            inner: Mutex::new(Inner {
                state: PollerState::Starting,
                paused,
                stop: false,
                settings,
                idle: false,
                blocked: None,
                last_error: None,
                pending_reset: None,
                meta,
                last_message_ts: None,
                pointer_lag: None,
                time_lag_ms: None,
                pending_plugin: None,
                epoch: None,
                fenced: false,
                generation: 0,
            }),
            changed: Condvar::new(),
            poll: Mutex::new(PollRecorder::default()),
            session_waker: Mutex::new(None),
        }
    }

    /// Continues from saved poll statistics and last error (a restart).
    pub fn restore(&self, stats: PollStats, last_error: Option<LastError>) {
        *self.poll_lock() = PollRecorder::restored(stats);
        if last_error.is_some() {
            self.lock().last_error = last_error;
        }
    }

    fn poll_lock(&self) -> MutexGuard<'_, PollRecorder> {
        self.poll.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn change(&self, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.lock();
        f(&mut inner);
        inner.generation += 1;
        drop(inner);
        self.changed.notify_all();
        self.wake_session();
    }

    /// Installs (or, with `None`, removes) the running session's waker.
    pub(super) fn set_session_waker(&self, waker: Option<SessionWaker>) {
        *self.session_waker.lock().unwrap_or_else(|p| p.into_inner()) = waker;
    }

    /// Wakes the running session's poller and processor (see `set_session_waker`).
    pub(super) fn wake_session(&self) {
        if let Some(wake) = self.session_waker.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            wake();
        }
    }

    pub fn status(&self) -> ShardStatus {
        let inner = self.lock();
        let lag = inner
            .time_lag_ms
            .unwrap_or_else(|| inner.last_message_ts.map(|ts| (crate::util::now_ms() - ts).max(0) as u64).unwrap_or(0));
        let poll = self.poll_lock().report();
        ShardStatus {
            shard: self.shard,
            state: inner.state,
            paused: inner.paused,
            error_strategy: inner.settings.error_strategy,
            idle: inner.idle,
            blocked: inner.blocked.clone(),
            last_error: inner.last_error.clone(),
            meta: inner.meta.clone(),
            consumer: ConsumerStats {
                total_polled_count: poll.stats.total_documents_fetched,
                total_consumer_error_count: poll.stats.consumer_error_count,
                lag_in_millis: lag,
                pointer_based_lag: inner.pointer_lag,
            },
            poll,
            lease: inner.epoch.map(|epoch| ShardLease { owner: String::new(), epoch, expires_at_ms: 0 }),
            fenced: inner.fenced,
        }
    }

    // --- controller side ---

    pub fn pause(&self) {
        self.change(|i| {
            i.paused = true;
            i.idle = false;
        });
    }

    /// Resumes; with `reset`, the shard's sink checkpoint moves there first.
    pub fn resume(&self, reset: Option<StartPosition>) {
        self.change(|i| {
            i.paused = false;
            if reset.is_some() {
                i.pending_reset = reset;
                // A reset moves past (or back before) the blocking message.
                i.blocked = None;
            }
        });
    }

    /// Moves the shard's checkpoint to `position` without changing whether
    /// it is paused: a running shard ends its session at the next batch
    /// boundary (what is in flight is committed first), writes the position,
    /// and goes on from there; a paused one writes it and stays paused.
    pub fn reset(&self, position: StartPosition) {
        self.change(|i| {
            i.pending_reset = Some(position);
            i.blocked = None;
            i.idle = false;
        });
    }

    pub fn set_settings(&self, settings: DynamicSettings) {
        self.change(|i| {
            i.settings = settings;
            // Under DROP a shard blocked by a message goes on: it will drop
            // the message it stopped at. A lost position still needs a reset.
            if settings.error_strategy == ErrorStrategy::Drop
                && i.blocked.as_ref().is_some_and(|b| b.cause == BlockCause::InvalidMessage)
            {
                i.blocked = None;
            }
        });
    }

    /// Switches the shard to `plugin` before its next batch: every message is
    /// decoded by exactly one plugin version.
    pub fn swap_plugin(&self, plugin: CompiledPlugin) {
        self.change(|i| i.pending_plugin = Some(plugin));
    }

    pub fn take_pending_plugin(&self) -> Option<CompiledPlugin> {
        self.lock().pending_plugin.take()
    }

    pub fn stop(&self) {
        self.change(|i| i.stop = true);
    }

    /// Makes a stopped shard's control ready for a new worker (a cluster
    /// host taking the shard's lease again), under lease `epoch`, from the
    /// sink's `meta`. Statistics and settings carry on.
    pub fn rearm(&self, meta: SinkMeta, epoch: Option<u64>) {
        self.change(|i| {
            i.stop = false;
            i.fenced = false;
            i.epoch = epoch;
            i.meta = meta;
            i.idle = false;
            i.state = PollerState::Starting;
        });
    }

    /// The worker ended and the shard does not run on this host.
    pub fn set_elsewhere(&self) {
        self.change(|i| {
            i.state = PollerState::Elsewhere;
            i.epoch = None;
            i.idle = false;
        });
    }

    /// The sink refused a write of this host (fenced out).
    pub fn set_fenced(&self) {
        self.change(|i| i.fenced = true);
    }

    pub fn is_fenced(&self) -> bool {
        self.lock().fenced
    }

    // --- shard side ---

    pub fn settings(&self) -> DynamicSettings {
        self.lock().settings
    }

    pub fn should_stop(&self) -> bool {
        self.lock().stop
    }

    /// True when the current session must end: stop, pause or a pending reset.
    pub fn should_end_session(&self) -> bool {
        let i = self.lock();
        i.stop || i.paused || i.pending_reset.is_some()
    }

    pub fn set_state(&self, state: PollerState) {
        let mut i = self.lock();
        if i.state != state {
            i.state = state;
            drop(i);
            self.changed.notify_all();
        }
    }

    /// Caught up and everything read is committed.
    pub fn is_idle(&self) -> bool {
        self.lock().idle
    }

    pub fn set_idle(&self, idle: bool) {
        let mut i = self.lock();
        if i.idle != idle {
            i.idle = idle;
            drop(i);
            self.changed.notify_all();
        }
    }

    pub fn committed(&self, meta: SinkMeta, last_message_ts: Option<i64>) {
        let mut i = self.lock();
        i.meta = meta;
        if last_message_ts.is_some() {
            i.last_message_ts = last_message_ts;
        }
    }

    pub fn set_blocked(&self, blocked: Option<BlockedAt>) {
        self.change(|i| {
            if let Some(b) = &blocked {
                self.poll_lock().error();
                i.last_error = Some(LastError {
                    pointer: Some(b.pointer.clone()),
                    message: b.reason.clone(),
                    at_ms: crate::util::now_ms(),
                });
            }
            i.blocked = blocked;
        });
    }

    pub fn record_error(&self, pointer: Option<Pointer>, message: String) {
        self.poll_lock().error();
        self.change(|i| i.last_error = Some(LastError { pointer, message, at_ms: crate::util::now_ms() }));
    }

    /// Records the source's view of how far behind the shard is.
    pub fn set_source_lag(&self, pointer_lag: Option<u64>, time_lag_ms: Option<u64>) {
        let mut i = self.lock();
        if pointer_lag.is_some() {
            i.pointer_lag = pointer_lag;
        }
        if time_lag_ms.is_some() {
            i.time_lag_ms = time_lag_ms;
        }
    }

    /// A poll returned `messages` messages of `bytes` payload bytes (0 and 0: an empty poll).
    pub fn record_poll(&self, messages: u64, bytes: u64) {
        self.poll_lock().poll(messages, bytes, crate::util::now_ms());
    }

    /// A poll failed.
    pub fn record_poll_failed(&self) {
        self.poll_lock().poll_failed(crate::util::now_ms());
    }

    /// Batches durably committed, with each one's time from its arrival at
    /// the processor to the end of its commit.
    pub fn record_batches(&self, times: &[Duration]) {
        if !times.is_empty() {
            self.poll_lock().batches(times);
        }
    }

    /// The poll counters now (what the manager saves).
    pub fn poll_stats(&self) -> PollStats {
        self.poll_lock().stats().clone()
    }

    /// The reset waiting to be applied. It stays pending until
    /// [`ShardControl::reset_done`], so a failed reset is retried.
    pub fn pending_reset(&self) -> Option<StartPosition> {
        self.lock().pending_reset.clone()
    }

    /// `position` is durably in the sink: clears it, unless a newer reset
    /// replaced it meanwhile.
    pub fn reset_done(&self, position: &StartPosition) {
        self.change(|i| {
            if i.pending_reset.as_ref() == Some(position) {
                i.pending_reset = None;
            }
        });
    }

    /// Waits until no reset is pending (each one durably applied), at most
    /// `timeout`; false if one still is.
    pub fn wait_reset_applied(&self, timeout: Duration) -> bool {
        let i = self.lock();
        let (i, _) = self
            .changed
            .wait_timeout_while(i, timeout, |i| i.pending_reset.is_some())
            .unwrap_or_else(|p| p.into_inner());
        i.pending_reset.is_none()
    }

    /// What the supervisor should do next.
    pub fn next_step(&self) -> Step {
        let i = self.lock();
        if i.stop {
            Step::Stop
        } else if i.pending_reset.is_some() && i.paused {
            // A reset is applied while paused, so that it is in effect at resume.
            Step::Reset
        } else if i.paused {
            Step::Wait(PollerState::Paused)
        } else if i.pending_reset.is_some() {
            Step::Reset
        } else if i
            .blocked
            .as_ref()
            .is_some_and(|b| b.cause == BlockCause::PositionLost || i.settings.error_strategy == ErrorStrategy::Block)
        {
            Step::Wait(PollerState::Blocked)
        } else {
            Step::Run
        }
    }

    /// Waits until a controller changes something, or `timeout` passes.
    pub fn wait_for_change(&self, timeout: Duration) {
        let i = self.lock();
        let generation = i.generation;
        let _ = self.changed.wait_timeout_while(i, timeout, |i| i.generation == generation);
    }

    /// Waits until `pred` holds for this shard's status or `timeout` passes.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&ShardStatus) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if pred(&self.status()) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let i = self.lock();
            let _ = self.changed.wait_timeout(i, (deadline - now).min(Duration::from_millis(50)));
        }
    }
}

/// The supervisor's next move.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Run,
    Reset,
    Wait(PollerState),
    Stop,
}
