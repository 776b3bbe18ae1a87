#!/usr/bin/env bash
# Builds the test plugins with their real toolchains (./scripts/test runs it;
# tests/integration/plugins_any_language.rs reads the results):
#   tests/plugins/python/app.py  -> target/test-plugins/python.wasm  (componentize-py 0.25.1, PyPI)
#   tests/plugins/js/plugin.js   -> target/test-plugins/js.wasm      (@bytecodealliance/componentize-js 0.23, npm;
#                                   default flags: the component imports wasi:http)
# The toolchains are installed under target/plugin-toolchains when missing
# (a venv for componentize-py, a local node_modules for componentize-js); a
# component is rebuilt when its source, wit/ or this script is newer. Needs
# python3 (with venv) and node/npm.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '==> %s\n' "$*"; }

tools=target/plugin-toolchains
out=target/test-plugins
mkdir -p "$tools" "$out"

py="$tools/venv/bin/componentize-py"
if ! "$py" --version 2>/dev/null | grep -qx 'componentize-py 0.25.1'; then
    say "installing componentize-py 0.25.1 with pip (in $tools/venv)"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1
fi

js="$tools/js/node_modules/.bin/componentize-js"
js_version() { node -p 'require("./'"$tools"'/js/node_modules/@bytecodealliance/componentize-js/package.json").version' 2>/dev/null; }
if [ ! -x "$js" ] || [[ "$(js_version)" != 0.23.* ]]; then
    say "installing @bytecodealliance/componentize-js 0.23 with npm (in $tools/js)"
    mkdir -p "$tools/js"
    (cd "$tools/js" && npm install --no-audit --no-fund --silent @bytecodealliance/componentize-js@0.23)
fi

# Whether $1 is missing or older than anything in the source dir $2, wit/ or this script.
stale() {
    [ ! -f "$1" ] || [ -n "$(find "$2" wit tests/plugins/build.sh -newer "$1" -type f -not -path '*/__pycache__/*' -print -quit)" ]
}

build_python() {
    local start=$SECONDS
    (cd tests/plugins/python && PYTHONDONTWRITEBYTECODE=1 "../../../$py" -d ../../../wit/v0.1 -w message-format \
        componentize app -o "../../../$out/python.wasm.tmp" >/dev/null)
    rm -rf tests/plugins/python/__pycache__
    mv "$out/python.wasm.tmp" "$out/python.wasm"
    say "built $out/python.wasm with componentize-py in $((SECONDS - start)) s"
}

build_js() {
    local start=$SECONDS
    (cd tests/plugins/js && "../../../$js" plugin.js --wit ../../../wit/v0.1 -n message-format -o "../../../$out/js.wasm.tmp" >/dev/null)
    mv "$out/js.wasm.tmp" "$out/js.wasm"
    say "built $out/js.wasm with componentize-js in $((SECONDS - start)) s"
}

pids=()
if stale "$out/python.wasm" tests/plugins/python; then
    say "building the Python test plugin"
    build_python &
    pids+=($!)
fi
if stale "$out/js.wasm" tests/plugins/js; then
    say "building the JavaScript test plugin"
    build_js &
    pids+=($!)
fi
for pid in "${pids[@]}"; do
    wait "$pid"
done
