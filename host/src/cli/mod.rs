//! Command-line parsing and dispatch; each command lives in its own module.

mod ctl;
mod docs;
mod plugin;
mod progress;
mod run;
mod serve;
mod spec_file;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Pull-based stream ingestion with WebAssembly plugins",
    after_help = "Examples:
  sluice run examples/quickstart.json --until-idle      ingest a spec's stream once, then exit
  sluice docs get quickstart user-00003                  read a document back
  sluice docs dropped quickstart --limit 0               every dropped message with its reason
  sluice serve --http-listen 9200                        the host as a service (gRPC on 127.0.0.1:50051)
  sluice ctl create examples/quickstart.json             create an ingestion on a running host
  sluice ctl resume quickstart --shard 0 --reset 0:offset:100
  sluice ctl supervisor submit supervisor.json           submit a Druid supervisor spec (see `sluice ctl supervisor --help`)
  sluice plugin new my-format && sluice plugin check my-format.wasm"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an ingestion from a spec file, with a live progress display.
    Run(run::RunArgs),
    /// Read documents from an ingestion's shard sinks.
    #[command(subcommand)]
    Docs(docs::DocsCommand),
    /// Run the host as a service with the gRPC control plane.
    Serve(serve::ServeArgs),
    /// Manage a `sluice serve` host over gRPC.
    Ctl(ctl::CtlArgs),
    /// Write plugins: scaffold a crate, check a component.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// Where state and sinks live; shared by every command.
#[derive(clap::Args, Clone)]
pub struct DataDir {
    /// Directory holding the file state store, embedded shard sinks and the
    /// compiled-plugin cache.
    #[arg(long, default_value = "sluice-data", env = "SLUICE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The state store: `file` (DATA_DIR/state) or `redis://[:password@]host:port/db`.
    #[arg(long, default_value = "file", env = "SLUICE_STATE")]
    pub state: String,
    /// Key prefix of the Redis state store.
    #[arg(long, default_value = "sluice", env = "SLUICE_STATE_PREFIX")]
    pub state_prefix: String,
}

impl DataDir {
    /// Opens the state store `--state` names. A Redis URL's password is never echoed.
    pub fn state_store(&self) -> anyhow::Result<std::sync::Arc<dyn sluice::state::StateStore>> {
        use sluice::state::{file::FileStateStore, redis::RedisStateStore};
        let kind = self.state.as_str();
        if kind == "file" {
            return Ok(std::sync::Arc::new(FileStateStore::open(
                &sluice::wiring::DataLayout::new(&self.data_dir).state_dir(),
            )?));
        }
        if kind.starts_with("redis://") || kind.starts_with("rediss://") {
            let store = RedisStateStore::open(kind, &self.state_prefix)
                .map_err(|e| anyhow::anyhow!("cannot use the Redis state store: {e}"))?;
            return Ok(std::sync::Arc::new(store));
        }
        anyhow::bail!(
            "--state {:?}: unknown state store; allowed: file, redis://host:port/db",
            kind.split("://").next().unwrap_or_default()
        )
    }
}

pub fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Docs(cmd) => docs::docs(cmd),
        Command::Serve(args) => serve::serve(args),
        Command::Ctl(args) => ctl::ctl(args),
        Command::Plugin(cmd) => plugin::plugin(cmd),
    }
}
