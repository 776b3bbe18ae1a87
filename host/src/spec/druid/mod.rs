//! A Druid Kafka or Kinesis supervisor spec, accepted as Druid takes it:
//! `{"type": "kafka", "dataSchema", "ioConfig", "tuningConfig"}` or wrapped,
//! `{"type": "kafka", "spec": {"dataSchema", "ioConfig", "tuningConfig"}}`,
//! with `context` and `suspended` at the top. sluice's extensions: `"type":
//! "file"` (an NDJSON file stream: `ioConfig.stream` and
//! `ioConfig.baseDirectory`), and a `sluice` section at the top (sink, plugin
//! version or file and limits, state, and `shards`).
//!
//! `dataSchema.dataSource` is the ingestion's name. The documents are made
//! by the `druid` plugin, configured with the schema (`dataSchema`), the
//! input format and the task timings; `ioConfig` also says where to read and
//! where to start, `tuningConfig` how parse errors are handled. The rest of
//! what Druid knows is checked and kept as [`SupervisorSettings`].
//!
//! A Druid spec names no shard count: unless `sluice.shards` says one, the
//! manager learns it from the stream (its partition count) when it creates
//! the ingestion, and writes it into the stored spec ([`set_shards`]). Until
//! then the parsed spec says `shards: 0`.
//!
//! Parts: `values.rs` (one object and its checked values, with full keys),
//! `io_config.rs`, `tuning_config.rs`, `data_schema.rs`,
//! `supervisor_settings.rs` (the typed settings kept).

mod data_schema;
mod io_config;
mod supervisor_settings;
mod tuning_config;
mod values;

pub use supervisor_settings::{SupervisorSettings, TuningSettings};

use super::opensearch::NameConflict;
use super::sluice_section::parse_sluice;
use super::state_section::parse_state;
use super::{DEFAULT_GC_DELETES, ErrorStrategy, IngestionSpec, SourceType, SpecError, invalid};
use crate::pointer::StartPosition;
use serde_json::{Map, Value, json};
use values::Obj;

const TOP_KEYS: &[&str] = &["type", "spec", "dataSchema", "ioConfig", "tuningConfig", "context", "suspended", "sluice"];
const SPEC_KEYS: &[&str] = &["dataSchema", "ioConfig", "tuningConfig"];
/// Keys only a Druid spec has at its top: any of them makes a body one.
const DRUID_KEYS: &[&str] = &["type", "spec", "dataSchema", "ioConfig", "tuningConfig"];

/// Is this body a Druid supervisor spec (rather than an OpenSearch index body)?
pub fn is_druid(body: &Value) -> bool {
    body.as_object().is_some_and(|top| DRUID_KEYS.iter().any(|k| top.contains_key(*k)))
}

/// How a status or an error names the stream of a source type.
pub fn type_label(t: SourceType) -> &'static str {
    match t {
        SourceType::Kafka => "kafka topic",
        SourceType::Kinesis => "kinesis stream",
        SourceType::File => "file stream",
    }
}

/// The supervisor `type` of a source type.
pub fn type_name(t: SourceType) -> &'static str {
    match t {
        SourceType::Kafka => "kafka",
        SourceType::Kinesis => "kinesis",
        SourceType::File => "file",
    }
}

pub(super) fn parse(body: &Value) -> Result<IngestionSpec, SpecError> {
    let top = Obj::new("", body)?;
    top.check_keys(TOP_KEYS)?;
    let stream_type = match top.text("type")?.as_deref() {
        Some("kafka") => SourceType::Kafka,
        Some("kinesis") => SourceType::Kinesis,
        Some("file") => SourceType::File,
        Some(other) => return Err(invalid("type", format!("{other:?}; allowed: kafka, kinesis, file (sluice's)"))),
        None => return Err(SpecError::Missing("type".into())),
    };
    let wrapped = top.object("spec")?;
    let holder = match &wrapped {
        Some(spec) => {
            spec.check_keys(SPEC_KEYS)?;
            if let Some(k) = SPEC_KEYS.iter().find(|k| top.get(k).is_some()) {
                return Err(invalid(
                    k,
                    "given at the top and in spec: give dataSchema, ioConfig and tuningConfig in one place",
                ));
            }
            spec
        }
        None => &top,
    };
    let part = |k: &str| holder.object(k)?.ok_or_else(|| SpecError::Missing(holder.key(k)));
    let (data_schema, io) = (part("dataSchema")?, part("ioConfig")?);
    let data = data_schema::parse_data_schema(&data_schema)?;
    let io_config = io_config::parse_io(&io, stream_type)?;
    let tuning = tuning_config::parse_tuning(holder.object("tuningConfig")?, stream_type)?;
    let input_format = match (io_config.input_format, data.legacy_input_format) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                &io.key("inputFormat"),
                format!("{} is given too: give inputFormat, or the legacy parser", data_schema.key("parser")),
            ));
        }
        (Some(f), None) | (None, Some(f)) => f,
        (None, None) => return Err(SpecError::Missing(io.key("inputFormat"))),
    };

    let sluice = top.get("sluice");
    let (mut plugin, sink) = parse_sluice(sluice, &["shards"])?;
    let section = top.object("sluice")?;
    let plugin_section = match &section {
        Some(s) => s.object("plugin")?,
        None => None,
    };
    if let Some(p) = &plugin_section
        && p.get("config").is_some()
    {
        return Err(invalid(
            &p.key("config"),
            "a Druid spec configures its plugin with dataSchema, inputFormat and ioConfig; give no config",
        ));
    }
    if !plugin_section.is_some_and(|p| p.get("name").is_some() || p.get("path").is_some()) {
        plugin.name = "druid".into();
    }
    plugin.config = Map::from_iter([
        ("dataSchema".to_string(), Value::Object(data.schema)),
        ("inputFormat".to_string(), Value::Object(input_format)),
        ("ioConfig".to_string(), Value::Object(io_config.plugin_io)),
    ]);
    let shards = match &section {
        Some(s) => match s.at_least("shards", 1)? {
            Some(n) if n > 1024 => return Err(invalid(&s.key("shards"), "must be between 1 and 1024")),
            n => n.unwrap_or(0) as u32,
        },
        None => 0,
    };

    let mut settings = io_config.settings;
    settings.wrapped = wrapped.is_some();
    settings.context = top.object("context")?.map(|c| c.map.clone());
    settings.suspended = top.bool("suspended")?.unwrap_or(false);
    let max_parse_exceptions = tuning_config::max_parse_exceptions(&tuning);
    let error_strategy = if tuning.report_parse_exceptions { ErrorStrategy::Block } else { ErrorStrategy::Drop };
    settings.tuning = tuning;
    Ok(IngestionSpec {
        name: data.name,
        shards,
        source_type: stream_type,
        params: io_config.params,
        init_reset: if settings.use_earliest_offset { StartPosition::Earliest } else { StartPosition::Latest },
        error_strategy,
        // OpenSearch's defaults, as for an index body.
        max_batch_size: 1000,
        poll_timeout_ms: io_config.poll_timeout_ms.unwrap_or(1000),
        num_processor_threads: 1,
        internal_queue_size: 100,
        mapper_type: None,
        mapper_settings: Map::new(),
        mappings: None,
        plugin,
        sink,
        auto_save_interval_ms: parse_state(sluice)?.as_millis() as u64,
        gc_deletes_ms: Some(DEFAULT_GC_DELETES.as_millis() as u64),
        task_duration_ms: settings.task_duration_ms,
        max_parse_exceptions,
        supervisor: Some(settings),
    })
}

/// The object that holds `dataSchema` and `ioConfig`: `spec` when wrapped.
fn holder(body: &Value) -> &Value {
    body.get("spec").filter(|s| s.is_object()).unwrap_or(body)
}

fn holder_mut(body: &mut Value) -> &mut Value {
    if body.get("spec").is_some_and(Value::is_object) { &mut body["spec"] } else { body }
}

/// A Druid spec's name: `dataSchema.dataSource`.
pub(super) fn name_of(body: &Value) -> Option<&Value> {
    holder(body).get("dataSchema")?.get("dataSource")
}

/// [`super::set_name`] for a Druid spec: the name is `dataSchema.dataSource`.
pub(super) fn set_name(body: &mut Value, name: &str) -> Result<bool, NameConflict> {
    let holder = holder_mut(body).as_object_mut().ok_or(NameConflict::NotAnObject)?;
    let schema = holder.entry("dataSchema").or_insert_with(|| json!({}));
    // A dataSchema that is no object: the spec parser says what is wrong.
    let schema = schema.as_object_mut().ok_or(NameConflict::NotAnObject)?;
    match schema.get("dataSource") {
        None | Some(Value::Null) => {
            schema.insert("dataSource".into(), Value::String(name.into()));
            Ok(true)
        }
        Some(Value::String(own)) if own == name => Ok(false),
        Some(other) => Err(NameConflict::Differs(other.clone())),
    }
}

/// Writes the shard count the manager resolved into a Druid spec, as
/// `sluice.shards`, so that the stored spec names it (restarts, exports and
/// the checkpoints' source fingerprint keep it).
pub fn set_shards(body: &mut Value, shards: u32) {
    if let Some(top) = body.as_object_mut() {
        let section = top.entry("sluice").or_insert_with(|| json!({}));
        if let Some(section) = section.as_object_mut() {
            section.insert("shards".into(), json!(shards));
        }
    }
}

/// The base directory of a Druid file spec (`ioConfig.baseDirectory` or
/// `ioConfig.base_directory`), if it has one.
pub(super) fn base_directory_mut(body: &mut Value) -> Option<&mut Value> {
    let io = holder_mut(body).get_mut("ioConfig")?.as_object_mut()?;
    let key = if io.contains_key("baseDirectory") { "baseDirectory" } else { "base_directory" };
    io.get_mut(key)
}

#[cfg(test)]
mod key_tests;
#[cfg(test)]
mod tests;
