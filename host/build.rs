//! Builds the plugins in `guests/` as wasm components, so that `cargo build`
//! and `cargo test` need no manual step (the pattern of wasmtime's
//! `crates/test-programs/artifacts/build.rs`).
//!
//! The guests are built by a nested `cargo build --target wasm32-wasip2
//! --release` into `target/wasm-guests`: its own target dir, so that the nested
//! cargo does not wait on the lock the outer build holds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guests embedded in the host binary (package name, file stem).
const GUESTS: &[(&str, &str)] = &[
    ("sluice-opensearch", "sluice_opensearch"),
    ("sluice-debezium", "sluice_debezium"),
    ("sluice-druid", "sluice_druid"),
];
/// Guests built for the tests only; they find them through the
/// `SLUICE_TEST_GUESTS_DIR` environment variable set at compile time.
const TEST_GUESTS: &[&str] = &["sluice-echo", "sluice-misbehave"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    for dir in ["wit", "guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());

    // target/<profile>/build/sluice-<hash>/out -> target/
    let target_root = out_dir.ancestors().nth(4).unwrap().to_path_buf();
    let guest_target = target_root.join("wasm-guests");

    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"]).arg(&guest_target);
    for package in GUESTS.iter().map(|(p, _)| *p).chain(TEST_GUESTS.iter().copied()) {
        cmd.args(["-p", package]);
    }
    // The outer build's flags (coverage, sanitizers, target features) are not
    // meant for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    // Guests are small and run every message: whole-program optimisation
    // (one codegen unit, LTO) makes the opensearch decode ~6% cheaper in
    // instructions (measured with `cargo bench -p sluice-bench`) for ~10 s
    // more build time. Only this nested build sees these settings.
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "true").env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    // wasm SIMD (on by default in wasmtime): LLVM vectorises the guests'
    // byte loops (UTF-8 checks, escape scans, copies); the opensearch decode
    // ran ~5% faster (issue 19, `SLUICE_BENCH_GUEST` A/B in `cargo bench -p
    // sluice-bench`).
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128");
    let status = cmd.status().expect("failed to run cargo to build the wasm guests");
    if !status.success() {
        panic!(
            "building the wasm guests failed. If the error says the target is missing, run:\n    rustup target add wasm32-wasip2"
        );
    }

    let mut generated = String::new();
    for (package, stem) in GUESTS {
        let wasm = guest_target.join("wasm32-wasip2/release").join(format!("{stem}.wasm"));
        assert!(wasm.exists(), "guest {package} did not produce {}", wasm.display());
        let dest = out_dir.join(format!("{stem}.wasm"));
        copy_if_changed(&wasm, &dest);
        let konst = stem.to_uppercase();
        generated.push_str(&format!(
            "/// The `{package}` component, built from `guests/`.\npub const {konst}: &[u8] = include_bytes!({:?});\n",
            dest.display().to_string()
        ));
    }
    std::fs::write(out_dir.join("guests.rs"), generated).unwrap();
    println!("cargo:rustc-env=SLUICE_TEST_GUESTS_DIR={}", guest_target.join("wasm32-wasip2/release").display());

    compile_protos(&root, &out_dir);
}

/// Generates the gRPC control plane (`proto/sluice/v1/*.proto`, package
/// `sluice.v1`) with tonic-prost-build, plus a file descriptor set for server
/// reflection. protoc comes from the `protoc-bin-vendored` crate unless
/// `PROTOC` names one, so no system package is needed.
fn compile_protos(root: &Path, out_dir: &Path) {
    let proto_dir = root.join("proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    if std::env::var_os("PROTOC").is_none() {
        let protoc =
            protoc_bin_vendored::protoc_bin_path().expect("protoc-bin-vendored has no protoc for this platform");
        // SAFETY: the build script is single-threaded here.
        unsafe { std::env::set_var("PROTOC", protoc) };
    }
    let protos: Vec<PathBuf> = ["ingestion", "documents", "plugins", "state", "supervisors"]
        .iter()
        .map(|f| proto_dir.join(format!("sluice/v1/{f}.proto")))
        .collect();
    // JSON for `sluice ctl --json`: every message serializes; enum fields are
    // i32 in prost, so they serialize by name through `crate::api::enum_name`.
    let mut builder = tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("sluice_v1_descriptor.bin"))
        .type_attribute(".sluice.v1", "#[derive(serde::Serialize)]")
        // Maps (a supervisor's offsets and lags by partition) keep key order,
        // in tables and JSON alike.
        .btree_map(".sluice.v1");
    for (field, enum_type) in [
        ("Ingestion.error_strategy", "ErrorPolicy"),
        ("ShardState.error_strategy", "ErrorPolicy"),
        ("ShardState.state", "PollerState"),
        ("ShardReset.mode", "ResetMode"),
        ("SubmitSupervisorResponse.outcome", "SubmitOutcome"),
        ("Supervisor.state", "SupervisorState"),
        ("Supervisor.detailed_state", "SupervisorState"),
        ("SupervisorStatus.state", "SupervisorState"),
        ("SupervisorStatus.detailed_state", "SupervisorState"),
        ("SupervisorHealth.state", "SupervisorState"),
        ("SupervisorHealth.detailed_state", "SupervisorState"),
    ] {
        builder = builder.field_attribute(
            format!(".sluice.v1.{field}"),
            format!("#[serde(serialize_with = \"crate::api::proto::serialize_enum::<{enum_type}, _>\")]"),
        );
    }
    // The stats messages are filled from the engine's polling_ingest_stats
    // JSON (one source of truth for OpenSearch's names); an unknown field is
    // an error the unit tests catch.
    for message in ["PollingIngestStats", "MessageProcessorStats", "ConsumerStats"] {
        builder = builder.type_attribute(
            format!(".sluice.v1.{message}"),
            "#[derive(serde::Deserialize)] #[serde(deny_unknown_fields)]",
        );
    }
    builder.compile_protos(&protos, &[proto_dir]).unwrap_or_else(|e| panic!("compiling proto/sluice/v1: {e}"));
}

/// Installs the wasm32-wasip2 target through rustup when it is missing, so
/// that the quick start works on a fresh clone with one command.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output();
    let installed = sysroot
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("lib/rustlib/wasm32-wasip2").exists())
        .unwrap_or(false);
    if installed {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target (rustup target add wasm32-wasip2)");
    let added = Command::new("rustup").args(["target", "add", "wasm32-wasip2"]).status();
    if !matches!(added, Ok(s) if s.success()) {
        println!("cargo:warning=could not run `rustup target add wasm32-wasip2`; install the target by hand");
    }
}

fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).unwrap();
    if std::fs::read(to).ok().as_deref() != Some(&new[..]) {
        std::fs::write(to, new).unwrap();
    }
}
