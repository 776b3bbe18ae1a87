//! The WIT glue (wasm only), for `sluice:plugin@0.2.0`. Plugins reach it
//! through `export_plugin!`.

wit_bindgen::generate!({
    world: "message-format",
    path: "../../wit/plugin.wit",
    pub_export_macro: true,
    export_macro_name: "__export_raw",
    default_bindings_module: "sluice_plugin_sdk::bindings",
});

use crate::{
    Aggregator, Decoded as SdkDecoded, DocSource, Header, LogLevel, Message as SdkMessage, OpType, Operation, Plugin,
    Row,
};
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

    pub fn decode(&self, batch: wit::Batch) -> Vec<wit::Decoded> {
        let guard = self.0.borrow();
        let Some(plugin) = guard.as_ref() else {
            return batch
                .messages
                .iter()
                .map(|_| wit::Decoded::Invalid("plugin used before configure".into()))
                .collect();
        };
        #[cfg(feature = "talc")]
        if P::PER_CALL_ARENA {
            crate::ALLOCATOR.begin_call();
        }
        let data = &batch.data;
        let (shard, reference_time_ms) = (batch.shard, batch.reference_time_ms);
        // Where each payload is in `data`: a source that is part of it goes back as a span.
        let payloads: Vec<Option<wit::Span>> = batch.messages.iter().map(|m| m.payload).collect();
        let messages: Vec<SdkMessage> =
            batch.messages.into_iter().map(|m| from_wit(m, data, shard, reference_time_ms)).collect();
        // By index, not zip: a plugin's extra results must reach the host,
        // which fails a call whose result count is wrong.
        let decoded = plugin
            .decode_batch(&messages)
            .into_iter()
            .enumerate()
            .map(|(i, d)| to_wit(d, payloads.get(i).copied().flatten()))
            .collect();
        #[cfg(feature = "talc")]
        crate::ALLOCATOR.end_call();
        decoded
    }
}

fn bytes(data: &[u8], span: wit::Span) -> Vec<u8> {
    let start = span.offset as usize;
    data.get(start..start + span.len as usize).map(<[u8]>::to_vec).unwrap_or_default()
}

fn from_wit(m: wit::Message, data: &[u8], shard: u32, reference_time_ms: i64) -> SdkMessage {
    SdkMessage {
        shard,
        pointer: m.pointer,
        timestamp_ms: m.timestamp_ms,
        key: m.key.map(|s| bytes(data, s)),
        headers: m.headers.into_iter().map(|h| Header { key: h.key, value: h.value.map(|s| bytes(data, s)) }).collect(),
        payload: m.payload.map(|s| bytes(data, s)),
        reference_time_ms,
    }
}

/// One result for the host; `payload` is the message's span in the batch.
fn to_wit(d: SdkDecoded, payload: Option<wit::Span>) -> wit::Decoded {
    match to_wit_checked(d, payload) {
        Ok(d) => d,
        Err(reason) => wit::Decoded::Invalid(reason),
    }
}

fn to_wit_checked(d: SdkDecoded, payload: Option<wit::Span>) -> Result<wit::Decoded, String> {
    let ops = |ops: Vec<Operation>| ops.into_iter().map(|op| op_to_wit(op, payload)).collect::<Result<Vec<_>, _>>();
    Ok(match d {
        SdkDecoded::Ops(list) => wit::Decoded::Ops(ops(list)?),
        SdkDecoded::Rows(rows) => wit::Decoded::Ops(rows.into_iter().map(row_to_wit).collect()),
        SdkDecoded::Invalid(reason) => wit::Decoded::Invalid(reason),
        SdkDecoded::Skipped(reason) => wit::Decoded::Skipped(reason),
        SdkDecoded::ThrownAway(reason) => wit::Decoded::ThrownAway(reason),
        SdkDecoded::ProcessedWithError { ops: list, rows, errors } => {
            wit::Decoded::ProcessedWithError(wit::PartlyValid {
                ops: ops(list)?.into_iter().chain(rows.into_iter().map(row_to_wit)).collect(),
                errors,
            })
        }
    })
}

fn op_to_wit(op: Operation, payload: Option<wit::Span>) -> Result<wit::Operation, String> {
    let source = match op.source {
        None => None,
        Some(DocSource::Text(text)) => Some(wit::DocSource::Text(text)),
        Some(DocSource::Payload(range)) => match payload {
            Some(p) if range.start <= range.end && range.end <= p.len as usize => {
                Some(wit::DocSource::Span(wit::Span { offset: p.offset + range.start as u32, len: range.len() as u32 }))
            }
            _ => {
                let len = payload.map_or(0, |p| p.len);
                return Err(format!("plugin error: a document source at {range:?} of a payload of {len} bytes"));
            }
        },
    };
    Ok(wit::Operation {
        id: op.id,
        version: op.version,
        op_type: match op.op_type {
            OpType::Index => wit::OpType::Index,
            OpType::Create => wit::OpType::Create,
            OpType::Delete => wit::OpType::Delete,
            OpType::Update => wit::OpType::Update,
        },
        source,
        aggregators: Vec::new(),
        event_time_ms: None,
    })
}

fn row_to_wit(row: Row) -> wit::Operation {
    wit::Operation {
        id: row.id,
        version: None,
        op_type: wit::OpType::Merge,
        source: Some(wit::DocSource::Text(row.source)),
        aggregators: row
            .aggregators
            .into_iter()
            .map(|(field, a)| wit::FieldAggregator { field, aggregator: aggregator_to_wit(a) })
            .collect(),
        event_time_ms: row.event_time_ms,
    }
}

fn aggregator_to_wit(a: Aggregator) -> wit::Aggregator {
    use wit::Aggregator as W;
    match a {
        Aggregator::Count => W::Count,
        Aggregator::LongSum => W::LongSum,
        Aggregator::DoubleSum => W::DoubleSum,
        Aggregator::FloatSum => W::FloatSum,
        Aggregator::LongMin => W::LongMin,
        Aggregator::LongMax => W::LongMax,
        Aggregator::DoubleMin => W::DoubleMin,
        Aggregator::DoubleMax => W::DoubleMax,
        Aggregator::FloatMin => W::FloatMin,
        Aggregator::FloatMax => W::FloatMax,
        Aggregator::LongFirst => W::LongFirst,
        Aggregator::LongLast => W::LongLast,
        Aggregator::DoubleFirst => W::DoubleFirst,
        Aggregator::DoubleLast => W::DoubleLast,
        Aggregator::StringFirst => W::StringFirst,
        Aggregator::StringLast => W::StringLast,
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
                batch: $crate::bindings::sluice::plugin::types::Batch,
            ) -> Vec<$crate::bindings::sluice::plugin::types::Decoded> {
                SLOT.decode(batch)
            }
        }
        $crate::bindings::__export_raw!(Component with_types_in $crate::bindings);
    };
}
