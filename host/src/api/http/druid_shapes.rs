//! Druid's shapes for the supervisor API: the resetOffsets body
//! (`DataSourceMetadata`) as the manager's [`PartitionOffsets`], and the
//! list entries and row stats as Druid writes them.

use super::errors::DruidError;
use crate::manager::{PartitionOffsets, SupervisorSummary, TaskRowStats};
use serde_json::{Map, Value, json};

/// One entry of `?full` (with the spec) or `?state=true` (without):
/// `id`, `state`, `detailedState`, `healthy`, `suspended`.
pub(super) fn list_entry(s: &SupervisorSummary, full: bool) -> Value {
    let mut v = json!(s);
    if !full && let Some(o) = v.as_object_mut() {
        o.remove("spec");
    }
    v
}

/// `{"<task group>": {"<task id>": {"movingAverages": {}, "totals":
/// {"buildSegments": {"processed", "processedWithError", "thrownAway",
/// "unparseable"}}}}}`: each shard is a task in a group of its own. sluice
/// keeps no moving averages (the object is empty) and counts no bytes
/// (no `processedBytes`).
pub(super) fn stats_body(tasks: &[TaskRowStats]) -> Value {
    let mut groups = Map::new();
    for t in tasks {
        let group = groups.entry(t.group.to_string()).or_insert_with(|| json!({}));
        group[&t.task] = json!({"movingAverages": {}, "totals": {"buildSegments": t.totals}});
    }
    Value::Object(groups)
}

/// The resetOffsets body, as Druid documents it:
/// `{"type": "kafka", "partitions": {"type": "end", "stream": "<topic>",
/// "partitionOffsetMap": {"0": 100}}}`. Druid's other spellings are taken
/// too: `topic` for `stream`, `partitionSequenceNumberMap` (Kinesis) for
/// `partitionOffsetMap`. Offsets are numbers or (Kinesis sequence numbers)
/// text. Whether the type, stream and partitions are the supervisor's is
/// the manager's to say.
pub(super) fn partition_offsets(body: Option<Value>) -> Result<PartitionOffsets, DruidError> {
    const SHAPE: &str = "{\"type\": \"kafka\", \"partitions\": {\"type\": \"end\", \"stream\": \"<topic>\", \
                         \"partitionOffsetMap\": {\"0\": 100}}}";
    let bad = |what: String| DruidError::bad_request(format!("the resetOffsets body: {what}; it reads {SHAPE}"));
    let top = match body {
        Some(Value::Object(o)) => o,
        None => return Err(bad("it is empty".into())),
        Some(_) => return Err(bad("it is not a JSON object".into())),
    };
    let unknown = |o: &Map<String, Value>, allowed: &[&str], at: &str| {
        o.keys().find(|k| !allowed.contains(&k.as_str())).map(|k| bad(format!("unknown key [{at}{k}]")))
    };
    if let Some(e) = unknown(&top, &["type", "partitions"], "") {
        return Err(e);
    }
    let text = |o: &Map<String, Value>, key: &str, at: &str| match o.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(bad(format!("[{at}{key}] must be a string"))),
    };
    let stream_type = text(&top, "type", "")?.ok_or_else(|| bad("[type] is required: kafka or kinesis".into()))?;
    let partitions = match top.get("partitions") {
        Some(Value::Object(p)) => p,
        Some(_) => return Err(bad("[partitions] must be an object".into())),
        None => return Err(bad("[partitions] is required".into())),
    };
    let allowed =
        ["type", "stream", "topic", "partitionOffsetMap", "partitionSequenceNumberMap", "exclusivePartitions"];
    if let Some(e) = unknown(partitions, &allowed, "partitions.") {
        return Err(e);
    }
    match text(partitions, "type", "partitions.")?.as_deref() {
        Some("end") => {}
        Some("start") => {
            // Druid's words (SeekableStreamSupervisor.resetOffsets).
            return Err(DruidError::invalid_input(
                "Provided datasourceMetadata is invalid. Sequence numbers can only be of \
                 type[SeekableStreamEndSequenceNumbers], but found[SeekableStreamStartSequenceNumbers].",
            ));
        }
        Some(other) => return Err(bad(format!("[partitions.type] {other:?}: must be \"end\""))),
        None => return Err(bad("[partitions.type] is required: \"end\"".into())),
    }
    let one_of = |a: &str, b: &str| match (partitions.contains_key(a), partitions.contains_key(b)) {
        (true, true) => Err(bad(format!("give [partitions.{a}] or [partitions.{b}], not both"))),
        (false, true) => Ok(b.to_string()),
        _ => Ok(a.to_string()),
    };
    let stream_key = one_of("stream", "topic")?;
    let stream = text(partitions, &stream_key, "partitions.")?
        .ok_or_else(|| bad("[partitions.stream] is required: the topic or stream".into()))?;
    let map_key = one_of("partitionOffsetMap", "partitionSequenceNumberMap")?;
    let map = match partitions.get(&map_key) {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bad(format!("[partitions.{map_key}] must be an object of partition -> offset"))),
        None => return Err(bad("[partitions.partitionOffsetMap] is required".into())),
    };
    let offsets = map
        .iter()
        .map(|(partition, offset)| match offset {
            Value::Number(n) if n.is_u64() => Ok((partition.clone(), n.to_string())),
            Value::String(s) => Ok((partition.clone(), s.clone())),
            _ => Err(bad(format!("[partitions.{map_key}.{partition}] must be an offset: a whole number, or text"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(PartitionOffsets { stream_type, stream, offsets })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::{RowStats, SupervisorState};
    use std::collections::BTreeMap;

    #[test]
    fn reset_metadata_is_read_as_druid_writes_it() {
        let body = json!({"type": "kafka", "partitions": {"type": "end", "stream": "ads_media_stream",
            "partitionOffsetMap": {"0": 100, "2": 650}}});
        let r = partition_offsets(Some(body)).unwrap();
        assert_eq!((r.stream_type.as_str(), r.stream.as_str()), ("kafka", "ads_media_stream"));
        assert_eq!(r.offsets, BTreeMap::from([("0".into(), "100".into()), ("2".into(), "650".into())]));
        let kinesis = json!({"type": "kinesis", "partitions": {"type": "end", "topic": "s",
            "partitionSequenceNumberMap": {"shardId-000000000000": "49590338271490256608559692538361571095921575989136588898"}}});
        let r = partition_offsets(Some(kinesis)).unwrap();
        assert_eq!(r.stream, "s");
        assert_eq!(r.offsets["shardId-000000000000"], "49590338271490256608559692538361571095921575989136588898");
        for (bad, needle) in [
            (None, "it is empty"),
            (Some(json!([1])), "not a JSON object"),
            (Some(json!({"type": "kafka"})), "[partitions] is required"),
            (Some(json!({"partitions": {}})), "[type] is required"),
            (Some(json!({"type": "kafka", "partition": {}})), "unknown key [partition]"),
            (
                Some(json!({"type": "kafka", "partitions": {"type": "end", "stream": "t"}})),
                "partitionOffsetMap] is required",
            ),
            (
                Some(
                    json!({"type": "kafka", "partitions": {"type": "middle", "stream": "t", "partitionOffsetMap": {}}}),
                ),
                "must be \"end\"",
            ),
            (
                Some(
                    json!({"type": "kafka", "partitions": {"type": "end", "stream": "t", "topic": "t", "partitionOffsetMap": {}}}),
                ),
                "not both",
            ),
            (
                Some(
                    json!({"type": "kafka", "partitions": {"type": "end", "stream": "t", "partitionOffsetMap": {"0": -1}}}),
                ),
                "[partitions.partitionOffsetMap.0]",
            ),
            (
                Some(json!({"type": "kafka", "partitions": {"type": "end", "stream": "t", "offsets": {}}})),
                "unknown key [partitions.offsets]",
            ),
        ] {
            let e = partition_offsets(bad).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message().contains(needle), "{} does not say {needle}", e.message());
        }
        let start = json!({"type": "kafka", "partitions": {"type": "start", "stream": "t", "partitionOffsetMap": {}}});
        let e = partition_offsets(Some(start)).unwrap_err();
        assert_eq!(e.body["errorCode"], "invalidInput");
        assert!(e.message().contains("can only be of type[SeekableStreamEndSequenceNumbers]"));
    }

    #[test]
    fn stats_and_list_entries_have_druids_shapes() {
        let rows = RowStats { processed: 5, processed_with_error: 1, unparseable: 2, thrown_away: 3 };
        let tasks = [
            TaskRowStats { group: 0, task: "index_kafka_s_0".into(), partition: "0".into(), totals: rows },
            TaskRowStats { group: 1, task: "index_kafka_s_1".into(), partition: "1".into(), totals: rows },
        ];
        let body = stats_body(&tasks);
        assert_eq!(
            body["1"]["index_kafka_s_1"],
            json!({"movingAverages": {}, "totals": {"buildSegments":
                {"processed": 5, "processedWithError": 1, "unparseable": 2, "thrownAway": 3}}})
        );
        assert_eq!(body.as_object().unwrap().len(), 2);
        let s = SupervisorSummary {
            id: "s".into(),
            state: SupervisorState::Running,
            detailed_state: SupervisorState::CreatingTasks,
            healthy: true,
            suspended: false,
            spec: json!({"type": "kafka"}),
        };
        assert_eq!(
            list_entry(&s, false),
            json!({"id": "s", "state": "RUNNING", "detailedState": "CREATING_TASKS", "healthy": true, "suspended": false})
        );
        assert_eq!(list_entry(&s, true)["spec"], json!({"type": "kafka"}));
    }
}
