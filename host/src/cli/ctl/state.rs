//! `sluice ctl state`: one ingestion's shards; export, import and reset of
//! one ingestion's state or the host's; cleanup of deleted ingestions; what
//! the state store holds.

use super::client::{Client, rpc};
use super::output::Output;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use sluice::api::proto as pb;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct StateArgs {
    /// The ingestion whose shards to show.
    name: Option<String>,
    /// Shards per page (0: all).
    #[arg(long, default_value_t = 0)]
    page_size: u32,
    /// The next_page_token of a previous page.
    #[arg(long, default_value = "")]
    page_token: String,
    #[command(subcommand)]
    command: Option<StateCommand>,
}

#[derive(clap::Subcommand)]
enum StateCommand {
    /// Print the host's state, or one ingestion's (specs with secrets
    /// redacted, pointers, counters, statistics, plugins), as JSON.
    Export {
        /// Export this ingestion only.
        name: Option<String>,
    },
    /// Recreate the ingestions of an export (a file, or - for stdin): the
    /// host's or one ingestion's, from this host or another, file or Redis state.
    Import {
        file: PathBuf,
        /// Import ingestions whose documents are not on this host: their
        /// shards start over from pointer.init.reset (refused otherwise).
        #[arg(long)]
        reset_positions: bool,
    },
    /// With NAME: reset that ingestion's state (shards back to
    /// pointer.init.reset, counters and statistics zeroed, documents kept
    /// unless --delete-data). Without: stop and forget every ingestion and plugin (--yes).
    Reset {
        name: Option<String>,
        /// Also delete the documents (every shard sink, without NAME).
        #[arg(long)]
        delete_data: bool,
        /// Confirm a host-wide reset: it forgets everything the host runs.
        #[arg(long)]
        yes: bool,
    },
    /// Remove the records, statistics and local data of ingestions deleted
    /// longer ago than --older-than.
    Cleanup {
        /// E.g. 30d, 12h, 90m, 0s (every deleted ingestion).
        #[arg(long, value_parser = parse_age)]
        older_than: std::time::Duration,
    },
    /// How many records the state store holds, their size, the oldest and newest update.
    Stats,
}

fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    sluice::util::parse_duration(text)
}

pub(super) async fn run(client: &Client, out: &Output, args: StateArgs) -> anyhow::Result<()> {
    match args {
        StateArgs { command: Some(command), .. } => match command {
            StateCommand::Export { name } => {
                let r = match name {
                    Some(name) => client.state().export_ingestion(pb::ExportIngestionRequest { name }).await,
                    None => client.state().export_state(pb::ExportStateRequest {}).await,
                }
                .map_err(rpc)?
                .into_inner();
                let v: Value = serde_json::from_str(&r.state_json).context("the export is not JSON")?;
                say!("{}", serde_json::to_string_pretty(&v)?);
            }
            StateCommand::Import { file, reset_positions } => {
                let state_json = if file.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).context("reading stdin")?
                } else {
                    std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
                };
                let r = client
                    .state()
                    .import_state(pb::ImportStateRequest { state_json, reset_positions })
                    .await
                    .map_err(rpc)?
                    .into_inner();
                out.done(json!({"imported": r.ingestions}), &format!("imported {}", r.ingestions.join(", ")))?;
            }
            StateCommand::Reset { name: Some(name), delete_data, .. } => {
                let request = pb::ResetIngestionRequest { name: name.clone(), delete_data };
                let r = client.state().reset_ingestion(request).await.map_err(rpc)?.into_inner();
                out.done(json!({"reset": name, "delete_data": delete_data, "detail": r.detail}), &r.detail)?;
            }
            StateCommand::Reset { name: None, delete_data, yes } => {
                if !yes {
                    bail!(
                        "state reset without a name stops and forgets every ingestion and plugin; add --yes to confirm \
                         (or give an ingestion's name to reset its state only)"
                    );
                }
                client.state().reset_state(pb::ResetStateRequest { delete_data }).await.map_err(rpc)?;
                out.done(json!({"reset": true, "delete_data": delete_data}), "state reset")?;
            }
            StateCommand::Cleanup { older_than } => {
                let request = pb::CleanupOldStatesRequest { older_than_ms: older_than.as_millis() as u64 };
                let r = client.state().cleanup_old_states(request).await.map_err(rpc)?.into_inner();
                out.cleanup(&r)?;
            }
            StateCommand::Stats => {
                let r = client.state().get_state_stats(pb::GetStateStatsRequest {}).await.map_err(rpc)?.into_inner();
                out.state_stats(&r)?;
            }
        },
        StateArgs { name: Some(name), page_size, page_token, command: None } => {
            let request = pb::GetIngestionStateRequest { name, page_size, page_token };
            let r = client.ingestions().get_ingestion_state(request).await.map_err(rpc)?.into_inner();
            out.state(&r)?;
        }
        StateArgs { name: None, command: None, .. } => {
            bail!("give an ingestion name (`sluice ctl state NAME`) or export, import, reset, cleanup or stats")
        }
    }
    Ok(())
}
