//! `sluice ctl plugin`: register, list and remove plugins.

use super::client::{Client, rpc};
use super::output::{Output, short};
use anyhow::Context;
use serde_json::json;
use sluice::api::proto as pb;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub(super) enum PluginCommand {
    /// Register a component (.wasm) as NAME VERSION.
    Register { name: String, version: String, component: PathBuf },
    /// List the plugins, the built-in ones first.
    List,
    /// Remove a plugin version (refused while an ingestion uses it).
    Remove { name: String, version: String },
}

pub(super) async fn run(client: &Client, out: &Output, command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::Register { name, version, component } => {
            let bytes = std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
            let request = pb::RegisterPluginRequest { name, version, component: bytes };
            let p = client.plugins().register_plugin(request).await.map_err(rpc)?.into_inner();
            let text = format!("registered {} {} (sha256 {}, {} bytes)", p.name, p.version, short(&p.sha256), p.size);
            out.done(serde_json::to_value(&p)?, &text)?;
        }
        PluginCommand::List => {
            let r = client.plugins().list_plugins(pb::ListPluginsRequest {}).await.map_err(rpc)?.into_inner();
            out.plugins(&r.plugins)?;
        }
        PluginCommand::Remove { name, version } => {
            client
                .plugins()
                .remove_plugin(pb::RemovePluginRequest { name: name.clone(), version: version.clone() })
                .await
                .map_err(rpc)?;
            out.done(json!({"removed": name, "version": version}), &format!("removed {name} {version}"))?;
        }
    }
    Ok(())
}
