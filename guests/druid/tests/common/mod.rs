//! Shared by the integration tests: a plugin from its configuration,
//! messages, and a reference combiner that folds operations into rows the
//! way the plugin interface says a sink does.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Map, Value as J};
use sluice_druid::Druid;
use sluice_plugin_sdk::{Aggregator, Decoded, Message, OpType, Plugin};

/// 2018-01-02T01:00:00Z, a task period start after every tutorial event.
pub const REFERENCE: i64 = 1_514_854_800_000;

pub fn plugin(config: &str) -> Druid {
    Druid::configure(config).unwrap_or_else(|e| panic!("{config}: {e}"))
}

pub fn config_error(config: &str) -> String {
    match Druid::configure(config) {
        Ok(p) => panic!("{config} accepted: {p:?}"),
        Err(e) => e,
    }
}

/// A config with this dataSchema body (a JSON object's members, without braces) and no other part.
pub fn schema(members: &str) -> String {
    format!(r#"{{"dataSchema": {{{members}}}}}"#)
}

pub fn message(payload: &str, reference_time_ms: i64) -> Message {
    Message { payload: Some(payload.as_bytes().to_vec()), reference_time_ms, ..Default::default() }
}

pub fn decode(p: &Druid, payload: &str) -> Decoded {
    p.decode(&message(payload, REFERENCE))
}

/// What the tests look at in an operation or a row to merge, alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub id: Option<String>,
    pub version: Option<u64>,
    pub op_type: Kind,
    pub source: Option<String>,
    pub aggregators: Vec<(String, Aggregator)>,
    pub event_time_ms: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Index,
    Merge,
}

/// The operations and rows of a decoded message, as [`Op`]s.
pub fn ops_of(ops: Vec<sluice_plugin_sdk::Operation>, rows: Vec<sluice_plugin_sdk::Row>) -> Vec<Op> {
    let ops = ops.into_iter().map(|o| {
        assert_eq!(o.op_type, OpType::Index, "{o:?}");
        Op {
            id: o.id,
            version: o.version,
            op_type: Kind::Index,
            // The druid plugin makes its documents (never a span of the payload).
            source: o.source.map(|s| match s {
                sluice_plugin_sdk::DocSource::Text(text) => text,
                other => panic!("a druid document that is not text: {other:?}"),
            }),
            aggregators: vec![],
            event_time_ms: None,
        }
    });
    let rows = rows.into_iter().map(|r| Op {
        id: r.id,
        version: None,
        op_type: Kind::Merge,
        source: Some(r.source),
        aggregators: r.aggregators,
        event_time_ms: r.event_time_ms,
    });
    ops.chain(rows).collect()
}

/// The single operation of a message that decoded without errors.
#[track_caller]
pub fn op(p: &Druid, payload: &str) -> Op {
    let mut ops = match decode(p, payload) {
        Decoded::Ops(ops) => ops_of(ops, vec![]),
        Decoded::Rows(rows) => ops_of(vec![], rows),
        other => panic!("{payload}: {other:?}"),
    };
    assert_eq!(ops.len(), 1, "{payload}: {ops:?}");
    ops.remove(0)
}

/// The row (source) of a message's single operation, parsed.
#[track_caller]
pub fn row(p: &Druid, payload: &str) -> J {
    source(&op(p, payload))
}

pub fn source(op: &Op) -> J {
    serde_json::from_str(op.source.as_deref().expect("a source")).expect("the source is JSON")
}

/// The reason of an `Invalid` message.
#[track_caller]
pub fn invalid(p: &Druid, payload: &str) -> String {
    match decode(p, payload) {
        Decoded::Invalid(reason) => reason,
        other => panic!("{payload}: {other:?}"),
    }
}

/// A stored row, and the event time each aggregated field's value came from.
type Stored = (Map<String, J>, BTreeMap<String, i64>);

/// A sink's table: rows by id.
#[derive(Default)]
pub struct Table {
    rows: BTreeMap<String, Stored>,
    appended: usize,
}

impl Table {
    pub fn apply(&mut self, op: &Op) {
        let source = source(op);
        let J::Object(partial) = source else { panic!("source is not an object: {source}") };
        match op.op_type {
            Kind::Index => {
                assert!(op.aggregators.is_empty() && op.id.is_none(), "{op:?}");
                self.appended += 1;
                self.rows.insert(format!("appended-{:06}", self.appended), (partial, BTreeMap::new()));
            }
            Kind::Merge => {
                let id = op.id.clone().expect("a merge has an id");
                let time = op.event_time_ms.expect("a merge has an event time");
                let (row, times) = self.rows.entry(id).or_default();
                for (field, new) in partial {
                    match op.aggregators.iter().find(|(f, _)| *f == field) {
                        None => {
                            row.insert(field, new);
                        }
                        Some((_, aggregator)) => {
                            let stored = row.get(&field).cloned().unwrap_or(J::Null);
                            let (value, from) = combine(*aggregator, &stored, times.get(&field).copied(), new, time);
                            row.insert(field.clone(), value);
                            if let Some(t) = from {
                                times.insert(field, t);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The rows, by `__time` then by their JSON text.
    pub fn rows(&self) -> Vec<J> {
        let mut rows: Vec<J> = self.rows.values().map(|(row, _)| J::Object(row.clone())).collect();
        rows.sort_by_key(|r| (r["__time"].as_str().unwrap_or_default().to_owned(), r.to_string()));
        rows
    }
}

/// One aggregator step: a null side leaves the other; first/last by event
/// time (ties keep the stored value for first, take the new one for last).
fn combine(agg: Aggregator, stored: &J, stored_time: Option<i64>, new: J, time: i64) -> (J, Option<i64>) {
    use Aggregator::*;
    if new.is_null() {
        return (stored.clone(), None);
    }
    if stored.is_null() {
        return (new, Some(time));
    }
    let (a, b) = (stored, &new);
    let long = |f: fn(i64, i64) -> i64| J::from(f(a.as_i64().unwrap(), b.as_i64().unwrap()));
    let double = |f: fn(f64, f64) -> f64| J::from(f(a.as_f64().unwrap(), b.as_f64().unwrap()));
    let float = |f: fn(f32, f32) -> f32| J::from(f(a.as_f64().unwrap() as f32, b.as_f64().unwrap() as f32) as f64);
    let stored_time = || stored_time.expect("a stored first/last value has its time");
    let value = match agg {
        Count | LongSum => long(|x, y| x + y),
        DoubleSum => double(|x, y| x + y),
        FloatSum => float(|x, y| x + y),
        LongMin => long(i64::min),
        LongMax => long(i64::max),
        DoubleMin => double(f64::min),
        DoubleMax => double(f64::max),
        FloatMin => float(f32::min),
        FloatMax => float(f32::max),
        LongFirst | DoubleFirst | StringFirst => {
            return if time < stored_time() { (new, Some(time)) } else { (stored.clone(), None) };
        }
        LongLast | DoubleLast | StringLast => {
            return if time >= stored_time() { (new, Some(time)) } else { (stored.clone(), None) };
        }
    };
    (value, None)
}

/// Decodes every payload (all must decode without errors) into a table's rows.
pub fn fold<'p>(p: &Druid, payloads: impl IntoIterator<Item = &'p str>) -> Vec<J> {
    let mut table = Table::default();
    for payload in payloads {
        table.apply(&op(p, payload));
    }
    table.rows()
}
