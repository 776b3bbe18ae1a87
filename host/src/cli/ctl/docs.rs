//! `sluice ctl doc`: read documents.

use super::client::{Client, rpc};
use super::output::Output;
use serde_json::{Value, json};
use sluice::api::proto as pb;

#[derive(clap::Subcommand)]
pub(super) enum DocCommand {
    /// Print one document as JSON (`_id`, `_shard`, `_version`, `_source`).
    Get { name: String, id: String },
    /// Print the number of live documents.
    Count {
        /// The ingestion's name.
        name: String,
        #[arg(long)]
        shard: Option<u32>,
    },
    /// Print live documents as NDJSON, in id order per shard.
    Scan {
        /// The ingestion's name.
        name: String,
        /// One shard only (default: every shard, one after the other).
        #[arg(long)]
        shard: Option<u32>,
        /// Start after this id.
        #[arg(long, default_value = "")]
        after: String,
        /// At most this many documents in all (0: no limit).
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Print the messages dropped under the DROP policy, with their reasons, as NDJSON.
    Dropped {
        /// The ingestion's name.
        name: String,
        /// These shards only (`--shard 0,2`; default: every shard).
        #[arg(long, value_delimiter = ',')]
        shard: Vec<u32>,
        /// At most this many messages in all (0: no limit).
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
}

/// A document as `sluice docs get` prints it.
fn document_json(d: &pb::Document) -> Value {
    let source: Value = serde_json::from_str(&d.source_json).unwrap_or_else(|_| Value::String(d.source_json.clone()));
    json!({"_id": d.id, "_shard": d.shard, "_version": d.version, "_source": source})
}

/// The listed shards, or every shard of the ingestion when none is listed.
async fn shards_of(client: &Client, name: &str, listed: Vec<u32>) -> anyhow::Result<Vec<u32>> {
    if !listed.is_empty() {
        return Ok(listed);
    }
    let i = client.ingestions().get_ingestion(pb::GetIngestionRequest { name: name.into() }).await.map_err(rpc)?;
    Ok((0..i.into_inner().shards).collect())
}

pub(super) async fn run(client: &Client, out: &Output, command: DocCommand) -> anyhow::Result<()> {
    match command {
        DocCommand::Get { name, id } => {
            let d = client
                .documents()
                .get_document(pb::GetDocumentRequest { ingestion: name, id })
                .await
                .map_err(rpc)?
                .into_inner();
            say!("{}", document_json(&d));
        }
        DocCommand::Count { name, shard } => {
            let r = client
                .documents()
                .count_documents(pb::CountDocumentsRequest { ingestion: name, shard })
                .await
                .map_err(rpc)?
                .into_inner();
            out.done(json!({"count": r.count}), &r.count.to_string())?;
        }
        DocCommand::Scan { name, shard, after, limit } => {
            let shards = shards_of(client, &name, shard.into_iter().collect()).await?;
            let mut left = if limit == 0 { u64::MAX } else { limit };
            for shard in shards {
                if left == 0 {
                    break;
                }
                let request = pb::ScanDocumentsRequest {
                    ingestion: name.clone(),
                    shard,
                    start_after: after.clone(),
                    limit: left,
                };
                let mut stream = client.documents().scan_documents(request).await.map_err(rpc)?.into_inner();
                while let Some(d) = stream.message().await.map_err(rpc)? {
                    say!("{}", document_json(&d));
                    left -= 1;
                }
            }
        }
        DocCommand::Dropped { name, shard, limit } => {
            let shards = shards_of(client, &name, shard).await?;
            let mut left = if limit == 0 { u64::MAX } else { limit };
            for shard in shards {
                let mut after = String::new();
                while left > 0 {
                    let page = left.min(1000) as u32;
                    let request = pb::ListDroppedRequest {
                        ingestion: name.clone(),
                        shard,
                        start_after: after.clone(),
                        limit: page,
                    };
                    let r = client.documents().list_dropped(request).await.map_err(rpc)?.into_inner();
                    let full = r.messages.len() == page as usize;
                    for d in &r.messages {
                        say!(
                            "{}",
                            json!({"shard": d.shard, "pointer": d.pointer, "reason": d.reason, "payload": d.payload})
                        );
                    }
                    left -= r.messages.len() as u64;
                    match r.messages.last() {
                        Some(last) if full => after = last.pointer.clone(),
                        _ => break,
                    }
                }
            }
        }
    }
    Ok(())
}
