//! The ingestion spec: what to pull, how to decode it, where to put it.
//!
//! The JSON accepts an OpenSearch index-creation body as it is: `settings`
//! (nested `ingestion_source` objects or flat `index.ingestion_source.*` keys,
//! `index.number_of_shards`) and `mappings`, plus a `name` and a `sluice`
//! section for the plugin and the sink. OpenSearch index settings that have no
//! meaning here (replicas, replication type, refresh interval, ...) are
//! accepted and ignored; every key under `ingestion_source` and `sluice` is
//! checked, and an unknown key or a bad value is an error that names it.
//!
//! It also accepts a Druid Kafka or Kinesis supervisor spec as it is (a
//! body with a top-level `type`, `spec`, `dataSchema` or `ioConfig`): see
//! `druid/`. Its Druid-only settings are kept in
//! [`IngestionSpec::supervisor`].
//!
//! Parts: `types.rs` (the parsed spec and its enums), `opensearch.rs` (the
//! index-creation body and its `ingestion_source` settings), `druid/` (a
//! Druid supervisor spec: `dataSchema`, `ioConfig`, `tuningConfig`),
//! `sluice_section.rs` (the `sluice` section: plugin and sink),
//! `state_section.rs` (`sluice.state` and `index.gc_deletes`), `settings.rs`
//! (flattening of settings and checks of single values), `limits.rs` (the
//! sandbox of a plugin instance).

pub mod druid;
mod limits;
mod opensearch;
mod settings;
mod sluice_section;
mod state_section;
mod types;

pub use crate::util::{REDACTED, is_secret_param, redact_secrets, redact_url_password};
pub use druid::{SupervisorSettings, TuningSettings, is_druid, set_shards};
pub use limits::Limits;
pub use opensearch::{NameConflict, body_name, set_name, validate_name};
pub use settings::{flat_settings, relative_base_directory, resolve_base_directory};
pub use state_section::{DEFAULT_AUTO_SAVE_INTERVAL, DEFAULT_GC_DELETES};
pub use types::{DEFAULT_TASK_DURATION_MS, ErrorStrategy, IngestionSpec, PluginSpec, SinkType, SourceType};

/// A spec that cannot be used, with the key it is about.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("spec is not valid JSON: {0}")]
    Json(String),
    #[error("unknown key [{key}]; allowed: {allowed}")]
    UnknownKey { key: String, allowed: String },
    #[error("missing required key [{0}]")]
    Missing(String),
    #[error("invalid value for [{key}]: {reason}")]
    Invalid { key: String, reason: String },
    #[error("setting [{0}] is given twice")]
    Duplicate(String),
}

fn invalid(key: &str, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { key: key.to_string(), reason: reason.into() }
}
