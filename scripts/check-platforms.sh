#!/bin/sh
# `make check-platforms`: the whole workspace, tests and benches included, through clippy with
# warnings as errors for Windows (x86_64-pc-windows-gnu, mingw-w64 as the C compiler) and for
# macOS (aarch64-apple-darwin, zig as the C compiler through cargo-zigbuild; no Apple SDK, so
# Objective-C build scripts are skipped with DOCS_RS=1). Type-checking only: nothing here
# runs macOS code, and Windows code runs in `make test-windows`.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"

echo "check-platforms: Windows (x86_64-pc-windows-gnu)"
cargo clippy --target x86_64-pc-windows-gnu --workspace --all-targets -- -D warnings
# The typed client on its own: the data directory's ACL without the desktop drivers.
cargo clippy --target x86_64-pc-windows-gnu -p baton-client -p baton-platform -- -D warnings

echo "check-platforms: macOS (aarch64-apple-darwin, type-checked with zig)"
# ziglang (PyPI) in a venv of its own; cargo-zigbuild finds it as `python3 -m ziglang`.
VENV=target/platforms-venv
if ! "$VENV/bin/python3" -c "import ziglang" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "ziglang==0.17.1"
fi
PATH="$PWD/$VENV/bin:$PATH" DOCS_RS=1 \
    cargo-zigbuild clippy --target aarch64-apple-darwin --workspace --all-targets -- -D warnings
echo "check-platforms: both clean"
