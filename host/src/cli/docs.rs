//! `sluice docs`: read documents back from an ingestion's shard sinks.

use super::DataDir;
use anyhow::{Context, bail};
use sluice::engine::control::ConsumerStats;
use sluice::sink::{ShardSink, StoredDoc};
use sluice::spec::IngestionSpec;
use sluice::state::ShardStateRecord;
use sluice::wiring::open_sinks;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum DocsCommand {
    /// Print one document as JSON (`_id`, `_version`, `_source`).
    Get {
        ingestion: String,
        id: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print the number of live documents.
    Count {
        ingestion: String,
        /// Count one shard only.
        #[arg(long)]
        shard: Option<u32>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print live documents as NDJSON, in id order per shard.
    Scan {
        ingestion: String,
        #[arg(long)]
        shard: Option<u32>,
        /// Start after this id.
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print each shard's committed checkpoint, `polling_ingest_stats` and
    /// poll statistics (from its state record, as last saved) as JSON.
    Stats {
        ingestion: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print the messages dropped under the DROP policy, with their reasons.
    Dropped {
        ingestion: String,
        #[arg(long)]
        shard: Option<u32>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        data: DataDir,
    },
}

fn open(data: &DataDir, ingestion: &str) -> anyhow::Result<Vec<Arc<dyn ShardSink>>> {
    Ok(open_with_states(data, ingestion)?.0)
}

/// An ingestion's sinks, and the state records of its incarnation's shards by shard.
type SinksAndStates = (Vec<Arc<dyn ShardSink>>, BTreeMap<u32, ShardStateRecord>);

fn open_with_states(data: &DataDir, ingestion: &str) -> anyhow::Result<SinksAndStates> {
    let store = data.state_store()?;
    let Some(record) = store.load(ingestion)? else {
        bail!("no ingestion named {ingestion:?} in {}", data.data_dir.display());
    };
    let spec = IngestionSpec::from_value(&record.spec)?;
    let states = store
        .load_shard_states(ingestion)?
        .into_iter()
        .filter(|r| r.metadata.ingestion_id == record.id)
        .map(|r| (r.metadata.shard, r))
        .collect();
    let sinks = open_sinks(&data.data_dir, &spec)
        .with_context(|| "opening the shard sinks (is a sluice process still running on this data dir?)")?;
    Ok((sinks, states))
}

fn shards(sinks: &[Arc<dyn ShardSink>], shard: Option<u32>) -> anyhow::Result<Vec<(u32, &Arc<dyn ShardSink>)>> {
    match shard {
        None => Ok(sinks.iter().enumerate().map(|(i, s)| (i as u32, s)).collect()),
        Some(n) => match sinks.get(n as usize) {
            Some(s) => Ok(vec![(n, s)]),
            None => bail!("no shard {n}: the ingestion has {} shards", sinks.len()),
        },
    }
}

/// Prints one line to stdout; a closed pipe (`| head`) is an error `main` treats as success.
fn emit(line: &dyn std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}")
}

/// A document as OpenSearch would show it.
pub fn doc_json(id: &str, shard: u32, doc: &StoredDoc) -> serde_json::Value {
    let source: serde_json::Value = serde_json::from_slice(&doc.source).unwrap_or(serde_json::Value::Null);
    serde_json::json!({"_id": id, "_shard": shard, "_version": doc.version, "_source": source})
}

pub fn docs(cmd: DocsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DocsCommand::Get { ingestion, id, data } => {
            let sinks = open(&data, &ingestion)?;
            for (shard, sink) in shards(&sinks, None)? {
                if let Some(doc) = sink.get(&id)? {
                    emit(&doc_json(&id, shard, &doc))?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
            eprintln!("no document {id:?} in {ingestion}");
            Ok(ExitCode::from(1))
        }
        DocsCommand::Count { ingestion, shard, data } => {
            let sinks = open(&data, &ingestion)?;
            let mut total = 0;
            for (_, sink) in shards(&sinks, shard)? {
                total += sink.meta()?.live_docs;
            }
            emit(&total)?;
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Scan { ingestion, shard, after, limit, data } => {
            let sinks = open(&data, &ingestion)?;
            let mut left = limit;
            for (n, sink) in shards(&sinks, shard)? {
                for (id, doc) in sink.scan(after.as_deref(), left)? {
                    emit(&doc_json(&id, n, &doc))?;
                    left -= 1;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Stats { ingestion, data } => {
            let (sinks, states) = open_with_states(&data, &ingestion)?;
            for (n, sink) in shards(&sinks, None)? {
                let meta = sink.meta()?;
                // The consumer counters and poll statistics as last saved
                // (exact ones are the sink's, committed with the data).
                let state = states.get(&n);
                let consumer = state.map(|r| ConsumerStats {
                    total_polled_count: r.data.poll.total_documents_fetched,
                    total_consumer_error_count: r.data.poll.consumer_error_count,
                    ..ConsumerStats::default()
                });
                let mut v = sluice::stats::polling_ingest_stats(&meta.counters, consumer.as_ref());
                v["shard"] = n.into();
                v["last_pointer"] = serde_json::to_value(&meta.last_pointer)?;
                v["live_docs"] = meta.live_docs.into();
                if let Some(r) = state {
                    v["poll_stats"] = serde_json::to_value(&r.data.poll)?;
                    v["last_error"] = serde_json::to_value(&r.data.last_error)?;
                    v["statistics_saved_at"] = r.last_updated.clone().into();
                }
                emit(&v)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Dropped { ingestion, shard, limit, data } => {
            let sinks = open(&data, &ingestion)?;
            for (n, sink) in shards(&sinks, shard)? {
                for d in sink.dropped(None, limit)? {
                    emit(
                        &serde_json::json!({"shard": n, "pointer": d.pointer, "reason": d.reason, "payload": d.payload}),
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
