//! `sluice.v1.Ingestions`: one manager call per RPC.

use super::convert;
use super::proto::{self as pb, ingestions_server::Ingestions};
use super::status::{blocking, parse_json, required};
use crate::manager::Manager;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub struct IngestionsService {
    manager: Arc<Manager>,
    /// Flips to true when the server shuts down: streams end.
    shutdown: watch::Receiver<bool>,
    watch_interval: Duration,
}

impl IngestionsService {
    pub fn new(manager: Arc<Manager>, shutdown: watch::Receiver<bool>, watch_interval: Duration) -> Self {
        IngestionsService { manager, shutdown, watch_interval }
    }
}

/// State and stats of every shard, now.
fn snapshot(manager: &Manager, name: &str) -> Result<pb::IngestionSnapshot, Status> {
    let status = manager.state(name).map_err(super::status::to_status)?;
    let stats = manager.stats(name).map_err(super::status::to_status)?;
    Ok(pb::IngestionSnapshot {
        name: name.to_string(),
        at_ms: crate::util::now_ms(),
        shards: status.iter().map(convert::shard_state).collect(),
        stats: stats.into_iter().map(|(shard, v)| convert::shard_stats(shard, v)).collect(),
    })
}

async fn snapshot_blocking(manager: Arc<Manager>, name: String) -> Result<pb::IngestionSnapshot, Status> {
    tokio::task::spawn_blocking(move || snapshot(&manager, &name))
        .await
        .map_err(|e| Status::internal(format!("the request's task failed: {e}")))?
}

/// Where a page of shards starts: the token is the next shard's number.
fn page_start(token: &str, shards: usize) -> Result<usize, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    token
        .parse::<usize>()
        .ok()
        .filter(|s| *s < shards)
        .ok_or_else(|| Status::invalid_argument(format!("page_token {token:?} is not one this ingestion gave")))
}

#[tonic::async_trait]
impl Ingestions for IngestionsService {
    async fn create_ingestion(
        &self,
        request: Request<pb::CreateIngestionRequest>,
    ) -> Result<Response<pb::Ingestion>, Status> {
        let request = request.into_inner();
        let spec = parse_json("spec_json", &request.spec_json)?;
        let m = self.manager.clone();
        let info = blocking(move || m.create_with(spec, request.adopt_data)).await?;
        Ok(Response::new(convert::ingestion(info)))
    }

    async fn get_ingestion(
        &self,
        request: Request<pb::GetIngestionRequest>,
    ) -> Result<Response<pb::Ingestion>, Status> {
        let name = request.into_inner().name;
        let m = self.manager.clone();
        let info = blocking(move || m.get(&name)).await?;
        Ok(Response::new(convert::ingestion(info)))
    }

    async fn list_ingestions(
        &self,
        _: Request<pb::ListIngestionsRequest>,
    ) -> Result<Response<pb::ListIngestionsResponse>, Status> {
        let m = self.manager.clone();
        let list = blocking(move || Ok(m.list())).await?;
        Ok(Response::new(pb::ListIngestionsResponse { ingestions: list.into_iter().map(convert::ingestion).collect() }))
    }

    async fn update_ingestion(
        &self,
        request: Request<pb::UpdateIngestionRequest>,
    ) -> Result<Response<pb::Ingestion>, Status> {
        let r = request.into_inner();
        let update = parse_json("update_json", &r.update_json)?;
        let m = self.manager.clone();
        let info = blocking(move || m.update(&r.name, update)).await?;
        Ok(Response::new(convert::ingestion(info)))
    }

    async fn delete_ingestion(
        &self,
        request: Request<pb::DeleteIngestionRequest>,
    ) -> Result<Response<pb::DeleteIngestionResponse>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        let outcome = blocking(move || m.delete(&r.name, r.delete_data)).await?;
        Ok(Response::new(pb::DeleteIngestionResponse { data_left: outcome.data_left }))
    }

    async fn get_spec_history(
        &self,
        request: Request<pb::GetSpecHistoryRequest>,
    ) -> Result<Response<pb::GetSpecHistoryResponse>, Status> {
        let name = request.into_inner().name;
        let m = self.manager.clone();
        let entries = blocking(move || m.history(&name)).await?;
        Ok(Response::new(pb::GetSpecHistoryResponse { entries: entries.into_iter().map(convert::history).collect() }))
    }

    async fn pause_ingestion(
        &self,
        request: Request<pb::PauseIngestionRequest>,
    ) -> Result<Response<pb::PauseIngestionResponse>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        blocking(move || m.pause(&r.name, &r.shards)).await?;
        Ok(Response::new(pb::PauseIngestionResponse {}))
    }

    async fn resume_ingestion(
        &self,
        request: Request<pb::ResumeIngestionRequest>,
    ) -> Result<Response<pb::ResumeIngestionResponse>, Status> {
        let r = request.into_inner();
        let resets = r.resets.iter().map(convert::reset).collect::<Result<Vec<_>, _>>()?;
        let m = self.manager.clone();
        blocking(move || m.resume(&r.name, &r.shards, &resets)).await?;
        Ok(Response::new(pb::ResumeIngestionResponse {}))
    }

    async fn get_ingestion_state(
        &self,
        request: Request<pb::GetIngestionStateRequest>,
    ) -> Result<Response<pb::GetIngestionStateResponse>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        let name = r.name.clone();
        let status = blocking(move || m.state(&name)).await?;
        let start = page_start(&r.page_token, status.len())?;
        let size = if r.page_size == 0 { status.len() } else { r.page_size as usize };
        let end = (start + size).min(status.len());
        Ok(Response::new(pb::GetIngestionStateResponse {
            name: r.name,
            shards: status[start..end].iter().map(convert::shard_state).collect(),
            next_page_token: if end < status.len() { end.to_string() } else { String::new() },
            total_shards: status.len() as u32,
            cluster_host: self.manager.cluster().map(|c| convert::cluster_host(c.host_id(), &c.metrics().snapshot())),
        }))
    }

    async fn get_stats(&self, request: Request<pb::GetStatsRequest>) -> Result<Response<pb::GetStatsResponse>, Status> {
        let name = request.into_inner().name;
        let m = self.manager.clone();
        let n = name.clone();
        let stats = blocking(move || m.stats(&n)).await?;
        let shards = stats.into_iter().map(|(shard, v)| convert::shard_stats(shard, v)).collect();
        Ok(Response::new(pb::GetStatsResponse { name, shards }))
    }

    type WatchIngestionStream = ReceiverStream<Result<pb::IngestionSnapshot, Status>>;

    async fn watch_ingestion(
        &self,
        request: Request<pb::WatchIngestionRequest>,
    ) -> Result<Response<Self::WatchIngestionStream>, Status> {
        let name = required("name", &request.into_inner().name)?.to_string();
        // The first snapshot is taken before the stream starts: an unknown
        // name is a NOT_FOUND status, not a stream that fails.
        let first = snapshot_blocking(self.manager.clone(), name.clone()).await?;
        let (tx, rx) = mpsc::channel(4);
        let (manager, mut shutdown, interval) = (self.manager.clone(), self.shutdown.clone(), self.watch_interval);
        tokio::spawn(async move {
            // Poll statistics move with every (empty) poll: alone they are no change.
            let without_polls = |s: &pb::IngestionSnapshot| -> Vec<pb::ShardState> {
                s.shards.iter().map(|s| pb::ShardState { poll_stats: None, ..s.clone() }).collect()
            };
            let same = |a: &pb::IngestionSnapshot, b: &pb::IngestionSnapshot| {
                a.stats == b.stats && without_polls(a) == without_polls(b)
            };
            let mut last = first.clone();
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = shutdown.changed() => return,
                    _ = ticker.tick() => {}
                }
                match snapshot_blocking(manager.clone(), name.clone()).await {
                    Ok(now) if same(&now, &last) => {}
                    Ok(now) => {
                        last = now.clone();
                        if tx.send(Ok(now)).await.is_err() {
                            return;
                        }
                    }
                    // Deleted or stopped: the stream ends with the reason.
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_shard_numbers_within_the_ingestion() {
        assert_eq!(page_start("", 3).unwrap(), 0);
        assert_eq!(page_start("2", 3).unwrap(), 2);
        for bad in ["3", "-1", "abc"] {
            let e = page_start(bad, 3).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains("page_token"), "{}", e.message());
        }
    }
}
