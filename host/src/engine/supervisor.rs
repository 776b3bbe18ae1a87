//! A shard's supervisor: the loop that owns one shard for the life of its
//! ingestion. It follows [`ShardControl::next_step`]: runs sessions
//! ([`super::session`]), waits while paused or blocked, applies pointer
//! resets, and retries failed sessions with backoff.

use super::control::{PollerState, ShardControl, Step};
use super::session::SessionEnd;
use super::shard_error::ShardError;
use crate::plugin::{CompiledPlugin, PluginError, PluginInstance};
use crate::pointer::StartPosition;
use crate::sink::ShardSink;
use crate::source::Source;
use std::sync::Arc;
use std::time::Duration;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Everything one shard works with.
pub struct ShardWorker {
    pub control: Arc<ShardControl>,
    pub source: Arc<dyn Source>,
    pub sink: Arc<dyn ShardSink>,
    pub plugin: CompiledPlugin,
    pub plugin_config: String,
    /// Where a shard whose sink never committed starts (`pointer.init.reset`).
    pub init_reset: StartPosition,
    /// Capacity of the poller -> processor queue, in batches.
    pub queue_batches: usize,
    /// Plugin instances decoding batches of this shard in parallel
    /// (`num_processor_threads`); their results are committed in order.
    pub decoders: usize,
}

impl ShardWorker {
    pub fn run(self) {
        let shard = self.control.shard;
        let mut instances: Vec<PluginInstance> = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        // The partition ended (a closed Kinesis shard): stay CLOSED, without
        // polling, until a reset moves the pointer or the shard stops.
        let mut closed = false;
        loop {
            match self.control.next_step() {
                Step::Stop => break,
                Step::Wait(state) => {
                    self.control.set_state(state);
                    self.control.wait_for_change(Duration::from_secs(1));
                }
                Step::Reset => {
                    let Some(position) = self.control.pending_reset() else { continue };
                    match self.sink.reset_position(position.clone()) {
                        Ok(()) => {
                            closed = false;
                            tracing::info!(shard, %position, "shard pointer reset");
                            if let Ok(meta) = self.sink.meta() {
                                self.control.committed(meta, None);
                            }
                            self.control.reset_done(&position);
                        }
                        Err(e @ crate::sink::SinkError::Fenced { .. }) => {
                            self.fenced(&e.into());
                            break;
                        }
                        Err(e) => {
                            // Still pending: retried after the backoff.
                            tracing::error!(shard, error = %e, "pointer reset failed; retrying");
                            self.control.record_error(None, format!("pointer reset failed: {e}"));
                            self.control.wait_for_change(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                Step::Run if closed => {
                    self.control.set_state(PollerState::Closed);
                    self.control.set_idle(true);
                    self.control.wait_for_change(Duration::from_secs(1));
                }
                Step::Run => {
                    if self.control.status().blocked.is_some() {
                        self.control.set_blocked(None);
                    }
                    if let Err(e) = self.instantiate(&mut instances) {
                        self.retry_later(&e.into(), &mut backoff);
                        continue;
                    }
                    let committed_before = self.control.status().meta.counters.total_processed_count;
                    let result = self.session(&mut instances);
                    if self.control.status().meta.counters.total_processed_count > committed_before {
                        // The session made progress: a failure now is a new one, not a repeat.
                        backoff = FIRST_BACKOFF;
                    }
                    match result {
                        Ok(SessionEnd::Interrupted) => backoff = FIRST_BACKOFF,
                        Ok(SessionEnd::Closed) => {
                            tracing::info!(shard, "partition closed and drained");
                            closed = true;
                            backoff = FIRST_BACKOFF;
                        }
                        Ok(SessionEnd::Blocked(b)) => {
                            tracing::warn!(shard, pointer = %b.pointer, reason = %b.reason, "shard blocked");
                            self.control.set_blocked(Some(b));
                        }
                        Err(e) if e.is_fenced() => {
                            self.fenced(&e);
                            break;
                        }
                        Err(e) => self.retry_later(&e, &mut backoff),
                    }
                }
            }
        }
        self.control.set_state(PollerState::Closed);
    }

    /// Makes the shard's plugin instances (one per decoder) that do not exist yet.
    fn instantiate(&self, instances: &mut Vec<PluginInstance>) -> Result<(), PluginError> {
        while instances.len() < self.decoders.max(1) {
            // The plugin a hot swap installed, if one did: every decoder runs the same.
            let instance = match instances.first() {
                Some(first) => first.plugin().instantiate(&self.plugin_config)?,
                None => self.plugin.instantiate(&self.plugin_config)?,
            };
            instances.push(instance);
        }
        Ok(())
    }

    /// Another host took the shard's lease over: its sink refused this
    /// host's write. The shard stops here for good (the cluster's
    /// coordinator sees it and gives the lease up); nothing was written.
    fn fenced(&self, e: &ShardError) {
        tracing::error!(shard = self.control.shard, error = %e, "shard fenced: another host runs it now; stopping it here");
        self.control.record_error(None, e.to_string());
        self.control.set_fenced();
    }

    fn retry_later(&self, e: &ShardError, backoff: &mut Duration) {
        tracing::error!(shard = self.control.shard, error = %e, retry_in = ?*backoff, "shard failed; retrying");
        self.control.record_error(None, e.to_string());
        self.control.set_state(PollerState::Retrying);
        self.control.wait_for_change(*backoff);
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
    }
}
