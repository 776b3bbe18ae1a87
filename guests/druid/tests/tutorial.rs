//! Druid's roll-up tutorial (`docs/tutorials/tutorial-rollup.md`): its
//! events, decoded and folded as a sink folds them, give exactly the rows
//! the tutorial shows.

mod common;

use common::{Table, message, op, plugin};
use serde_json::Value as J;
use sluice_plugin_sdk::{Aggregator, Decoded, Plugin};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(name: &str) -> J {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn events() -> Vec<String> {
    fixture("rollup-data.json").lines().map(str::to_owned).collect()
}

#[test]
fn the_config_fixture_is_the_tutorial_spec() {
    let spec = json("rollup-index.json");
    let config = json("rollup-config.json");
    assert_eq!(config["dataSchema"], spec["spec"]["dataSchema"]);
    assert_eq!(config["inputFormat"], spec["spec"]["ioConfig"]["inputFormat"]);
    assert_eq!(config.as_object().unwrap().len(), 2);
    assert_eq!(events().len(), 9);
}

#[test]
fn tutorial_rows() {
    let p = plugin(&fixture("rollup-config.json"));
    let mut table = Table::default();
    for (i, event) in events().iter().enumerate() {
        let m = message(event, common::REFERENCE);
        match p.decode(&m) {
            Decoded::Rows(rows) if rows.len() == 1 => table.apply(&common::ops_of(vec![], rows)[0]),
            other => panic!("event {i}: {other:?}"),
        }
    }
    assert_eq!(J::Array(table.rows()), json("rollup-expected.json"));
}

#[test]
fn any_order_gives_the_same_rows() {
    let p = plugin(&fixture("rollup-config.json"));
    let events = events();
    let forward = common::fold(&p, events.iter().map(String::as_str));
    let backward = common::fold(&p, events.iter().rev().map(String::as_str));
    assert_eq!(forward, backward);
    assert_eq!(J::Array(forward), json("rollup-expected.json"));
}

#[test]
fn the_first_event_operation() {
    let p = plugin(&fixture("rollup-config.json"));
    assert_eq!(
        op(&p, &events()[0]),
        common::Op {
            id: Some(r#"["2018-01-01T01:01:00.000Z","1.1.1.1","2.2.2.2"]"#.to_owned()),
            version: None,
            op_type: common::Kind::Merge,
            source: Some(
                r#"{"__time":"2018-01-01T01:01:00.000Z","srcIP":"1.1.1.1","dstIP":"2.2.2.2","count":1,"packets":20,"bytes":9024}"#
                    .to_owned()
            ),
            aggregators: vec![
                ("count".to_owned(), Aggregator::Count),
                ("packets".to_owned(), Aggregator::LongSum),
                ("bytes".to_owned(), Aggregator::LongSum),
            ],
            // 2018-01-01T01:01:35Z: the event's own time, before truncation.
            event_time_ms: Some(1_514_768_495_000),
        }
    );
}

#[test]
fn without_rollup_every_event_is_a_row() {
    let mut config = json("rollup-config.json");
    config["dataSchema"]["granularitySpec"]["rollup"] = J::Bool(false);
    let p = plugin(&config.to_string());
    let first = op(&p, &events()[0]);
    assert_eq!(
        first,
        common::Op {
            id: None,
            version: None,
            op_type: common::Kind::Index,
            source: Some(
                r#"{"__time":"2018-01-01T01:01:00.000Z","srcIP":"1.1.1.1","dstIP":"2.2.2.2","count":1,"packets":20,"bytes":9024}"#
                    .to_owned()
            ),
            aggregators: vec![],
            event_time_ms: None,
        }
    );
    let rows = common::fold(&p, events().iter().map(String::as_str));
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|r| r["count"] == 1));
    assert_eq!(rows.iter().map(|r| r["packets"].as_i64().unwrap()).sum::<i64>(), 923);
}
