//! Command-line parsing and dispatch; each command lives in its own module.

mod ctl;
mod docs;
mod plugin;
mod run;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "sluice", version, about = "Pull-based stream ingestion with WebAssembly plugins")]
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
    /// Directory holding the state store and the shard sinks.
    #[arg(long, default_value = "sluice-data", env = "SLUICE_DATA_DIR")]
    pub data_dir: PathBuf,
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
