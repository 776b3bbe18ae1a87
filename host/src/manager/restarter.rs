//! Restoring a host's ingestions on open, and retrying those that could not
//! start (their cluster or Redis unreachable, their plugin not registered
//! yet, ...) with backoff instead of leaving them down.

use super::{Managed, Manager, Result};
use crate::spec::IngestionSpec;
use crate::state::IngestionRecord;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIRST_START_RETRY: Duration = Duration::from_secs(1);
const MAX_START_RETRY: Duration = Duration::from_secs(60);
/// How often the restarter looks for due retries.
const RESTARTER_TICK: Duration = Duration::from_millis(200);

/// When to try starting an ingestion again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Retry {
    at: Instant,
    backoff: Duration,
    attempts: u32,
}

impl Retry {
    fn first() -> Self {
        Retry { at: Instant::now() + FIRST_START_RETRY, backoff: FIRST_START_RETRY, attempts: 0 }
    }
}

/// Starts the restarter thread; it ends with the manager or its shutdown.
pub(super) fn spawn(manager: &Arc<Manager>) -> Result<()> {
    let weak = Arc::downgrade(manager);
    std::thread::Builder::new()
        .name("sluice-restarter".into())
        .spawn(move || {
            while let Some(manager) = weak.upgrade() {
                if manager.stopping() {
                    break;
                }
                manager.retry_failed_starts();
                manager.save_due_statistics();
                drop(manager);
                std::thread::sleep(RESTARTER_TICK);
            }
        })
        .map_err(|e| super::ManagerError::Internal(format!("spawning the restarter thread: {e}")))?;
    Ok(())
}

impl Manager {
    /// Starts every ingestion the store holds.
    pub(super) fn restore(&self) -> Result<()> {
        for loaded in self.store.load_all()? {
            let record = match loaded {
                // A deleted ingestion's tombstone, kept until cleanup.
                Ok(r) if r.deleted_at_ms.is_some() => continue,
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "an ingestion record could not be restored; the others start");
                    continue;
                }
            };
            let spec = match IngestionSpec::from_value(&record.spec) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(ingestion = %record.name, error = %e, "stored spec is invalid; not started");
                    continue;
                }
            };
            let name = spec.name.clone();
            let managed = self.launch_or_retry(record, spec, "restored");
            self.lock().insert(name, managed);
        }
        Ok(())
    }

    /// Starts a stored ingestion (restored or imported); one that cannot
    /// start now is retried by the restarter.
    pub(super) fn launch_or_retry(&self, record: IngestionRecord, spec: IngestionSpec, how: &str) -> Managed {
        let name = spec.name.clone();
        let mut managed = self.launch(record, spec, false);
        match &managed.start_error {
            Some(e) => {
                tracing::error!(ingestion = %name, error = %e, retry_in = ?FIRST_START_RETRY, "ingestion {how} but not running; retrying");
                managed.retry = Some(Retry::first());
            }
            None => tracing::info!(ingestion = %name, "ingestion {how}"),
        }
        managed
    }

    /// Tries again to start the ingestions that could not start and whose
    /// retry is due. Starting happens outside the lock (it may wait on a
    /// cluster); the result is kept only if the ingestion was not changed
    /// or deleted meanwhile.
    fn retry_failed_starts(&self) {
        let now = Instant::now();
        let due: Vec<(IngestionRecord, IngestionSpec)> = self
            .lock()
            .values()
            .filter(|m| m.running.is_none() && m.retry.is_some_and(|r| r.at <= now))
            .map(|m| (m.record.clone(), m.spec.clone()))
            .collect();
        for (record, spec) in due {
            if self.stopping() {
                return;
            }
            let name = spec.name.clone();
            let updated_at = record.updated_at_ms;
            let attempt = self.launch(record, spec, false);
            let mut map = self.lock();
            let stopping = self.stopping();
            let Some(current) =
                map.get_mut(&name).filter(|m| !stopping && m.running.is_none() && m.record.updated_at_ms == updated_at)
            else {
                drop(map);
                if let Some(i) = attempt.running {
                    i.stop(); // changed or deleted meanwhile, or shutting down
                }
                continue;
            };
            let Some(mut retry) = current.retry else { continue };
            retry.attempts += 1;
            match attempt.running {
                Some(i) => {
                    tracing::info!(ingestion = %name, attempts = retry.attempts, "ingestion started on a retry");
                    current.running = Some(i);
                    current.plugin = attempt.plugin;
                    current.start_error = None;
                    current.retry = None;
                }
                None => {
                    retry.backoff = (retry.backoff * 2).min(MAX_START_RETRY);
                    retry.at = Instant::now() + retry.backoff;
                    let error = attempt.start_error.unwrap_or_default();
                    tracing::warn!(ingestion = %name, error = %error, retry_in = ?retry.backoff, "ingestion still cannot start");
                    current.start_error = Some(error);
                    current.retry = Some(retry);
                }
            }
        }
    }
}
