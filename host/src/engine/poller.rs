//! The poller: the first stage of a session. It reads batches from the
//! partition into a bounded queue; a full queue blocks it, so the backlog
//! stays in the stream (backpressure).

use super::control::ShardControl;
use crate::source::{Batch, PartitionReader, SourceError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// The longest a poller waits inside a source before checking for stop/pause.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long a poll waits on a reader the engine can wake (see
/// [`PartitionReader::wakeup`]), once the shard has caught up, whatever
/// `poll.timeout` says: data and a stop or pause wake it, so a long wait
/// costs no latency, and an idle shard's poller wakes up rarely (1,000 idle
/// shards must cost under 2% of a core; each wake here costs ~0.1 ms of CPU,
/// measured with `cargo bench -p sluice-bench`, stage `idle1000`).
const WAKEABLE_WAIT: Duration = Duration::from_secs(30);

/// What the poller hands the processor.
pub(super) enum Polled {
    Batch(Batch),
    Failed(SourceError),
    /// Nothing read: the shard's control changed, look at it.
    Wake,
}

/// Reads batches into `tx` until told to stop, the queue's reader goes
/// away, the partition closes, or the source fails (the error is sent on).
pub(super) fn poll_loop(
    mut reader: Box<dyn PartitionReader>,
    control: &ShardControl,
    tx: &SyncSender<Polled>,
    stop: &AtomicBool,
) {
    let wakeable = reader.wakeup().is_some();
    // Empty polls are counted, but only worth sending once, to report "caught up".
    let mut reported_caught_up = false;
    while !stop.load(Ordering::Relaxed) && !control.should_end_session() {
        let settings = control.settings();
        // Waits are sliced so that a stop or pause is noticed quickly (a
        // wakeable reader is woken instead); an empty poll costs nothing.
        // Until the shard has reported that it caught up, short waits: the
        // first empty poll says so (idle: everything read is committed).
        let slice = settings.poll_timeout.min(STOP_CHECK_INTERVAL);
        let wait = if wakeable && reported_caught_up { WAKEABLE_WAIT } else { slice };
        match reader.poll(settings.max_batch_size, wait) {
            Ok(batch) => {
                control.set_source_lag(batch.pointer_lag, batch.time_lag_ms);
                // Every poll counts in the statistics, an empty one too.
                let bytes: usize = batch.messages.iter().map(|m| m.payload.as_ref().map_or(0, Vec::len)).sum();
                control.record_poll(batch.messages.len() as u64, bytes as u64);
                let closed = batch.closed;
                if batch.messages.is_empty() && !closed {
                    if !batch.caught_up || reported_caught_up {
                        continue;
                    }
                    reported_caught_up = true;
                } else {
                    reported_caught_up = batch.caught_up;
                }
                // A closed partition has nothing more: the poller ends.
                if tx.send(Polled::Batch(batch)).is_err() || closed {
                    return;
                }
            }
            Err(e) => {
                control.record_poll_failed();
                let _ = tx.send(Polled::Failed(e));
                return;
            }
        }
    }
}
