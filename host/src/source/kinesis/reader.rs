//! Reading one shard: shard iterators, GetRecords within the service
//! limits, throttling and expiry, and the records as messages.

use super::client::{Fault, classify, list_shards, partition_map};
use super::{
    FIRST_THROTTLE_BACKOFF, MAX_IDLE_INTERVAL, MAX_RECORDS_PER_CALL, MAX_THROTTLE_BACKOFF, MIN_CALL_INTERVAL,
    RELIST_INTERVAL,
};
use crate::pointer::{Pointer, StartPosition};
use crate::source::{Batch, Message, PartitionReader, SourceError};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

/// Where a new shard iterator points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Position {
    TrimHorizon,
    Latest,
    AtSequence(String),
    AfterSequence(String),
    AtTimestamp(i64),
}

/// What an in-flight call came back with.
enum CallResult {
    /// GetShardIterator failed.
    NoIterator(SdkError<GetShardIteratorError>),
    /// GetRecords ran with `iterator` (kept if the call must be retried).
    Records { iterator: String, result: Result<GetRecordsOutput, SdkError<GetRecordsError>> },
}

/// A call running on the runtime, outliving polls until it answers.
pub(super) struct Pending {
    rx: mpsc::Receiver<CallResult>,
    task: AbortHandle,
    /// How many records it asked for.
    limit: usize,
}

pub(super) struct KinesisReader {
    pub(super) partition: u32,
    pub(super) stream: String,
    pub(super) client: Client,
    pub(super) handle: Handle,
    /// `None` while the shard does not exist yet.
    pub(super) shard_id: Option<String>,
    /// As opened, for error messages.
    pub(super) start: StartPosition,
    /// Where the next shard iterator must point.
    pub(super) position: Position,
    /// Resuming after `p`: the first record read must be `p` itself.
    pub(super) verify: Option<Pointer>,
    pub(super) iterator: Option<String>,
    pub(super) pending: Option<Pending>,
    /// Read but not yet returned (a poll's `max` shrank below a call's limit).
    pub(super) buffered: VecDeque<Message>,
    /// No GetRecords call before this.
    pub(super) next_call: Instant,
    pub(super) idle_interval: Duration,
    pub(super) throttle_backoff: Duration,
    /// When a reader without a shard lists the shards again.
    pub(super) next_list: Instant,
    pub(super) caught_up: bool,
    /// The shard is closed and fully read.
    pub(super) closed: bool,
    pub(super) time_lag_ms: Option<u64>,
}

impl Drop for KinesisReader {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.task.abort();
        }
    }
}

impl KinesisReader {
    fn shard_name(&self) -> &str {
        self.shard_id.as_deref().unwrap_or("(not yet created)")
    }

    fn unavailable(&self, what: &str) -> SourceError {
        SourceError::Unavailable(format!("kinesis stream {:?} shard {}: {what}", self.stream, self.shard_name()))
    }

    fn empty(&self) -> Batch {
        Batch { caught_up: self.caught_up, time_lag_ms: self.time_lag_ms, ..Batch::default() }
    }

    /// Up to `max` buffered messages.
    fn take(&mut self, max: usize) -> Batch {
        let n = max.max(1).min(self.buffered.len());
        let messages: Vec<Message> = self.buffered.drain(..n).collect();
        let done = self.buffered.is_empty();
        Batch {
            messages,
            caught_up: done && self.caught_up,
            time_lag_ms: self.time_lag_ms,
            closed: done && self.closed,
            ..Batch::default()
        }
    }

    /// Starts GetShardIterator (if needed) + GetRecords on the runtime.
    fn start_call(&mut self, shard_id: String, limit: usize) {
        let (client, stream) = (self.client.clone(), self.stream.clone());
        let (iterator, position) = (self.iterator.take(), self.position.clone());
        // Calls start at least MIN_CALL_INTERVAL apart, whatever they answer.
        self.next_call = Instant::now() + MIN_CALL_INTERVAL;
        let (tx, rx) = mpsc::sync_channel(1);
        let task = self.handle.spawn(async move {
            let iterator = match iterator {
                Some(it) => it,
                None => {
                    let mut request = client.get_shard_iterator().stream_name(&stream).shard_id(&shard_id);
                    request = match position {
                        Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                        Position::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
                        Position::AtSequence(s) => {
                            request.shard_iterator_type(ShardIteratorType::AtSequenceNumber).starting_sequence_number(s)
                        }
                        Position::AfterSequence(s) => request
                            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                            .starting_sequence_number(s),
                        Position::AtTimestamp(ms) => request
                            .shard_iterator_type(ShardIteratorType::AtTimestamp)
                            .timestamp(DateTime::from_millis(ms)),
                    };
                    match request.send().await {
                        // A successful answer always has an iterator; an
                        // empty one is refused by GetRecords and reported.
                        Ok(out) => out.shard_iterator.unwrap_or_default(),
                        Err(e) => {
                            let _ = tx.send(CallResult::NoIterator(e));
                            return;
                        }
                    }
                }
            };
            let result = client.get_records().shard_iterator(&iterator).limit(limit as i32).send().await;
            let _ = tx.send(CallResult::Records { iterator, result });
        });
        self.pending = Some(Pending { rx, task: task.abort_handle(), limit });
    }

    /// Applies a call's result: buffers records, moves the iterator, or
    /// schedules a retry. Errors end the session.
    fn handle(&mut self, result: CallResult, limit: usize) -> Result<(), SourceError> {
        let now = Instant::now();
        match result {
            CallResult::NoIterator(e) => match classify(&e) {
                Fault::Throttled(text) => self.throttled(now, &text),
                Fault::InvalidArgument(text) => match &self.position {
                    // The sequence number is not in this shard: trimmed, or
                    // from a stream that was deleted and created again.
                    Position::AtSequence(_) | Position::AfterSequence(_) => Err(SourceError::PositionLost {
                        position: self.start.to_string(),
                        reason: format!("kinesis shard {} refused the sequence number: {text}", self.shard_name()),
                    }),
                    _ => Err(SourceError::Config(format!(
                        "kinesis shard {} refused {}: {text}",
                        self.shard_name(),
                        self.start
                    ))),
                },
                Fault::Expired => Err(self.unavailable("GetShardIterator answered ExpiredIterator")),
                Fault::Other(text) => Err(self.unavailable(&text)),
            },
            CallResult::Records { iterator, result: Err(e) } => match classify(&e) {
                Fault::Expired => {
                    // Re-acquired at the next call from the position, which
                    // follows the last record read.
                    tracing::info!(
                        partition = self.partition,
                        shard = self.shard_name(),
                        "kinesis iterator expired; re-acquiring"
                    );
                    self.iterator = None;
                    Ok(())
                }
                Fault::Throttled(text) => {
                    self.iterator = Some(iterator);
                    self.throttled(now, &text)
                }
                Fault::InvalidArgument(text) | Fault::Other(text) => Err(self.unavailable(&text)),
            },
            CallResult::Records { result: Ok(out), .. } => {
                self.throttle_backoff = FIRST_THROTTLE_BACKOFF;
                self.records(now, out, limit)
            }
        }
    }

    fn throttled(&mut self, now: Instant, text: &str) -> Result<(), SourceError> {
        tracing::warn!(partition = self.partition, shard = self.shard_name(), retry_in = ?self.throttle_backoff, error = text, "kinesis throttled; backing off");
        self.next_call = now + self.throttle_backoff;
        self.throttle_backoff = (self.throttle_backoff * 2).min(MAX_THROTTLE_BACKOFF);
        Ok(())
    }

    fn records(&mut self, now: Instant, out: GetRecordsOutput, limit: usize) -> Result<(), SourceError> {
        let got = out.records.len();
        self.time_lag_ms = out.millis_behind_latest.map(|ms| ms.max(0) as u64);
        let mut records = out.records.into_iter().peekable();
        if let Some(expected) = &self.verify
            && let Some(first) = records.peek()
        {
            if first.sequence_number.parse::<Pointer>().ok().as_ref() != Some(expected) {
                return Err(SourceError::PositionLost {
                    position: self.start.to_string(),
                    reason: format!(
                        "sequence number {expected} is no longer in kinesis shard {} (trimmed by retention?); its oldest record now is {}",
                        self.shard_name(),
                        first.sequence_number
                    ),
                });
            }
            // The checkpointed record itself: committed already.
            records.next();
            self.position = Position::AfterSequence(expected.to_string());
            self.verify = None;
        }
        let before = self.buffered.len();
        let mut failed = None;
        for record in records {
            match message(record) {
                Ok(message) => self.buffered.push_back(message),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if self.buffered.len() > before {
            // After the last record buffered (formatted once, not per record).
            let last = &self.buffered.back().expect("just pushed").pointer;
            self.position = Position::AfterSequence(last.to_string());
        }
        if let Some(e) = failed {
            return Err(self.unavailable(&e));
        }
        match out.next_shard_iterator {
            Some(it) => self.iterator = Some(it),
            None => {
                // Closed (split or merge) and read to its end: never call again.
                tracing::info!(
                    partition = self.partition,
                    shard = self.shard_name(),
                    "kinesis shard closed and drained"
                );
                self.closed = true;
            }
        }
        self.caught_up = self.closed || (self.time_lag_ms == Some(0) && got < limit);
        if got == 0 && self.caught_up {
            self.next_call = self.next_call.max(now + self.idle_interval);
            self.idle_interval = (self.idle_interval * 2).min(MAX_IDLE_INTERVAL);
        } else {
            self.idle_interval = MIN_CALL_INTERVAL;
        }
        Ok(())
    }

    /// For a shard that did not exist at open: looks again, now and then.
    fn discover(&mut self) -> Result<(), SourceError> {
        if Instant::now() < self.next_list {
            return Ok(());
        }
        self.next_list = Instant::now() + RELIST_INTERVAL;
        let ids = list_shards(&self.handle, &self.client, &self.stream)?;
        if let Some(id) = partition_map(ids).remove(&self.partition) {
            tracing::info!(partition = self.partition, shard = %id, "kinesis shard appeared");
            self.shard_id = Some(id);
        }
        Ok(())
    }
}

/// A record as a message: sequence number -> pointer, partition key -> key,
/// arrival time -> timestamp.
fn message(record: Record) -> Result<Message, String> {
    let pointer = record
        .sequence_number
        .parse::<Pointer>()
        .map_err(|e| format!("record with an unusable sequence number: {e}"))?;
    Ok(Message {
        pointer,
        timestamp_ms: record.approximate_arrival_timestamp.and_then(|t| t.to_millis().ok()),
        key: record.partition_key.map(String::into_bytes),
        headers: Vec::new(),
        payload: Some(record.data.into_inner()),
    })
}

fn sleep_until(deadline: Instant) {
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
}

impl PartitionReader for KinesisReader {
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Batch, SourceError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.buffered.is_empty() {
                return Ok(self.take(max));
            }
            if self.closed {
                // Nothing will ever come: say so, without calling the API.
                sleep_until(deadline);
                return Ok(Batch { caught_up: true, closed: true, time_lag_ms: Some(0), ..Batch::default() });
            }
            let Some(shard_id) = self.shard_id.clone() else {
                self.discover()?;
                if self.shard_id.is_some() {
                    continue;
                }
                self.caught_up = true;
                sleep_until(deadline.min(self.next_list));
                return Ok(self.empty());
            };
            let pending = match &self.pending {
                Some(p) => p,
                None => {
                    if self.next_call > Instant::now() {
                        if self.next_call >= deadline {
                            sleep_until(deadline);
                            return Ok(self.empty());
                        }
                        sleep_until(self.next_call);
                    }
                    self.start_call(shard_id, max.clamp(1, MAX_RECORDS_PER_CALL));
                    self.pending.as_ref().expect("just started")
                }
            };
            match pending.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                // Still in flight: the next poll waits for the same call.
                Err(mpsc::RecvTimeoutError::Timeout) => return Ok(self.empty()),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.pending = None;
                    return Err(self.unavailable("the kinesis client runtime stopped"));
                }
                Ok(result) => {
                    let limit = self.pending.take().map_or(max, |p| p.limit);
                    self.handle(result, limit)?;
                }
            }
            if Instant::now() >= deadline && self.buffered.is_empty() {
                return Ok(self.empty());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_messages() {
        let record = Record::builder()
            .sequence_number("49590338271490256608559692538361571095921575989136588898")
            .partition_key("user-7")
            .data(aws_sdk_kinesis::primitives::Blob::new(b"{}".to_vec()))
            .approximate_arrival_timestamp(DateTime::from_millis(1_700_000_000_123))
            .build()
            .unwrap();
        let m = message(record).unwrap();
        assert_eq!(m.pointer.to_string(), "49590338271490256608559692538361571095921575989136588898");
        assert_eq!(m.key.as_deref(), Some(&b"user-7"[..]));
        assert_eq!(m.timestamp_ms, Some(1_700_000_000_123));
        assert_eq!(m.payload.as_deref(), Some(&b"{}"[..]));
        let bad = Record::builder()
            .sequence_number("12ab")
            .data(aws_sdk_kinesis::primitives::Blob::new(vec![]))
            .build()
            .unwrap();
        assert!(message(bad).is_err());
    }
}
