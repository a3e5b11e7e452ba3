#!/bin/sh
# Takes the screenshots of the README and docs/TRAY.md, of the real app on a private Xvfb
# desktop: the tray menu (drawn by xfce4-panel's status tray, a real StatusNotifierItem host) and
# the dashboard, after about four minutes of agents on the desktop, on a browser profile and
# on a private display.
# Needs: a debug build (cargo build --workspace --bins), xvfb, dbus, imagemagick, xdotool,
# xfce4-panel (documentation only; the tests do not need it). Writes docs/*.png.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/debug"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/config/xfce4/xfconf/xfce-perchannel-xml" "$WORK/tmp"
cat > "$WORK/config/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="30"/>
      <property name="plugin-ids" type="array"><value type="int" value="1"/></property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
XML

export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" XDG_CACHE_HOME="$WORK/cache" \
    TMPDIR="$WORK/tmp" BATON_DATA_DIR="$WORK/baton" NO_AT_BRIDGE=1
Xvfb -displayfd 3 -screen 0 1280x1500x24 -nolisten tcp 3> "$WORK/display" 2>/dev/null &
while [ ! -s "$WORK/display" ]; do sleep 0.1; done
export DISPLAY=":$(head -n 1 "$WORK/display")"

dbus-run-session -- sh -s "$ROOT" "$BIN" "$WORK" <<'SESSION'
ROOT=$1 BIN=$2 WORK=$3
xfce4-panel --disable-wm-check > "$WORK/panel.log" 2>&1 &
sleep 2
"$BIN/baton-tray" > "$WORK/tray.log" 2>&1 &
sleep 2
# About four minutes of an afternoon: agents on the desktop and on a browser profile, a
# takeover and a stop, so that the dashboard's picture has something to show.
"$BIN/baton" resource add browser:work >/dev/null
"$BIN/baton" run -r browser:work -t "research prices" -c codex -- sleep 70 >/dev/null 2>&1 &
"$BIN/baton" run -d -t "log in to the bank" -c claude-code -- sleep 300 >/dev/null 2>&1 &
sleep 0.5
"$BIN/baton" run -r browser:work -t "compare offers" -c claude-code -- sleep 300 >/dev/null 2>&1 &
"$BIN/baton" run -d -t "fill the expense form" -c codex -- sleep 300 >/dev/null 2>&1 &
sleep 0.3
"$BIN/baton" run -d -t "upload receipts" -c cron -- true >/dev/null 2>&1 &
"$BIN/baton" run -t "cargo test --workspace" -c codex -- sleep 300 >/dev/null 2>&1 &
"$BIN/baton" run -t "nightly backup" -c cron -- true >/dev/null 2>&1
"$BIN/baton" run -t "summarise the logs" -c claude-code -- false >/dev/null 2>&1 || true
# An agent that needs a screen but not the person's fills a form on a private display, which
# the dashboard shows live.
PATH="$BIN:$PATH" "$BIN/baton" run --display private -t "book the flight" -c codex -- sh -c '
    sleep 1000 | python3 "$0/crates/cli/tests/harness/fields.py" 3 > "$1/fields.out" &
    while [ ! -s "$1/fields.out" ]; do sleep 0.1; done
    set -- $(python3 -c "import json,sys; [print(x, y) for x, y in json.loads(open(sys.argv[1]).readline())]" "$1/fields.out")
    baton input move $1 $2 click wait 200 type "Lisbon, 12 May, one adult"
    baton input move $3 $4 click wait 200 type "Window seat, no checked bag"
    sleep 300' "$ROOT" "$WORK" >/dev/null 2>&1 &
sleep 40
xdotool mousemove 700 500 mousemove 720 520   # the person takes over for a moment
sleep 60
"$BIN/baton" stop --reason "wrong account" >/dev/null
sleep 60
xdotool mousemove 15 15 click 1
sleep 1.5
import -window root -crop 420x250+0+0 "$ROOT/docs/tray-menu.png"
xdotool key Escape
"$BIN/baton-tray" >/dev/null 2>&1   # a second launch opens the dashboard
sleep 3
id=$(xdotool search --onlyvisible --name '^Baton$' | head -n 1)
# Tall enough for the picture, and the last five minutes: "+" zooms it in (from the hour, to
# 15, to 5 minutes).
xdotool windowsize "$id" 900 1440
xdotool windowfocus "$id" key --window "$id" plus key --window "$id" plus
sleep 2
import -window "$id" "$ROOT/docs/dashboard.png"
kill $(jobs -p) 2>/dev/null
wait 2>/dev/null
SESSION
echo "wrote $ROOT/docs/tray-menu.png and $ROOT/docs/dashboard.png"
