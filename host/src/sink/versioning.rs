//! External versioning: whether an operation applies to what is stored.
//!
//! The rules of OpenSearch's `version_type=external`, shared by every sink:
//! - a versioned op applies only if its version is greater than the stored
//!   one (equal or lower is a version conflict);
//! - an op without a version always applies (internal versioning);
//! - `create` never overwrites a live document;
//! - a delete leaves a tombstone carrying the highest known version, so a late
//!   older `index` cannot resurrect the document.

use super::StoredDoc;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpType {
    #[default]
    Index,
    Create,
    Delete,
    /// Merge a partial document into the stored one.
    Update,
    /// Combine a partial row into the stored row with an aggregator per field.
    Merge,
}

/// What to do with the stored record.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Store a live document with this version.
    Put { version: Option<u64> },
    /// Store a tombstone with this version.
    Tombstone { version: Option<u64> },
    /// Remove the record entirely (nothing worth remembering).
    Remove,
    /// Leave the stored record as it is: a version conflict.
    Conflict,
    /// Combine the op's partial document with the live stored one (none
    /// after a tombstone) and store it with this version.
    Combine { version: Option<u64> },
}

/// Decides what `op` (with `version`) does to `existing`.
pub fn decide(existing: Option<&StoredDoc>, op: OpType, version: Option<u64>) -> Decision {
    let stored = existing.and_then(|d| d.version);
    let newer = |v: u64| stored.is_none_or(|s| v > s);
    match (op, version) {
        (OpType::Index, Some(v)) if !newer(v) => Decision::Conflict,
        (OpType::Index, v) => Decision::Put { version: v },
        (OpType::Create, _) if existing.is_some_and(|d| !d.deleted) => Decision::Conflict,
        (OpType::Create, Some(v)) if !newer(v) => Decision::Conflict,
        (OpType::Create, v) => Decision::Put { version: v },
        (OpType::Delete, Some(v)) if !newer(v) => Decision::Conflict,
        (OpType::Delete, Some(v)) => Decision::Tombstone { version: Some(v) },
        // An unversioned delete keeps the stored version, if any, as the fence.
        (OpType::Delete, None) => match stored {
            Some(s) => Decision::Tombstone { version: Some(s) },
            None => Decision::Remove,
        },
        // A partial update is versioned like an index; without a version it
        // keeps the stored one (it changes fields, not the external version).
        (OpType::Update, Some(v)) if !newer(v) => Decision::Conflict,
        (OpType::Update, Some(v)) => Decision::Combine { version: Some(v) },
        // A row has no external version: every event combines into it.
        (OpType::Update, None) | (OpType::Merge, _) => Decision::Combine { version: stored },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(version: Option<u64>, deleted: bool) -> StoredDoc {
        StoredDoc { version, deleted, source: Vec::new() }
    }

    #[test]
    fn versioned_index_needs_a_newer_version() {
        let d = doc(Some(5), false);
        assert_eq!(decide(Some(&d), OpType::Index, Some(6)), Decision::Put { version: Some(6) });
        assert_eq!(decide(Some(&d), OpType::Index, Some(5)), Decision::Conflict);
        assert_eq!(decide(Some(&d), OpType::Index, Some(4)), Decision::Conflict);
        assert_eq!(decide(None, OpType::Index, Some(0)), Decision::Put { version: Some(0) });
        assert_eq!(decide(Some(&d), OpType::Index, None), Decision::Put { version: None });
    }

    #[test]
    fn tombstones_fence_late_older_writes() {
        let t = doc(Some(7), true);
        assert_eq!(decide(Some(&t), OpType::Index, Some(6)), Decision::Conflict);
        assert_eq!(decide(Some(&t), OpType::Index, Some(7)), Decision::Conflict);
        assert_eq!(decide(Some(&t), OpType::Index, Some(8)), Decision::Put { version: Some(8) });
        assert_eq!(decide(Some(&t), OpType::Create, Some(6)), Decision::Conflict);
        assert_eq!(decide(Some(&t), OpType::Create, Some(9)), Decision::Put { version: Some(9) });
    }

    #[test]
    fn create_never_overwrites_a_live_document() {
        assert_eq!(decide(Some(&doc(None, false)), OpType::Create, None), Decision::Conflict);
        assert_eq!(decide(Some(&doc(Some(1), false)), OpType::Create, Some(9)), Decision::Conflict);
        assert_eq!(decide(None, OpType::Create, None), Decision::Put { version: None });
        assert_eq!(decide(Some(&doc(None, true)), OpType::Create, None), Decision::Put { version: None });
    }

    #[test]
    fn deletes() {
        assert_eq!(decide(None, OpType::Delete, Some(3)), Decision::Tombstone { version: Some(3) });
        assert_eq!(decide(Some(&doc(Some(3), false)), OpType::Delete, Some(3)), Decision::Conflict);
        assert_eq!(decide(Some(&doc(Some(3), false)), OpType::Delete, None), Decision::Tombstone { version: Some(3) });
        assert_eq!(decide(Some(&doc(None, false)), OpType::Delete, None), Decision::Remove);
        assert_eq!(decide(None, OpType::Delete, None), Decision::Remove);
    }

    #[test]
    fn updates_are_versioned_like_index_and_merges_always_combine() {
        let d = doc(Some(5), false);
        assert_eq!(decide(Some(&d), OpType::Update, Some(5)), Decision::Conflict);
        assert_eq!(decide(Some(&d), OpType::Update, Some(6)), Decision::Combine { version: Some(6) });
        assert_eq!(decide(Some(&d), OpType::Update, None), Decision::Combine { version: Some(5) });
        assert_eq!(decide(None, OpType::Update, None), Decision::Combine { version: None });
        assert_eq!(decide(Some(&doc(Some(7), true)), OpType::Merge, Some(1)), Decision::Combine { version: Some(7) });
        assert_eq!(decide(None, OpType::Merge, None), Decision::Combine { version: None });
    }
}
