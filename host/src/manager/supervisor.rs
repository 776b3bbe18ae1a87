//! Druid's supervisor operations over the manager. A supervisor is an
//! ingestion made from a Druid supervisor spec, named by its `dataSource`:
//! submit (create, or replace the spec at the same offsets), suspend and
//! resume, a hard reset and a reset of given partitions' offsets,
//! terminate; its status, row statistics and history are in
//! `supervisor_report.rs`.
//!
//! Replacing a spec is Druid's "new tasks start at the previous tasks'
//! offsets": the shards stop at a batch boundary (what is in flight is
//! committed first), and the new spec starts on the same sinks, from their
//! checkpoints, so nothing is skipped or applied twice. A spec that changes
//! what the checkpoints are positions in (type, topic or stream, base
//! directory, shard count) or the sink is refused, as `update` refuses a
//! static setting.

use super::rules::check_shards;
use super::supervisor_report::partition_id;
use super::{DeleteOutcome, IngestionInfo, Managed, Manager, ManagerError, ResetMode, ResetRequest, Result};
use crate::engine::Ingestion;
use crate::spec::{IngestionSpec, SinkType, SourceType, SupervisorSettings};
use crate::util::{now_ms, redact_secrets};
use serde_json::Value;
use std::collections::BTreeMap;

/// Druid's resetOffsets body (`{"type": "kafka", "partitions": {"type":
/// "end", "stream": ..., "partitionOffsetMap": {...}}}`), parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The supervisor type it is for: `kafka`, `kinesis`, or sluice's `file`.
    pub stream_type: String,
    /// The topic or stream.
    pub stream: String,
    /// Druid's partition id -> the offset (sequence number) it resumes at.
    pub offsets: BTreeMap<String, String>,
}

/// What a submitted supervisor spec did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// No supervisor had this dataSource: it was created.
    Created,
    /// The supervisor now runs the new spec, from the offsets the old one reached.
    Replaced,
    /// The spec is the one it runs: nothing changed.
    Unchanged,
}

impl Managed {
    /// Its Druid settings; an ingestion made from an OpenSearch body is no supervisor.
    pub(super) fn supervisor(&self) -> Result<&SupervisorSettings> {
        self.spec.supervisor.as_ref().ok_or_else(|| {
            ManagerError::FailedPrecondition(format!(
                "ingestion {} was created from an OpenSearch index body, not a Druid supervisor spec",
                self.spec.name
            ))
        })
    }
}

impl Manager {
    /// [`Manager::with`] for a supervisor: an unknown id is "no supervisor
    /// named", and an ingestion made from an OpenSearch body is refused.
    pub(super) fn with_supervisor<T>(&self, name: &str, f: impl FnOnce(&mut Managed) -> Result<T>) -> Result<T> {
        let mut map = self.lock();
        let m = map.get_mut(name).ok_or_else(|| ManagerError::NotFound(format!("no supervisor named {name}")))?;
        m.supervisor()?;
        f(m)
    }

    /// Druid's `POST /druid/indexer/v1/supervisor`: creates the supervisor
    /// of the spec's dataSource, or switches the existing one to the spec.
    pub fn submit_supervisor(&self, spec_json: Value) -> Result<(IngestionInfo, SubmitOutcome)> {
        // An OpenSearch index body is told apart before its own checks.
        let spec =
            crate::spec::druid::is_druid(&spec_json).then(|| IngestionSpec::from_value(&spec_json)).transpose()?;
        let Some(spec) = spec.filter(|s| s.supervisor.is_some()) else {
            return Err(ManagerError::InvalidArgument(
                "not a Druid supervisor spec (a top-level \"type\" of kafka or kinesis, with dataSchema and ioConfig); \
                 an OpenSearch index body is created as an index"
                    .into(),
            ));
        };
        if self.lock().contains_key(&spec.name) {
            self.replace_supervisor(spec_json, spec)
        } else {
            self.create_supervisor(spec_json, spec)
        }
    }

    /// A new supervisor. Over a terminated one of the same stream it
    /// continues from the offsets that one reached, as Druid keeps a
    /// terminated supervisor's offsets; its history goes on.
    fn create_supervisor(
        &self,
        mut spec_json: Value,
        mut spec: IngestionSpec,
    ) -> Result<(IngestionInfo, SubmitOutcome)> {
        let tombstone = self.store.load(&spec.name)?.filter(|r| r.deleted_at_ms.is_some());
        let terminated = tombstone
            .as_ref()
            .and_then(|t| IngestionSpec::from_value(&t.spec).ok())
            .filter(|old| old.supervisor.is_some());
        if terminated.is_some() {
            // The shard count it ran with: its checkpoints are positions over those shards.
            self.resolve_shards(&mut spec_json, &mut spec, tombstone.as_ref())?;
        }
        // Only the same stream over the same shards continues (another one's
        // sinks are refused as for any reused name).
        let adopt = terminated.is_some_and(|old| old.source_fingerprint() == spec.source_fingerprint());
        let info = self.create_with(spec_json, adopt)?;
        if let Some(tombstone) = tombstone {
            self.with(&info.name, |m| {
                let mut history = tombstone.history;
                history.append(&mut m.record.history);
                if adopt && let Some(created) = history.last_mut() {
                    created.detail = "continues from the offsets of the terminated supervisor".into();
                }
                m.record.history = history;
                self.store.save(&m.record)?;
                Ok(())
            })?;
        }
        Ok((self.get(&info.name)?, SubmitOutcome::Created))
    }

    /// The running supervisor switches to `spec` at a batch boundary. If the
    /// new spec cannot start, the old one runs again and the error says why.
    fn replace_supervisor(
        &self,
        mut spec_json: Value,
        mut spec: IngestionSpec,
    ) -> Result<(IngestionInfo, SubmitOutcome)> {
        let name = spec.name.clone();
        // The order every caller takes these in: statistics saves, then the map.
        let _saving = self.saving();
        let mut map = self.lock();
        let m = map.get_mut(&name).ok_or_else(|| ManagerError::NotFound(format!("no supervisor named {name}")))?;
        m.supervisor()?;
        self.resolve_shards(&mut spec_json, &mut spec, Some(&m.record))?;
        if spec_json == m.record.spec {
            return Ok((m.info(), SubmitOutcome::Unchanged));
        }
        if let Some(key) = static_change(&m.spec, &spec) {
            return Err(ManagerError::FailedPrecondition(format!(
                "[{key}] cannot change on a running supervisor: its offsets are positions in the stream it reads \
                 (terminate it, and submit the spec for another dataSource)"
            )));
        }
        // Check the new spec before the old one stops: the stream still fits
        // its shards, and the plugin takes its configuration.
        let (_, compiled) = self.plugins.resolve(&spec)?;
        let source = self.wiring.open_source(&spec).map_err(|e| ManagerError::FailedPrecondition(e.to_string()))?;
        Ingestion::check(&spec, &compiled, source.as_ref())
            .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
        drop(source);

        let mut old = map.remove(&name).expect("held under the lock");
        if let Some(running) = old.running.take() {
            let statuses = running.stop();
            self.save_shard_records(
                &name,
                &super::statistics::shard_records(&old.record, &old.spec, &old.plugin, &statuses),
            );
        }
        let now = now_ms();
        let mut record = old.record.clone();
        record.spec = spec_json;
        record.error_strategy = None;
        let suspended = spec.supervisor.as_ref().is_some_and(|s| s.suspended);
        record.paused_shards = if suspended { (0..spec.shards).collect() } else { Default::default() };
        record.record_change(now, "updated", "supervisor spec submitted".into());
        self.store.save(&record)?;
        let managed = self.launch(record, spec, false);
        if let Some(e) = managed.start_error.clone() {
            self.store.save(&old.record)?;
            let again = self.launch(old.record, old.spec, false);
            map.insert(name, again);
            return Err(ManagerError::FailedPrecondition(format!(
                "the new spec could not start ({e}); the supervisor runs its previous spec again"
            )));
        }
        let info = managed.info();
        map.insert(name, managed);
        Ok((info, SubmitOutcome::Replaced))
    }

    /// Druid's suspend: every shard pauses (what is in flight is committed
    /// first) and the spec says `suspended`, across restarts. Returns the
    /// updated spec (secrets redacted), as Druid does.
    pub fn suspend_supervisor(&self, name: &str) -> Result<Value> {
        if self.with_supervisor(name, |m| Ok(m.supervisor()?.suspended))? {
            return Err(ManagerError::FailedPrecondition(format!("supervisor {name} is already suspended")));
        }
        self.pause(name, &[])?;
        self.set_suspended(name, true)
    }

    /// Druid's resume: every shard runs again from its checkpoint. Returns
    /// the updated spec (secrets redacted).
    pub fn resume_supervisor(&self, name: &str) -> Result<Value> {
        if !self.with_supervisor(name, |m| Ok(m.supervisor()?.suspended))? {
            return Err(ManagerError::FailedPrecondition(format!("supervisor {name} is already running")));
        }
        self.resume(name, &[], &[])?;
        self.set_suspended(name, false)
    }

    /// Druid's suspendAll, resumeAll and terminateAll: the operation on
    /// every supervisor it applies to (those already suspended, or running,
    /// are left as they are; OpenSearch indices are not supervisors).
    /// Returns the supervisors it changed.
    pub fn suspend_all_supervisors(&self) -> Result<Vec<String>> {
        self.for_all_supervisors(|s| !s.suspended, |name| self.suspend_supervisor(name).map(|_| ()))
    }

    pub fn resume_all_supervisors(&self) -> Result<Vec<String>> {
        self.for_all_supervisors(|s| s.suspended, |name| self.resume_supervisor(name).map(|_| ()))
    }

    pub fn terminate_all_supervisors(&self) -> Result<Vec<String>> {
        self.for_all_supervisors(|_| true, |name| self.terminate_supervisor(name).map(|_| ()))
    }

    /// Applies `op` to each supervisor `applies` selects; one that is gone
    /// (or changed) meanwhile is skipped. Every supervisor is tried; the
    /// first failure is returned after.
    fn for_all_supervisors(
        &self,
        applies: impl Fn(&SupervisorSettings) -> bool,
        op: impl Fn(&str) -> Result<()>,
    ) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .lock()
            .values()
            .filter(|m| m.spec.supervisor.as_ref().is_some_and(&applies))
            .map(|m| m.spec.name.clone())
            .collect();
        let (mut done, mut failed) = (vec![], None);
        for name in names {
            match op(&name) {
                Ok(()) => done.push(name),
                Err(ManagerError::NotFound(_) | ManagerError::FailedPrecondition(_)) => {}
                Err(e) => {
                    tracing::warn!(supervisor = name, error = %e, "supervisor operation failed");
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(done), Err)
    }

    /// Records `suspended` in the stored spec (as Druid stores a suspended
    /// supervisor's spec) and in the history; returns the spec, redacted.
    fn set_suspended(&self, name: &str, suspended: bool) -> Result<Value> {
        self.with(name, |m| {
            let mut json = m.record.spec.clone();
            json["suspended"] = Value::Bool(suspended);
            m.spec = IngestionSpec::from_value(&json)?;
            m.record.spec = json;
            let now = now_ms();
            m.record.record_change(now, if suspended { "suspended" } else { "resumed" }, String::new());
            self.store.save(&m.record)?;
            Ok(redact_secrets(&m.record.spec))
        })
    }

    /// Druid's terminate (and shutdown): the supervisor stops and its record
    /// stays as a tombstone with its history (not restored on restart). Its
    /// documents and checkpoints are kept, and the outcome says where: a spec
    /// submitted again for the same stream continues from them.
    pub fn terminate_supervisor(&self, name: &str) -> Result<DeleteOutcome> {
        self.with_supervisor(name, |_| Ok(()))?; // a supervisor of that name
        let managed = self.retire(name, "terminated", String::new())?;
        let place = match (self.wiring.local_data(&managed.spec), &managed.spec.sink) {
            (Some(dir), _) => Some(format!("in {}", dir.display())),
            (None, SinkType::Redis { key_prefix, .. }) => Some(format!("in Redis under {key_prefix}:{name}:*")),
            (None, SinkType::Embedded) => None,
        };
        tracing::info!(supervisor = name, "supervisor terminated");
        Ok(DeleteOutcome {
            data_left: place.map(|place| {
                format!(
                    "the documents and checkpoints of {name} are kept {place}: a supervisor spec submitted again for \
                     {name} and the same stream continues from those offsets (as Druid keeps a terminated \
                     supervisor's offsets); delete that data to start over"
                )
            }),
        })
    }

    /// Druid's hard reset: every partition forgets its offset and restarts
    /// where a new one would (`useEarliestOffset`: earliest, else latest).
    /// A suspended supervisor stays suspended.
    pub fn reset_supervisor(&self, name: &str) -> Result<()> {
        let (shards, mode) = self.with_supervisor(name, |m| {
            let mode = if m.supervisor()?.use_earliest_offset { ResetMode::Earliest } else { ResetMode::Latest };
            Ok((m.spec.shards, mode))
        })?;
        let resets: Vec<ResetRequest> = (0..shards).map(|shard| ResetRequest { shard, mode, value: None }).collect();
        self.reset_shards(name, &resets)
    }

    /// Druid's resetOffsets: each listed partition resumes at exactly the
    /// given offset (the next one it reads); the others keep theirs.
    pub fn reset_supervisor_offsets(&self, name: &str, offsets: &BTreeMap<u32, String>) -> Result<()> {
        if offsets.is_empty() {
            return Err(ManagerError::InvalidArgument("no partition offsets to reset".into()));
        }
        let resets: Vec<ResetRequest> = offsets
            .iter()
            .map(|(shard, offset)| ResetRequest { shard: *shard, mode: ResetMode::Offset, value: Some(offset.clone()) })
            .collect();
        self.reset_shards(name, &resets)
    }

    /// Druid's resetOffsets with its body (`DataSourceMetadata`): the
    /// supervisor type and stream it names must be the supervisor's, and
    /// each partition (Druid's id: `0`, or `shardId-000000000000` for
    /// Kinesis) one of its stream's.
    pub fn reset_supervisor_partitions(&self, name: &str, reset: &PartitionOffsets) -> Result<()> {
        let offsets = self.with_supervisor(name, |m| {
            let s = m.supervisor()?;
            let kind = crate::spec::druid::type_name(s.stream_type);
            if reset.stream_type != kind {
                return Err(ManagerError::InvalidArgument(format!(
                    "the reset metadata is of type [{}]; supervisor [{name}] is of type [{kind}]",
                    reset.stream_type
                )));
            }
            if reset.stream != s.stream {
                // Druid's words (SeekableStreamSupervisor.resetOffsets).
                return Err(ManagerError::InvalidArgument(format!(
                    "Stream[{}] doesn't exist in the supervisor[{name}]. Supervisor is consuming stream[{}].",
                    reset.stream, s.stream
                )));
            }
            let shards = m.spec.shards;
            reset
                .offsets
                .iter()
                .map(|(partition, offset)| {
                    let shard =
                        (0..shards).find(|n| partition_id(s.stream_type, *n) == *partition).ok_or_else(|| {
                            ManagerError::InvalidArgument(format!(
                                "partition [{partition}] is not one of stream [{}]'s {shards} partitions ({} to {})",
                                s.stream,
                                partition_id(s.stream_type, 0),
                                partition_id(s.stream_type, shards.saturating_sub(1))
                            ))
                        })?;
                    Ok((shard, offset.clone()))
                })
                .collect::<Result<BTreeMap<u32, String>>>()
        })?;
        self.reset_supervisor_offsets(name, &offsets)
    }

    /// Moves shards' checkpoints, running or paused, and returns once each
    /// new position is durably in its sink.
    fn reset_shards(&self, name: &str, resets: &[ResetRequest]) -> Result<()> {
        let controls = self.with_supervisor(name, |m| {
            m.supervisor()?;
            check_shards(&m.spec, &resets.iter().map(|r| r.shard).collect::<Vec<_>>())?;
            let positions = resets
                .iter()
                .map(|r| Ok((r.shard, r.position().map_err(ManagerError::InvalidArgument)?)))
                .collect::<Result<Vec<_>>>()?;
            let running = m.running()?;
            running.reset(&positions).map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
            let controls: Vec<_> = positions.iter().map(|(s, _)| running.shards()[*s as usize].clone()).collect();
            let now = now_ms();
            m.record.record_resets(now, &positions);
            m.record.updated_at_ms = now;
            self.store.save(&m.record)?;
            Ok(controls)
        })?;
        super::lifecycle::wait_resets_applied(&controls)
    }
}

/// The first setting, by its Druid key, that a running supervisor cannot
/// change: what its checkpoints are positions in, and where its data is.
fn static_change(old: &IngestionSpec, new: &IngestionSpec) -> Option<&'static str> {
    let param = |s: &IngestionSpec, k: &str| s.params.get(k).cloned();
    let stream_key = match new.source_type {
        SourceType::Kafka => "ioConfig.topic",
        _ => "ioConfig.stream",
    };
    if old.source_type != new.source_type {
        Some("type")
    } else if param(old, "topic") != param(new, "topic") || param(old, "stream") != param(new, "stream") {
        Some(stream_key)
    } else if param(old, "base_directory") != param(new, "base_directory") {
        Some("ioConfig.baseDirectory")
    } else if old.shards != new.shards {
        Some("sluice.shards")
    } else if old.sink != new.sink {
        Some("sluice.sink")
    } else {
        None
    }
}
