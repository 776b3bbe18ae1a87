//! `sluice serve`: the host as a long-lived service, managed over gRPC and,
//! with `--http-listen`, over HTTP in OpenSearch's REST shapes.

use super::DataDir;
use anyhow::{Context, bail};
use sluice::api::{self, ServeOptions};
use sluice::cluster::{self, Cluster, ClusterSettings, Coordinator};
use sluice::manager::{Manager, ManagerOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// Where the gRPC control plane listens (port 0: any free port; the bound
    /// address is printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// A file holding the bearer token every call must carry
    /// (`authorization: Bearer <token>`). Without it, no authentication.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address. Off by default.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Serve the HTTP API (OpenSearch's pull-based ingestion calls) on this
    /// address: `HOST:PORT`, or `PORT` / `:PORT` for 127.0.0.1. Off by
    /// default. Same token as gRPC; the bound address is printed as `http on ADDR`.
    #[arg(long, value_parser = api::http::listen_addr)]
    http_listen: Option<SocketAddr>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Many hosts sharing the shards of every ingestion (leases in Redis).
#[derive(clap::Args)]
struct ClusterArgs {
    /// Share the shards of every ingestion with the other `sluice serve
    /// --cluster` hosts on the same `--state redis://...`: each host runs the
    /// shards whose leases it holds. Ingestions must use the redis sink.
    #[arg(long)]
    cluster: bool,
    /// This host's id in the cluster (default: hostname-pid).
    #[arg(long, requires = "cluster")]
    host_id: Option<String>,
    /// How long a shard's lease lasts unless renewed: a dead host's shards
    /// move after at most this plus one renew interval.
    #[arg(long, default_value = "3s", value_parser = sluice::util::parse_duration, requires = "cluster")]
    lease_time: Duration,
    /// How often a host renews its leases and rebalances (at most half the lease time).
    #[arg(long, default_value = "1s", value_parser = sluice::util::parse_duration, requires = "cluster")]
    renew_interval: Duration,
}

impl ClusterArgs {
    /// Joins the cluster on the Redis state store `--state` names.
    fn open(&self, data: &DataDir) -> anyhow::Result<Option<Arc<Cluster>>> {
        if !self.cluster {
            return Ok(None);
        }
        if !data.state.starts_with("redis://") && !data.state.starts_with("rediss://") {
            bail!("--cluster needs --state redis://...: the hosts share their state and leases in Redis");
        }
        let settings = ClusterSettings {
            lease_time: self.lease_time,
            renew_interval: self.renew_interval,
            ..ClusterSettings::new(self.host_id.clone().unwrap_or_else(cluster::default_host_id))
        };
        let cluster = Cluster::open(&data.state, &data.state_prefix, settings)
            .map_err(|e| anyhow::anyhow!("cannot join the cluster: {e}"))?;
        Ok(Some(cluster))
    }
}

/// Reads a token file: its content without surrounding whitespace, not empty.
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path).with_context(|| format!("reading the token file {}", path.display()))?;
    let token = token.trim();
    if token.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(token.to_string())
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let data_dir = args.data.data_dir.clone();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let store = args.data.state_store()?;
    let cluster = args.cluster.open(&args.data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let metrics = match args.metrics_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics: listening on {addr}"))?,
            ),
            None => None,
        };
        let http = match args.http_listen {
            Some(addr) => {
                Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("http: listening on {addr}"))?)
            }
            None => None,
        };
        // Restores every ingestion the state store holds (paused shards stay
        // paused); in a cluster, with no shard running until its lease is taken.
        let manager = {
            let data_dir = data_dir.clone();
            let options = ManagerOptions { cluster: cluster.clone(), ..ManagerOptions::default() };
            tokio::task::spawn_blocking(move || Manager::open_with(&data_dir, store, options)).await??
        };
        let coordinator = cluster.map(|c| {
            println!("cluster host {}", c.host_id());
            Coordinator::start(c, manager.clone())
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", listener.local_addr()?)?;
        if let Some(listener) = metrics {
            writeln!(out, "metrics on http://{}/metrics", listener.local_addr()?)?;
            tokio::spawn(api::metrics::serve_metrics(manager.clone(), listener, stop_rx.clone()));
        }
        let http = match http {
            Some(listener) => {
                writeln!(out, "http on http://{}", listener.local_addr()?)?;
                let mut stopped = stop_rx.clone();
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                Some(tokio::spawn(api::http::serve(manager.clone(), listener, token.clone(), shutdown)))
            }
            None => None,
        };
        out.flush()?;
        drop(out);
        tracing::info!(data_dir = %data_dir.display(), authenticated = token.is_some(), "control plane serving");

        let options = ServeOptions { token, ..Default::default() };
        let mut stopped = stop_rx.clone();
        let mut server = tokio::spawn(api::serve(manager.clone(), listener, options, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let outcome = tokio::select! {
            r = &mut server => Some(r),
            _ = terminated() => None,
        };
        let _ = stop_tx.send(true);
        let result = match outcome {
            Some(r) => r.context("the server task failed")?.context("the gRPC server failed"),
            None => {
                tracing::info!("stopping: finishing in-flight calls");
                match tokio::time::timeout(Duration::from_secs(10), server).await {
                    Ok(r) => r.context("the server task failed")?.context("the gRPC server failed"),
                    Err(_) => {
                        tracing::warn!("in-flight calls did not finish within 10 s; stopping anyway");
                        Ok(())
                    }
                }
            }
        };
        if let Some(http) = http {
            // Stopped by the same signal; in-flight requests finish first.
            match tokio::time::timeout(Duration::from_secs(10), http).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP server failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server task failed"),
                Err(_) => tracing::warn!("in-flight HTTP requests did not finish within 10 s; stopping anyway"),
            }
        }
        // Stops the shards; their state stays in the store, to be restored.
        // A cluster host then releases its leases (after the last commits).
        tokio::task::spawn_blocking(move || {
            if let Some(c) = coordinator {
                c.shutdown();
            }
            manager.shutdown()
        })
        .await?;
        result.map(|()| ExitCode::SUCCESS)
    })
}

/// SIGINT or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
