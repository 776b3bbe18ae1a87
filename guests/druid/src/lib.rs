//! Druid's Kafka/Kinesis ingestion model as a sluice plugin.
//!
//! Druid rolls events up: each event becomes a row keyed by its truncated
//! time and its dimension values, and metrics combine. Here each JSON event
//! becomes one `merge` operation, a partial row with an aggregator per
//! metric, that the host's sinks combine into the stored row in the same
//! commit as the stream position (or one `index` operation per event
//! without rollup). The stages, as Druid applies them:
//!
//! * [`flatten`]: `inputFormat` and its `flattenSpec`, the event's columns;
//! * [`timestamp`]: `timestampSpec` (with [`joda`] patterns), the event time,
//!   or the reason the event is unparseable;
//! * [`rejection`]: late/early message rejection against the message's
//!   reference time (`thrownAway`);
//! * [`granularity`]: the row time (`queryGranularity`, `segmentGranularity`) and rollup;
//! * [`dimensions`] and [`metrics`]: the row's values; unparseable ones are
//!   null and make the message `processedWithError`;
//! * [`row`]: the operation.

pub mod calendar;
pub mod config;
pub mod dimensions;
pub mod flatten;
pub mod granularity;
pub mod joda;
pub mod metrics;
pub mod numbers;
pub mod period;
pub mod rejection;
pub mod row;
pub mod spec;
pub mod timestamp;
pub mod zones;

use sluice_plugin_sdk::{Decoded, Message, Plugin, json};

use crate::config::Config;
use crate::row::{Emitted, Row};

#[derive(Debug)]
pub struct Druid {
    config: Config,
}

impl Plugin for Druid {
    fn configure(config_json: &str) -> Result<Self, String> {
        Ok(Druid { config: Config::parse(config_json)? })
    }

    fn decode(&self, message: &Message) -> Decoded {
        let Some(payload) = &message.payload else {
            return Decoded::Skipped("no payload (tombstone)".to_owned());
        };
        let text = match std::str::from_utf8(payload) {
            Ok(text) => text,
            Err(e) => return Decoded::Invalid(format!("unparseable: payload is not valid UTF-8: {e}")),
        };
        let event = match json::parse_object(text, "payload") {
            Ok(event) => event,
            Err(reason) => return Decoded::Invalid(format!("unparseable: {reason}")),
        };
        let c = &self.config;
        let format = &c.input_format;
        let (pivot_year, _, _) = calendar::civil_from_days(message.reference_time_ms.div_euclid(calendar::DAY));
        // Joda's two-digit years: within 80 years before and 20 after the pivot.
        let time = match c.timestamp.extract(format.get(&event, &c.timestamp.column), pivot_year - 30) {
            Ok(time) => time,
            Err(reason) => return Decoded::Invalid(format!("unparseable: {reason}")),
        };
        if let Err(reason) = c.rejection.check(time, message.reference_time_ms) {
            return Decoded::ThrownAway(format!("thrownAway: {reason}"));
        }
        let Some(row_time) = c.granularity.row_time(time) else {
            return Decoded::Invalid(format!(
                "unparseable: cannot compute the row time of {}",
                calendar::format_iso(time)
            ));
        };
        let mut errors = Vec::new();
        let dims = c.dimensions.values(&event, format, &mut errors);

        let (event_time, timed) = match &c.metrics.time_column {
            None => (time, true),
            Some(column) => match metrics::order_time(format.get(&event, column), column) {
                Ok(Some(t)) => (t, true),
                Ok(None) => (time, false),
                Err(e) => {
                    errors.push(format!("timeColumn [{column}]: {e}"));
                    (time, false)
                }
            },
        };
        let mut values = Vec::with_capacity(c.metrics.metrics.len());
        for metric in &c.metrics.metrics {
            let input = metric.field().and_then(|f| format.get(&event, f));
            let value = metric.value(input, timed).unwrap_or_else(|e| {
                errors.push(format!("metric [{}]: {e}", metric.name));
                json::Value::Null
            });
            values.push((metric.name.as_str(), value, metric.aggregator()));
        }

        let row = Row { time: row_time, event_time, dims, discovers: c.dimensions.discovers(), metrics: values };
        match row.operation(c.granularity.rollup) {
            Ok(emitted) => {
                let (ops, rows) = match emitted {
                    Emitted::Merge(row) => (vec![], vec![row]),
                    Emitted::Index(op) => (vec![op], vec![]),
                };
                match (errors.is_empty(), rows.is_empty()) {
                    (true, true) => Decoded::Ops(ops),
                    (true, false) => Decoded::Rows(rows),
                    (false, _) => Decoded::ProcessedWithError {
                        ops,
                        rows,
                        errors: format!("processedWithError: {}", errors.join("; ")),
                    },
                }
            }
            Err(reason) => Decoded::Invalid(format!("unparseable: {reason}")),
        }
    }
}

sluice_plugin_sdk::export_plugin!(Druid);
