//! `sluice:plugin@0.1.0`: a batch as a list of messages, each with its own
//! payload; operations with JSON text. Components built for it run unchanged.

use super::{GuestState, Outcome};
use crate::source::Message;
use wasmtime::Store;
use wasmtime::component::{Func, Instance, TypedFunc};

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        world: "message-format",
        path: "../wit/v0.1/plugin.wit",
    });
}

use bindings::sluice::plugin::types as wit;

super::guest_imports!(bindings);

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
type DecodeFunc<'a> = TypedFunc<(&'a [MessageRef<'a>],), (Vec<wit::Decoded>,)>;

/// Checks the component's exports against this version's world.
pub(super) fn check(pre: &wasmtime::component::InstancePre<GuestState>) -> wasmtime::Result<()> {
    bindings::MessageFormatPre::new(pre.clone()).map(|_| ())
}

/// Calls `configure` and type-checks `decode` once (each call then skips the check).
pub(super) fn configure(store: &mut Store<GuestState>, instance: &Instance, config: &str) -> ConfigureResult {
    let bindings = bindings::MessageFormat::new(&mut *store, instance)?;
    let decode = instance
        .get_func(&mut *store, "decode")
        .ok_or_else(|| wasmtime::format_err!("the component exports no decode function"))?;
    decode.typed::<(&[MessageRef<'_>],), (Vec<wit::Decoded>,)>(&*store)?;
    Ok((decode, bindings.call_configure(store, config)))
}

/// The `decode` export and what `configure` answered.
pub(super) type ConfigureResult = wasmtime::Result<(Func, wasmtime::Result<Result<(), String>>)>;

/// One guest call. `Ok(Err(reason))`: the guest answered wrongly.
pub(super) fn decode(
    store: &mut Store<GuestState>,
    func: Func,
    shard: u32,
    messages: &[&Message],
    limits: &super::Limits,
) -> wasmtime::Result<Result<Vec<Outcome>, String>> {
    let mut pointers = String::with_capacity(messages.len() * 8);
    let batch = message_refs(shard, messages, &mut pointers);
    // SAFETY: `configure` checked the export against this type (the
    // lifetime plays no part in the component type).
    let typed: DecodeFunc<'_> = unsafe { TypedFunc::new_unchecked(func) };
    let (decoded,) = typed.call(store, (&batch,))?;
    if decoded.len() != batch.len() {
        return Ok(Err(super::wrong_count(decoded.len(), batch.len())));
    }
    let size = output_size(&decoded);
    if size > limits.max_output_bytes() {
        return Ok(Err(super::too_much_output(size, limits)));
    }
    Ok(Ok(decoded.into_iter().map(from_wit).collect()))
}

/// A batch's messages as [`MessageRef`]s; the pointers are formatted into
/// one buffer.
fn message_refs<'a>(shard: u32, messages: &[&'a Message], pointers: &'a mut String) -> Vec<MessageRef<'a>> {
    let pointers = super::format_pointers(messages, pointers);
    messages
        .iter()
        .zip(pointers)
        .map(|(m, pointer)| MessageRef {
            shard,
            pointer,
            timestamp_ms: m.timestamp_ms,
            key: m.key.as_deref(),
            // Empty for files and Kinesis: no allocation.
            headers: m.headers.iter().map(|h| HeaderRef { key: &h.key, value: h.value.as_deref() }).collect(),
            payload: m.payload.as_deref(),
        })
        .collect()
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

fn from_wit(d: wit::Decoded) -> Outcome {
    use crate::sink::OpType;
    match d {
        wit::Decoded::Ops(ops) => Outcome::Ops(
            ops.into_iter()
                .map(|op| super::Operation {
                    id: op.id,
                    version: op.version,
                    op_type: match op.op_type {
                        wit::OpType::Index => OpType::Index,
                        wit::OpType::Create => OpType::Create,
                        wit::OpType::Delete => OpType::Delete,
                    },
                    source: op.source,
                    ..Default::default()
                })
                .collect(),
        ),
        wit::Decoded::Invalid(reason) => Outcome::Invalid(reason),
        wit::Decoded::Skipped(reason) => Outcome::Skipped(reason),
    }
}
