//! The OpenSearch pull-based ingestion message format (the default plugin).

use sluice_plugin_sdk::{Decoded, Message, Plugin};

pub struct OpenSearch;

impl Plugin for OpenSearch {
    fn configure(_config_json: &str) -> Result<Self, String> {
        Ok(OpenSearch)
    }

    fn decode(&self, _message: &Message) -> Decoded {
        Decoded::Invalid("not implemented".into())
    }
}

sluice_plugin_sdk::export_plugin!(OpenSearch);
