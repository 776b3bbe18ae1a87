//! `sluice.v1.State`: one manager call per RPC.

use super::proto::{self as pb, state_server::State};
use super::status::blocking;
use crate::manager::Manager;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct StateService {
    manager: Arc<Manager>,
}

impl StateService {
    pub fn new(manager: Arc<Manager>) -> Self {
        StateService { manager }
    }
}

#[tonic::async_trait]
impl State for StateService {
    async fn export_state(
        &self,
        _: Request<pb::ExportStateRequest>,
    ) -> Result<Response<pb::ExportStateResponse>, Status> {
        let m = self.manager.clone();
        let state = blocking(move || m.export_state()).await?;
        let state_json =
            serde_json::to_string(&state).map_err(|e| Status::internal(format!("encoding the export: {e}")))?;
        Ok(Response::new(pb::ExportStateResponse { state_json }))
    }

    async fn import_state(
        &self,
        request: Request<pb::ImportStateRequest>,
    ) -> Result<Response<pb::ImportStateResponse>, Status> {
        let request = request.into_inner();
        let reset_positions = request.reset_positions;
        let export: crate::manager::StateExport = serde_json::from_str(&request.state_json).map_err(|e| {
            Status::invalid_argument(format!("state_json is not a {} export: {e}", crate::manager::EXPORT_FORMAT))
        })?;
        let m = self.manager.clone();
        let ingestions = blocking(move || m.import_state(&export, reset_positions)).await?;
        Ok(Response::new(pb::ImportStateResponse { ingestions }))
    }

    async fn reset_state(
        &self,
        request: Request<pb::ResetStateRequest>,
    ) -> Result<Response<pb::ResetStateResponse>, Status> {
        let delete_data = request.into_inner().delete_data;
        let m = self.manager.clone();
        blocking(move || m.reset_state(delete_data)).await?;
        Ok(Response::new(pb::ResetStateResponse {}))
    }
}
