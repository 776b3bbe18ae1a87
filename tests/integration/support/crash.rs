//! Crash tests: SIGKILLing a `sluice` child repeatedly while the stream is
//! made readable part by part, and the rig of `sluice run` over a spec file
//! and a data directory.

use super::model::{Model, assert_sinks_match};
use serde_json::Value;
use sluice::spec::IngestionSpec;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A crash test's stream cut into `n` parts: part k holds, for every shard,
/// the k-th of `n` consecutive slices of that shard's lines.
pub fn split_parts<T: Clone>(lines: &[Vec<T>], n: usize) -> Vec<Vec<Vec<T>>> {
    (0..n).map(|k| lines.iter().map(|l| l[l.len() * k / n..l.len() * (k + 1) / n].to_vec()).collect()).collect()
}

/// How the kills of [`sigkill_repeatedly`] landed.
#[derive(Clone, Copy, Debug)]
pub struct Kills {
    /// SIGKILLs of a running child after it committed something in that
    /// run, before the end of the stream.
    pub landed: u32,
    /// Of those, how many found the child with work still to commit (the
    /// rest found it waiting for the next part of the stream).
    pub busy: u32,
    /// Runs of the child in all (some are killed before their first commit).
    pub runs: u32,
}

impl std::fmt::Display for Kills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} SIGKILLs landed mid-ingestion ({} with work in flight) in {} runs",
            self.landed, self.busy, self.runs
        )
    }
}

/// SIGKILLs a `sluice` child process (its command made by `command`)
/// repeatedly while it ingests a stream made readable in parts, until
/// `wanted` kills have landed mid-ingestion; then makes the rest of the
/// stream readable and returns. The caller then runs the ingestion to its end.
///
/// The kill points do not depend on the machine's speed: `sizes` are the
/// messages of each part of the stream (at least `wanted + 1` parts) and
/// `feed(k)` makes part k readable (appends, produces or puts it). Part 0 is
/// there before the first run and one more part after each kill that
/// landed; the last part (the tail) only after the last kill. So the
/// ingestion cannot finish before the last kill, however fast or slow the
/// child runs. `command` must not exit by itself (no `--until-idle`: see
/// [`RunRig::follow_command`]), so every kill hits a running child, and a
/// kill counts when the child committed something in that run.
///
/// Start-up time varies a lot on a loaded machine, so the clock for each kill
/// starts when the child logs that a shard session started (the child runs
/// with `RUST_LOG=sluice=debug`); the kill then comes after 10-60% of the
/// work readable but not committed yet, at the rate measured in earlier runs
/// (only how many kills find work in flight depends on that estimate).
/// `committed` reads the committed message count while no child runs.
pub fn sigkill_repeatedly(
    wanted: u32,
    sizes: &[u64],
    mut feed: impl FnMut(usize),
    mut committed: impl FnMut() -> u64,
    mut command: impl FnMut() -> std::process::Command,
) -> Kills {
    use std::io::BufRead;
    use std::process::Stdio;
    assert!(sizes.len() > wanted as usize, "{wanted} kills need at least {} parts of the stream", wanted + 1);
    assert!(sizes.iter().all(|&n| n > 0), "every part holds messages: {sizes:?}");
    let total: u64 = sizes.iter().sum();
    let tail = sizes.len() - 1;
    feed(0);
    let (mut fed, mut readable) = (1, sizes[0]);
    // messages/s, refined after each run; a high first guess kills early.
    let mut rate: f64 = 200_000.0;
    let mut rng = 0x5eed_u64;
    let mut k = Kills { landed: 0, busy: 0, runs: 0 };
    while k.landed < wanted {
        k.runs += 1;
        assert!(k.runs <= 60, "could not land {wanted} kills mid-ingestion in 60 runs ({})", k);
        let before = committed();
        // Each run starts with work to do: the next part comes after each kill that committed.
        assert!(before < readable, "the child committed {before} of {readable} readable messages");
        let mut child =
            command().env("RUST_LOG", "sluice=debug").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
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
        // Start-up: until the first session starts.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while rx.recv_timeout(Duration::from_millis(10)).is_err() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                child.wait().unwrap();
                panic!("the child never started a session:\n{}", log.join().unwrap());
            }
            if child.try_wait().unwrap().is_some() {
                exited(&mut child, log);
            }
        }
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let fraction = 0.10 + ((rng >> 33) % 500) as f64 / 1000.0;
        let remaining = (readable - before) as f64;
        let delay = Duration::from_secs_f64((remaining * fraction / rate).clamp(0.01, 5.0));
        let started = std::time::Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                exited(&mut child, log);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let ran = started.elapsed();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(log.join());
        let after = committed();
        assert!(after >= before, "committed progress never goes backwards ({before} -> {after})");
        assert!(after <= readable, "committed {after} of only {readable} readable messages");
        let progress = after - before;
        let measured = progress as f64 / ran.as_secs_f64().max(0.001);
        if progress == 0 {
            rate /= 2.0; // killed before the first commit: wait longer next time
            continue;
        }
        k.landed += 1;
        if after < readable {
            k.busy += 1;
            rate = measured.max(100.0);
        } else {
            // It had committed everything before the kill: it is faster than that.
            rate = measured.max(rate) * 2.0;
        }
        if k.landed < wanted && fed < tail {
            feed(fed);
            readable += sizes[fed];
            fed += 1;
        }
    }
    // The kills are done: the rest of the stream, the tail last.
    for (part, size) in sizes.iter().enumerate().skip(fed) {
        feed(part);
        readable += size;
    }
    assert_eq!(readable, total);
    k
}

fn exited(child: &mut std::process::Child, log: std::thread::JoinHandle<String>) -> ! {
    let status = child.wait().unwrap();
    panic!("the child exited by itself ({status}); it should run until killed:\n{}", log.join().unwrap());
}

/// A spec file, a data directory and the `sluice run` commands over them:
/// what the crash tests kill and restart.
pub struct RunRig {
    _dir: tempfile::TempDir,
    pub spec_path: PathBuf,
    pub spec: IngestionSpec,
    pub data: PathBuf,
}

impl RunRig {
    /// The rig of `spec_json`, with `index.gc_deletes: -1`: the reference
    /// model keeps every tombstone, and a crash test may run longer than the
    /// 60 s default, after which a late older `index` of a collected
    /// tombstone would apply (as in OpenSearch) where the model conflicts.
    pub fn new(spec_json: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut spec_json = spec_json.clone();
        if !sluice::spec::is_druid(&spec_json) {
            spec_json["settings"]["index.gc_deletes"] = Value::from(-1);
        }
        let spec_json = &spec_json;
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

    /// `sluice run <spec> --data-dir <data>`: follows the stream until it is
    /// stopped or killed (never exits by itself).
    pub fn follow_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap());
        cmd.arg("run").arg(&self.spec_path).arg("--data-dir").arg(&self.data);
        cmd
    }

    /// Messages committed so far over every shard (0 before the sinks exist).
    pub fn committed(&self) -> u64 {
        match sluice::wiring::open_sinks(&self.data, &self.spec) {
            Ok(sinks) => sinks.iter().map(|s| s.meta().unwrap().counters.total_processed_count).sum(),
            Err(_) => 0,
        }
    }

    /// Runs to the end once more (it must succeed), then checks the sinks
    /// against `model`.
    pub fn finish_and_check(&self, model: &Model) {
        let out = self.command().output().unwrap();
        assert!(out.status.success(), "final run failed: {}", String::from_utf8_lossy(&out.stderr));
        let sinks = sluice::wiring::open_sinks(&self.data, &self.spec).unwrap();
        assert_sinks_match(&sinks, model);
    }
}
