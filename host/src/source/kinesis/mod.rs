//! The `kinesis` source: Amazon Kinesis Data Streams through aws-sdk-kinesis.
//!
//! **Shards to partitions.** Kinesis names shards `shardId-<12 digits>` and
//! numbers them increasingly as they are created: the initial shards are 0..n,
//! and a split or merge creates the next numbers. Partition N is the shard
//! numbered N, which is also its place in ListShards' order (sorted by shard
//! id) as long as no closed shard has expired; unlike the place, the number
//! never changes, so sluice shard N keeps reading the same Kinesis shard (and
//! committing to the same sink) forever. Closed parent shards count: they keep
//! their partition, are drained, and then report `closed` (the sluice shard
//! shows `CLOSED`). Children of a split get new partitions: with spare
//! `index.number_of_shards` they are picked up while running (see
//! [`RELIST_INTERVAL`]); otherwise the next start asks for more shards.
//! Shard ids of another form (an emulator that numbers differently) fall back
//! to the sorted position.
//!
//! **Pointers** are sequence numbers (decimal strings of ~56 digits, compared
//! numerically as [`Pointer`]s). Start positions map to iterator types:
//! `Earliest` -> TRIM_HORIZON, `Latest` -> LATEST, `At(p)` ->
//! AT_SEQUENCE_NUMBER, `Timestamp(ms)` -> AT_TIMESTAMP, and `After(p)` (the
//! sink's checkpoint) -> AT_SEQUENCE_NUMBER p, dropping p itself: reading p
//! again proves it still exists, so a checkpoint that retention trimmed away
//! (or that belongs to a deleted and recreated stream) is reported as
//! [`SourceError::PositionLost`] instead of silently skipping to the trim
//! horizon. An expired iterator (unused for 5 minutes, e.g. while a full
//! queue blocked the poller) is re-acquired AFTER_SEQUENCE_NUMBER the last
//! record read.
//!
//! **Service limits.** One GetRecords call returns at most `min(max, 10,000)`
//! records, and calls on one shard are at least 200 ms apart (5 calls a
//! second). Empty reads at the tip back off to one call a second; throttling
//! (ProvisionedThroughputExceeded, LimitExceeded, ...) backs off exponentially
//! up to 10 s, keeping the same iterator. Other failures (endpoint
//! unreachable, timeouts, 5xx) end the session as [`SourceError::Unavailable`]:
//! the shard supervisor shows the error, retries with backoff and resumes from
//! the sink's checkpoint, so nothing is lost or repeated.
//!
//! **Async inside, blocking outside.** The SDK is async; the engine's readers
//! are blocking and run on the shards' poller threads. The source owns one
//! small tokio runtime (one worker thread) that drives every SDK call; a
//! reader spawns its call there and waits on a plain channel. A call that
//! outlives a poll's timeout stays in flight and is picked up by the next poll,
//! so polls return on time (stop and pause stay snappy) without abandoning
//! requests. Every call has connect and operation timeouts.
//!
//! **Credentials** (`param.access_key` + `param.secret_key`, else the SDK's
//! default chain: environment, profile, web identity, ECS, IMDS) are handed to
//! the SDK and never kept, logged or shown: no type here derives `Debug`
//! over them.

use super::{Batch, Message, PartitionReader, Source, SourceError};
use crate::pointer::{Pointer, StartPosition};
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use aws_sdk_kinesis::Client;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};
use tokio::task::AbortHandle;

/// The parameters `param.*` may hold.
const PARAMS: &[&str] = &["stream", "region", "access_key", "secret_key", "endpoint_override"];
/// GetRecords returns at most this many records a call.
const MAX_RECORDS_PER_CALL: usize = 10_000;
/// Kinesis allows 5 GetRecords calls a second per shard.
const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
/// At the tip, empty reads back off from [`MIN_CALL_INTERVAL`] to this.
const MAX_IDLE_INTERVAL: Duration = Duration::from_secs(1);
const FIRST_THROTTLE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_THROTTLE_BACKOFF: Duration = Duration::from_secs(10);
/// How often a reader whose shard does not exist yet lists the shards again.
pub const RELIST_INTERVAL: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bounds every SDK call (GetRecords returns at most 10 MiB).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// A Kinesis data stream.
pub struct KinesisSource {
    stream: String,
    client: Client,
    /// `Some` until drop; see [`Drop`].
    runtime: Option<Runtime>,
    handle: Handle,
}

impl KinesisSource {
    /// Validates `param.*` and builds the client. No network call is made
    /// here (the default credential chain resolves lazily, on first use).
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, SourceError> {
        for key in params.keys() {
            if !PARAMS.contains(&key.as_str()) {
                return Err(SourceError::Config(format!(
                    "unknown kinesis source parameter [param.{key}]; allowed: {}",
                    PARAMS.join(", ")
                )));
            }
        }
        let get = |k: &str| params.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let stream = get("stream").ok_or_else(|| SourceError::Config("the kinesis source needs [param.stream]".into()))?;
        // Only the key's name goes into errors, never a value.
        let credentials = match (get("access_key"), get("secret_key")) {
            (Some(access), Some(secret)) => Some(Credentials::new(access, secret, None, None, "sluice-spec")),
            (None, None) => None,
            (Some(_), None) => {
                return Err(SourceError::Config(
                    "[param.access_key] is set but [param.secret_key] is not; give both, or neither to use the AWS default credential chain".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(SourceError::Config(
                    "[param.secret_key] is set but [param.access_key] is not; give both, or neither to use the AWS default credential chain".into(),
                ));
            }
        };
        let region = get("region");
        let endpoint = get("endpoint_override");
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(SourceError::Config(format!(
                "[param.endpoint_override] must be an http:// or https:// URL, got {e:?}"
            )));
        }

        // One worker thread drives every SDK call of this source: the calls
        // are few (at most 5 a second per shard) and mostly waiting on I/O.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-kinesis")
            .enable_all()
            .build()
            .map_err(|e| SourceError::Unavailable(format!("cannot start the kinesis client runtime: {e}")))?;
        let handle = runtime.handle().clone();

        tracing::info!(
            stream = %stream,
            region = region.as_deref().unwrap_or("(default chain)"),
            endpoint = endpoint.as_deref().unwrap_or("(AWS)"),
            credentials = if credentials.is_some() { "static (from the spec)" } else { "default chain" },
            "kinesis source"
        );
        let config = block(&handle, async move {
            let timeouts = TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(OPERATION_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build();
            // No SDK retries: throttling is backed off by the reader with its
            // iterator kept, and other failures restart the session from the
            // checkpoint with the supervisor's backoff, where they are shown.
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts)
                .retry_config(RetryConfig::disabled());
            if let Some(r) = region {
                loader = loader.region(Region::new(r));
            }
            if let Some(c) = credentials {
                loader = loader.credentials_provider(c);
            }
            if let Some(e) = endpoint {
                loader = loader.endpoint_url(e);
            }
            Ok(loader.load().await)
        })?;
        if config.region().is_none() {
            return Err(SourceError::Config(
                "no AWS region: set [param.region] (or AWS_REGION / a profile's region)".into(),
            ));
        }
        let client = Client::new(&config);
        Ok(KinesisSource { stream, client, runtime: Some(runtime), handle })
    }

    /// Every shard of the stream (open and closed), by partition number.
    fn partitions(&self) -> Result<BTreeMap<u32, String>, SourceError> {
        let ids = list_shards(&self.handle, &self.client, &self.stream)?;
        Ok(partition_map(ids))
    }
}

impl Drop for KinesisSource {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end and panics inside an
        // async context; the last owner may be anywhere, so shut down in the
        // background (readers abort their in-flight calls on drop anyway).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on the source's runtime and waits for it on this thread. Unlike
/// `Handle::block_on`, this also works when the caller is itself inside a
/// tokio runtime (a control plane starting an ingestion).
fn block<T: Send + 'static>(
    handle: &Handle,
    fut: impl Future<Output = Result<T, SourceError>> + Send + 'static,
) -> Result<T, SourceError> {
    let (tx, rx) = mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or_else(|_| Err(SourceError::Unavailable("the kinesis client runtime stopped".into())))
}

/// Lists every shard id of `stream` (ListShards, all pages).
fn list_shards(handle: &Handle, client: &Client, stream: &str) -> Result<Vec<String>, SourceError> {
    let (client, stream) = (client.clone(), stream.to_string());
    block(handle, async move {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A page token replaces the stream name (the API refuses both).
            let request = match &token {
                Some(t) => client.list_shards().next_token(t),
                None => client.list_shards().stream_name(&stream),
            };
            let out = request.send().await.map_err(|e| {
                let text = error_text(&e);
                match e.as_service_error().and_then(|s| s.code()) {
                    Some("ResourceNotFoundException") => {
                        SourceError::Unavailable(format!("kinesis stream {stream:?} not found: {text}"))
                    }
                    _ => SourceError::Unavailable(format!("listing the shards of kinesis stream {stream:?}: {text}")),
                }
            })?;
            ids.extend(out.shards().iter().map(|s| s.shard_id().to_string()));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(ids)
    })
}

/// Partition number of each shard: the number in `shardId-<digits>`, or,
/// when some id has another form, the position in shard id order.
fn partition_map(mut ids: Vec<String>) -> BTreeMap<u32, String> {
    ids.sort();
    ids.dedup();
    let numbered: Option<BTreeMap<u32, String>> = ids
        .iter()
        .map(|id| id.strip_prefix("shardId-").and_then(|n| n.parse::<u32>().ok()).map(|n| (n, id.clone())))
        .collect();
    numbered.unwrap_or_else(|| {
        tracing::warn!("kinesis shard ids are not shardId-<number>: partitions follow shard id order");
        ids.into_iter().enumerate().map(|(n, id)| (n as u32, id)).collect()
    })
}

impl Source for KinesisSource {
    fn partition_count(&self) -> Result<u32, SourceError> {
        Ok(self.partitions()?.keys().next_back().map_or(0, |n| n + 1))
    }

    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError> {
        let shard_id = self.partitions()?.remove(&partition);
        let (mut position, verify) = match &start {
            StartPosition::Earliest => (Position::TrimHorizon, None),
            StartPosition::Latest => (Position::Latest, None),
            StartPosition::At(p) => (Position::AtSequence(p.to_string()), None),
            StartPosition::After(p) => (Position::AtSequence(p.to_string()), Some(p.clone())),
            StartPosition::Timestamp(ms) => (Position::AtTimestamp(*ms), None),
        };
        if shard_id.is_none() && position == Position::Latest {
            // The shard does not exist yet (a future child of a split):
            // everything it will ever hold arrives after this open.
            position = Position::TrimHorizon;
        }
        tracing::debug!(partition, shard = shard_id.as_deref().unwrap_or("(not yet created)"), %start, "kinesis reader opens");
        Ok(Box::new(KinesisReader {
            partition,
            stream: self.stream.clone(),
            client: self.client.clone(),
            handle: self.handle.clone(),
            shard_id,
            start,
            position,
            verify,
            iterator: None,
            pending: None,
            buffered: VecDeque::new(),
            next_call: Instant::now(),
            idle_interval: MIN_CALL_INTERVAL,
            throttle_backoff: FIRST_THROTTLE_BACKOFF,
            next_list: Instant::now() + RELIST_INTERVAL,
            caught_up: false,
            closed: false,
            time_lag_ms: None,
        }))
    }
}

/// Where a new shard iterator points.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Position {
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
struct Pending {
    rx: mpsc::Receiver<CallResult>,
    task: AbortHandle,
    /// How many records it asked for.
    limit: usize,
}

struct KinesisReader {
    partition: u32,
    stream: String,
    client: Client,
    handle: Handle,
    /// `None` while the shard does not exist yet.
    shard_id: Option<String>,
    /// As opened, for error messages.
    start: StartPosition,
    /// Where the next shard iterator must point.
    position: Position,
    /// Resuming after `p`: the first record read must be `p` itself.
    verify: Option<Pointer>,
    iterator: Option<String>,
    pending: Option<Pending>,
    /// Read but not yet returned (a poll's `max` shrank below a call's limit).
    buffered: VecDeque<Message>,
    /// No GetRecords call before this.
    next_call: Instant,
    idle_interval: Duration,
    throttle_backoff: Duration,
    /// When a reader without a shard lists the shards again.
    next_list: Instant,
    caught_up: bool,
    /// The shard is closed and fully read.
    closed: bool,
    time_lag_ms: Option<u64>,
}

impl Drop for KinesisReader {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.task.abort();
        }
    }
}

/// How a failed call is handled.
enum Fault {
    /// The iterator is older than 5 minutes: get a new one.
    Expired,
    /// Throttled: back off, retry with the same iterator.
    Throttled(String),
    /// An argument was refused (a sequence number not in this shard, ...).
    InvalidArgument(String),
    /// Unreachable, timed out, not found, failed: end the session.
    Other(String),
}

/// An error and its causes, `: `-separated. (The SDK's own Display says only
/// "service error" or "dispatch failure"; `DisplayErrorContext` appends a
/// Debug dump.)
fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let t = cause.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = cause.source();
    }
    text
}

fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(err: &SdkError<E>) -> Fault {
    let text = error_text(err);
    match err.as_service_error().and_then(|e| e.code()) {
        Some("ExpiredIteratorException") => Fault::Expired,
        Some(
            "ProvisionedThroughputExceededException"
            | "LimitExceededException"
            | "ThrottlingException"
            | "KMSThrottlingException",
        ) => Fault::Throttled(text),
        Some("InvalidArgumentException") => Fault::InvalidArgument(text),
        _ => Fault::Other(text),
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
                        Position::AtSequence(s) => request
                            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                            .starting_sequence_number(s),
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
                    tracing::info!(partition = self.partition, shard = self.shard_name(), "kinesis iterator expired; re-acquiring");
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
                tracing::info!(partition = self.partition, shard = self.shard_name(), "kinesis shard closed and drained");
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

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unknown_and_missing_params_are_config_errors_that_name_the_key() {
        let err = KinesisSource::from_params(&params(&[("stream", "s"), ("regon", "x")])).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("param.regon") && text.contains("stream, region, access_key, secret_key, endpoint_override"), "{text}");
        let err = KinesisSource::from_params(&params(&[("region", "eu-west-1")])).err().unwrap();
        assert!(err.to_string().contains("param.stream"), "{err}");
        let err = KinesisSource::from_params(&params(&[("stream", "s"), ("endpoint_override", "localhost:4567")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("endpoint_override"), "{err}");
    }

    #[test]
    fn a_lone_key_is_refused_and_no_error_shows_a_secret() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let err = KinesisSource::from_params(&params(&[("stream", "s"), ("region", "eu-west-1"), ("secret_key", secret)]))
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("param.access_key") && !text.contains(secret), "{text}");
        let err = KinesisSource::from_params(&params(&[("stream", "s"), ("region", "eu-west-1"), ("access_key", "AKIDEXAMPLE")]))
            .err()
            .unwrap();
        assert!(!err.to_string().contains("AKIDEXAMPLE"), "{err}");
        // Building the client makes no call: this works offline.
        let source = KinesisSource::from_params(&params(&[
            ("stream", "s"),
            ("region", "eu-west-1"),
            ("access_key", "AKIDEXAMPLE"),
            ("secret_key", secret),
            ("endpoint_override", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        // Port 9 (discard) is closed here: unreachable is a transient error
        // that names the stream and never the credentials.
        let err = source.partition_count().err().unwrap();
        assert!(matches!(err, SourceError::Unavailable(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("\"s\"") && !text.contains(secret) && !text.contains("AKIDEXAMPLE"), "{text}");
    }

    #[test]
    fn partitions_are_shard_numbers_and_stay_put_when_parents_expire() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = partition_map(ids(&["shardId-000000000002", "shardId-000000000000", "shardId-000000000001"]));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(m[&2], "shardId-000000000002");
        // Parent 0 closed and expired: its children keep partitions 1 and 2.
        let m = partition_map(ids(&["shardId-000000000001", "shardId-000000000002"]));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 2]);
        // Another naming: sorted position.
        let m = partition_map(ids(&["b", "a"]));
        assert_eq!(m, BTreeMap::from([(0, "a".to_string()), (1, "b".to_string())]));
    }

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
        let bad = Record::builder().sequence_number("12ab").data(aws_sdk_kinesis::primitives::Blob::new(vec![])).build().unwrap();
        assert!(message(bad).is_err());
    }
}
