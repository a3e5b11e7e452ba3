#!/bin/sh
# setup.sh [run|package|package-windows|test|bench]: installs what Baton needs on Debian 13 (trixie), and only
# what is missing. Works as root or through sudo. Safe to run again.
#   run    what building and running Baton needs (`make run`): the C toolchain, WebKitGTK, the
#          tray library, and Rust (rustup, the pinned toolchain). Nothing of the tests.
#   package  also cargo-deb and cargo-generate-rpm, which `make package` builds the Debian package
#          and the RPM with.
#   package-windows  also mingw-w64, Rust's Windows standard library and wixl (msitools), which
#          `make package-windows` builds the Windows installer with.
#   test   (the default) also everything the tests need (`make test`): Xvfb, D-Bus, dunst,
#          Chromium, Node.js, Wine and mingw-w64, GNOME Shell and KWin with their portals, the
#          Windows and macOS standard libraries, cargo-zigbuild and tauri-driver.
#   bench  also the servers Baton is measured against.
set -eu
MODE=${1:-test}
case "$MODE" in
    run | package | package-windows | test | bench) ;;
    *)
        echo "setup: unknown mode '$MODE': use run, package, package-windows, test or bench" >&2
        exit 2
        ;;
esac

MIN_RUST=1.89
# playwright-core (ui/tests) is pinned to a release that runs on Node.js 18, the Node of both
# distributions, so the distribution's own Node.js and Chromium are all the UI tests need.
MIN_NODE=18

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

version_at_least() { # MIN VERSION
    [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# Debian/Ubuntu packages. Building and running: the C toolchain, WebKitGTK and the tray library
# for the tray app, xkbcommon (text typed with the person's layout on Wayland).
PACKAGES="build-essential pkg-config curl ca-certificates libwebkit2gtk-4.1-dev
    libayatana-appindicator3-dev libxkbcommon-dev"
# Testing: protobuf's compiler and its well-known .proto files for the benchmark's etcd client
# (part of the workspace, built by the tests), and the tray app's end-to-end tests (a virtual X display, a private
# D-Bus session, a real notification daemon, xdotool to press the hotkey, python3-gi for the
# stand-in tray host, python3-xlib to close windows as a window manager does), and the windows'
# tests in headless Chromium and, over WebDriver, in the real app (WebKitWebDriver).
# python3-venv: the API's contract test runs schemathesis, from PyPI, in a venv of its own
# (and the macOS type-check zig, from PyPI, in another).
# mingw-w64 builds Baton for Windows, wixl its installer, Wine runs the Windows suite.
# The Wayland suites run a headless GNOME Shell and a headless KWin (KDE Plasma 6; its plugins
# are kwin-common, its portal needs PipeWire and Qt's Wayland plugin) with the desktop portals
# (RemoteDesktop over libei), logind mocked by python3-dbusmock on a private system bus, and a
# GTK 4 window (gir). Openbox is the window manager of the private displays' tests.
# dbus-x11 is left out on purpose: without a session bus it starts stray private buses.
TEST_PACKAGES="xvfb openbox xdotool x11-utils dbus dunst python3-gi python3-xlib
    webkit2gtk-driver protobuf-compiler libprotobuf-dev python3 python3-venv
    wine64 wine"
WINDOWS_PACKAGES="gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev wixl"
TEST_PACKAGES="$TEST_PACKAGES $WINDOWS_PACKAGES"
. /etc/os-release
# Debian packages Chromium as `chromium`; Ubuntu only as `chromium-browser` (which brings the snap).
case "${ID:-}" in
    ubuntu) TEST_PACKAGES="$TEST_PACKAGES chromium-browser" ;;
    *) TEST_PACKAGES="$TEST_PACKAGES chromium" ;;
esac
# Debian 12's GNOME Shell (43) has no libei, so the Wayland suite cannot run there (it says so).
if [ "${ID:-}:${VERSION_ID:-}" != "debian:12" ]; then
    TEST_PACKAGES="$TEST_PACKAGES gnome-shell xdg-desktop-portal xdg-desktop-portal-gnome
        python3-dbusmock gir1.2-gtk-4.0 libglib2.0-bin kwin-wayland kwin-common
        xdg-desktop-portal-kde qt6-wayland pipewire wireplumber"
fi
# The UI tests and the agents' CLIs run on Node.js: the distribution's, unless one is installed.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || TEST_PACKAGES="$TEST_PACKAGES nodejs npm"
case "$MODE" in
    run | package) ;;
    package-windows) PACKAGES="$PACKAGES $WINDOWS_PACKAGES" ;;
    *) PACKAGES="$PACKAGES $TEST_PACKAGES" ;;
esac
# `setup.sh bench`: the servers Baton is measured against.
if [ "$MODE" = bench ]; then PACKAGES="$PACKAGES redis-server etcd-server"; fi
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

if [ "$MODE" = test ] || [ "$MODE" = bench ]; then
    node_version=$(node --version 2>/dev/null | sed 's/^v//')
    if [ -z "$node_version" ]; then
        echo "setup: 'node --version' did not answer: Baton's tests need a working Node.js $MIN_NODE or newer" >&2
        exit 1
    fi
    if ! version_at_least "$MIN_NODE" "$node_version"; then
        echo "setup: Node.js $node_version is too old for Baton's tests (they need $MIN_NODE or newer);" \
            "remove it or put a newer one first on PATH" >&2
        exit 1
    fi
fi

PATH="$HOME/.cargo/bin:$PATH"
export PATH

# The repository pins its toolchain (rust-toolchain.toml).
pinned=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$(dirname "$0")/../rust-toolchain.toml")

# Debian's own cargo is too old for Baton; rustup's toolchain is what it is built with.
rust_ok() {
    version=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
    [ -n "$version" ] || return 1
    version_at_least "$MIN_RUST" "$version"
}

if ! rust_ok; then
    if command -v rustup >/dev/null 2>&1; then
        echo "setup: updating Rust (Baton needs $MIN_RUST or newer)"
        rustup toolchain install stable --profile minimal
        rustup default stable
    else
        # rustup-init straight from the Rust distribution server: the installer that the
        # rustup.sh script would fetch from there, checked against the server's checksum.
        target="$(uname -m)-unknown-linux-gnu"
        url="https://static.rust-lang.org/rustup/dist/$target/rustup-init"
        echo "setup: installing Rust with rustup ($url)"
        dir=$(mktemp -d)
        trap 'rm -rf "$dir"' EXIT INT TERM
        curl --proto '=https' --tlsv1.2 -sSf -o "$dir/rustup-init" "$url"
        expected=$(curl --proto '=https' --tlsv1.2 -sSf "$url.sha256" | awk '{print $1}')
        actual=$(sha256sum "$dir/rustup-init" | awk '{print $1}')
        if [ "$expected" != "$actual" ]; then
            echo "setup: the downloaded rustup-init does not match its checksum; not running it" >&2
            exit 1
        fi
        chmod +x "$dir/rustup-init"
        # The pinned toolchain straight away: one toolchain to download, not two.
        "$dir/rustup-init" -y --no-modify-path --profile minimal \
            --default-toolchain "${pinned:-stable}" --component rustfmt,clippy
        rm -rf "$dir"
        trap - EXIT INT TERM
    fi
fi

# The pinned toolchain, with rustfmt and clippy, if this machine lacks it.
if [ -n "$pinned" ] && ! rustup run "$pinned" cargo clippy --version >/dev/null 2>&1; then
    echo "setup: installing Rust $pinned (the toolchain rust-toolchain.toml pins)"
    rustup toolchain install "$pinned" --profile minimal --component rustfmt,clippy
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
# The packages' builders (make package).
if [ "$MODE" = package ]; then
    for builder in cargo-deb cargo-generate-rpm; do
        if ! command -v "$builder" >/dev/null 2>&1; then
            echo "setup: installing $builder"
            cargo install "$builder" --locked --quiet
        fi
    done
fi
# What follows only the tests need.
case "$MODE" in
    run | package)
        echo "setup: ready to build and run Baton"
        exit 0
        ;;
    package-windows)
        rustup target list --installed | grep -qx x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
        echo "setup: ready to build Baton's Windows installer"
        exit 0
        ;;
esac
# The standard libraries for Windows and macOS (make check-platforms, make test-windows).
for target in x86_64-pc-windows-gnu aarch64-apple-darwin; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done
# zig as macOS's C compiler and linker for cargo (make check-platforms).
if ! command -v cargo-zigbuild >/dev/null 2>&1; then
    echo "setup: installing cargo-zigbuild"
    cargo install cargo-zigbuild --locked --quiet
fi

# WebDriver for the real app's windows (it drives WebKitWebDriver).
if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "setup: installing tauri-driver"
    cargo install tauri-driver --locked --quiet
fi
