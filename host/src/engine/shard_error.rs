//! Why a shard's session failed (it is retried with backoff).

use crate::plugin::PluginError;
use crate::sink::SinkError;
use crate::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("poller thread ended unexpectedly")]
    PollerGone,
    #[error("committer thread ended unexpectedly")]
    CommitterGone,
    #[error("a decoder thread ended unexpectedly")]
    DecoderGone,
}

impl ShardError {
    /// The shard's lease moved to another host: the shard must stop here
    /// (retrying could only be refused again).
    pub fn is_fenced(&self) -> bool {
        matches!(self, ShardError::Sink(SinkError::Fenced { .. }))
    }
}
