//! The HTTP API (`sluice serve --http-listen`): OpenSearch's REST calls for
//! pull-based ingestion, a thin adapter over the same [`Manager`] as gRPC.
//!
//! Each handler turns a request into manager calls (on tokio's blocking
//! pool) and the typed result into OpenSearch's JSON shape; anything a
//! handler would need to decide belongs in the manager. One file per group:
//! `indices` (create, get, delete, exists, settings; the root and health),
//! `ingestion` (pause, resume with resets, state), `documents` (get, count,
//! search), `stats` (index and node stats with `polling_ingest_stats`),
//! `errors` (OpenSearch's error shape and Druid's; the mappings of
//! `ManagerError`), `auth` (the bearer token; `GET /_cluster/health` stays
//! open), and Druid's supervisor API under `/druid/indexer/v1/supervisor`
//! (`druid`, with its shapes in `druid_shapes`).
//!
//! Request bodies are never logged or echoed: specs may hold secrets.

mod auth;
mod documents;
mod druid;
mod druid_shapes;
pub mod errors;
mod indices;
mod ingestion;
mod stats;

use crate::api::auth::BearerAuth;
use crate::manager::{Manager, ManagerError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use errors::HttpError;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The name this host gives itself where OpenSearch names a node or cluster.
pub const NODE: &str = "sluice";

/// Query parameters (a flag without a value, `?pretty`, is `""`).
pub(crate) type Params = axum::extract::Query<HashMap<String, String>>;

#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) manager: Arc<Manager>,
}

/// Where `--http-listen` binds: `HOST:PORT`, or `PORT` / `:PORT` on 127.0.0.1.
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port = text.strip_prefix("localhost:").or_else(|| text.strip_prefix(':')).unwrap_or(text);
    port.parse::<u16>()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .map_err(|_| format!("{text:?} is not HOST:PORT, :PORT or PORT"))
}

/// Serves the HTTP API on `listener` until `shutdown` completes (in-flight
/// requests finish first). The ingestions keep running.
pub async fn serve(
    manager: Arc<Manager>,
    listener: TcpListener,
    token: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(manager, BearerAuth::new(token.as_deref()))).with_graceful_shutdown(shutdown).await
}

/// Every route; all but the health check behind the bearer token.
pub fn router(manager: Arc<Manager>, auth: BearerAuth) -> Router {
    let state = Http { manager };
    let api = Router::new()
        .route("/", get(indices::info))
        .route("/_nodes/stats", get(stats::nodes))
        .route("/_nodes/stats/{metric}", get(stats::nodes_metric))
        .route("/{index}", get(indices::get_index).put(indices::create).delete(indices::delete).head(indices::exists))
        .route("/{index}/_settings", get(indices::get_settings).put(indices::put_settings))
        .route("/{index}/_mapping", get(indices::get_mapping))
        .route("/{index}/_stats", get(stats::index))
        .route("/{index}/ingestion/_pause", post(ingestion::pause))
        .route("/{index}/ingestion/_resume", post(ingestion::resume))
        .route("/{index}/ingestion/_state", get(ingestion::state))
        .route("/{index}/_doc/{id}", get(documents::get))
        .route("/{index}/_count", get(documents::count).post(documents::count))
        .route("/{index}/_search", get(documents::search).post(documents::search))
        .merge(druid::routes())
        .fallback(no_handler)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(auth, auth::require_token));
    Router::new()
        .route("/_cluster/health", get(indices::health))
        .merge(api)
        .with_state(state)
        .layer(middleware::from_fn(pretty))
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    response
}

pub(crate) fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

/// Runs a manager call (they join threads, touch disks and wait for
/// shards) on tokio's blocking pool; `Err` is the task's failure, for each
/// API to put in its own shape.
pub(crate) async fn on_blocking_pool<T, F>(f: F) -> Result<Result<T, ManagerError>, String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ManagerError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| format!("the request failed: {e}"))
}

/// [`on_blocking_pool`]; an error becomes OpenSearch's for `index`.
pub(crate) async fn blocking<T, F>(index: &str, f: F) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ManagerError> + Send + 'static,
{
    on_blocking_pool(f)
        .await
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", e))?
        .map_err(|e| errors::manager(e, index))
}

/// The index a path names: one name. Names starting with `_` are
/// OpenSearch endpoints sluice does not serve; comma lists and wildcards
/// (several indices at once) are not supported.
pub(crate) fn index_name(index: &str, method: &Method, path: &str) -> Result<String, HttpError> {
    if index.starts_with('_') {
        return Err(no_handler_error(method, path));
    }
    if index.contains([',', '*']) {
        return Err(HttpError::bad_request(format!(
            "[{index}]: sluice takes one index per call (no comma lists or wildcards)"
        )));
    }
    Ok(index.to_string())
}

/// A request body as JSON; an empty body is `None`. The error names the
/// position, never the text (it may hold secrets).
pub(crate) fn json_body(body: &Bytes) -> Result<Option<Value>, HttpError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| HttpError::parse(format!("the request body is not valid JSON: {e}")))
}

/// A boolean query parameter: absent is false, `?flag` and `?flag=true` true.
pub(crate) fn flag(params: &HashMap<String, String>, key: &str) -> Result<bool, HttpError> {
    match params.get(key).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("" | "true") => Ok(true),
        Some(other) => Err(HttpError::bad_request(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed for parameter [{key}]"
        ))),
    }
}

/// A non-negative integer query parameter.
pub(crate) fn number(params: &HashMap<String, String>, key: &str) -> Result<Option<usize>, HttpError> {
    params
        .get(key)
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| HttpError::bad_request(format!("[{key}] must be a non-negative integer, got [{v}]")))
        })
        .transpose()
}

fn no_handler_error(method: &Method, path: &str) -> HttpError {
    HttpError::bad_request(format!(
        "no handler found for uri [{path}] and method [{method}]; sluice serves OpenSearch's pull-based ingestion \
         calls (see the README's HTTP API section)"
    ))
}

async fn no_handler(method: Method, uri: axum::http::Uri) -> HttpError {
    no_handler_error(&method, uri.path())
}

async fn wrong_method(method: Method, uri: axum::http::Uri) -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed_exception",
        format!("Incorrect HTTP method for uri [{}] and method [{method}]", uri.path()),
    )
}

/// `?pretty`: the JSON response indented, as OpenSearch does.
async fn pretty(request: Request, next: Next) -> Response {
    let wants = request.uri().query().is_some_and(|q| q.split('&').any(|p| p == "pretty" || p == "pretty=true"));
    let response = next.run(request).await;
    if !wants {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let text = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    let mut response = Response::from_parts(parts, axum::body::Body::from(text));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_default_to_the_loopback() {
        assert_eq!(listen_addr("9200").unwrap(), "127.0.0.1:9200".parse().unwrap());
        assert_eq!(listen_addr(":9200").unwrap(), "127.0.0.1:9200".parse().unwrap());
        assert_eq!(listen_addr("localhost:9201").unwrap(), "127.0.0.1:9201".parse().unwrap());
        assert_eq!(listen_addr("0.0.0.0:9200").unwrap(), "0.0.0.0:9200".parse().unwrap());
        assert_eq!(listen_addr("[::1]:0").unwrap(), "[::1]:0".parse().unwrap());
        assert!(listen_addr("nine").unwrap_err().contains("HOST:PORT"));
        assert!(listen_addr("70000").is_err());
    }

    #[test]
    fn query_flags_and_numbers_are_checked() {
        let p: HashMap<String, String> =
            [("a", ""), ("b", "true"), ("c", "false"), ("d", "maybe"), ("n", "5"), ("m", "-1")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!((flag(&p, "a").unwrap(), flag(&p, "b").unwrap(), flag(&p, "c").unwrap()), (true, true, false));
        assert!(!flag(&p, "absent").unwrap());
        assert!(flag(&p, "d").unwrap_err().reason.contains("[d]"));
        assert_eq!(number(&p, "n").unwrap(), Some(5));
        assert_eq!(number(&p, "absent").unwrap(), None);
        assert!(number(&p, "m").unwrap_err().reason.contains("[m]"));
    }

    #[test]
    fn bodies_are_json_or_empty_and_errors_do_not_quote_them() {
        assert_eq!(json_body(&Bytes::from_static(b" \n")).unwrap(), None);
        assert_eq!(json_body(&Bytes::from_static(b"{\"a\":1}")).unwrap(), Some(serde_json::json!({"a": 1})));
        let e = json_body(&Bytes::from_static(br#"{"secret_key": "hunter2"#)).unwrap_err();
        assert_eq!((e.status.as_u16(), e.kind), (400, "parse_exception"));
        assert!(!e.reason.contains("hunter2"), "{}", e.reason);
    }

    #[test]
    fn paths_name_one_index() {
        let m = Method::GET;
        assert_eq!(index_name("logs", &m, "/logs").unwrap(), "logs");
        assert!(index_name("_cat", &m, "/_cat").unwrap_err().reason.contains("no handler found for uri [/_cat]"));
        assert!(index_name("a,b", &m, "/a,b").unwrap_err().reason.contains("one index per call"));
    }
}
