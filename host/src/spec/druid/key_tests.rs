//! Every error of a Druid spec names its full key; the top-level keys and
//! the `sluice` section.

use super::tests::kafka_example;
use crate::spec::{IngestionSpec, SinkType, SpecError};
use serde_json::{Value, json};

fn parse(v: &Value) -> Result<IngestionSpec, SpecError> {
    IngestionSpec::from_value(v)
}

fn err(v: &Value) -> String {
    parse(v).unwrap_err().to_string()
}

#[test]
fn every_error_names_its_key() {
    let cases: &[(&str, Value, &str)] = &[
        ("/spec/ioConfig/taskCount", json!(0), "[spec.ioConfig.taskCount]: 0 must be at least 1"),
        ("/spec/ioConfig/replicas", json!("two"), "[spec.ioConfig.replicas]"),
        ("/spec/ioConfig/taskDuration", json!("1h"), "[spec.ioConfig.taskDuration]: \"1h\" is not an ISO-8601 period"),
        ("/spec/ioConfig/taskDuration", json!("P1M"), "no fixed length"),
        (
            "/spec/ioConfig/taskCont",
            json!(1),
            "unknown key [spec.ioConfig.taskCont]; allowed: type, inputFormat, taskCount",
        ),
        ("/spec/ioConfig/topicPattern", json!("metrics-.*"), "[spec.ioConfig.topicPattern]: not supported by sluice"),
        (
            "/spec/ioConfig/inputFormat",
            json!({"type": "csv"}),
            "[spec.ioConfig.inputFormat.type]: \"csv\" is not supported; supported: json",
        ),
        (
            "/spec/ioConfig/inputFormat",
            json!({"type": "json", "flatten": {}}),
            "unknown key [spec.ioConfig.inputFormat.flatten]",
        ),
        ("/spec/ioConfig/pollTimeout", json!(0), "[spec.ioConfig.pollTimeout]"),
        ("/spec/ioConfig/useEarliestOffset", json!("yes"), "[spec.ioConfig.useEarliestOffset]: must be true or false"),
        (
            "/spec/ioConfig/lateMessageRejectionStartDateTime",
            json!("soon"),
            "[spec.ioConfig.lateMessageRejectionStartDateTime]",
        ),
        (
            "/spec/ioConfig/consumerProperties",
            json!({"group.id": "g"}),
            "missing required key [spec.ioConfig.consumerProperties.bootstrap.servers]",
        ),
        (
            "/spec/ioConfig/consumerProperties",
            json!({"bootstrap.servers": "b", "sasl.jaas.config": "x"}),
            "[spec.ioConfig.consumerProperties.sasl.jaas.config]: a Java client setting",
        ),
        (
            "/spec/ioConfig/consumerProperties",
            json!({"bootstrap.servers": "b", "druid.dynamic.config.provider": {}}),
            "[spec.ioConfig.consumerProperties.druid.dynamic.config.provider]",
        ),
        (
            "/spec/tuningConfig/type",
            json!("kinesis"),
            "[spec.tuningConfig.type]: \"kinesis\" does not match the supervisor type \"kafka\"",
        ),
        ("/spec/tuningConfig/maxRowsInMemory", json!("many"), "[spec.tuningConfig.maxRowsInMemory]"),
        ("/spec/tuningConfig/httpTimeout", json!(10), "[spec.tuningConfig.httpTimeout]: must be an ISO-8601 period"),
        ("/spec/tuningConfig/recordBufferSize", json!(10), "unknown key [spec.tuningConfig.recordBufferSize]"),
        ("/spec/dataSchema/metricsSpec", json!({}), "[spec.dataSchema.metricsSpec]: must be an array"),
        ("/spec/dataSchema/timestampSpec", json!("ts"), "[spec.dataSchema.timestampSpec]: must be an object"),
        ("/spec/dataSchema/projections", json!([]), "[spec.dataSchema.projections]: not supported by sluice"),
        (
            "/spec/dataSchema/parser",
            json!({"type": "avro_stream"}),
            "[spec.dataSchema.parser.type]: \"avro_stream\" is not supported; supported: string",
        ),
        ("/spec/extra", json!(1), "unknown key [spec.extra]; allowed: dataSchema, ioConfig, tuningConfig"),
        ("/type", json!("pulsar"), "[type]: \"pulsar\"; allowed: kafka, kinesis, file"),
        ("/suspended", json!("no"), "[suspended]: must be true or false"),
        ("/context", json!([]), "[context]: must be an object"),
        ("/ioConfig", json!({}), "[ioConfig]: given at the top and in spec"),
        ("/sluice", json!({"plugin": {"config": {}}}), "[sluice.plugin.config]: a Druid spec configures its plugin"),
        ("/sluice", json!({"shards": 0}), "[sluice.shards]: 0 must be at least 1"),
        ("/sluice", json!({"shard": 2}), "unknown key [sluice.shard]; allowed: plugin, sink, state, shards"),
    ];
    for (pointer, value, expected) in cases {
        let mut v = kafka_example();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(if parent.is_empty() { "" } else { parent }).unwrap()[key] = value.clone();
        let e = err(&v);
        assert!(e.contains(expected), "{pointer} = {value}: {e}");
    }
    let mut v = kafka_example();
    v["spec"]["ioConfig"]["lateMessageRejectionPeriod"] = json!("PT1H");
    v["spec"]["ioConfig"]["lateMessageRejectionStartDateTime"] = json!("2016-01-01T11:00Z");
    assert!(err(&v).contains("not both"), "{}", err(&v));
    v["spec"]["ioConfig"].as_object_mut().unwrap().remove("lateMessageRejectionPeriod");
    v["spec"]["ioConfig"]["earlyMessageRejectionPeriod"] = json!("PT2H");
    let spec = parse(&v).unwrap();
    let s = spec.supervisor.as_ref().unwrap();
    assert_eq!(
        (s.late_message_rejection_start_ms, s.early_message_rejection_period_ms),
        (Some(1_451_646_000_000), Some(7_200_000))
    );
    assert_eq!(
        spec.plugin.config["ioConfig"],
        json!({"taskDuration": "PT1H", "earlyMessageRejectionPeriod": "PT2H", "lateMessageRejectionStartDateTime": "2016-01-01T11:00Z"})
    );
    let mut v = kafka_example();
    v["spec"]["ioConfig"].as_object_mut().unwrap().remove("inputFormat");
    assert_eq!(parse(&v).unwrap_err(), SpecError::Missing("spec.ioConfig.inputFormat".into()));
}

#[test]
fn the_sluice_section_and_top_level_keys() {
    let mut v = kafka_example();
    v["suspended"] = json!(true);
    v["context"] = json!({"taskLockType": "APPEND"});
    v["sluice"] = json!({"shards": 4, "sink": {"type": "redis", "url": "redis://:pw@h:6379/0"},
        "plugin": {"version": "0.2.0", "limits": {"memory_mb": 64}}, "state": {"auto_save_interval": "1s"}});
    let spec = parse(&v).unwrap();
    assert_eq!(spec.shards, 4);
    assert!(matches!(&spec.sink, SinkType::Redis { url, .. } if url == "redis://:pw@h:6379/0"));
    assert_eq!((spec.plugin.name.as_str(), spec.plugin.version.as_deref()), ("druid", Some("0.2.0")));
    assert_eq!((spec.plugin.limits.memory_mb, spec.auto_save_interval_ms), (64, 1000));
    let s = spec.supervisor.as_ref().unwrap();
    assert!(s.suspended);
    assert_eq!(s.context.as_ref().unwrap()["taskLockType"], "APPEND");
    // `sluice run --plugin` names a component file: its stem is the plugin's name.
    v["sluice"]["plugin"] = json!({"path": "/p/my_druid.wasm"});
    let spec = parse(&v).unwrap();
    assert_eq!((spec.plugin.name.as_str(), spec.plugin.path.as_deref()), ("my_druid", Some("/p/my_druid.wasm")));
    assert!(spec.plugin.config.contains_key("dataSchema"));
    // `sluice.shards` is for Druid specs: an OpenSearch body has index.number_of_shards.
    let e = err(&json!({"name": "x", "settings": {"ingestion_source": {"type": "file"}}, "sluice": {"shards": 2}}));
    assert!(e.contains("unknown key [sluice.shards]; allowed: plugin, sink, state"), "{e}");
}
