//! The full exactly-once pipeline with the Kafka source (stage
//! `pipelinekafka`): librdkafka's mock cluster runs in this process and each
//! shard's consumer talks to it over TCP (`bootstrap_servers`), so the
//! broker protocol, fetches and the consumer's queues are all in the
//! measurement, as with a real broker on localhost.
//!
//! The mock keeps at most 5 MiB of record batches per partition
//! (`rdkafka_mock.c`: `max_size`) and drops the oldest beyond that, so the
//! data is small: 16 partitions of ~12,000 messages into 16 shards, and one
//! partition filled as far as the mock allows (~16,000) into 1 shard. The
//! watermarks are checked before the runs, so nothing was dropped.

use crate::data::{Generator, Line};
use crate::{RUNS, Row, SEED, check_meta, machine, run_spec};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;
use sluice::plugin::CompiledPlugin;
use sluice::spec::IngestionSpec;
use std::path::Path;
use std::time::{Duration, Instant};

const TOPIC: &str = "bench-pipeline";
/// What the mock keeps of a partition (record batches, bytes).
const MOCK_PARTITION_BYTES: u64 = 5 << 20;
/// Bytes a record adds to its payload in a record batch (length, attributes,
/// timestamp and offset deltas, key and value lengths, headers count), with
/// some room for the batch headers.
const RECORD_OVERHEAD: u64 = 16;
/// The share of `MOCK_PARTITION_BYTES` the single partition is filled to.
const FILL: f64 = 0.95;
/// Messages per partition of the 16-partition run (as the Kafka drain).
const PER_PARTITION: u64 = 12_000;

/// The Kafka pipeline rows, each with its start time (sinks opened and
/// shards started, not counted in the row).
/// Sends one record, waiting while the producer's queue is full.
pub fn produce(producer: &BaseProducer, topic: &str, partition: i32, payload: &[u8]) {
    let mut record = BaseRecord::<(), [u8]>::to(topic).partition(partition).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                producer.poll(Duration::from_millis(5));
                record = r;
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
    }
}

pub fn kafka_pipelines(plugin: &CompiledPlugin, work: &Path) -> Vec<(Row, f64)> {
    // As many messages as fit in one partition of the mock.
    let mut g = Generator::new(SEED);
    let (mut fill, mut bytes) = (0u64, 0u64);
    loop {
        let size = g.line().text.len() as u64 + RECORD_OVERHEAD;
        if (bytes + size) as f64 > MOCK_PARTITION_BYTES as f64 * FILL {
            break;
        }
        bytes += size;
        fill += 1;
    }
    [(16, 16 * PER_PARTITION), (1, fill)]
        .into_iter()
        .map(|(partitions, count)| kafka_pipeline(plugin, work, partitions, count))
        .collect()
}

fn kafka_pipeline(plugin: &CompiledPlugin, work: &Path, partitions: u32, count: u64) -> (Row, f64) {
    let mut g = Generator::new(SEED);
    let lines: Vec<Line> = (0..count).map(|_| g.line()).collect();
    // Each document's history in one partition, as in the file streams.
    let partition_of = |l: &Line| (l.key % partitions as u64) as i32;
    let mut per_partition = vec![(0u64, 0u64); partitions as usize];
    for l in &lines {
        let p = &mut per_partition[partition_of(l) as usize];
        p.0 += 1;
        p.1 += l.text.len() as u64 + RECORD_OVERHEAD;
    }
    let fullest = per_partition.iter().map(|p| p.1).max().unwrap();
    assert!(
        fullest < MOCK_PARTITION_BYTES,
        "{fullest} bytes in one partition: more than the mock keeps ({MOCK_PARTITION_BYTES})"
    );

    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, partitions as i32, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        // In order and once: offset N of a partition is its N-th message.
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let produce_started = Instant::now();
    for line in &lines {
        produce(&producer, TOPIC, partition_of(line), line.text.as_bytes());
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    drop(lines);
    eprintln!(
        "  produced {count} messages into {partitions} partition(s) of the mock cluster in {:.1}s",
        produce_started.elapsed().as_secs_f64()
    );
    // Nothing dropped by the mock's retention, nothing doubled.
    let check: BaseConsumer = ClientConfig::new().set("bootstrap.servers", mock.bootstrap_servers()).create().unwrap();
    for (p, (n, _)) in per_partition.iter().enumerate() {
        let (low, high) = check.fetch_watermarks(TOPIC, p as i32, Duration::from_secs(10)).unwrap();
        assert_eq!(low, 0, "the mock's retention dropped messages of partition {p}");
        assert_eq!(high as u64, *n, "partition {p} holds every message produced to it, once");
    }
    drop(check);

    let spec = || -> IngestionSpec {
        IngestionSpec::from_value(&json!({
            "name": "bench",
            "settings": {
                "index.number_of_shards": partitions,
                "ingestion_source": {
                    "type": "kafka",
                    "pointer.init.reset": "earliest",
                    "error_strategy": "DROP",
                    "num_processor_threads": 1,
                    "param": {"topic": TOPIC, "bootstrap_servers": mock.bootstrap_servers()}
                }
            },
            "mappings": crate::data::mappings()
        }))
        .unwrap()
    };
    let mut runs: Vec<_> = (0..RUNS)
        .map(|_| {
            let data_dir = work.join(format!("data-kafka-{partitions}"));
            let run = run_spec(spec(), plugin, &data_dir);
            check_meta(&run.counters, run.live, &g, count);
            let _ = std::fs::remove_dir_all(&data_dir);
            run
        })
        .collect();
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let run = runs.swap_remove(RUNS / 2);
    let (fewest, most) =
        (per_partition.iter().map(|p| p.0).min().unwrap(), per_partition.iter().map(|p| p.0).max().unwrap());
    let spread = if fewest == most { format!("{most}") } else { format!("{fewest}-{most}") };
    let row = Row {
        stage: format!(
            "full pipeline, exactly-once, Kafka mock over TCP: {partitions} shard{} ({partitions} partition{} of {spread}) \
             (median of {RUNS})",
            if partitions > 1 { "s" } else { "" },
            if partitions > 1 { "s" } else { "" },
        ),
        messages: count,
        bytes: g.bytes,
        secs: run.secs,
        cpu: run.cpu,
        load: machine::load1(),
    };
    eprintln!(
        "  {}: {count} messages in {:.2}s ({:.0}/s, {:.2} CPU s) after a start of {:.2}s",
        row.stage,
        row.secs,
        row.rate(),
        row.cpu,
        run.start_secs
    );
    (row, run.start_secs)
}
