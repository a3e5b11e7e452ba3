#!/bin/sh
# `make test-wayland`: the real `baton` on a headless GNOME Shell (Wayland only, no X): input
# through the RemoteDesktop portal and libei into a native Wayland window, the portal's dialog
# answered once and not asked again, refusals and stale holders (scripts/wayland/suite.py).
# Needs GNOME Shell 45 or later and xdg-desktop-portal-gnome (scripts/setup.sh installs them
# on Debian 13); elsewhere the suite says it is skipped, and fails under CI.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"
cargo build -p baton-cli -p baton-tray
# Debian's python3 has the GObject bindings the suite talks D-Bus with.
exec /usr/bin/python3 scripts/wayland/suite.py target/debug/baton target/debug/baton-tray
