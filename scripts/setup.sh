#!/bin/sh
# Installs what building and testing Baton needs on Debian or Ubuntu, and only what is missing:
# system packages (below) and Rust (rustup, stable) with rustfmt and clippy.
# Works as root or through sudo. Safe to run again.
set -eu

MIN_RUST=1.89

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# Debian/Ubuntu packages: building (C toolchain; WebKitGTK and the tray library for the tray
# app), and the tray app's end-to-end tests (a virtual X display, a private D-Bus session, a real
# notification daemon, xdotool to press the hotkey, python3-gi for the stand-in tray host, python3-xlib to close windows as a window manager does), and
# the windows' tests in headless Chromium and, over WebDriver, in the real app (WebKitWebDriver).
# dbus-x11 is left out on purpose: without a session bus it starts stray private buses.
# protobuf-compiler builds the benchmark's etcd client (bench/ is part of the workspace).
PACKAGES="build-essential pkg-config curl ca-certificates libwebkit2gtk-4.1-dev
    libayatana-appindicator3-dev xvfb xdotool x11-utils dbus dunst python3-gi python3-xlib chromium
    webkit2gtk-driver protobuf-compiler"
# `setup.sh bench`: the servers Baton is measured against.
if [ "${1:-}" = "bench" ]; then PACKAGES="$PACKAGES redis-server etcd-server"; fi
# The UI tests run on Node.js (any recent one will do; Debian's if there is none).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

PATH="$HOME/.cargo/bin:$PATH"
export PATH

# Debian's own cargo is too old for Baton; rustup's stable is what it is built with.
rust_ok() {
    version=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
    [ -n "$version" ] || return 1
    [ "$(printf '%s\n%s\n' "$MIN_RUST" "$version" | sort -V | head -n 1)" = "$MIN_RUST" ]
}

if ! rust_ok; then
    if command -v rustup >/dev/null 2>&1; then
        echo "setup: updating Rust (Baton needs $MIN_RUST or newer)"
        rustup toolchain install stable --profile minimal
        rustup default stable
    else
        echo "setup: installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --default-toolchain stable
    fi
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

# WebDriver for the real app's windows (it drives WebKitWebDriver).
if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "setup: installing tauri-driver"
    cargo install tauri-driver --locked --quiet
fi
