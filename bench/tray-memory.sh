#!/bin/sh
# The tray app's memory, as a person would see it in a task manager: the resident memory (RSS)
# and proportional share (PSS) of baton-tray and every process it started (WebKit's web and
# network processes once a window is open), idle with no window open, then with the dashboard
# open. Runs the real app on a private Xvfb display and D-Bus session.
#
#   bench/tray-memory.sh [path/to/baton-tray]    (default: target/release/baton-tray)
#
# Prints one JSON object. Needs Xvfb and dbus-run-session (scripts/setup.sh installs them).
set -eu

TRAY=$(realpath "${1:-target/release/baton-tray}")
[ -x "$TRAY" ] || { echo "tray-memory: $TRAY is missing: cargo build --release -p baton-tray" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/pids" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Xvfb picks a free display number itself and writes it to fd 3.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$WORK/display" 2>/dev/null &
echo $! >>"$WORK/pids"
for _ in $(seq 50); do [ -s "$WORK/display" ] && break; sleep 0.1; done
DISPLAY=:$(cat "$WORK/display")
export DISPLAY

# Sums VmRSS, Pss and anonymous memory (kB) over a process and all its descendants.
tree_kb() {
    pids="$1"
    frontier="$1"
    while [ -n "$frontier" ]; do
        next=""
        for p in $frontier; do
            for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do next="$next $c"; done
        done
        pids="$pids $next"
        frontier=$(echo $next)
    done
    rss=0; pss=0; anon=0; count=0
    for p in $pids; do
        r=$(awk '/^VmRSS:/{print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
        s=$(awk '/^Pss:/{print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        a=$(awk '/^Anonymous:/{print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0})); anon=$((anon + ${a:-0}))
        count=$((count + 1))
    done
    echo "$rss $pss $anon $count"
}

export BATON_DATA_DIR="$WORK/data" BATON_LOG=warn NO_AT_BRIDGE=1
dbus-run-session -- sh -c "
    '$TRAY' >'$WORK/tray.log' 2>&1 &
    echo \$! >'$WORK/tray.pid'
    sleep 8
    # A second launch opens the dashboard in the running app, then exits.
    '$TRAY' >/dev/null 2>&1 || true
    sleep 8
    kill \$(cat '$WORK/tray.pid')
" 2>/dev/null &
SESSION=$!
echo $SESSION >>"$WORK/pids"
for _ in $(seq 50); do [ -s "$WORK/tray.pid" ] && break; sleep 0.1; done
PID=$(cat "$WORK/tray.pid")
sleep 6
set -- $(tree_kb "$PID"); IDLE_RSS=$1; IDLE_PSS=$2; IDLE_ANON=$3; IDLE_N=$4
sleep 8
set -- $(tree_kb "$PID"); OPEN_RSS=$1; OPEN_PSS=$2; OPEN_ANON=$3; OPEN_N=$4
wait $SESSION 2>/dev/null || true
printf '{"idle": {"rss_kib": %s, "pss_kib": %s, "anonymous_kib": %s, "processes": %s}, "dashboard_open": {"rss_kib": %s, "pss_kib": %s, "anonymous_kib": %s, "processes": %s}}\n' \
    "$IDLE_RSS" "$IDLE_PSS" "$IDLE_ANON" "$IDLE_N" "$OPEN_RSS" "$OPEN_PSS" "$OPEN_ANON" "$OPEN_N"
