//! The operation of one event: its row and, with rollup, the row key.
//!
//! The row is a JSON object: `__time` (ISO-8601 UTC with milliseconds, as
//! Druid returns it), each dimension by name (listed ones in their order,
//! null when missing; then discovered ones by name), each metric by name.
//!
//! With rollup, the row is a partial row merged into the stored one: the
//! operation is a `merge` whose id is the row key, the JSON array text of
//! `__time` and the listed dimension values in order
//! (`["2018-01-01T01:01:00.000Z","1.1.1.1","2.2.2.2"]`), with an object of
//! the discovered ones when the spec discovers any (their set varies per
//! event). A key longer than an id may be is replaced by the hex SHA-256 of
//! its text. Without rollup each event is its own row: an `index` with no id
//! (the host derives `<shard>-<pointer>`).

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use sluice_plugin_sdk::json::{self, Object, Value};
use sluice_plugin_sdk::{Aggregator, MAX_ID_BYTES, OpType, Operation};

/// What an event becomes: a partial row to merge (rollup) or a row of its own.
pub enum Emitted {
    Merge(sluice_plugin_sdk::Row),
    Index(Operation),
}

use crate::dimensions::Dims;

/// What a row is made of.
pub struct Row<'n, 'a> {
    /// `__time` in UTC milliseconds.
    pub time: i64,
    /// The order time of first/last metrics.
    pub event_time: i64,
    pub dims: Dims<'n, 'a>,
    /// With discovered dimensions, the key carries their names.
    pub discovers: bool,
    pub metrics: Vec<(&'n str, Value<'a>, Aggregator)>,
}

impl Row<'_, '_> {
    pub fn operation(self, rollup: bool) -> Result<Emitted, String> {
        let time = Value::Str(Cow::Owned(crate::calendar::format_iso(self.time)));
        let id = if rollup { Some(self.key(&time)?) } else { None };
        let mut row: Object<'_> =
            Vec::with_capacity(1 + self.dims.listed.len() + self.dims.discovered.len() + self.metrics.len());
        row.push((Cow::Borrowed("__time"), time));
        let dims = self.dims.listed.into_iter().chain(self.dims.discovered);
        row.extend(dims.map(|(name, value)| (Cow::Borrowed(name), value)));
        let mut aggregators = Vec::new();
        for (name, value, aggregator) in self.metrics {
            row.push((Cow::Borrowed(name), value));
            if rollup {
                aggregators.push((name.to_owned(), aggregator));
            }
        }
        let source = json::to_json(&row, 64 * row.len())?;
        Ok(if rollup {
            Emitted::Merge(sluice_plugin_sdk::Row { id, source, aggregators, event_time_ms: Some(self.event_time) })
        } else {
            Emitted::Index(Operation { id: None, version: None, op_type: OpType::Index, source: Some(source.into()) })
        })
    }

    /// The row key: `[__time, listed values..., {discovered}]` as JSON text, or its SHA-256.
    fn key(&self, time: &Value<'_>) -> Result<String, String> {
        let mut parts: Vec<Value<'_>> = Vec::with_capacity(2 + self.dims.listed.len());
        parts.push(time.clone());
        parts.extend(self.dims.listed.iter().map(|(_, v)| v.clone()));
        if self.discovers {
            let discovered = self.dims.discovered.iter().map(|(n, v)| (Cow::Borrowed(*n), v.clone())).collect();
            parts.push(Value::Object(discovered));
        }
        let text =
            serde_json::to_string(&Value::Array(parts)).map_err(|e| format!("cannot serialize the row key: {e}"))?;
        if text.len() <= MAX_ID_BYTES {
            return Ok(text);
        }
        Ok(Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
    }
}
