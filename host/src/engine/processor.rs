//! Turning a decoded batch into one commit under the error policy.
//!
//! Pure logic, no I/O: given the messages, what the plugin made of each and
//! the policy, decide which operations to apply, what to count, what to keep
//! as dropped, and where to stop if the policy is `BLOCK`.

use super::control::{BlockCause, BlockedAt};
use crate::plugin::Outcome;
use crate::sink::{CommitBatch, DROPPED_PAYLOAD_LIMIT, DocOp, DroppedMessage, ShardCounters};
use crate::source::Message;
use crate::spec::ErrorStrategy;

/// The plan for one batch.
#[derive(Debug)]
pub struct Plan {
    /// `None` when not even the first message can be committed.
    pub commit: Option<CommitBatch>,
    /// Set under `BLOCK` when a message failed: the batch stops before it.
    pub blocked: Option<BlockedAt>,
    /// Timestamp of the last committed message, for time lag.
    pub last_timestamp_ms: Option<i64>,
}

/// The id of the `n`th operation of a message that carries no `_id`:
/// deterministic, so a replay after a crash rewrites the same document.
pub fn auto_id(shard: u32, message: &Message, n: usize) -> String {
    if n == 0 { format!("{shard}-{}", message.pointer) } else { format!("{shard}-{}-{n}", message.pointer) }
}

pub fn plan(shard: u32, messages: &[Message], outcomes: Vec<Outcome>, strategy: ErrorStrategy) -> Plan {
    debug_assert_eq!(messages.len(), outcomes.len(), "the plugin layer guarantees one outcome per message");
    let mut ops = Vec::new();
    let mut counters = ShardCounters::default();
    let mut dropped = Vec::new();
    let mut last = None;
    let mut blocked = None;
    for (message, outcome) in messages.iter().zip(outcomes) {
        let failure = match outcome {
            Outcome::Ops(list) => {
                for (n, op) in list.into_iter().enumerate() {
                    ops.push(DocOp {
                        id: op.id.unwrap_or_else(|| auto_id(shard, message, n)),
                        version: op.version,
                        op_type: op.op_type,
                        source: op.source,
                    });
                }
                None
            }
            Outcome::Skipped(_) => {
                counters.total_skipped_count += 1;
                None
            }
            Outcome::Invalid(reason) => Some((reason, true)),
            Outcome::Failed(reason) => Some((reason, false)),
        };
        if let Some((reason, invalid)) = failure {
            if strategy == ErrorStrategy::Block {
                blocked =
                    Some(BlockedAt { pointer: message.pointer.clone(), reason, cause: BlockCause::InvalidMessage });
                break;
            }
            tracing::debug!(shard, pointer = %message.pointer, %reason, "message dropped");
            counters.total_failed_count += 1;
            counters.total_failures_dropped_count += 1;
            if invalid {
                counters.total_invalid_message_count += 1;
            }
            dropped.push(DroppedMessage {
                pointer: message.pointer.clone(),
                reason,
                payload: message.payload.as_deref().map(excerpt),
            });
        }
        counters.total_processed_count += 1;
        last = Some(message);
    }
    Plan {
        commit: last.map(|m| CommitBatch { ops, last_pointer: m.pointer.clone(), counters, dropped }),
        blocked,
        last_timestamp_ms: last.and_then(|m| m.timestamp_ms),
    }
}

/// The start of a payload, as text, for the record of a dropped message.
fn excerpt(payload: &[u8]) -> String {
    let cut = &payload[..payload.len().min(DROPPED_PAYLOAD_LIMIT)];
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Operation;
    use crate::pointer::Pointer;
    use crate::sink::OpType;

    fn msg(p: u64) -> Message {
        Message {
            pointer: Pointer::Small(p),
            timestamp_ms: Some(p as i64),
            key: None,
            headers: vec![],
            payload: Some(b"x".to_vec()),
        }
    }

    fn index(id: Option<&str>) -> Operation {
        Operation { id: id.map(Into::into), version: None, op_type: OpType::Index, source: Some("{}".into()) }
    }

    fn outcomes() -> Vec<Outcome> {
        vec![
            Outcome::Ops(vec![index(Some("a"))]),
            Outcome::Invalid("bad json".into()),
            Outcome::Ops(vec![index(None), index(None)]),
            Outcome::Skipped("tombstone".into()),
            Outcome::Failed("plugin trapped".into()),
        ]
    }

    #[test]
    fn drop_skips_and_counts_failures_and_keeps_their_reasons() {
        let messages: Vec<_> = (10..15).map(msg).collect();
        let plan = plan(2, &messages, outcomes(), ErrorStrategy::Drop);
        assert!(plan.blocked.is_none());
        let c = plan.commit.unwrap();
        let ids: Vec<_> = c.ops.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["a", "2-12", "2-12-1"]);
        assert_eq!(c.last_pointer, Pointer::Small(14));
        assert_eq!(c.counters.total_processed_count, 5);
        assert_eq!(c.counters.total_invalid_message_count, 1);
        assert_eq!(c.counters.total_failed_count, 2);
        assert_eq!(c.counters.total_failures_dropped_count, 2);
        assert_eq!(c.counters.total_skipped_count, 1);
        let reasons: Vec<_> = c.dropped.iter().map(|d| (d.pointer.as_u64().unwrap(), d.reason.as_str())).collect();
        assert_eq!(reasons, [(11, "bad json"), (14, "plugin trapped")]);
        assert_eq!(plan.last_timestamp_ms, Some(14));
    }

    #[test]
    fn block_commits_what_precedes_the_failure_and_stops_there() {
        let messages: Vec<_> = (10..15).map(msg).collect();
        let plan = plan(0, &messages, outcomes(), ErrorStrategy::Block);
        assert_eq!(
            plan.blocked,
            Some(BlockedAt {
                pointer: Pointer::Small(11),
                reason: "bad json".into(),
                cause: BlockCause::InvalidMessage
            })
        );
        let c = plan.commit.unwrap();
        assert_eq!(c.last_pointer, Pointer::Small(10));
        assert_eq!(c.ops.len(), 1);
        assert_eq!(c.counters.total_processed_count, 1);
        assert_eq!(c.counters.total_failed_count, 0, "a blocking message is not counted until it is processed");
        let plan = super::plan(0, &messages[1..2], vec![Outcome::Invalid("bad".into())], ErrorStrategy::Block);
        assert!(plan.commit.is_none());
    }
}
