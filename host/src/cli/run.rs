//! `sluice run`: one ingestion in the foreground.

use super::DataDir;
use super::progress::{Progress, print_summary};
use anyhow::Context;
use sluice::engine::{IdleOutcome, PollerState, ShardStatus};
use sluice::manager::{Manager, ManagerOptions, PluginFiles};
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
    /// Decode with this plugin component (`.wasm`) instead of the plugin the
    /// spec names; the spec's `sluice.plugin.config` and `limits` still apply.
    /// (A spec may name one itself: `"sluice": {"plugin": {"path":
    /// "plugins/lines.wasm"}}`, relative to the spec file.)
    #[arg(long, value_name = "FILE")]
    plugin: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (mut spec_json, note) = super::spec_file::read_spec(&args.spec, None)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let mut origin = args.spec.display().to_string();
    if let Some(file) = &args.plugin {
        use_plugin_file(&mut spec_json, file)?;
        origin = format!("{origin} with --plugin {}", file.display());
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
    // A component file named by the spec is relative to the spec file.
    let spec_dir = std::path::absolute(&args.spec)?.parent().map(PathBuf::from).unwrap_or_default();
    let options = ManagerOptions { restore: false, plugin_files: PluginFiles::RelativeTo(spec_dir), cluster: None };
    let manager = Manager::open_with(&args.data.data_dir, store, options)?;
    let name = spec.name.clone();
    // A Druid spec's shard count is learned from the stream by `apply`.
    let info = manager.apply(spec_json, &origin, args.adopt_data)?;
    let progress = Progress::new(info.shards);
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

/// `--plugin FILE`: the spec's plugin becomes that file (by its absolute
/// path: a flag is relative to the working directory), keeping its config
/// and limits.
fn use_plugin_file(spec_json: &mut serde_json::Value, file: &std::path::Path) -> anyhow::Result<()> {
    let path = std::fs::canonicalize(file).with_context(|| format!("--plugin {}", file.display()))?;
    let spec = spec_json.as_object_mut().context("the spec must be a JSON object")?;
    let sluice = spec.entry("sluice").or_insert_with(|| serde_json::json!({}));
    let sluice = sluice.as_object_mut().context("invalid spec: [sluice] must be an object")?;
    let plugin = sluice.entry("plugin").or_insert_with(|| serde_json::json!({}));
    let plugin = plugin.as_object_mut().context("invalid spec: [sluice.plugin] must be an object")?;
    plugin.remove("name");
    plugin.remove("version");
    plugin.insert("path".into(), path.display().to_string().into());
    Ok(())
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
