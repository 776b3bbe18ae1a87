//! Plain Rust mirrors of the WIT types, usable natively and in wasm.

/// A header attached to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// One message pulled from a stream partition.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    pub shard: u32,
    /// Decimal text: Kafka offset, Kinesis sequence number, file line number.
    pub pointer: String,
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// `None` for a Kafka tombstone.
    pub payload: Option<Vec<u8>>,
    /// The start of the shard's current task period (ms since the epoch),
    /// the same for every message of a batch. Judge time-relative things
    /// (Druid's late/early message rejection) against it, never against the
    /// wall clock: it is committed with the checkpoint, so a message re-read
    /// after a crash gets the same answer.
    pub reference_time_ms: i64,
}

/// The longest document id, in bytes, that OpenSearch's index and bulk APIs
/// accept; plugins turn a longer one into an invalid message.
pub const MAX_ID_BYTES: usize = 512;

/// `id` if it is no longer than [`MAX_ID_BYTES`]; else the reason, naming
/// it as `label` (`"_id"`, `"the document id"`, ...).
pub fn check_id_length(id: String, label: &str) -> Result<String, String> {
    if id.len() > MAX_ID_BYTES {
        return Err(format!("{label} is too long: must be no longer than {MAX_ID_BYTES} bytes but was {}", id.len()));
    }
    Ok(id)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpType {
    /// Store the source as the document.
    #[default]
    Index,
    /// Store it only if no live document has the id.
    Create,
    Delete,
    /// Merge a partial document into the stored one (objects member by
    /// member, recursively; other values replace). A missing one is created.
    Update,
}

/// A partial row combined into the stored row (Druid's rollup): each field
/// named in `aggregators` with its aggregator, the others replace the
/// stored value. A missing row is created from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// The row's id: its truncated time and dimension values, made
    /// deterministic by the plugin. `None`: the host derives `<shard>-<pointer>`.
    pub id: Option<String>,
    /// The partial row, a JSON object.
    pub source: String,
    /// (field name, aggregator).
    pub aggregators: Vec<(String, Aggregator)>,
    /// The event time the first/last aggregators order by.
    pub event_time_ms: Option<i64>,
}

/// How a merged field combines with the stored value (Druid's aggregators).
/// A missing or null value on either side leaves the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregator {
    /// Adds, like `LongSum` (a partial row carries its event count).
    Count,
    LongSum,
    DoubleSum,
    FloatSum,
    LongMin,
    LongMax,
    DoubleMin,
    DoubleMax,
    FloatMin,
    FloatMax,
    /// The value of the earliest [`Row::event_time_ms`].
    LongFirst,
    /// The value of the latest [`Row::event_time_ms`].
    LongLast,
    DoubleFirst,
    DoubleLast,
    StringFirst,
    StringLast,
}

/// One document operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// `None`: the host derives `<shard>-<pointer>` (deterministic across replays).
    pub id: Option<String>,
    /// External version.
    pub version: Option<u64>,
    pub op_type: OpType,
    /// The document; `None` for deletes.
    pub source: Option<DocSource>,
}

impl Operation {
    /// This operation with its document as text, as the host stores it: a
    /// [`DocSource::Payload`] range is read from `payload` (the message's).
    /// `None` if the range is not UTF-8 text of it.
    pub fn with_text_source(mut self, payload: Option<&[u8]>) -> Option<Operation> {
        if let Some(source @ DocSource::Payload(_)) = &self.source {
            self.source = Some(DocSource::Text(source.text(payload)?.to_owned()));
        }
        Some(self)
    }
}

/// An operation's document: JSON object text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocSource {
    /// Text the plugin made.
    Text(String),
    /// Bytes of the message's payload that are the document as it is (the
    /// OpenSearch format's `_source`, found with [`crate::json::compact_span`]):
    /// the host takes them from the batch it sent, so the plugin neither
    /// serialises nor copies them.
    Payload(std::ops::Range<usize>),
}

impl DocSource {
    /// The document's text; `payload` is the message's (a range outside it, or
    /// not on UTF-8 boundaries, gives `None`).
    pub fn text<'a>(&'a self, payload: Option<&'a [u8]>) -> Option<&'a str> {
        match self {
            DocSource::Text(text) => Some(text),
            DocSource::Payload(range) => std::str::from_utf8(payload?.get(range.clone())?).ok(),
        }
    }
}

impl From<String> for DocSource {
    fn from(text: String) -> Self {
        DocSource::Text(text)
    }
}

impl From<&str> for DocSource {
    fn from(text: &str) -> Self {
        DocSource::Text(text.to_owned())
    }
}

/// What one message decodes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Ops(Vec<Operation>),
    /// Rows to combine into the stored rows.
    Rows(Vec<Row>),
    /// Unparseable; the reason goes to the error policy.
    Invalid(String),
    /// Valid, nothing to apply.
    Skipped(String),
    /// Valid but not accepted (Druid's `thrownAway`, e.g. outside the
    /// rejection periods); the reason goes to the error policy.
    ThrownAway(String),
    /// Operations and rows to apply, with errors in some fields (Druid's
    /// `processedWithError`): applied, and the errors counted.
    ProcessedWithError {
        ops: Vec<Operation>,
        rows: Vec<Row>,
        errors: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_text_source_reads_a_payload_range_and_refuses_one_outside() {
        let op =
            |source: DocSource| Operation { id: None, version: None, op_type: OpType::Index, source: Some(source) };
        let payload = br#"{"_source":{"a":1}}"#;
        assert_eq!(op(DocSource::Payload(11..18)).with_text_source(Some(payload)), Some(op(r#"{"a":1}"#.into())));
        assert_eq!(op("{}".into()).with_text_source(None), Some(op("{}".into())), "text stays as it is");
        assert_eq!(op(DocSource::Payload(11..40)).with_text_source(Some(payload)), None);
        assert_eq!(op(DocSource::Payload(0..2)).with_text_source(None), None, "no payload");
    }
}
