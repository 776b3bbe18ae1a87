//! The sandbox of a plugin instance, as `sluice.plugin.limits` gives it.

use std::time::Duration;

/// Resource limits of one plugin instance (`sluice.plugin.limits` in a spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory of an instance, in MiB.
    pub memory_mb: u32,
    /// CPU time for one decode call, before the per-message allowance, in ms.
    pub cpu_ms: u32,
    /// Extra CPU time allowed per message of the batch, in µs.
    pub cpu_us_per_message: u32,
    /// Largest total output (document sources and ids) of one decode call, in MiB.
    pub max_output_mb: u32,
    /// Largest message payload handed to the plugin, in MiB; a larger one is
    /// invalid without being decoded.
    pub max_message_mb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_mb: 64, cpu_ms: 1000, cpu_us_per_message: 1000, max_output_mb: 32, max_message_mb: 8 }
    }
}

impl Limits {
    /// The largest message handed to a plugin, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        (self.max_message_mb as usize) << 20
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        (self.memory_mb as usize) << 20
    }

    pub(crate) fn call_budget(&self, messages: usize) -> Duration {
        Duration::from_millis(self.cpu_ms as u64)
            + Duration::from_micros(self.cpu_us_per_message as u64) * messages as u32
    }

    pub(crate) fn max_output_bytes(&self) -> usize {
        (self.max_output_mb as usize) << 20
    }
}
