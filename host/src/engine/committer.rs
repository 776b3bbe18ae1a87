//! The committer: the last stage of a session. It commits planned batches
//! to the sink strictly in order, merging the batches that wait for it into
//! one commit (a group commit: one sync for several batches). Between
//! commits it removes the tombstones older than `index.gc_deletes` from the
//! sink (the sink does it under its commit lock).

use super::control::ShardControl;
use super::session::SessionEnd;
use super::shard_error::ShardError;
use crate::sink::{CommitBatch, ShardSink, SinkError};
use crate::source::Source;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest the committer waits for a batch before it looks at the
/// tombstones' garbage collection (sooner when one is due): an idle shard's
/// committer wakes up rarely.
const GC_TICK: Duration = Duration::from_secs(60);

/// A planned batch on its way to the committer.
pub(super) struct Planned {
    /// `None` for a "caught up" report, or a batch that blocked at its first message.
    pub commit: Option<CommitBatch>,
    pub last_timestamp_ms: Option<i64>,
    /// The source had nothing more after this batch.
    pub caught_up: bool,
    /// When the batch (with messages) reached the processor: its processing
    /// time runs from there to the end of its commit.
    pub arrived: Option<Instant>,
}

/// A batch decoded and planned, before it goes to the committer.
pub(super) struct DecodedBatch {
    pub planned: Planned,
    pub blocked: Option<super::control::BlockedAt>,
    /// The partition ended with this batch.
    pub closed: bool,
    /// Whether [`Pipeline::begin_batch`] counted it (non-empty batches).
    pub counted: bool,
    /// Its parse exceptions, where `maxParseExceptions` may cut it.
    pub exceptions: Vec<super::processor::Cut>,
}

impl DecodedBatch {
    /// Cut before its `exception`th parse exception: the shard blocks there.
    pub fn cut(&mut self, exception: usize, max: u64) {
        let plan = super::processor::Plan {
            commit: self.planned.commit.take(),
            blocked: self.blocked.take(),
            last_timestamp_ms: self.planned.last_timestamp_ms,
            exceptions: std::mem::take(&mut self.exceptions),
        }
        .cut(exception, max);
        self.planned.commit = plan.commit;
        self.planned.last_timestamp_ms = plan.last_timestamp_ms;
        self.planned.caught_up = false;
        self.blocked = plan.blocked;
        self.closed = false;
    }
}

/// What the processor and the committer of one session share.
#[derive(Default)]
pub(super) struct Pipeline {
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
    pub fn begin_batch(&self, control: &ShardControl) {
        let mut n = self.lock();
        *n += 1;
        control.set_idle(false);
    }

    /// Hands a decoded batch to the committer. `Some`: the session ends
    /// after it (it blocked, or the partition ended).
    pub fn hand_over(
        &self,
        commits: &SyncSender<Planned>,
        decoded: DecodedBatch,
    ) -> Result<Option<SessionEnd>, ShardError> {
        // An empty batch (a "caught up" report) is counted now, a batch with
        // messages was counted when it arrived.
        if decoded.counted {
            commits.send(decoded.planned).map_err(|_| self.gone())?;
        } else if decoded.planned.caught_up || decoded.closed {
            *self.lock() += 1;
            commits.send(decoded.planned).map_err(|_| self.gone())?;
        }
        Ok(match (decoded.blocked, decoded.closed) {
            (Some(blocked), _) => Some(SessionEnd::Blocked(blocked)),
            (None, true) => Some(SessionEnd::Closed),
            (None, false) => None,
        })
    }

    /// The committer stopped (at an error): the session ends with that error.
    fn gone(&self) -> ShardError {
        match self.take_error() {
            Some(e) => e.into(),
            None => ShardError::CommitterGone,
        }
    }

    /// Everything handed to the committer is committed.
    pub fn all_committed(&self) -> bool {
        *self.lock() == 0
    }

    pub fn failed(&self) -> bool {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    pub fn take_error(&self) -> Option<SinkError> {
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

/// The committer thread of a session.
pub(super) struct Committer {
    pub control: Arc<ShardControl>,
    pub source: Arc<dyn Source>,
    pub sink: Arc<dyn ShardSink>,
    pub pipeline: Arc<Pipeline>,
}

impl Committer {
    pub fn run(self, planned: Receiver<Planned>) {
        let mut next_gc = Instant::now();
        loop {
            let wait = match self.control.settings().gc_deletes {
                Some(_) => next_gc.saturating_duration_since(Instant::now()).min(GC_TICK),
                None => GC_TICK,
            };
            let first = match planned.recv_timeout(wait) {
                Ok(first) => Some(first),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let Some(first) = first
                && !self.commit_waiting(first, &planned)
            {
                return;
            }
            self.collect_garbage(&mut next_gc);
        }
    }

    /// Removes tombstones older than `index.gc_deletes` when due: at most
    /// every half of it (between 100 ms and 30 s), sooner while a run finds
    /// a full batch. A failure is logged and retried at the next one.
    fn collect_garbage(&self, next: &mut Instant) {
        let Some(keep) = self.control.settings().gc_deletes else { return };
        let now = Instant::now();
        if now < *next {
            return;
        }
        let cutoff = crate::util::now_ms().saturating_sub(keep.as_millis().min(i64::MAX as u128) as i64);
        let every = (keep / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        *next = match self.sink.gc_tombstones(cutoff, crate::sink::GC_BATCH) {
            Ok(n) if n as usize == crate::sink::GC_BATCH => now,
            Ok(n) => {
                if n > 0 {
                    tracing::debug!(
                        shard = self.control.shard,
                        removed = n,
                        "tombstones past index.gc_deletes removed"
                    );
                }
                now + every
            }
            Err(e) => {
                tracing::warn!(shard = self.control.shard, error = %e, "removing old tombstones failed; retrying later");
                now + every
            }
        };
    }

    /// Commits `first` and every batch waiting behind it as one; false
    /// when the commit failed (the committer ends).
    fn commit_waiting(&self, first: Planned, planned: &Receiver<Planned>) -> bool {
        let shard = self.control.shard;
        let mut items = vec![first];
        // Everything that waits goes into the same commit.
        while let Ok(item) = planned.try_recv() {
            items.push(item);
        }
        let count = items.len();
        let caught_up = items.last().is_some_and(|i| i.caught_up);
        let mut merged: Option<CommitBatch> = None;
        let mut last_ts = None;
        let mut arrivals = Vec::new();
        for item in items {
            if item.last_timestamp_ms.is_some() {
                last_ts = item.last_timestamp_ms;
            }
            if let Some(next) = item.commit {
                arrivals.extend(item.arrived);
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
                    let done = Instant::now();
                    let times: Vec<_> = arrivals.iter().map(|a| done.saturating_duration_since(*a)).collect();
                    self.control.record_batches(&times);
                }
                Err(e) => {
                    // Nothing after a failed commit may be committed:
                    // stop here; the session ends and starts over from
                    // the sink's checkpoint.
                    *self.pipeline.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    // The processor may be waiting long for a batch: it ends the session now.
                    self.control.wake_session();
                    return false;
                }
            }
        }
        self.pipeline.done(&self.control, count, caught_up);
        true
    }
}
