//! `sluice ctl state`: one ingestion's shards, or the host's whole state
//! (export, import, reset).

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
    /// Print the host's state (specs with secrets redacted, pointers, counters, plugins) as JSON.
    Export,
    /// Recreate the ingestions of an export (a file, or - for stdin).
    Import {
        file: PathBuf,
        /// Import ingestions whose documents are not on this host: their
        /// shards start over from pointer.init.reset (refused otherwise).
        #[arg(long)]
        reset_positions: bool,
    },
    /// Stop and forget every ingestion and plugin.
    Reset {
        /// Also delete every shard sink.
        #[arg(long)]
        delete_data: bool,
        /// Confirm: this forgets everything the host runs.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) async fn run(client: &Client, out: &Output, args: StateArgs) -> anyhow::Result<()> {
    match args {
        StateArgs { command: Some(command), .. } => match command {
            StateCommand::Export => {
                let r = client.state().export_state(pb::ExportStateRequest {}).await.map_err(rpc)?.into_inner();
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
            StateCommand::Reset { delete_data, yes } => {
                if !yes {
                    bail!("state reset stops and forgets every ingestion and plugin; add --yes to confirm");
                }
                client.state().reset_state(pb::ResetStateRequest { delete_data }).await.map_err(rpc)?;
                out.done(json!({"reset": true, "delete_data": delete_data}), "state reset")?;
            }
        },
        StateArgs { name: Some(name), page_size, page_token, command: None } => {
            let request = pb::GetIngestionStateRequest { name, page_size, page_token };
            let r = client.ingestions().get_ingestion_state(request).await.map_err(rpc)?.into_inner();
            out.state(&r)?;
        }
        StateArgs { name: None, command: None, .. } => {
            bail!("give an ingestion name (`sluice ctl state NAME`) or export, import or reset")
        }
    }
    Ok(())
}
