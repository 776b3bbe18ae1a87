//! The plugin configuration: a Druid supervisor spec's parts, in the shape
//! the host hands over (it turns the legacy `dataSchema.parser.parseSpec`
//! into this):
//!
//! ```json
//! {
//!   "dataSchema": {
//!     "dataSource": "...",
//!     "timestampSpec": {"column": "timestamp", "format": "iso", "missingValue": null},
//!     "dimensionsSpec": {"dimensions": ["srcIP", {"type": "long", "name": "port"}], "dimensionExclusions": []},
//!     "metricsSpec": [{"type": "count", "name": "count"}, {"type": "longSum", "name": "packets", "fieldName": "packets"}],
//!     "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "MINUTE", "rollup": true},
//!     "transformSpec": null
//!   },
//!   "inputFormat": {"type": "json", "flattenSpec": {"useFieldDiscovery": true, "fields": []}},
//!   "ioConfig": {"taskDuration": "PT1H", "lateMessageRejectionPeriod": "PT1H", "earlyMessageRejectionPeriod": null}
//! }
//! ```
//!
//! Only `dataSchema.timestampSpec` is required; the rest takes Druid's
//! defaults. Every key is checked: an unknown one, a bad value or a Druid
//! feature sluice does not implement is an error naming the key path.

use sluice_plugin_sdk::json::{self, Value};

use crate::dimensions::DimensionsSpec;
use crate::flatten::InputFormat;
use crate::granularity::GranularitySpec;
use crate::metrics::MetricsSpec;
use crate::rejection::Rejection;
use crate::spec::{Node, unsupported};
use crate::timestamp::TimestampSpec;

#[derive(Clone, Debug)]
pub struct Config {
    pub timestamp: TimestampSpec,
    pub dimensions: DimensionsSpec,
    pub metrics: MetricsSpec,
    pub granularity: GranularitySpec,
    pub input_format: InputFormat,
    pub rejection: Rejection,
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let root = Value::Object(json::parse_object(text, "config")?);
        let root = Node::new(&root, "")?;
        root.allow(&["dataSchema", "inputFormat", "ioConfig"])?;
        let schema = root.child("dataSchema")?.ok_or("missing [dataSchema]")?;
        schema.allow(&[
            "dataSource",
            "timestampSpec",
            "dimensionsSpec",
            "metricsSpec",
            "granularitySpec",
            "transformSpec",
        ])?;
        schema.str("dataSource")?;
        check_transform_spec(schema.child("transformSpec")?)?;

        let timestamp = TimestampSpec::parse(schema.child("timestampSpec")?, &schema.key("timestampSpec"))?;
        let metrics = MetricsSpec::parse(schema.array("metricsSpec")?, &schema.key("metricsSpec"))?;
        let mut dimensions = DimensionsSpec::parse(schema.child("dimensionsSpec")?)?;
        if let Some(name) = dimensions.listed_names().find(|d| metrics.metrics.iter().any(|m| m.name == *d)) {
            return Err(format!(
                "[{}] and [{}] both name [{name}]: a column is a dimension or a metric",
                schema.key("dimensionsSpec.dimensions"),
                schema.key("metricsSpec")
            ));
        }
        dimensions.exclude(std::iter::once(timestamp.column.as_str()).chain(metrics.columns()));
        Ok(Config {
            timestamp,
            dimensions,
            metrics,
            granularity: GranularitySpec::parse(schema.child("granularitySpec")?)?,
            input_format: InputFormat::parse(root.child("inputFormat")?)?,
            rejection: Rejection::parse(root.child("ioConfig")?)?,
        })
    }
}

/// `transformSpec` may be present only when it does nothing.
fn check_transform_spec(node: Option<Node<'_, '_>>) -> Result<(), String> {
    let Some(node) = node else { return Ok(()) };
    node.allow(&["transforms", "filter"])?;
    if node.array("transforms")?.is_some_and(|t| !t.is_empty()) {
        return Err(unsupported(
            &format!("[{}]", node.key("transforms")),
            "transform the events before they reach the stream",
        ));
    }
    if node.get("filter").is_some() {
        return Err(unsupported(
            &format!("[{}]", node.key("filter")),
            "filter the events before they reach the stream",
        ));
    }
    Ok(())
}
