#!/usr/bin/env bash
# The API's contract, checked against a real host: schemathesis (from PyPI, pinned) reads the
# host's own /v1/openapi.json and sends it what the document allows and what it forbids, with
# every check on. Any finding fails: a schema-valid request refused, a schema-violating one
# accepted, a status the document does not list, a response that does not match its schema,
# a server error.
#
# The host is a debug `baton daemon` on a throw-away data directory, sending input to a private
# Xvfb display (so the pointer and screen routes answer rather than say no_display). The seed
# is fixed, so a run is repeatable: CONTRACT_SEED and CONTRACT_SECONDS change it.
#
# Usage: scripts/contract.sh [path/to/baton]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BATON=${1:-$ROOT/target/debug/baton}
SCHEMATHESIS_VERSION=4.32.5
SEED=${CONTRACT_SEED:-20261202}
SECONDS_BUDGET=${CONTRACT_SECONDS:-90}
VENV=$ROOT/target/contract-venv

say() { echo "contract: $*"; }

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK=$(mktemp -d)
XVFB_PID=""
HOST_PID=""
cleanup() {
    [ -n "$HOST_PID" ] && kill "$HOST_PID" 2>/dev/null && wait "$HOST_PID" 2>/dev/null
    [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null && wait "$XVFB_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A display number nobody uses.
display=90
while [ -e "/tmp/.X11-unix/X$display" ] || [ -e "/tmp/.X$display-lock" ]; do
    display=$((display + 1))
done
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!

mkdir -m 700 "$WORK/data"
DISPLAY=":$display" BATON_DATA_DIR="$WORK/data" BATON_LOG=warn "$BATON" daemon --no-schedules \
    >"$WORK/host.log" 2>&1 &
HOST_PID=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/data/host.json" ] && break
    kill -0 "$HOST_PID" 2>/dev/null || { cat "$WORK/host.log" >&2; say "the host did not start" >&2; exit 1; }
    sleep 0.1
done
url=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/data/host.json")
token=$(cat "$WORK/data/token")

say "schemathesis $SCHEMATHESIS_VERSION against $url, every check, seed $SEED, ${SECONDS_BUDGET} s"
set +e
(cd "$WORK" && "$VENV/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run "$url/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --seed "$SEED" \
    --max-time "$SECONDS_BUDGET" \
    --workers 2 \
    --request-timeout 5 \
    --generation-database none \
    --output-sanitize false \
    --no-color) | tee "$WORK/report.txt"
status=${PIPESTATUS[0]}
set -e
if ! kill -0 "$HOST_PID" 2>/dev/null; then
    cat "$WORK/host.log" >&2
    say "the host died during the run" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    say "the host does not keep the contract its document states (findings above)" >&2
    exit 1
fi
say "no finding"
