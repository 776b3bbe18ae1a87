//! The librdkafka client: its context (logs, errors, commit results) and
//! the creation of a consumer.

use crate::source::SourceError;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, TopicPartitionList};

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

pub(super) type KafkaConsumer = BaseConsumer<KafkaContext>;

pub(super) fn create_consumer(config: &ClientConfig, bootstrap: &str) -> Result<KafkaConsumer, SourceError> {
    config.create_with_context(KafkaContext).map_err(|e| match e {
        KafkaError::ClientConfig(..) => SourceError::Config(format!("invalid Kafka consumer configuration: {e}")),
        e => SourceError::Unavailable(format!("cannot create a Kafka consumer for {bootstrap}: {e}")),
    })
}
