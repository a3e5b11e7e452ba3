#!/bin/sh
# Installs what building and testing Baton needs on Debian or Ubuntu, and only what is missing:
# a C toolchain (SQLite is compiled in), curl, and Rust (rustup, stable) with rustfmt and clippy.
# Works as root or through sudo. Safe to run again.
set -eu

MIN_RUST=1.89

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing=""
command -v cc >/dev/null 2>&1 || missing="$missing build-essential"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
command -v curl >/dev/null 2>&1 || missing="$missing curl ca-certificates"
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
