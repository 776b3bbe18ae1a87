//! `sluice ctl supervisor`: Druid's supervisors (specs submitted as Druid
//! takes them, named by their dataSource): submit, list, get, suspend,
//! resume, terminate, reset, reset-offsets, status, health, stats, history.

use super::client::{Client, rpc};
use super::output::{Output, table, to_json, utc};
use serde_json::json;
use sluice::api::proto::{self as pb, ProtoEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub(super) enum SupervisorCommand {
    /// Submit a Druid supervisor spec file (create, or switch to the spec).
    ///
    /// Creates the supervisor of the spec's dataSource, or switches the
    /// running one to the spec from the offsets it reached. A relative
    /// ioConfig.baseDirectory is relative to the file.
    Submit { spec: PathBuf },
    /// The supervisors' ids; with --full, each with its state.
    List {
        /// Each supervisor's state too (and its spec, with --json).
        #[arg(long)]
        full: bool,
    },
    /// A supervisor's spec as submitted (secrets redacted) and its state.
    Get { id: String },
    /// Pause every partition (survives restarts) until `resume`.
    Suspend { id: String },
    /// Run every partition again from its offset.
    Resume { id: String },
    /// Stop the supervisor for good; its history, documents and offsets stay.
    Terminate { id: String },
    /// Every partition forgets its offset and starts over.
    ///
    /// From the earliest offset with useEarliestOffset, else the latest.
    /// Rows are kept: events read again are aggregated again.
    Reset { id: String },
    /// Partitions resume at exactly these offsets (the next one each reads);
    /// the others keep theirs.
    ResetOffsets {
        id: String,
        /// PARTITION=OFFSET, e.g. 0=41 2=1000.
        #[arg(required = true, value_parser = parse_offset)]
        offsets: Vec<(u32, String)>,
    },
    /// Druid's status report: state, health, offsets, lag, tasks, recent errors.
    Status { id: String },
    /// Healthy or not, with the state; exits 1 when unhealthy.
    Health { id: String },
    /// Row statistics per partition: processed, processedWithError, unparseable, thrownAway.
    Stats { id: String },
    /// Every spec version, newest first.
    History { id: String },
}

/// `PARTITION=OFFSET`.
fn parse_offset(s: &str) -> Result<(u32, String), String> {
    let (partition, offset) = s.split_once('=').ok_or("expected PARTITION=OFFSET, e.g. 0=41")?;
    let partition =
        partition.parse::<u32>().map_err(|_| format!("{partition:?} is not a partition number (PARTITION=OFFSET)"))?;
    if offset.is_empty() {
        return Err(format!("partition {partition}: the offset is missing (PARTITION=OFFSET)"));
    }
    Ok((partition, offset.to_string()))
}

fn state(v: i32) -> String {
    pb::SupervisorState::short_name(v)
}

pub(super) async fn run(client: &Client, out: &Output, command: SupervisorCommand) -> anyhow::Result<ExitCode> {
    let mut c = client.supervisors();
    match command {
        SupervisorCommand::Submit { spec } => {
            let (spec_json, note) = super::super::spec_file::read_spec(&spec, None)?;
            if let Some(note) = note {
                eprintln!("{note}");
            }
            let request = pb::SubmitSupervisorRequest { spec_json: spec_json.to_string() };
            let r = c.submit_supervisor(request).await.map_err(rpc)?.into_inner();
            let text = match pb::SubmitOutcome::try_from(r.outcome) {
                Ok(pb::SubmitOutcome::Created) => format!("created supervisor {} ({} partitions)", r.id, r.partitions),
                Ok(pb::SubmitOutcome::Replaced) => {
                    format!("supervisor {} runs the new spec from the offsets the old one reached", r.id)
                }
                _ => format!("supervisor {} unchanged: it runs this spec already", r.id),
            };
            out.done(to_json(&r), &text)?;
        }
        SupervisorCommand::List { full } => {
            let r = c.list_supervisors(pb::ListSupervisorsRequest { full }).await.map_err(rpc)?.into_inner();
            if out.json {
                out.print_json(&to_json(&r))?;
            } else if full {
                let rows: Vec<Vec<String>> = r
                    .supervisors
                    .iter()
                    .map(|s| {
                        vec![
                            s.id.clone(),
                            state(s.state),
                            state(s.detailed_state),
                            s.healthy.to_string(),
                            s.suspended.to_string(),
                        ]
                    })
                    .collect();
                say!("{}", table(&["ID", "STATE", "DETAILED_STATE", "HEALTHY", "SUSPENDED"], &rows));
            } else {
                for id in &r.ids {
                    say!("{id}");
                }
            }
        }
        SupervisorCommand::Get { id } => {
            let s = c.get_supervisor(pb::GetSupervisorRequest { id }).await.map_err(rpc)?.into_inner();
            if out.json {
                return out.print_json(&to_json(&s)).map(|_| ExitCode::SUCCESS).map_err(Into::into);
            }
            say!("id:              {}", s.id);
            say!("state:           {} (detailed: {})", state(s.state), state(s.detailed_state));
            say!("healthy:         {}", s.healthy);
            say!("suspended:       {}", s.suspended);
            say!("spec:            {}", s.spec_json);
        }
        SupervisorCommand::Suspend { id } => {
            c.suspend_supervisor(pb::SuspendSupervisorRequest { id: id.clone() }).await.map_err(rpc)?;
            out.done(json!({"suspended": id}), &format!("suspended {id}"))?;
        }
        SupervisorCommand::Resume { id } => {
            c.resume_supervisor(pb::ResumeSupervisorRequest { id: id.clone() }).await.map_err(rpc)?;
            out.done(json!({"resumed": id}), &format!("resumed {id}"))?;
        }
        SupervisorCommand::Terminate { id } => {
            let r = c
                .terminate_supervisor(pb::TerminateSupervisorRequest { id: id.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            let mut text = format!("terminated {id}");
            if let Some(left) = &r.data_left {
                text.push_str(&format!("\nleft behind: {left}"));
            }
            out.done(json!({"terminated": id, "data_left": r.data_left}), &text)?;
        }
        SupervisorCommand::Reset { id } => {
            c.reset_supervisor(pb::ResetSupervisorRequest { id: id.clone() }).await.map_err(rpc)?;
            let text =
                format!("reset {id}: every partition starts over (earliest with useEarliestOffset, else latest)");
            out.done(json!({"reset": id}), &text)?;
        }
        SupervisorCommand::ResetOffsets { id, offsets } => {
            let offsets: std::collections::BTreeMap<u32, String> = offsets.into_iter().collect();
            let request = pb::ResetSupervisorOffsetsRequest { id: id.clone(), offsets: offsets.clone() };
            c.reset_supervisor_offsets(request).await.map_err(rpc)?;
            let moved: Vec<String> = offsets.iter().map(|(p, o)| format!("partition {p} resumes at {o}")).collect();
            out.done(json!({"reset": id, "offsets": offsets}), &format!("reset {id}: {}", moved.join(", ")))?;
        }
        SupervisorCommand::Status { id } => {
            let s = c.get_supervisor_status(pb::GetSupervisorStatusRequest { id }).await.map_err(rpc)?.into_inner();
            out.supervisor_status(&s)?;
        }
        SupervisorCommand::Health { id } => {
            let h = c.get_supervisor_health(pb::GetSupervisorHealthRequest { id }).await.map_err(rpc)?.into_inner();
            let text = format!("{} ({})", if h.healthy { "healthy" } else { "unhealthy" }, state(h.detailed_state));
            out.done(to_json(&h), &text)?;
            if !h.healthy {
                return Ok(ExitCode::from(1));
            }
        }
        SupervisorCommand::Stats { id } => {
            let s = c.get_supervisor_stats(pb::GetSupervisorStatsRequest { id }).await.map_err(rpc)?.into_inner();
            if out.json {
                return out.print_json(&to_json(&s)).map(|_| ExitCode::SUCCESS).map_err(Into::into);
            }
            let row = |name: &str, r: &pb::RowStats| {
                vec![
                    name.to_string(),
                    r.processed.to_string(),
                    r.processed_with_error.to_string(),
                    r.unparseable.to_string(),
                    r.thrown_away.to_string(),
                ]
            };
            let mut rows: Vec<Vec<String>> = s.partitions.iter().map(|(p, r)| row(p, r)).collect();
            rows.push(row("total", &s.totals.unwrap_or_default()));
            let headers = ["PARTITION", "PROCESSED", "PROCESSED_WITH_ERROR", "UNPARSEABLE", "THROWN_AWAY"];
            say!("{}", table(&headers, &rows));
        }
        SupervisorCommand::History { id } => {
            let r = c.get_supervisor_history(pb::GetSupervisorHistoryRequest { id }).await.map_err(rpc)?.into_inner();
            if out.json {
                return out.print_json(&to_json(&r.entries)).map(|_| ExitCode::SUCCESS).map_err(Into::into);
            }
            let rows: Vec<Vec<String>> =
                r.entries.iter().map(|h| vec![h.version.clone(), h.spec_json.clone()]).collect();
            say!("{}", table(&["VERSION", "SPEC"], &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Output {
    /// Druid's status report: the supervisor, its partitions' offsets and
    /// lag, its tasks, its recent errors.
    fn supervisor_status(&self, s: &pb::SupervisorStatus) -> std::io::Result<()> {
        if self.json {
            return self.print_json(&to_json(s));
        }
        say!("id:              {}", s.data_source);
        say!(
            "stream:          {}, {} partitions, replicas {}, task duration {} s",
            s.stream,
            s.partitions,
            s.replicas,
            s.duration_seconds
        );
        say!("state:           {} (detailed: {})", state(s.state), state(s.detailed_state));
        say!("healthy:         {}", s.healthy);
        say!("suspended:       {}", s.suspended);
        say!("aggregate lag:   {}", s.aggregate_lag.map(|l| l.to_string()).unwrap_or_else(|| "-".into()));
        say!("offsets updated: {}", s.offsets_last_updated_ms.map(utc).unwrap_or_else(|| "-".into()));
        let mut partitions: Vec<&String> =
            s.current_offsets.keys().chain(s.latest_offsets.keys()).chain(s.minimum_lag.keys()).collect();
        partitions.sort();
        partitions.dedup();
        let cell = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = partitions
            .iter()
            .map(|p| {
                vec![
                    p.to_string(),
                    cell(s.current_offsets.get(*p).cloned()),
                    cell(s.latest_offsets.get(*p).cloned()),
                    cell(s.minimum_lag.get(*p).map(u64::to_string)),
                ]
            })
            .collect();
        say!();
        say!("{}", table(&["PARTITION", "CURRENT_OFFSET", "LATEST_OFFSET", "LAG"], &rows));
        say!();
        if s.active_tasks.is_empty() {
            say!("active tasks: none");
        } else {
            let rows: Vec<Vec<String>> = s
                .active_tasks
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.r#type.clone(),
                        t.start_time_ms.map(utc).unwrap_or_else(|| "-".into()),
                        cell(t.remaining_seconds.map(|r| r.to_string())),
                    ]
                })
                .collect();
            say!("{}", table(&["TASK", "TYPE", "STARTED", "REMAINING_S"], &rows));
        }
        say!();
        if s.recent_errors.is_empty() {
            say!("recent errors: none");
        } else {
            let rows: Vec<Vec<String>> = s
                .recent_errors
                .iter()
                .map(|e| {
                    vec![
                        e.timestamp_ms.map(utc).unwrap_or_else(|| "-".into()),
                        e.exception_class.clone(),
                        e.message.clone(),
                    ]
                })
                .collect();
            say!("{}", table(&["AT", "CLASS", "MESSAGE"], &rows));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_as_partition_equals_offset() {
        assert_eq!(parse_offset("2=41").unwrap(), (2, "41".to_string()));
        let seq = "49590338271490256608559692538361571095921575989136588898";
        assert_eq!(parse_offset(&format!("0={seq}")).unwrap().1, seq, "offsets stay text");
        assert!(parse_offset("x=1").unwrap_err().contains("partition number"));
        assert!(parse_offset("1").unwrap_err().contains("PARTITION=OFFSET"));
        assert!(parse_offset("1=").unwrap_err().contains("offset is missing"));
    }
}
