//! `--metrics-listen`: the same per-shard stats as GetStats, and the poll
//! statistics of GetIngestionState, in Prometheus' text format (`GET
//! /metrics`), e.g. `sluice_total_processed_count{ingestion="x",shard="0"} 42`.
//!
//! A minimal HTTP/1.1 responder on tokio: one request per connection, no
//! keep-alive, requests over 8 KiB or slower than 5 s are dropped.

use crate::manager::Manager;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Serves `/metrics` until `shutdown` flips to true.
pub async fn serve_metrics(manager: Arc<Manager>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let manager = manager.clone();
                    tokio::spawn(async move {
                        if let Err(e) = tokio::time::timeout(Duration::from_secs(5), respond(manager, stream)).await.unwrap_or(Ok(())) {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn respond(manager: Arc<Manager>, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() + n > 8192 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_line = String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => {
            let body = tokio::task::spawn_blocking(move || render(&manager)).await.unwrap_or_default();
            ("200 OK", body)
        }
        (Some("GET"), _) => ("404 Not Found", "only /metrics is served here\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET /metrics\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// (ingestion, shard, value)
type Sample = (String, u32, f64);

/// Every running ingestion's shards: the `polling_ingest_stats` fields as
/// `sluice_<field>` (counters for `total_*`, gauges otherwise), the poll
/// statistics (`sluice_poll_count`, ..., `sluice_p99_batch_processing_time_ms`),
/// plus live documents, paused and blocked flags.
pub fn render(manager: &Manager) -> String {
    // metric -> (type, samples), so that each family is written once.
    let mut families: BTreeMap<String, (&'static str, Vec<Sample>)> = BTreeMap::new();
    let mut add = |metric: String, kind: &'static str, ingestion: &str, shard: u32, value: f64| {
        families.entry(metric).or_insert_with(|| (kind, vec![])).1.push((ingestion.to_string(), shard, value));
    };
    for info in manager.list() {
        // An ingestion that is not running has no live stats.
        let (Ok(states), Ok(stats)) = (manager.state(&info.name), manager.stats(&info.name)) else { continue };
        for s in &states {
            add("sluice_live_docs".into(), "gauge", &info.name, s.shard, s.meta.live_docs as f64);
            add("sluice_shard_paused".into(), "gauge", &info.name, s.shard, s.paused as u64 as f64);
            add("sluice_shard_blocked".into(), "gauge", &info.name, s.shard, s.blocked.is_some() as u64 as f64);
            if let Some(lease) = &s.lease {
                let here = manager.cluster().is_some_and(|c| c.host_id() == lease.owner);
                add("sluice_shard_lease_epoch".into(), "gauge", &info.name, s.shard, lease.epoch as f64);
                add("sluice_shard_leased_here".into(), "gauge", &info.name, s.shard, here as u64 as f64);
                add("sluice_shard_fenced".into(), "gauge", &info.name, s.shard, s.fenced as u64 as f64);
            }
            let p = &s.poll.stats;
            for (field, value) in [
                ("poll_count", p.poll_count),
                ("successful_polls_count", p.successful_polls_count),
                ("empty_polls_count", p.empty_polls_count),
                ("total_documents_fetched", p.total_documents_fetched),
                ("total_bytes_processed", p.total_bytes_processed),
                ("error_count", p.error_count),
                ("batches_processed", p.batches_processed),
            ] {
                add(format!("sluice_{field}"), "counter", &info.name, s.shard, value as f64);
            }
            for (field, value) in [
                ("avg_batch_processing_time_ms", s.poll.avg_batch_processing_time_ms),
                ("p50_batch_processing_time_ms", s.poll.p50_batch_processing_time_ms),
                ("p99_batch_processing_time_ms", s.poll.p99_batch_processing_time_ms),
            ] {
                add(format!("sluice_{field}"), "gauge", &info.name, s.shard, value);
            }
            if let Some(ms) = p.last_poll_timestamp {
                add("sluice_last_poll_timestamp_seconds".into(), "gauge", &info.name, s.shard, ms as f64 / 1000.0);
            }
        }
        for (shard, stats) in &stats {
            // The field names are OpenSearch's, as the typed stats serialize them.
            let v = serde_json::to_value(stats).unwrap_or_default();
            for group in ["message_processor_stats", "consumer_stats"] {
                if let Some(Value::Object(fields)) = v.get(group) {
                    for (field, value) in fields {
                        if let Some(n) = value.as_u64() {
                            let kind = if field.starts_with("total_") { "counter" } else { "gauge" };
                            add(format!("sluice_{field}"), kind, &info.name, *shard, n as f64);
                        }
                    }
                }
            }
        }
    }
    let mut out = String::new();
    if let Some(cluster) = manager.cluster() {
        render_cluster(&mut out, cluster.host_id(), &cluster.metrics().snapshot());
    }
    for (metric, (kind, samples)) in families {
        let _ = writeln!(out, "# TYPE {metric} {kind}");
        for (ingestion, shard, value) in samples {
            let _ = writeln!(out, "{metric}{{ingestion=\"{}\",shard=\"{shard}\"}} {value}", escape(&ingestion));
        }
    }
    out
}

/// A cluster host's lease counters, labelled with its host id.
fn render_cluster(out: &mut String, host: &str, m: &crate::cluster::MetricsSnapshot) {
    for (metric, kind, value) in [
        ("sluice_cluster_leases_held", "gauge", m.held),
        ("sluice_cluster_leases_acquired_total", "counter", m.acquired),
        ("sluice_cluster_leases_lost_total", "counter", m.lost),
        ("sluice_cluster_leases_stolen_total", "counter", m.stolen),
        // Shards of dead hosts taken over here, and the time from the dead
        // host's last lease renewal to the shard running here.
        ("sluice_cluster_failovers_total", "counter", m.failovers),
        ("sluice_cluster_failover_ms_sum", "counter", m.failover_ms_sum),
        ("sluice_cluster_failover_ms_last", "gauge", m.failover_ms_last),
        ("sluice_cluster_failover_ms_max", "gauge", m.failover_ms_max),
    ] {
        let _ = writeln!(out, "# TYPE {metric} {kind}");
        let _ = writeln!(out, "{metric}{{host=\"{}\"}} {value}", escape(host));
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
