//! A batch's document writes, decided against what is stored: the
//! versioning rules ([`super::versioning::decide`]) and, for `update` and
//! `merge`, the combined document ([`super::merge`]). Shared by every sink.

use super::merge;
use super::record::{Record, decode_doc_header, decode_record};
use super::versioning::{Decision, decide};
use super::{DocOp, OpType, SinkError, StoredDoc};
use std::borrow::Cow;
use std::collections::HashMap;

/// The document writes a batch makes.
#[derive(Debug, Default)]
pub struct PlannedWrites<'a> {
    /// One write per id written, in the order of each id's first op; ids
    /// borrowed from the ops; `None` removes the record. A later op on an
    /// id replaces its write (a batch is atomic: only the last state of an
    /// id counts), so a row merged a hundred times in a batch is written once.
    pub writes: Vec<(&'a str, Option<Record<'a>>)>,
    pub live_delta: i64,
    pub version_conflicts: u64,
    pub ops_applied: u64,
}

/// What this batch wrote so far to one id.
struct Pending {
    /// Index in `writes`.
    at: usize,
    doc: Option<StoredDoc>,
}

/// Decides every op of a batch. `load` reads a stored record as its raw
/// bytes ([`Record::encode`]); ops on an id already written in this batch
/// see that write. Tombstones store `deleted_at` ([`super::tombstone_stamp`]).
/// `label` names the sink in errors.
pub fn plan_writes<'a, B: AsRef<[u8]>>(
    ops: &'a [DocOp],
    deleted_at: &'a [u8; 8],
    label: &str,
    mut load: impl FnMut(&str) -> Result<Option<B>, SinkError>,
) -> Result<PlannedWrites<'a>, SinkError> {
    let mut out = PlannedWrites { writes: Vec::with_capacity(ops.len()), ..PlannedWrites::default() };
    let mut pending: HashMap<&str, Pending> = HashMap::with_capacity(ops.len());
    let corrupt = |id: &str, message: &str| SinkError::Corrupt {
        path: label.to_string(),
        key: id.to_string(),
        message: message.to_string(),
    };
    for op in ops {
        let id = op.id.as_str();
        // The stored record, raw, when the op must combine with its body.
        let mut raw: Option<B> = None;
        let existing = match pending.get(id) {
            Some(p) => p.doc.clone(),
            None => {
                raw = load(id)?;
                match &raw {
                    Some(bytes) => Some(
                        decode_doc_header(bytes.as_ref())
                            .ok_or_else(|| corrupt(id, "document record shorter than its header"))?,
                    ),
                    None => None,
                }
            }
        };
        let was_live = existing.as_ref().is_some_and(|d| !d.deleted);
        let record = match decide(existing.as_ref(), op.op_type, op.version) {
            Decision::Conflict => {
                out.version_conflicts += 1;
                continue;
            }
            Decision::Put { version } => Some(Record {
                deleted: false,
                version,
                source: Cow::Borrowed(op.source.as_deref().unwrap_or("{}").as_bytes()),
                times: None,
            }),
            Decision::Tombstone { version } => {
                Some(Record { deleted: true, version, source: Cow::Borrowed(deleted_at), times: None })
            }
            Decision::Remove => None,
            Decision::Combine { version } => {
                // The live body to combine with: this batch's write, or the stored record.
                let body: Option<(&[u8], Option<&[u8]>)> = match pending.get(id) {
                    Some(p) => match &out.writes[p.at].1 {
                        Some(r) if !r.deleted => Some((&r.source, r.times.as_deref())),
                        _ => None,
                    },
                    None => match (&raw, was_live) {
                        (Some(bytes), true) => Some(
                            decode_record(bytes.as_ref())
                                .ok_or_else(|| corrupt(id, "document record cut inside its event times"))?,
                        ),
                        _ => None,
                    },
                };
                let partial = op.source.as_deref().unwrap_or("{}");
                let combined = match op.op_type {
                    OpType::Merge => merge::merge(body, partial, &op.aggregators, op.event_time_ms),
                    _ => merge::update(body.map(|(doc, _)| doc), partial).map(|doc| (doc, None)),
                };
                let (doc, times) = combined.map_err(|e| corrupt(id, &e))?;
                Some(Record {
                    deleted: false,
                    version,
                    source: Cow::Owned(doc.into_bytes()),
                    times: times.map(|t| Cow::Owned(t.into_bytes())),
                })
            }
        };
        let new = record.as_ref().map(|r| StoredDoc { version: r.version, deleted: r.deleted, source: Vec::new() });
        let now_live = new.as_ref().is_some_and(|d| !d.deleted);
        match pending.get_mut(id) {
            Some(p) => {
                out.writes[p.at].1 = record;
                p.doc = new;
            }
            None => {
                pending.insert(id, Pending { at: out.writes.len(), doc: new });
                out.writes.push((id, record));
            }
        }
        out.ops_applied += 1;
        out.live_delta += now_live as i64 - was_live as i64;
    }
    Ok(out)
}
