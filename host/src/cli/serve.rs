//! `sluice serve`: the host as a long-lived service, managed over gRPC and,
//! with `--http-listen`, over HTTP in OpenSearch's REST shapes.

use super::DataDir;
use anyhow::{Context, bail};
use sluice::api::{self, ServeOptions};
use sluice::manager::Manager;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
        // Restores every ingestion the state store holds (paused shards stay paused).
        let manager = {
            let data_dir = data_dir.clone();
            tokio::task::spawn_blocking(move || Manager::open(&data_dir, store)).await??
        };
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
        tokio::task::spawn_blocking(move || manager.shutdown()).await?;
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
