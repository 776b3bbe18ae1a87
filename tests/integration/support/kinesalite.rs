//! kinesalite (a Kinesis emulator from npm) for the Kinesis tests: one server
//! per test on a free port, killed on drop, and a client to create streams,
//! put records, split shards and freeze the server; plus a fault-injecting
//! proxy for errors kinesalite cannot be made to answer (throttling, expired
//! iterators).

#![allow(dead_code)]

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use serde_json::{Value, json};
use sluice::pointer::Pointer;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "the Kinesis tests need kinesalite 3.3.3 on PATH: run ./scripts/test (it installs it), \
     or `npm install -g kinesalite@3.3.3`";

/// A running kinesalite. In-memory: its streams die with it.
pub struct Kinesalite {
    child: Child,
    pub endpoint: String,
    rt: tokio::runtime::Runtime,
    pub client: Client,
}

/// One record to put: partition key, explicit hash key (picks the shard), data.
pub struct Put {
    pub key: String,
    pub hash_key: Option<String>,
    pub data: String,
}

/// Where a record landed.
#[derive(Clone, Debug)]
pub struct Landed {
    pub shard_id: String,
    pub sequence: Pointer,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Kinesalite {
    /// Starts kinesalite on a free port; fails (never skips) if it is not installed.
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            let mut child = match Command::new("kinesalite")
                .args(["--port", &port.to_string(), "--shardLimit", "1000"])
                // Streams are ACTIVE at once: no 500 ms CREATING/UPDATING.
                .args(["--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
                Err(e) => panic!("starting kinesalite: {e}; {INSTALL_HINT}"),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self::connect(child, port);
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("kinesalite did not listen on port {port} within 20 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("kinesalite did not start (5 attempts)");
    }

    fn connect(child: Child, port: u16) -> Self {
        let endpoint = format!("http://127.0.0.1:{port}");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("dummy", "dummy", None, None, "test"))
            .endpoint_url(&endpoint)
            .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(20)).build())
            .build();
        Kinesalite { child, endpoint, rt, client: Client::from_conf(config) }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A spec reading `stream` from this server (dummy credentials,
    /// `endpoint_override`); `source` entries are merged into `ingestion_source`.
    pub fn spec(&self, name: &str, stream: &str, shards: u32, source: Value) -> Value {
        let mut ingestion_source = json!({
            "type": "kinesis",
            "pointer.init.reset": "earliest",
            "param": {
                "stream": stream,
                "region": "us-east-1",
                "access_key": "dummy-access",
                "secret_key": "dummy-secret",
                "endpoint_override": self.endpoint,
            }
        });
        for (k, v) in source.as_object().unwrap() {
            ingestion_source[k] = v.clone();
        }
        json!({"name": name, "settings": {"index.number_of_shards": shards, "ingestion_source": ingestion_source}})
    }

    pub fn create_stream(&self, stream: &str, shards: i32) {
        self.rt.block_on(async {
            self.client.create_stream().stream_name(stream).shard_count(shards).send().await.unwrap();
        });
        self.wait_active(stream);
    }

    pub fn delete_stream(&self, stream: &str) {
        self.rt.block_on(async {
            self.client.delete_stream().stream_name(stream).send().await.unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.rt.block_on(self.client.describe_stream_summary().stream_name(stream).send()).is_ok() {
            assert!(Instant::now() < deadline, "stream {stream} not deleted");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_active(&self, stream: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.rt.block_on(self.client.describe_stream_summary().stream_name(stream).send()).unwrap();
            if out.stream_description_summary().is_some_and(|s| *s.stream_status() == StreamStatus::Active) {
                return;
            }
            assert!(Instant::now() < deadline, "stream {stream} not ACTIVE in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// (shard id, starting hash key, open?) of every shard, in shard id order.
    pub fn shards(&self, stream: &str) -> Vec<(String, String, bool)> {
        let out = self.rt.block_on(self.client.list_shards().stream_name(stream).send()).unwrap();
        let mut shards: Vec<_> = out
            .shards()
            .iter()
            .map(|s| {
                let open = s.sequence_number_range().and_then(|r| r.ending_sequence_number()).is_none();
                (s.shard_id().to_string(), s.hash_key_range().unwrap().starting_hash_key().to_string(), open)
            })
            .collect();
        shards.sort();
        shards
    }

    /// The explicit hash key that routes a record to each shard, in shard id order.
    pub fn hash_keys(&self, stream: &str) -> Vec<String> {
        self.shards(stream).into_iter().map(|(_, h, _)| h).collect()
    }

    /// Puts records in order (PutRecords, 500 a call); returns where each landed.
    pub fn put(&self, stream: &str, records: &[Put]) -> Vec<Landed> {
        let mut landed = Vec::with_capacity(records.len());
        for chunk in records.chunks(500) {
            let entries: Vec<_> = chunk
                .iter()
                .map(|r| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(&r.key)
                        .set_explicit_hash_key(r.hash_key.clone())
                        .data(Blob::new(r.data.as_bytes()))
                        .build()
                        .unwrap()
                })
                .collect();
            let out = self
                .rt
                .block_on(self.client.put_records().stream_name(stream).set_records(Some(entries)).send())
                .unwrap();
            assert_eq!(out.failed_record_count(), Some(0), "kinesalite refused records");
            for r in out.records() {
                landed.push(Landed {
                    shard_id: r.shard_id().unwrap().to_string(),
                    sequence: r.sequence_number().unwrap().parse().unwrap(),
                });
            }
        }
        landed
    }

    /// Puts `lines[s]` to shard `s` (in order); returns each shard's
    /// (sequence number, line) in stream order.
    pub fn put_per_shard(&self, stream: &str, lines: &[Vec<String>]) -> Vec<Vec<(Pointer, String)>> {
        let hash_keys = self.hash_keys(stream);
        let mut records = Vec::new();
        for (shard, shard_lines) in lines.iter().enumerate() {
            for (i, line) in shard_lines.iter().enumerate() {
                records.push(Put {
                    key: format!("k{shard}-{i}"),
                    hash_key: Some(hash_keys[shard].clone()),
                    data: line.clone(),
                });
            }
        }
        let landed = self.put(stream, &records);
        let mut out = vec![Vec::new(); lines.len()];
        for (put, l) in records.iter().zip(landed) {
            let shard = hash_keys.iter().position(|h| Some(h) == put.hash_key.as_ref()).unwrap();
            assert_eq!(l.shard_id, format!("shardId-{shard:012}"));
            out[shard].push((l.sequence, put.data.clone()));
        }
        for shard in &mut out {
            shard.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out
    }

    /// Splits `shard_id` at `new_starting_hash_key` and waits for ACTIVE.
    pub fn split(&self, stream: &str, shard_id: &str, new_starting_hash_key: &str) {
        self.rt
            .block_on(
                self.client
                    .split_shard()
                    .stream_name(stream)
                    .shard_to_split(shard_id)
                    .new_starting_hash_key(new_starting_hash_key)
                    .send(),
            )
            .unwrap();
        self.wait_active(stream);
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// SIGSTOP: the server keeps its sockets but answers nothing (an outage).
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: answers again, with every stream as it was.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }
}

impl Drop for Kinesalite {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call that went through a [`FaultProxy`].
#[derive(Clone, Debug)]
pub struct Call {
    pub at: Instant,
    /// `GetRecords`, `GetShardIterator`, ...
    pub action: String,
    pub body: Value,
    /// The error code answered instead of forwarding, if any.
    pub fault: Option<&'static str>,
}

#[derive(Default)]
struct ProxyState {
    /// GetRecords call number (1-based) -> the error code to answer it with.
    faults: BTreeMap<usize, &'static str>,
    get_records_calls: usize,
    calls: Vec<Call>,
}

/// An HTTP proxy in front of kinesalite that answers chosen GetRecords
/// calls with a Kinesis error (expired iterator, throttling) instead of
/// forwarding them, and records every call with its time.
pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<Mutex<ProxyState>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, faults: &[(usize, &'static str)]) -> Self {
        let upstream = upstream.strip_prefix("http://").unwrap().to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ProxyState { faults: faults.iter().copied().collect(), ..Default::default() }));
        let shared = state.clone();
        // The threads end with the test process.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (state, upstream) = (shared.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &state);
                });
            }
        });
        FaultProxy { endpoint, state }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
}

/// Serves one client connection, request by request.
fn serve(conn: TcpStream, upstream: &str, state: &Mutex<ProxyState>) -> std::io::Result<()> {
    let mut client = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut head = Vec::new();
        let mut content_length = 0;
        let mut action = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(()); // the client closed the connection
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap();
            }
            if lower.starts_with("x-amz-target:") {
                action = line.trim().rsplit('.').next().unwrap().to_string();
            }
            if !lower.starts_with("connection:") {
                head.push(line);
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let fault = {
            let mut s = state.lock().unwrap();
            let fault = if action == "GetRecords" {
                s.get_records_calls += 1;
                let n = s.get_records_calls;
                s.faults.remove(&n)
            } else {
                None
            };
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            s.calls.push(Call { at: Instant::now(), action: action.clone(), body, fault });
            fault
        };
        if let Some(code) = fault {
            let payload = json!({"__type": code, "message": format!("injected by the test proxy: {code}")}).to_string();
            write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fault\r\nContent-Length: {}\r\n\r\n{payload}",
                payload.len()
            )?;
            continue;
        }
        // One upstream connection per request, closed by kinesalite after
        // its answer; the answer (which says `Connection: close`) is relayed as is.
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(head.concat().as_bytes())?;
        up.write_all(b"Connection: close\r\n\r\n")?;
        up.write_all(&body)?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        client.write_all(&answer)?;
    }
}
