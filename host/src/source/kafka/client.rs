//! The librdkafka client: its context (logs, errors, commit results) and
//! the creation of a consumer.

use crate::source::SourceError;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, TopicPartitionList};

/// How long a repeated librdkafka warning is said at debug level only: an
/// unreachable cluster makes librdkafka log the same lines many times a second.
const REPEAT_QUIET: std::time::Duration = std::time::Duration::from_secs(60);

/// Routes librdkafka's logs and errors to `tracing`, each warning once a minute.
#[derive(Default)]
pub struct KafkaContext {
    /// When each (facility, message) warning was last said.
    said: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl KafkaContext {
    /// True the first time a warning is seen in [`REPEAT_QUIET`].
    fn first_in_a_while(&self, key: String) -> bool {
        let mut said = self.said.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if said.get(&key).is_some_and(|at| now.duration_since(*at) < REPEAT_QUIET) {
            return false;
        }
        if said.len() > 1024 {
            said.clear();
        }
        said.insert(key, now);
        true
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let repeated = matches!(level, RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning)
            && !self.first_in_a_while(format!("{fac}: {message}"));
        if repeated {
            tracing::debug!(target: "librdkafka", facility = fac, "{message}");
            return;
        }
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
        if self.first_in_a_while(format!("{error}: {reason}")) {
            tracing::warn!(target: "librdkafka", %error, "{reason}");
        } else {
            tracing::debug!(target: "librdkafka", %error, "{reason}");
        }
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
    config.create_with_context(KafkaContext::default()).map_err(|e| match e {
        KafkaError::ClientConfig(..) => SourceError::Config(format!("invalid Kafka consumer configuration: {e}")),
        e => SourceError::Unavailable(format!("cannot create a Kafka consumer for {bootstrap}: {e}")),
    })
}
