//! The connection to the control plane: one channel, a client per service,
//! the bearer token on every call, and failed calls as `CODE: message`.

use sluice::api::MAX_REQUEST_BYTES;
use sluice::api::proto::{
    documents_client::DocumentsClient, ingestions_client::IngestionsClient, plugins_client::PluginsClient,
    state_client::StateClient, supervisors_client::SupervisorsClient,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub(super) struct Token(pub(super) Option<MetadataValue<Ascii>>);

impl Interceptor for Token {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

pub(super) type Svc = InterceptedService<Channel, Token>;

pub(super) struct Client {
    pub(super) channel: Channel,
    pub(super) token: Token,
}

impl Client {
    pub(super) fn ingestions(&self) -> IngestionsClient<Svc> {
        IngestionsClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    pub(super) fn documents(&self) -> DocumentsClient<Svc> {
        DocumentsClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    pub(super) fn plugins(&self) -> PluginsClient<Svc> {
        PluginsClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_encoding_message_size(MAX_REQUEST_BYTES)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    pub(super) fn supervisors(&self) -> SupervisorsClient<Svc> {
        SupervisorsClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
    pub(super) fn state(&self) -> StateClient<Svc> {
        StateClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_encoding_message_size(MAX_REQUEST_BYTES)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
}

/// The gRPC name of a status code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A failed call as `CODE: message`.
pub(super) fn rpc(s: Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", code_name(s.code()), s.message())
}
