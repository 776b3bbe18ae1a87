//! `sluice run`: one ingestion in the foreground.

use super::DataDir;
use super::progress::{Progress, print_summary};
use anyhow::Context;
use sluice::engine::{IdleOutcome, PollerState, ShardStatus};
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
    let text = std::fs::read_to_string(&args.spec).with_context(|| format!("reading {}", args.spec.display()))?;
    let mut spec_json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", args.spec.display()))?;
    // A relative base_directory is relative to the spec file, not to
    // wherever the command happens to run.
    sluice::spec::resolve_base_directory(&mut spec_json, args.spec.parent().unwrap_or(std::path::Path::new(".")));
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
    let mut stuck = StuckShards::default();
    let mut last_seen;
    let outcome = loop {
        last_seen = manager.state(&name)?;
        progress.update(&last_seen);
        if interrupted.load(Ordering::SeqCst) {
            break Outcome::Interrupted;
        }
        if args.until_idle {
            match manager.wait_until_idle(&name, Duration::ZERO)? {
                IdleOutcome::TimedOut if Instant::now() >= deadline => break Outcome::TimedOut,
                IdleOutcome::TimedOut => {
                    // A shard that fails without progress (a file it may not
                    // read, a cluster that is gone) would keep --until-idle
                    // waiting forever: it ends the run, with its reason.
                    let failing = stuck.update(&last_seen);
                    if !failing.is_empty() {
                        break Outcome::Failing(failing);
                    }
                }
                IdleOutcome::Idle => break Outcome::Idle,
                IdleOutcome::Blocked(b) => break Outcome::Blocked(b),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    // The numbers are taken after the stop (the batches in flight are
    // committed by then); the state each shard was in, before it.
    let statuses = manager.stop(&name)?;
    manager.shutdown();
    progress.finish();
    print_summary(&name, &statuses, &last_seen, elapsed);
    Ok(match outcome {
        Outcome::Idle => ExitCode::SUCCESS,
        // Following a stream (no --until-idle), a signal is how a run ends:
        // a clean stop. Waiting for idle, it is an interruption.
        Outcome::Interrupted if !args.until_idle => {
            eprintln!(
                "stopped: every batch in flight was committed; `sluice run` again continues after the last pointer"
            );
            ExitCode::SUCCESS
        }
        Outcome::Interrupted => {
            eprintln!(
                "interrupted before every shard was idle: every batch in flight was committed; `sluice run` again \
                 continues after the last pointer"
            );
            ExitCode::from(130)
        }
        Outcome::Blocked(blocked) => {
            for (shard, b) in blocked {
                eprintln!("shard {shard} is BLOCKED at pointer {}: {}", b.pointer, b.reason);
            }
            eprintln!("fix the message or set error_strategy to DROP, then run again");
            ExitCode::from(3)
        }
        Outcome::TimedOut => {
            eprintln!("timed out after {}s before every shard was idle", args.timeout);
            ExitCode::from(4)
        }
        Outcome::Failing(failing) => {
            for (shard, error) in failing {
                eprintln!("shard {shard} keeps failing without progress: {error}");
            }
            ExitCode::from(5)
        }
    })
}

/// How a run in the foreground ended.
enum Outcome {
    Idle,
    Interrupted,
    Blocked(Vec<(u32, sluice::engine::BlockedAt)>),
    TimedOut,
    /// Shards retrying the same failure without progress, with their errors.
    Failing(Vec<(u32, String)>),
}

/// How long a shard may retry without committing anything before
/// `--until-idle` gives up on it.
const STUCK_AFTER: Duration = Duration::from_secs(10);

/// Since when each shard has been failing without progress.
#[derive(Default)]
struct StuckShards {
    since: std::collections::BTreeMap<u32, (Instant, u64)>,
}

impl StuckShards {
    /// The shards failing without progress for [`STUCK_AFTER`], with their last error.
    fn update(&mut self, statuses: &[ShardStatus]) -> Vec<(u32, String)> {
        let mut failing = Vec::new();
        for s in statuses {
            let processed = s.meta.counters.total_processed_count;
            let retrying = s.state == PollerState::Retrying && s.last_error.is_some();
            match self.since.get(&s.shard) {
                Some((at, before)) if retrying && *before == processed => {
                    if at.elapsed() >= STUCK_AFTER {
                        let error = s.last_error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
                        failing.push((s.shard, error));
                    }
                }
                _ if retrying => {
                    self.since.insert(s.shard, (Instant::now(), processed));
                }
                _ => {
                    self.since.remove(&s.shard);
                }
            }
        }
        failing
    }
}
