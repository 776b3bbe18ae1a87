//! `sluice run`: one ingestion in the foreground.

use super::DataDir;
use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice::engine::{IdleOutcome, ShardStatus};
use sluice::manager::{Manager, ManagerOptions};
use sluice::spec::IngestionSpec;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The ingestion spec (JSON; an OpenSearch index body works as is).
    spec: PathBuf,
    #[command(flatten)]
    data: DataDir,
    /// Exit once every shard has drained its partition.
    #[arg(long)]
    until_idle: bool,
    /// Take over sinks that hold another ingestion's data under this name, or
    /// a checkpoint in another stream (after a changed source), instead of
    /// refusing them. Only when their checkpoint is a position in this stream.
    #[arg(long)]
    adopt_data: bool,
    /// With --until-idle: give up after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (spec_json, note) = super::spec_file::read_spec(&args.spec, None)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let spec =
        IngestionSpec::from_value(&spec_json).with_context(|| format!("invalid spec {}", args.spec.display()))?;
    let store = args.data.state_store()?;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst)).context("installing signal handler")?;
    }

    // The same core as `sluice serve`: plugins, history and state go through
    // the manager; only this spec's ingestion runs.
    let manager = Manager::open_with(&args.data.data_dir, store, ManagerOptions { restore: false })?;
    let name = spec.name.clone();
    manager.apply(spec_json, &args.spec.display().to_string(), args.adopt_data)?;
    let progress = Progress::new(spec.shards);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    let outcome = loop {
        progress.update(&manager.state(&name)?, started.elapsed());
        if interrupted.load(Ordering::SeqCst) {
            break None;
        }
        if args.until_idle {
            match manager.wait_until_idle(&name, Duration::ZERO)? {
                IdleOutcome::TimedOut if Instant::now() < deadline => {}
                other => break Some(other),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    // Taken after the stop: the batches in flight are committed by then.
    let statuses = manager.stop(&name)?;
    manager.shutdown();
    progress.finish();
    print_summary(&name, &statuses, elapsed);
    Ok(match outcome {
        None | Some(IdleOutcome::Idle) => ExitCode::SUCCESS,
        Some(IdleOutcome::Blocked(blocked)) => {
            for (shard, b) in blocked {
                eprintln!("shard {shard} is BLOCKED at pointer {}: {}", b.pointer, b.reason);
            }
            eprintln!("fix the message or set error_strategy to DROP, then run again");
            ExitCode::from(3)
        }
        Some(IdleOutcome::TimedOut) => {
            eprintln!("timed out after {}s before every shard was idle", args.timeout);
            ExitCode::from(4)
        }
    })
}

/// One progress line per shard, on stderr when it is a terminal.
struct Progress {
    _multi: MultiProgress,
    bars: Vec<ProgressBar>,
}

impl Progress {
    fn new(shards: u32) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template("{spinner} {msg}").expect("valid template");
        let bars = (0..shards).map(|_| multi.add(ProgressBar::new_spinner().with_style(style.clone()))).collect();
        Progress { _multi: multi, bars }
    }

    fn update(&self, statuses: &[ShardStatus], elapsed: Duration) {
        for (bar, s) in self.bars.iter().zip(statuses) {
            let c = &s.meta.counters;
            let rate = c.total_processed_count as f64 / elapsed.as_secs_f64().max(0.001);
            bar.set_message(format!(
                "shard {:<3} pointer {:>10}  processed {:>9}  invalid {:>6}  docs {:>9}  {:>9.0} msg/s  {}",
                s.shard,
                s.meta.last_pointer.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                c.total_processed_count,
                c.total_invalid_message_count,
                s.meta.live_docs,
                rate,
                state_label(s),
            ));
            bar.tick();
        }
    }

    fn finish(&self) {
        for bar in &self.bars {
            bar.finish_and_clear();
        }
    }
}

/// `IDLE` (caught up, all committed), `BLOCKED`, `PAUSED`, ...
fn state_label(s: &ShardStatus) -> String {
    // A drained closed partition (Kinesis, after a split) says CLOSED, not IDLE.
    if s.idle && s.blocked.is_none() && s.state != sluice::engine::PollerState::Closed {
        "IDLE".into()
    } else {
        serde_json::to_value(s.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

fn print_summary(name: &str, statuses: &[ShardStatus], elapsed: Duration) {
    println!("ingestion {name}: {} shards, {:.1}s", statuses.len(), elapsed.as_secs_f64());
    println!(
        "{:<6} {:>12} {:>10} {:>8} {:>10} {:>8} {:>8}  state",
        "shard", "pointer", "processed", "invalid", "conflicts", "dropped", "docs"
    );
    let mut total = sluice::sink::ShardCounters::default();
    let mut docs = 0;
    for s in statuses {
        let c = &s.meta.counters;
        total.add(c);
        docs += s.meta.live_docs;
        println!(
            "{:<6} {:>12} {:>10} {:>8} {:>10} {:>8} {:>8}  {}",
            s.shard,
            s.meta.last_pointer.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            c.total_processed_count,
            c.total_invalid_message_count,
            c.total_version_conflicts_count,
            c.total_failures_dropped_count,
            s.meta.live_docs,
            state_label(s),
        );
    }
    println!(
        "{:<6} {:>12} {:>10} {:>8} {:>10} {:>8} {:>8}",
        "total",
        "",
        total.total_processed_count,
        total.total_invalid_message_count,
        total.total_version_conflicts_count,
        total.total_failures_dropped_count,
        docs
    );
}
