//! The sluice plugin SDK.
//!
//! A plugin author implements [`Plugin`] (a `configure` and a per-message
//! `decode`) and calls [`export_plugin!`]. The same code compiles natively, so a
//! plugin's logic can be unit-tested and benchmarked without wasm.
//!
//! ```
//! use sluice_plugin_sdk::{json, Decoded, Message, OpType, Operation, Plugin};
//!
//! /// Indexes each JSON object payload as it is, id from its `id` member.
//! struct Objects;
//!
//! impl Plugin for Objects {
//!     fn configure(_config_json: &str) -> Result<Self, String> {
//!         Ok(Objects)
//!     }
//!     fn decode(&self, m: &Message) -> Decoded {
//!         let Some(bytes) = &m.payload else { return Decoded::Skipped("tombstone".into()) };
//!         let Ok(text) = std::str::from_utf8(bytes) else {
//!             return Decoded::Invalid("payload is not UTF-8".into());
//!         };
//!         let doc = match json::parse_object(text, "payload") {
//!             Ok(doc) => doc,
//!             Err(reason) => return Decoded::Invalid(reason),
//!         };
//!         let id = json::member(&doc, "id").and_then(|v| v.scalar_text()).map(|t| t.into_owned());
//!         match json::to_json(&doc, text.len()) {
//!             Ok(source) => Decoded::Ops(vec![Operation {
//!                 id, // None: the host derives <shard>-<pointer>
//!                 version: None,
//!                 op_type: OpType::Index,
//!                 source: Some(source.into()),
//!             }]),
//!             Err(reason) => Decoded::Invalid(reason),
//!         }
//!     }
//! }
//!
//! sluice_plugin_sdk::export_plugin!(Objects);
//!
//! let m = Message { payload: Some(br#"{"id": 7, "a": [1]}"#.to_vec()), ..Default::default() };
//! assert_eq!(Objects.decode(&m), Decoded::Ops(vec![Operation {
//!     id: Some("7".into()), version: None, op_type: OpType::Index,
//!     source: Some(r#"{"id":7,"a":[1]}"#.into()),
//! }]));
//! ```
//!
//! Helpers for the usual work of a message format, all native-testable:
//!
//! * [`json`]: a borrowed JSON tree over serde_json that rejects duplicate
//!   keys and documents nested too deeply, with one-line reasons;
//! * [`path`]: get or remove a value by a dotted field path (`meta.id`);
//! * [`mapping`]: validation of a document against OpenSearch index mappings,
//!   with [`date`] for the date formats.

pub mod date;
pub mod json;
pub mod mapping;
pub mod path;
mod types;
pub use types::{
    Aggregator, Decoded, DocSource, Header, MAX_ID_BYTES, Message, OpType, Operation, Row, check_id_length,
};

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings;

/// The guest's global allocator: talc instead of Rust's wasm default
/// (dlmalloc), which spent 17% of the opensearch guest's decode time
/// (`cargo bench -p sluice-bench`). A plugin that wants its own allocator
/// turns the SDK's default `talc` feature off.
/// Wrapped in the per-call arena, which is idle unless the plugin opts in
/// ([`Plugin::PER_CALL_ARENA`]).
#[cfg(all(target_arch = "wasm32", feature = "talc"))]
#[global_allocator]
pub(crate) static ALLOCATOR: arena::CallArena<talc::wasm::WasmDynamicTalc> =
    arena::CallArena::new(talc::wasm::new_wasm_dynamic_allocator());

#[doc(hidden)]
pub mod arena;

/// A message-format plugin.
pub trait Plugin: Sized + 'static {
    /// Allocate from a per-call arena while decoding (wasm, with the SDK's
    /// default `talc` feature): everything allocated during a `decode` call
    /// is freed at once when the next call begins, which saves most of the
    /// allocator's work. Turn it on only if the plugin keeps nothing that
    /// `decode` allocates beyond the call (no cache filled lazily through
    /// a `RefCell`, `OnceCell` or a static): that would be freed under it.
    /// What `configure` builds is not affected.
    const PER_CALL_ARENA: bool = false;

    /// Builds the plugin from its JSON configuration (`"{}"` when none is given).
    fn configure(config_json: &str) -> Result<Self, String>;

    /// Decodes one message. Must not panic: return [`Decoded::Invalid`] instead.
    fn decode(&self, message: &Message) -> Decoded;

    /// Decodes a batch; exactly one result per message, in order.
    fn decode_batch(&self, batch: &[Message]) -> Vec<Decoded> {
        batch.iter().map(|m| self.decode(m)).collect()
    }
}

/// Logs through the host's `tracing` output (stderr when run natively).
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Log levels, as in the WIT `log` interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Exports a [`Plugin`] implementation as the component's `message-format` world.
///
/// On non-wasm targets it expands to nothing, so the plugin crate also builds
/// natively for tests and benchmarks.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            $crate::__export_world!($plugin);
        };
    };
}
