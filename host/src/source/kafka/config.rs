//! `param.*` into the consumer configuration every reader shares, and the
//! consumer-group committer when `param.group.id` asks for one.

use super::KafkaSource;
use super::client::{KafkaConsumer, create_consumer};
use super::committer::commit_loop;
use crate::source::SourceError;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::Mutex;
use std::sync::mpsc::channel;

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
