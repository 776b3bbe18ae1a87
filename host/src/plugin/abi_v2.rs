//! `sluice:plugin@0.2.0`: a batch as one record whose messages refer by
//! spans to one buffer of bytes (keys, header values, payloads), with the
//! shard's reference time; operations may be `update` or `merge` and their
//! source a span of that buffer.

use super::{GuestState, Operation, Outcome};
use crate::sink::{Aggregator, OpType};
use crate::source::Message;
use wasmtime::Store;
use wasmtime::component::{Func, Instance, TypedFunc};

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        world: "message-format",
        path: "../wit/plugin.wit",
    });
}

use bindings::sluice::plugin::types as wit;

super::guest_imports!(bindings);

/// The WIT `batch`, borrowing the pointers' text and the packed bytes.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
struct BatchRef<'a> {
    shard: u32,
    #[component(name = "reference-time-ms")]
    reference_time_ms: i64,
    messages: Vec<MessageRef<'a>>,
    data: &'a [u8],
}

#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
struct MessageRef<'a> {
    pointer: &'a str,
    #[component(name = "timestamp-ms")]
    timestamp_ms: Option<i64>,
    key: Option<wit::Span>,
    headers: Vec<HeaderRef<'a>>,
    payload: Option<wit::Span>,
}

#[derive(wasmtime::component::ComponentType, wasmtime::component::Lower)]
#[component(record)]
struct HeaderRef<'a> {
    key: &'a str,
    value: Option<wit::Span>,
}

type DecodeFunc<'a> = TypedFunc<(BatchRef<'a>,), (Vec<wit::Decoded>,)>;

/// Checks the component's exports against this version's world.
pub(super) fn check(pre: &wasmtime::component::InstancePre<GuestState>) -> wasmtime::Result<()> {
    bindings::MessageFormatPre::new(pre.clone()).map(|_| ())
}

/// Calls `configure` and type-checks `decode` once.
pub(super) fn configure(
    store: &mut Store<GuestState>,
    instance: &Instance,
    config: &str,
) -> super::abi_v1::ConfigureResult {
    let bindings = bindings::MessageFormat::new(&mut *store, instance)?;
    let decode = instance
        .get_func(&mut *store, "decode")
        .ok_or_else(|| wasmtime::format_err!("the component exports no decode function"))?;
    decode.typed::<(BatchRef<'_>,), (Vec<wit::Decoded>,)>(&*store)?;
    Ok((decode, bindings.call_configure(store, config)))
}

/// The bytes of a batch and where each message's are.
struct Packed {
    data: Vec<u8>,
}

impl Packed {
    fn span(&mut self, bytes: &[u8]) -> wit::Span {
        let offset = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        wit::Span { offset, len: bytes.len() as u32 }
    }

    fn get(&self, span: wit::Span) -> Option<&[u8]> {
        let start = span.offset as usize;
        self.data.get(start..start.checked_add(span.len as usize)?)
    }
}

/// One guest call. `Ok(Err(reason))`: the guest answered wrongly.
pub(super) fn decode(
    store: &mut Store<GuestState>,
    func: Func,
    shard: u32,
    reference_time_ms: i64,
    messages: &[&Message],
    limits: &super::Limits,
) -> wasmtime::Result<Result<Vec<Outcome>, String>> {
    let bytes: usize =
        messages.iter().map(|m| m.payload.as_ref().map_or(0, Vec::len) + m.key.as_ref().map_or(0, Vec::len)).sum();
    let mut packed = Packed { data: Vec::with_capacity(bytes) };
    let mut pointers = String::with_capacity(messages.len() * 8);
    let pointers = super::format_pointers(messages, &mut pointers);
    let mut refs = Vec::with_capacity(messages.len());
    for (m, pointer) in messages.iter().zip(pointers) {
        let key = m.key.as_deref().map(|k| packed.span(k));
        let headers = m
            .headers
            .iter()
            .map(|h| HeaderRef { key: &h.key, value: h.value.as_deref().map(|v| packed.span(v)) })
            .collect();
        let payload = m.payload.as_deref().map(|p| packed.span(p));
        refs.push(MessageRef { pointer, timestamp_ms: m.timestamp_ms, key, headers, payload });
    }
    let batch = BatchRef { shard, reference_time_ms, messages: refs, data: &packed.data };
    // SAFETY: `configure` checked the export against this type.
    let typed: DecodeFunc<'_> = unsafe { TypedFunc::new_unchecked(func) };
    let (decoded,) = typed.call(store, (batch,))?;
    if decoded.len() != messages.len() {
        return Ok(Err(super::wrong_count(decoded.len(), messages.len())));
    }
    let size = output_size(&decoded);
    if size > limits.max_output_bytes() {
        return Ok(Err(super::too_much_output(size, limits)));
    }
    Ok(decoded.into_iter().map(|d| from_wit(d, &packed)).collect())
}

/// Bytes of text a decode call returned (a span counts as its length).
fn output_size(decoded: &[wit::Decoded]) -> usize {
    let ops_size = |ops: &[wit::Operation]| -> usize {
        ops.iter()
            .map(|o| {
                let source = match &o.source {
                    Some(wit::DocSource::Text(t)) => t.len(),
                    Some(wit::DocSource::Span(s)) => s.len as usize,
                    None => 0,
                };
                o.id.as_ref().map_or(0, String::len)
                    + source
                    + o.aggregators.iter().map(|a| a.field.len()).sum::<usize>()
            })
            .sum()
    };
    decoded
        .iter()
        .map(|d| match d {
            wit::Decoded::Ops(ops) => ops_size(ops),
            wit::Decoded::ProcessedWithError(p) => ops_size(&p.ops) + p.errors.len(),
            wit::Decoded::Invalid(r) | wit::Decoded::Skipped(r) | wit::Decoded::ThrownAway(r) => r.len(),
        })
        .sum()
}

/// One result as the host's outcome; a span outside the batch or that is
/// not UTF-8 fails the message (the guest answered wrongly).
fn from_wit(d: wit::Decoded, packed: &Packed) -> Result<Outcome, String> {
    let ops = |ops: Vec<wit::Operation>| ops.into_iter().map(|op| operation(op, packed)).collect::<Result<Vec<_>, _>>();
    Ok(match d {
        wit::Decoded::Ops(list) => Outcome::Ops(ops(list)?),
        wit::Decoded::Invalid(reason) => Outcome::Invalid(reason),
        wit::Decoded::Skipped(reason) => Outcome::Skipped(reason),
        wit::Decoded::ThrownAway(reason) => Outcome::ThrownAway(reason),
        wit::Decoded::ProcessedWithError(p) => Outcome::PartlyValid { ops: ops(p.ops)?, errors: p.errors },
    })
}

fn operation(op: wit::Operation, packed: &Packed) -> Result<Operation, String> {
    let source = match op.source {
        None => None,
        Some(wit::DocSource::Text(t)) => Some(t),
        Some(wit::DocSource::Span(s)) => {
            let bytes = packed.get(s).ok_or_else(|| {
                format!(
                    "plugin returned a source span {}+{} outside the batch's {} bytes",
                    s.offset,
                    s.len,
                    packed.data.len()
                )
            })?;
            Some(
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| "plugin returned a source span that is not UTF-8".to_string())?,
            )
        }
    };
    Ok(Operation {
        id: op.id,
        version: op.version,
        op_type: match op.op_type {
            wit::OpType::Index => OpType::Index,
            wit::OpType::Create => OpType::Create,
            wit::OpType::Delete => OpType::Delete,
            wit::OpType::Update => OpType::Update,
            wit::OpType::Merge => OpType::Merge,
        },
        source,
        aggregators: op.aggregators.into_iter().map(|a| (a.field, aggregator(a.aggregator))).collect(),
        event_time_ms: op.event_time_ms,
    })
}

fn aggregator(a: wit::Aggregator) -> Aggregator {
    use wit::Aggregator as W;
    match a {
        W::Count => Aggregator::Count,
        W::LongSum => Aggregator::LongSum,
        W::DoubleSum => Aggregator::DoubleSum,
        W::FloatSum => Aggregator::FloatSum,
        W::LongMin => Aggregator::LongMin,
        W::LongMax => Aggregator::LongMax,
        W::DoubleMin => Aggregator::DoubleMin,
        W::DoubleMax => Aggregator::DoubleMax,
        W::FloatMin => Aggregator::FloatMin,
        W::FloatMax => Aggregator::FloatMax,
        W::LongFirst => Aggregator::LongFirst,
        W::LongLast => Aggregator::LongLast,
        W::DoubleFirst => Aggregator::DoubleFirst,
        W::DoubleLast => Aggregator::DoubleLast,
        W::StringFirst => Aggregator::StringFirst,
        W::StringLast => Aggregator::StringLast,
    }
}
