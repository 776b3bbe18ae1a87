//! `dataSchema`: the ingestion's name (`dataSource`) and the schema the
//! `druid` plugin applies. The host checks only the shapes (objects, an
//! array of metrics): the plugin checks what is inside, naming its keys,
//! when the ingestion is created. The legacy form (`parser.parseSpec` with
//! `timestampSpec`, `dimensionsSpec` and `flattenSpec` inside) is turned
//! into the new one (`timestampSpec` and `dimensionsSpec` in `dataSchema`,
//! `flattenSpec` in a JSON `inputFormat`).

use super::super::opensearch::validate_name;
use super::super::{SpecError, invalid};
use super::values::Obj;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "dataSource",
    "timestampSpec",
    "dimensionsSpec",
    "metricsSpec",
    "granularitySpec",
    "transformSpec",
    "parser",
    "projections",
];

/// What `dataSchema` says.
pub(super) struct DataSchema {
    /// `dataSource`: the ingestion's name.
    pub name: String,
    /// `plugin.config.dataSchema`: the specs given, legacy ones moved up.
    pub schema: Map<String, Value>,
    /// The input format a legacy `parseSpec` stands for.
    pub legacy_input_format: Option<Map<String, Value>>,
}

pub(super) fn parse_data_schema(d: &Obj) -> Result<DataSchema, SpecError> {
    d.check_keys(KEYS)?;
    d.refuse("projections", "aggregate projections are Druid segment features")?;
    let name = d.required_text("dataSource")?;
    validate_name(&name).map_err(|e| match e {
        SpecError::Invalid { reason, .. } => invalid(&d.key("dataSource"), reason),
        other => other,
    })?;
    let mut schema = Map::new();
    for key in ["timestampSpec", "dimensionsSpec", "granularitySpec", "transformSpec"] {
        if let Some(v) = d.raw_object(key)? {
            schema.insert(key.into(), v);
        }
    }
    if let Some(v) = d.raw_array("metricsSpec")? {
        schema.insert("metricsSpec".into(), v);
    }
    let legacy_input_format = match d.object("parser")? {
        Some(parser) => Some(legacy_parser(&parser, &mut schema)?),
        None => None,
    };
    // Keep the plugin's view in Druid's order of the keys.
    let order = ["timestampSpec", "dimensionsSpec", "metricsSpec", "granularitySpec", "transformSpec"];
    let schema = order.iter().filter_map(|k| Some((k.to_string(), schema.remove(*k)?))).collect();
    Ok(DataSchema { name, schema, legacy_input_format })
}

/// A legacy `parser` (`StringInputRowParser` with a JSON `parseSpec`): its
/// `timestampSpec` and `dimensionsSpec` go into `schema`; the input format
/// it stands for is returned.
fn legacy_parser(parser: &Obj, schema: &mut Map<String, Value>) -> Result<Map<String, Value>, SpecError> {
    parser.check_keys(&["type", "parseSpec", "encoding"])?;
    match parser.text("type")?.as_deref() {
        None | Some("string") => {}
        Some(other) => {
            return Err(invalid(&parser.key("type"), format!("{other:?} is not supported; supported: string")));
        }
    }
    if let Some(encoding) = parser.text("encoding")?
        && !encoding.eq_ignore_ascii_case("UTF-8")
    {
        return Err(invalid(&parser.key("encoding"), format!("{encoding:?} is not supported; supported: UTF-8")));
    }
    let spec = parser.object("parseSpec")?.ok_or_else(|| SpecError::Missing(parser.key("parseSpec")))?;
    spec.check_keys(&["format", "timestampSpec", "dimensionsSpec", "flattenSpec", "featureSpec", "keepNullColumns"])?;
    match spec.text("format")?.as_deref() {
        None | Some("json") => {}
        Some(other) => {
            return Err(invalid(&spec.key("format"), format!("{other:?} is not supported; supported: json")));
        }
    }
    for key in ["timestampSpec", "dimensionsSpec"] {
        if let Some(v) = spec.raw_object(key)? {
            if schema.contains_key(key) {
                let data_schema = parser.path.strip_suffix(".parser").unwrap_or_default();
                return Err(invalid(
                    &spec.key(key),
                    format!("also given as {data_schema}.{key}: give it in one place"),
                ));
            }
            schema.insert(key.into(), v);
        }
    }
    let mut format = json!({"type": "json"}).as_object().cloned().unwrap_or_default();
    for key in ["flattenSpec", "featureSpec"] {
        if let Some(v) = spec.raw_object(key)? {
            format.insert(key.into(), v);
        }
    }
    if let Some(keep) = spec.bool("keepNullColumns")? {
        format.insert("keepNullColumns".into(), Value::Bool(keep));
    }
    Ok(format)
}
