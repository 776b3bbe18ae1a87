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
        /// The ingestion's name.
        ingestion: String,
        /// The document's `_id`.
        id: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print the number of live documents.
    Count {
        /// The ingestion's name.
        ingestion: String,
        /// Count these shards only (`--shard 0,2`).
        #[arg(long, value_delimiter = ',')]
        shard: Vec<u32>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print live documents as NDJSON, in id order per shard.
    Scan {
        /// The ingestion's name.
        ingestion: String,
        /// These shards only (`--shard 0,2`).
        #[arg(long, value_delimiter = ',')]
        shard: Vec<u32>,
        /// Start after this id.
        #[arg(long)]
        after: Option<String>,
        /// At most this many documents in total; 0: all.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print each shard's committed checkpoint, `polling_ingest_stats` and
    /// poll statistics (from its state record, as last saved) as JSON.
    Stats {
        /// The ingestion's name.
        ingestion: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print the messages dropped under the DROP policy, with their reasons.
    Dropped {
        /// The ingestion's name.
        ingestion: String,
        /// These shards only (`--shard 0,2`).
        #[arg(long, value_delimiter = ',')]
        shard: Vec<u32>,
        /// At most this many messages in total; 0: all.
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

/// The listed shards' sinks (every shard when the list is empty).
fn shards<'a>(sinks: &'a [Arc<dyn ShardSink>], list: &[u32]) -> anyhow::Result<Vec<(u32, &'a Arc<dyn ShardSink>)>> {
    if list.is_empty() {
        return Ok(sinks.iter().enumerate().map(|(i, s)| (i as u32, s)).collect());
    }
    list.iter()
        .map(|&n| match sinks.get(n as usize) {
            Some(s) => Ok((n, s)),
            None => {
                bail!("no shard {n}: the ingestion has {} shards (0 to {})", sinks.len(), sinks.len().saturating_sub(1))
            }
        })
        .collect()
}

/// `--limit`: at most this many lines in total; 0 means no limit (as for `sluice ctl doc scan`).
fn limit(n: usize) -> usize {
    if n == 0 { usize::MAX } else { n }
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
            for (shard, sink) in shards(&sinks, &[])? {
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
            for (_, sink) in shards(&sinks, &shard)? {
                total += sink.meta()?.live_docs;
            }
            emit(&total)?;
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Scan { ingestion, shard, after, limit, data } => {
            let sinks = open(&data, &ingestion)?;
            let mut left = self::limit(limit);
            for (n, sink) in shards(&sinks, &shard)? {
                let mut from = after.clone();
                while left > 0 {
                    let page = sink.scan(from.as_deref(), left.min(PAGE))?;
                    let full = page.len() == left.min(PAGE);
                    for (id, doc) in &page {
                        emit(&doc_json(id, n, doc))?;
                    }
                    left -= page.len();
                    from = page.last().map(|(id, _)| id.clone());
                    if !full {
                        break;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Stats { ingestion, data } => {
            let (sinks, states) = open_with_states(&data, &ingestion)?;
            for (n, sink) in shards(&sinks, &[])? {
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
            let mut left = self::limit(limit);
            for (n, sink) in shards(&sinks, &shard)? {
                let mut from = None;
                while left > 0 {
                    let page = sink.dropped(from.clone(), left.min(PAGE))?;
                    let full = page.len() == left.min(PAGE);
                    for d in &page {
                        emit(
                            &serde_json::json!({"shard": n, "pointer": d.pointer, "reason": d.reason, "payload": d.payload}),
                        )?;
                    }
                    left -= page.len();
                    from = page.last().map(|d| d.pointer.clone());
                    if !full {
                        break;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Documents or dropped messages read from a sink at a time.
const PAGE: usize = 1000;
