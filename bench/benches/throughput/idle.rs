//! Idle shards (stage `idle1000`): what an ingestion of many shards costs
//! when nothing arrives.
//!
//! One ingestion of `SLUICE_BENCH_IDLE_SHARDS` shards (default 1,000) over a
//! file stream with as many partitions, a few messages in each (so every
//! shard's sink is opened and written), run until every shard is idle with
//! everything committed; then, after a few seconds to settle, the process's
//! CPU time over a window in which nothing arrives. It runs in a child
//! process (this binary re-executed with `--idle-child`), so the other
//! stages' threads are not counted and a failure to start that many shards
//! (threads, files, memory) is reported instead of ending the benchmark.

use crate::{SEED, data, machine, spec};
use sluice::engine::{IdleOutcome, RuntimeOverrides};
use sluice::plugin::{Limits, PluginEngine, builtin};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Messages per partition in the stream (new documents are numbered in
/// order, so with 3 per partition every partition gets at least one).
const PER_PARTITION: u64 = 3;
/// After every shard is idle, before the window starts.
const SETTLE: Duration = Duration::from_secs(2);
/// The measured window in which nothing arrives.
const WINDOW: Duration = Duration::from_secs(10);
/// How long the shards may take to start and become idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// The target: 1,000 idle shards under 2% of one core.
pub const TARGET_SHARDS: u64 = 1000;
pub const TARGET_PERCENT: f64 = 2.0;

/// What the idle stage found.
pub enum Idle {
    Measured {
        shards: u64,
        messages: u64,
        start_secs: f64,
        idle_secs: f64,
        cpu_secs: f64,
        window_secs: f64,
        threads: u64,
        threads_before: u64,
        rss_mib: f64,
        /// Thread names (digits as `*`) with their counts, most first.
        thread_groups: String,
        /// CPU seconds in the window by thread name, most first.
        busiest: String,
    },
    Failed {
        shards: u64,
        error: String,
    },
}

impl Idle {
    /// CPU of the window as a percentage of one core.
    pub fn percent(&self) -> Option<f64> {
        match self {
            Idle::Measured { cpu_secs, window_secs, .. } => Some(cpu_secs / window_secs * 100.0),
            Idle::Failed { .. } => None,
        }
    }

    pub fn shards(&self) -> u64 {
        match self {
            Idle::Measured { shards, .. } | Idle::Failed { shards, .. } => *shards,
        }
    }

    /// The stage's report lines.
    pub fn print(&self) {
        match self {
            Idle::Measured {
                shards,
                messages,
                start_secs,
                idle_secs,
                cpu_secs,
                window_secs,
                threads,
                threads_before,
                rss_mib,
                thread_groups,
                busiest,
            } => {
                println!(
                    "idle shards: {shards} shards over a file stream of {shards} partitions ({messages} messages, all \
                     processed and committed, every shard's sink written): started in {start_secs:.1}s, all idle \
                     {idle_secs:.1}s later; then {}s to settle and {window_secs:.1}s with nothing arriving: \
                     {cpu_secs:.3} CPU s = {:.2}% of one core",
                    SETTLE.as_secs(),
                    self.percent().unwrap()
                );
                println!(
                    "idle shards: {threads} threads in the process ({threads_before} before the ingestion started), by \
                     name: {thread_groups}; resident memory {rss_mib:.0} MiB"
                );
                println!("idle shards: CPU seconds in the window by thread: {busiest}");
            }
            Idle::Failed { shards, error } => println!("idle shards: {shards} shards FAILED: {error}"),
        }
    }
}

/// Writes the stream, runs the child and reads what it measured.
pub fn idle_stage(work: &Path, cache: &Path, shards: u64) -> Idle {
    let base = work.join("idle-stream");
    let data_dir = work.join("idle-data");
    let messages = shards * PER_PARTITION;
    eprintln!("idle shards: writing {messages} messages into {shards} partitions");
    let g = data::write_stream(&base, shards as u32, messages, SEED).unwrap();
    for p in 0..shards {
        let len = std::fs::metadata(base.join("events").join(format!("{p}.ndjson"))).unwrap().len();
        assert!(len > 0, "partition {p} of the idle stream is empty");
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .arg("--idle-child")
        .arg(&base)
        .arg(&data_dir)
        .arg(cache)
        .arg(shards.to_string())
        .arg(messages.to_string())
        .arg(g.invalid.to_string())
        .arg(g.live.to_string())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(&data_dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fields: BTreeMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    if let Some(error) = fields.get("error") {
        return Idle::Failed { shards, error: error.to_string() };
    }
    if !out.status.success() {
        // A panic or a signal: the last distinct lines of its stderr say why.
        let mut last: Vec<&str> = Vec::new();
        for line in stderr.lines().rev().filter(|l| !l.trim().is_empty()) {
            if !last.contains(&line) {
                last.push(line);
            }
            if last.len() == 3 {
                break;
            }
        }
        last.reverse();
        let reached = fields.keys().copied().collect::<Vec<_>>().join(", ");
        return Idle::Failed {
            shards,
            error: format!(
                "the child process ended with {} (it had reported: {}); its last stderr lines: {}",
                out.status,
                if reached.is_empty() { "nothing" } else { &reached },
                last.join(" | ")
            ),
        };
    }
    let num = |name: &str| -> f64 {
        fields.get(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("the idle child did not report {name}"))
    };
    Idle::Measured {
        shards,
        messages,
        start_secs: num("start_secs"),
        idle_secs: num("idle_secs"),
        cpu_secs: num("cpu_secs"),
        window_secs: num("window_secs"),
        threads: num("threads") as u64,
        threads_before: num("threads_before") as u64,
        rss_mib: num("rss_kib") / 1024.0,
        thread_groups: fields.get("thread_groups").unwrap_or(&"?").to_string(),
        busiest: fields.get("busiest").unwrap_or(&"?").to_string(),
    }
}

/// Child mode: `--idle-child <stream base> <data dir> <component cache>
/// <shards> <messages> <invalid> <live docs>`. Prints `key=value` lines as
/// it goes (`error=...` when it cannot go on).
pub fn idle_child(args: &[String]) {
    let [base, data_dir, cache, shards, messages, invalid, live] = args else {
        panic!("--idle-child: bad arguments {args:?}")
    };
    let num = |v: &String| -> u64 { v.parse().unwrap() };
    let (shards, messages, invalid, live) = (num(shards), num(messages), num(invalid), num(live));
    let fail = |error: String| -> ! {
        println!("error={}", error.replace('\n', " "));
        std::process::exit(3);
    };
    let engine = PluginEngine::with_cache(Path::new(cache)).unwrap();
    let plugin = engine.compile("opensearch", builtin::SLUICE_OPENSEARCH, Limits::default()).unwrap();
    let threads_before = machine::threads();
    println!("threads_before={threads_before}");
    let t = Instant::now();
    let spec = spec(Path::new(base), shards as u32, 1);
    let ing = sluice::wiring::start_ingestion(spec, plugin, Path::new(data_dir), RuntimeOverrides::default())
        .unwrap_or_else(|e| fail(format!("starting the ingestion of {shards} shards: {e}")));
    println!("start_secs={:.3}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    match ing.wait_until_idle(IDLE_TIMEOUT) {
        IdleOutcome::Idle => {}
        IdleOutcome::Blocked(blocked) => {
            fail(format!("{} of {shards} shards blocked, the first: {:?}", blocked.len(), blocked.first()))
        }
        IdleOutcome::TimedOut => {
            let status = ing.status();
            let idle = status.iter().filter(|s| s.idle).count();
            let mut states: BTreeMap<String, usize> = BTreeMap::new();
            for s in &status {
                *states.entry(format!("{:?}", s.state)).or_default() += 1;
            }
            let errors: Vec<String> =
                status.iter().filter_map(|s| s.last_error.as_ref().map(|e| format!("{e:?}"))).take(3).collect();
            fail(format!(
                "only {idle} of {shards} shards idle after {}s; states {states:?}; {} threads; errors: {errors:?}",
                IDLE_TIMEOUT.as_secs(),
                machine::threads()
            ))
        }
    }
    println!("idle_secs={:.3}", t.elapsed().as_secs_f64());
    // Every message processed once, every sink written.
    let metas: Vec<_> = ing.sinks().iter().map(|s| s.meta().unwrap()).collect();
    let processed: u64 = metas.iter().map(|m| m.counters.total_processed_count).sum();
    let counted_invalid: u64 = metas.iter().map(|m| m.counters.total_invalid_message_count).sum();
    let counted_live: u64 = metas.iter().map(|m| m.live_docs).sum();
    let unused = metas.iter().filter(|m| m.counters.total_processed_count == 0).count();
    if (processed, counted_invalid, counted_live, unused) != (messages, invalid, live, 0) {
        fail(format!(
            "the sinks hold {processed} processed (of {messages}), {counted_invalid} invalid (of {invalid}), \
             {counted_live} live documents (of {live}); {unused} shards processed nothing"
        ));
    }

    std::thread::sleep(SETTLE);
    let (tasks, cpu, t) = (machine::thread_cpu(), machine::cpu_seconds(), Instant::now());
    std::thread::sleep(WINDOW);
    let (cpu, window) = (machine::cpu_seconds() - cpu, t.elapsed().as_secs_f64());
    let after = machine::thread_cpu();
    let threads = machine::threads();
    // Still idle, and nothing more was processed.
    let still: u64 = ing.sinks().iter().map(|s| s.meta().unwrap().counters.total_processed_count).sum();
    if still != messages || ing.status().iter().any(|s| !s.idle) {
        fail(format!("the shards did not stay idle through the window ({still} processed)"));
    }
    let mut by_name: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for (tid, (name, secs)) in &after {
        let e = by_name.entry(name).or_default();
        e.0 += 1;
        e.1 += secs - tasks.get(tid).map_or(0.0, |t| t.1);
    }
    let mut groups: Vec<_> = by_name.iter().collect();
    groups.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
    let thread_groups: Vec<String> = groups.iter().take(8).map(|(name, (n, _))| format!("{n} {name}")).collect();
    groups.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
    let busiest: Vec<String> =
        groups.iter().take(6).map(|(name, (n, secs))| format!("{name} ({n}) {secs:.3}")).collect();
    println!("cpu_secs={cpu:.4}");
    println!("window_secs={window:.3}");
    println!("threads={threads}");
    println!("rss_kib={}", machine::vmrss_kib());
    println!("thread_groups={}", thread_groups.join(", "));
    let in_threads: f64 = groups.iter().map(|(_, (_, secs))| secs).sum();
    println!("busiest={}; all threads alive at the end {in_threads:.3} (process {cpu:.3})", busiest.join(", "));
    let t = Instant::now();
    ing.stop();
    eprintln!("  idle shards: stopped {shards} shards in {:.1}s", t.elapsed().as_secs_f64());
}
