//! Turning a decoded batch into one commit under the error policy.
//!
//! Pure logic, no I/O: given the messages, what the plugin made of each and
//! the policy, decide which operations to apply, what to count, what to keep
//! as dropped, and where to stop if the policy is `BLOCK`.

use super::control::{BlockCause, BlockedAt};
use crate::plugin::Outcome;
use crate::pointer::Pointer;
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
    /// Under `DROP`, each parse exception (an unparseable message, one
    /// processed with errors, or one the plugin failed on) in order, with
    /// the plan as it stood before it: where `maxParseExceptions` may cut
    /// the batch ([`Plan::cut`]), decided in stream order by the processor.
    pub exceptions: Vec<Cut>,
}

/// The plan before one parse exception.
#[derive(Debug)]
pub struct Cut {
    pointer: Pointer,
    reason: String,
    ops: usize,
    dropped: usize,
    counters: ShardCounters,
    /// The message before this one, if the batch has one: (pointer, timestamp).
    previous: Option<(Pointer, Option<i64>)>,
}

impl Plan {
    /// The plan cut before `exception` (an index into [`Plan::exceptions`]):
    /// what precedes it is committed, the shard blocks at it.
    pub fn cut(mut self, exception: usize, max: u64) -> Plan {
        let cut = self.exceptions.swap_remove(exception);
        self.blocked = Some(BlockedAt {
            pointer: cut.pointer,
            reason: format!(
                "more than {max} parse exceptions (tuningConfig.maxParseExceptions); this message: {}",
                cut.reason
            ),
            cause: BlockCause::InvalidMessage,
        });
        self.exceptions.clear();
        self.commit = match (self.commit, cut.previous) {
            (Some(mut c), Some((pointer, ts))) => {
                c.ops.truncate(cut.ops);
                c.dropped.truncate(cut.dropped);
                c.counters = cut.counters;
                c.last_pointer = pointer;
                self.last_timestamp_ms = ts;
                Some(c)
            }
            _ => {
                self.last_timestamp_ms = None;
                None
            }
        };
        self
    }
}

/// The id of the `n`th operation of a message that carries no `_id`:
/// deterministic, so a replay after a crash rewrites the same document.
pub fn auto_id(shard: u32, message: &Message, n: usize) -> String {
    if n == 0 { format!("{shard}-{}", message.pointer) } else { format!("{shard}-{}-{n}", message.pointer) }
}

/// How a message failed.
enum Failure {
    /// Unparseable: Druid's `unparseable`, OpenSearch's invalid message.
    Invalid,
    /// Outside what the ingestion accepts: Druid's `thrownAway`.
    ThrownAway,
    /// The plugin failed on it (trap, timeout, memory, bad output).
    Plugin,
}

pub fn plan(shard: u32, messages: &[Message], outcomes: Vec<Outcome>, strategy: ErrorStrategy) -> Plan {
    debug_assert_eq!(messages.len(), outcomes.len(), "the plugin layer guarantees one outcome per message");
    let mut ops = Vec::new();
    let mut counters = ShardCounters::default();
    let mut dropped = Vec::new();
    let mut last: Option<&Message> = None;
    let mut blocked = None;
    let mut exceptions = Vec::new();
    for (message, outcome) in messages.iter().zip(outcomes) {
        let cut = |reason: &str, ops: &Vec<DocOp>, dropped: &Vec<DroppedMessage>, counters: ShardCounters| Cut {
            pointer: message.pointer.clone(),
            reason: reason.to_string(),
            ops: ops.len(),
            dropped: dropped.len(),
            counters,
            previous: last.map(|m| (m.pointer.clone(), m.timestamp_ms)),
        };
        let failure = match outcome {
            Outcome::Ops(list) => {
                push_ops(shard, message, list, &mut ops);
                None
            }
            Outcome::PartlyValid { ops: list, errors } => {
                if strategy == ErrorStrategy::Block {
                    blocked = Some(BlockedAt {
                        pointer: message.pointer.clone(),
                        reason: format!("processed with errors: {errors}"),
                        cause: BlockCause::InvalidMessage,
                    });
                    break;
                }
                tracing::debug!(shard, pointer = %message.pointer, %errors, "message processed with errors");
                exceptions.push(cut(&errors, &ops, &dropped, counters));
                push_ops(shard, message, list, &mut ops);
                counters.total_processed_with_error_count += 1;
                None
            }
            Outcome::Skipped(_) => {
                counters.total_skipped_count += 1;
                None
            }
            Outcome::Invalid(reason) => Some((reason, Failure::Invalid)),
            Outcome::ThrownAway(reason) => Some((reason, Failure::ThrownAway)),
            Outcome::Failed(reason) => Some((reason, Failure::Plugin)),
        };
        if let Some((reason, kind)) = failure {
            if strategy == ErrorStrategy::Block {
                blocked =
                    Some(BlockedAt { pointer: message.pointer.clone(), reason, cause: BlockCause::InvalidMessage });
                break;
            }
            tracing::debug!(shard, pointer = %message.pointer, %reason, "message dropped");
            match kind {
                Failure::Invalid => {
                    exceptions.push(cut(&reason, &ops, &dropped, counters));
                    counters.total_invalid_message_count += 1;
                }
                Failure::Plugin => exceptions.push(cut(&reason, &ops, &dropped, counters)),
                Failure::ThrownAway => counters.total_thrown_away_count += 1,
            }
            counters.total_failed_count += 1;
            counters.total_failures_dropped_count += 1;
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
        exceptions,
    }
}

fn push_ops(shard: u32, message: &Message, list: Vec<crate::plugin::Operation>, ops: &mut Vec<DocOp>) {
    for (n, op) in list.into_iter().enumerate() {
        ops.push(DocOp {
            id: op.id.unwrap_or_else(|| auto_id(shard, message, n)),
            version: op.version,
            op_type: op.op_type,
            source: op.source,
            aggregators: op.aggregators,
            event_time_ms: op.event_time_ms,
        });
    }
}

/// The parse exceptions (Druid's: unparseable and processed-with-error
/// messages; here also those the plugin failed on) counted in `c`.
pub fn parse_exceptions(c: &ShardCounters) -> u64 {
    c.total_failed_count.saturating_sub(c.total_thrown_away_count) + c.total_processed_with_error_count
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
        Operation { id: id.map(Into::into), op_type: OpType::Index, source: Some("{}".into()), ..Default::default() }
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

    #[test]
    fn druid_outcomes_are_counted_and_cuts_leave_the_plan_before_the_message() {
        let messages: Vec<_> = (0..5).map(msg).collect();
        let outcomes = vec![
            Outcome::Ops(vec![index(Some("a"))]),
            Outcome::ThrownAway("late".into()),
            Outcome::PartlyValid { ops: vec![index(Some("b"))], errors: "bad metric".into() },
            Outcome::Invalid("bad json".into()),
            Outcome::Ops(vec![index(Some("c"))]),
        ];
        let p = plan(1, &messages, outcomes.clone(), ErrorStrategy::Drop);
        let c = p.commit.as_ref().unwrap();
        assert_eq!(c.ops.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            (c.counters.total_thrown_away_count, c.counters.total_processed_with_error_count),
            (1, 1),
            "thrownAway and processedWithError"
        );
        assert_eq!((c.counters.total_invalid_message_count, c.counters.total_failed_count), (1, 2));
        assert_eq!(parse_exceptions(&c.counters), 2, "thrown-away messages are no parse exceptions");
        assert_eq!(p.exceptions.iter().map(|e| e.pointer.as_u64().unwrap()).collect::<Vec<_>>(), [2, 3]);
        // maxParseExceptions 1 with none so far: the second exception (message 3) blocks.
        let cut = p.cut(1, 1);
        let c = cut.commit.unwrap();
        assert_eq!(c.last_pointer, Pointer::Small(2));
        assert_eq!(c.ops.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((c.counters.total_processed_count, c.counters.total_invalid_message_count), (3, 0));
        assert_eq!(c.dropped.len(), 1, "the thrown-away message before the cut stays dropped");
        let blocked = cut.blocked.unwrap();
        assert_eq!(blocked.pointer, Pointer::Small(3));
        assert!(blocked.reason.contains("more than 1 parse exceptions") && blocked.reason.contains("bad json"));
        // Cut at a batch's first message: nothing to commit.
        let p = plan(1, &messages[2..3], outcomes[2..3].to_vec(), ErrorStrategy::Drop);
        assert!(p.cut(0, 0).commit.is_none());
        // Under BLOCK a message processed with errors blocks, as Druid's reportParseExceptions.
        let p = plan(1, &messages, outcomes, ErrorStrategy::Block);
        assert_eq!(p.blocked.unwrap().pointer, Pointer::Small(1), "a thrown-away message follows the policy");
    }
}
