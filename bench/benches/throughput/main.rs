//! sluice's throughput benchmark (issues 9 and 19).
//!
//! ```sh
//! cargo bench -p sluice-bench
//! ```
//!
//! One run generates one data set (OpenSearch-format messages of about 300
//! bytes, see `data.rs`) and measures, on it (the `SLUICE_BENCH_ONLY` name of
//! each stage in brackets):
//!
//! 1. the raw source drain, no decoding: the file source [`file`], and Kafka
//!    [`kafka`] (librdkafka's mock cluster in this process: produce, then
//!    drain through `KafkaSource` readers);
//! 2. decoding with the opensearch logic compiled natively [`native`];
//! 3. decoding through the wasm guest in the host (`PluginInstance::decode`,
//!    in batches as the engine does) [`wasm`];
//! 4. the sink alone (`EmbeddedSink::commit` of pre-decoded batches, durable)
//!    [`sink`];
//! 5. the full pipeline (`Ingestion` over file streams until idle, exactly
//!    once) for 1, 3 and 16 shards [`pipeline1`, `pipeline3`, `pipeline16`],
//!    and 1 shard with `num_processor_threads` = the core count
//!    [`pipeline1x<cores>`];
//! 6. the full pipeline with the Kafka source reading the mock cluster over
//!    TCP, 16 shards on 16 partitions and 1 shard on 1 partition, as much as
//!    the mock keeps (`kafka_pipeline.rs`) [`pipelinekafka`];
//! 7. idle shards: the CPU of 1,000 shards that have nothing to read, over a
//!    10 s window, and the process's threads, in a child process (`idle.rs`)
//!    [`idle1000`];
//!
//! then peak resident memory of the full pipeline for a backlog of 10,000, of
//! 1,000,000 and of 10,000,000 messages, into 1 shard and into 16 shards
//! (the backlog split over 16 partitions), each in a child process (this
//! binary re-executed with `--rss-child`) [`rss`]. Each stage except the raw
//! file drain and the idle shards runs three times and reports its median
//! run. The last lines compare the results with issue 19's targets.
//!
//! Environment: `SLUICE_BENCH_MESSAGES` (default 1,000,000),
//! `SLUICE_BENCH_SKIP_10M=1` (skip the 10M backlogs), `SLUICE_BENCH_BACKLOG`
//! (the large backlog, default 10,000,000), `SLUICE_BENCH_IDLE_SHARDS` (the
//! idle stage's shards, default 1,000), `SLUICE_BENCH_ONLY` (a comma list of
//! the stage names above, for profiling one stage), `SLUICE_BENCH_DIR` (where
//! the data goes; default the system temp dir), `SLUICE_BENCH_GUEST` (another
//! build of the opensearch component for the wasm stage and the in-process
//! pipelines, to compare build settings), `SLUICE_BENCH_PERF_CTL` (a `perf
//! record --control` fifo: perf samples only while a stage is measured;
//! with `SLUICE_BENCH_PERF_STAGE=<text>`, only stages whose name holds it).

mod data;
mod idle;
mod kafka_pipeline;
mod machine;

use data::{Generator, Line};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, Producer};
use serde_json::json;
use sluice::engine::processor::plan;
use sluice::engine::{IdleOutcome, RuntimeOverrides};
use sluice::plugin::{CompiledPlugin, Limits, Outcome, PluginEngine, builtin};
use sluice::pointer::{Pointer, StartPosition};
use sluice::sink::embedded::EmbeddedSink;
use sluice::sink::{CommitBatch, ShardCounters, ShardSink};
use sluice::source::file::FileSource;
use sluice::source::kafka::KafkaSource;
use sluice::source::{Message, PartitionReader, Source};
use sluice::spec::{ErrorStrategy, IngestionSpec};
use sluice_plugin_sdk::Plugin;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SEED: u64 = 9;
/// The engine's default `poll.max_batch_size`: messages per poll, plugin call and commit.
const BATCH: usize = 1000;
const SMALL_BACKLOG: u64 = 10_000;
const MIDDLE_BACKLOG: u64 = 1_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map_or(default, |v| v.replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

fn wanted(stage: &str) -> bool {
    match std::env::var("SLUICE_BENCH_ONLY") {
        Ok(list) if !list.is_empty() => list.split(',').any(|s| s.trim() == stage),
        _ => true,
    }
}

/// One measured stage.
struct Row {
    stage: String,
    messages: u64,
    bytes: u64,
    secs: f64,
    cpu: f64,
    load: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.secs
    }
}

/// With `SLUICE_BENCH_PERF_CTL=<fifo>` (perf record --delay=-1
/// --control=fifo:<fifo>), perf samples only while a stage is measured.
fn perf_control(command: &str) {
    use std::io::Write;
    use std::sync::{Mutex, OnceLock};
    // Opened once: perf stops reading a control fifo whose writer closed it.
    static FIFO: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let fifo = FIFO.get_or_init(|| {
        std::env::var_os("SLUICE_BENCH_PERF_CTL")
            .map(|path| Mutex::new(std::fs::OpenOptions::new().write(true).open(path).expect("perf control fifo")))
    });
    if let Some(fifo) = fifo {
        let mut fifo = fifo.lock().unwrap();
        fifo.write_all(format!("{command}\n").as_bytes()).unwrap();
        fifo.flush().unwrap();
        // perf applies the command asynchronously; give it a moment.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `f`, timing it in wall-clock and CPU seconds; `f` returns (messages, bytes).
fn measure(stage: &str, f: impl FnOnce() -> (u64, u64)) -> Row {
    // SLUICE_BENCH_PERF_STAGE=<text>: sample only the stages whose name holds it.
    let sampled = std::env::var("SLUICE_BENCH_PERF_STAGE").map_or(true, |s| stage.contains(&s));
    if sampled {
        perf_control("enable");
    }
    let cpu = machine::cpu_seconds();
    let started = Instant::now();
    let (messages, bytes) = f();
    let secs = started.elapsed().as_secs_f64();
    if sampled {
        perf_control("disable");
    }
    let row =
        Row { stage: stage.into(), messages, bytes, secs, cpu: machine::cpu_seconds() - cpu, load: machine::load1() };
    eprintln!(
        "  {stage}: {messages} messages in {secs:.2}s ({:.0}/s, {:.1} MB/s, {:.2} CPU s)",
        row.rate(),
        bytes as f64 / secs / 1e6,
        row.cpu
    );
    row
}

/// Runs of each stage; the row is the median run (single runs of a few
/// seconds vary by ~10% on a 2-core machine).
const RUNS: usize = 3;

/// The median of `RUNS` rows (by time), labelled as such.
fn median(mut runs: Vec<Row>) -> Row {
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let mut row = runs.swap_remove(runs.len() / 2);
    row.stage = format!("{} (median of {})", row.stage, RUNS);
    row
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        rss_child(&args[i + 1..]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--idle-child") {
        idle::idle_child(&args[i + 1..]);
        return;
    }
    let messages = env_u64("SLUICE_BENCH_MESSAGES", 1_000_000);
    let backlog = env_u64("SLUICE_BENCH_BACKLOG", 10_000_000);
    let skip_large = std::env::var("SLUICE_BENCH_SKIP_10M").is_ok_and(|v| !v.is_empty() && v != "0");
    let root = std::env::var_os("SLUICE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    std::fs::create_dir_all(&root).unwrap();
    let work = tempfile::Builder::new().prefix("sluice-bench-").tempdir_in(&root).unwrap();
    let started = Instant::now();

    println!("# sluice throughput benchmark");
    println!();
    let mut command = "cargo bench -p sluice-bench".to_string();
    for var in [
        "SLUICE_BENCH_MESSAGES",
        "SLUICE_BENCH_SKIP_10M",
        "SLUICE_BENCH_BACKLOG",
        "SLUICE_BENCH_IDLE_SHARDS",
        "SLUICE_BENCH_ONLY",
        "SLUICE_BENCH_DIR",
    ] {
        if let Ok(v) = std::env::var(var) {
            command = format!("{var}={v} {command}");
        }
    }
    println!("command: `{command}`");
    println!(
        "machine: {} cores ({}), {:.1} GiB memory, Linux {}; fsync of 4 KiB in {}: {:.2} ms (median)",
        machine::cores(),
        machine::cpu_model(),
        machine::mem_total_gib(),
        machine::kernel(),
        root.display(),
        machine::fsync_ms(work.path())
    );
    println!("load average at start: {}", machine::loadavg());

    eprintln!("generating {messages} messages");
    let mut generator = Generator::new(SEED);
    let lines: Vec<Line> = (0..messages).map(|_| generator.line()).collect();
    let bytes = generator.bytes;
    println!(
        "data: {messages} messages, {:.1} MB, {:.0} bytes on average: {} new documents indexed, {} versioned updates, \
         {} versioned deletes, {} invalid; {} documents live at the end",
        bytes as f64 / 1e6,
        bytes as f64 / messages as f64,
        messages - generator.updates - generator.deletes - generator.invalid,
        generator.updates,
        generator.deletes,
        generator.invalid,
        generator.live
    );
    println!();
    let mut rows = Vec::new();

    // Streams on disk with 1, 3 and 16 partitions (the same messages).
    let stream = |partitions: u32| work.path().join(format!("stream-{partitions}"));
    for partitions in [1, 3, 16] {
        let decoders = machine::cores();
        if partitions == 1 && (wanted("file") || wanted(&format!("pipeline1x{decoders}")))
            || wanted(&format!("pipeline{partitions}"))
        {
            data::write_lines(&stream(partitions), partitions, &lines).unwrap();
        }
    }

    // 1a. File source drain.
    if wanted("file") {
        let row = measure("source drain: file (1 reader)", || file_drain(&stream(1), messages));
        assert_eq!(row.bytes, bytes, "the file drain read every payload byte");
        rows.push(row);
    }
    // 1b. Kafka drain.
    if wanted("kafka") {
        rows.push(kafka_drain(&lines));
    }

    let config = json!({"mappings": data::mappings()}).to_string();
    // The batches as the poller hands them to the processor.
    let batches: Vec<Vec<Message>> = lines
        .chunks(BATCH)
        .enumerate()
        .map(|(b, chunk)| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, l)| Message {
                    pointer: Pointer::Small((b * BATCH + i) as u64),
                    timestamp_ms: None,
                    key: None,
                    headers: Vec::new(),
                    payload: Some(l.text.as_bytes().to_vec()),
                })
                .collect()
        })
        .collect();
    drop(lines);

    // 2. Native decode.
    if wanted("native") {
        let plugin = sluice_opensearch::OpenSearch::configure(&config).unwrap();
        let native: Vec<Vec<sluice_plugin_sdk::Message>> = batches
            .iter()
            .map(|b| {
                b.iter()
                    .map(|m| sluice_plugin_sdk::Message {
                        shard: 0,
                        pointer: m.pointer.to_string(),
                        payload: m.payload.clone(),
                        ..Default::default()
                    })
                    .collect()
            })
            .collect();
        let runs = (0..RUNS)
            .map(|_| {
                let mut invalid = 0;
                let row = measure("decode: native (opensearch logic, no wasm)", || {
                    for b in &native {
                        for d in plugin.decode_batch(b) {
                            invalid += matches!(d, sluice_plugin_sdk::Decoded::Invalid(_)) as u64;
                        }
                    }
                    (messages, bytes)
                });
                assert_eq!(invalid, generator.invalid, "the native decode found every invalid message");
                row
            })
            .collect();
        rows.push(median(runs));
    }

    // 3. Wasm decode, as the processor calls it.
    let engine = PluginEngine::new().unwrap();
    // SLUICE_BENCH_GUEST=<file.wasm>: another build of the plugin (guest build flags, A/B).
    let guest = std::env::var_os("SLUICE_BENCH_GUEST")
        .filter(|p| !p.is_empty())
        .map(|p| std::fs::read(p).expect("SLUICE_BENCH_GUEST"));
    let compiled = engine
        .compile("opensearch", guest.as_deref().unwrap_or(builtin::SLUICE_OPENSEARCH), Limits::default())
        .unwrap();
    let mut outcomes: Vec<Vec<Outcome>> = Vec::new();
    if wanted("wasm") || wanted("sink") {
        let mut instance = compiled.instantiate(&config).unwrap();
        let runs = (0..RUNS)
            .map(|_| {
                outcomes.clear();
                measure("decode: wasm guest in the host", || {
                    for b in &batches {
                        outcomes.push(instance.decode(0, 0, b).unwrap());
                    }
                    (messages, bytes)
                })
            })
            .collect();
        let row = median(runs);
        let invalid = outcomes.iter().flatten().filter(|o| matches!(o, Outcome::Invalid(_))).count() as u64;
        // (Also for another build of the plugin: the same messages are invalid.)
        assert_eq!(invalid, generator.invalid, "the wasm decode found every invalid message");
        if wanted("wasm") {
            rows.push(row);
        }
    }

    // 4. Sink apply: pre-decoded, planned batches; durable commits.
    if wanted("sink") {
        let outcomes = std::mem::take(&mut outcomes);
        let runs = (0..RUNS)
            .map(|_| {
                let commits: Vec<CommitBatch> = batches
                    .iter()
                    .zip(outcomes.iter().cloned())
                    .filter_map(|(b, o)| plan(0, b, o, ErrorStrategy::Drop).commit)
                    .collect();
                let dir = work.path().join("sink-only");
                let sink = EmbeddedSink::open(&dir).unwrap();
                let row = measure(&format!("sink apply: embedded, durable commits of {BATCH}"), || {
                    for c in commits {
                        sink.commit(c).unwrap();
                    }
                    (messages, bytes)
                });
                check_meta(&[sink.meta().unwrap().counters], sink.meta().unwrap().live_docs, &generator, messages);
                drop(sink);
                let _ = std::fs::remove_dir_all(&dir);
                row
            })
            .collect();
        rows.push(median(runs));
    }
    drop(outcomes);
    drop(batches);

    // 5. Full pipeline.
    let mut starts = Vec::new();
    // (shards, decoders per shard): the spec's defaults (one decoder), and
    // one shard with num_processor_threads = the core count.
    let cores = machine::cores() as u32;
    for (shards, decoders) in [(1, 1), (3, 1), (16, 1), (1, cores)] {
        let name = if decoders == 1 { format!("pipeline{shards}") } else { format!("pipeline{shards}x{decoders}") };
        if !wanted(&name) {
            continue;
        }
        let mut runs: Vec<PipelineRun> = (0..RUNS)
            .map(|_| {
                let data_dir = work.path().join(format!("data-{name}"));
                let run = run_pipeline(&stream(shards), shards, decoders, &compiled, &data_dir);
                check_meta(&run.counters, run.live, &generator, messages);
                let _ = std::fs::remove_dir_all(&data_dir);
                run
            })
            .collect();
        runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        let run = runs.swap_remove(RUNS / 2);
        let row = Row {
            stage: format!(
                "full pipeline, exactly-once: {shards} shard{}{} (median of {RUNS})",
                if shards > 1 { "s" } else { "" },
                if decoders > 1 { format!(", num_processor_threads {decoders}") } else { String::new() }
            ),
            messages,
            bytes,
            secs: run.secs,
            cpu: run.cpu,
            load: machine::load1(),
        };
        eprintln!(
            "  {}: {messages} messages in {:.2}s ({:.0}/s, {:.2} CPU s) after a start of {:.2}s",
            row.stage,
            row.secs,
            row.rate(),
            row.cpu,
            run.start_secs
        );
        starts.push((row.stage.clone(), run.start_secs));
        rows.push(row);
    }
    for partitions in [1, 3, 16] {
        let _ = std::fs::remove_dir_all(stream(partitions));
    }

    // 6. Full pipeline from Kafka (the mock cluster, over TCP).
    let mut kafka_starts = Vec::new();
    if wanted("pipelinekafka") {
        for (row, start_secs) in kafka_pipeline::kafka_pipelines(&compiled, work.path()) {
            kafka_starts.push((row.stage.clone(), start_secs));
            rows.push(row);
        }
    }

    // 7. Idle shards, in a child process.
    let cache = work.path().join("component-cache");
    let idle = wanted("idle1000").then(|| {
        fill_component_cache(&cache);
        idle::idle_stage(work.path(), &cache, env_u64("SLUICE_BENCH_IDLE_SHARDS", idle::TARGET_SHARDS))
    });

    print_table(&rows);
    let short = |starts: &[(String, f64)], prefix: &str| -> String {
        starts
            .iter()
            .map(|(stage, s)| {
                let stage = stage.trim_start_matches(prefix);
                format!("{} {s:.2}s", stage.trim_end_matches(&format!(" (median of {RUNS})")))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !starts.is_empty() {
        println!();
        println!(
            "full pipeline: seconds from the first message read to every shard idle (all committed); not counted: \
             opening the sinks and starting the shards ({})",
            short(&starts, "full pipeline, exactly-once: ")
        );
    }
    if !kafka_starts.is_empty() {
        println!();
        println!(
            "Kafka pipeline: seconds from the resume of the shards (each then opens its consumer and connects to the \
             mock) to every shard idle (all committed); not counted: opening the sinks and starting the shards ({})",
            short(&kafka_starts, "full pipeline, exactly-once, Kafka mock over TCP: ")
        );
    }
    if let Some(idle) = &idle {
        println!();
        idle.print();
    }
    println!();
    print_targets(&rows, idle.as_ref());

    // Peak memory, each backlog in a child process, into 1 and 16 shards.
    if wanted("rss") {
        // The middle size shows whether memory still grows between 1M and 10M.
        let mut sizes = vec![SMALL_BACKLOG, MIDDLE_BACKLOG];
        if !skip_large {
            sizes.push(backlog);
        }
        fill_component_cache(&cache);
        let mut summaries = Vec::new();
        for shards in [1, 16] {
            let peaks: Vec<(u64, (u64, f64))> =
                sizes.iter().map(|&size| (size, rss_backlog(work.path(), &cache, size, shards))).collect();
            let label =
                if shards == 1 { "1 shard".to_string() } else { format!("{shards} shards, {shards} partitions") };
            println!();
            println!("| backlog (messages, {label}, full pipeline) | peak RSS (VmHWM) | seconds | messages/s |");
            println!("|---:|---:|---:|---:|");
            for (size, (kib, secs)) in &peaks {
                println!("| {size} | {:.1} MiB | {secs:.1} | {:.0} |", *kib as f64 / 1024.0, *size as f64 / secs);
            }
            if let [(_, (small, _)), (_, (middle, _)), (large_size, (large, _))] = peaks[..] {
                let growth = large as f64 / small as f64;
                summaries.push(format!(
                    "peak memory, {label}, {large_size} vs {SMALL_BACKLOG} backlog: {growth:.2}x (target <= 1.2x: {}); \
                     {large_size} vs {MIDDLE_BACKLOG}: {:.2}x",
                    if growth <= 1.2 { "MET" } else { "NOT MET" },
                    large as f64 / middle as f64
                ));
            }
        }
        println!();
        for line in &summaries {
            println!("{line}");
        }
        if skip_large {
            println!("(the 10M backlogs were skipped: SLUICE_BENCH_SKIP_10M)");
        }
    }
    println!();
    println!(
        "load average at the end: {}; the whole run took {:.0}s",
        machine::loadavg(),
        started.elapsed().as_secs_f64()
    );
}

/// Checks that a sink (or all shards' sinks) holds what the generator says.
fn check_meta(counters: &[ShardCounters], live: u64, g: &Generator, messages: u64) {
    let mut total = ShardCounters::default();
    for c in counters {
        total.add(c);
    }
    assert_eq!(total.total_processed_count, messages, "every message processed once");
    assert_eq!(total.total_invalid_message_count, g.invalid, "every invalid message counted once");
    assert_eq!(total.total_version_conflicts_count, 0, "the data has no stale versions");
    assert_eq!(live, g.live, "live documents");
}

fn file_drain(base: &Path, expected: u64) -> (u64, u64) {
    let params = BTreeMap::from([
        ("base_directory".to_string(), base.display().to_string()),
        ("stream".to_string(), "events".to_string()),
    ]);
    let source = FileSource::from_params(&params).unwrap();
    let mut reader = source.open(0, StartPosition::Earliest).unwrap();
    drain(reader.as_mut(), expected)
}

/// Produces the first messages into librdkafka's mock cluster (it keeps
/// about 5 MiB and 100,000 messages per partition, so 16 partitions of
/// 12,000), then drains them through `KafkaSource` readers, one partition
/// after the other, each timed from `open` to its last message.
fn kafka_drain(lines: &[Line]) -> Row {
    const TOPIC: &str = "bench";
    const PARTITIONS: i32 = 16;
    const PER_PARTITION: usize = 12_000;
    let take = lines.len().min(PARTITIONS as usize * PER_PARTITION);
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let produce_started = Instant::now();
    for (i, line) in lines[..take].iter().enumerate() {
        kafka_pipeline::produce(&producer, TOPIC, i as i32 % PARTITIONS, line.text.as_bytes());
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    eprintln!("  produced {take} messages into the mock cluster in {:.1}s", produce_started.elapsed().as_secs_f64());
    let check: BaseConsumer = ClientConfig::new().set("bootstrap.servers", mock.bootstrap_servers()).create().unwrap();
    let mut expected = Vec::new();
    for p in 0..PARTITIONS {
        let (low, high) = check.fetch_watermarks(TOPIC, p, Duration::from_secs(10)).unwrap();
        assert_eq!(low, 0, "the mock's retention dropped messages of partition {p}");
        expected.push(high as u64);
    }
    assert_eq!(expected.iter().sum::<u64>(), take as u64);
    let mut params = BTreeMap::from([
        ("topic".to_string(), TOPIC.to_string()),
        ("bootstrap_servers".to_string(), mock.bootstrap_servers()),
    ]);
    // Consumer properties to try instead of sluice's defaults: SLUICE_BENCH_KAFKA_PARAMS="k=v,k=v".
    for kv in std::env::var("SLUICE_BENCH_KAFKA_PARAMS").unwrap_or_default().split(',').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').expect("SLUICE_BENCH_KAFKA_PARAMS: k=v,k=v");
        params.insert(k.to_string(), v.to_string());
    }
    let source = KafkaSource::from_params(&params).unwrap();
    // Opening a reader takes a random 10-100 ms against the mock (its
    // timers): the readers are opened before the clock starts.
    let runs = (0..RUNS)
        .map(|_| {
            let mut readers: Vec<Box<dyn PartitionReader>> =
                (0..PARTITIONS as u32).map(|p| source.open(p, StartPosition::Earliest).unwrap()).collect();
            measure(&format!("source drain: kafka mock ({PARTITIONS} partitions, one reader at a time)"), || {
                let (mut total, mut bytes) = (0, 0);
                for (p, reader) in readers.iter_mut().enumerate() {
                    let (n, b) = drain(reader.as_mut(), expected[p]);
                    total += n;
                    bytes += b;
                }
                (total, bytes)
            })
        })
        .collect();
    median(runs)
}

/// Polls `reader` until it has given `expected` messages; (messages, payload
/// bytes). Fails instead of hanging if the source falls short.
fn drain(reader: &mut dyn PartitionReader, expected: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut n, mut bytes) = (0, 0);
    while n < expected {
        assert!(Instant::now() < deadline, "the source gave {n} of {expected} messages in 120 s");
        let batch = reader.poll(BATCH, Duration::from_millis(100)).unwrap();
        n += batch.messages.len() as u64;
        bytes += batch.messages.iter().map(|m| m.payload.as_ref().map_or(0, Vec::len) as u64).sum::<u64>();
    }
    assert_eq!(n, expected, "no more messages than were produced");
    (n, bytes)
}

fn spec(base: &Path, shards: u32, decoders: u32) -> IngestionSpec {
    IngestionSpec::from_value(&json!({
        "name": "bench",
        "settings": {
            "index.number_of_shards": shards,
            "ingestion_source": {
                "type": "file",
                "pointer.init.reset": "earliest",
                "error_strategy": "DROP",
                "num_processor_threads": decoders,
                "param": {"stream": "events", "base_directory": base}
            }
        },
        "mappings": data::mappings()
    }))
    .unwrap()
}

/// What a pipeline run measured.
struct PipelineRun {
    counters: Vec<ShardCounters>,
    live: u64,
    /// Opening the sinks and starting the shards.
    start_secs: f64,
    /// From started to every shard idle (all committed).
    secs: f64,
    cpu: f64,
}

/// Runs an ingestion of `base`'s stream until every shard is idle.
fn run_pipeline(base: &Path, shards: u32, decoders: u32, plugin: &CompiledPlugin, data_dir: &Path) -> PipelineRun {
    run_spec(spec(base, shards, decoders), plugin, data_dir)
}

/// Runs an ingestion of `spec` until every shard is idle, timed from the
/// resume of its (paused) shards.
fn run_spec(spec: IngestionSpec, plugin: &CompiledPlugin, data_dir: &Path) -> PipelineRun {
    let shards = spec.shards;
    let t = Instant::now();
    // Started paused, so that no shard reads before the clock starts.
    let paused = RuntimeOverrides { paused_shards: (0..shards).collect(), ..RuntimeOverrides::default() };
    let ing = sluice::wiring::start_ingestion(spec, plugin.clone(), data_dir, paused).unwrap();
    let start_secs = t.elapsed().as_secs_f64();
    perf_control("enable");
    let (t, cpu) = (Instant::now(), machine::cpu_seconds());
    ing.resume(None, &[]).unwrap();
    match ing.wait_until_idle(Duration::from_secs(7200)) {
        IdleOutcome::Idle => {}
        other => panic!("the pipeline did not end idle: {other:?}"),
    }
    let (secs, cpu) = (t.elapsed().as_secs_f64(), machine::cpu_seconds() - cpu);
    perf_control("disable");
    let metas: Vec<_> = ing.sinks().iter().map(|s| s.meta().unwrap()).collect();
    ing.stop();
    PipelineRun {
        counters: metas.iter().map(|m| m.counters).collect(),
        live: metas.iter().map(|m| m.live_docs).sum(),
        start_secs,
        secs,
        cpu,
    }
}

/// Compiles the plugin into `cache` (once: later calls load it), as `sluice
/// run` does on its first start, for the child processes.
fn fill_component_cache(cache: &Path) {
    PluginEngine::with_cache(cache)
        .unwrap()
        .compile("opensearch", builtin::SLUICE_OPENSEARCH, Limits::default())
        .unwrap();
}

/// Writes a backlog of `size` messages over `shards` partitions, runs the
/// full pipeline over it (one shard per partition) in a child process and
/// returns the child's peak RSS (KiB) and run time.
fn rss_backlog(work: &Path, cache: &Path, size: u64, shards: u32) -> (u64, f64) {
    let base = work.join(format!("backlog-{size}"));
    let data_dir = work.join(format!("backlog-data-{size}"));
    eprintln!("writing a backlog of {size} messages into {shards} partition(s)");
    let t = Instant::now();
    let g = data::write_stream(&base, shards, size, SEED).unwrap();
    eprintln!("  {:.1} GB in {:.1}s", g.bytes as f64 / 1e9, t.elapsed().as_secs_f64());
    // SLUICE_BENCH_CHILD_WRAPPER="heaptrack -o /tmp/x": run the child under a profiler.
    let wrapper = std::env::var("SLUICE_BENCH_CHILD_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let exe = std::env::current_exe().unwrap();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = std::process::Command::new(program);
            c.args(words).arg(&exe);
            c
        }
        None => std::process::Command::new(&exe),
    };
    let out = command
        .arg("--rss-child")
        .arg(&base)
        .arg(&data_dir)
        .arg(cache)
        .arg(size.to_string())
        .arg(g.live.to_string())
        .arg(shards.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(out.status.success(), "the child for the {size} backlog into {shards} shard(s) failed: {:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("child output lacks {name}: {text}"))
    };
    (field("vmhwm_kib=") as u64, field("secs="))
}

/// Child mode: `--rss-child <stream base> <data dir> <component cache> <messages> <live docs> <shards>`.
fn rss_child(args: &[String]) {
    let [base, data_dir, cache, messages, live, shards] = args else { panic!("--rss-child: bad arguments {args:?}") };
    let (messages, live): (u64, u64) = (messages.parse().unwrap(), live.parse().unwrap());
    let shards: u32 = shards.parse().unwrap();
    let started = Instant::now();
    if std::env::var_os("SLUICE_BENCH_SMAPS").is_some() {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let rss = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                let rss = rss.lines().find(|l| l.starts_with("VmRSS")).unwrap_or("").to_string();
                eprintln!("  {rss}");
            }
        });
    }
    let engine = PluginEngine::with_cache(Path::new(cache)).unwrap();
    let plugin = engine.compile("opensearch", builtin::SLUICE_OPENSEARCH, Limits::default()).unwrap();
    assert!(plugin.from_cache(), "the child loads the compiled component from the cache");
    let run = run_pipeline(Path::new(base), shards, 1, &plugin, Path::new(data_dir));
    let processed: u64 = run.counters.iter().map(|c| c.total_processed_count).sum();
    assert_eq!(processed, messages);
    assert_eq!(run.live, live);
    if std::env::var_os("SLUICE_BENCH_SMAPS").is_some() {
        machine::print_top_mappings(12);
    }
    println!("vmhwm_kib={} secs={:.3}", machine::vmhwm_kib(), started.elapsed().as_secs_f64());
}

fn print_table(rows: &[Row]) {
    println!("| stage | messages | msgs/s | MB/s | seconds | CPU s | msgs per CPU-s | load |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {:.2} |",
            r.stage,
            r.messages,
            r.rate(),
            r.bytes as f64 / r.secs / 1e6,
            r.secs,
            r.cpu,
            r.messages as f64 / r.cpu,
            r.load
        );
    }
}

/// The results against issue 19's targets, from this run.
fn print_targets(rows: &[Row], idle: Option<&idle::Idle>) {
    let find = |prefix: &str| rows.iter().find(|r| r.stage.starts_with(prefix));
    let met = |ok: bool| if ok { "MET" } else { "NOT MET" };
    if let (Some(wasm), Some(native)) = (find("decode: wasm"), find("decode: native")) {
        let ratio = wasm.rate() / native.rate();
        println!("wasm / native decode: {ratio:.2} (target >= 0.8: {})", met(ratio >= 0.8));
    }
    let cores = machine::cores() as f64;
    // The targets are for the full pipeline of 1 shard with one decoder; the
    // other pipelines' figures are for comparison.
    let target_row = "full pipeline, exactly-once: 1 shard (";
    for r in rows.iter().filter(|r| r.stage.starts_with("full pipeline")) {
        let targeted = r.stage.starts_with(target_row);
        // The stages the pipeline is made of: its source, the wasm decode, the sink.
        let source = if r.stage.starts_with("full pipeline, exactly-once, Kafka") {
            "source drain: kafka"
        } else {
            "source drain: file"
        };
        let stages: Vec<&Row> = [source, "decode: wasm", "sink apply"].iter().filter_map(|p| find(p)).collect();
        if let [_, _, _] = stages[..] {
            let slowest = stages.iter().min_by(|a, b| a.rate().total_cmp(&b.rate())).unwrap();
            let ratio = r.rate() / slowest.rate();
            println!(
                "{} / slowest stage ({}, {:.0}/s): {ratio:.2}{}",
                r.stage,
                slowest.stage,
                slowest.rate(),
                if targeted { format!(" (target >= 0.9: {})", met(ratio >= 0.9)) } else { String::new() }
            );
        } else if targeted {
            println!(
                "{} / slowest stage: not measured (the {source}, decode: wasm and sink apply stages did not run)",
                r.stage
            );
        }
        let per_core = r.rate() / cores;
        println!(
            "{}: {per_core:.0} messages/s per core ({cores} cores), {:.0} per CPU-second used{}",
            r.stage,
            r.messages as f64 / r.cpu,
            if targeted {
                format!(" (target >= 300,000 per core: {})", met(per_core >= 300_000.0))
            } else {
                String::new()
            }
        );
    }
    if let Some(idle) = idle {
        match idle.percent() {
            Some(percent) if idle.shards() == idle::TARGET_SHARDS => println!(
                "{} idle shards: {percent:.2}% of one core (target < {}%: {})",
                idle.shards(),
                idle::TARGET_PERCENT,
                met(percent < idle::TARGET_PERCENT)
            ),
            Some(percent) => println!(
                "{} idle shards: {percent:.2}% of one core (the target, < {}%, is for {} shards: not judged)",
                idle.shards(),
                idle::TARGET_PERCENT,
                idle::TARGET_SHARDS
            ),
            None => println!(
                "{} idle shards: not measured, the stage failed (target < {}% of one core: NOT MET)",
                idle.shards(),
                idle::TARGET_PERCENT
            ),
        }
    }
}
