//! Druid's supervisor API under `/druid/indexer/v1/supervisor`, as Druid's
//! `SupervisorResource` answers it: submit (create or replace), list (ids,
//! `?full`, `?state=true`), the spec, status, health, row stats and history
//! of one, suspend, resume, reset, resetOffsets, terminate (and its alias
//! shutdown), and suspendAll, resumeAll, terminateAll.
//!
//! A thin adapter like the rest: each handler parses, makes one manager
//! call and converts the result; errors are Druid's `{"error": ...}` with
//! its status codes (`errors::druid`). `druid_shapes.rs` holds the body
//! and response conversions. Specs come back with secrets redacted (the
//! manager's); request bodies are never logged or echoed.

use super::druid_shapes::{list_entry, partition_offsets, stats_body};
use super::errors::{self, DruidError};
use super::{Http, Params, json_body, json_response, ok, on_blocking_pool};
use crate::manager::ManagerError;
use crate::util::{now_ms, rfc3339};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

const BASE: &str = "/druid/indexer/v1/supervisor";

/// Every Druid route (the caller puts them behind the bearer token).
pub(super) fn routes() -> Router<Http> {
    let at = |path: &str| format!("{BASE}{path}");
    Router::new()
        .route(BASE, get(list).post(submit))
        .route(&at("/history"), get(all_history))
        .route(&at("/suspendAll"), post(suspend_all))
        .route(&at("/resumeAll"), post(resume_all))
        .route(&at("/terminateAll"), post(terminate_all))
        .route(&at("/{id}"), get(spec))
        .route(&at("/{id}/status"), get(status))
        .route(&at("/{id}/health"), get(health))
        .route(&at("/{id}/stats"), get(stats))
        .route(&at("/{id}/history"), get(history))
        .route(&at("/{id}/suspend"), post(suspend))
        .route(&at("/{id}/resume"), post(resume))
        .route(&at("/{id}/reset"), post(reset))
        .route(&at("/{id}/resetOffsets"), post(reset_offsets))
        .route(&at("/{id}/terminate"), post(terminate))
        .route(&at("/{id}/shutdown"), post(terminate))
}

/// [`on_blocking_pool`]; an error becomes Druid's for `id`.
async fn call<T, F>(id: &str, f: F) -> Result<T, DruidError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ManagerError> + Send + 'static,
{
    on_blocking_pool(f)
        .await
        .map_err(|e| DruidError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?
        .map_err(|e| errors::druid(e, id))
}

/// A JSON body (the error names the position, never the text).
fn body(bytes: &Bytes) -> Result<Option<Value>, DruidError> {
    json_body(bytes).map_err(|e| DruidError::bad_request(e.reason))
}

fn id_response(id: &str) -> Response {
    ok(json!({ "id": id }))
}

fn success() -> Response {
    ok(json!({"status": "success"}))
}

/// `POST /druid/indexer/v1/supervisor`: creates the supervisor of the
/// spec's dataSource, or switches the running one to the spec from the
/// offsets it reached (an unchanged spec changes nothing, which is what
/// Druid's `?skipRestartIfUnmodified=true` asks).
async fn submit(State(h): State<Http>, bytes: Bytes) -> Result<Response, DruidError> {
    let spec =
        body(&bytes)?.ok_or_else(|| DruidError::bad_request("the request body is empty: give a supervisor spec"))?;
    let m = h.manager.clone();
    let (info, _) = call("", move || m.submit_supervisor(spec)).await?;
    Ok(id_response(&info.name))
}

/// `GET /druid/indexer/v1/supervisor`: the ids; `?full` (any value, as in
/// Druid) adds each one's state and spec, `?state=true` its state.
async fn list(State(h): State<Http>, params: Params) -> Result<Response, DruidError> {
    let full = params.contains_key("full");
    let state = params.get("state").is_some_and(|s| s.eq_ignore_ascii_case("true"));
    let m = h.manager.clone();
    let all = call("", move || m.list_supervisors()).await?;
    let body: Vec<Value> = if full || state {
        all.iter().map(|s| list_entry(s, full)).collect()
    } else {
        all.into_iter().map(|s| Value::String(s.id)).collect()
    };
    Ok(ok(Value::Array(body)))
}

/// `GET .../{id}`: the spec as submitted (with the shard count sluice
/// resolved and the `suspended` flag), secrets redacted.
async fn spec(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    Ok(ok(call(&id, move || m.get_supervisor(&name)).await?.spec))
}

/// `GET .../{id}/status`: Druid's supervisor report.
async fn status(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    let status = call(&id, move || m.supervisor_status(&name)).await?;
    Ok(ok(json!({"id": id, "generationTime": rfc3339(now_ms()), "payload": status})))
}

/// `GET .../{id}/health`: 200 `{"healthy": true}`, or 503 with false.
async fn health(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    let status = call(&id, move || m.supervisor_status(&name)).await.map_err(|e| match e.status {
        StatusCode::NOT_FOUND => {
            DruidError::new(StatusCode::NOT_FOUND, format!("[{id}] does not exist or health check not implemented"))
        }
        _ => e,
    })?;
    let code = if status.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok(json_response(code, &json!({"healthy": status.healthy})))
}

/// `GET .../{id}/stats`: row counters per task group and task.
async fn stats(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    Ok(ok(stats_body(&call(&id, move || m.supervisor_task_stats(&name)).await?)))
}

/// `GET .../{id}/history`: every spec version, newest first; a terminated
/// supervisor's too (its last version is Druid's tombstone).
async fn history(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    let no_history = || DruidError::new(StatusCode::NOT_FOUND, format!("No history for [{id}]."));
    let versions = call(&id, move || m.supervisor_history(&name)).await.map_err(|e| match e.status {
        StatusCode::NOT_FOUND => no_history(),
        _ => e,
    })?;
    if versions.is_empty() {
        return Err(no_history());
    }
    Ok(ok(json!(versions)))
}

/// `GET .../history`: every supervisor's, terminated ones' too, by id.
async fn all_history(State(h): State<Http>) -> Result<Response, DruidError> {
    let m = h.manager.clone();
    Ok(ok(json!(call("", move || m.all_supervisor_history()).await?)))
}

/// `POST .../{id}/suspend`: the updated spec; 400 if already suspended.
async fn suspend(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    Ok(ok(call(&id, move || m.suspend_supervisor(&name)).await?))
}

/// `POST .../{id}/resume`: the updated spec; 400 if already running.
async fn resume(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    Ok(ok(call(&id, move || m.resume_supervisor(&name)).await?))
}

/// `POST .../{id}/reset`: every partition from the earliest or latest
/// offset (`useEarliestOffset`); returns once the new positions are durable.
async fn reset(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    call(&id, move || m.reset_supervisor(&name)).await?;
    Ok(id_response(&id))
}

/// `POST .../{id}/resetOffsets` with Druid's reset metadata: the listed
/// partitions resume at the given offsets, the others keep theirs.
async fn reset_offsets(State(h): State<Http>, Path(id): Path<String>, bytes: Bytes) -> Result<Response, DruidError> {
    let offsets = partition_offsets(body(&bytes)?)?;
    let (m, name) = (h.manager.clone(), id.clone());
    call(&id, move || m.reset_supervisor_partitions(&name, &offsets)).await.map_err(|e| match e.status {
        // What Druid checks past parsing it reports as invalid input.
        StatusCode::BAD_REQUEST => DruidError::invalid_input(e.message()),
        _ => e,
    })?;
    Ok(id_response(&id))
}

/// `POST .../{id}/terminate` (and `/shutdown`): the supervisor stops and is
/// not restored; its history, documents and offsets are kept.
async fn terminate(State(h): State<Http>, Path(id): Path<String>) -> Result<Response, DruidError> {
    let (m, name) = (h.manager.clone(), id.clone());
    call(&id, move || m.terminate_supervisor(&name)).await?;
    Ok(id_response(&id))
}

async fn suspend_all(State(h): State<Http>) -> Result<Response, DruidError> {
    let m = h.manager.clone();
    call("", move || m.suspend_all_supervisors()).await?;
    Ok(success())
}

async fn resume_all(State(h): State<Http>) -> Result<Response, DruidError> {
    let m = h.manager.clone();
    call("", move || m.resume_all_supervisors()).await?;
    Ok(success())
}

async fn terminate_all(State(h): State<Http>) -> Result<Response, DruidError> {
    let m = h.manager.clone();
    call("", move || m.terminate_all_supervisors()).await?;
    Ok(success())
}
