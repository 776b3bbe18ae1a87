//! Indices: `PUT|GET|DELETE|HEAD /{index}`, `GET|PUT /{index}/_settings`,
//! `GET /{index}/_mapping`; and `GET /` and `GET /_cluster/health`.
//!
//! An index is an ingestion. The body of `PUT /{index}` is the spec (the
//! name comes from the URL); `GET` shows the spec the manager returns
//! (secrets redacted) in OpenSearch's shape: settings nested under `index`
//! with string values, `mappings`, `aliases`, plus a `sluice` section.

use super::errors::HttpError;
use super::{Http, NODE, Params, blocking, flag, index_name, json_body, ok};
use crate::manager::IngestionInfo;
use crate::spec::{NameConflict, flat_settings, set_name};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// `GET /` (and `HEAD /`, a client's ping).
pub(super) async fn info() -> Response {
    ok(json!({
        "name": NODE,
        "cluster_name": NODE,
        "cluster_uuid": "_na_",
        "version": {"distribution": "sluice", "number": env!("CARGO_PKG_VERSION"), "build_type": "sluice"},
        "tagline": "sluice: pull-based stream ingestion, with OpenSearch's ingestion REST calls",
    }))
}

/// `GET /_cluster/health`: the one call open without the token (for probes).
pub(super) async fn health() -> Response {
    ok(json!({
        "cluster_name": NODE,
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
    }))
}

/// `PUT /{index}`: creates the ingestion the body describes (the index
/// creation body; `name` comes from the URL). `?adopt_data=true` (sluice's)
/// takes over sinks left by an earlier index of the same name.
pub(super) async fn create(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let adopt = flag(&params, "adopt_data")?;
    let spec = creation_spec(&index, json_body(&body)?)?;
    let m = h.manager.clone();
    let info = blocking(&index, move || m.create_with(spec, adopt)).await?;
    Ok(ok(json!({"acknowledged": true, "shards_acknowledged": true, "index": info.name})))
}

/// The spec for `PUT /{index}`: the body with the URL's name.
pub(super) fn creation_spec(index: &str, body: Option<Value>) -> Result<Value, HttpError> {
    let mut spec = body.unwrap_or_else(|| Value::Object(Map::new()));
    match set_name(&mut spec, index) {
        Ok(_) => Ok(spec),
        Err(NameConflict::NotAnObject) => Err(HttpError::parse("the index body must be a JSON object")),
        Err(NameConflict::Differs(other)) => Err(HttpError::bad_request(format!(
            "the body's [name] {other} differs from the index in the URL [{index}]; leave it out"
        ))
        .with_index(index)),
    }
}

/// `GET /{index}`.
pub(super) async fn get_index(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let flat = flag(&params, "flat_settings")?;
    let (m, name) = (h.manager.clone(), index.clone());
    let info = blocking(&index, move || m.get(&name)).await?;
    let plugin = &info.plugin;
    let mut sluice = json!({
        "source_type": info.source_type,
        "plugin": {"name": plugin.name, "version": plugin.version, "sha256": plugin.sha256},
        "error_strategy": info.error_strategy.as_str(),
        "paused_shards": info.paused_shards,
        "start_error": info.start_error,
    });
    if let Some(section) = info.spec.get("sluice") {
        // The spec's own sluice section (plugin, sink), secrets redacted.
        sluice["spec"] = section.clone();
    }
    let body = json!({
        "aliases": {},
        "mappings": mappings(&info),
        "settings": settings(&info, flat)?,
        "sluice": sluice,
    });
    Ok(ok(json!({ index: body })))
}

/// `GET /{index}/_settings`.
pub(super) async fn get_settings(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let flat = flag(&params, "flat_settings")?;
    let (m, name) = (h.manager.clone(), index.clone());
    let info = blocking(&index, move || m.get(&name)).await?;
    Ok(ok(json!({ index: {"settings": settings(&info, flat)?} })))
}

/// `GET /{index}/_mapping`.
pub(super) async fn get_mapping(
    State(h): State<Http>,
    Path(index): Path<String>,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let (m, name) = (h.manager.clone(), index.clone());
    let info = blocking(&index, move || m.get(&name)).await?;
    Ok(ok(json!({ index: {"mappings": mappings(&info)} })))
}

fn mappings(info: &IngestionInfo) -> Value {
    info.spec.get("mappings").filter(|m| m.is_object()).cloned().unwrap_or_else(|| json!({}))
}

/// The spec's settings as OpenSearch shows them: canonical `index.*` keys
/// with string values, nested (or flat with `?flat_settings=true`), plus
/// the ones OpenSearch always shows.
fn settings(info: &IngestionInfo, flat: bool) -> Result<Value, HttpError> {
    let mut settings = flat_settings(info.spec.get("settings").unwrap_or(&Value::Null))
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", e.to_string()))?;
    settings.entry("index.number_of_shards".into()).or_insert_with(|| json!(info.shards));
    settings.insert("index.provided_name".into(), json!(info.name));
    settings.insert("index.creation_date".into(), json!(info.created_at_ms));
    let settings: BTreeMap<String, Value> =
        settings.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, stringify(v))).collect();
    if flat {
        return Ok(Value::Object(settings.into_iter().collect()));
    }
    let mut nested = Map::new();
    for (key, value) in settings {
        nest(&mut nested, "", &key, value);
    }
    Ok(Value::Object(nested))
}

/// OpenSearch shows every setting value as a string.
fn stringify(v: Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(stringify).collect()),
        other => other,
    }
}

/// Puts a dotted key into nested objects, as OpenSearch's structured
/// settings do: where a key is both a value and a prefix (`reset` and
/// `reset.value`), the longer one stays dotted beside the value.
fn nest(map: &mut Map<String, Value>, prefix: &str, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            let full = format!("{prefix}{key}");
            if let Some(Value::Object(inner)) = map.remove(&full) {
                for (k, v) in inner {
                    map.insert(format!("{full}.{k}"), v);
                }
            }
            map.insert(full, value);
        }
        Some((head, rest)) => {
            let full = format!("{prefix}{head}");
            match map.get_mut(&full) {
                None => {
                    let mut inner = Map::new();
                    nest(&mut inner, "", rest, value);
                    map.insert(full, Value::Object(inner));
                }
                Some(Value::Object(inner)) => nest(inner, "", rest, value),
                Some(_) => nest(map, &format!("{full}."), rest, value),
            }
        }
    }
}

/// `PUT /{index}/_settings`: dynamic settings (`error_strategy`,
/// `poll.max_batch_size`, `poll.timeout`) flat or nested, or wrapped in
/// `settings` as OpenSearch also takes them; `sluice.plugin.version`
/// (sluice's) swaps the plugin.
pub(super) async fn put_settings(
    State(h): State<Http>,
    Path(index): Path<String>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let update = settings_update(json_body(&body)?)?;
    let (m, name) = (h.manager.clone(), index.clone());
    blocking(&index, move || m.update(&name, update)).await?;
    Ok(ok(json!({"acknowledged": true})))
}

/// OpenSearch's settings body as the manager's update (`{"settings": ..., "sluice": ...}`).
pub(super) fn settings_update(body: Option<Value>) -> Result<Value, HttpError> {
    // The manager takes OpenSearch's settings bodies as they are (flat,
    // nested, or wrapped in `settings`) and says what is wrong with one.
    match body {
        Some(Value::Object(o)) => Ok(Value::Object(o)),
        None => Err(HttpError::bad_request("no settings to update: the body is empty")),
        Some(_) => Err(HttpError::parse("the settings body must be a JSON object")),
    }
}

/// `DELETE /{index}`: stops the ingestion and forgets it. Its documents and
/// checkpoints stay (`data_left` says where) unless `?delete_data=true`
/// (sluice's): a new index of the same name refuses kept data until it is
/// deleted or adopted (`PUT /{index}?adopt_data=true`).
pub(super) async fn delete(
    State(h): State<Http>,
    Path(index): Path<String>,
    params: Params,
    method: Method,
    uri: Uri,
) -> Result<Response, HttpError> {
    let index = index_name(&index, &method, uri.path())?;
    let delete_data = flag(&params, "delete_data")?;
    let (m, name) = (h.manager.clone(), index.clone());
    let outcome = blocking(&index, move || m.delete(&name, delete_data)).await?;
    let mut body = json!({"acknowledged": true});
    if let Some(left) = outcome.data_left {
        body["data_left"] = json!(left);
    }
    Ok(ok(body))
}

/// `HEAD /{index}`: 200 if it exists, 404 if not; no body.
pub(super) async fn exists(State(h): State<Http>, Path(index): Path<String>) -> Response {
    if index.starts_with('_') || index.contains([',', '*']) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let (m, name) = (h.manager.clone(), index.clone());
    match blocking(&index, move || m.get(&name)).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => e.status.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_nest_like_opensearchs_and_keep_clashing_keys_dotted() {
        let mut m = Map::new();
        for (k, v) in [
            ("index.ingestion_source.pointer.init.reset", "earliest"),
            ("index.ingestion_source.pointer.init.reset.value", "5"),
            ("index.ingestion_source.type", "file"),
            ("index.number_of_shards", "2"),
        ] {
            nest(&mut m, "", k, json!(v));
        }
        assert_eq!(
            Value::Object(m),
            json!({"index": {
                "ingestion_source": {"pointer": {"init": {"reset": "earliest", "reset.value": "5"}}, "type": "file"},
                "number_of_shards": "2"
            }})
        );
        // The other order: the object already there is made dotted.
        let mut m = Map::new();
        nest(&mut m, "", "a.b.c", json!("1"));
        nest(&mut m, "", "a.b", json!("2"));
        assert_eq!(Value::Object(m), json!({"a": {"b": "2", "b.c": "1"}}));
        assert_eq!(stringify(json!([1, true, "x"])), json!(["1", "true", "x"]));
    }

    #[test]
    fn the_index_name_comes_from_the_url() {
        assert_eq!(creation_spec("logs", None).unwrap(), json!({"name": "logs"}));
        let spec = creation_spec("logs", Some(json!({"settings": {}, "name": "logs"}))).unwrap();
        assert_eq!(spec["name"], "logs");
        let e = creation_spec("logs", Some(json!({"name": "other"}))).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.reason.contains("\"other\"") && e.reason.contains("[logs]"), "{}", e.reason);
        assert_eq!(creation_spec("logs", Some(json!([1]))).unwrap_err().kind, "parse_exception");
    }

    #[test]
    fn settings_bodies_of_every_form_go_to_the_manager_as_they_are() {
        // Flat, nested, wrapped and sluice's plugin swap: the manager reads
        // each (manager/tests.rs: update_takes_opensearchs_settings_bodies_...,
        // which also refuses a mixed body naming [index.x] and an empty one).
        for body in [
            json!({"index.ingestion_source.error_strategy": "DROP"}),
            json!({"index": {"ingestion_source": {"error_strategy": "BLOCK"}}}),
            json!({"settings": {"index.ingestion_source.poll.timeout": 5}}),
            json!({"sluice": {"plugin": {"version": "2"}}}),
        ] {
            assert_eq!(settings_update(Some(body.clone())).unwrap(), body);
        }
        assert!(settings_update(None).unwrap_err().reason.contains("no settings"));
        assert_eq!(settings_update(Some(json!([1]))).unwrap_err().kind, "parse_exception");
    }
}
