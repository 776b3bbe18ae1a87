//! `sluice run` says what went wrong and what to do (issue 15): a missing
//! stream or base directory, a gap in the partition files, a relative path,
//! a locked data directory, an interrupt, a shard that keeps failing, the
//! summary's state column, and plain logs when stderr is not a terminal.

use crate::support::*;
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sluice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
}

fn write_spec(dir: &Path, spec: &Value) -> std::path::PathBuf {
    let file = dir.join("spec.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    file
}

fn run_until_idle(spec_file: &Path, data: &Path) -> Output {
    sluice()
        .arg("run")
        .arg(spec_file)
        .args(["--until-idle", "--timeout", "60", "--data-dir"])
        .arg(data)
        .output()
        .unwrap()
}

fn file_spec(name: &str, base: &str, stream: &str, shards: u32, extra: Value) -> Value {
    let mut source = json!({"type": "file", "pointer.init.reset": "earliest", "poll.timeout": 50,
        "param": {"stream": stream, "base_directory": base}});
    for (k, v) in extra.as_object().unwrap() {
        source[k] = v.clone();
    }
    json!({"name": name, "settings": {"index.number_of_shards": shards, "ingestion_source": source}})
}

fn docs(n: usize) -> Vec<String> {
    (0..n).map(|i| msg(Some(&format!("d{i}")), None, "index", json!({"i": i}))).collect()
}

#[test]
fn a_misspelled_stream_or_missing_base_directory_is_an_error_that_says_what_is_there() {
    let stream = Stream::new(1);
    stream.append(0, &docs(3));
    let dir = tempfile::tempdir().unwrap();
    let base = stream.dir.path().display().to_string();
    let typo =
        run_until_idle(&write_spec(dir.path(), &file_spec("t", &base, "evnets", 1, json!({}))), &dir.path().join("d"));
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(!typo.status.success(), "a misspelled stream must not be a silent success: {err}");
    assert!(err.contains("param.stream \"evnets\"") && err.contains("it holds: events"), "{err}");

    let missing = format!("{base}/nowhere");
    let out = run_until_idle(
        &write_spec(dir.path(), &file_spec("t", &missing, "events", 1, json!({}))),
        &dir.path().join("d"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("param.base_directory") && err.contains("does not exist"), "{err}");
}

#[test]
fn a_relative_base_directory_is_relative_to_the_spec_file_and_a_gap_is_warned_about() {
    // <dir>/specs/spec.json reads <dir>/specs/streams/s/{0,2}.ndjson, run from another directory.
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs");
    std::fs::create_dir_all(specs.join("streams/s")).unwrap();
    std::fs::write(specs.join("streams/s/0.ndjson"), docs(4).join("\n") + "\n").unwrap();
    std::fs::write(specs.join("streams/s/2.ndjson"), "").unwrap();
    let file = write_spec(&specs, &file_spec("rel", "streams", "s", 3, json!({})));
    let out = sluice()
        .current_dir(dir.path())
        .arg("run")
        .arg(&file)
        .args(["--until-idle", "--timeout", "60", "--data-dir", "data"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let total: Vec<&str> = stdout.lines().find(|l| l.starts_with("total")).unwrap().split_whitespace().collect();
    assert_eq!((total[1], total[5]), ("4", "4"), "4 processed, 4 documents: {stdout}");
    assert!(err.contains("partition files 0.ndjson, 2.ndjson exist but 1.ndjson missing"), "{err}");
    // Logs to a pipe are plain text.
    assert!(!err.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {err:?}");
}

#[test]
fn the_summary_shows_each_shards_real_state_and_a_blocked_run_says_so() {
    let stream = Stream::new(2);
    stream.append(0, &docs(3));
    stream.append(1, &["{not json".to_string()]);
    let dir = tempfile::tempdir().unwrap();
    let spec = stream.spec("sum", 2, json!({"error_strategy": "BLOCK"}));
    let out = run_until_idle(&write_spec(dir.path(), &spec), &dir.path().join("d"));
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let state_of = |shard: &str| {
        table
            .lines()
            .find(|l| l.starts_with(shard))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!((state_of("0 "), state_of("1 ")), ("IDLE".to_string(), "BLOCKED".to_string()), "{table}");
    assert!(!table.contains("CLOSED"), "{table}");
}

#[test]
fn a_second_run_on_a_locked_data_directory_and_an_interrupt_say_what_happened() {
    let stream = Stream::new(1);
    stream.append(0, &docs(5));
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), &stream.spec("lock", 1, json!({})));
    let data = dir.path().join("d");
    // The first run follows the stream (no --until-idle) until interrupted.
    let mut first = sluice()
        .arg("run")
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.join("sinks/lock/shard-0").exists() {
        assert!(
            Instant::now() < deadline && first.try_wait().unwrap().is_none(),
            "the first run never opened its sink"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let second = run_until_idle(&file, &data);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(err.contains("another sluice process has this sink open"), "{err}");
    assert!(!err.contains("FjallError"), "{err}");

    // Following a stream, a signal is how a run ends: a clean stop that says so.
    assert!(Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap().success());
    let out = first.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("stopped: every batch in flight was committed"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let total: Vec<&str> = stdout.lines().find(|l| l.starts_with("total")).unwrap().split_whitespace().collect();
    assert_eq!((total[1], total[5]), ("5", "5"), "the summary is still printed, with every commit: {stdout}");
}

#[test]
fn an_interrupt_before_idle_is_not_a_success() {
    let stream = Stream::new(2);
    stream.append(0, &docs(2));
    std::fs::remove_file(stream.path(1)).unwrap();
    std::fs::create_dir_all(stream.path(1)).unwrap(); // never idle: shard 1 cannot be read
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), &stream.spec("int", 2, json!({})));
    let data = dir.path().join("d");
    let child = sluice()
        .arg("run")
        .arg(&file)
        .args(["--until-idle", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.join("sinks/int/shard-0").exists() {
        assert!(Instant::now() < deadline, "the run never opened its sinks");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted before every shard was idle"), "{err}");
}

#[test]
fn until_idle_ends_on_a_shard_that_keeps_failing_and_names_the_reason() {
    let stream = Stream::new(2);
    stream.append(0, &docs(2));
    // Partition 1 cannot be read: its file is a directory.
    std::fs::remove_file(stream.path(1)).unwrap();
    std::fs::create_dir_all(stream.path(1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_spec(dir.path(), &stream.spec("stuck", 2, json!({})));
    let started = Instant::now();
    let mut child = sluice()
        .arg("run")
        .arg(&file)
        .args(["--until-idle", "--timeout", "120", "--data-dir"])
        .arg(dir.path().join("d"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines: Vec<String> = std::io::BufReader::new(stderr).lines().map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "{lines:#?}");
    assert!(started.elapsed() < Duration::from_secs(100), "it gave up before the timeout");
    let said =
        lines.iter().find(|l| l.starts_with("shard 1 keeps failing without progress")).expect("the reason is printed");
    assert!(said.contains("1.ndjson"), "{said}");
}
