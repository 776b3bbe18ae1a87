//! A `sluice serve` child process for the control-plane tests (gRPC and,
//! with `--http-listen`, HTTP), and gRPC clients connected to it.

use sluice::api::proto::{
    documents_client::DocumentsClient, ingestions_client::IngestionsClient, plugins_client::PluginsClient,
    state_client::StateClient,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// How long the tests wait for a server to start or a state to be reached.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A `sluice serve` child process, killed on drop.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub(crate) addr: String,
    pub(crate) metrics: Option<String>,
    /// `http://127.0.0.1:PORT` of the HTTP API, with `--http-listen`.
    pub(crate) http: Option<String>,
    stderr: PathBuf,
}

impl Server {
    /// `GET path` on the metrics listener (`--metrics-listen`): the whole
    /// HTTP/1.1 response, status line and headers included.
    pub(crate) fn metrics_get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let base = self.metrics.as_ref().expect("the server was started with --metrics-listen");
        let hostport = base.trim_start_matches("http://").trim_end_matches("/metrics");
        let mut conn = std::net::TcpStream::connect(hostport).unwrap();
        write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        response
    }

    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let stderr = data_dir.with_extension("stderr.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut addr, mut metrics, mut http) = (None, None, None);
        let want_metrics = extra.contains(&"--metrics-listen");
        let want_http = extra.contains(&"--http-listen");
        while addr.is_none() || (want_metrics && metrics.is_none()) || (want_http && http.is_none()) {
            match rx.recv_timeout(TIMEOUT) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        addr = Some(format!("http://{a}"));
                    } else if let Some(m) = line.strip_prefix("metrics on ") {
                        metrics = Some(m.to_string());
                    } else if let Some(h) = line.strip_prefix("http on ") {
                        http = Some(h.to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "sluice serve did not print its address: {}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
            }
        }
        Server { child, addr: addr.unwrap(), metrics, http, stderr }
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(self.addr.clone()).unwrap().connect().await.unwrap()
    }

    pub(crate) async fn clients(&self) -> Clients {
        let ch = self.channel().await;
        Clients {
            ingestions: IngestionsClient::new(ch.clone()),
            documents: DocumentsClient::new(ch.clone()),
            plugins: PluginsClient::new(ch.clone()).max_encoding_message_size(64 << 20),
            state: StateClient::new(ch),
        }
    }

    /// SIGTERM, then the exit code. Async: the test's clients keep running
    /// (they answer the server's graceful-shutdown handshake).
    pub(crate) async fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        // Graceful: well within the server's 10 s grace period for in-flight calls.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "sluice serve did not stop promptly on SIGTERM: {}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`, ...) to the server process.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) struct Clients {
    pub(crate) ingestions: IngestionsClient<Channel>,
    pub(crate) documents: DocumentsClient<Channel>,
    pub(crate) plugins: PluginsClient<Channel>,
    pub(crate) state: StateClient<Channel>,
}
