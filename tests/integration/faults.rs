//! Faults around the data path: a full disk during sink commits, corrupt
//! state, and a graceful SIGTERM.

use crate::support::grpc_server::Server;
use crate::support::*;
use serde_json::json;
use sluice::engine::PollerState;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small tmpfs mounted on a temp dir (the test runs as root, as CI does);
/// unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_kb: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kb}k"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a small tmpfs failed (the full-disk test needs root, as CI has): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn resize(&self, size_kb: u64) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size_kb}k")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "remount failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_stops_the_shard_with_a_clear_error_and_it_continues_once_space_returns() {
    let stream = Stream::new(1);
    let mut model = Model::new("{}");
    // ~2 KB documents: a few MB in all, more than the disk holds at first.
    let pad = "x".repeat(2000);
    let lines: Vec<String> = (0..3000)
        .map(|i| msg(Some(&format!("d{}", i % 1500)), Some(i as u64 + 1), "index", json!({"i": i, "pad": pad})))
        .collect();
    stream.append(0, &lines);
    model.apply(0, 0, &lines);
    let disk = SmallDisk::mount(1536);
    let ing = start(&stream.spec("full", 1, json!({"poll.max_batch_size": 50})), disk.path());
    let shard = &ing.shards()[0];
    assert!(
        shard.wait_until(Duration::from_secs(60), |s| s
            .last_error
            .as_ref()
            .is_some_and(|e| e.message.contains("space"))),
        "the shard should report the full disk: {:?}",
        shard.status()
    );
    // fjall may free a little space (journal rotation) and commit a few more
    // batches, but the stream cannot finish on this disk.
    assert!(
        shard.wait_until(Duration::from_secs(30), |s| s.state == PollerState::Retrying),
        "the shard retries while the disk is full: {:?}",
        shard.status()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(shard.status().meta.counters.total_processed_count < 3000, "the disk filled mid-run");

    disk.resize(64 * 1024);
    wait_idle(&ing);
    assert_eq!(docs(&ing), model.live(), "nothing lost or doubled");
    assert_eq!(counters(&ing, 0), model.counters[&0]);
}

#[test]
fn a_corrupt_state_file_keeps_that_ingestion_from_starting_and_the_others_run() {
    let data = tempfile::tempdir().unwrap();
    let good = Stream::new(1);
    good.append(0, &[msg(Some("g"), None, "index", json!({}))]);
    let server = Server::start(data.path(), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = server.clients().await;
        for name in ["alpha", "beta"] {
            c.ingestions
                .create_ingestion(sluice::api::proto::CreateIngestionRequest {
                    spec_json: good.spec(name, 1, json!({})).to_string(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    });
    drop(server);
    // Flip one bit in beta's record.
    let path = data.path().join("state/beta.json");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();

    let server = Server::start(data.path(), &[]);
    let names = rt.block_on(async {
        let mut c = server.clients().await;
        let list =
            c.ingestions.list_ingestions(sluice::api::proto::ListIngestionsRequest {}).await.unwrap().into_inner();
        list.ingestions.into_iter().map(|i| i.name).collect::<Vec<_>>()
    });
    assert_eq!(names, ["alpha"], "alpha runs; beta refuses to start");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("beta.json") {
        assert!(Instant::now() < deadline, "the error should name the file: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stderr().contains("checksum"), "{}", server.stderr());
}

#[test]
fn sigterm_drains_in_flight_batches_and_exits_promptly() {
    let stream = Stream::new(2);
    let mut model = Model::new("{}");
    let total = 120_000;
    let lines = generated_stream(2, total as usize, 8);
    for (shard, lines) in lines.iter().enumerate() {
        model.apply(shard as u32, 0, lines);
    }
    // The last tenth of the stream is appended only after the SIGTERM, and
    // the child follows the stream (no --until-idle): it cannot finish or
    // exit by itself before the SIGTERM, however fast the machine.
    let (head, tail): (Vec<_>, Vec<_>) = lines.iter().map(|l| l.split_at(l.len() * 9 / 10)).unzip();
    for (shard, lines) in head.iter().enumerate() {
        stream.append(shard as u32, lines);
    }
    // Small batches: many commits, so that the run lasts well past the SIGTERM.
    let rig = RunRig::new(&stream.spec("term", 2, json!({"poll.max_batch_size": 10})));
    let mut child = rig
        .follow_command()
        .env("RUST_LOG", "sluice=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // (The sinks are not opened while the child has them open.) The clock
    // starts when a shard session starts, not at the spawn: start-up (the
    // plugin's first compilation) is slow on a loaded machine.
    let (started, session) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("session starts") {
                let _ = started.send(());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while session.recv_timeout(Duration::from_millis(10)).is_err() {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "the child never started a session");
    }
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "ended before SIGTERM ({status}): {}",
            String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout)
        );
    }
    let sent = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    assert!(out.status.success(), "SIGTERM is a clean stop: {:?}", out.status);
    assert!(took < Duration::from_secs(5), "stopped in {took:?}");
    let committed = rig.committed();
    assert!(committed < total, "SIGTERM arrived mid-ingestion ({committed} of {total} committed)");
    // The summary printed at exit is what the sinks hold: every batch the
    // shards had taken was committed (or not started) before the exit.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("total"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total line in the summary:\n{stdout}"));
    assert_eq!(summary, committed, "the exit summary matches the committed checkpoints");
    for (shard, lines) in tail.iter().enumerate() {
        stream.append(shard as u32, lines);
    }
    // A rerun finishes exactly.
    let rerun = Instant::now();
    rig.finish_and_check(&model);
    eprintln!("rest of the run: {:?}", rerun.elapsed());
    eprintln!("SIGTERM to exit: {took:?}; {committed} of {total} committed by then");
}

/// Flips the lowest bit of the first digit of a checkpoint record's JSON: the
/// result still parses (a digit becomes its neighbour), so only the record's
/// checksum can tell.
fn flip_a_digit(record: &mut [u8]) {
    let json_start = record.iter().position(|&b| b == b'{').expect("a JSON body");
    let digit =
        json_start + record[json_start..].iter().position(u8::is_ascii_digit).expect("a digit in the checkpoint");
    record[digit] ^= 0x01;
}

/// Creates `alpha` and `beta` on one stream with `sink`, lets both take its
/// 40 messages, and shuts the manager down.
fn two_ingestions_done(data: &Path, stream: &Stream, sink: serde_json::Value) {
    let store = std::sync::Arc::new(sluice::state::file::FileStateStore::open(&data.join("state")).unwrap());
    let manager = sluice::manager::Manager::open(data, store).unwrap();
    for name in ["alpha", "beta"] {
        let mut spec = stream.spec(name, 1, json!({}));
        spec["sluice"] = json!({"sink": sink});
        manager.create(spec).unwrap();
        wait_processed(&manager, name, 40);
    }
    manager.shutdown();
}

fn wait_processed(manager: &sluice::manager::Manager, name: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while manager.state(name).unwrap()[0].meta.counters.total_processed_count < n {
        assert!(Instant::now() < deadline, "{name} did not process {n} messages");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// After the flip: beta does not start and its error names the store and the
/// checksum; alpha runs on and takes new messages.
fn only_beta_refuses_to_start(data: &Path, stream: &Stream, names_the_store: &str) {
    let store = std::sync::Arc::new(sluice::state::file::FileStateStore::open(&data.join("state")).unwrap());
    let manager = sluice::manager::Manager::open(data, store).unwrap();
    let beta = manager.get("beta").unwrap();
    let error = beta.start_error.expect("beta refuses to start");
    assert!(error.contains("checksum") && error.contains(names_the_store), "{error}");
    assert_eq!(manager.get("alpha").unwrap().start_error, None);
    stream.append(0, &(40..50).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({}))).collect::<Vec<_>>());
    wait_processed(&manager, "alpha", 50);
    let alpha = &manager.state("alpha").unwrap()[0].meta;
    assert_eq!(alpha.last_pointer.as_ref().and_then(|p| p.as_u64()), Some(49), "alpha resumed from its own checkpoint");
    assert_eq!(alpha.live_docs, 50);
    manager.shutdown();
}

fn forty_messages() -> Stream {
    let stream = Stream::new(1);
    stream.append(0, &(0..40).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))).collect::<Vec<_>>());
    stream
}

#[test]
fn a_bit_flipped_embedded_sink_checkpoint_keeps_that_ingestion_from_starting_and_the_others_run() {
    let data = tempfile::tempdir().unwrap();
    let stream = forty_messages();
    two_ingestions_done(data.path(), &stream, json!({"type": "embedded"}));
    let sink = sluice::wiring::sink_path(data.path(), "beta", 0);
    {
        let db = fjall::Database::builder(&sink).open().unwrap();
        let meta = db.keyspace("meta", fjall::KeyspaceCreateOptions::default).unwrap();
        let mut record = meta.get("meta").unwrap().expect("a checkpoint").to_vec();
        flip_a_digit(&mut record);
        meta.insert("meta", record).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    only_beta_refuses_to_start(data.path(), &stream, &sink.display().to_string());
}

#[test]
fn a_bit_flipped_redis_sink_checkpoint_keeps_that_ingestion_from_starting_and_the_others_run() {
    let redis = crate::support::redis_server::RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let stream = forty_messages();
    two_ingestions_done(data.path(), &stream, json!({"type": "redis", "url": redis.url(), "key_prefix": "t"}));
    let key = "t:{beta:0}:meta";
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let mut record: Vec<u8> = redis::Commands::get(&mut conn, key).unwrap();
    flip_a_digit(&mut record);
    let () = redis::Commands::set(&mut conn, key, record).unwrap();
    only_beta_refuses_to_start(data.path(), &stream, key);
}
