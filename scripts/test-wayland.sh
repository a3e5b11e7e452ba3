#!/bin/sh
# `make test-wayland`: the real `baton` and tray app on headless Wayland desktops (Wayland only,
# no X), each in a session of its own:
# - GNOME Shell (scripts/wayland/gnome.py): input through the RemoteDesktop portal and libei
#   into a native Wayland window, the portal's dialog answered once and not asked again, the
#   person first through Baton's shell extension, refusals and stale holders, the stop hotkey
#   through GlobalShortcuts, a run on a private display (an X server of its own) beside it;
# - KDE Plasma 6's KWin (scripts/wayland/kde.py): the same input, its grant kept, takeover's
#   honest "off", the stop hotkey through GlobalShortcuts, a private display.
# Needs GNOME Shell 45+ and KWin 6 with their portals (scripts/setup.sh installs them on Debian
# 13); elsewhere each suite says it is skipped, and fails under CI.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"
cargo build -p baton-cli -p baton-tray
# Debian's python3 has the GObject bindings the suites talk D-Bus with. Both run, and either
# failing fails this.
status=0
/usr/bin/python3 scripts/wayland/gnome.py target/debug/baton target/debug/baton-tray || status=1
/usr/bin/python3 scripts/wayland/kde.py target/debug/baton target/debug/baton-tray || status=1
exit $status
