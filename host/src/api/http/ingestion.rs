//! Pull-based ingestion management: `POST /{index}/ingestion/_pause`,
//! `POST /{index}/ingestion/_resume` (optional `reset_settings`), and
//! `GET /{index}/ingestion/_state` (paged with `size` and `next_token`).
//!
//! Pause returns once every shard stopped committing; resume once the
//! resets are durable in the sinks (the manager's contracts).

use super::errors::HttpError;
use super::{Http, NODE, Params, blocking, index_name, json_body, number, ok};
use crate::engine::ShardStatus;
use crate::manager::{ResetMode, ResetRequest};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

/// OpenSearch's default page size for the state call.
const DEFAULT_STATE_PAGE: usize = 1000;

fn acknowledged() -> Response {
    ok(json!({"acknowledged": true, "shards_acknowledged": true, "error": ""}))
}

/// `POST /{index}/ingestion/_pause`: every shard.
pub(super) async fn pause(
    State(h): State<Http>,
    Path(index): Path<String>,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let (m, name) = (h.manager.clone(), index.clone());
    blocking(&index, move || m.pause(&name, &[])).await?;
    Ok(acknowledged())
}

/// `POST /{index}/ingestion/_resume`: every shard, first moving the pointers
/// of the (paused) shards the body's `reset_settings` name.
pub(super) async fn resume(
    State(h): State<Http>,
    Path(index): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let resets = reset_settings(json_body(&body)?)?;
    let (m, name) = (h.manager.clone(), index.clone());
    blocking(&index, move || m.resume(&name, &[], &resets)).await?;
    Ok(acknowledged())
}

/// `{"reset_settings": [{"shard": 0, "mode": "offset", "value": "5"}]}` as
/// the manager's resets. OpenSearch's modes are `offset` and `timestamp`;
/// sluice also takes `earliest` and `latest` (no `value` needed).
pub(super) fn reset_settings(body: Option<Value>) -> Result<Vec<ResetRequest>, HttpError> {
    let obj = match body {
        None => return Ok(vec![]),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(HttpError::parse("the resume body must be a JSON object")),
    };
    if let Some(key) = obj.keys().find(|k| *k != "reset_settings") {
        return Err(HttpError::parse(format!("unknown key [{key}] in the resume body; allowed: reset_settings")));
    }
    let list = match obj.get("reset_settings") {
        None => return Ok(vec![]),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(HttpError::parse("[reset_settings] must be an array")),
    };
    list.iter().enumerate().map(|(i, r)| reset(i, r)).collect()
}

fn reset(i: usize, r: &Value) -> Result<ResetRequest, HttpError> {
    let at = |what: &str| HttpError::parse(format!("[reset_settings][{i}]: {what}"));
    let obj = r.as_object().ok_or_else(|| at("must be an object"))?;
    if let Some(key) = obj.keys().find(|k| !["shard", "mode", "value"].contains(&k.as_str())) {
        return Err(at(&format!("unknown key [{key}]; allowed: shard, mode, value")));
    }
    let shard = obj
        .get("shard")
        .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|t| t.parse().ok())))
        .and_then(|s| u32::try_from(s).ok())
        .ok_or_else(|| at("[shard] is required: a shard number"))?;
    let mode = obj
        .get("mode")
        .and_then(Value::as_str)
        .ok_or_else(|| at("[mode] is required: offset or timestamp"))?
        .parse::<ResetMode>()
        .map_err(|e| at(&format!("[mode]: {e}")))?;
    let value = match obj.get("value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(at("[value] must be a string or a number")),
    };
    Ok(ResetRequest { shard, mode, value })
}

/// `GET /{index}/ingestion/_state?size=N&next_token=T`.
pub(super) async fn state(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let size = number(&params, "size")?.unwrap_or(DEFAULT_STATE_PAGE);
    if size == 0 {
        return Err(HttpError::bad_request("[size] must be greater than 0"));
    }
    let token = params.get("next_token").cloned();
    let (m, name) = (h.manager.clone(), index.clone());
    let status = blocking(&index, move || m.state(&name)).await?;
    let start = page_start(token.as_deref(), status.len())?;
    let end = start.saturating_add(size).min(status.len());
    let page: Vec<Value> = status[start..end].iter().map(shard_state).collect();
    let mut body = json!({
        "_shards": {"total": page.len(), "successful": page.len(), "failed": 0},
        "ingestion_state": { index: page },
    });
    if end < status.len() {
        body["next_page_token"] = json!(end.to_string());
    }
    Ok(ok(body))
}

/// Where a page starts: the token is the next shard's number.
pub(super) fn page_start(token: Option<&str>, shards: usize) -> Result<usize, HttpError> {
    match token {
        None | Some("") => Ok(0),
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|s| *s < shards)
            .ok_or_else(|| HttpError::bad_request(format!("[next_token] {t:?} is not one this index gave"))),
    }
}

/// One shard in OpenSearch's `ShardIngestionState` shape, plus sluice's
/// fields (committed pointer and position, live documents, idle, why blocked,
/// the last error).
fn shard_state(s: &ShardStatus) -> Value {
    let mut v = Map::new();
    v.insert("shard".into(), json!(s.shard));
    v.insert("poller_state".into(), json!(s.state));
    v.insert("error_policy".into(), json!(s.error_strategy.as_str()));
    v.insert("poller_paused".into(), json!(s.paused));
    v.insert("write_block_enabled".into(), json!(false));
    v.insert("is_primary".into(), json!(true));
    v.insert("node".into(), json!(NODE));
    v.insert("last_pointer".into(), json!(s.meta.last_pointer.as_ref().map(|p| p.to_string())));
    v.insert("committed_position".into(), json!(s.meta.resume.as_ref().map(|p| p.to_string())));
    v.insert("live_docs".into(), json!(s.meta.live_docs));
    v.insert("idle".into(), json!(s.idle));
    v.insert(
        "blocked".into(),
        json!(
            s.blocked.as_ref().map(|b| json!({"pointer": b.pointer.to_string(), "reason": b.reason, "cause": b.cause}))
        ),
    );
    v.insert(
        "last_error".into(),
        json!(s.last_error.as_ref().map(|e| json!({
            "pointer": e.pointer.as_ref().map(|p| p.to_string()),
            "message": e.message,
            "at_ms": e.at_ms,
        }))),
    );
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_settings_take_opensearchs_shape_and_name_what_is_wrong() {
        let body = json!({"reset_settings": [
            {"shard": 0, "mode": "offset", "value": "5"},
            {"shard": 2, "mode": "TIMESTAMP", "value": 1700000000000u64},
            {"shard": 1, "mode": "earliest"}
        ]});
        let r = reset_settings(Some(body)).unwrap();
        assert_eq!(r[0], ResetRequest { shard: 0, mode: ResetMode::Offset, value: Some("5".into()) });
        assert_eq!((r[1].mode, r[1].value.as_deref()), (ResetMode::Timestamp, Some("1700000000000")));
        assert_eq!((r[2].mode, r[2].value.as_deref()), (ResetMode::Earliest, None));
        assert!(reset_settings(None).unwrap().is_empty());
        assert!(reset_settings(Some(json!({}))).unwrap().is_empty());
        for (bad, needle) in [
            (json!({"resets": []}), "unknown key [resets]"),
            (json!({"reset_settings": {}}), "must be an array"),
            (json!({"reset_settings": [{"mode": "offset", "value": "1"}]}), "[reset_settings][0]: [shard] is required"),
            (json!({"reset_settings": [{"shard": 0, "mode": "sideways"}]}), "allowed: offset, timestamp"),
            (json!({"reset_settings": [{"shard": 0, "mode": "offset", "valeu": "1"}]}), "unknown key [valeu]"),
        ] {
            let e = reset_settings(Some(bad)).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.reason.contains(needle), "{} does not contain {needle}", e.reason);
        }
    }

    #[test]
    fn state_pages_start_at_the_token_the_last_page_gave() {
        assert_eq!(page_start(None, 3).unwrap(), 0);
        assert_eq!(page_start(Some("2"), 3).unwrap(), 2);
        for bad in ["3", "-1", "abc"] {
            assert!(page_start(Some(bad), 3).unwrap_err().reason.contains("[next_token]"));
        }
    }
}
