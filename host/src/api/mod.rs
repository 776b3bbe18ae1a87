//! The control plane: gRPC (this module) and HTTP (`http/`, OpenSearch's REST
//! shapes), each a thin adapter over [`Manager`].
//!
//! Each service (`ingestions`, `documents`, `plugins`, `state`, and
//! `supervisors`: Druid's supervisor API, its reports converted in
//! `convert_supervisor.rs`) turns a request into one manager call (on
//! tokio's blocking pool: manager calls join threads and touch disks) and
//! the result into a response; a
//! [`crate::manager::ManagerError`] becomes the status of its code
//! (`status.rs`). Anything a handler would need to decide belongs in the
//! manager. Streams (WatchIngestion, ScanDocuments) poll the manager.
//!
//! Besides `sluice.v1`, the server speaks `grpc.health.v1` and server
//! reflection (`grpc.reflection.v1` and the older `v1alpha` that Python's
//! grpcio-reflection, older grpcurl, Postman and Evans speak), so other
//! languages' clients can discover the API. With a token, every service but health requires `authorization:
//! Bearer <token>` (`auth.rs`); health stays open for probes.
//!
//! Request bodies are never logged: specs may hold secrets.

pub mod auth;
pub mod convert;
pub mod convert_supervisor;
pub mod documents;
pub mod http;
pub mod ingestions;
pub mod metrics;
pub mod plugins;
pub mod proto;
pub mod state;
pub mod status;
pub mod supervisors;

use crate::manager::Manager;
use proto::{
    documents_server::DocumentsServer, ingestions_server::IngestionsServer, plugins_server::PluginsServer,
    state_server::StateServer, supervisors_server::SupervisorsServer,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;

/// The largest request the server takes: a plugin component (RegisterPlugin)
/// or a state export (ImportState).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// How the control plane is served.
#[derive(Clone)]
pub struct ServeOptions {
    /// The bearer token every call must carry; `None`: no authentication.
    pub token: Option<String>,
    /// How often WatchIngestion looks for changes.
    pub watch_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { token: None, watch_interval: Duration::from_millis(200) }
    }
}

/// Serves the control plane on `listener` until `shutdown` completes; open
/// streams end then, and in-flight calls finish. The ingestions keep
/// running: stopping them ([`Manager::shutdown`]) is the caller's move.
pub async fn serve(
    manager: Arc<Manager>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let auth = auth::BearerAuth::new(options.token.as_deref());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IngestionsServer<ingestions::IngestionsService>>().await;
    health.set_serving::<DocumentsServer<documents::DocumentsService>>().await;
    health.set_serving::<PluginsServer<plugins::PluginsService>>().await;
    health.set_serving::<StateServer<state::StateService>>().await;
    health.set_serving::<SupervisorsServer<supervisors::SupervisorsService>>().await;
    // Reflection in both versions: v1, and v1alpha for the clients that
    // speak only it (Python's grpcio-reflection, older grpcurl, Postman,
    // Evans). Each lists both reflection services.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
            .include_reflection_service(false)
    };
    let reflection_v1 = reflection().build_v1().expect("the embedded descriptor sets are valid");
    let reflection_v1alpha = reflection().build_v1alpha().expect("the embedded descriptor sets are valid");

    let ingestions = IngestionsServer::new(ingestions::IngestionsService::new(
        manager.clone(),
        stop_rx.clone(),
        options.watch_interval,
    ));
    let documents = DocumentsServer::new(documents::DocumentsService::new(manager.clone(), stop_rx));
    let plugins =
        PluginsServer::new(plugins::PluginsService::new(manager.clone())).max_decoding_message_size(MAX_REQUEST_BYTES);
    let state =
        StateServer::new(state::StateService::new(manager.clone())).max_decoding_message_size(MAX_REQUEST_BYTES);
    let supervisors = SupervisorsServer::new(supervisors::SupervisorsService::new(manager));

    let signal = async move {
        shutdown.await;
        health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        // Ends WatchIngestion and ScanDocuments streams, so that graceful
        // shutdown does not wait for clients that never hang up.
        let _ = stop_tx.send(true);
    };
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(InterceptedService::new(reflection_v1, auth.clone()))
        .add_service(InterceptedService::new(reflection_v1alpha, auth.clone()))
        .add_service(InterceptedService::new(ingestions, auth.clone()))
        .add_service(InterceptedService::new(documents, auth.clone()))
        .add_service(InterceptedService::new(plugins, auth.clone()))
        .add_service(InterceptedService::new(state, auth.clone()))
        .add_service(InterceptedService::new(supervisors, auth))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), signal)
        .await
}
