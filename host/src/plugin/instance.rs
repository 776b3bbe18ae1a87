//! One sandboxed plugin instance: its own store and linear memory, used by
//! one shard's decoder. Anything the guest does wrong is narrowed to the
//! messages that cause it.

use super::{
    Abi, CompiledPlugin, FAILURES_BEFORE_BACKOFF, GuestState, MAX_FAILURE_BACKOFF, Outcome, PluginError, abi_v1,
    abi_v2, describe_failure, ticks,
};
use crate::source::Message;
use std::time::Duration;
use wasmtime::Store;
use wasmtime::component::Func;

/// One sandboxed plugin instance.
pub struct PluginInstance {
    plugin: CompiledPlugin,
    config: String,
    /// `None` after a failure poisoned the store; re-created on next use.
    live: Option<Live>,
    consecutive_failures: u32,
}

struct Live {
    store: Store<GuestState>,
    /// The `decode` export, type-checked against the component's interface
    /// version when the instance was made.
    decode: Func,
}

impl PluginInstance {
    /// Creates an instance and configures it. A configuration the plugin
    /// rejects is an error here, before any message is read.
    pub(super) fn new(plugin: CompiledPlugin, config: &str) -> Result<PluginInstance, PluginError> {
        let mut instance = PluginInstance { plugin, config: config.into(), live: None, consecutive_failures: 0 };
        instance.ensure_live()?;
        Ok(instance)
    }

    /// The compiled plugin this instance runs.
    pub fn plugin(&self) -> &CompiledPlugin {
        &self.plugin
    }

    fn ensure_live(&mut self) -> Result<&mut Live, PluginError> {
        if self.live.is_none() {
            if self.consecutive_failures >= FAILURES_BEFORE_BACKOFF {
                let exp = (self.consecutive_failures - FAILURES_BEFORE_BACKOFF).min(10);
                std::thread::sleep((Duration::from_millis(5) * (1 << exp)).min(MAX_FAILURE_BACKOFF));
            }
            let name = self.plugin.name.to_string();
            let mut store = self.plugin.new_store();
            store.set_epoch_deadline(ticks(self.plugin.limits.call_budget(0)));
            let instance = self
                .plugin
                .pre
                .instantiate(&mut store)
                .map_err(|e| PluginError::Instantiate { name: name.clone(), reason: format!("{e:#}") })?;
            let configured = match self.plugin.abi {
                Abi::V1 => abi_v1::configure(&mut store, &instance, &self.config),
                Abi::V2 => abi_v2::configure(&mut store, &instance, &self.config),
            };
            let (decode, answer) =
                configured.map_err(|e| PluginError::Instantiate { name: name.clone(), reason: format!("{e:#}") })?;
            match answer {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(PluginError::Config { name, reason }),
                Err(e) => return Err(PluginError::Config { name, reason: describe_failure(&e, &self.plugin.limits) }),
            }
            self.live = Some(Live { store, decode });
        }
        Ok(self.live.as_mut().expect("just made live"))
    }

    /// Decodes a batch: exactly one outcome per message, in order.
    /// `reference_time_ms` is the shard's reference time (0.2.0 plugins
    /// judge time-relative things against it).
    ///
    /// Only an instance that cannot even be re-created is an error; anything
    /// the guest does wrong is narrowed to the messages that cause it and
    /// reported as [`Outcome::Failed`] for them.
    pub fn decode(
        &mut self,
        shard: u32,
        reference_time_ms: i64,
        messages: &[Message],
    ) -> Result<Vec<Outcome>, PluginError> {
        let max = self.plugin.limits.max_message_bytes();
        let too_big = |m: &Message| m.payload.as_ref().is_some_and(|p| p.len() > max);
        let call = Call { shard, reference_time_ms };
        if !messages.iter().any(too_big) {
            let all: Vec<&Message> = messages.iter().collect();
            let mut out = Vec::with_capacity(all.len());
            self.decode_narrowing(call, &all, &mut out)?;
            return Ok(out);
        }
        // Oversized messages never reach the guest; the rest keep their order.
        let kept: Vec<&Message> = messages.iter().filter(|m| !too_big(m)).collect();
        let mut decoded = Vec::with_capacity(kept.len());
        self.decode_narrowing(call, &kept, &mut decoded)?;
        let mut decoded = decoded.into_iter();
        Ok(messages
            .iter()
            .map(|m| match m.payload.as_ref().filter(|_| too_big(m)) {
                // (Sources may stop reading a message just past the limit,
                // so the size is given as "more than".)
                Some(_) => Outcome::Invalid(format!(
                    "message too large: more than {max} bytes, the limit of {} MiB (sluice.plugin.limits.max_message_mb)",
                    self.plugin.limits.max_message_mb
                )),
                None => decoded.next().expect("one outcome per decoded message"),
            })
            .collect())
    }

    fn decode_narrowing(&mut self, call: Call, batch: &[&Message], out: &mut Vec<Outcome>) -> Result<(), PluginError> {
        match self.call_decode(call, batch)? {
            Ok(decoded) => {
                out.extend(decoded);
                Ok(())
            }
            Err(reason) if batch.len() == 1 => {
                tracing::warn!(plugin = %self.plugin.name, pointer = %batch[0].pointer, %reason, "plugin failed on a message");
                self.consecutive_failures += 1;
                out.push(Outcome::Failed(reason));
                Ok(())
            }
            Err(reason) => {
                tracing::debug!(plugin = %self.plugin.name, size = batch.len(), %reason, "plugin failed on a batch; splitting it");
                let (left, right) = batch.split_at(batch.len() / 2);
                self.decode_narrowing(call, left, out)?;
                self.decode_narrowing(call, right, out)
            }
        }
    }

    /// One guest call. `Ok(Err(reason))`: the guest failed on this batch.
    fn call_decode(&mut self, call: Call, batch: &[&Message]) -> Result<Result<Vec<Outcome>, String>, PluginError> {
        let limits = self.plugin.limits;
        let abi = self.plugin.abi;
        let live = self.ensure_live()?;
        live.store.set_epoch_deadline(ticks(limits.call_budget(batch.len())));
        let answer = match abi {
            Abi::V1 => abi_v1::decode(&mut live.store, live.decode, call.shard, batch, &limits),
            Abi::V2 => abi_v2::decode(&mut live.store, live.decode, call.shard, call.reference_time_ms, batch, &limits),
        };
        let result = match answer {
            Ok(result) => result,
            Err(e) => {
                // A trapped store must not be used again.
                self.live = None;
                Err(describe_failure(&e, &limits))
            }
        };
        if result.is_ok() {
            self.consecutive_failures = 0;
        }
        Ok(result)
    }
}

/// What every guest call of one batch shares.
#[derive(Clone, Copy)]
struct Call {
    shard: u32,
    reference_time_ms: i64,
}
