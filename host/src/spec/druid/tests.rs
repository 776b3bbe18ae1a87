//! Druid's documented supervisor specs, parsed; every error naming its key.

use crate::pointer::StartPosition;
use crate::spec::{ErrorStrategy, IngestionSpec, SinkType, SourceType, SpecError, body_name, set_name};
use crate::util::{REDACTED, redact_secrets};
use serde_json::{Value, json};

fn parse(v: &Value) -> Result<IngestionSpec, SpecError> {
    IngestionSpec::from_value(v)
}

fn err(v: &Value) -> String {
    parse(v).unwrap_err().to_string()
}

const METRICS: &str = r#"[
    {"name": "count", "type": "count"},
    {"name": "value_sum", "fieldName": "value", "type": "doubleSum"},
    {"name": "value_min", "fieldName": "value", "type": "doubleMin"},
    {"name": "value_max", "fieldName": "value", "type": "doubleMax"}]"#;

/// `docs/ingestion/kafka-ingestion.md`'s example, verbatim.
pub(crate) fn kafka_example() -> Value {
    let metrics: Value = serde_json::from_str(METRICS).unwrap();
    json!({
      "type": "kafka",
      "spec": {
        "dataSchema": {
          "dataSource": "metrics-kafka",
          "timestampSpec": {"column": "timestamp", "format": "auto"},
          "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["timestamp", "value"]},
          "metricsSpec": metrics,
          "granularitySpec": {"type": "uniform", "segmentGranularity": "HOUR", "queryGranularity": "NONE"}
        },
        "ioConfig": {
          "topic": "metrics",
          "inputFormat": {"type": "json"},
          "consumerProperties": {"bootstrap.servers": "localhost:9092"},
          "taskCount": 1,
          "replicas": 1,
          "taskDuration": "PT1H"
        },
        "tuningConfig": {"type": "kafka", "maxRowsPerSegment": 5000000}
      }
    })
}

#[test]
fn kafkas_documented_example_is_taken_as_it_is() {
    let spec = parse(&kafka_example()).unwrap();
    assert_eq!(spec.name, "metrics-kafka");
    assert_eq!((spec.source_type, spec.shards), (SourceType::Kafka, 0), "the shard count comes from the stream");
    assert_eq!(
        spec.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
        [("bootstrap.servers", "localhost:9092"), ("topic", "metrics")]
    );
    assert_eq!(spec.init_reset, StartPosition::Latest, "useEarliestOffset defaults to false");
    assert_eq!((spec.error_strategy, spec.max_parse_exceptions), (ErrorStrategy::Drop, None));
    assert_eq!((spec.poll_timeout_ms, spec.task_duration_ms), (100, 3_600_000));
    assert_eq!((spec.plugin.name.as_str(), spec.plugin.version.as_deref()), ("druid", None));
    assert_eq!(spec.sink, SinkType::Embedded);
    let metrics: Value = serde_json::from_str(METRICS).unwrap();
    assert_eq!(
        Value::Object(spec.plugin.config.clone()),
        json!({
            "dataSchema": {
                "timestampSpec": {"column": "timestamp", "format": "auto"},
                "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["timestamp", "value"]},
                "metricsSpec": metrics,
                "granularitySpec": {"type": "uniform", "segmentGranularity": "HOUR", "queryGranularity": "NONE"}
            },
            "inputFormat": {"type": "json"},
            "ioConfig": {"taskDuration": "PT1H"}
        })
    );
    assert_eq!(spec.plugin_config(), Value::Object(spec.plugin.config.clone()).to_string());
    let s = spec.supervisor.as_ref().unwrap();
    assert_eq!((s.stream_type, s.stream.as_str(), s.wrapped), (SourceType::Kafka, "metrics", true));
    assert_eq!((s.task_count, s.replicas, s.task_duration_ms), (1, 1, 3_600_000));
    assert_eq!((s.start_delay_ms, s.period_ms, s.completion_timeout_ms), (5_000, 30_000, 1_800_000));
    assert!(!s.use_earliest_offset && !s.suspended && s.context.is_none());
    assert_eq!(s.tuning.given, [("maxRowsPerSegment".to_string(), json!(5000000))].into());
    assert_eq!(s.tuning.offset_fetch_period_ms, 30_000);
    // The same spec unwrapped is the same ingestion.
    let mut flat = kafka_example()["spec"].clone();
    flat["type"] = json!("kafka");
    let unwrapped = parse(&flat).unwrap();
    assert!(!unwrapped.supervisor.as_ref().unwrap().wrapped);
    assert_eq!(unwrapped.plugin, spec.plugin);
    assert_eq!(unwrapped.params, spec.params);
    // A parsed spec survives the trip through JSON (as through a state store).
    let back: IngestionSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert!(back == spec);
}

/// `docs/ingestion/supervisor.md`'s Kinesis example (with the autoscaler), verbatim.
fn kinesis_example() -> Value {
    let metrics: Value = serde_json::from_str(METRICS).unwrap();
    json!({
      "type": "kinesis",
      "dataSchema": {
        "dataSource": "metrics-kinesis",
        "timestampSpec": {"column": "timestamp", "format": "auto"},
        "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["timestamp", "value"]},
        "metricsSpec": metrics,
        "granularitySpec": {"type": "uniform", "segmentGranularity": "HOUR", "queryGranularity": "NONE"}
      },
      "ioConfig": {
        "stream": "metrics",
        "autoScalerConfig": {
          "enableTaskAutoScaler": true, "taskCountMax": 6, "taskCountMin": 2,
          "minTriggerScaleActionFrequencyMillis": 600000, "autoScalerStrategy": "lagBased",
          "lagCollectionIntervalMillis": 30000, "lagCollectionRangeMillis": 600000, "scaleOutThreshold": 600000,
          "triggerScaleOutFractionThreshold": 0.3, "scaleInThreshold": 100000,
          "triggerScaleInFractionThreshold": 0.9, "scaleActionStartDelayMillis": 300000,
          "scaleActionPeriodMillis": 60000, "scaleInStep": 1, "scaleOutStep": 2
        },
        "inputFormat": {"type": "json"},
        "endpoint": "kinesis.us-east-1.amazonaws.com",
        "taskCount": 1,
        "replicas": 1,
        "taskDuration": "PT1H"
      },
      "tuningConfig": {"type": "kinesis", "maxRowsPerSegment": 5000000}
    })
}

#[test]
fn kinesis_documented_examples_are_taken_as_they_are() {
    let spec = parse(&kinesis_example()).unwrap();
    assert_eq!((spec.name.as_str(), spec.source_type), ("metrics-kinesis", SourceType::Kinesis));
    assert_eq!(
        spec.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
        [("region", "us-east-1"), ("stream", "metrics")],
        "an AWS endpoint names the region"
    );
    assert_eq!((spec.init_reset.clone(), spec.poll_timeout_ms), (StartPosition::Latest, 1000));
    let s = spec.supervisor.as_ref().unwrap();
    assert_eq!(s.auto_scaler_config.as_ref().unwrap()["taskCountMax"], 6);
    assert!(!s.wrapped);
    assert_eq!(spec.plugin.config["ioConfig"], json!({"taskDuration": "PT1H"}));

    // kinesis-ingestion.md's example: its dataSource is no valid sluice name
    // (names become directories and keys: lowercase only), and says so.
    let mut doc = json!({"type": "kinesis", "spec": {
        "ioConfig": {"type": "kinesis", "stream": "KinesisStream", "inputFormat": {"type": "json"},
                     "useEarliestSequenceNumber": true},
        "tuningConfig": {"type": "kinesis"},
        "dataSchema": {"dataSource": "KinesisStream", "timestampSpec": {"column": "timestamp", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["isRobot", "channel", {"type": "long", "name": "added"}]},
            "granularitySpec": {"queryGranularity": "none", "rollup": false, "segmentGranularity": "hour"}}}});
    let e = err(&doc);
    assert!(
        e.starts_with("invalid value for [spec.dataSchema.dataSource]: \"KinesisStream\": use 1-128 lowercase"),
        "{e}"
    );
    doc["spec"]["dataSchema"]["dataSource"] = json!("kinesis-stream");
    let spec = parse(&doc).unwrap();
    assert_eq!(spec.params["stream"], "KinesisStream");
    assert_eq!(spec.params["region"], "us-east-1", "Druid's default endpoint");
    assert_eq!(spec.init_reset, StartPosition::Earliest);
    assert!(!spec.plugin.config["dataSchema"].as_object().unwrap().contains_key("metricsSpec"), "only those given");
    // A local endpoint (an emulator) is the endpoint; the region is kept.
    doc["spec"]["ioConfig"]["endpoint"] = json!("http://localhost:4566");
    doc["spec"]["ioConfig"]["region"] = json!("eu-west-1");
    let spec = parse(&doc).unwrap();
    assert_eq!(
        (spec.params["endpoint_override"].as_str(), spec.params["region"].as_str()),
        ("http://localhost:4566", "eu-west-1")
    );
    doc["spec"]["ioConfig"]["endpoint"] = json!("kinesis.us-west-2.amazonaws.com");
    let e = err(&doc);
    assert!(e.contains("[spec.ioConfig.region]") && e.contains("us-west-2"), "{e}");
}

#[test]
fn a_legacy_parse_spec_becomes_the_new_form() {
    let metrics: Value = serde_json::from_str(METRICS).unwrap();
    // The Kafka example as Druid's docs wrote it before inputFormat.
    let legacy = json!({
      "type": "kafka",
      "dataSchema": {
        "dataSource": "metrics-kafka",
        "parser": {
          "type": "string",
          "parseSpec": {
            "format": "json",
            "timestampSpec": {"column": "timestamp", "format": "auto"},
            "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["timestamp", "value"]},
            "flattenSpec": {"useFieldDiscovery": true, "fields": [{"type": "path", "name": "n", "expr": "$.a.n"}]}
          }
        },
        "metricsSpec": metrics,
        "granularitySpec": {"type": "uniform", "segmentGranularity": "HOUR", "queryGranularity": "NONE"}
      },
      "tuningConfig": {"type": "kafka", "maxRowsPerSegment": 5000000},
      "ioConfig": {"topic": "metrics", "consumerProperties": {"bootstrap.servers": "localhost:9092"},
                   "taskCount": 1, "replicas": 1, "taskDuration": "PT1H"}
    });
    let spec = parse(&legacy).unwrap();
    assert_eq!(
        Value::Object(spec.plugin.config.clone()),
        json!({
            "dataSchema": {
                "timestampSpec": {"column": "timestamp", "format": "auto"},
                "dimensionsSpec": {"dimensions": [], "dimensionExclusions": ["timestamp", "value"]},
                "metricsSpec": metrics,
                "granularitySpec": {"type": "uniform", "segmentGranularity": "HOUR", "queryGranularity": "NONE"}
            },
            "inputFormat": {"type": "json", "flattenSpec": {"useFieldDiscovery": true,
                "fields": [{"type": "path", "name": "n", "expr": "$.a.n"}]}},
            "ioConfig": {"taskDuration": "PT1H"}
        })
    );
    let mut both = legacy.clone();
    both["ioConfig"]["inputFormat"] = json!({"type": "json"});
    let e = err(&both);
    assert!(e.contains("[ioConfig.inputFormat]") && e.contains("dataSchema.parser"), "{e}");
    let mut twice = legacy.clone();
    twice["dataSchema"]["timestampSpec"] = json!({"column": "ts"});
    let e = err(&twice);
    assert!(e.contains("[dataSchema.parser.parseSpec.timestampSpec]") && e.contains("dataSchema.timestampSpec"), "{e}");
    let mut csv = legacy;
    csv["dataSchema"]["parser"]["parseSpec"]["format"] = json!("csv");
    let e = err(&csv);
    assert!(e.contains("[dataSchema.parser.parseSpec.format]") && e.contains("supported: json"), "{e}");
}

#[test]
fn tuning_config_sets_the_error_policy_and_records_the_rest() {
    let mut v = kafka_example();
    v["spec"]["tuningConfig"] = json!({"type": "kafka", "maxParseExceptions": 5, "maxRowsInMemory": 150000,
        "intermediatePersistPeriod": "PT10M", "indexSpec": {"bitmap": {"type": "roaring"}},
        "resetOffsetAutomatically": true, "maxBytesInMemory": -1, "offsetFetchPeriod": "PT5S"});
    let spec = parse(&v).unwrap();
    assert_eq!((spec.error_strategy, spec.max_parse_exceptions), (ErrorStrategy::Drop, Some(5)));
    let t = &spec.supervisor.as_ref().unwrap().tuning;
    assert!(t.reset_offset_automatically && !t.report_parse_exceptions);
    assert_eq!((t.offset_fetch_period_ms, t.given.len()), (5_000, 7));
    assert_eq!(t.given["intermediatePersistPeriod"], "PT10M");
    v["spec"]["tuningConfig"]["reportParseExceptions"] = json!(true);
    let spec = parse(&v).unwrap();
    assert_eq!((spec.error_strategy, spec.max_parse_exceptions), (ErrorStrategy::Block, Some(0)), "as in Druid");
}

#[test]
fn the_file_extension_reads_a_file_stream() {
    let mut v = kafka_example()["spec"].clone();
    v["type"] = json!("file");
    v["ioConfig"] = json!({"stream": "events", "baseDirectory": "/data/streams", "useEarliestOffset": true,
        "inputFormat": {"type": "json"}, "taskDuration": "PT10M"});
    v["tuningConfig"]["type"] = json!("file");
    let spec = parse(&v).unwrap();
    assert_eq!(spec.source_type, SourceType::File);
    assert_eq!((spec.params["stream"].as_str(), spec.params["base_directory"].as_str()), ("events", "/data/streams"));
    assert_eq!((spec.init_reset.clone(), spec.task_duration_ms), (StartPosition::Earliest, 600_000));
    assert!(spec.source_fingerprint().starts_with("file stream /data/streams/events"));
    v["ioConfig"]["base_directory"] = json!("/x");
    assert!(matches!(parse(&v).unwrap_err(), SpecError::Duplicate(k) if k == "ioConfig.baseDirectory"));
    v["ioConfig"].as_object_mut().unwrap().remove("baseDirectory");
    assert_eq!(parse(&v).unwrap().params["base_directory"], "/x", "or base_directory, as in OpenSearch");
    v["ioConfig"].as_object_mut().unwrap().remove("base_directory");
    assert_eq!(parse(&v).unwrap_err(), SpecError::Missing("ioConfig.baseDirectory".into()));
}

#[test]
fn consumer_secrets_are_redacted_in_every_output() {
    let mut v = kafka_example();
    v["spec"]["ioConfig"]["consumerProperties"] = json!({"bootstrap.servers": "k:9093",
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "u",
        "sasl.password": "hunter2", "ssl.key.password": "keypw"});
    let spec = parse(&v).unwrap();
    assert_eq!(spec.params["sasl.password"], "hunter2", "the source gets the value");
    let debug = format!("{spec:?}");
    assert!(!debug.contains("hunter2") && !debug.contains("keypw") && debug.contains("SASL_SSL"), "{debug}");
    for body in [v.clone(), v["spec"].clone()] {
        let shown = redact_secrets(&body).to_string();
        assert!(!shown.contains("hunter2") && !shown.contains("keypw") && shown.contains("k:9093"), "{shown}");
        assert!(shown.contains(REDACTED));
    }
}

#[test]
fn the_name_is_the_data_source() {
    let mut wrapped = kafka_example();
    assert_eq!(body_name(&wrapped), Some(&json!("metrics-kafka")));
    assert_eq!(set_name(&mut wrapped, "metrics-kafka"), Ok(false));
    assert!(
        matches!(set_name(&mut wrapped, "other"), Err(crate::spec::NameConflict::Differs(v)) if v == "metrics-kafka")
    );
    wrapped["spec"]["dataSchema"].as_object_mut().unwrap().remove("dataSource");
    assert_eq!(body_name(&wrapped), None);
    assert_eq!(set_name(&mut wrapped, "from-file"), Ok(true));
    assert_eq!(parse(&wrapped).unwrap().name, "from-file");
    assert!(wrapped.get("name").is_none(), "no top-level name in a Druid spec");
    let mut named = kafka_example();
    named["name"] = json!("x");
    assert!(err(&named).starts_with("unknown key [name]; allowed: type, spec, dataSchema"));
}
