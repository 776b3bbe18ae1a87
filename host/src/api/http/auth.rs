//! The bearer token over HTTP: `Authorization: Bearer <token>` on every
//! call but `GET /_cluster/health`; without it, 401 in OpenSearch's error
//! shape (`security_exception`) with `WWW-Authenticate: Bearer`. The same
//! constant-time check as gRPC (`api/auth.rs`); the token is never echoed.

use super::errors::HttpError;
use crate::api::auth::{AuthFailure, BearerAuth};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub(super) async fn require_token(State(auth): State<BearerAuth>, request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
    match auth.verify(header) {
        Ok(()) => next.run(request).await,
        Err(failure) => HttpError::unauthorized(match failure {
            AuthFailure::Missing => "missing authentication credentials: send Authorization: Bearer <token>",
            AuthFailure::NotBearer => "the Authorization header is not \"Bearer <token>\"",
            AuthFailure::Wrong => "wrong bearer token",
        })
        .into_response(),
    }
}
