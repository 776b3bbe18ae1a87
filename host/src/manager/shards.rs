//! A Druid spec names no shard count: the manager learns it from the
//! stream (its partition count) when it creates the ingestion, and writes
//! it into the stored spec (`sluice.shards`), so that a restart, an export
//! or a checkpoint's source fingerprint sees the same count.

use super::{Manager, ManagerError, Result};
use crate::spec::{IngestionSpec, set_shards};
use crate::state::IngestionRecord;
use serde_json::Value;

/// The most shards an ingestion may have (as `index.number_of_shards`).
const MAX_SHARDS: u32 = 1024;

impl Manager {
    /// Fills in the shard count of a spec that has none: the one `stored`
    /// runs with, if given (its sinks are made for it), else the stream's
    /// partition count. A stream that cannot be reached or has no partition
    /// is an error.
    pub(super) fn resolve_shards(
        &self,
        spec_json: &mut Value,
        spec: &mut IngestionSpec,
        stored: Option<&IngestionRecord>,
    ) -> Result<()> {
        if !spec.shards_unresolved() {
            return Ok(());
        }
        let kept = stored.and_then(|r| IngestionSpec::from_value(&r.spec).ok()).filter(|s| !s.shards_unresolved());
        let shards = match kept {
            Some(s) => s.shards,
            None => self.partition_count(spec)?,
        };
        set_shards(spec_json, shards);
        spec.shards = shards;
        Ok(())
    }

    fn partition_count(&self, spec: &IngestionSpec) -> Result<u32> {
        let stream = match &spec.supervisor {
            Some(s) => format!("{} {:?}", crate::spec::druid::type_label(s.stream_type), s.stream),
            None => "the stream".to_string(),
        };
        let unreachable = |e: &dyn std::fmt::Display| {
            ManagerError::FailedPrecondition(format!(
                "ingestion {}: cannot learn the partition count of {stream} (a Druid spec takes its shard count \
                 from the stream; or set sluice.shards): {e}",
                spec.name
            ))
        };
        let source = self.wiring.open_source(spec).map_err(|e| unreachable(&e))?;
        let partitions = source.partition_count().map_err(|e| unreachable(&e))?;
        match partitions {
            0 => Err(ManagerError::FailedPrecondition(format!(
                "ingestion {}: {stream} has no partitions; create them first (a Druid spec takes its shard count \
                 from the stream; or set sluice.shards)",
                spec.name
            ))),
            n if n > MAX_SHARDS => Err(ManagerError::FailedPrecondition(format!(
                "ingestion {}: {stream} has {n} partitions; an ingestion has at most {MAX_SHARDS} shards",
                spec.name
            ))),
            n => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Host;
    use super::super::{Manager, ManagerError, ManagerOptions};
    use crate::sink::ShardSink;
    use crate::state::StateStore;
    use crate::testing::{druid_spec_json, eventually};

    fn open(host: &Host, restore: bool) -> std::sync::Arc<Manager> {
        let options = ManagerOptions { restore, ..Default::default() };
        Manager::with_wiring(host.wiring.clone(), host.store.clone(), options).unwrap()
    }

    #[test]
    fn a_druid_spec_gets_its_shard_count_from_the_stream_and_keeps_it() {
        let host = Host::new();
        host.wiring.source("d", 3);
        let m = open(&host, true);
        let info = m.create(druid_spec_json("d")).unwrap();
        assert_eq!(info.shards, 3);
        let stored = host.store.load("d").unwrap().unwrap();
        assert_eq!(stored.spec["sluice"]["shards"], 3, "the stored spec names the count");
        assert_eq!(info.spec["sluice"]["shards"], 3);
        host.wiring.source("d", 3).append(2, &["{}"]);
        eventually("shard 2 reads partition 2", || {
            host.wiring.sink("d", 2).meta().unwrap().counters.total_processed_count == 1
        });
        // Restored after a restart with the same count.
        m.shutdown();
        drop(m);
        let m = open(&host, true);
        assert_eq!(m.get("d").unwrap().shards, 3);
        m.shutdown();
    }

    #[test]
    fn a_stream_without_partitions_is_a_clear_error_and_nothing_is_stored() {
        let host = Host::new();
        let m = open(&host, true);
        let e = m.create(druid_spec_json("empty")).unwrap_err();
        assert!(
            matches!(&e, ManagerError::FailedPrecondition(t) if t.contains("file stream \"unused\" has no partitions")),
            "{e}"
        );
        assert!(host.store.load("empty").unwrap().is_none());
        m.shutdown();
    }

    #[test]
    fn a_stream_that_cannot_be_reached_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let wiring = std::sync::Arc::new(crate::wiring::DiskWiring::new(dir.path()));
        let store = std::sync::Arc::new(crate::state::memory::MemoryStateStore::new());
        let m = Manager::with_wiring(wiring, store, ManagerOptions::default()).unwrap();
        let mut spec = druid_spec_json("far");
        spec["ioConfig"]["baseDirectory"] = dir.path().join("missing").display().to_string().into();
        let e = m.create(spec).unwrap_err().to_string();
        assert!(
            e.contains("cannot learn the partition count of file stream \"unused\"") && e.contains("does not exist"),
            "{e}"
        );
        m.shutdown();
    }

    #[test]
    fn a_run_continues_with_the_count_it_was_created_with() {
        let host = Host::new();
        host.wiring.source("r", 2);
        let m = open(&host, false);
        assert_eq!(m.apply(druid_spec_json("r"), "r.json", false).unwrap().shards, 2);
        m.stop("r").unwrap();
        let info = m.apply(druid_spec_json("r"), "r.json", false).unwrap();
        assert_eq!(info.shards, 2);
        assert_eq!(m.history("r").unwrap().len(), 1, "the same spec again is no change");
        // `sluice.shards` pins a count; another one than the sinks have is refused.
        m.stop("r").unwrap();
        let mut pinned = druid_spec_json("r");
        pinned["sluice"] = serde_json::json!({"shards": 4});
        let e = m.apply(pinned, "r.json", false).unwrap_err().to_string();
        assert!(e.contains("over 4 shards"), "{e}");
        m.shutdown();
    }
}
