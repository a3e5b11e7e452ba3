#!/bin/bash
# Makes docs/notification-prompt.png: the real tray app on a private Xvfb desktop, asking before
# an agent takes the desktop, shown by GNOME's notification-daemon (which draws action buttons).
# Needs a built workspace and: apt-get install notification-daemon imagemagick x11-xserver-utils
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/debug
s=$(mktemp -d)
trap 'kill "${xvfb:-}" 2>/dev/null || true; rm -rf "$s"' EXIT
mkdir -p "$s"/{data,cache,config,tmp,tray,home,baton}
chmod 700 "$s/baton" "$s/tmp"
Xvfb :77 -screen 0 480x200x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
sleep 1
export DISPLAY=:77 XDG_DATA_HOME=$s/data XDG_CACHE_HOME=$s/cache XDG_CONFIG_HOME=$s/config \
  XDG_RUNTIME_DIR=$s/tmp TMPDIR=$s/tmp BATON_DATA_DIR=$s/baton HOME=$s/home NO_AT_BRIDGE=1
unset WAYLAND_DISPLAY XDG_SESSION_TYPE
xsetroot -solid '#d8dee9'
export bin s root
dbus-run-session -- bash -c '
  /usr/lib/notification-daemon/notification-daemon --replace >/dev/null 2>&1 &
  /usr/bin/python3 "$root/src-tauri/tests/harness/tray_host.py" watch "$s/tray" >/dev/null &
  sleep 1
  # The settings window stores "ask before an agent takes the desktop" here; a first host
  # start creates the database.
  "$bin/baton" daemon >/dev/null 2>&1 & d=$!
  sleep 2; kill $d; wait $d || true
  sqlite3 "$s/baton/baton.db" "INSERT INTO settings VALUES (\"host.ask_first\", \"true\", 0)"
  "$bin/baton-tray" >/dev/null 2>&1 & t=$!
  sleep 4
  "$bin/baton" run -d -t "fill the expense form" -c codex -- true >/dev/null 2>&1 &
  sleep 3
  import -window root "$s/shot.png"
  kill $t
'
convert "$s/shot.png" -crop 410x176+70+2 +repage "$root/docs/notification-prompt.png"
echo "docs/notification-prompt.png"
