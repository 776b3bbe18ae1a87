//! `sluice ctl`: a client for every RPC of the control plane.
//!
//! Tables by default, `--json` for scripts. A failed call prints its status
//! code and message (`error: NOT_FOUND: no ingestion named x`) and exits 2.
//!
//! Parts: `client.rs` (the connection and its bearer token), `state.rs`,
//! `docs.rs`, `plugins.rs` and `supervisor.rs` (one group of subcommands
//! each; the ingestion commands are here), `output.rs` (tables and JSON).

use super::serve::read_token;
use anyhow::Context;
use client::{Client, Token, rpc};
use output::{Output, shard_list};
use serde_json::json;
use sluice::api::proto::{self as pb, ProtoEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

/// `println!` that returns an error instead of panicking (a closed pipe,
/// as in `sluice ctl doc scan x | head`, ends the command quietly).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod client;
mod docs;
mod output;
mod plugins;
mod state;
mod supervisor;

#[derive(clap::Args)]
pub struct CtlArgs {
    /// The control plane's address.
    #[arg(long, global = true, default_value = "http://127.0.0.1:50051", env = "SLUICE_ADDR")]
    addr: String,
    /// A file holding the bearer token (see `sluice serve --token-file`).
    #[arg(long, global = true, env = "SLUICE_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(clap::Subcommand)]
enum CtlCommand {
    /// Create an ingestion from a spec file (the same JSON as `sluice run`).
    Create {
        spec: PathBuf,
        /// The ingestion's name when the spec has no `name` (an OpenSearch
        /// index body); default: the file's name without its extension.
        #[arg(long)]
        name: Option<String>,
        /// Take over sinks that hold an earlier ingestion's data under this
        /// name (refused otherwise), when their checkpoint is a position in this stream.
        #[arg(long)]
        adopt_data: bool,
    },
    /// Show an ingestion (its spec with secrets redacted).
    Get { name: String },
    /// List the ingestions.
    List,
    /// Change dynamic settings: OpenSearch's `_settings` body as JSON text,
    /// or @FILE, e.g. '{"index.ingestion_source.error_strategy": "DROP"}'
    /// (also nested, or wrapped in "settings"), or '{"sluice": {"plugin": {"version": "2"}}}'.
    Update { name: String, update: String },
    /// Stop an ingestion and forget it.
    Delete {
        /// The ingestion's name.
        name: String,
        /// Also delete its shard sinks (documents and checkpoints).
        #[arg(long)]
        delete_data: bool,
    },
    /// Every accepted spec and pointer reset, oldest first.
    History { name: String },
    /// Pause shards (all without --shard).
    Pause {
        /// The ingestion's name.
        name: String,
        /// Shards (all when absent): `--shard 0 --shard 2` or `--shard 0,2`.
        #[arg(long = "shard", value_delimiter = ',')]
        shards: Vec<u32>,
    },
    /// Resume shards (all without --shard), optionally resetting paused
    /// shards' pointers: --reset SHARD:MODE[:VALUE] with MODE offset,
    /// timestamp, earliest or latest.
    Resume {
        /// The ingestion's name.
        name: String,
        /// Shards (all when absent): `--shard 0 --shard 2` or `--shard 0,2`.
        #[arg(long = "shard", value_delimiter = ',')]
        shards: Vec<u32>,
        #[arg(long = "reset", value_parser = parse_reset)]
        resets: Vec<pb::ShardReset>,
    },
    /// Per-shard state of an ingestion; or `state export|import|reset` for the host's whole state.
    State(state::StateArgs),
    /// Per-shard polling_ingest_stats of an ingestion.
    Stats { name: String },
    /// Print state and stats whenever they change, until interrupted.
    Watch {
        /// The ingestion's name.
        name: String,
        /// Stop after this many snapshots.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Read documents.
    #[command(subcommand)]
    Doc(docs::DocCommand),
    /// Register, list and remove message-format plugins.
    #[command(subcommand)]
    Plugin(plugins::PluginCommand),
    /// Druid supervisors: submit a supervisor spec, suspend, resume, reset,
    /// terminate; status, health, row statistics, spec history.
    #[command(subcommand, after_help = SUPERVISOR_EXAMPLES)]
    Supervisor(supervisor::SupervisorCommand),
}

const SUPERVISOR_EXAMPLES: &str = "Examples:
  sluice ctl supervisor submit wikipedia-kafka.json      create the supervisor of its dataSource, or switch it to this spec
  sluice ctl supervisor list --full                      ids with their state
  sluice ctl supervisor status wikipedia                 state, offsets and lag per partition, tasks, recent errors
  sluice ctl supervisor stats wikipedia                  processed, processedWithError, unparseable, thrownAway
  sluice ctl supervisor suspend wikipedia                then `resume wikipedia`
  sluice ctl supervisor reset-offsets wikipedia 0=1200 3=0
  sluice ctl supervisor history wikipedia                every spec version, newest first";

/// `SHARD:MODE[:VALUE]`.
fn parse_reset(s: &str) -> Result<pb::ShardReset, String> {
    let mut parts = s.splitn(3, ':');
    let (shard, mode, value) = (parts.next().unwrap_or_default(), parts.next(), parts.next());
    let shard = shard.parse::<u32>().map_err(|_| format!("{shard:?} is not a shard number (SHARD:MODE[:VALUE])"))?;
    let mode = match mode.map(str::to_ascii_lowercase).as_deref() {
        Some("offset") => pb::ResetMode::Offset,
        Some("timestamp") => pb::ResetMode::Timestamp,
        Some("earliest") => pb::ResetMode::Earliest,
        Some("latest") => pb::ResetMode::Latest,
        _ => return Err("MODE must be offset, timestamp, earliest or latest (SHARD:MODE[:VALUE])".into()),
    };
    Ok(pb::ShardReset { shard, mode: mode as i32, value: value.map(str::to_string) })
}

pub fn ctl(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let token = match &args.token_file {
        Some(path) => {
            let value: MetadataValue<Ascii> = format!("Bearer {}", read_token(path)?).parse().map_err(|_| {
                anyhow::anyhow!("the token in {} holds characters a header cannot carry", path.display())
            })?;
            Some(value)
        }
        None => None,
    };
    let addr = if args.addr.contains("://") { args.addr.clone() } else { format!("http://{}", args.addr) };
    let channel = Channel::from_shared(addr.clone())
        .with_context(|| format!("{addr} is not a valid address"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {addr} (is `sluice serve` running there?)"))?;
    let client = Client { channel, token: Token(token) };
    let out = Output { json: args.json };
    match args.command {
        CtlCommand::Create { spec, name, adopt_data } => {
            let (spec_json, note) = super::spec_file::read_spec(&spec, name.as_deref())?;
            if let Some(note) = note {
                eprintln!("{note}");
            }
            let request = pb::CreateIngestionRequest { spec_json: spec_json.to_string(), adopt_data };
            let i = client.ingestions().create_ingestion(request).await.map_err(rpc)?.into_inner();
            out.ingestion(&i)?;
        }
        CtlCommand::Get { name } => {
            let i =
                client.ingestions().get_ingestion(pb::GetIngestionRequest { name }).await.map_err(rpc)?.into_inner();
            out.ingestion(&i)?;
        }
        CtlCommand::List => {
            let r = client.ingestions().list_ingestions(pb::ListIngestionsRequest {}).await.map_err(rpc)?.into_inner();
            out.ingestions(&r.ingestions)?;
        }
        CtlCommand::Update { name, update } => {
            let update_json = match update.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
                None => update,
            };
            let i = client
                .ingestions()
                .update_ingestion(pb::UpdateIngestionRequest { name, update_json })
                .await
                .map_err(rpc)?
                .into_inner();
            out.ingestion(&i)?;
        }
        CtlCommand::Delete { name, delete_data } => {
            let r = client
                .ingestions()
                .delete_ingestion(pb::DeleteIngestionRequest { name: name.clone(), delete_data })
                .await
                .map_err(rpc)?
                .into_inner();
            let mut text = format!("deleted {name}{}", if delete_data { " and its data" } else { "" });
            if let Some(left) = &r.data_left {
                text.push_str(&format!("\nleft behind: {left}"));
            }
            out.done(json!({"deleted": name, "delete_data": delete_data, "data_left": r.data_left}), &text)?;
        }
        CtlCommand::History { name } => {
            let r = client
                .ingestions()
                .get_spec_history(pb::GetSpecHistoryRequest { name })
                .await
                .map_err(rpc)?
                .into_inner();
            out.history(&r.entries)?;
        }
        CtlCommand::Pause { name, shards } => {
            client
                .ingestions()
                .pause_ingestion(pb::PauseIngestionRequest { name: name.clone(), shards: shards.clone() })
                .await
                .map_err(rpc)?;
            out.done(json!({"paused": name, "shards": shards}), &format!("paused {name}: {}", shard_list(&shards)))?;
        }
        CtlCommand::Resume { name, shards, resets } => {
            let request =
                pb::ResumeIngestionRequest { name: name.clone(), shards: shards.clone(), resets: resets.clone() };
            client.ingestions().resume_ingestion(request).await.map_err(rpc)?;
            let mut text = format!("resumed {name}: {}", shard_list(&shards));
            for r in &resets {
                let mode = pb::ResetMode::short_name(r.mode).to_ascii_lowercase();
                text.push_str(&format!(
                    "; shard {} reset to {mode}{}",
                    r.shard,
                    r.value.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
                ));
            }
            out.done(json!({"resumed": name, "shards": shards, "resets": resets}), &text)?;
        }
        CtlCommand::State(args) => state::run(&client, &out, args).await?,
        CtlCommand::Stats { name } => {
            let r = client.ingestions().get_stats(pb::GetStatsRequest { name }).await.map_err(rpc)?.into_inner();
            out.stats(&r)?;
        }
        CtlCommand::Watch { name, count } => {
            let mut stream = client
                .ingestions()
                .watch_ingestion(pb::WatchIngestionRequest { name })
                .await
                .map_err(rpc)?
                .into_inner();
            let mut seen = 0;
            while let Some(snapshot) = stream.message().await.map_err(rpc)? {
                out.snapshot(&snapshot, seen == 0)?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
        }
        CtlCommand::Doc(command) => docs::run(&client, &out, command).await?,
        CtlCommand::Plugin(command) => plugins::run(&client, &out, command).await?,
        CtlCommand::Supervisor(command) => return supervisor::run(&client, &out, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_parse_as_shard_mode_value() {
        let r = parse_reset("2:offset:41").unwrap();
        assert_eq!((r.shard, r.mode, r.value.as_deref()), (2, pb::ResetMode::Offset as i32, Some("41")));
        assert_eq!(parse_reset("0:LATEST").unwrap().value, None);
        assert!(parse_reset("x:earliest").unwrap_err().contains("shard number"));
        assert!(parse_reset("0:sideways").unwrap_err().contains("MODE"));
    }
}
