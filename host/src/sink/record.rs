//! The stored form of a document record, the same in every sink.
//!
//! `flags` (1 byte: deleted, versioned, has-times), the version (8 bytes
//! LE), then for a merged row with first/last aggregators its event times
//! (a 4-byte LE length and JSON), then the document's JSON (or, for a
//! tombstone, its deletion time).

use super::StoredDoc;
use std::borrow::Cow;

const FLAG_DELETED: u8 = 1;
const FLAG_VERSIONED: u8 = 2;
const FLAG_TIMES: u8 = 4;
const HEADER: usize = 9;

/// A document record to write: the source borrowed from its op where it
/// can be (a merged row is owned); the sink encodes it ([`Record::encode_into`])
/// into a buffer of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub deleted: bool,
    pub version: Option<u64>,
    pub source: Cow<'a, [u8]>,
    /// A merged row's first/last event times by field (JSON), kept beside
    /// the row so that `_source` holds only the row.
    pub times: Option<Cow<'a, [u8]>>,
}

impl Record<'_> {
    /// The deletion time of a tombstone record, if it carries one.
    pub fn deleted_at_ms(&self) -> Option<i64> {
        super::tombstone_time(self.deleted, &self.source)
    }

    /// The stored record, read back by [`decode_doc`].
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// [`Record::encode`] into `out` (cleared first).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        let times = self.times.as_deref();
        out.reserve(HEADER + self.source.len() + times.map_or(0, |t| 4 + t.len()));
        out.push(
            if self.deleted { FLAG_DELETED } else { 0 }
                | if self.version.is_some() { FLAG_VERSIONED } else { 0 }
                | if times.is_some() { FLAG_TIMES } else { 0 },
        );
        out.extend_from_slice(&self.version.unwrap_or(0).to_le_bytes());
        if let Some(t) = times {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t);
        }
        out.extend_from_slice(&self.source);
    }
}

/// The version and deleted flag of a record, without copying its source
/// (left empty): what versioning decisions need.
pub fn decode_doc_header(bytes: &[u8]) -> Option<StoredDoc> {
    let (&flags, rest) = bytes.split_first()?;
    let version = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    Some(StoredDoc {
        version: (flags & FLAG_VERSIONED != 0).then_some(version),
        deleted: flags & FLAG_DELETED != 0,
        source: Vec::new(),
    })
}

/// The inverse of [`Record::encode`] as readers see it (a merged row's
/// event times left out); `None` for a record shorter than its header.
pub fn decode_doc(bytes: &[u8]) -> Option<StoredDoc> {
    let (doc, _times) = decode_record(bytes)?;
    Some(StoredDoc { source: doc.to_vec(), ..decode_doc_header(bytes)? })
}

/// A record's document JSON and its event times, borrowed.
pub fn decode_record(bytes: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let flags = *bytes.first()?;
    let body = bytes.get(HEADER..)?;
    if flags & FLAG_TIMES == 0 {
        return Some((body, None));
    }
    let len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let times = body.get(4..4 + len)?;
    Some((&body[4 + len..], Some(times)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_and_without_times() {
        let plain = Record { deleted: false, version: Some(7), source: Cow::Borrowed(b"{\"a\":1}"), times: None };
        let bytes = plain.encode();
        assert_eq!(
            decode_doc(&bytes).unwrap(),
            StoredDoc { version: Some(7), deleted: false, source: b"{\"a\":1}".to_vec() }
        );
        let row = Record { times: Some(Cow::Borrowed(b"{\"f\":5}")), version: None, ..plain };
        let bytes = row.encode();
        assert_eq!(decode_record(&bytes), Some((&b"{\"a\":1}"[..], Some(&b"{\"f\":5}"[..]))));
        assert_eq!(decode_doc(&bytes).unwrap().source, b"{\"a\":1}", "readers never see the times");
        assert_eq!(decode_doc_header(&bytes).unwrap().version, None);
        assert_eq!(decode_record(&bytes[..12]), None, "a cut record is no record");
    }
}
