//! The sluice plugin SDK.
//!
//! A plugin author implements [`Plugin`] (a `configure` and a per-message
//! `decode`) and calls [`export_plugin!`]. The same code compiles natively, so a
//! plugin's logic can be unit-tested and benchmarked without wasm.
//!
//! ```ignore
//! struct Upper;
//! impl sluice_plugin_sdk::Plugin for Upper {
//!     fn configure(_config: &str) -> Result<Self, String> { Ok(Upper) }
//!     fn decode(&self, m: &sluice_plugin_sdk::Message) -> sluice_plugin_sdk::Decoded { ... }
//! }
//! sluice_plugin_sdk::export_plugin!(Upper);
//! ```

mod types;
pub use types::{Decoded, Header, Message, OpType, Operation};

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings;

/// A message-format plugin.
pub trait Plugin: Sized + 'static {
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
