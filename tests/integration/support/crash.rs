//! Crash tests: SIGKILLing a `sluice` child repeatedly, and the rig of a
//! `sluice run --until-idle` over a spec file and a data directory.

use super::model::{assert_sinks_match, Model};
use serde_json::Value;
use sluice::spec::IngestionSpec;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SIGKILLs a `sluice` child process (its command made by `command`)
/// repeatedly while it ingests, and returns how many kills landed
/// mid-ingestion (after some progress, before the end) and in how many runs.
///
/// Start-up time varies a lot on a loaded machine, so the clock for each kill
/// starts when the child logs that a shard session started (the child runs
/// with `RUST_LOG=sluice=debug`); the kill then comes after 10-40% of the
/// remaining work at the rate measured in earlier runs. `committed` reads the
/// committed message count while no child runs.
pub fn sigkill_repeatedly(
    total: u64,
    wanted: u32,
    mut committed: impl FnMut() -> u64,
    mut command: impl FnMut() -> std::process::Command,
) -> (u32, u32) {
    use std::io::BufRead;
    use std::process::Stdio;
    // messages/s, refined after each run; a high first guess kills early.
    let mut rate: f64 = 200_000.0;
    let mut rng = 0x5eed_u64;
    let (mut kills, mut runs) = (0, 0);
    while kills < wanted {
        runs += 1;
        assert!(runs <= 60, "could not land {wanted} kills mid-ingestion in 60 runs ({kills} did)");
        let before = committed();
        assert!(before < total, "the ingestion finished after {kills} kills mid-ingestion; {wanted} were wanted");
        let mut child = command()
            .env("RUST_LOG", "sluice=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        // The child's log, for the failure messages.
        let log = std::thread::spawn(move || {
            let (mut sent, mut log) = (false, String::new());
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("session starts") {
                    let _ = tx.send(());
                    sent = true;
                }
                log.push_str(&line);
                log.push('\n');
            }
            log
        });
        // Start-up: until the first session starts (or the child exits).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while rx.recv_timeout(Duration::from_millis(10)).is_err() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                child.wait().unwrap();
                panic!("the child never started a session:\n{}", log.join().unwrap());
            }
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the child failed ({status}):\n{}", log.join().unwrap());
                break;
            }
        }
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // 5-25% of the remaining work: six kills still leave work for a seventh run.
        let fraction = 0.05 + ((rng >> 33) % 200) as f64 / 1000.0;
        let remaining = (total - before) as f64;
        let delay = Duration::from_secs_f64((remaining * fraction / rate).clamp(0.01, 5.0));
        let started = std::time::Instant::now();
        while started.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let ran = started.elapsed();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(log.join());
        let after = committed();
        assert!(after >= before, "committed progress never goes backwards ({before} -> {after})");
        let progress = after - before;
        if progress == 0 {
            rate /= 2.0; // killed before the first commit: wait longer next time
        } else {
            rate = (progress as f64 / ran.as_secs_f64().max(0.001)).max(100.0);
            if after < total {
                kills += 1;
            }
        }
    }
    (kills, runs)
}

/// A spec file, a data directory and the `sluice run --until-idle` command
/// over them: what the crash tests kill and restart.
pub struct RunRig {
    _dir: tempfile::TempDir,
    pub spec_path: PathBuf,
    pub spec: IngestionSpec,
    pub data: PathBuf,
}

impl RunRig {
    pub fn new(spec_json: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = IngestionSpec::from_value(spec_json).unwrap();
        let spec_path = dir.path().join(format!("{}.json", spec.name));
        std::fs::write(&spec_path, spec_json.to_string()).unwrap();
        let data = dir.path().join("data");
        RunRig { _dir: dir, spec_path, spec, data }
    }

    /// `sluice run <spec> --until-idle --data-dir <data>` from the repository root.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap());
        cmd.arg("run").arg(&self.spec_path).args(["--until-idle", "--data-dir"]).arg(&self.data);
        cmd
    }

    /// Messages committed so far over every shard (0 before the sinks exist).
    pub fn committed(&self) -> u64 {
        match sluice::engine::open_sinks(&self.data, &self.spec) {
            Ok(sinks) => sinks.iter().map(|s| s.meta().unwrap().counters.total_processed_count).sum(),
            Err(_) => 0,
        }
    }

    /// Runs to the end once more (it must succeed), then checks the sinks
    /// against `model`.
    pub fn finish_and_check(&self, model: &Model) {
        let out = self.command().output().unwrap();
        assert!(out.status.success(), "final run failed: {}", String::from_utf8_lossy(&out.stderr));
        let sinks = sluice::engine::open_sinks(&self.data, &self.spec).unwrap();
        assert_sinks_match(&sinks, model);
    }
}
