//! The spec parser: any text given to `IngestionSpec::from_json` is a spec
//! or a `SpecError`, never a panic; an accepted spec keeps its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::spec::{flat_settings, redact_secrets, IngestionSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match IngestionSpec::from_json(text) {
        Ok(spec) => {
            assert!((1..=1024).contains(&spec.shards), "shards {}", spec.shards);
            assert!(spec.max_batch_size >= 1 && spec.internal_queue_size >= 1);
            let config: serde_json::Value =
                serde_json::from_str(&spec.plugin_config()).expect("the plugin config is JSON");
            assert!(config.is_object());
            // The parsed form (what the state store keeps) round-trips.
            let json = serde_json::to_string(&spec).expect("a spec serializes");
            let back: IngestionSpec = serde_json::from_str(&json).expect("a serialized spec parses");
            assert_eq!(back, spec);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // Redaction and settings flattening take any JSON value.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let redacted = redact_secrets(&value);
        assert_eq!(redact_secrets(&redacted), redacted, "redaction is idempotent");
        if let Some(settings) = value.get("settings") {
            let _ = flat_settings(settings);
        }
    }
});
