//! The engine: runs ingestions, shard by shard, on opened sources and sinks.
//!
//! `ingestion` starts and controls an ingestion's shards; each shard has a
//! `supervisor` that runs `session`s, and a session is a pipeline of three
//! stages, one way: the `poller` (source -> bounded queue), the `decoders`
//! (plugin; `processor::plan` applies the error policy) and the `committer`
//! (sink, atomically with the checkpoint). `control` is the state a shard
//! shares with its controllers.

mod committer;
pub mod control;
mod decoders;
pub mod ingestion;
pub mod poll_stats;
mod poller;
pub mod processor;
mod session;
mod shard_error;
mod supervisor;

pub use control::{
    BlockCause, BlockedAt, DynamicSettings, LastError, PollerState, ShardControl, ShardLease, ShardStatus,
};
pub use ingestion::{EngineError, IdleOutcome, Ingestion, RestoredShard, RuntimeOverrides};
pub use poll_stats::{PollStats, PollStatsReport};
pub use shard_error::ShardError;

#[cfg(test)]
mod tests;
