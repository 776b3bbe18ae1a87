//! The `kafka` source: partition N of `param.topic` feeds shard N.
//!
//! Each partition reader owns one librdkafka consumer that is `assign()`ed
//! its single partition at an explicit offset: no group subscription, no
//! rebalance, no auto commit. The shard sink's checkpoint is the only source
//! of truth for positions; when `param.group.id` is set, offsets are also
//! committed to that group after each sink commit (coalesced, asynchronous)
//! so that standard Kafka lag tools see progress, but they are never read
//! back.
//!
//! Every `param.*` except `topic` and `bootstrap_servers` is passed through to
//! librdkafka as a consumer property, as OpenSearch does; [`DEFAULTS`] are
//! set first, so the spec can override any of them.
//!
//! Positions: the pointer is the Kafka offset. A start offset outside the
//! partition's `[low, high]` watermarks (retention deleted it, the topic was
//! recreated) is [`SourceError::PositionLost`], never a silent reset
//! (`auto.offset.reset=error`, unless the spec overrides it).

use super::{Batch, Header, Message, PartitionReader, Source, SourceError};
use crate::pointer::{Pointer, StartPosition};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Consumer properties sluice sets unless `param.*` overrides them.
pub const DEFAULTS: &[(&str, &str)] = &[
    // The sink's checkpoint is the truth: librdkafka must never commit or
    // store offsets by itself.
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    // A lost position must surface (the shard blocks), not be reset silently.
    ("auto.offset.reset", "error"),
    // "Reached the end" events make `caught_up` exact even when the last
    // offsets are transaction markers that never reach the application.
    ("enable.partition.eof", "true"),
    // Throughput: let the broker fill fetches (64 KiB or 100 ms, whichever
    // comes first) instead of answering each fetch with a few messages; a
    // caught-up shard still sees new messages within ~100 ms.
    ("fetch.min.bytes", "65536"),
    ("fetch.wait.max.ms", "100"),
    // Bigger fetches per partition (librdkafka's default is 1 MiB).
    ("max.partition.fetch.bytes", "4194304"),
    // Keep a deep prefetch queue but bound its memory per shard (librdkafka
    // defaults to 64 MiB per consumer; sluice runs one consumer per shard and
    // has its own bounded queue behind it).
    ("queued.min.messages", "200000"),
    ("queued.max.messages.kbytes", "32768"),
    // When the prefetch queue is full (the sink is slower than the broker),
    // resume fetching 10 ms after it drains instead of librdkafka's 1 s, so a
    // backpressured shard does not starve once the sink catches up.
    ("fetch.queue.backoff.ms", "10"),
    ("client.id", "sluice"),
];

/// `param.*` keys that sluice reads itself (everything else goes to librdkafka).
const OWN_PARAMS: &[&str] = &["topic", "bootstrap_servers"];

/// librdkafka needs a group to `assign()` partitions; without `param.group.id`
/// readers use this one, which is never joined and never committed to.
const READER_GROUP: &str = "sluice-assign-only";

/// Longest a metadata or watermark request may take at session start.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Transient consumer errors (a broker connection failing) that keep coming
/// for this long without any message or end-of-partition in between are
/// reported, so the shard shows them in its state and starts over.
const STALL_LIMIT: Duration = Duration::from_secs(15);
/// Consumer-group commits are coalesced: at most one request per interval.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// How long the last group commit may take when the source shuts down.
const FINAL_COMMIT_WAIT: Duration = Duration::from_secs(2);

/// Routes librdkafka's logs and errors to `tracing`.
#[derive(Default)]
pub struct KafkaContext;

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(target: "librdkafka", facility = fac, "{message}")
            }
            // librdkafka logs every failed connection attempt as an error;
            // the reader reports real outages itself (SourceError::Unavailable).
            RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility = fac, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for KafkaContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            // Group offsets are informational only: a failed commit is logged, never retried.
            tracing::warn!(error = %e, offsets = ?offsets.to_topic_map(), "committing offsets to the consumer group failed");
        }
    }
}

type KafkaConsumer = BaseConsumer<KafkaContext>;

pub struct KafkaSource {
    topic: String,
    /// The topic for librdkafka's C API (cached watermarks).
    topic_c: CString,
    bootstrap: String,
    /// Every reader's consumer configuration.
    config: ClientConfig,
    /// `auto.offset.reset` is `error`: an out-of-range start is `PositionLost`.
    strict_positions: bool,
    /// Sends (partition, next offset) to the group committer, when `param.group.id` is set.
    commits: Option<Sender<(i32, i64)>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl KafkaSource {
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, SourceError> {
        let topic = params
            .get("topic")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SourceError::Config("the kafka source needs [param.topic]".into()))?
            .clone();
        let topic_c =
            CString::new(topic.clone()).map_err(|_| SourceError::Config("[param.topic] contains a NUL byte".into()))?;
        let bootstrap = match (params.get("bootstrap_servers"), params.get("bootstrap.servers")) {
            (Some(a), Some(b)) if a != b => {
                return Err(SourceError::Config(format!(
                    "[param.bootstrap_servers] ({a}) and [param.bootstrap.servers] ({b}) disagree; give one"
                )));
            }
            (Some(s), _) | (None, Some(s)) if !s.is_empty() => s.clone(),
            _ => return Err(SourceError::Config("the kafka source needs [param.bootstrap_servers]".into())),
        };

        let mut config = ClientConfig::new();
        for (k, v) in DEFAULTS {
            config.set(*k, *v);
        }
        config.set("group.id", READER_GROUP);
        for (k, v) in params.iter().filter(|(k, _)| !OWN_PARAMS.contains(&k.as_str())) {
            config.set(k, v);
        }
        config.set("bootstrap.servers", &bootstrap);
        // librdkafka only produces the logs its level allows; `param.debug`
        // asks for its debug contexts, which are logged at debug level.
        config.set_log_level(if params.contains_key("debug") {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Warning
        });
        // Unknown properties and bad values are refused now, naming the property.
        config
            .create_native_config()
            .map_err(|e| SourceError::Config(format!("invalid Kafka consumer property in [param.*]: {e}")))?;
        let strict_positions = config.get("auto.offset.reset").is_some_and(|v| v.eq_ignore_ascii_case("error"));

        let (commits, committer) = match params.get("group.id") {
            Some(group) => {
                let consumer: KafkaConsumer = create_consumer(&config, &bootstrap)?;
                let (tx, rx) = channel();
                let thread_topic = topic.clone();
                let handle = std::thread::Builder::new()
                    .name("sluice-kafka-commit".into())
                    .spawn(move || commit_loop(&consumer, &thread_topic, &rx))
                    .map_err(|e| SourceError::Unavailable(format!("cannot start the offset committer thread: {e}")))?;
                tracing::info!(%topic, group = %group, "committed positions will also be committed to the consumer group");
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        Ok(KafkaSource {
            topic,
            topic_c,
            bootstrap,
            config,
            strict_positions,
            commits,
            committer: Mutex::new(committer),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn consumer(&self) -> Result<KafkaConsumer, SourceError> {
        create_consumer(&self.config, &self.bootstrap)
    }

    /// The topic's partition count, or why it cannot be known.
    fn partitions(&self, consumer: &KafkaConsumer) -> Result<u32, SourceError> {
        let metadata =
            consumer.fetch_metadata(Some(&self.topic), METADATA_TIMEOUT).map_err(|e| self.unreachable(&e))?;
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == self.topic) else {
            return Err(self.missing_topic());
        };
        match topic.error() {
            None => Ok(topic.partitions().len() as u32),
            Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => {
                Err(self.missing_topic())
            }
            Some(e) => Err(SourceError::Unavailable(format!(
                "metadata of Kafka topic {:?} at {}: {}",
                self.topic,
                self.bootstrap,
                RDKafkaErrorCode::from(e)
            ))),
        }
    }

    fn missing_topic(&self) -> SourceError {
        SourceError::Unavailable(format!("Kafka topic {:?} does not exist at {}", self.topic, self.bootstrap))
    }

    fn unreachable(&self, e: &KafkaError) -> SourceError {
        SourceError::Unavailable(format!("cannot reach Kafka at {} (topic {:?}): {e}", self.bootstrap, self.topic))
    }

    /// Turns a start position into the offset to assign, checked against the
    /// partition's watermarks.
    fn resolve(
        &self,
        consumer: &KafkaConsumer,
        partition: i32,
        start: &StartPosition,
        low: i64,
        high: i64,
    ) -> Result<Start, SourceError> {
        let exact = |p: &Pointer, plus: i64| -> Result<i64, SourceError> {
            p.as_u64()
                .and_then(|n| i64::try_from(n).ok())
                .and_then(|n| n.checked_add(plus))
                .ok_or_else(|| SourceError::Config(format!("pointer {p} is not a Kafka offset")))
        };
        let offset = match start {
            // Beginning (not `low`): retention may move the start before the fetch.
            StartPosition::Earliest => {
                return Ok(Start { offset: Offset::Beginning, position: low, skip_before_ts: None });
            }
            // The end as it is now, exactly: messages produced after this
            // point are read even if they arrive before the first fetch.
            StartPosition::Latest => high,
            StartPosition::At(p) => exact(p, 0)?,
            StartPosition::After(p) => exact(p, 1)?,
            StartPosition::Timestamp(ms) => return self.resolve_timestamp(consumer, partition, *ms, low, high),
        };
        if offset < low || offset > high {
            let reason = if offset < low {
                format!("the partition now starts at offset {low}: retention deleted the messages before it")
            } else {
                format!(
                    "the partition ends at offset {high} (its high watermark): the topic was recreated or truncated"
                )
            };
            if self.strict_positions {
                return Err(SourceError::PositionLost {
                    position: format!("offset {offset} of Kafka topic {:?} partition {partition}", self.topic),
                    reason,
                });
            }
            tracing::warn!(topic = %self.topic, partition, offset, %reason, policy = ?self.config.get("auto.offset.reset"),
                "start offset out of range; librdkafka applies param.auto.offset.reset");
        }
        Ok(Start { offset: Offset::Offset(offset), position: offset, skip_before_ts: None })
    }

    /// `reset_by_timestamp`: the earliest offset whose timestamp is at or after
    /// `ms` (Kafka's ListOffsets / `offsets_for_times`). When no message is
    /// that recent, Kafka answers "none" and the reader starts at the end of
    /// the partition, as Kafka consumers do.
    fn resolve_timestamp(
        &self,
        consumer: &KafkaConsumer,
        partition: i32,
        ms: i64,
        low: i64,
        high: i64,
    ) -> Result<Start, SourceError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(ms))
            .map_err(|e| SourceError::Config(format!("timestamp {ms}: {e}")))?;
        let found = consumer.offsets_for_times(tpl, METADATA_TIMEOUT).map_err(|e| self.unreachable(&e))?;
        let element = found.find_partition(&self.topic, partition);
        if let Some(Err(e)) = element.as_ref().map(|e| e.error()) {
            return Err(SourceError::Unavailable(format!(
                "looking up timestamp {ms} in Kafka topic {:?} partition {partition}: {e}",
                self.topic
            )));
        }
        match element.map(|e| e.offset()) {
            Some(Offset::Offset(n)) if n >= 0 => {
                return Ok(Start { offset: Offset::Offset(n), position: n, skip_before_ts: None });
            }
            _ if high <= low => {
                return Ok(Start { offset: Offset::Offset(high), position: high, skip_before_ts: None });
            }
            _ => {}
        }
        // The broker says no message is at or after `ms`. Check the newest
        // message: if it is that recent, the broker cannot look up timestamps
        // (librdkafka's mock cluster answers every lookup with "none", see
        // rdkafka_mock_handlers.c), so scan from the start for the first
        // message at or after `ms`: the same offset Kafka would give. A real
        // broker's "none" costs one extra fetch here, no scan.
        match self.timestamp_at(partition, high - 1)? {
            Some(last) if last >= ms => {
                tracing::warn!(topic = %self.topic, partition, timestamp = ms,
                    "the broker found no offset for the timestamp but holds newer messages; scanning from the start");
                Ok(Start { offset: Offset::Beginning, position: low, skip_before_ts: Some(ms) })
            }
            _ => Ok(Start { offset: Offset::Offset(high), position: high, skip_before_ts: None }),
        }
    }

    /// The timestamp of the message at `offset`, if it can be read (it may be
    /// a transaction marker or compacted away).
    fn timestamp_at(&self, partition: i32, offset: i64) -> Result<Option<i64>, SourceError> {
        let consumer = self.consumer()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
            .and_then(|()| consumer.assign(&tpl))
            .map_err(|e| self.unreachable(&e))?;
        let deadline = Instant::now() + METADATA_TIMEOUT;
        while Instant::now() < deadline {
            match consumer.poll(deadline.saturating_duration_since(Instant::now())) {
                Some(Ok(m)) => return Ok(m.timestamp().to_millis()),
                Some(Err(KafkaError::PartitionEOF(_))) => return Ok(None),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "reading the newest message's timestamp");
                    return Ok(None);
                }
                None => {}
            }
        }
        Ok(None)
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        // Closing the channel makes the committer flush its last offsets and end.
        self.commits = None;
        if let Some(handle) = self.committer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

/// Where a reader starts.
struct Start {
    offset: Offset,
    /// The offset of the next message, as far as known now.
    position: i64,
    /// Skip messages older than this (timestamp lookups the broker cannot do).
    skip_before_ts: Option<i64>,
}

fn create_consumer(config: &ClientConfig, bootstrap: &str) -> Result<KafkaConsumer, SourceError> {
    config.create_with_context(KafkaContext).map_err(|e| match e {
        KafkaError::ClientConfig(..) => SourceError::Config(format!("invalid Kafka consumer configuration: {e}")),
        e => SourceError::Unavailable(format!("cannot create a Kafka consumer for {bootstrap}: {e}")),
    })
}

impl Source for KafkaSource {
    fn partition_count(&self) -> Result<u32, SourceError> {
        self.partitions(&self.consumer()?)
    }

    fn open(&self, partition: u32, start: StartPosition) -> Result<Box<dyn PartitionReader>, SourceError> {
        let consumer = self.consumer()?;
        if partition >= self.partitions(&consumer)? {
            // More shards than partitions: this shard has nothing to read.
            tracing::debug!(topic = %self.topic, partition, "no such partition: the shard stays empty");
            return Ok(Box::new(EmptyReader));
        }
        let p = partition as i32;
        let (low, high) =
            consumer.fetch_watermarks(&self.topic, p, METADATA_TIMEOUT).map_err(|e| self.unreachable(&e))?;
        let begin = self.resolve(&consumer, p, &start, low, high)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, p, begin.offset).and_then(|()| consumer.assign(&tpl)).map_err(|e| {
            SourceError::Unavailable(format!("assigning Kafka topic {:?} partition {p}: {e}", self.topic))
        })?;
        tracing::debug!(topic = %self.topic, partition, %start, offset = ?begin.offset, low, high, "Kafka partition opened");
        Ok(Box::new(KafkaReader {
            topic_c: self.topic_c.clone(),
            consumer,
            topic: self.topic.clone(),
            partition: p,
            bootstrap: self.bootstrap.clone(),
            position: begin.position,
            high,
            at_eof: false,
            skip_before_ts: begin.skip_before_ts,
            errors_since: None,
        }))
    }

    fn on_committed(&self, partition: u32, pointer: &Pointer) {
        let (Some(tx), Some(offset)) = (&self.commits, pointer.as_u64().and_then(|n| i64::try_from(n).ok())) else {
            return;
        };
        // Kafka's committed offset is the next one to read.
        let _ = tx.send((partition as i32, offset.saturating_add(1)));
    }
}

/// Commits the latest offsets per partition to the consumer group, at most
/// once per [`COMMIT_INTERVAL`], and a last time when the source is dropped.
fn commit_loop(consumer: &KafkaConsumer, topic: &str, rx: &Receiver<(i32, i64)>) {
    let mut pending: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_flush = Instant::now();
    // The last commit sent; confirmed once more before the thread ends.
    let mut unconfirmed: Option<TopicPartitionList> = None;
    loop {
        let closed = match rx.recv_timeout(COMMIT_INTERVAL.saturating_sub(last_flush.elapsed())) {
            // The latest wins, even if lower: after a pointer reset the group
            // mirrors the sink's new position.
            Ok((partition, next)) => {
                pending.insert(partition, next);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if (closed || last_flush.elapsed() >= COMMIT_INTERVAL) && !pending.is_empty() {
            last_flush = Instant::now();
            let mut tpl = TopicPartitionList::new();
            let mut ok = true;
            for (partition, next) in std::mem::take(&mut pending) {
                ok &= tpl.add_partition_offset(topic, partition, Offset::Offset(next)).is_ok();
            }
            // Asynchronous: a slow or absent coordinator must not hold up
            // the next commits (nor, below, the shutdown for long).
            match ok.then(|| consumer.commit(&tpl, CommitMode::Async)) {
                Some(Ok(())) => unconfirmed = Some(tpl),
                Some(Err(e)) => tracing::warn!(error = %e, "committing offsets to the consumer group failed"),
                None => tracing::warn!("offsets to commit do not fit a partition list"),
            }
        }
        if closed {
            // Before the consumer closes (and the process may exit): librdkafka
            // gives no callback for these commits here, but an offset fetch
            // from the same coordinator is answered after the commit, so it
            // bounds the wait for it.
            if let Some(tpl) = unconfirmed
                && let Err(e) = consumer.committed_offsets(tpl, FINAL_COMMIT_WAIT)
            {
                tracing::warn!(error = %e, "the last consumer-group commit may not have completed");
            }
            return;
        }
        // Serves the consumer's events (logs, errors) so its queue stays short.
        for _ in 0..16 {
            let _ = consumer.poll(Duration::ZERO);
        }
    }
}

/// Reads one assigned partition.
struct KafkaReader {
    consumer: KafkaConsumer,
    topic: String,
    topic_c: CString,
    partition: i32,
    bootstrap: String,
    /// The offset after the last message seen (the next one to read).
    position: i64,
    /// The highest high watermark seen.
    high: i64,
    /// librdkafka reported the end of the partition and nothing came since.
    at_eof: bool,
    skip_before_ts: Option<i64>,
    /// When a run of transient errors without progress began, and the last one.
    errors_since: Option<(Instant, Instant)>,
}

impl KafkaReader {
    /// librdkafka's cached high watermark, updated by every fetch response:
    /// no broker round trip.
    fn refresh_high(&mut self) {
        let (mut low, mut high) = (-1_i64, -1_i64);
        // SAFETY: the client pointer is valid while `self.consumer` lives, the
        // topic is a NUL-terminated string that outlives the call, and `low`
        // and `high` are valid for writes. The call only reads librdkafka's
        // cached partition state under its own lock.
        let err = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.consumer.client().native_ptr(),
                self.topic_c.as_ptr(),
                self.partition,
                &mut low,
                &mut high,
            )
        };
        // Before the first fetch answer the cache holds OFFSET_INVALID (< 0).
        if err == rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 {
            self.high = self.high.max(high);
        }
    }

    fn progress(&mut self) {
        self.errors_since = None;
    }

    /// Classifies a consumer error: lost positions and outages end the
    /// session; other errors are librdkafka retrying by itself, reported only
    /// when they last.
    fn on_error(&mut self, e: KafkaError) -> Result<(), SourceError> {
        let code = match &e {
            KafkaError::MessageConsumption(code) | KafkaError::MessageConsumptionFatal(code) => Some(*code),
            _ => None,
        };
        match code {
            Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange) => Err(self.position_lost()),
            Some(
                RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition,
            ) => Err(SourceError::Unavailable(format!(
                "Kafka topic {:?} partition {} does not exist at {} (deleted?)",
                self.topic, self.partition, self.bootstrap
            ))),
            // librdkafka cannot decode a batch (a codec it was built without):
            // it never skips it, it fetches it again and again. Say so at once
            // instead of after the stall limit.
            Some(RDKafkaErrorCode::NotImplemented) => Err(SourceError::Config(format!(
                "cannot decode the messages at offset {} of Kafka topic {:?} partition {}: {e} (this build of \
                 librdkafka reads gzip, snappy, lz4 and zstd; see the README's Kafka section)",
                self.position, self.topic, self.partition
            ))),
            Some(RDKafkaErrorCode::AllBrokersDown) => Err(SourceError::Unavailable(format!(
                "all Kafka brokers at {} are down or unreachable",
                self.bootstrap
            ))),
            _ if matches!(e, KafkaError::MessageConsumptionFatal(_)) => {
                Err(SourceError::Unavailable(format!("the Kafka consumer failed: {e}")))
            }
            _ => {
                let now = Instant::now();
                let (first, _) = match self.errors_since {
                    // A run continues while errors keep coming.
                    Some((first, last)) if now - last < STALL_LIMIT => (first, now),
                    _ => (now, now),
                };
                self.errors_since = Some((first, now));
                tracing::warn!(topic = %self.topic, partition = self.partition, error = %e,
                    "Kafka consumer error; librdkafka retries");
                if now - first >= STALL_LIMIT {
                    return Err(SourceError::Unavailable(format!(
                        "no progress on Kafka topic {:?} partition {} for {}s: {e}",
                        self.topic,
                        self.partition,
                        (now - first).as_secs()
                    )));
                }
                Ok(())
            }
        }
    }

    /// The fetch position fell out of the partition: says which way if the
    /// broker can tell (one round trip, on this error only).
    fn position_lost(&self) -> SourceError {
        let position = format!("offset {} of Kafka topic {:?} partition {}", self.position, self.topic, self.partition);
        let reason = match self.consumer.fetch_watermarks(&self.topic, self.partition, METADATA_TIMEOUT) {
            Ok((low, _)) if self.position < low => {
                format!("the partition now starts at offset {low}: retention deleted the messages before it")
            }
            Ok((_, high)) if self.position > high => {
                format!(
                    "the partition ends at offset {high} (its high watermark): the topic was recreated or truncated"
                )
            }
            _ => "the offset is out of range (retention deleted it, or the topic was recreated)".to_string(),
        };
        SourceError::PositionLost { position, reason }
    }
}

fn to_message(m: &BorrowedMessage<'_>) -> Message {
    Message {
        // Offsets of delivered messages are never negative.
        pointer: Pointer::Small(m.offset().max(0) as u64),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key().map(<[u8]>::to_vec),
        headers: m
            .headers()
            .map(|hs| {
                hs.iter().map(|h| Header { key: h.key.to_string(), value: h.value.map(<[u8]>::to_vec) }).collect()
            })
            .unwrap_or_default(),
        payload: m.payload().map(<[u8]>::to_vec),
    }
}

impl PartitionReader for KafkaReader {
    fn poll(&mut self, max: usize, timeout: Duration) -> Result<Batch, SourceError> {
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        while messages.len() < max {
            // Wait for the first message only; then take what is prefetched.
            let wait =
                if messages.is_empty() { deadline.saturating_duration_since(Instant::now()) } else { Duration::ZERO };
            match self.consumer.poll(wait) {
                // `None` also means "served an internal event": wait out the timeout.
                None if messages.is_empty() && Instant::now() < deadline => {}
                None => break,
                Some(Ok(m)) => {
                    self.position = m.offset() + 1;
                    self.at_eof = false;
                    // (a field, not `progress()`: `m` borrows the consumer)
                    self.errors_since = None;
                    if let Some(ts) = self.skip_before_ts {
                        if m.timestamp().to_millis().is_none_or(|t| t < ts) {
                            continue;
                        }
                        self.skip_before_ts = None;
                    }
                    messages.push(to_message(&m));
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    self.at_eof = true;
                    self.progress();
                    break;
                }
                Some(Err(e)) => self.on_error(e)?,
            }
        }
        self.refresh_high();
        Ok(Batch {
            messages,
            caught_up: self.at_eof || self.position >= self.high,
            pointer_lag: Some(self.high.saturating_sub(self.position).max(0) as u64),
            // The engine derives time lag from the message timestamps.
            time_lag_ms: None,
            ..Batch::default()
        })
    }
}

/// A shard without a partition (more shards than partitions): always caught up.
struct EmptyReader;

impl PartitionReader for EmptyReader {
    fn poll(&mut self, _max: usize, timeout: Duration) -> Result<Batch, SourceError> {
        std::thread::sleep(timeout);
        Ok(Batch { caught_up: true, pointer_lag: Some(0), ..Batch::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn params_pass_through_to_librdkafka_over_the_defaults() {
        let src = KafkaSource::from_params(&params(&[
            ("topic", "t"),
            ("bootstrap_servers", "localhost:1"),
            ("fetch.wait.max.ms", "7"),
            ("security.protocol", "plaintext"),
        ]))
        .unwrap();
        assert_eq!(src.topic(), "t");
        assert_eq!(src.config.get("bootstrap.servers"), Some("localhost:1"));
        assert_eq!(src.config.get("fetch.wait.max.ms"), Some("7"), "the spec overrides a default");
        assert_eq!(src.config.get("security.protocol"), Some("plaintext"));
        assert_eq!(src.config.get("auto.offset.reset"), Some("error"));
        assert_eq!(src.config.get("enable.auto.commit"), Some("false"));
        assert_eq!(src.config.get("topic"), None, "sluice's own params are not consumer properties");
        assert!(src.strict_positions);
        assert!(src.commits.is_none(), "no group commits without param.group.id");
    }

    #[test]
    fn bad_params_are_refused_with_their_names() {
        let err = |p: &[(&str, &str)]| KafkaSource::from_params(&params(p)).err().unwrap().to_string();
        assert!(err(&[("bootstrap_servers", "x:1")]).contains("param.topic"));
        assert!(err(&[("topic", "t")]).contains("param.bootstrap_servers"));
        let e = err(&[("topic", "t"), ("bootstrap_servers", "x:1"), ("no.such.property", "1")]);
        assert!(e.contains("no.such.property"), "{e}");
        let e = err(&[("topic", "t"), ("bootstrap_servers", "a:1"), ("bootstrap.servers", "b:1")]);
        assert!(e.contains("disagree"), "{e}");
    }

    #[test]
    fn a_user_reset_policy_relaxes_position_checks() {
        let src = KafkaSource::from_params(&params(&[
            ("topic", "t"),
            ("bootstrap.servers", "localhost:1"),
            ("auto.offset.reset", "earliest"),
        ]))
        .unwrap();
        assert!(!src.strict_positions);
    }
}
