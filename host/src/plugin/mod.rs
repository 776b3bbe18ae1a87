//! Running message-format plugins: sandboxed WebAssembly components.
//!
//! [`PluginEngine`] owns the wasmtime engine (one per process) and compiles
//! components. A [`CompiledPlugin`] is a compiled, pre-linked component that
//! any number of shards instantiate. A [`PluginInstance`] is one sandboxed
//! instance (its own store and linear memory) used by one shard's processor.
//!
//! The sandbox: no filesystem, network, environment or clock beyond what WASI
//! gives an empty context; linear memory capped by `StoreLimits`; CPU time
//! capped per call by epoch interruption. A guest that traps, runs out of
//! time or memory, or returns the wrong number of results never takes the
//! host down: its store is dropped, a fresh instance is made, and the batch is
//! split until the failure is narrowed to the message(s) that cause it.
//! Imports the sandbox does not grant (`wasi:http`, ...) do not keep a
//! component from loading: calling one fails like a trap (see [`imports`]).

mod bindings {
    wasmtime::component::bindgen!({
        world: "message-format",
        path: "../wit/v0.1",
    });
}

mod file_kind;
mod imports;

use crate::source::Message;
use bindings::sluice::plugin::types as wit;
pub use imports::{DeniedImport, GRANTED_TEXT};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Defined by the spec, which holds it; re-exported for the plugin API.
pub use crate::spec::Limits;
pub use wit::OpType as WitOpType;

/// The plugins compiled into the host binary.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));

    /// Every built-in plugin: (name in specs, component).
    pub const ALL: &[(&str, &[u8])] = &[("opensearch", SLUICE_OPENSEARCH), ("debezium", SLUICE_DEBEZIUM)];

    /// The built-in component named `name`.
    pub fn get(name: &str) -> Option<&'static [u8]> {
        ALL.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
    }
}

/// Core instances, tables and linear memories one plugin instance may
/// create. Components are made of several core modules, each instantiated on
/// its own; measured (`sluice plugin check`): Rust guests (wit-bindgen 0.63)
/// 3 instances, 2 tables, 1 memory; componentize-js 0.23 4, 2, 1;
/// componentize-py 0.25.1 14, 2, 1 (libc, libpython, the WASI adapter and
/// each native extension are core instances of their own). The caps leave
/// room for Python plugins with more native modules while still bounding
/// what a store holds; `memory_mb` applies to each memory.
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 8;
const MAX_MEMORIES: usize = 4;

/// How often the epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// After this many failed messages in a row, re-creating an instance waits a
/// little longer each time: a plugin that fails on everything must not spin
/// the CPU, yet a few bad messages in a healthy stream cost no delay.
const FAILURES_BEFORE_BACKOFF: u32 = 16;
const MAX_FAILURE_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin {name}: not a valid message-format component: {reason}")]
    Invalid { name: String, reason: String },
    #[error("plugin {name}: could not be instantiated: {reason}")]
    Instantiate { name: String, reason: String },
    #[error("plugin {name} rejected its configuration: {reason}")]
    Config { name: String, reason: String },
}

/// What a plugin made of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ops(Vec<Operation>),
    Invalid(String),
    Skipped(String),
    /// The plugin itself failed on this message (trap, timeout, memory, bad output).
    Failed(String),
}

/// An operation as the plugin returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub id: Option<String>,
    pub version: Option<u64>,
    pub op_type: crate::sink::OpType,
    pub source: Option<String>,
}

/// Per-store host state: an empty WASI context and the limits.
struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    plugin: Arc<str>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl bindings::sluice::plugin::types::Host for GuestState {}

impl bindings::sluice::plugin::log::Host for GuestState {
    fn log(&mut self, level: bindings::sluice::plugin::log::Level, message: String) {
        use bindings::sluice::plugin::log::Level;
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// The process-wide wasmtime engine and linker.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<GuestState>,
    /// Compiled components on disk, by content hash and engine compatibility.
    cache_dir: Option<std::path::PathBuf>,
}

impl PluginEngine {
    /// An engine with an on-disk cache of compiled components, so a restart
    /// does not recompile.
    pub fn with_cache(dir: &std::path::Path) -> Result<Arc<Self>, PluginError> {
        let mut engine = Self::new()?;
        Arc::get_mut(&mut engine).expect("just made").cache_dir = Some(dir.to_path_buf());
        Ok(engine)
    }

    pub fn new() -> Result<Arc<Self>, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Profiling: `SLUICE_WASM_PERFMAP=1` writes /tmp/perf-<pid>.map so
        // that `perf report` names the guest's compiled functions.
        if std::env::var_os("SLUICE_WASM_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)
            .map_err(|e| PluginError::Instantiate { name: "engine".into(), reason: e.to_string() })?;
        let mut linker = Linker::new(&engine);
        // std guests import wasi:cli/io/clocks/random even when unused; they
        // get an empty context: no preopened dirs, no env, no sockets.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi links");
        bindings::MessageFormat::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
            .expect("plugin imports link");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("sluice-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawn epoch thread");
        Ok(Arc::new(PluginEngine { engine, linker, cache_dir: None }))
    }

    /// Compiles and links a component, checking that it is a message-format plugin.
    pub fn compile(&self, name: &str, bytes: &[u8], limits: Limits) -> Result<CompiledPlugin, PluginError> {
        let invalid = |e: wasmtime::Error| PluginError::Invalid { name: name.into(), reason: format!("{e:#}") };
        if let Some(reason) = file_kind::not_a_component(bytes) {
            return Err(PluginError::Invalid { name: name.into(), reason });
        }
        let (component, from_cache) = match self.cached(bytes) {
            Some(c) => (c, true),
            None => {
                let c = Component::new(&self.engine, bytes).map_err(invalid)?;
                self.store_in_cache(bytes, &c);
                (c, false)
            }
        };
        let (pre, denied_imports) = match self.linker.instantiate_pre(&component) {
            Ok(pre) => (pre, Vec::new()),
            Err(unlinked) => {
                // Imports the sandbox does not grant fail when called, not
                // when the component loads (toolchains import more than a
                // plugin calls).
                let mut linker = self.linker.clone();
                let denied = imports::stub_denied(&mut linker, &self.engine, &component).map_err(invalid)?;
                if denied.is_empty() {
                    return Err(invalid(unlinked));
                }
                (linker.instantiate_pre(&component).map_err(invalid)?, denied)
            }
        };
        let pre = bindings::MessageFormatPre::new(pre).map_err(invalid)?;
        if !denied_imports.is_empty() {
            tracing::info!(plugin = name, denied = ?denied_imports, "the component imports interfaces the sandbox does not grant; calling them fails the message");
        }
        tracing::debug!(plugin = name, from_cache, "component ready");
        Ok(CompiledPlugin { name: name.into(), pre, limits, from_cache, denied_imports: denied_imports.into() })
    }

    fn cache_path(&self, bytes: &[u8]) -> Option<std::path::PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = self.cache_dir.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        Some(dir.join(format!("{}-{:016x}.cwasm", crate::util::sha256_hex(bytes), h.finish())))
    }

    fn cached(&self, bytes: &[u8]) -> Option<Component> {
        let path = self.cache_path(bytes)?;
        if !path.exists() {
            return None;
        }
        // Read into memory rather than mmap'd (`deserialize_file`): a file
        // truncated or rewritten underneath a mapping would kill the process.
        let bytes = std::fs::read(&path).ok()?;
        // Safety: the bytes are compiled code this host wrote itself under its
        // own data directory, named by the source's content hash and the
        // engine's compatibility hash; wasmtime also checks the header and the
        // engine settings and refuses a mismatch (we then recompile).
        match unsafe { Component::deserialize(&self.engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable compiled-component cache entry");
                None
            }
        }
    }

    fn store_in_cache(&self, bytes: &[u8], component: &Component) {
        let Some(path) = self.cache_path(bytes) else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().unwrap())?;
            let serialized = component.serialize().map_err(std::io::Error::other)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serialized)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "could not cache a compiled component");
        }
    }
}

/// A compiled component, ready to instantiate; cheap to clone.
#[derive(Clone)]
pub struct CompiledPlugin {
    name: Arc<str>,
    pre: bindings::MessageFormatPre<GuestState>,
    limits: Limits,
    from_cache: bool,
    /// Imports the sandbox does not grant (calling one fails the message).
    denied_imports: Arc<[String]>,
}

impl CompiledPlugin {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same component with other limits (an ingestion's own).
    pub fn with_limits(&self, limits: Limits) -> CompiledPlugin {
        CompiledPlugin { limits, ..self.clone() }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The component's imports that the sandbox does not grant
    /// (`wasi:http/types@0.2.10`, ...): calling one fails the message.
    pub fn denied_imports(&self) -> &[String] {
        &self.denied_imports
    }

    /// Creates an instance and configures it. A configuration the plugin
    /// rejects is an error here, before any message is read.
    pub fn instantiate(&self, config_json: &str) -> Result<PluginInstance, PluginError> {
        let mut instance =
            PluginInstance { plugin: self.clone(), config: config_json.into(), live: None, consecutive_failures: 0 };
        instance.ensure_live()?;
        Ok(instance)
    }

    fn new_store(&self) -> Store<GuestState> {
        let state = GuestState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes())
                .trap_on_grow_failure(true)
                .instances(MAX_INSTANCES)
                .tables(MAX_TABLES)
                .memories(MAX_MEMORIES)
                .build(),
            plugin: self.name.clone(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        store
    }
}

struct Live {
    store: Store<GuestState>,
    /// The `decode` export, type-checked against [`DecodeFunc`] at instantiation.
    decode: wasmtime::component::Func,
}

/// A WIT `message`, borrowed from a [`Message`]: lowered straight into the
/// guest's memory, with no owned copy of each payload on the host first.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
struct MessageRef<'a> {
    shard: u32,
    pointer: &'a str,
    #[component(name = "timestamp-ms")]
    timestamp_ms: Option<i64>,
    key: Option<&'a [u8]>,
    headers: Vec<HeaderRef<'a>>,
    payload: Option<&'a [u8]>,
}

/// A WIT `header`, borrowed.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
struct HeaderRef<'a> {
    key: &'a str,
    value: Option<&'a [u8]>,
}

/// The `decode` export with borrowed messages.
type DecodeFunc<'a> = wasmtime::component::TypedFunc<(&'a [MessageRef<'a>],), (Vec<wit::Decoded>,)>;

/// A batch's messages as [`MessageRef`]s; the pointers are formatted into
/// one buffer.
fn message_refs<'a>(shard: u32, messages: &[&'a Message], pointers: &'a mut String) -> Vec<MessageRef<'a>> {
    use std::fmt::Write;
    let mut ends = Vec::with_capacity(messages.len());
    for m in messages {
        write!(pointers, "{}", m.pointer).expect("writing to a String");
        ends.push(pointers.len());
    }
    let pointers: &'a str = pointers;
    let mut start = 0;
    messages
        .iter()
        .zip(ends)
        .map(|(m, end)| {
            let pointer = &pointers[start..end];
            start = end;
            MessageRef {
                shard,
                pointer,
                timestamp_ms: m.timestamp_ms,
                key: m.key.as_deref(),
                // Empty for files and Kinesis: no allocation.
                headers: m.headers.iter().map(|h| HeaderRef { key: &h.key, value: h.value.as_deref() }).collect(),
                payload: m.payload.as_deref(),
            }
        })
        .collect()
}

/// One sandboxed plugin instance.
pub struct PluginInstance {
    plugin: CompiledPlugin,
    config: String,
    /// `None` after a failure poisoned the store; re-created on next use.
    live: Option<Live>,
    consecutive_failures: u32,
}

impl PluginInstance {
    /// The compiled plugin this instance runs.
    pub fn plugin(&self) -> &CompiledPlugin {
        &self.plugin
    }

    fn ensure_live(&mut self) -> Result<&mut Live, PluginError> {
        if self.live.is_none() {
            if self.consecutive_failures >= FAILURES_BEFORE_BACKOFF {
                let exp = (self.consecutive_failures - FAILURES_BEFORE_BACKOFF).min(10);
                std::thread::sleep((Duration::from_millis(5) * (1 << exp)).min(MAX_FAILURE_BACKOFF));
            }
            let name = self.plugin.name.to_string();
            let mut store = self.plugin.new_store();
            store.set_epoch_deadline(ticks(self.plugin.limits.call_budget(0)));
            let instantiate = |store: &mut Store<GuestState>| -> wasmtime::Result<_> {
                let instance = self.plugin.pre.instance_pre().instantiate(&mut *store)?;
                let bindings = bindings::MessageFormat::new(&mut *store, &instance)?;
                let decode = instance
                    .get_func(&mut *store, "decode")
                    .ok_or_else(|| wasmtime::format_err!("the component exports no decode function"))?;
                // Checked once here; each call then skips the check.
                decode.typed::<(&[MessageRef<'_>],), (Vec<wit::Decoded>,)>(&*store)?;
                Ok((bindings, decode))
            };
            let (bindings, decode) = instantiate(&mut store)
                .map_err(|e| PluginError::Instantiate { name: name.clone(), reason: format!("{e:#}") })?;
            match bindings.call_configure(&mut store, &self.config) {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(PluginError::Config { name, reason }),
                Err(e) => return Err(PluginError::Config { name, reason: describe_failure(&e, &self.plugin.limits) }),
            }
            self.live = Some(Live { store, decode });
        }
        Ok(self.live.as_mut().expect("just made live"))
    }

    /// Decodes a batch: exactly one outcome per message, in order.
    ///
    /// Only an instance that cannot even be re-created is an error; anything
    /// the guest does wrong is narrowed to the messages that cause it and
    /// reported as [`Outcome::Failed`] for them.
    pub fn decode(&mut self, shard: u32, messages: &[Message]) -> Result<Vec<Outcome>, PluginError> {
        let max = self.plugin.limits.max_message_bytes();
        let too_big = |m: &Message| m.payload.as_ref().is_some_and(|p| p.len() > max);
        let mut pointers = String::with_capacity(messages.len() * 8);
        if !messages.iter().any(too_big) {
            let all: Vec<&Message> = messages.iter().collect();
            let batch = message_refs(shard, &all, &mut pointers);
            let mut out = Vec::with_capacity(batch.len());
            self.decode_narrowing(&batch, &mut out)?;
            return Ok(out);
        }
        // Oversized messages never reach the guest; the rest keep their order.
        let kept: Vec<&Message> = messages.iter().filter(|m| !too_big(m)).collect();
        let batch = message_refs(shard, &kept, &mut pointers);
        let mut decoded = Vec::with_capacity(batch.len());
        self.decode_narrowing(&batch, &mut decoded)?;
        let mut decoded = decoded.into_iter();
        Ok(messages
            .iter()
            .map(|m| match m.payload.as_ref().filter(|_| too_big(m)) {
                // (Sources may stop reading a message just past the limit,
                // so the size is given as "more than".)
                Some(_) => Outcome::Invalid(format!(
                    "message too large: more than {max} bytes, the limit of {} MiB (sluice.plugin.limits.max_message_mb)",
                    self.plugin.limits.max_message_mb
                )),
                None => decoded.next().expect("one outcome per decoded message"),
            })
            .collect())
    }

    fn decode_narrowing(&mut self, batch: &[MessageRef<'_>], out: &mut Vec<Outcome>) -> Result<(), PluginError> {
        match self.call_decode(batch)? {
            Ok(decoded) => {
                out.extend(decoded.into_iter().map(from_wit));
                Ok(())
            }
            Err(reason) if batch.len() == 1 => {
                tracing::warn!(plugin = %self.plugin.name, pointer = %batch[0].pointer, %reason, "plugin failed on a message");
                self.consecutive_failures += 1;
                out.push(Outcome::Failed(reason));
                Ok(())
            }
            Err(reason) => {
                tracing::debug!(plugin = %self.plugin.name, size = batch.len(), %reason, "plugin failed on a batch; splitting it");
                let (left, right) = batch.split_at(batch.len() / 2);
                self.decode_narrowing(left, out)?;
                self.decode_narrowing(right, out)
            }
        }
    }

    /// One guest call. `Ok(Err(reason))`: the guest failed on this batch.
    fn call_decode(&mut self, batch: &[MessageRef<'_>]) -> Result<Result<Vec<wit::Decoded>, String>, PluginError> {
        let limits = self.plugin.limits;
        let live = self.ensure_live()?;
        live.store.set_epoch_deadline(ticks(limits.call_budget(batch.len())));
        // SAFETY: `ensure_live` checked the export against this type (the
        // lifetime plays no part in the component type).
        let decode: DecodeFunc<'_> = unsafe { wasmtime::component::TypedFunc::new_unchecked(live.decode) };
        let result = match decode.call(&mut live.store, (batch,)).map(|(decoded,)| decoded) {
            Ok(decoded) if decoded.len() != batch.len() => {
                Err(format!("plugin returned {} results for {} messages", decoded.len(), batch.len()))
            }
            Ok(decoded) => {
                let size = output_size(&decoded);
                if size > limits.max_output_bytes() {
                    Err(format!(
                        "plugin output of {size} bytes exceeds the limit of {} MiB (sluice.plugin.limits.max_output_mb)",
                        limits.max_output_mb
                    ))
                } else {
                    Ok(decoded)
                }
            }
            Err(e) => {
                // A trapped store must not be used again.
                self.live = None;
                Err(describe_failure(&e, &limits))
            }
        };
        if result.is_ok() {
            self.consecutive_failures = 0;
        }
        Ok(result)
    }
}

/// Bytes of text a decode call returned.
fn output_size(decoded: &[wit::Decoded]) -> usize {
    decoded
        .iter()
        .map(|d| match d {
            wit::Decoded::Ops(ops) => ops
                .iter()
                .map(|o| o.id.as_ref().map_or(0, String::len) + o.source.as_ref().map_or(0, String::len))
                .sum(),
            wit::Decoded::Invalid(r) | wit::Decoded::Skipped(r) => r.len(),
        })
        .sum()
}

fn ticks(d: Duration) -> u64 {
    (d.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// A readable reason for a guest failure.
fn describe_failure(e: &wasmtime::Error, limits: &Limits) -> String {
    if let Some(denied) = e.downcast_ref::<DeniedImport>() {
        return denied.to_string();
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "plugin exceeded its CPU time limit ({} ms + {} µs per message; sluice.plugin.limits.cpu_ms)",
            limits.cpu_ms, limits.cpu_us_per_message
        ),
        Some(wasmtime::Trap::UnreachableCodeReached) => "plugin trapped (a panic or unreachable code)".into(),
        Some(trap) => format!("plugin trapped: {trap}"),
        // A failed memory.grow with trap_on_grow_failure is not a Trap.
        None if format!("{e:#}").contains("memory") => {
            format!("plugin ran out of memory (limit {} MiB; sluice.plugin.limits.memory_mb): {e:#}", limits.memory_mb)
        }
        None => format!("plugin failed: {e:#}"),
    }
}

fn from_wit(d: wit::Decoded) -> Outcome {
    match d {
        wit::Decoded::Ops(ops) => Outcome::Ops(
            ops.into_iter()
                .map(|op| Operation {
                    id: op.id,
                    version: op.version,
                    op_type: match op.op_type {
                        wit::OpType::Index => crate::sink::OpType::Index,
                        wit::OpType::Create => crate::sink::OpType::Create,
                        wit::OpType::Delete => crate::sink::OpType::Delete,
                    },
                    source: op.source,
                })
                .collect(),
        ),
        wit::Decoded::Invalid(reason) => Outcome::Invalid(reason),
        wit::Decoded::Skipped(reason) => Outcome::Skipped(reason),
    }
}
