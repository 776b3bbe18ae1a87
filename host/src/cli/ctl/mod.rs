//! `sluice ctl`: a client for every RPC of the control plane.
//!
//! Tables by default, `--json` for scripts. A failed call prints its status
//! code and message (`error: NOT_FOUND: no ingestion named x`) and exits 2.

use super::serve::read_token;
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use sluice::api::proto::{
    self as pb, documents_client::DocumentsClient, ingestions_client::IngestionsClient, plugins_client::PluginsClient,
    state_client::StateClient, ProtoEnum,
};
use sluice::api::MAX_REQUEST_BYTES;
use std::path::PathBuf;
use std::process::ExitCode;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// `println!` that returns an error instead of panicking (a closed pipe,
/// as in `sluice ctl doc scan x | head`, ends the command quietly).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

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
    Create { spec: PathBuf },
    /// Show an ingestion (its spec with secrets redacted).
    Get { name: String },
    /// List the ingestions.
    List,
    /// Change dynamic settings: a partial spec as JSON text, or @FILE, e.g.
    /// '{"settings": {"index.ingestion_source.error_strategy": "DROP"}}'.
    Update { name: String, update: String },
    /// Stop an ingestion and forget it.
    Delete {
        name: String,
        /// Also delete its shard sinks (documents and checkpoints).
        #[arg(long)]
        delete_data: bool,
    },
    /// Every accepted spec and pointer reset, oldest first.
    History { name: String },
    /// Pause shards (all without --shard).
    Pause {
        name: String,
        #[arg(long = "shard")]
        shards: Vec<u32>,
    },
    /// Resume shards (all without --shard), optionally resetting paused
    /// shards' pointers: --reset SHARD:MODE[:VALUE] with MODE offset,
    /// timestamp, earliest or latest.
    Resume {
        name: String,
        #[arg(long = "shard")]
        shards: Vec<u32>,
        #[arg(long = "reset", value_parser = parse_reset)]
        resets: Vec<pb::ShardReset>,
    },
    /// Per-shard state of an ingestion; or `state export|import|reset` for the host's whole state.
    State(StateArgs),
    /// Per-shard polling_ingest_stats of an ingestion.
    Stats { name: String },
    /// Print state and stats whenever they change, until interrupted.
    Watch {
        name: String,
        /// Stop after this many snapshots.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Read documents.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Register, list and remove message-format plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct StateArgs {
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
    Import { file: PathBuf },
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

#[derive(clap::Subcommand)]
enum DocCommand {
    /// Print one document as JSON (`_id`, `_shard`, `_version`, `_source`).
    Get { name: String, id: String },
    /// Print the number of live documents.
    Count {
        name: String,
        #[arg(long)]
        shard: Option<u32>,
    },
    /// Print live documents as NDJSON, in id order per shard.
    Scan {
        name: String,
        /// One shard only (default: every shard, one after the other).
        #[arg(long)]
        shard: Option<u32>,
        /// Start after this id.
        #[arg(long, default_value = "")]
        after: String,
        /// At most this many documents in all (0: no limit).
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

#[derive(clap::Subcommand)]
enum PluginCommand {
    /// Register a component (.wasm) as NAME VERSION.
    Register { name: String, version: String, component: PathBuf },
    /// List the plugins, the built-in ones first.
    List,
    /// Remove a plugin version (refused while an ingestion uses it).
    Remove { name: String, version: String },
}

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

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Token(Option<MetadataValue<Ascii>>);

impl Interceptor for Token {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, Token>;

struct Client {
    channel: Channel,
    token: Token,
}

impl Client {
    fn ingestions(&self) -> IngestionsClient<Svc> {
        IngestionsClient::with_interceptor(self.channel.clone(), self.token.clone()).max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    fn documents(&self) -> DocumentsClient<Svc> {
        DocumentsClient::with_interceptor(self.channel.clone(), self.token.clone()).max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    fn plugins(&self) -> PluginsClient<Svc> {
        PluginsClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_encoding_message_size(MAX_REQUEST_BYTES)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    fn state(&self) -> StateClient<Svc> {
        StateClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_encoding_message_size(MAX_REQUEST_BYTES)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
}

/// The gRPC name of a status code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A failed call as `CODE: message`.
fn rpc(s: Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", code_name(s.code()), s.message())
}

pub fn ctl(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let token = match &args.token_file {
        Some(path) => {
            let value: MetadataValue<Ascii> = format!("Bearer {}", read_token(path)?)
                .parse()
                .map_err(|_| anyhow::anyhow!("the token in {} holds characters a header cannot carry", path.display()))?;
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
        CtlCommand::Create { spec } => {
            let spec_json = std::fs::read_to_string(&spec).with_context(|| format!("reading {}", spec.display()))?;
            let i = client.ingestions().create_ingestion(pb::CreateIngestionRequest { spec_json }).await.map_err(rpc)?.into_inner();
            out.ingestion(&i)?;
        }
        CtlCommand::Get { name } => {
            let i = client.ingestions().get_ingestion(pb::GetIngestionRequest { name }).await.map_err(rpc)?.into_inner();
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
            let i = client.ingestions().update_ingestion(pb::UpdateIngestionRequest { name, update_json }).await.map_err(rpc)?.into_inner();
            out.ingestion(&i)?;
        }
        CtlCommand::Delete { name, delete_data } => {
            client.ingestions().delete_ingestion(pb::DeleteIngestionRequest { name: name.clone(), delete_data }).await.map_err(rpc)?;
            out.done(json!({"deleted": name, "delete_data": delete_data}), &format!("deleted {name}{}", if delete_data { " and its data" } else { "" }))?;
        }
        CtlCommand::History { name } => {
            let r = client.ingestions().get_spec_history(pb::GetSpecHistoryRequest { name }).await.map_err(rpc)?.into_inner();
            out.history(&r.entries)?;
        }
        CtlCommand::Pause { name, shards } => {
            client.ingestions().pause_ingestion(pb::PauseIngestionRequest { name: name.clone(), shards: shards.clone() }).await.map_err(rpc)?;
            out.done(json!({"paused": name, "shards": shards}), &format!("paused {name}: {}", shard_list(&shards)))?;
        }
        CtlCommand::Resume { name, shards, resets } => {
            let request = pb::ResumeIngestionRequest { name: name.clone(), shards: shards.clone(), resets: resets.clone() };
            client.ingestions().resume_ingestion(request).await.map_err(rpc)?;
            let mut text = format!("resumed {name}: {}", shard_list(&shards));
            for r in &resets {
                let mode = pb::ResetMode::short_name(r.mode).to_ascii_lowercase();
                text.push_str(&format!("; shard {} reset to {mode}{}", r.shard, r.value.as_deref().map(|v| format!(" {v}")).unwrap_or_default()));
            }
            out.done(json!({"resumed": name, "shards": shards, "resets": resets}), &text)?;
        }
        CtlCommand::State(StateArgs { command: Some(command), .. }) => match command {
            StateCommand::Export => {
                let r = client.state().export_state(pb::ExportStateRequest {}).await.map_err(rpc)?.into_inner();
                let v: Value = serde_json::from_str(&r.state_json).context("the export is not JSON")?;
                say!("{}", serde_json::to_string_pretty(&v)?);
            }
            StateCommand::Import { file } => {
                let state_json = if file.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).context("reading stdin")?
                } else {
                    std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
                };
                let r = client.state().import_state(pb::ImportStateRequest { state_json }).await.map_err(rpc)?.into_inner();
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
        CtlCommand::State(StateArgs { name: Some(name), page_size, page_token, command: None }) => {
            let request = pb::GetIngestionStateRequest { name, page_size, page_token };
            let r = client.ingestions().get_ingestion_state(request).await.map_err(rpc)?.into_inner();
            out.state(&r)?;
        }
        CtlCommand::State(StateArgs { name: None, command: None, .. }) => {
            bail!("give an ingestion name (`sluice ctl state NAME`) or export, import or reset")
        }
        CtlCommand::Stats { name } => {
            let r = client.ingestions().get_stats(pb::GetStatsRequest { name }).await.map_err(rpc)?.into_inner();
            out.stats(&r)?;
        }
        CtlCommand::Watch { name, count } => {
            let mut stream = client.ingestions().watch_ingestion(pb::WatchIngestionRequest { name }).await.map_err(rpc)?.into_inner();
            let mut seen = 0;
            while let Some(snapshot) = stream.message().await.map_err(rpc)? {
                out.snapshot(&snapshot, seen == 0)?;
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    break;
                }
            }
        }
        CtlCommand::Doc(DocCommand::Get { name, id }) => {
            let d = client.documents().get_document(pb::GetDocumentRequest { ingestion: name, id }).await.map_err(rpc)?.into_inner();
            say!("{}", document_json(&d));
        }
        CtlCommand::Doc(DocCommand::Count { name, shard }) => {
            let r = client.documents().count_documents(pb::CountDocumentsRequest { ingestion: name, shard }).await.map_err(rpc)?.into_inner();
            out.done(json!({"count": r.count}), &r.count.to_string())?;
        }
        CtlCommand::Doc(DocCommand::Scan { name, shard, after, limit }) => {
            let shards: Vec<u32> = match shard {
                Some(s) => vec![s],
                None => {
                    let i = client.ingestions().get_ingestion(pb::GetIngestionRequest { name: name.clone() }).await.map_err(rpc)?;
                    (0..i.into_inner().shards).collect()
                }
            };
            let mut left = if limit == 0 { u64::MAX } else { limit };
            for shard in shards {
                if left == 0 {
                    break;
                }
                let request = pb::ScanDocumentsRequest { ingestion: name.clone(), shard, start_after: after.clone(), limit: left };
                let mut stream = client.documents().scan_documents(request).await.map_err(rpc)?.into_inner();
                while let Some(d) = stream.message().await.map_err(rpc)? {
                    say!("{}", document_json(&d));
                    left -= 1;
                }
            }
        }
        CtlCommand::Plugin(PluginCommand::Register { name, version, component }) => {
            let bytes = std::fs::read(&component).with_context(|| format!("reading {}", component.display()))?;
            let request = pb::RegisterPluginRequest { name, version, component: bytes };
            let p = client.plugins().register_plugin(request).await.map_err(rpc)?.into_inner();
            let text = format!("registered {} {} (sha256 {}, {} bytes)", p.name, p.version, short(&p.sha256), p.size);
            out.done(serde_json::to_value(&p)?, &text)?;
        }
        CtlCommand::Plugin(PluginCommand::List) => {
            let r = client.plugins().list_plugins(pb::ListPluginsRequest {}).await.map_err(rpc)?.into_inner();
            out.plugins(&r.plugins)?;
        }
        CtlCommand::Plugin(PluginCommand::Remove { name, version }) => {
            client.plugins().remove_plugin(pb::RemovePluginRequest { name: name.clone(), version: version.clone() }).await.map_err(rpc)?;
            out.done(json!({"removed": name, "version": version}), &format!("removed {name} {version}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn shard_list(shards: &[u32]) -> String {
    if shards.is_empty() {
        "all shards".into()
    } else {
        format!("shards {}", shards.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// A document as `sluice docs get` prints it.
fn document_json(d: &pb::Document) -> Value {
    let source: Value = serde_json::from_str(&d.source_json).unwrap_or_else(|_| Value::String(d.source_json.clone()));
    json!({"_id": d.id, "_shard": d.shard, "_version": d.version, "_source": source})
}

/// A message as JSON for scripts: `*_json` text fields become the JSON they
/// hold, without the suffix (`spec_json` -> `spec`).
fn to_json<T: Serialize>(value: &T) -> Value {
    fn unwrap(v: Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| match (k.strip_suffix("_json"), &v) {
                        (Some(base), Value::String(text)) => match serde_json::from_str(text) {
                            Ok(parsed) => (base.to_string(), parsed),
                            Err(_) => (k, v),
                        },
                        _ => (k, unwrap(v)),
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(unwrap).collect()),
            other => other,
        }
    }
    unwrap(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// `2025-01-02 03:04:05Z` from ms since the epoch ("-" for 0).
fn utc(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Left-aligned columns.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}", w = *w)).collect();
        text.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_else(|| "-".into())
}

struct Output {
    json: bool,
}

impl Output {
    fn print_json(&self, v: &Value) -> std::io::Result<()> {
        say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        Ok(())
    }

    /// A confirmation: `value` with --json, else `text`.
    fn done(&self, value: Value, text: &str) -> std::io::Result<()> {
        if self.json {
            self.print_json(&value)
        } else {
            say!("{text}");
            Ok(())
        }
    }

    fn ingestion(&self, i: &pb::Ingestion) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(i));
        }
        let plugin = i.plugin.clone().unwrap_or_default();
        let paused = if i.paused_shards.is_empty() { "none".into() } else { shard_list(&i.paused_shards) };
        say!("name:            {}", i.name);
        say!("source:          {}, {} shards", i.source_type, i.shards);
        say!("plugin:          {} {} (sha256 {})", plugin.name, plugin.version, short(&plugin.sha256));
        say!("error_strategy:  {}", pb::ErrorPolicy::short_name(i.error_strategy));
        say!("paused:          {paused}");
        say!("status:          {}", i.start_error.as_deref().map(|e| format!("not running: {e}")).unwrap_or_else(|| "running".into()));
        say!("created:         {}", utc(i.created_at_ms));
        say!("updated:         {}", utc(i.updated_at_ms));
        say!("spec:            {}", i.spec_json);
        Ok(())
    }

    fn ingestions(&self, list: &[pb::Ingestion]) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(&list));
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|i| {
                let plugin = i.plugin.clone().unwrap_or_default();
                vec![
                    i.name.clone(),
                    i.shards.to_string(),
                    i.source_type.clone(),
                    format!("{} {}", plugin.name, plugin.version),
                    pb::ErrorPolicy::short_name(i.error_strategy),
                    if i.paused_shards.is_empty() { "-".into() } else { format!("{:?}", i.paused_shards) },
                    i.start_error.as_deref().map(|e| format!("not running: {e}")).unwrap_or_else(|| "running".into()),
                ]
            })
            .collect();
        say!("{}", table(&["NAME", "SHARDS", "SOURCE", "PLUGIN", "POLICY", "PAUSED", "STATUS"], &rows));
        Ok(())
    }

    fn history(&self, entries: &[pb::HistoryEntry]) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(&entries));
        }
        let rows: Vec<Vec<String>> = entries.iter().map(|h| vec![utc(h.at_ms), h.kind.clone(), h.detail.clone()]).collect();
        say!("{}", table(&["AT", "KIND", "DETAIL"], &rows));
        Ok(())
    }

    fn state_rows(shards: &[pb::ShardState]) -> Vec<Vec<String>> {
        shards
            .iter()
            .map(|s| {
                let note = match (&s.blocked, &s.last_error) {
                    (Some(b), _) => format!("blocked at {} ({}): {}", b.pointer, b.cause, b.reason),
                    (None, Some(e)) => format!("last error{}: {}", e.pointer.as_ref().map(|p| format!(" at {p}")).unwrap_or_default(), e.message),
                    (None, None) => String::new(),
                };
                vec![
                    s.shard.to_string(),
                    pb::PollerState::short_name(s.state),
                    s.paused.to_string(),
                    pb::ErrorPolicy::short_name(s.error_strategy),
                    s.idle.to_string(),
                    opt(&s.committed_position),
                    opt(&s.last_pointer),
                    opt(&s.pointer_lag),
                    s.time_lag_ms.to_string(),
                    s.live_docs.to_string(),
                    note,
                ]
            })
            .collect()
    }

    const STATE_HEADERS: [&str; 11] =
        ["SHARD", "STATE", "PAUSED", "POLICY", "IDLE", "RESUMES", "LAST_POINTER", "LAG", "LAG_MS", "DOCS", "BLOCKED / LAST ERROR"];

    fn state(&self, r: &pb::GetIngestionStateResponse) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(r));
        }
        say!("{}", table(&Self::STATE_HEADERS, &Self::state_rows(&r.shards)));
        if !r.next_page_token.is_empty() {
            say!("more shards: --page-token {}", r.next_page_token);
        }
        Ok(())
    }

    fn stats_rows(stats: &[pb::ShardStats]) -> Vec<Vec<String>> {
        let mut total = [0u64; 9];
        let mut rows: Vec<Vec<String>> = stats
            .iter()
            .map(|s| {
                let p = s.polling_ingest_stats.unwrap_or_default();
                let (m, c) = (p.message_processor_stats.unwrap_or_default(), p.consumer_stats.unwrap_or_default());
                let values = [
                    m.total_processed_count,
                    m.total_invalid_message_count,
                    m.total_version_conflicts_count,
                    m.total_failed_count,
                    m.total_failures_dropped_count,
                    m.total_skipped_count,
                    m.total_ops_applied_count,
                    c.total_polled_count,
                    c.total_consumer_error_count,
                ];
                for (t, v) in total.iter_mut().zip(values) {
                    *t += v;
                }
                let mut row = vec![s.shard.to_string()];
                row.extend(values.iter().map(u64::to_string));
                row.push(c.lag_in_millis.to_string());
                row.push(opt(&c.pointer_based_lag));
                row
            })
            .collect();
        let mut row = vec!["total".to_string()];
        row.extend(total.iter().map(u64::to_string));
        rows.push(row);
        rows
    }

    const STATS_HEADERS: [&str; 12] =
        ["SHARD", "PROCESSED", "INVALID", "CONFLICTS", "FAILED", "DROPPED", "SKIPPED", "APPLIED", "POLLED", "POLL_ERRORS", "LAG_MS", "LAG"];

    fn stats(&self, r: &pb::GetStatsResponse) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(r));
        }
        say!("{}", table(&Self::STATS_HEADERS, &Self::stats_rows(&r.shards)));
        Ok(())
    }

    fn snapshot(&self, s: &pb::IngestionSnapshot, first: bool) -> std::io::Result<()> {
        if self.json {
            // One line per snapshot (NDJSON), for scripts that follow it.
            say!("{}", to_json(s));
            return Ok(());
        }
        if !first {
            say!();
        }
        say!("{} {}", utc(s.at_ms), s.name);
        say!("{}", table(&Self::STATE_HEADERS, &Self::state_rows(&s.shards)));
        say!("{}", table(&Self::STATS_HEADERS, &Self::stats_rows(&s.stats)));
        Ok(())
    }

    fn plugins(&self, list: &[pb::Plugin]) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(&list));
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|p| {
                let registered = if p.registered_at_ms == 0 { "built in".into() } else { utc(p.registered_at_ms) };
                vec![p.name.clone(), p.version.clone(), short(&p.sha256).to_string(), p.size.to_string(), registered]
            })
            .collect();
        say!("{}", table(&["NAME", "VERSION", "SHA256", "BYTES", "REGISTERED"], &rows));
        Ok(())
    }
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

    #[test]
    fn json_text_fields_become_json() {
        let i = pb::Ingestion { name: "x".into(), spec_json: r#"{"a":1}"#.into(), error_strategy: pb::ErrorPolicy::Block as i32, ..Default::default() };
        let v = to_json(&i);
        assert_eq!((v["spec"]["a"].as_i64(), v["error_strategy"].as_str()), (Some(1), Some("BLOCK")));
        assert!(v.get("spec_json").is_none());
    }

    #[test]
    fn utc_formats_epoch_ms() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
    }
}
