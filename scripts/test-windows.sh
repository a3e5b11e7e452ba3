#!/bin/sh
# `make test-windows`: Baton for Windows, built here and run under Wine.
#
# 1. Builds baton.exe and baton-tray.exe (WebView2Loader.dll beside it, copied by tauri-build)
#    for x86_64-pc-windows-gnu with mingw-w64.
# 2. Builds the test-only ProcessPrng shim (scripts/windows/bcryptprimitives.c) that Wine
#    before 9 (Debian 12's 8.0) lacks and Rust's standard library needs; it goes into the Wine
#    prefix only there (Debian 13's Wine 10 has its own), never into what ships. And
#    nudge.exe (scripts/windows/nudge.c), another program's input for the suite's takeover
#    check, and console.exe (scripts/windows/console.c), a console to press Ctrl+C in.
# 3. Runs baton-platform's Windows tests under Wine (the owner-only ACL of the data directory and
#    the token file among them).
# 4. Builds the installer (scripts/package/msi.sh) from this build, twice: the workspace's version
#    and the next one, for the upgrade.
# 5. Runs the Windows suite (scripts/windows/suite.py): the real baton.exe under Wine, then the
#    installer (install, PATH, upgrade, uninstall keeping the data).
#
# Not run under Wine, and said so: the tray app's window (WebView2 does not run under Wine),
# notifications (no toasts), and a person's own devices (none without a display).
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"
TARGET=x86_64-pc-windows-gnu
OUT=target/$TARGET/debug

echo "test-windows: building baton.exe and baton-tray.exe for Windows"
cargo build --target $TARGET -p baton-cli -p baton-tray
for file in baton.exe baton-tray.exe WebView2Loader.dll; do
    [ -f "$OUT/$file" ] || { echo "test-windows: the build made no $OUT/$file" >&2; exit 1; }
done
echo "test-windows: built $OUT/baton.exe, $OUT/baton-tray.exe and $OUT/WebView2Loader.dll"
echo "test-windows: not run under Wine: baton-tray.exe's windows and toasts (WebView2 and toasts do not run there)"

SHIM=target/wine/bcryptprimitives.dll
mkdir -p target/wine
x86_64-w64-mingw32-gcc -shared -O2 -o "$SHIM" scripts/windows/bcryptprimitives.c -ladvapi32
x86_64-w64-mingw32-gcc -O2 -o target/wine/nudge.exe scripts/windows/nudge.c -luser32
x86_64-w64-mingw32-gcc -O2 -o target/wine/console.exe scripts/windows/console.c

# A prefix for the platform crate's tests, the shim in its system32 (the suite makes its own).
PREFIX=$(mktemp -d /tmp/baton-wine-core.XXXXXX)
cleanup() { WINEPREFIX="$PREFIX" wineserver -k 2>/dev/null || true; rm -rf "$PREFIX"; }
# The exit status is the script's, whatever the clean-up's last command returns.
trap 'code=$?; cleanup; exit $code' EXIT
trap 'exit 130' INT TERM
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
env -u DISPLAY -u WAYLAND_DISPLAY WINEPREFIX="$PREFIX" wine wineboot -i >/dev/null 2>&1
wine_major=$(wine --version | sed 's/^wine-\([0-9]*\).*/\1/')
if [ "${wine_major:-0}" -lt 9 ]; then
    cp "$SHIM" "$PREFIX/drive_c/windows/system32/"
fi
echo "test-windows: baton-platform's Windows tests under Wine (data directory, takeover hooks)"
env -u DISPLAY -u WAYLAND_DISPLAY WINEPREFIX="$PREFIX" \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine BATON_TEST_WINE=1 \
    cargo test --target $TARGET -p baton-platform --features desktop --lib -- datadir takeover

echo "test-windows: the installer, from this build: this version and the next (for the upgrade)"
set +e
MSI=$(./scripts/package/msi.sh "$OUT" target/wine/msi) && {
    version=$(basename "$MSI" | sed 's/^baton-\(.*\)-x86_64\.msi$/\1/')
    NEXT_MSI=$(./scripts/package/msi.sh "$OUT" target/wine/msi "$(echo "$version" | awk -F. '{ print $1 "." $2 "." $3 + 1 }')")
}
built=$?
set -e
case $built in
    0) set -- "$MSI" "$NEXT_MSI" ;;
    3) echo "test-windows: not run here: the installer (see the line above)"; set -- ;;
    *) echo "test-windows: building the installer failed" >&2; exit 1 ;;
esac

echo "test-windows: the Windows suite under Wine"
python3 scripts/windows/suite.py "$OUT/baton.exe" "$SHIM" "$OUT/baton-tray.exe" "$@"
