//! The committer: the last stage of a session. It commits planned batches
//! to the sink strictly in order, merging the batches that wait for it into
//! one commit (a group commit: one sync for several batches).

use super::control::ShardControl;
use super::session::SessionEnd;
use super::shard_error::ShardError;
use crate::sink::{CommitBatch, ShardSink, SinkError};
use crate::source::Source;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// A planned batch on its way to the committer.
pub(super) struct Planned {
    /// `None` for a "caught up" report, or a batch that blocked at its first message.
    pub commit: Option<CommitBatch>,
    pub last_timestamp_ms: Option<i64>,
    /// The source had nothing more after this batch.
    pub caught_up: bool,
}

/// A batch decoded and planned, before it goes to the committer.
pub(super) struct DecodedBatch {
    pub planned: Planned,
    pub blocked: Option<super::control::BlockedAt>,
    /// The partition ended with this batch.
    pub closed: bool,
    /// Whether [`Pipeline::begin_batch`] counted it (non-empty batches).
    pub counted: bool,
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
