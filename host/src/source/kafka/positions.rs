//! Where a reader starts: the topic's partitions, the partition's
//! watermarks, and the offset a start position means (checked against them).

use super::client::{KafkaConsumer, create_consumer};
use super::{KafkaSource, METADATA_TIMEOUT};
use crate::pointer::{Pointer, StartPosition};
use crate::source::SourceError;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Instant;

impl KafkaSource {
    pub(super) fn consumer(&self) -> Result<KafkaConsumer, SourceError> {
        create_consumer(&self.config, &self.bootstrap)
    }

    /// The topic's partition count, or why it cannot be known.
    pub(super) fn partitions(&self, consumer: &KafkaConsumer) -> Result<u32, SourceError> {
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

    pub(super) fn unreachable(&self, e: &KafkaError) -> SourceError {
        SourceError::Unavailable(format!("cannot reach Kafka at {} (topic {:?}): {e}", self.bootstrap, self.topic))
    }

    /// Turns a start position into the offset to assign, checked against the
    /// partition's watermarks.
    pub(super) fn resolve(
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

/// Where a reader starts.
pub(super) struct Start {
    pub(super) offset: Offset,
    /// The offset of the next message, as far as known now.
    pub(super) position: i64,
    /// Skip messages older than this (timestamp lookups the broker cannot do).
    pub(super) skip_before_ts: Option<i64>,
}
