//! The engine: runs ingestions, shard by shard.
//!
//! `ingestion` starts and controls an ingestion's shards; `shard` is one
//! shard's supervisor, poller and processor; `processor` plans a decoded batch
//! under the error policy; `control` is the state a shard shares with its
//! controllers.

pub mod control;
pub mod ingestion;
pub mod processor;
pub mod shard;

pub use control::{BlockCause, BlockedAt, DynamicSettings, PollerState, ShardControl, ShardStatus};
pub use ingestion::{open_sinks, sink_path, EngineError, IdleOutcome, Ingestion, RuntimeOverrides};
