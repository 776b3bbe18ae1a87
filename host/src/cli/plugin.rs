//! `sluice plugin`: scaffold a plugin crate, and check a built component.

use anyhow::{Context, bail};
use sluice::plugin::{Limits, Outcome, PluginEngine};
use sluice::pointer::Pointer;
use sluice::source::Message;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Create a plugin crate from the template (a working plugin to edit).
    New {
        /// Crate name (letters, digits, '-', '_').
        name: String,
        /// Where to create it (default: ./<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path to the sluice-plugin-sdk crate (default: the SDK of the sluice source tree this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Check a component against the plugin world and show what it makes of sample messages.
    Check {
        /// The component (`.wasm`).
        component: PathBuf,
        /// The plugin configuration (JSON), as a spec's `sluice.plugin.config` would give it.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Sample messages: one per line (NDJSON), decoded as shard 0 with line-number pointers.
        #[arg(long)]
        sample: Option<PathBuf>,
        /// Print one JSON object per sample message instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn plugin(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::New { name, dir, sdk } => new(&name, dir, sdk),
        PluginCommand::Check { component, config, sample, json } => check(&component, &config, sample.as_deref(), json),
    }
}

const TEMPLATE_LIB: &str = r##"//! A sluice message-format plugin. Build it with
//!     cargo build --release --target wasm32-wasip2
//! and check it with
//!     sluice plugin check target/wasm32-wasip2/release/{crate}.wasm --sample sample.ndjson

use sluice_plugin_sdk::json::{self, Value};
use sluice_plugin_sdk::{Decoded, Message, OpType, Operation, Plugin};

pub struct MyPlugin;

impl Plugin for MyPlugin {
    fn configure(_config_json: &str) -> Result<Self, String> {
        Ok(MyPlugin)
    }

    /// Each payload is a JSON object with an "id" field; the whole object is the document.
    fn decode(&self, m: &Message) -> Decoded {
        let Some(payload) = m.payload.as_deref() else { return Decoded::Skipped("tombstone".into()) };
        let text = match std::str::from_utf8(payload) {
            Ok(t) => t,
            Err(_) => return Decoded::Invalid("payload is not UTF-8".into()),
        };
        let doc = match json::parse_object(text, "payload") {
            Ok(members) => members,
            Err(reason) => return Decoded::Invalid(reason),
        };
        let id = match json::member(&doc, "id") {
            Some(Value::Str(s)) if !s.is_empty() => s.to_string(),
            Some(other) => return Decoded::Invalid(format!("id must be a non-empty string, found {}", other.describe())),
            None => return Decoded::Invalid("id is missing".into()),
        };
        Decoded::Ops(vec![Operation { id: Some(id), version: None, op_type: OpType::Index, source: Some(text.to_string()) }])
    }
}

sluice_plugin_sdk::export_plugin!(MyPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_object_with_an_id() {
        let p = MyPlugin::configure("{}").unwrap();
        let m = Message { payload: Some(br#"{"id":"a","n":1}"#.to_vec()), ..Default::default() };
        assert!(matches!(p.decode(&m), Decoded::Ops(ops) if ops[0].id.as_deref() == Some("a")));
    }
}
"##;

fn new(name: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        bail!("plugin name {name:?}: use letters, digits, '-' or '_'");
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = sdk.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/sdk"));
    let sdk =
        sdk.canonicalize().with_context(|| format!("the plugin SDK is not at {} (pass --sdk PATH)", sdk.display()))?;
    std::fs::create_dir_all(dir.join("src"))?;
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
# cdylib: the wasm component; rlib: native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
sluice-plugin-sdk = {{ path = {sdk:?} }}

# A standalone crate, not a member of an enclosing workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    let crate_name = name.replace('-', "_");
    std::fs::write(dir.join("src/lib.rs"), TEMPLATE_LIB.replace("{crate}", &crate_name))?;
    std::fs::write(dir.join("sample.ndjson"), "{\"id\":\"a\",\"n\":1}\n{\"n\":2}\nnot json\n")?;
    println!("created plugin crate {} (SDK at {})", dir.display(), sdk.display());
    println!("next:");
    println!("  cd {} && cargo build --release --target wasm32-wasip2", dir.display());
    println!("  sluice plugin check target/wasm32-wasip2/release/{crate_name}.wasm --sample sample.ndjson");
    Ok(ExitCode::SUCCESS)
}

fn check(component: &Path, config: &str, sample: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let name = component.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let engine = PluginEngine::new()?;
    let compiled = engine.compile(&name, &bytes, Limits::default())?;
    let mut instance = compiled.instantiate(config)?;
    println!(
        "{}: a valid sluice:plugin/message-format@0.1.0 component; configure accepted the config",
        component.display()
    );
    if !compiled.denied_imports().is_empty() {
        eprintln!(
            "note: it imports {}, which the sandbox does not grant: it loads, and a call to one fails the message",
            compiled.denied_imports().join(", ")
        );
    }
    let Some(sample) = sample else { return Ok(ExitCode::SUCCESS) };
    let text = std::fs::read_to_string(sample).with_context(|| format!("reading {}", sample.display()))?;
    let messages: Vec<Message> = text
        .lines()
        .enumerate()
        .map(|(i, line)| Message {
            pointer: Pointer::from(i as u64),
            timestamp_ms: None,
            key: None,
            headers: vec![],
            payload: Some(line.as_bytes().to_vec()),
        })
        .collect();
    let outcomes = instance.decode(0, &messages)?;
    for (m, outcome) in messages.iter().zip(outcomes) {
        let line = match &outcome {
            Outcome::Ops(ops) => ops
                .iter()
                .map(|o| {
                    serde_json::json!({"op": o.op_type, "id": o.id, "version": o.version, "source": o.source.as_deref().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())})
                })
                .collect::<Vec<_>>()
                .into(),
            Outcome::Invalid(r) => serde_json::json!({"invalid": r}),
            Outcome::Skipped(r) => serde_json::json!({"skipped": r}),
            Outcome::Failed(r) => serde_json::json!({"failed": r}),
        };
        if json {
            println!("{}", serde_json::json!({"pointer": m.pointer, "outcome": line}));
        } else {
            println!("{:>6}  {line}", m.pointer.to_string());
        }
    }
    Ok(ExitCode::SUCCESS)
}
