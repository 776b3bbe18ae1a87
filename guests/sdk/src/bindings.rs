//! The WIT glue (wasm only). Plugins reach it through `export_plugin!`.

wit_bindgen::generate!({
    world: "message-format",
    path: "../../wit/v0.1",
    pub_export_macro: true,
    export_macro_name: "__export_raw",
    default_bindings_module: "sluice_plugin_sdk::bindings",
});

use crate::{Decoded as SdkDecoded, Header, LogLevel, Message as SdkMessage, OpType, Operation, Plugin};
use sluice::plugin::types as wit;
use std::cell::RefCell;

pub(crate) fn log(level: LogLevel, message: &str) {
    use sluice::plugin::log::{Level, log};
    let level = match level {
        LogLevel::Trace => Level::Trace,
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warn => Level::Warn,
        LogLevel::Error => Level::Error,
    };
    log(level, message);
}

/// Per-instance plugin state: `configure` fills it, `decode` reads it.
pub struct Slot<P>(RefCell<Option<P>>);

// Safety: a component instance is single-threaded.
unsafe impl<P> Sync for Slot<P> {}

impl<P: Plugin> Default for Slot<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Plugin> Slot<P> {
    pub const fn new() -> Self {
        Slot(RefCell::new(None))
    }

    pub fn configure(&self, config_json: String) -> Result<(), String> {
        let plugin = P::configure(&config_json)?;
        *self.0.borrow_mut() = Some(plugin);
        Ok(())
    }

    pub fn decode(&self, batch: Vec<wit::Message>) -> Vec<wit::Decoded> {
        let guard = self.0.borrow();
        let Some(plugin) = guard.as_ref() else {
            return batch.iter().map(|_| wit::Decoded::Invalid("plugin used before configure".into())).collect();
        };
        let batch: Vec<SdkMessage> = batch.into_iter().map(from_wit).collect();
        plugin.decode_batch(&batch).into_iter().map(to_wit).collect()
    }
}

fn from_wit(m: wit::Message) -> SdkMessage {
    SdkMessage {
        shard: m.shard,
        pointer: m.pointer,
        timestamp_ms: m.timestamp_ms,
        key: m.key,
        headers: m.headers.into_iter().map(|h| Header { key: h.key, value: h.value }).collect(),
        payload: m.payload,
        reference_time_ms: 0,
    }
}

fn to_wit(d: SdkDecoded) -> wit::Decoded {
    match d {
        SdkDecoded::Ops(ops) => wit::Decoded::Ops(ops.into_iter().map(op_to_wit).collect()),
        SdkDecoded::Invalid(reason) => wit::Decoded::Invalid(reason),
        SdkDecoded::Skipped(reason) => wit::Decoded::Skipped(reason),
        // Placeholder until the 0.2.0 glue lands.
        SdkDecoded::ThrownAway(reason) => wit::Decoded::Invalid(reason),
        SdkDecoded::ProcessedWithError { .. } => wit::Decoded::Invalid("unsupported".into()),
    }
}

fn op_to_wit(op: Operation) -> wit::Operation {
    wit::Operation {
        id: op.id,
        version: op.version,
        op_type: match op.op_type {
            OpType::Index => wit::OpType::Index,
            OpType::Create => wit::OpType::Create,
            OpType::Delete => wit::OpType::Delete,
            OpType::Update | OpType::Merge => wit::OpType::Index,
        },
        source: op.source,
    }
}

/// Expands, in the plugin crate, to the `Guest` impl and the component exports.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_world {
    ($plugin:ty) => {
        static SLOT: $crate::bindings::Slot<$plugin> = $crate::bindings::Slot::new();
        struct Component;
        impl $crate::bindings::Guest for Component {
            fn configure(config_json: String) -> Result<(), String> {
                SLOT.configure(config_json)
            }
            fn decode(
                batch: Vec<$crate::bindings::sluice::plugin::types::Message>,
            ) -> Vec<$crate::bindings::sluice::plugin::types::Decoded> {
                SLOT.decode(batch)
            }
        }
        $crate::bindings::__export_raw!(Component with_types_in $crate::bindings);
    };
}
