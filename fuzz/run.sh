#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (not part of CI or ./scripts/test).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 60 s each, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler
# (libfuzzer-sys builds libFuzzer). It works with the stable toolchain:
# RUSTC_BOOTSTRAP=1 lets stable rustc take cargo-fuzz's nightly-only flags
# (-Zsanitizer=address and the sanitizer-coverage passes).
#
# The corpus grows in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>);
# a crash is saved in fuzz/artifacts/<target>/ and makes the script exit 1;
# each run's log is in fuzz/target/logs/<target>.log.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(spec opensearch_decode pointer state_file)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1

# Largest input each target is given: big enough for specs with many keys
# and payloads nested past the JSON depth limit.
max_len() {
    case "$1" in
        spec | opensearch_decode | state_file) echo 65536 ;;
        *) echo 4096 ;;
    esac
}

# Build first, so that the time bound is spent fuzzing.
for target in "${targets[@]}"; do
    cargo fuzz build "$target"
done
mkdir -p fuzz/target/logs
failed=()
summary=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
    log="fuzz/target/logs/$target.log"
    echo "== $target: ${seconds}s (log: $log)"
    # -timeout: one input taking longer than 10 s is a hang; -rss_limit_mb:
    # a huge allocation is a crash; -max_total_time: the time bound.
    started=$SECONDS
    if cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -max_len="$(max_len "$target")" -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
    fi
    # libFuzzer's own figure (without the build); the wall time if it crashed.
    elapsed=$(grep -o 'runs in [0-9]* second' "$log" | grep -o '[0-9]*' | tail -n 1)
    elapsed=${elapsed:-$((SECONDS - started))}
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    corpus=$(ls "fuzz/corpus/$target" | wc -l)
    summary+=("$(printf '%-18s %-7s %6ss %12s execs %6s corpus files' "$target" "$status" "$elapsed" "${execs:-?}" "$corpus")")
    if [ "$status" = FAILED ]; then
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 8 || true
    fi
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]} (inputs in fuzz/artifacts/; reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/FILE)" >&2
    exit 1
fi
