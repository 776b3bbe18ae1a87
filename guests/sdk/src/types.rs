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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpType {
    Index,
    Create,
    Delete,
}

/// One document operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// `None`: the host derives `<shard>-<pointer>` (deterministic across replays).
    pub id: Option<String>,
    /// External version.
    pub version: Option<u64>,
    pub op_type: OpType,
    /// JSON object text; `None` for deletes.
    pub source: Option<String>,
}

/// What one message decodes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    Ops(Vec<Operation>),
    Invalid(String),
    Skipped(String),
}
