//! `ioConfig`: where the supervisor reads (Kafka's `topic` and
//! `consumerProperties`, Kinesis' `stream` and `endpoint`, sluice's file
//! `stream` and `baseDirectory`), where a partition without a checkpoint
//! starts, the task timings, and `inputFormat`. Keys from Druid's
//! `SeekableStreamSupervisorIOConfig`, `KafkaSupervisorIOConfig` and
//! `KinesisSupervisorIOConfig`.

use super::super::{SourceType, SpecError, invalid};
use super::supervisor_settings::{
    DEFAULT_COMPLETION_TIMEOUT_MS, DEFAULT_PERIOD_MS, DEFAULT_START_DELAY_MS, SupervisorSettings,
};
use super::values::Obj;
use crate::spec::DEFAULT_TASK_DURATION_MS;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Every supervisor's keys.
const COMMON: &[&str] = &[
    "type",
    "inputFormat",
    "taskCount",
    "replicas",
    "taskDuration",
    "startDelay",
    "period",
    "completionTimeout",
    "lateMessageRejectionPeriod",
    "earlyMessageRejectionPeriod",
    "lateMessageRejectionStartDateTime",
    "autoScalerConfig",
    "stopTaskCount",
    "emitTimeLagMetrics",
];
const KAFKA: &[&str] = &[
    "topic",
    "topicPattern",
    "consumerProperties",
    "pollTimeout",
    "useEarliestOffset",
    "idleConfig",
    "configOverrides",
];
const KINESIS: &[&str] = &[
    "stream",
    "endpoint",
    "region",
    "useEarliestSequenceNumber",
    "fetchDelayMillis",
    "recordsPerFetch",
    "awsAssumedRoleArn",
    "awsExternalId",
    "deaggregate",
];
/// sluice's file supervisor (a documented extension).
const FILE: &[&str] = &["stream", "baseDirectory", "base_directory", "useEarliestOffset", "pollTimeout"];

/// The ioConfig values the plugin gets (`plugin.config.ioConfig`), as given.
const FOR_THE_PLUGIN: &[&str] =
    &["taskDuration", "lateMessageRejectionPeriod", "earlyMessageRejectionPeriod", "lateMessageRejectionStartDateTime"];

/// Kafka's default `pollTimeout` (`KafkaSupervisorIOConfig`).
const KAFKA_POLL_TIMEOUT_MS: u64 = 100;

/// What `ioConfig` says.
pub(super) struct IoConfig {
    /// The Druid-only settings (tuning, context and `suspended` are filled in by the caller).
    pub settings: SupervisorSettings,
    /// The source's parameters.
    pub params: BTreeMap<String, String>,
    /// `pollTimeout`, when the source has one.
    pub poll_timeout_ms: Option<u64>,
    /// `inputFormat`, checked.
    pub input_format: Option<Map<String, Value>>,
    /// [`FOR_THE_PLUGIN`] values given.
    pub plugin_io: Map<String, Value>,
}

pub(super) fn parse_io(io: &Obj, stream_type: SourceType) -> Result<IoConfig, SpecError> {
    let own = match stream_type {
        SourceType::Kafka => KAFKA,
        SourceType::Kinesis => KINESIS,
        SourceType::File => FILE,
    };
    io.check_keys(&COMMON.iter().chain(own).copied().collect::<Vec<_>>())?;
    if let Some(kind) = io.text("type")? {
        let expected = super::type_name(stream_type);
        if kind != expected {
            return Err(invalid(&io.key("type"), format!("{kind:?} does not match the supervisor type {expected:?}")));
        }
    }
    let mut params = BTreeMap::new();
    let (stream, use_earliest, poll_timeout_ms) = match stream_type {
        SourceType::Kafka => {
            io.refuse("topicPattern", "an ingestion reads one topic (shard N reads its partition N); give topic")?;
            let topic = io.required_text("topic")?;
            kafka_params(io, &mut params)?;
            params.insert("topic".into(), topic.clone());
            let poll = io.at_least("pollTimeout", 1)?.unwrap_or(KAFKA_POLL_TIMEOUT_MS);
            if poll > 600_000 {
                return Err(invalid(&io.key("pollTimeout"), format!("{poll} is out of range 1..=600000 (ms)")));
            }
            (topic, io.bool("useEarliestOffset")?, Some(poll))
        }
        SourceType::Kinesis => {
            let role = "sluice reads with the AWS default credential chain: assume the role there (a profile with \
                        role_arn, or AWS_ROLE_ARN with a web identity token)";
            io.refuse("awsAssumedRoleArn", role)?;
            io.refuse("awsExternalId", role)?;
            io.u64("recordsPerFetch")?;
            io.bool("deaggregate")?;
            let stream = io.required_text("stream")?;
            kinesis_endpoint(io, &mut params)?;
            params.insert("stream".into(), stream.clone());
            (stream, io.bool("useEarliestSequenceNumber")?, None)
        }
        SourceType::File => {
            let stream = io.required_text("stream")?;
            let dir = match (io.text("baseDirectory")?, io.text("base_directory")?) {
                (Some(_), Some(_)) => return Err(SpecError::Duplicate(io.key("baseDirectory"))),
                (Some(d), None) | (None, Some(d)) => d,
                (None, None) => return Err(SpecError::Missing(io.key("baseDirectory"))),
            };
            params.insert("stream".into(), stream.clone());
            params.insert("base_directory".into(), dir);
            let poll = io.at_least("pollTimeout", 1)?;
            (stream, io.bool("useEarliestOffset")?, poll)
        }
    };

    let late_period = io.period_ms("lateMessageRejectionPeriod")?;
    let late_start = io.time_ms("lateMessageRejectionStartDateTime")?;
    if late_period.is_some() && late_start.is_some() {
        return Err(invalid(
            &io.key("lateMessageRejectionStartDateTime"),
            "give lateMessageRejectionPeriod or lateMessageRejectionStartDateTime, not both (as in Druid)",
        ));
    }
    let task_duration_ms = io.period_ms("taskDuration")?.unwrap_or(DEFAULT_TASK_DURATION_MS);
    if task_duration_ms == 0 {
        return Err(invalid(&io.key("taskDuration"), "must be longer than 0"));
    }
    let count = |key: &str| -> Result<Option<u32>, SpecError> {
        io.at_least(key, 1)?
            .map(|n| u32::try_from(n).map_err(|_| invalid(&io.key(key), format!("{n} is too large"))))
            .transpose()
    };
    let settings = SupervisorSettings {
        stream_type,
        stream,
        wrapped: false,
        task_count: count("taskCount")?.unwrap_or(1),
        replicas: count("replicas")?.unwrap_or(1),
        task_duration_ms,
        start_delay_ms: io.period_ms("startDelay")?.unwrap_or(DEFAULT_START_DELAY_MS),
        period_ms: io.period_ms("period")?.unwrap_or(DEFAULT_PERIOD_MS),
        completion_timeout_ms: io.period_ms("completionTimeout")?.unwrap_or(DEFAULT_COMPLETION_TIMEOUT_MS),
        use_earliest_offset: use_earliest.unwrap_or(false),
        late_message_rejection_period_ms: late_period,
        early_message_rejection_period_ms: io.period_ms("earlyMessageRejectionPeriod")?,
        late_message_rejection_start_ms: late_start,
        stop_task_count: count("stopTaskCount")?,
        emit_time_lag_metrics: io.bool("emitTimeLagMetrics")?,
        auto_scaler_config: io.raw_object("autoScalerConfig")?,
        idle_config: io.raw_object("idleConfig")?,
        config_overrides: io.raw_object("configOverrides")?,
        fetch_delay_ms: io.u64("fetchDelayMillis")?,
        tuning: Default::default(),
        context: None,
        suspended: false,
    };
    let plugin_io = FOR_THE_PLUGIN.iter().filter_map(|k| Some((k.to_string(), io.get(k)?.clone()))).collect();
    let input_format = io.object("inputFormat")?.map(|f| parse_input_format(&f)).transpose()?;
    Ok(IoConfig { settings, params, poll_timeout_ms, input_format, plugin_io })
}

/// `consumerProperties` become the Kafka source's parameters, as text (as
/// an OpenSearch body's `param.*`; secrets among them are redacted wherever
/// sluice shows a spec).
fn kafka_params(io: &Obj, params: &mut BTreeMap<String, String>) -> Result<(), SpecError> {
    let props = io.object("consumerProperties")?.ok_or_else(|| SpecError::Missing(io.key("consumerProperties")))?;
    for (k, v) in props.map {
        let key = props.key(k);
        match k.as_str() {
            "druid.dynamic.config.provider" => {
                return Err(invalid(
                    &key,
                    "not supported by sluice: give the properties' values directly (secrets such as \
                     sasl.password are redacted in everything sluice shows and exports)",
                ));
            }
            "sasl.jaas.config" => {
                return Err(invalid(
                    &key,
                    "a Java client setting: sluice's Kafka client (librdkafka) takes sasl.mechanism, \
                     sasl.username and sasl.password instead",
                ));
            }
            "topic" | "bootstrap_servers" => {
                return Err(invalid(&key, "is not a Kafka consumer property (give the topic as ioConfig.topic)"));
            }
            _ => {}
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(invalid(&key, "must be a string, number or boolean")),
        };
        params.insert(k.clone(), text);
    }
    if !params.contains_key("bootstrap.servers") {
        return Err(SpecError::Missing(props.key("bootstrap.servers")));
    }
    Ok(())
}

/// Kinesis' `endpoint` and `region` as the source's `region` and
/// `endpoint_override`: an AWS endpoint (`kinesis.<region>.amazonaws.com`)
/// names the region; another host or URL (a local emulator) is the endpoint.
/// Neither: Druid's default, `us-east-1`.
fn kinesis_endpoint(io: &Obj, params: &mut BTreeMap<String, String>) -> Result<(), SpecError> {
    let region = io.text("region")?.map(|r| r.trim().to_ascii_lowercase());
    if let Some(r) = &region
        && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(invalid(&io.key("region"), format!("{r:?} is not an AWS region such as us-east-1")));
    }
    let endpoint = io.text("endpoint")?.map(|e| e.trim().to_string()).filter(|e| !e.is_empty());
    let host = endpoint.as_deref().map(|e| e.split_once("://").map_or(e, |(_, h)| h).trim_end_matches('/'));
    let aws_region = host.and_then(|h| {
        let rest = h.strip_prefix("kinesis.")?;
        let region = rest.strip_suffix(".amazonaws.com").or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
        Some(region.to_string())
    });
    match (aws_region, endpoint) {
        (Some(from_endpoint), _) => {
            if let Some(r) = &region
                && *r != from_endpoint
            {
                return Err(invalid(
                    &io.key("region"),
                    format!("{r:?} differs from the region of ioConfig.endpoint ({from_endpoint:?})"),
                ));
            }
            params.insert("region".into(), from_endpoint);
        }
        (None, Some(endpoint)) => {
            let url = if endpoint.contains("://") { endpoint } else { format!("https://{endpoint}") };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(&io.key("endpoint"), format!("{url:?} is not an http:// or https:// endpoint")));
            }
            params.insert("endpoint_override".into(), url);
            params.insert("region".into(), region.unwrap_or_else(|| "us-east-1".into()));
        }
        (None, None) => {
            params.insert("region".into(), region.unwrap_or_else(|| "us-east-1".into()));
        }
    }
    Ok(())
}

/// `inputFormat`: sluice's `druid` plugin reads JSON (`JsonInputFormat`'s keys).
pub(super) fn parse_input_format(f: &Obj) -> Result<Map<String, Value>, SpecError> {
    const JSON_KEYS: &[&str] =
        &["type", "flattenSpec", "featureSpec", "keepNullColumns", "assumeNewlineDelimited", "useJsonNodeReader"];
    match f.text("type")?.as_deref() {
        Some("json") => {}
        Some(other) => return Err(invalid(&f.key("type"), format!("{other:?} is not supported; supported: json"))),
        None => return Err(SpecError::Missing(f.key("type"))),
    }
    f.check_keys(JSON_KEYS)?;
    f.object("flattenSpec")?;
    f.object("featureSpec")?;
    for k in ["keepNullColumns", "assumeNewlineDelimited", "useJsonNodeReader"] {
        f.bool(k)?;
    }
    Ok(f.map.clone())
}
