//! `sluice.v1.Supervisors`: Druid's supervisor API, one manager call per RPC.

use super::convert_supervisor as convert;
use super::proto::{self as pb, supervisors_server::Supervisors};
use super::status::{blocking, parse_json};
use crate::manager::Manager;
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct SupervisorsService {
    manager: Arc<Manager>,
}

impl SupervisorsService {
    pub fn new(manager: Arc<Manager>) -> Self {
        SupervisorsService { manager }
    }
}

#[tonic::async_trait]
impl Supervisors for SupervisorsService {
    async fn submit_supervisor(
        &self,
        request: Request<pb::SubmitSupervisorRequest>,
    ) -> Result<Response<pb::SubmitSupervisorResponse>, Status> {
        let spec = parse_json("spec_json", &request.into_inner().spec_json)?;
        let m = self.manager.clone();
        let (info, outcome) = blocking(move || m.submit_supervisor(spec)).await?;
        Ok(Response::new(pb::SubmitSupervisorResponse {
            id: info.name,
            outcome: convert::submit_outcome(outcome) as i32,
            partitions: info.shards,
        }))
    }

    async fn list_supervisors(
        &self,
        request: Request<pb::ListSupervisorsRequest>,
    ) -> Result<Response<pb::ListSupervisorsResponse>, Status> {
        let m = self.manager.clone();
        let response = if request.into_inner().full {
            let list = blocking(move || m.list_supervisors()).await?;
            pb::ListSupervisorsResponse {
                ids: list.iter().map(|s| s.id.clone()).collect(),
                supervisors: list.into_iter().map(convert::summary).collect(),
            }
        } else {
            let ids = blocking(move || Ok(m.supervisor_ids())).await?;
            pb::ListSupervisorsResponse { ids, supervisors: vec![] }
        };
        Ok(Response::new(response))
    }

    async fn get_supervisor(
        &self,
        request: Request<pb::GetSupervisorRequest>,
    ) -> Result<Response<pb::Supervisor>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        let s = blocking(move || m.get_supervisor(&id)).await?;
        Ok(Response::new(convert::summary(s)))
    }

    async fn suspend_supervisor(
        &self,
        request: Request<pb::SuspendSupervisorRequest>,
    ) -> Result<Response<pb::SuspendSupervisorResponse>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        blocking(move || m.suspend_supervisor(&id)).await?;
        Ok(Response::new(pb::SuspendSupervisorResponse {}))
    }

    async fn resume_supervisor(
        &self,
        request: Request<pb::ResumeSupervisorRequest>,
    ) -> Result<Response<pb::ResumeSupervisorResponse>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        blocking(move || m.resume_supervisor(&id)).await?;
        Ok(Response::new(pb::ResumeSupervisorResponse {}))
    }

    async fn terminate_supervisor(
        &self,
        request: Request<pb::TerminateSupervisorRequest>,
    ) -> Result<Response<pb::TerminateSupervisorResponse>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        let outcome = blocking(move || m.terminate_supervisor(&id)).await?;
        Ok(Response::new(pb::TerminateSupervisorResponse { data_left: outcome.data_left }))
    }

    async fn reset_supervisor(
        &self,
        request: Request<pb::ResetSupervisorRequest>,
    ) -> Result<Response<pb::ResetSupervisorResponse>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        blocking(move || m.reset_supervisor(&id)).await?;
        Ok(Response::new(pb::ResetSupervisorResponse {}))
    }

    async fn reset_supervisor_offsets(
        &self,
        request: Request<pb::ResetSupervisorOffsetsRequest>,
    ) -> Result<Response<pb::ResetSupervisorOffsetsResponse>, Status> {
        let r = request.into_inner();
        let offsets: BTreeMap<u32, String> = r.offsets.into_iter().collect();
        let m = self.manager.clone();
        blocking(move || m.reset_supervisor_offsets(&r.id, &offsets)).await?;
        Ok(Response::new(pb::ResetSupervisorOffsetsResponse {}))
    }

    async fn get_supervisor_status(
        &self,
        request: Request<pb::GetSupervisorStatusRequest>,
    ) -> Result<Response<pb::SupervisorStatus>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        let s = blocking(move || m.supervisor_status(&id)).await?;
        Ok(Response::new(convert::status(s)))
    }

    async fn get_supervisor_health(
        &self,
        request: Request<pb::GetSupervisorHealthRequest>,
    ) -> Result<Response<pb::SupervisorHealth>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        let s = blocking(move || m.supervisor_status(&id)).await?;
        Ok(Response::new(convert::health(&s)))
    }

    async fn get_supervisor_stats(
        &self,
        request: Request<pb::GetSupervisorStatsRequest>,
    ) -> Result<Response<pb::SupervisorStats>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        let i = id.clone();
        let s = blocking(move || m.supervisor_stats(&i)).await?;
        Ok(Response::new(convert::stats(id, s)))
    }

    async fn get_supervisor_history(
        &self,
        request: Request<pb::GetSupervisorHistoryRequest>,
    ) -> Result<Response<pb::GetSupervisorHistoryResponse>, Status> {
        let id = request.into_inner().id;
        let m = self.manager.clone();
        let entries = blocking(move || m.supervisor_history(&id)).await?;
        Ok(Response::new(pb::GetSupervisorHistoryResponse {
            entries: entries.into_iter().map(convert::history).collect(),
        }))
    }
}
