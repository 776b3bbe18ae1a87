//! A session: one run of a shard's pipeline from the sink's checkpoint.
//!
//! The poller thread pulls batches into a bounded queue, the processor (this
//! thread) hands them to the decoders and the decoded batches, in order, to
//! the committer thread. Decoding batch n+1 overlaps the durable commit of
//! batch n. A session ends on stop, pause, reset, a blocking message or an
//! error, and only once its committer has committed everything handed to it
//! (or failed). Everything not committed is simply read again by the next
//! session, so nothing is lost or doubled.

use super::committer::{Committer, Pipeline, Planned};
use super::control::{BlockCause, BlockedAt, PollerState};
use super::decoders::{BatchContext, Decoders};
use super::poller::{Polled, poll_loop};
use super::processor::parse_exceptions;
use super::shard_error::ShardError;
use super::supervisor::ShardWorker;
use crate::plugin::PluginInstance;
use crate::pointer::StartPosition;
use crate::sink::SinkMeta;
use crate::source::{Batch, SourceError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

/// Planned batches that may wait for the committer. More waiting batches make
/// bigger group commits when the sink is slower than decoding; each holds up
/// to `poll.max_batch_size` decoded messages.
const COMMIT_QUEUE_BATCHES: usize = 4;
/// The longest the processor waits for the poller while no decoder works:
/// a controller's change wakes it at once (the session waker), and it
/// comes back when the task period ends (see `idle_wait`), so an idle
/// shard's processor wakes up rarely.
const IDLE_WAIT: Duration = Duration::from_secs(60);
/// How often the end of a session wakes its poller again until it is gone.
const POLLER_EXIT_CHECK: Duration = Duration::from_millis(2);

/// The poller's queue and its thread.
type FromPoller<'a> = (&'a Receiver<Polled>, &'a std::thread::JoinHandle<()>);

pub(super) enum SessionEnd {
    /// Stop, pause or reset requested.
    Interrupted,
    Blocked(BlockedAt),
    /// The partition is closed for good and fully committed.
    Closed,
}

impl ShardWorker {
    pub(super) fn session(&self, instances: &mut [PluginInstance]) -> Result<SessionEnd, ShardError> {
        let shard = self.control.shard;
        self.control.set_state(PollerState::Starting);
        let mut meta = self.sink.meta()?;
        if meta.reference_time_ms.is_none() {
            // Durable before any message is decoded against it.
            self.sink.set_reference_time(crate::util::now_ms())?;
            meta = self.sink.meta()?;
        }
        let start = meta.resume.clone().unwrap_or_else(|| self.init_reset.clone());
        let start = at_least_once_for_tests(start);
        tracing::debug!(shard, %start, "session starts");
        let reader = match self.source.open(shard, start.clone()) {
            Err(SourceError::PositionLost { position, reason }) => {
                return Ok(SessionEnd::Blocked(position_lost(&meta, position, reason)));
            }
            other => other?,
        };
        let (tx, rx) = sync_channel(self.queue_batches.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        // A controller's change wakes the poller (if its reader waits for
        // data) and the processor, which both wait long while idle.
        let reader_wakeup = reader.wakeup();
        {
            let (wakeup, tx) = (reader_wakeup.clone(), tx.clone());
            self.control.set_session_waker(Some(Box::new(move || {
                if let Some(w) = &wakeup {
                    w.wake();
                }
                // A full queue wakes the processor anyway.
                let _ = tx.try_send(Polled::Wake);
            })));
        }
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
        let result = std::thread::scope(|scope| {
            let mut decoders = Decoders::start(scope, instances, &self.control, &self.plugin_config);
            let end = self.process(&mut decoders, &meta, (&rx, &poller), &commit_tx, &pipeline);
            decoders.finish();
            end
        });
        stop.store(true, Ordering::Relaxed);
        self.control.set_session_waker(None);
        if let Some(w) = &reader_wakeup {
            w.wake(); // the poller stops waiting for data
        }
        drop(rx); // unblocks a poller waiting on a full queue
        // The committer commits what was already planned, then ends: the
        // session is over only when nothing of it can still be committed.
        drop(commit_tx);
        let _ = committer.join();
        // Wake until the poller is gone: a wake that lands between its
        // look at `stop` and the start of its wait is not seen by that wait
        // (the reader counts wakes from when its poll began), which left a
        // blocked or paused shard waiting out the poller's 30 s wait.
        while !poller.is_finished() {
            if let Some(w) = &reader_wakeup {
                w.wake();
            }
            std::thread::sleep(POLLER_EXIT_CHECK);
        }
        let _ = poller.join();
        match pipeline.take_error() {
            // A failed commit ends the session whatever else happened: it
            // resumes from the checkpoint that really is in the sink.
            Some(e) => Err(e.into()),
            None => result,
        }
    }

    /// The processor loop: batches from the poller go to the decoders, and
    /// decoded batches, in stream order, to the committer. A batch that
    /// blocks ends the session; later batches already decoded are dropped
    /// (read again by the next session).
    fn process(
        &self,
        decoders: &mut Decoders<'_>,
        meta: &SinkMeta,
        batches: FromPoller<'_>,
        commits: &SyncSender<Planned>,
        pipeline: &Pipeline,
    ) -> Result<SessionEnd, ShardError> {
        let mut reference_time_ms = meta.reference_time_ms.expect("set when the session started");
        let mut parse_exceptions = parse_exceptions(&meta.counters);
        loop {
            // Hand decoded batches to the committer, in order (waiting
            // when every decoder is busy).
            while let Some(result) = decoders.next() {
                let mut decoded = result?;
                // maxParseExceptions, counted in stream order.
                if let Some(max) = self.control.settings().max_parse_exceptions {
                    let allowed = max.saturating_sub(parse_exceptions) as usize;
                    if decoded.exceptions.len() > allowed {
                        decoded.cut(allowed, max);
                    }
                }
                parse_exceptions += decoded.exceptions.len() as u64;
                if let Some(end) = pipeline.hand_over(commits, decoded)? {
                    return Ok(end);
                }
            }
            if decoders.in_flight() == 0 {
                self.control.set_state(PollerState::Polling);
                self.roll_over(pipeline, &mut reference_time_ms)?;
            }
            if self.control.should_end_session() || pipeline.failed() {
                // (a committer error is returned by the caller)
                return Ok(SessionEnd::Interrupted);
            }
            // While decoders work, come back soon to collect their results.
            let wait =
                if decoders.in_flight() > 0 { Duration::from_millis(1) } else { self.idle_wait(reference_time_ms) };
            let batch = match self.next_batch(meta, batches, wait) {
                Ok(Some(batch)) => batch,
                Ok(None) => continue,
                Err(end) => return end,
            };
            let arrived = std::time::Instant::now();
            let mut swap = None;
            if !batch.messages.is_empty() {
                pipeline.begin_batch(&self.control);
                self.control.set_state(PollerState::Processing);
                // A batch boundary: nothing of this batch was decoded yet.
                swap = self.control.take_pending_plugin();
            }
            let context = BatchContext { strategy: self.control.settings().error_strategy, reference_time_ms };
            decoders.dispatch(batch, arrived, context, swap)?;
        }
    }

    /// Starts a new task period once the current one is over, and only when
    /// everything decoded is committed and the source had nothing more: no
    /// message was ever decoded against the old reference time without
    /// being committed, so every message re-read after a crash is judged
    /// against the time it was first judged against. (A session that starts
    /// keeps the stored time for the same reason.) While a backlog lasts,
    /// the period is extended until the shard catches up.
    fn roll_over(&self, pipeline: &Pipeline, reference_time_ms: &mut i64) -> Result<(), ShardError> {
        // Cheapest first: most loop turns have work in flight.
        if !pipeline.all_committed() || !self.control.is_idle() {
            return Ok(());
        }
        let now = crate::util::now_ms();
        if now.saturating_sub(*reference_time_ms) >= self.control.settings().task_duration.as_millis() as i64 {
            self.sink.set_reference_time(now)?;
            tracing::debug!(shard = self.control.shard, reference_time_ms = now, "a new task period starts");
            *reference_time_ms = now;
        }
        Ok(())
    }

    /// How long an idle processor may wait: until its task period ends
    /// (then [`Self::roll_over`] starts the next), at most [`IDLE_WAIT`];
    /// 100 ms while an ended period waits for the shard to be idle.
    fn idle_wait(&self, reference_time_ms: i64) -> Duration {
        let period = self.control.settings().task_duration.as_millis().min(i64::MAX as u128) as i64;
        let left = reference_time_ms.saturating_add(period).saturating_sub(crate::util::now_ms());
        if left <= 0 {
            return Duration::from_millis(100);
        }
        Duration::from_millis(left as u64).min(IDLE_WAIT)
    }

    /// The next batch from the poller; `Err` ends the session.
    fn next_batch(
        &self,
        meta: &SinkMeta,
        (batches, poller): FromPoller<'_>,
        wait: Duration,
    ) -> Result<Option<Batch>, Result<SessionEnd, ShardError>> {
        let received = match batches.recv_timeout(wait) {
            // The session's waker holds a sender too, so a poller that
            // ended (or died) never disconnects the queue: look at it.
            Err(RecvTimeoutError::Timeout) if poller.is_finished() => {
                batches.try_recv().map_err(|_| RecvTimeoutError::Disconnected)
            }
            other => other,
        };
        match received {
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) if self.control.should_end_session() => {
                Err(Ok(SessionEnd::Interrupted))
            }
            Err(RecvTimeoutError::Disconnected) => Err(Err(ShardError::PollerGone)),
            Ok(Polled::Wake) => Ok(None),
            Ok(Polled::Failed(SourceError::PositionLost { position, reason })) => {
                Err(Ok(SessionEnd::Blocked(position_lost(meta, position, reason))))
            }
            Ok(Polled::Failed(e)) => Err(Err(e.into())),
            Ok(Polled::Batch(batch)) => Ok(Some(batch)),
        }
    }
}

/// TEST ONLY: with `SLUICE_TEST_REPLAY_COMMITTED=<n>`, a session starts `n`
/// messages before its checkpoint, re-applying messages whose effects are
/// already committed: what an at-least-once consumer does when its offset
/// commit lags its writes. The crash tests use it to show what exactly-once
/// prevents (rollup counts events twice); nothing else sets it.
fn at_least_once_for_tests(start: StartPosition) -> StartPosition {
    let Some(n) = std::env::var("SLUICE_TEST_REPLAY_COMMITTED").ok().and_then(|v| v.parse::<u64>().ok()) else {
        return start;
    };
    match &start {
        StartPosition::After(p) => match p.as_u64() {
            Some(p) if p >= n => {
                tracing::warn!(replayed = n, "SLUICE_TEST_REPLAY_COMMITTED: replaying committed messages (test only)");
                StartPosition::After(crate::pointer::Pointer::from(p - n))
            }
            Some(_) => StartPosition::Earliest,
            None => start,
        },
        _ => start,
    }
}

/// The block of a shard whose resume position is gone from the stream.
fn position_lost(meta: &SinkMeta, position: String, reason: String) -> BlockedAt {
    BlockedAt {
        pointer: meta.last_pointer.clone().unwrap_or_default(),
        reason: format!("cannot resume at {position}: {reason}; resume the shard with a pointer reset"),
        cause: BlockCause::PositionLost,
    }
}
