//! The README's plugin guide, step by step: `sluice plugin new`, build for
//! wasm32-wasip2, `sluice plugin check`, register with a running host, use it.

use crate::support::Stream;
use crate::support::grpc_server::Server;
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn sluice(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_plugin_guide_builds_a_plugin_that_check_accepts_and_an_ingestion_uses() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("my-format");
    // 1. create the crate
    sluice(&["plugin", "new", "my-format", "--dir", dir.to_str().unwrap()]);
    // 2. build it. The workspace's lock file pins the same dependency versions
    // and the shared guest target dir reuses their compiled code (speed only).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root.join("target/wasm-guests"))
        .output()
        .unwrap();
    assert!(build.status.success(), "building the plugin failed: {}", String::from_utf8_lossy(&build.stderr));
    let wasm = root.join("target/wasm-guests/wasm32-wasip2/release/my_format.wasm");
    // 3. check it
    let check = sluice(&[
        "plugin",
        "check",
        wasm.to_str().unwrap(),
        "--sample",
        dir.join("sample.ndjson").to_str().unwrap(),
        "--json",
    ]);
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&check.stdout).lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["outcome"][0]["id"], "a");
    assert_eq!(lines[1]["outcome"]["invalid"], "id is missing");
    assert!(lines[2]["outcome"]["invalid"].as_str().unwrap().contains("not valid JSON"));
    // 4. register it with a running host, and use it
    let data = work.path().join("data");
    let server = Server::start(&data, &[]);
    let addr = server.addr.clone();
    let ctl = |args: &[&str]| {
        let mut all = vec!["ctl", "--addr", addr.as_str()];
        all.extend_from_slice(args);
        sluice(&all)
    };
    ctl(&["plugin", "register", "my-format", "0.1.0", wasm.to_str().unwrap()]);
    let stream = Stream::new(1);
    stream.append(0, &[r#"{"id":"x","v":1}"#, r#"{"id":"y","v":2}"#, "nope"]);
    let mut spec = stream.spec("guide", 1, json!({}));
    spec["sluice"] = json!({"plugin": {"name": "my-format", "version": "0.1.0"}});
    let spec_path = work.path().join("my-spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    // A spec that names the component file instead is for `sluice run`: the
    // host refuses it and says how to register it.
    let mut by_path = spec.clone();
    by_path["name"] = json!("by-path");
    by_path["sluice"] = json!({"plugin": {"path": "my_format.wasm"}});
    let by_path_file = work.path().join("by-path.json");
    std::fs::write(&by_path_file, by_path.to_string()).unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["ctl", "--addr", addr.as_str(), "create", by_path_file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("INVALID_ARGUMENT")
            && stderr.contains("sluice ctl plugin register my_format 0.1.0 my_format.wasm"),
        "{stderr}"
    );
    ctl(&["create", spec_path.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let count = ctl(&["doc", "count", "guide"]);
        if String::from_utf8_lossy(&count.stdout).trim() == "2" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the ingestion did not index the 2 valid messages");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let doc = ctl(&["--json", "doc", "get", "guide", "y"]);
    assert!(String::from_utf8_lossy(&doc.stdout).contains(r#""v":2"#), "{}", String::from_utf8_lossy(&doc.stdout));
}

/// `sluice plugin new 123` inside the checkout: cargo refuses a package name
/// that starts with a digit, so the package is `_123`; the SDK path is
/// relative to the new crate, so the checkout builds anywhere.
#[test]
fn plugin_new_takes_a_name_that_starts_with_a_digit_and_points_at_the_sdk_by_a_relative_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = tempfile::Builder::new().prefix("plugin-new-").tempdir_in(root.join("target")).unwrap();
    let dir = work.path().join("123");
    let out = sluice(&["plugin", "new", "123", "--dir", dir.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("_123"), "{}", String::from_utf8_lossy(&out.stdout));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"name = "_123""#), "{manifest}");
    assert!(manifest.contains(r#"sluice-plugin-sdk = { path = "../../../guests/sdk" }"#), "{manifest}");
    assert!(!manifest.contains(root.to_str().unwrap()), "no absolute path to this machine's checkout: {manifest}");
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root.join("target/wasm-guests"))
        .output()
        .unwrap();
    assert!(build.status.success(), "building the plugin failed: {}", String::from_utf8_lossy(&build.stderr));
    let wasm = root.join("target/wasm-guests/wasm32-wasip2/release/_123.wasm");
    let check = sluice(&["plugin", "check", wasm.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&check.stdout).contains("a valid sluice:plugin/message-format"));
}
