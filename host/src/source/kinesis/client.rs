//! The SDK side: running a call on the source's runtime from blocking code,
//! listing the shards (and numbering them as partitions), and sorting
//! failed calls into what the reader does about them.

use super::KinesisSource;
use crate::source::SourceError;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::mpsc;
use tokio::runtime::Handle;

impl KinesisSource {
    /// Every shard of the stream (open and closed), by partition number.
    pub(super) fn partitions(&self) -> Result<BTreeMap<u32, String>, SourceError> {
        let ids = list_shards(&self.handle, &self.client, &self.stream)?;
        Ok(partition_map(ids))
    }
}

/// Runs `fut` on the source's runtime and waits for it on this thread. Unlike
/// `Handle::block_on`, this also works when the caller is itself inside a
/// tokio runtime (a control plane starting an ingestion).
pub(super) fn block<T: Send + 'static>(
    handle: &Handle,
    fut: impl Future<Output = Result<T, SourceError>> + Send + 'static,
) -> Result<T, SourceError> {
    let (tx, rx) = mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or_else(|_| Err(SourceError::Unavailable("the kinesis client runtime stopped".into())))
}

/// Lists every shard id of `stream` (ListShards, all pages).
pub(super) fn list_shards(handle: &Handle, client: &Client, stream: &str) -> Result<Vec<String>, SourceError> {
    let (client, stream) = (client.clone(), stream.to_string());
    block(handle, async move {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A page token replaces the stream name (the API refuses both).
            let request = match &token {
                Some(t) => client.list_shards().next_token(t),
                None => client.list_shards().stream_name(&stream),
            };
            let out = request.send().await.map_err(|e| {
                let text = error_text(&e);
                match e.as_service_error().and_then(|s| s.code()) {
                    Some("ResourceNotFoundException") => {
                        SourceError::Unavailable(format!("kinesis stream {stream:?} not found: {text}"))
                    }
                    _ => SourceError::Unavailable(format!("listing the shards of kinesis stream {stream:?}: {text}")),
                }
            })?;
            ids.extend(out.shards().iter().map(|s| s.shard_id().to_string()));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(ids)
    })
}

/// Partition number of each shard: the number in `shardId-<digits>`, or,
/// when some id has another form, the position in shard id order.
pub(super) fn partition_map(mut ids: Vec<String>) -> BTreeMap<u32, String> {
    ids.sort();
    ids.dedup();
    let numbered: Option<BTreeMap<u32, String>> = ids
        .iter()
        .map(|id| id.strip_prefix("shardId-").and_then(|n| n.parse::<u32>().ok()).map(|n| (n, id.clone())))
        .collect();
    numbered.unwrap_or_else(|| {
        tracing::warn!("kinesis shard ids are not shardId-<number>: partitions follow shard id order");
        ids.into_iter().enumerate().map(|(n, id)| (n as u32, id)).collect()
    })
}

/// How a failed call is handled.
pub(super) enum Fault {
    /// The iterator is older than 5 minutes: get a new one.
    Expired,
    /// Throttled: back off, retry with the same iterator.
    Throttled(String),
    /// An argument was refused (a sequence number not in this shard, ...).
    InvalidArgument(String),
    /// Unreachable, timed out, not found, failed: end the session.
    Other(String),
}

/// An error and its causes, `: `-separated. (The SDK's own Display says only
/// "service error" or "dispatch failure"; `DisplayErrorContext` appends a
/// Debug dump.)
pub(super) fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let t = cause.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = cause.source();
    }
    if text.contains("loading credentials") {
        // The SDK's own words are about the last provider it tried (EC2's
        // metadata service); what the user needs is where to put credentials.
        text = format!(
            "no AWS credentials: set param.access_key and param.secret_key, or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (or a profile) for the host ({text})"
        );
    }
    text
}

pub(super) fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: &SdkError<E>,
) -> Fault {
    let text = error_text(err);
    match err.as_service_error().and_then(|e| e.code()) {
        Some("ExpiredIteratorException") => Fault::Expired,
        Some(
            "ProvisionedThroughputExceededException"
            | "LimitExceededException"
            | "ThrottlingException"
            | "KMSThrottlingException",
        ) => Fault::Throttled(text),
        Some("InvalidArgumentException") => Fault::InvalidArgument(text),
        _ => Fault::Other(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_shard_numbers_and_stay_put_when_parents_expire() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = partition_map(ids(&["shardId-000000000002", "shardId-000000000000", "shardId-000000000001"]));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(m[&2], "shardId-000000000002");
        // Parent 0 closed and expired: its children keep partitions 1 and 2.
        let m = partition_map(ids(&["shardId-000000000001", "shardId-000000000002"]));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 2]);
        // Another naming: sorted position.
        let m = partition_map(ids(&["b", "a"]));
        assert_eq!(m, BTreeMap::from([(0, "a".to_string()), (1, "b".to_string())]));
    }
}
