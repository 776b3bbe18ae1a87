//! Statistics: `GET /{index}/_stats` and `GET /_nodes/stats[/indices]`,
//! each shard carrying `polling_ingest_stats` with OpenSearch's field names
//! ([`crate::stats::PollingIngestStats`]) and `docs.count` (live documents).
//!
//! `level` is OpenSearch's: `shards` shows each shard. `/{index}/_stats`
//! defaults to `shards` (sluice's indices are all pull-based: the shards
//! are the point); `/_nodes/stats` defaults to `node`, as OpenSearch does.

use super::errors::HttpError;
use super::{Http, NODE, Params, blocking, index_name, ok};
use crate::engine::ShardStatus;
use crate::manager::{Manager, ManagerError};
use crate::stats::PollingIngestStats;
use axum::extract::{Path, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Cluster,
    Node,
    Indices,
    Shards,
}

fn level(params: &Params, default: Level, allowed: &[(&str, Level)]) -> Result<Level, HttpError> {
    let Some(text) = params.get("level") else { return Ok(default) };
    allowed.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)).map(|(_, l)| *l).ok_or_else(|| {
        let names: Vec<String> = allowed.iter().map(|(n, _)| format!("[{n}]")).collect();
        HttpError::bad_request(format!("level parameter must be one of {} but was [{text}]", names.join(" or ")))
    })
}

/// One index's shards: state (live documents) and stats, read together.
struct IndexStats {
    name: String,
    shards: Vec<(ShardStatus, PollingIngestStats)>,
}

impl IndexStats {
    fn read(manager: &Manager, name: &str) -> Result<IndexStats, ManagerError> {
        let state = manager.state(name)?;
        let stats = manager.stats(name)?;
        let shards = state.into_iter().zip(stats).map(|(s, (_, p))| (s, p)).collect();
        Ok(IndexStats { name: name.to_string(), shards })
    }

    fn docs(&self) -> u64 {
        self.shards.iter().map(|(s, _)| s.meta.live_docs).sum()
    }

    /// One shard as OpenSearch's `ShardStats`.
    fn shard(status: &ShardStatus, stats: &PollingIngestStats) -> Value {
        let mut v = Map::new();
        v.insert("routing".into(), json!({"state": "STARTED", "primary": true, "node": NODE, "relocating_node": null}));
        v.insert("docs".into(), json!({"count": status.meta.live_docs}));
        v.insert("polling_ingest_stats".into(), json!(stats));
        Value::Object(v)
    }
}

/// `GET /{index}/_stats`.
pub(super) async fn index(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let allowed = [("cluster", Level::Cluster), ("indices", Level::Indices), ("shards", Level::Shards)];
    let level = level(&params, Level::Shards, &allowed)?;
    let (m, name) = (h.manager.clone(), index.clone());
    let stats = blocking(&index, move || IndexStats::read(&m, &name)).await?;
    let n = stats.shards.len();
    let docs = json!({"docs": {"count": stats.docs()}});
    let mut body = json!({
        "_shards": {"total": n, "successful": n, "failed": 0},
        "_all": {"primaries": docs, "total": docs},
    });
    if level != Level::Cluster {
        let mut entry = json!({"primaries": docs, "total": docs});
        if level == Level::Shards {
            let shards: Map<String, Value> =
                stats.shards.iter().map(|(s, p)| (s.shard.to_string(), json!([IndexStats::shard(s, p)]))).collect();
            entry["shards"] = Value::Object(shards);
        }
        body["indices"] = json!({ stats.name.clone(): entry });
    }
    Ok(ok(body))
}

/// `GET /_nodes/stats`.
pub(super) async fn nodes(State(h): State<Http>, params: Params) -> Result<Response, HttpError> {
    node_stats(h, params).await
}

/// `GET /_nodes/stats/{metric}`: `indices` (the only metric sluice has) or `_all`.
pub(super) async fn nodes_metric(
    State(h): State<Http>,
    Path(metric): Path<String>,
    params: Params,
) -> Result<Response, HttpError> {
    if metric.split(',').any(|m| m != "indices" && m != "_all") {
        return Err(HttpError::bad_request(format!(
            "sluice's node stats have the [indices] metric only (with polling_ingest_stats), not [{metric}]"
        )));
    }
    node_stats(h, params).await
}

async fn node_stats(h: Http, params: Params) -> Result<Response, HttpError> {
    let allowed = [("node", Level::Node), ("indices", Level::Indices), ("shards", Level::Shards)];
    let level = level(&params, Level::Node, &allowed)?;
    let m = h.manager.clone();
    let all = blocking("_nodes", move || {
        // An index that is not running has no shards to show.
        Ok(m.list().iter().filter_map(|i| IndexStats::read(&m, &i.name).ok()).collect::<Vec<_>>())
    })
    .await?;
    let mut indices = json!({"docs": {"count": all.iter().map(IndexStats::docs).sum::<u64>()}});
    match level {
        Level::Indices => {
            let per: Map<String, Value> =
                all.iter().map(|i| (i.name.clone(), json!({"docs": {"count": i.docs()}}))).collect();
            indices["indices"] = Value::Object(per);
        }
        Level::Shards => {
            let per: Map<String, Value> = all
                .iter()
                .map(|i| {
                    let shards: Vec<Value> =
                        i.shards.iter().map(|(s, p)| json!({ s.shard.to_string(): IndexStats::shard(s, p) })).collect();
                    (i.name.clone(), Value::Array(shards))
                })
                .collect();
            indices["shards"] = Value::Object(per);
        }
        Level::Node | Level::Cluster => {}
    }
    Ok(ok(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": NODE,
        "nodes": { NODE: {"name": NODE, "timestamp": crate::util::now_ms(), "indices": indices} },
    })))
}
