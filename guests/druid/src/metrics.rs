//! `dataSchema.metricsSpec`: the aggregators of a row, each a field of the
//! partial row with its [`Aggregator`].
//!
//! An event contributes: `count` 1; sums, mins and maxes the number in
//! `fieldName` (as `Rows.objectToNumber` reads it; long aggregators
//! truncate toward zero, float ones round to 32 bits); first/last the value
//! in `fieldName`, ordered by `timeColumn` (default: the event's own time,
//! before truncation), `stringFirst`/`stringLast` cut to `maxStringBytes`
//! UTF-8 bytes (default 1024). A missing or null input is null, which
//! leaves the stored value alone; an unparseable one is null too, and an
//! error that makes the row `processedWithError`. `floatFirst`/`floatLast`
//! are double first/last of values rounded to 32 bits.
//!
//! One order time serves every first/last metric of a row
//! ([`Operation::event_time_ms`](sluice_plugin_sdk::Operation)), so they
//! must share their `timeColumn`.

use std::borrow::Cow;

use sluice_plugin_sdk::Aggregator;
use sluice_plugin_sdk::json::Value;

use crate::numbers::{self, Number};
use crate::spec::{Node, invalid, unsupported};

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    kind: Kind,
    field: Option<String>,
    max_string_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Count,
    Sum(Width),
    Min(Width),
    Max(Width),
    First(Width),
    Last(Width),
    StringFirst,
    StringLast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Long,
    Double,
    Float,
}

const SUPPORTED: &[&str] = &[
    "count",
    "longSum",
    "doubleSum",
    "floatSum",
    "longMin",
    "longMax",
    "doubleMin",
    "doubleMax",
    "floatMin",
    "floatMax",
    "longFirst",
    "longLast",
    "doubleFirst",
    "doubleLast",
    "floatFirst",
    "floatLast",
    "stringFirst",
    "stringLast",
];

/// Druid aggregators sluice knows and does not implement.
const UNSUPPORTED: &[&str] = &[
    "hyperUnique",
    "cardinality",
    "thetaSketch",
    "HLLSketchBuild",
    "HLLSketchMerge",
    "quantilesDoublesSketch",
    "arrayOfDoublesSketch",
    "KllDoublesSketch",
    "KllFloatsSketch",
    "approxHistogram",
    "approxHistogramFold",
    "fixedBucketsHistogram",
    "momentSketch",
    "momentSketchMerge",
    "tDigestSketch",
    "bloom",
    "filtered",
    "javascript",
    "expression",
    "doubleMean",
    "longAny",
    "doubleAny",
    "floatAny",
    "stringAny",
    "grouping",
    "variance",
    "stringFirstFold",
    "stringLastFold",
    "spectatorHistogram",
];

/// `dataSchema.metricsSpec`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSpec {
    pub metrics: Vec<Metric>,
    /// The shared `timeColumn` of the first/last metrics (`None`: the event time).
    pub time_column: Option<String>,
}

impl MetricsSpec {
    pub fn parse(items: Option<&[Value<'_>]>, path: &str) -> Result<MetricsSpec, String> {
        let mut spec = MetricsSpec::default();
        let mut time_column: Option<Option<String>> = None;
        for (i, item) in items.unwrap_or_default().iter().enumerate() {
            let node = Node::new(item, format!("{path}[{i}]"))?;
            let (metric, time) = parse_metric(&node)?;
            if spec.metrics.iter().any(|m| m.name == metric.name) {
                return Err(format!("duplicate metric name [{}] in [{path}]", metric.name));
            }
            if metric.orders_by_time() {
                match &time_column {
                    Some(shared) if *shared != time => {
                        return Err(unsupported(
                            &format!("a timeColumn different from the other first/last metrics' in [{}]", node.path()),
                            "all first/last metrics of a row order by one time (the event time, or one timeColumn)",
                        ));
                    }
                    _ => time_column = Some(time),
                }
            }
            spec.metrics.push(metric);
        }
        spec.time_column = time_column.flatten();
        Ok(spec)
    }

    /// The columns schemaless discovery skips: each metric's name and input.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().flat_map(|m| std::iter::once(m.name.as_str()).chain(m.field.as_deref()))
    }
}

fn parse_metric(node: &Node<'_, '_>) -> Result<(Metric, Option<String>), String> {
    let type_name = node.required_str("type")?;
    let width = |name: &str| {
        if name.starts_with("long") {
            Width::Long
        } else if name.starts_with("float") {
            Width::Float
        } else {
            Width::Double
        }
    };
    let kind = match type_name {
        "count" => Kind::Count,
        t if t.ends_with("Sum") && SUPPORTED.contains(&t) => Kind::Sum(width(t)),
        t if t.ends_with("Min") && SUPPORTED.contains(&t) => Kind::Min(width(t)),
        t if t.ends_with("Max") && SUPPORTED.contains(&t) => Kind::Max(width(t)),
        "stringFirst" => Kind::StringFirst,
        "stringLast" => Kind::StringLast,
        t if t.ends_with("First") && SUPPORTED.contains(&t) => Kind::First(width(t)),
        t if t.ends_with("Last") && SUPPORTED.contains(&t) => Kind::Last(width(t)),
        t if UNSUPPORTED.contains(&t) => {
            return Err(unsupported(
                &format!("aggregator type [{t}] in [{}]", node.key("type")),
                &format!("supported: {}", SUPPORTED.join(", ")),
            ));
        }
        _ => {
            return Err(invalid(
                &node.key("type"),
                node.get("type").unwrap_or(&Value::Null),
                &format!("allowed: {}", SUPPORTED.join(", ")),
            ));
        }
    };
    let allowed: &[&str] = match kind {
        Kind::Count => &["type", "name"],
        Kind::Sum(_) | Kind::Min(_) | Kind::Max(_) => &["type", "name", "fieldName", "expression"],
        Kind::First(_) | Kind::Last(_) => &["type", "name", "fieldName", "timeColumn"],
        Kind::StringFirst | Kind::StringLast => &["type", "name", "fieldName", "timeColumn", "maxStringBytes"],
    };
    node.allow(allowed)?;
    let name = node.required_str("name")?;
    if name == "__time" {
        return Err(format!("invalid value for [{}]: \"__time\"; __time is the row time", node.key("name")));
    }
    if node.get("expression").is_some() {
        return Err(unsupported(&format!("[{}]", node.key("expression")), "use fieldName"));
    }
    let field = match kind {
        Kind::Count => None,
        _ => Some(node.required_str("fieldName")?.to_owned()),
    };
    let time = match node.str("timeColumn")? {
        None | Some("__time") => None,
        Some(column) => Some(column.to_owned()),
    };
    let max_string_bytes = node.integer("maxStringBytes", 0, i64::from(i32::MAX))?.unwrap_or(1024) as usize;
    Ok((Metric { name: name.to_owned(), kind, field, max_string_bytes }, time))
}

impl Metric {
    /// Whether the metric orders by the row's event time (first/last).
    pub fn orders_by_time(&self) -> bool {
        matches!(self.kind, Kind::First(_) | Kind::Last(_) | Kind::StringFirst | Kind::StringLast)
    }

    pub fn aggregator(&self) -> Aggregator {
        use Width::*;
        match self.kind {
            Kind::Count => Aggregator::Count,
            Kind::Sum(Long) => Aggregator::LongSum,
            Kind::Sum(Double) => Aggregator::DoubleSum,
            Kind::Sum(Float) => Aggregator::FloatSum,
            Kind::Min(Long) => Aggregator::LongMin,
            Kind::Min(Double) => Aggregator::DoubleMin,
            Kind::Min(Float) => Aggregator::FloatMin,
            Kind::Max(Long) => Aggregator::LongMax,
            Kind::Max(Double) => Aggregator::DoubleMax,
            Kind::Max(Float) => Aggregator::FloatMax,
            Kind::First(Long) => Aggregator::LongFirst,
            Kind::First(_) => Aggregator::DoubleFirst,
            Kind::Last(Long) => Aggregator::LongLast,
            Kind::Last(_) => Aggregator::DoubleLast,
            Kind::StringFirst => Aggregator::StringFirst,
            Kind::StringLast => Aggregator::StringLast,
        }
    }

    /// The event's contribution, from its `fieldName` value (`None`: missing).
    /// `timed` is false when a first/last metric has no order time for this
    /// event (its time column is missing): then it contributes nothing.
    pub fn value<'a>(&self, input: Option<&Value<'a>>, timed: bool) -> Result<Value<'a>, String> {
        let input = input.filter(|v| !matches!(v, Value::Null));
        let field = self.field.as_deref().unwrap_or_default();
        let width = match self.kind {
            Kind::Count => return Ok(Value::U64(1)),
            _ if !timed && self.orders_by_time() => return Ok(Value::Null),
            Kind::StringFirst | Kind::StringLast => return Ok(input.map_or(Value::Null, |v| self.string(v))),
            Kind::Sum(w) | Kind::Min(w) | Kind::Max(w) | Kind::First(w) | Kind::Last(w) => w,
        };
        let Some(number) = input.map(|v| numbers::metric_number(v, field)).transpose()?.flatten() else {
            return Ok(Value::Null);
        };
        let value = match width {
            Width::Long => Some(numbers::long_value(number.long())),
            Width::Double => numbers::double_value(number.double()),
            Width::Float => numbers::float_value(number.double()),
        };
        value.ok_or_else(|| {
            format!(
                "value {} for field [{field}] is not a finite number",
                input.map(Value::describe).unwrap_or_default()
            )
        })
    }

    /// A string first/last value: the text, cut to whole characters within `maxStringBytes`.
    fn string<'a>(&self, value: &Value<'a>) -> Value<'a> {
        let text: Cow<'a, str> = match value {
            Value::Str(s) => s.clone(),
            Value::Array(_) | Value::Object(_) => Cow::Owned(serde_json::to_string(value).unwrap_or_default()),
            scalar => Cow::Owned(scalar.scalar_text().unwrap_or_default().into_owned()),
        };
        if text.len() <= self.max_string_bytes {
            return Value::Str(text);
        }
        let mut cut = self.max_string_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Value::Str(Cow::Owned(text[..cut].to_owned()))
    }

    /// The name of the input column.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

/// The order time of a row's first/last metrics from a `timeColumn` value
/// (a long, as Druid requires): `Ok(None)` when missing or null.
pub fn order_time(value: Option<&Value<'_>>, column: &str) -> Result<Option<i64>, String> {
    match value {
        None => Ok(None),
        Some(v) => Ok(numbers::metric_number(v, column)?.map(Number::long)),
    }
}
