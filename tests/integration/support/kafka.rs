//! librdkafka's mock cluster (the real broker protocol over TCP, its own
//! port) with an idempotent producer: the Kafka tests' and the Druid
//! tests' broker.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use serde_json::{Value, json};
use std::time::Duration;

pub const TOPIC: &str = "events";

/// A mock cluster (one broker, its own TCP port) and a producer for it.
pub struct Kafka {
    pub mock: MockCluster<'static, DefaultProducerContext>,
    pub producer: BaseProducer,
}

impl Kafka {
    pub fn new(partitions: i32) -> Self {
        Self::compressed(partitions, "none")
    }

    /// A cluster whose producer compresses record batches with `codec`.
    pub fn compressed(partitions: i32, codec: &str) -> Self {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic(TOPIC, partitions, 1).unwrap();
        let producer = ClientConfig::new()
            .set("bootstrap.servers", mock.bootstrap_servers())
            // Exactly once and in order, so offset N is the N-th message sent.
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", codec)
            .create()
            .unwrap();
        Kafka { mock, producer }
    }

    pub fn bootstrap(&self) -> String {
        self.mock.bootstrap_servers()
    }

    pub fn send<K: ToBytes + ?Sized, P: ToBytes + ?Sized>(&self, mut record: BaseRecord<'_, K, P>) {
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                // The local queue is full: let deliveries drain it.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    self.producer.poll(Duration::from_millis(10));
                    record = r;
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }

    pub fn produce<S: AsRef<str>>(&self, partition: i32, payloads: &[S]) {
        for p in payloads {
            self.send(rec().partition(partition).payload(p.as_ref().as_bytes()));
        }
        self.flush();
    }

    pub fn flush(&self) {
        self.producer.flush(Duration::from_secs(20)).unwrap();
    }

    /// (low, high) watermarks of a partition.
    pub fn watermarks(&self, partition: i32) -> (i64, i64) {
        self.consumer(&[]).fetch_watermarks(TOPIC, partition, Duration::from_secs(5)).unwrap()
    }

    pub fn consumer(&self, extra: &[(&str, &str)]) -> BaseConsumer {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap());
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create().unwrap()
    }

    /// A spec reading the topic; `source` entries are merged into `ingestion_source`.
    pub fn spec(&self, name: &str, shards: u32, source: Value) -> Value {
        let mut ingestion_source = json!({
            "type": "kafka",
            "pointer.init.reset": "earliest",
            "poll.timeout": 50,
            "param": {"topic": TOPIC, "bootstrap_servers": self.bootstrap()}
        });
        for (k, v) in source.as_object().unwrap() {
            if k == "param" {
                for (pk, pv) in v.as_object().unwrap() {
                    ingestion_source["param"][pk] = pv.clone();
                }
            } else {
                ingestion_source[k] = v.clone();
            }
        }
        json!({"name": name, "settings": {"index.number_of_shards": shards, "ingestion_source": ingestion_source}})
    }
}

/// A record for the test topic, with byte keys and payloads.
pub fn rec<'a>() -> BaseRecord<'a, [u8], [u8]> {
    BaseRecord::to(TOPIC)
}
