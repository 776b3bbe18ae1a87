//! What `sluice ctl` prints: tables by default, JSON with `--json`.

use serde::Serialize;
use serde_json::Value;
use sluice::api::proto::{self as pb, ProtoEnum};

pub(super) fn shard_list(shards: &[u32]) -> String {
    if shards.is_empty() {
        "all shards".into()
    } else {
        format!("shards {}", shards.iter().map(u32::to_string).collect::<Vec<_>>().join(", "))
    }
}

pub(super) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// A message as JSON for scripts: `*_json` text fields become the JSON they
/// hold, without the suffix (`spec_json` -> `spec`).
pub(super) fn to_json<T: Serialize>(value: &T) -> Value {
    fn unwrap(v: Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| match (k.strip_suffix("_json"), &v) {
                        (Some(base), Value::String(text)) => match serde_json::from_str(text) {
                            Ok(parsed) => (base.to_string(), parsed),
                            Err(_) => (k, v),
                        },
                        _ => (k, unwrap(v)),
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(unwrap).collect()),
            other => other,
        }
    }
    unwrap(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// `2025-01-02 03:04:05Z` from ms since the epoch ("-" for 0): RFC 3339
/// to the second, with a space, as a table shows it.
pub(super) fn utc(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let t = sluice::util::rfc3339(ms); // 2025-01-02T03:04:05.678Z
    format!("{} {}Z", &t[..10], &t[11..19])
}

/// Left-aligned columns.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}", w = *w)).collect();
        text.join("  ").trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_else(|| "-".into())
}

pub(super) struct Output {
    pub(super) json: bool,
}

impl Output {
    pub(super) fn print_json(&self, v: &Value) -> std::io::Result<()> {
        say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        Ok(())
    }

    /// A confirmation: `value` with --json, else `text`.
    pub(super) fn done(&self, value: Value, text: &str) -> std::io::Result<()> {
        if self.json {
            self.print_json(&value)
        } else {
            say!("{text}");
            Ok(())
        }
    }

    pub(super) fn ingestion(&self, i: &pb::Ingestion) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(i));
        }
        let plugin = i.plugin.clone().unwrap_or_default();
        let paused = if i.paused_shards.is_empty() { "none".into() } else { shard_list(&i.paused_shards) };
        say!("name:            {}", i.name);
        say!("source:          {}, {} shards", i.source_type, i.shards);
        say!("plugin:          {} {} (sha256 {})", plugin.name, plugin.version, short(&plugin.sha256));
        say!("error_strategy:  {}", pb::ErrorPolicy::short_name(i.error_strategy));
        say!("paused:          {paused}");
        say!(
            "status:          {}",
            i.start_error.as_deref().map(|e| format!("not running: {e}")).unwrap_or_else(|| "running".into())
        );
        say!("created:         {}", utc(i.created_at_ms));
        say!("updated:         {}", utc(i.updated_at_ms));
        say!("spec:            {}", i.spec_json);
        Ok(())
    }

    pub(super) fn ingestions(&self, list: &[pb::Ingestion]) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(&list));
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|i| {
                let plugin = i.plugin.clone().unwrap_or_default();
                vec![
                    i.name.clone(),
                    i.shards.to_string(),
                    i.source_type.clone(),
                    format!("{} {}", plugin.name, plugin.version),
                    pb::ErrorPolicy::short_name(i.error_strategy),
                    if i.paused_shards.is_empty() { "-".into() } else { format!("{:?}", i.paused_shards) },
                    i.start_error.as_deref().map(|e| format!("not running: {e}")).unwrap_or_else(|| "running".into()),
                ]
            })
            .collect();
        say!("{}", table(&["NAME", "SHARDS", "SOURCE", "PLUGIN", "POLICY", "PAUSED", "STATUS"], &rows));
        Ok(())
    }

    pub(super) fn history(&self, entries: &[pb::HistoryEntry]) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(&entries));
        }
        let rows: Vec<Vec<String>> =
            entries.iter().map(|h| vec![utc(h.at_ms), h.kind.clone(), h.detail.clone()]).collect();
        say!("{}", table(&["AT", "KIND", "DETAIL"], &rows));
        Ok(())
    }

    fn state_rows(shards: &[pb::ShardState]) -> Vec<Vec<String>> {
        shards
            .iter()
            .map(|s| {
                let note = match (&s.blocked, &s.last_error) {
                    (Some(b), _) => format!("blocked at {} ({}): {}", b.pointer, b.cause, b.reason),
                    (None, Some(e)) => format!(
                        "last error{}: {}",
                        e.pointer.as_ref().map(|p| format!(" at {p}")).unwrap_or_default(),
                        e.message
                    ),
                    (None, None) => String::new(),
                };
                vec![
                    s.shard.to_string(),
                    pb::PollerState::short_name(s.state),
                    s.paused.to_string(),
                    pb::ErrorPolicy::short_name(s.error_strategy),
                    s.idle.to_string(),
                    opt(&s.committed_position),
                    opt(&s.last_pointer),
                    opt(&s.pointer_lag),
                    s.time_lag_ms.to_string(),
                    s.live_docs.to_string(),
                    note,
                ]
            })
            .collect()
    }

    const STATE_HEADERS: [&str; 11] = [
        "SHARD",
        "STATE",
        "PAUSED",
        "POLICY",
        "IDLE",
        "RESUMES",
        "LAST_POINTER",
        "LAG",
        "LAG_MS",
        "DOCS",
        "BLOCKED / LAST ERROR",
    ];

    pub(super) fn state(&self, r: &pb::GetIngestionStateResponse) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(r));
        }
        say!("{}", table(&Self::STATE_HEADERS, &Self::state_rows(&r.shards)));
        say!();
        say!("{}", table(&Self::POLL_HEADERS, &Self::poll_rows(&r.shards)));
        if let Some(host) = &r.cluster_host {
            // `sluice serve --cluster`: who runs each shard, and the answering host's leases.
            let rows: Vec<Vec<String>> = r
                .shards
                .iter()
                .map(|s| {
                    let (owner, epoch) = s.lease.as_ref().map(|l| (l.owner.clone(), l.epoch)).unwrap_or_default();
                    let owner = if owner.is_empty() { "-".into() } else { owner };
                    vec![s.shard.to_string(), owner, epoch.to_string(), s.fenced.to_string()]
                })
                .collect();
            say!();
            say!("{}", table(&["SHARD", "LEASE_OWNER", "EPOCH", "FENCED_HERE"], &rows));
            say!(
                "answered by host {}: {} leases held, {} acquired, {} lost, {} stolen, {} failovers (last {} ms, max {} ms)",
                host.host_id,
                host.leases_held,
                host.leases_acquired,
                host.leases_lost,
                host.leases_stolen,
                host.failovers,
                host.last_failover_ms,
                host.max_failover_ms
            );
        }
        if !r.next_page_token.is_empty() {
            say!("more shards: --page-token {}", r.next_page_token);
        }
        Ok(())
    }

    const POLL_HEADERS: [&str; 13] = [
        "SHARD",
        "POLLS",
        "WITH_MSGS",
        "EMPTY",
        "FAILED",
        "FETCHED",
        "BYTES",
        "ERRORS",
        "BATCHES",
        "AVG_MS",
        "P50_MS",
        "P99_MS",
        "LAST_POLL",
    ];

    /// The poll statistics of each shard.
    fn poll_rows(shards: &[pb::ShardState]) -> Vec<Vec<String>> {
        let ms = |v: f64| format!("{v:.2}");
        shards
            .iter()
            .map(|s| {
                let p = s.poll_stats.unwrap_or_default();
                vec![
                    s.shard.to_string(),
                    p.poll_count.to_string(),
                    p.successful_polls_count.to_string(),
                    p.empty_polls_count.to_string(),
                    p.consumer_error_count.to_string(),
                    p.total_documents_fetched.to_string(),
                    p.total_bytes_processed.to_string(),
                    p.error_count.to_string(),
                    p.batches_processed.to_string(),
                    ms(p.avg_batch_processing_time_ms),
                    ms(p.p50_batch_processing_time_ms),
                    ms(p.p99_batch_processing_time_ms),
                    p.last_poll_timestamp_ms.map(utc).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect()
    }

    pub(super) fn cleanup(&self, r: &pb::CleanupOldStatesResponse) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(r));
        }
        if r.ingestions.is_empty() {
            say!("nothing to clean up");
        } else {
            say!(
                "removed {} deleted ingestion(s) ({}): {} records, {} bytes",
                r.ingestions.len(),
                r.ingestions.join(", "),
                r.records,
                r.bytes
            );
        }
        for left in &r.data_left {
            say!("{left}");
        }
        Ok(())
    }

    pub(super) fn state_stats(&self, r: &pb::GetStateStatsResponse) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(r));
        }
        say!("records:         {} ({} bytes)", r.records, r.bytes);
        say!("ingestions:      {} ({} deleted, kept until cleanup)", r.ingestions, r.deleted_ingestions);
        say!("shard states:    {}", r.shard_records);
        say!("plugins:         {}", r.plugin_records);
        say!("oldest update:   {}", r.oldest_update_ms.map(utc).unwrap_or_else(|| "-".into()));
        say!("newest update:   {}", r.newest_update_ms.map(utc).unwrap_or_else(|| "-".into()));
        Ok(())
    }

    fn stats_rows(stats: &[pb::ShardStats]) -> Vec<Vec<String>> {
        let mut total = [0u64; 9];
        let mut rows: Vec<Vec<String>> = stats
            .iter()
            .map(|s| {
                let p = s.polling_ingest_stats.unwrap_or_default();
                let (m, c) = (p.message_processor_stats.unwrap_or_default(), p.consumer_stats.unwrap_or_default());
                let values = [
                    m.total_processed_count,
                    m.total_invalid_message_count,
                    m.total_version_conflicts_count,
                    m.total_failed_count,
                    m.total_failures_dropped_count,
                    m.total_skipped_count,
                    m.total_ops_applied_count,
                    c.total_polled_count,
                    c.total_consumer_error_count,
                ];
                for (t, v) in total.iter_mut().zip(values) {
                    *t += v;
                }
                let mut row = vec![s.shard.to_string()];
                row.extend(values.iter().map(u64::to_string));
                row.push(c.lag_in_millis.to_string());
                row.push(opt(&c.pointer_based_lag));
                row
            })
            .collect();
        let mut row = vec!["total".to_string()];
        row.extend(total.iter().map(u64::to_string));
        rows.push(row);
        rows
    }

    const STATS_HEADERS: [&str; 12] = [
        "SHARD",
        "PROCESSED",
        "INVALID",
        "CONFLICTS",
        "FAILED",
        "DROPPED",
        "SKIPPED",
        "APPLIED",
        "POLLED",
        "POLL_ERRORS",
        "LAG_MS",
        "LAG",
    ];

    pub(super) fn stats(&self, r: &pb::GetStatsResponse) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(r));
        }
        say!("{}", table(&Self::STATS_HEADERS, &Self::stats_rows(&r.shards)));
        Ok(())
    }

    pub(super) fn snapshot(&self, s: &pb::IngestionSnapshot, first: bool) -> std::io::Result<()> {
        if self.json {
            // One line per snapshot (NDJSON), for scripts that follow it.
            say!("{}", to_json(s));
            return Ok(());
        }
        if !first {
            say!();
        }
        say!("{} {}", utc(s.at_ms), s.name);
        say!("{}", table(&Self::STATE_HEADERS, &Self::state_rows(&s.shards)));
        say!("{}", table(&Self::STATS_HEADERS, &Self::stats_rows(&s.stats)));
        Ok(())
    }

    pub(super) fn plugins(&self, list: &[pb::Plugin]) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(&list));
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|p| {
                let registered = if p.registered_at_ms == 0 { "built in".into() } else { utc(p.registered_at_ms) };
                vec![p.name.clone(), p.version.clone(), short(&p.sha256).to_string(), p.size.to_string(), registered]
            })
            .collect();
        say!("{}", table(&["NAME", "VERSION", "SHA256", "BYTES", "REGISTERED"], &rows));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_fields_become_json() {
        let i = pb::Ingestion {
            name: "x".into(),
            spec_json: r#"{"a":1}"#.into(),
            error_strategy: pb::ErrorPolicy::Block as i32,
            ..Default::default()
        };
        let v = to_json(&i);
        assert_eq!((v["spec"]["a"].as_i64(), v["error_strategy"].as_str()), (Some(1), Some("BLOCK")));
        assert!(v.get("spec_json").is_none());
    }

    #[test]
    fn utc_formats_epoch_ms() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
    }
}
