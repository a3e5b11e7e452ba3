#!/bin/sh
# msi.sh BIN_DIR OUT_DIR [VERSION]: Baton's Windows installer from packaging/windows/baton.wxs,
# with wixl (msitools), from baton.exe, baton-tray.exe and WebView2Loader.dll in BIN_DIR (a
# x86_64-pc-windows-gnu build). Writes OUT_DIR/baton-VERSION-x86_64.msi and prints its path.
# VERSION is numeric (x.y.z, what Windows Installer compares); the workspace's by default.
# Exits 3 where this machine cannot build it (no wixl, or one too old), 1 on any other failure.
set -eu
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: msi.sh BIN_DIR OUT_DIR [VERSION]" >&2; exit 2; }
BIN=$1
OUT=$2
VERSION=${3:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\([0-9.]*\).*"/\1/p' Cargo.toml)}
case "$VERSION" in
    *[!0-9.]* | "" | .* | *.) echo "msi.sh: '$VERSION' is not a numeric version (x.y.z)" >&2; exit 2 ;;
esac
command -v wixl >/dev/null 2>&1 || { echo "msi.sh: wixl is missing (Debian: apt install wixl)" >&2; exit 3; }
# wixl learnt the Environment element (baton on PATH) after Debian 12's 0.101; 0.106 is tried.
wixl_version=$(wixl --version)
if [ "$(printf '%s\n%s\n' 0.106 "$wixl_version" | sort -V | head -n 1)" != 0.106 ]; then
    echo "msi.sh: wixl $wixl_version is too old (0.106 or newer, as in Debian 13, can put baton on PATH)" >&2
    exit 3
fi
for file in baton.exe baton-tray.exe WebView2Loader.dll; do
    [ -f "$BIN/$file" ] || { echo "msi.sh: no $BIN/$file: build for x86_64-pc-windows-gnu first" >&2; exit 1; }
done
mkdir -p "$OUT"
MSI="$OUT/baton-$VERSION-x86_64.msi"
wixl -a x64 -D Version="$VERSION" -D BinDir="$BIN" -D Icon=icons/icon.ico \
    -o "$MSI" packaging/windows/baton.wxs
echo "$MSI"
