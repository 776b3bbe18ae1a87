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

mod abi_v1;
mod abi_v2;
mod file_kind;
mod imports;
mod instance;

use crate::source::Message;
pub use imports::{DeniedImport, GRANTED_TEXT};
pub use instance::PluginInstance;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Defined by the spec, which holds it; re-exported for the plugin API.
pub use crate::spec::Limits;

/// The plugins compiled into the host binary.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));

    /// Every built-in plugin: (name in specs, component).
    pub const ALL: &[(&str, &[u8])] =
        &[("opensearch", SLUICE_OPENSEARCH), ("debezium", SLUICE_DEBEZIUM), ("druid", SLUICE_DRUID)];

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
    /// Unparseable (Druid's `unparseable`); goes to the error policy.
    Invalid(String),
    Skipped(String),
    /// Valid but not accepted (Druid's `thrownAway`); goes to the error policy.
    ThrownAway(String),
    /// Applied, with errors in some fields (Druid's `processedWithError`).
    PartlyValid {
        ops: Vec<Operation>,
        errors: String,
    },
    /// The plugin itself failed on this message (trap, timeout, memory, bad output).
    Failed(String),
}

/// An operation as the plugin returned it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operation {
    pub id: Option<String>,
    pub version: Option<u64>,
    pub op_type: crate::sink::OpType,
    pub source: Option<String>,
    /// `merge` only: how fields combine.
    pub aggregators: Vec<(String, crate::sink::Aggregator)>,
    /// `merge` only: the event time first/last aggregators order by.
    pub event_time_ms: Option<i64>,
}

/// Which version of the plugin interface a component implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    /// `sluice:plugin@0.1.0`
    V1,
    /// `sluice:plugin@0.2.0`
    V2,
}

impl Abi {
    pub fn as_str(self) -> &'static str {
        match self {
            Abi::V1 => "sluice:plugin/message-format@0.1.0",
            Abi::V2 => "sluice:plugin/message-format@0.2.0",
        }
    }
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

/// The host side of a plugin interface version's imports (its `types`,
/// which has no functions, and `log`), for the bindings module `$b`.
macro_rules! guest_imports {
    ($b:ident) => {
        impl $b::sluice::plugin::types::Host for GuestState {}

        impl $b::sluice::plugin::log::Host for GuestState {
            fn log(&mut self, level: $b::sluice::plugin::log::Level, message: String) {
                use $b::sluice::plugin::log::Level;
                self.guest_log(
                    match level {
                        Level::Trace => tracing::Level::TRACE,
                        Level::Debug => tracing::Level::DEBUG,
                        Level::Info => tracing::Level::INFO,
                        Level::Warn => tracing::Level::WARN,
                        Level::Error => tracing::Level::ERROR,
                    },
                    &message,
                );
            }
        }
    };
}
use guest_imports;

impl GuestState {
    /// A guest's log line, in the host's `tracing` output (both interface versions).
    fn guest_log(&self, level: tracing::Level, message: &str) {
        let plugin = &*self.plugin;
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{message}"),
            tracing::Level::ERROR => tracing::error!(plugin, "{message}"),
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
        abi_v1::bindings::MessageFormat::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
            .expect("plugin 0.1.0 imports link");
        abi_v2::bindings::MessageFormat::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)
            .expect("plugin 0.2.0 imports link");
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
        // The newest interface version the component's exports match.
        let abi = match abi_v2::check(&pre) {
            Ok(()) => Abi::V2,
            Err(v2) => match abi_v1::check(&pre) {
                Ok(()) => Abi::V1,
                Err(v1) => {
                    return Err(PluginError::Invalid {
                        name: name.into(),
                        reason: format!(
                            "not a sluice:plugin/message-format component: as {}: {v2:#}; as {}: {v1:#}",
                            Abi::V2.as_str(),
                            Abi::V1.as_str()
                        ),
                    });
                }
            },
        };
        if !denied_imports.is_empty() {
            tracing::info!(plugin = name, denied = ?denied_imports, "the component imports interfaces the sandbox does not grant; calling them fails the message");
        }
        tracing::debug!(plugin = name, from_cache, abi = abi.as_str(), "component ready");
        Ok(CompiledPlugin { name: name.into(), pre, abi, limits, from_cache, denied_imports: denied_imports.into() })
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
    pre: InstancePre<GuestState>,
    abi: Abi,
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

    /// The plugin interface version the component implements.
    pub fn abi(&self) -> Abi {
        self.abi
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
        PluginInstance::new(self.clone(), config_json)
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

/// The pointers of a batch formatted into one buffer, one `&str` each.
fn format_pointers<'a>(messages: &[&Message], buffer: &'a mut String) -> Vec<&'a str> {
    use std::fmt::Write;
    let mut ends = Vec::with_capacity(messages.len());
    for m in messages {
        write!(buffer, "{}", m.pointer).expect("writing to a String");
        ends.push(buffer.len());
    }
    let buffer: &'a str = buffer;
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            let pointer = &buffer[start..end];
            start = end;
            pointer
        })
        .collect()
}

fn wrong_count(got: usize, expected: usize) -> String {
    format!("plugin returned {got} results for {expected} messages")
}

fn too_much_output(size: usize, limits: &Limits) -> String {
    format!(
        "plugin output of {size} bytes exceeds the limit of {} MiB (sluice.plugin.limits.max_output_mb)",
        limits.max_output_mb
    )
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
