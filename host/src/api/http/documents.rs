//! Documents: `GET /{index}/_doc/{id}`, `GET|POST /{index}/_count`,
//! `GET|POST /{index}/_search`.
//!
//! What a user needs to look at the data, not full-text search: the
//! queries are `match_all`, `ids`, and `term`/`terms` on `_id`; hits come
//! in `_id` order (then shard), paged with `size`/`from` or `search_after`
//! on `_id`. Anything else is a 400 that says what is supported.

use super::errors::HttpError;
use super::{Http, Params, blocking, index_name, json_body, number, ok};
use crate::manager::{DocPage, DocQuery, DocSearch};
use crate::sink::StoredDoc;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::time::Instant;

const SUPPORTED_QUERIES: &str = "match_all, ids, and term or terms on _id";
const SEARCH_KEYS: &str = "query, size, from, search_after, sort, version, track_total_hits, timeout";

/// A stored document's `_source` as JSON (sources are JSON text; anything
/// else is shown as a string).
fn source(doc: &StoredDoc) -> Value {
    serde_json::from_slice(&doc.source).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&doc.source).into()))
}

/// `GET /{index}/_doc/{id}`: `found` and `_source`, `_version` when the
/// document has an external version. No `_seq_no`/`_primary_term`: sluice
/// has none to give.
pub(super) async fn get(
    State(h): State<Http>,
    Path((index, id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let (m, name, key) = (h.manager.clone(), index.clone(), id.clone());
    let found = blocking(&index, move || m.find_document(&name, &key)).await?;
    let Some((_, doc)) = found else {
        return Ok(super::json_response(StatusCode::NOT_FOUND, &json!({"_index": index, "_id": id, "found": false})));
    };
    let mut body = json!({"_index": index, "_id": id, "found": true, "_source": source(&doc)});
    if let Some(v) = doc.version {
        body["_version"] = json!(v);
    }
    Ok(ok(body))
}

/// `GET|POST /{index}/_count`, with an optional `{"query": ...}`.
pub(super) async fn count(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    if params.contains_key("q") {
        return Err(HttpError::bad_request(format!(
            "[q] (query strings) is not supported; send a body with {SUPPORTED_QUERIES}"
        )));
    }
    let query = match json_body(&body)? {
        None => DocQuery::All,
        Some(Value::Object(o)) => {
            if let Some(key) = o.keys().find(|k| *k != "query") {
                return Err(HttpError::parse(format!("unknown key [{key}] in the count body; allowed: query")));
            }
            o.get("query").map(doc_query).transpose()?.unwrap_or(DocQuery::All)
        }
        Some(_) => return Err(HttpError::parse("the count body must be a JSON object")),
    };
    let (m, name) = (h.manager.clone(), index.clone());
    let found = blocking(&index, move || m.search_documents(&name, &query, &DocPage::default())).await?;
    Ok(ok(json!({"count": found.total, "_shards": shards(&found)})))
}

fn shards(found: &DocSearch) -> Value {
    json!({"total": found.shards, "successful": found.shards, "skipped": 0, "failed": 0})
}

/// What a `_search` asks for.
#[derive(Debug, PartialEq)]
pub(super) struct SearchRequest {
    pub query: DocQuery,
    pub page: DocPage,
    /// `sort` on `_id` was given: hits carry `sort` and no score.
    pub sorted: bool,
    pub version: bool,
}

/// `GET|POST /{index}/_search`.
pub(super) async fn search(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, HttpError> {
    let started = Instant::now();
    let index = index_name(&index, &method, uri.path())?;
    if params.contains_key("q") {
        return Err(HttpError::bad_request(format!(
            "[q] (query strings) is not supported; send a body with {SUPPORTED_QUERIES}"
        )));
    }
    let mut request = search_request(json_body(&body)?)?;
    if let Some(size) = number(&params, "size")? {
        request.page.size = size;
    }
    if let Some(from) = number(&params, "from")? {
        request.page.from = from;
    }
    let SearchRequest { query, page, sorted, version } = request;
    let (m, name) = (h.manager.clone(), index.clone());
    let found = blocking(&index, move || m.search_documents(&name, &query, &page)).await?;
    let hits: Vec<Value> = found
        .hits
        .iter()
        .map(|hit| {
            let mut v = Map::new();
            v.insert("_index".into(), json!(index));
            v.insert("_id".into(), json!(hit.id));
            v.insert("_score".into(), if sorted { Value::Null } else { json!(1.0) });
            if version && let Some(ver) = hit.doc.version {
                v.insert("_version".into(), json!(ver));
            }
            v.insert("_source".into(), source(&hit.doc));
            if sorted {
                v.insert("sort".into(), json!([hit.id]));
            }
            Value::Object(v)
        })
        .collect();
    let max_score = if sorted || hits.is_empty() { Value::Null } else { json!(1.0) };
    Ok(ok(json!({
        "took": started.elapsed().as_millis() as u64,
        "timed_out": false,
        "_shards": shards(&found),
        "hits": {"total": {"value": found.total, "relation": "eq"}, "max_score": max_score, "hits": hits},
    })))
}

/// A `_search` body as the manager's query and page.
pub(super) fn search_request(body: Option<Value>) -> Result<SearchRequest, HttpError> {
    let obj = match body {
        None => Map::new(),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(HttpError::parse("the search body must be a JSON object")),
    };
    if let Some(key) = obj.keys().find(|k| !SEARCH_KEYS.split(", ").any(|s| s == k.as_str())) {
        return Err(HttpError::bad_request(format!(
            "sluice's _search does not support [{key}]; it takes {SEARCH_KEYS}"
        )));
    }
    let count = |key: &str, default: usize| -> Result<usize, HttpError> {
        match obj.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| HttpError::parse(format!("[{key}] must be a non-negative integer"))),
        }
    };
    let sorted = match obj.get("sort") {
        None => false,
        Some(sort) => {
            check_sort(sort)?;
            true
        }
    };
    let after = match obj.get("search_after") {
        None => None,
        Some(Value::Array(values)) if values.len() == 1 => match &values[0] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => return Err(HttpError::parse("[search_after] must hold the last hit's _id")),
        },
        Some(_) => return Err(HttpError::parse("[search_after] must be an array of one _id (hits sort by _id)")),
    };
    Ok(SearchRequest {
        query: obj.get("query").map(doc_query).transpose()?.unwrap_or(DocQuery::All),
        page: DocPage { after, from: count("from", 0)?, size: count("size", 10)? },
        sorted,
        version: obj.get("version").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// `sort` may only be `_id` ascending (hits always come in that order).
fn check_sort(sort: &Value) -> Result<(), HttpError> {
    let refuse = || {
        HttpError::bad_request("sluice sorts hits by _id ascending only: [sort] may be \"_id\" or {\"_id\": \"asc\"}")
    };
    let items = match sort {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    for item in &items {
        match item {
            Value::String(s) if s == "_id" => {}
            Value::Object(o) if o.len() == 1 => match o.get("_id") {
                Some(Value::String(order)) if order.eq_ignore_ascii_case("asc") => {}
                Some(Value::Object(spec))
                    if spec.get("order").is_none_or(|o| o.as_str().is_some_and(|o| o.eq_ignore_ascii_case("asc"))) => {}
                _ => return Err(refuse()),
            },
            _ => return Err(refuse()),
        }
    }
    Ok(())
}

/// A query as the manager's [`DocQuery`].
pub(super) fn doc_query(query: &Value) -> Result<DocQuery, HttpError> {
    let unsupported = |what: &str| HttpError::bad_request(format!("sluice supports {SUPPORTED_QUERIES}; not {what}"));
    let obj = query.as_object().ok_or_else(|| HttpError::parse("[query] must be an object"))?;
    let (kind, body) = match obj.iter().next() {
        Some(entry) if obj.len() == 1 => entry,
        _ => return Err(HttpError::parse("[query] must hold exactly one query")),
    };
    let id_text = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(HttpError::parse(format!("[{kind}] values must be document ids"))),
    };
    match kind.as_str() {
        "match_all" => Ok(DocQuery::All),
        "ids" => match body.get("values") {
            Some(Value::Array(values)) => Ok(DocQuery::Ids(values.iter().map(id_text).collect::<Result<_, _>>()?)),
            _ => Err(HttpError::parse("[ids] takes {\"values\": [ids]}")),
        },
        "term" | "terms" => {
            let fields = body.as_object().ok_or_else(|| HttpError::parse(format!("[{kind}] must be an object")))?;
            let Some((field, value)) = fields.iter().next().filter(|_| fields.len() == 1) else {
                return Err(HttpError::parse(format!("[{kind}] must name one field")));
            };
            if field != "_id" {
                return Err(unsupported(&format!("[{kind}] on [{field}]")));
            }
            let values = match (kind.as_str(), value) {
                ("term", Value::Object(o)) => vec![
                    o.get("value").ok_or_else(|| HttpError::parse("[term] takes {\"_id\": {\"value\": id}}"))?.clone(),
                ],
                ("term", v) => vec![v.clone()],
                ("terms", Value::Array(a)) => a.clone(),
                _ => return Err(HttpError::parse("[terms] takes {\"_id\": [ids]}")),
            };
            Ok(DocQuery::Ids(values.iter().map(id_text).collect::<Result<_, _>>()?))
        }
        other => Err(unsupported(&format!("[{other}]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_queries_become_the_managers_and_others_are_named() {
        assert_eq!(doc_query(&json!({"match_all": {}})).unwrap(), DocQuery::All);
        let ids = |v: &[&str]| DocQuery::Ids(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(doc_query(&json!({"ids": {"values": ["a", 7]}})).unwrap(), ids(&["a", "7"]));
        assert_eq!(doc_query(&json!({"term": {"_id": "a"}})).unwrap(), ids(&["a"]));
        assert_eq!(doc_query(&json!({"term": {"_id": {"value": "b"}}})).unwrap(), ids(&["b"]));
        assert_eq!(doc_query(&json!({"terms": {"_id": ["a", "b"]}})).unwrap(), ids(&["a", "b"]));
        for (bad, needle) in [
            (json!({"match": {"name": "x"}}), "not [match]"),
            (json!({"term": {"name": "x"}}), "not [term] on [name]"),
            (json!({"bool": {}}), "match_all, ids, and term or terms on _id"),
            (json!({"ids": {}}), "[ids] takes"),
            (json!({"match_all": {}, "ids": {}}), "exactly one query"),
        ] {
            let e = doc_query(&bad).unwrap_err();
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.reason.contains(needle), "{} does not contain {needle}", e.reason);
        }
    }

    #[test]
    fn search_bodies_give_the_page_and_refuse_what_is_not_supported() {
        let r = search_request(None).unwrap();
        assert_eq!((r.query, r.page, r.sorted), (DocQuery::All, DocPage { after: None, from: 0, size: 10 }, false));
        let r = search_request(Some(json!({
            "query": {"ids": {"values": ["x"]}}, "size": 3, "from": 2, "sort": [{"_id": "asc"}], "search_after": ["k"],
            "track_total_hits": true, "version": true
        })))
        .unwrap();
        assert_eq!(r.page, DocPage { after: Some("k".into()), from: 2, size: 3 });
        assert!(r.sorted && r.version);
        assert!(search_request(Some(json!({"sort": "_id"}))).unwrap().sorted);
        for (bad, needle) in [
            (json!({"aggs": {}}), "does not support [aggs]"),
            (json!({"sort": [{"name": "asc"}]}), "by _id ascending only"),
            (json!({"sort": {"_id": "desc"}}), "by _id ascending only"),
            (json!({"search_after": ["a", "b"]}), "[search_after]"),
            (json!({"size": -1}), "[size]"),
        ] {
            let e = search_request(Some(bad)).unwrap_err();
            assert!(e.reason.contains(needle), "{} does not contain {needle}", e.reason);
        }
    }
}
