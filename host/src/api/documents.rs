//! `sluice.v1.Documents`: one manager call per RPC (scans page through it).

use super::convert;
use super::proto::{self as pb, documents_server::Documents};
use super::status::{blocking, required};
use crate::manager::Manager;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Documents read from a sink per blocking call of a scan.
const SCAN_PAGE: usize = 256;

pub struct DocumentsService {
    manager: Arc<Manager>,
    shutdown: watch::Receiver<bool>,
}

impl DocumentsService {
    pub fn new(manager: Arc<Manager>, shutdown: watch::Receiver<bool>) -> Self {
        DocumentsService { manager, shutdown }
    }
}

#[tonic::async_trait]
impl Documents for DocumentsService {
    async fn get_document(&self, request: Request<pb::GetDocumentRequest>) -> Result<Response<pb::Document>, Status> {
        let r = request.into_inner();
        required("id", &r.id)?;
        let m = self.manager.clone();
        let id = r.id.clone();
        let (shard, doc) = blocking(move || m.get_document(&r.ingestion, &id)).await?;
        Ok(Response::new(convert::document(r.id, shard, doc)))
    }

    async fn count_documents(
        &self,
        request: Request<pb::CountDocumentsRequest>,
    ) -> Result<Response<pb::CountDocumentsResponse>, Status> {
        let r = request.into_inner();
        let m = self.manager.clone();
        let count = blocking(move || m.count_documents(&r.ingestion, r.shard)).await?;
        Ok(Response::new(pb::CountDocumentsResponse { count }))
    }

    async fn list_dropped(
        &self,
        request: Request<pb::ListDroppedRequest>,
    ) -> Result<Response<pb::ListDroppedResponse>, Status> {
        let r = request.into_inner();
        let after = match r.start_after.as_str() {
            "" => None,
            p => Some(p.parse().map_err(|e| Status::invalid_argument(format!("start_after: {e}")))?),
        };
        let limit = match r.limit {
            0 => 100,
            n => n.min(10_000) as usize,
        };
        let (m, shard) = (self.manager.clone(), r.shard);
        let dropped = blocking(move || m.dropped_messages(&r.ingestion, shard, after, limit)).await?;
        let messages = dropped.into_iter().map(|d| convert::dropped(shard, d)).collect();
        Ok(Response::new(pb::ListDroppedResponse { messages }))
    }

    type ScanDocumentsStream = ReceiverStream<Result<pb::Document, Status>>;

    async fn scan_documents(
        &self,
        request: Request<pb::ScanDocumentsRequest>,
    ) -> Result<Response<Self::ScanDocumentsStream>, Status> {
        let r = request.into_inner();
        let limit = if r.limit == 0 { u64::MAX } else { r.limit };
        let page = |after: Option<String>, left: u64| {
            let (m, name, shard) = (self.manager.clone(), r.ingestion.clone(), r.shard);
            blocking(move || m.scan_documents(&name, shard, after.as_deref(), SCAN_PAGE.min(left as usize)))
        };
        // The first page is read before the stream starts: an unknown
        // ingestion or shard is a status, not a stream that fails.
        let after = (!r.start_after.is_empty()).then(|| r.start_after.clone());
        let first = page(after, limit).await?;
        let (tx, rx) = mpsc::channel(SCAN_PAGE);
        let (manager, mut shutdown) = (self.manager.clone(), self.shutdown.clone());
        tokio::spawn(async move {
            let (mut docs, mut sent) = (first, 0u64);
            loop {
                let last = docs.last().map(|(id, _)| id.clone());
                let full = docs.len() == SCAN_PAGE;
                for (id, doc) in docs {
                    if tx.send(Ok(convert::document(id, r.shard, doc))).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                if !full || sent >= limit || *shutdown.borrow_and_update() {
                    return;
                }
                let (m, name, shard, left) = (manager.clone(), r.ingestion.clone(), r.shard, limit - sent);
                docs = match blocking(move || {
                    m.scan_documents(&name, shard, last.as_deref(), SCAN_PAGE.min(left as usize))
                })
                .await
                {
                    Ok(d) => d,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
