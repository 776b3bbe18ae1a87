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
        /// Plugin name (letters, digits, '-', '_'): the directory and the package
        /// (`123` becomes package `_123`: cargo refuses a leading digit).
        name: String,
        /// Where to create it (default: ./<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path to the sluice-plugin-sdk crate (default: the SDK of the sluice source tree this binary was built
        /// from). Inside that checkout the new crate gets a relative path to it, elsewhere an absolute one.
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
use sluice_plugin_sdk::{Decoded, DocSource, Message, OpType, Operation, Plugin};

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
        // The document is the payload as it is: a span of it, not a copy.
        let source = Some(DocSource::Payload(0..payload.len()));
        Decoded::Ops(vec![Operation { id: Some(id), version: None, op_type: OpType::Index, source }])
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
    if name.starts_with('-') {
        bail!("plugin name {name:?}: start it with a letter, a digit or '_'");
    }
    let package = package_name(name);
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = sdk.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/sdk"));
    let sdk = sdk.canonicalize().with_context(|| {
        format!("the plugin SDK is not at {} (pass --sdk PATH: guests/sdk of a sluice checkout)", sdk.display())
    })?;
    std::fs::create_dir_all(dir.join("src"))?;
    let crate_dir = dir.canonicalize()?;
    // Inside the SDK's workspace (this checkout), a relative path builds
    // wherever the checkout is; outside it, only an absolute path is sure to
    // work here, and it is to be pointed at the SDK on another machine.
    let root = workspace_root(&sdk);
    let (sdk_path, sdk_comment) = if crate_dir.starts_with(&root) {
        (
            relative_path(&crate_dir, &sdk),
            "# sluice's plugin SDK (guests/sdk of the sluice checkout), relative to this file.",
        )
    } else {
        (
            sdk.clone(),
            "# sluice's plugin SDK: guests/sdk of a sluice checkout. This absolute path is the\n\
             # checkout on the machine that created the crate: elsewhere, point it at that\n\
             # machine's checkout (a path relative to this file builds wherever both move together).",
        )
    };
    let manifest = format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"

[lib]
# cdylib: the wasm component; rlib: native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
{sdk_comment}
sluice-plugin-sdk = {{ path = {sdk_path:?} }}

# A standalone crate, not a member of an enclosing workspace.
[workspace]
"#,
        sdk_path = sdk_path.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    let crate_name = package.replace('-', "_");
    std::fs::write(dir.join("src/lib.rs"), TEMPLATE_LIB.replace("{crate}", &crate_name))?;
    std::fs::write(dir.join("sample.ndjson"), "{\"id\":\"a\",\"n\":1}\n{\"n\":2}\nnot json\n")?;
    println!("created plugin crate {} (SDK at {})", dir.display(), sdk_path.display());
    if package != name {
        println!("its package is named {package}: cargo refuses a package named {name:?} (a leading digit, a keyword)");
    }
    if !crate_dir.starts_with(&root) {
        println!(
            "the crate is outside the sluice checkout: to build it on another machine, edit the \
             sluice-plugin-sdk path in its Cargo.toml"
        );
    }
    println!("next:");
    println!("  cd {} && cargo build --release --target wasm32-wasip2", dir.display());
    println!("  sluice plugin check target/wasm32-wasip2/release/{crate_name}.wasm --sample sample.ndjson");
    Ok(ExitCode::SUCCESS)
}

/// Rust's keywords (strict, reserved and 2024 edition): cargo refuses them as
/// package names, as it does names that start with a digit.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
    "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// The package name for a plugin called `name`: cargo refuses a package name
/// that starts with a digit (`123`: "the name cannot start with a digit") or
/// is a keyword or `test`; like cargo's own hint, such a name gets a leading
/// `_` (`_123`), which also makes the library a valid Rust identifier.
fn package_name(name: &str) -> String {
    let refused = name.starts_with(|c: char| c.is_ascii_digit()) || KEYWORDS.contains(&name) || name == "test";
    if refused { format!("_{name}") } else { name.to_string() }
}

/// The root of the cargo workspace `dir` belongs to (the sluice checkout
/// for its SDK), or `dir` itself.
fn workspace_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(dir)
        .to_path_buf()
}

/// `to` relative to the directory `from` (both absolute and canonical).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let (from, to): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path: PathBuf = std::iter::repeat_n(std::path::Component::ParentDir, from.len() - common).collect();
    path.extend(&to[common..]);
    path
}

fn check(component: &Path, config: &str, sample: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let name = component.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let engine = PluginEngine::new()?;
    let compiled = engine.compile(&name, &bytes, Limits::default())?;
    let mut instance = compiled.instantiate(config)?;
    println!("{}: a valid {} component; configure accepted the config", component.display(), compiled.abi().as_str());
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
    // The sample is judged against now, as a shard starting now would be.
    let outcomes = instance.decode(0, sluice::util::now_ms(), &messages)?;
    let ops_json = |ops: &[sluice::plugin::Operation]| -> serde_json::Value {
        ops.iter()
            .map(|o| {
                let mut op = serde_json::json!({"op": o.op_type, "id": o.id, "version": o.version,
                    "source": o.source.as_deref().and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())});
                if !o.aggregators.is_empty() {
                    op["aggregators"] =
                        o.aggregators.iter().map(|(f, a)| serde_json::json!([f, format!("{a:?}")])).collect();
                    op["event_time_ms"] = o.event_time_ms.into();
                }
                op
            })
            .collect::<Vec<_>>()
            .into()
    };
    for (m, outcome) in messages.iter().zip(outcomes) {
        let line = match &outcome {
            Outcome::Ops(ops) => ops_json(ops),
            Outcome::PartlyValid { ops, errors } => serde_json::json!({"ops": ops_json(ops), "errors": errors}),
            Outcome::ThrownAway(r) => serde_json::json!({"thrown_away": r}),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_cargo_accepts() {
        assert_eq!(package_name("my-format"), "my-format");
        assert_eq!(package_name("123"), "_123");
        assert_eq!(package_name("9lives-csv"), "_9lives-csv");
        assert_eq!(package_name("fn"), "_fn");
        assert_eq!(package_name("test"), "_test");
        assert_eq!(package_name("_x"), "_x");
    }

    #[test]
    fn relative_paths() {
        let rel = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b)).display().to_string();
        assert_eq!(rel("/w/sluice/plugins/p", "/w/sluice/guests/sdk"), "../../guests/sdk");
        assert_eq!(rel("/w/sluice/p", "/w/sluice/guests/sdk"), "../guests/sdk");
        assert_eq!(rel("/w/sluice/guests/p", "/w/sluice/guests/sdk"), "../sdk");
    }
}
