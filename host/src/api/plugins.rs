//! `sluice.v1.Plugins`: one manager call per RPC.

use super::convert;
use super::proto::{self as pb, plugins_server::Plugins};
use super::status::blocking;
use crate::manager::Manager;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct PluginsService {
    manager: Arc<Manager>,
}

impl PluginsService {
    pub fn new(manager: Arc<Manager>) -> Self {
        PluginsService { manager }
    }
}

#[tonic::async_trait]
impl Plugins for PluginsService {
    async fn register_plugin(
        &self,
        request: Request<pb::RegisterPluginRequest>,
    ) -> Result<Response<pb::Plugin>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        let record = blocking(move || m.register_plugin(&r.name, &r.version, &r.component)).await?;
        Ok(Response::new(convert::plugin(record)))
    }

    async fn list_plugins(
        &self,
        _: Request<pb::ListPluginsRequest>,
    ) -> Result<Response<pb::ListPluginsResponse>, Status> {
        let m = self.manager.clone();
        let plugins = blocking(move || m.list_plugins()).await?;
        Ok(Response::new(pb::ListPluginsResponse { plugins: plugins.into_iter().map(convert::plugin).collect() }))
    }

    async fn remove_plugin(
        &self,
        request: Request<pb::RemovePluginRequest>,
    ) -> Result<Response<pb::RemovePluginResponse>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        blocking(move || m.remove_plugin(&r.name, &r.version)).await?;
        Ok(Response::new(pb::RemovePluginResponse {}))
    }
}
