//! Reading one assigned partition: messages, caught-up and lag from the
//! watermarks, and the classification of consumer errors.

use super::METADATA_TIMEOUT;
use super::client::KafkaConsumer;
use crate::pointer::Pointer;
use crate::source::{Batch, Header, Message, PartitionReader, SourceError};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// Transient consumer errors (a broker connection failing) that keep coming
/// for this long without any message or end-of-partition in between are
/// reported, so the shard shows them in its state and starts over.
const STALL_LIMIT: Duration = Duration::from_secs(15);

/// Reads one assigned partition.
pub(super) struct KafkaReader {
    pub(super) consumer: KafkaConsumer,
    pub(super) topic: String,
    pub(super) topic_c: CString,
    pub(super) partition: i32,
    pub(super) bootstrap: String,
    /// The offset after the last message seen (the next one to read).
    pub(super) position: i64,
    /// The highest high watermark seen.
    pub(super) high: i64,
    /// librdkafka reported the end of the partition and nothing came since.
    pub(super) at_eof: bool,
    pub(super) skip_before_ts: Option<i64>,
    /// When a run of transient errors without progress began, and the last one.
    pub(super) errors_since: Option<(Instant, Instant)>,
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
pub(super) struct EmptyReader;

impl PartitionReader for EmptyReader {
    fn poll(&mut self, _max: usize, timeout: Duration) -> Result<Batch, SourceError> {
        std::thread::sleep(timeout);
        Ok(Batch { caught_up: true, pointer_lag: Some(0), ..Batch::default() })
    }
}
