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

    async fn export_ingestion(
        &self,
        request: Request<pb::ExportIngestionRequest>,
    ) -> Result<Response<pb::ExportStateResponse>, Status> {
        let name = request.into_inner().name;
        let m = self.manager.clone();
        let state = blocking(move || m.export_ingestion(&name)).await?;
        let state_json =
            serde_json::to_string(&state).map_err(|e| Status::internal(format!("encoding the export: {e}")))?;
        Ok(Response::new(pb::ExportStateResponse { state_json }))
    }

    async fn reset_ingestion(
        &self,
        request: Request<pb::ResetIngestionRequest>,
    ) -> Result<Response<pb::ResetIngestionResponse>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        let outcome = blocking(move || m.reset_ingestion(&r.name, r.delete_data)).await?;
        Ok(Response::new(pb::ResetIngestionResponse { detail: outcome.detail }))
    }

    async fn cleanup_old_states(
        &self,
        request: Request<pb::CleanupOldStatesRequest>,
    ) -> Result<Response<pb::CleanupOldStatesResponse>, Status> {
        let older_than = std::time::Duration::from_millis(request.into_inner().older_than_ms);
        let m = self.manager.clone();
        let r = blocking(move || m.cleanup_old_states(older_than)).await?;
        Ok(Response::new(pb::CleanupOldStatesResponse {
            ingestions: r.ingestions,
            records: r.records,
            bytes: r.bytes,
            data_left: r.data_left,
        }))
    }

    async fn get_state_stats(
        &self,
        _: Request<pb::GetStateStatsRequest>,
    ) -> Result<Response<pb::GetStateStatsResponse>, Status> {
        let m = self.manager.clone();
        let s = blocking(move || m.state_stats()).await?;
        Ok(Response::new(pb::GetStateStatsResponse {
            records: s.records(),
            bytes: s.usage.bytes,
            ingestions: s.ingestions,
            deleted_ingestions: s.deleted,
            shard_records: s.usage.shard_records,
            plugin_records: s.usage.plugin_records,
            oldest_update_ms: s.oldest_update_ms,
            newest_update_ms: s.newest_update_ms,
        }))
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
