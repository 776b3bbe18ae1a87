//! Errors in OpenSearch's shape:
//! `{"error": {"root_cause": [{...}], "type": ..., "reason": ...}, "status": N}`.
//!
//! [`manager`] is the one place a [`ManagerError`] becomes a status and an
//! OpenSearch error type. Reasons never quote request bodies (specs may hold
//! secrets): JSON errors name the position, spec errors name the key.

use crate::manager::ManagerError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error response.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    /// OpenSearch's error type, e.g. `index_not_found_exception`.
    pub kind: &'static str,
    pub reason: String,
    /// Extra fields of the error object (`index`, `resource.id`, ...).
    pub fields: Map<String, Value>,
}

impl HttpError {
    pub fn new(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> Self {
        HttpError { status, kind, reason: reason.into(), fields: Map::new() }
    }

    /// 400 `illegal_argument_exception`: a request that names something wrong.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "illegal_argument_exception", reason)
    }

    /// 400 `parse_exception`: a body that is not what the call takes.
    pub fn parse(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "parse_exception", reason)
    }

    /// 404 `index_not_found_exception`, with OpenSearch's fields.
    pub fn index_not_found(index: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "index_not_found_exception", format!("no such index [{index}]"))
            .with_index(index)
            .with("resource.type", json!("index_or_alias"))
            .with("resource.id", json!(index))
    }

    /// 401 `security_exception` (the health check is the only open call).
    pub fn unauthorized(reason: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "security_exception", reason)
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.fields.insert(key.to_string(), value);
        self
    }

    pub fn with_index(self, index: &str) -> Self {
        self.with("index", json!(index)).with("index_uuid", json!("_na_"))
    }

    /// The body OpenSearch sends.
    pub fn body(&self) -> Value {
        let mut cause = Map::new();
        cause.insert("type".into(), json!(self.kind));
        cause.insert("reason".into(), json!(self.reason));
        cause.extend(self.fields.clone());
        let mut error = cause.clone();
        error.insert("root_cause".into(), json!([Value::Object(cause)]));
        json!({"error": error, "status": self.status.as_u16()})
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut response = super::json_response(self.status, &self.body());
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sluice\""));
        }
        response
    }
}

/// A manager error as OpenSearch reports the same situation. `index` is the
/// index the call names: a `NotFound` is then that index missing.
pub fn manager(e: ManagerError, index: &str) -> HttpError {
    match e {
        ManagerError::NotFound(_) => HttpError::index_not_found(index),
        ManagerError::AlreadyExists(_) => HttpError::new(
            StatusCode::BAD_REQUEST,
            "resource_already_exists_exception",
            format!("index [{index}] already exists"),
        )
        .with_index(index),
        // A spec, setting, shard or reset that is wrong, or a change the
        // index's state refuses (a static setting, a reset of a running
        // shard, a plugin that is not registered): OpenSearch answers these
        // with IllegalArgumentException, 400.
        ManagerError::InvalidArgument(reason) | ManagerError::FailedPrecondition(reason) => {
            HttpError::bad_request(reason).with_index(index)
        }
        ManagerError::Internal(reason) => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", reason),
    }
}

/// An error of Druid's supervisor API: `{"error": "<message>"}`, as
/// `SupervisorResource` answers; or, for input Druid checks past parsing
/// (resetOffsets' metadata), its `DruidException` body with `errorMessage`.
#[derive(Debug)]
pub struct DruidError {
    pub status: StatusCode,
    pub body: Value,
}

impl DruidError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        DruidError { status, body: json!({"error": message.into()}) }
    }

    /// 400: a spec or body that is not what the call takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 in Druid's words.
    pub fn not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("[{id}] does not exist"))
    }

    /// 400 as Druid's `InvalidInput` exception.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        DruidError {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": "druidException", "errorCode": "invalidInput", "persona": "USER",
                "category": "INVALID_INPUT", "errorMessage": message.into(), "context": {}}),
        }
    }

    /// The message, in either shape.
    pub fn message(&self) -> &str {
        self.body.get("errorMessage").or_else(|| self.body.get("error")).and_then(Value::as_str).unwrap_or_default()
    }
}

impl IntoResponse for DruidError {
    fn into_response(self) -> Response {
        super::json_response(self.status, &self.body)
    }
}

/// A manager error as Druid's supervisor API answers the same situation:
/// `NotFound` is the supervisor `id` missing (404 `[id] does not exist`); a
/// bad spec or body, or an operation the supervisor's state refuses
/// (`supervisor <id> is already suspended`, a change a running supervisor cannot take,
/// an OpenSearch index named as a supervisor) is 400 with the manager's
/// message, which names the key; a host failure is 500.
pub fn druid(e: ManagerError, id: &str) -> DruidError {
    match e {
        ManagerError::NotFound(_) => DruidError::not_found(id),
        ManagerError::AlreadyExists(reason)
        | ManagerError::InvalidArgument(reason)
        | ManagerError::FailedPrecondition(reason) => DruidError::bad_request(reason),
        ManagerError::Internal(reason) => DruidError::new(StatusCode::INTERNAL_SERVER_ERROR, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_manager_error_has_druids_status_and_shape() {
        let cases = [
            (ManagerError::NotFound("no ingestion named s".into()), 404, "[s] does not exist"),
            (
                ManagerError::FailedPrecondition("supervisor s is already suspended".into()),
                400,
                "supervisor s is already suspended",
            ),
            (
                ManagerError::InvalidArgument("invalid spec: [ioConfig.topic] is required".into()),
                400,
                "[ioConfig.topic]",
            ),
            (ManagerError::AlreadyExists("x".into()), 400, "x"),
            (ManagerError::Internal("disk".into()), 500, "disk"),
        ];
        for (e, status, message) in cases {
            let d = druid(e, "s");
            assert_eq!(d.status.as_u16(), status);
            assert!(d.body["error"].as_str().unwrap().contains(message), "{}", d.body);
            assert_eq!(d.body.as_object().unwrap().len(), 1, "only `error`: {}", d.body);
        }
        let d = DruidError::invalid_input("Stream[x] doesn't exist");
        assert_eq!((d.body["error"].as_str(), d.message()), (Some("druidException"), "Stream[x] doesn't exist"));
        assert_eq!(
            (d.body["errorCode"].as_str(), d.body["category"].as_str()),
            (Some("invalidInput"), Some("INVALID_INPUT"))
        );
    }

    #[test]
    fn each_manager_error_has_its_status_and_type() {
        let cases = [
            (
                ManagerError::NotFound("no ingestion named x".into()),
                404,
                "index_not_found_exception",
                "no such index [x]",
            ),
            (
                ManagerError::AlreadyExists("x exists".into()),
                400,
                "resource_already_exists_exception",
                "index [x] already exists",
            ),
            (
                ManagerError::InvalidArgument("invalid spec: unknown key".into()),
                400,
                "illegal_argument_exception",
                "invalid spec: unknown key",
            ),
            (
                ManagerError::FailedPrecondition("setting [a] is static".into()),
                400,
                "illegal_argument_exception",
                "setting [a] is static",
            ),
            (ManagerError::Internal("disk".into()), 500, "exception", "disk"),
        ];
        for (e, status, kind, reason) in cases {
            let h = manager(e, "x");
            assert_eq!((h.status.as_u16(), h.kind, h.reason.as_str()), (status, kind, reason));
        }
    }

    #[test]
    fn the_body_has_opensearchs_shape() {
        let b = HttpError::index_not_found("logs").body();
        assert_eq!(b["status"], 404);
        assert_eq!(b["error"]["type"], "index_not_found_exception");
        assert_eq!(b["error"]["reason"], "no such index [logs]");
        assert_eq!(b["error"]["index"], "logs");
        assert_eq!(b["error"]["resource.id"], "logs");
        let cause = &b["error"]["root_cause"][0];
        assert_eq!(
            (cause["type"].as_str(), cause["index"].as_str()),
            (Some("index_not_found_exception"), Some("logs"))
        );
        assert!(cause.get("root_cause").is_none());
    }
}
