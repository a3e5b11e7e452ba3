#!/bin/bash
# rpm.sh RPM COMMIT: checks the RPM that `make package` built, with the rpm tools Debian ships
# (the `rpm` package). Nothing here installs it on an RPM distribution (none is reachable from
# this machine): it checks the digests, the name and version, every file and its mode, that the
# requirements are sonames a Fedora or openSUSE resolves and no development package, and it
# unpacks the payload into a scratch rpm root, where the installed `baton --version` must name
# COMMIT, and removes it again.
set -uo pipefail
RPM=${1:?usage: rpm.sh RPM COMMIT}
COMMIT=${2:?usage: rpm.sh RPM COMMIT}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
passed=0
failed=0
check() { # NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "rpm: ok   $name"
    else
        failed=$((failed + 1))
        echo "rpm: FAIL $name"
    fi
}
command -v rpm >/dev/null || { echo "rpm.sh: no rpm command here (apt-get install rpm)" >&2; exit 2; }
[ -f "$RPM" ] || { echo "rpm.sh: no such package: $RPM" >&2; exit 2; }

check "the digests match the payload" rpm -K --nosignature "$RPM"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
header=$(rpm -qp --qf '%{NAME} %{VERSION} %{ARCH}' "$RPM" 2>/dev/null)
check "named baton $version for x86_64 (got '$header')" test "$header" = "baton $version x86_64"

expected_files=$(
    cd "$REPO" || exit 1
    printf '%s\n' /usr/bin/baton /usr/bin/baton-tray /usr/share/applications/app.baton.tray.desktop \
        /usr/share/icons/hicolor/256x256/apps/app.baton.tray.png /usr/share/doc/baton/README.md
    for f in extensions/gnome/baton-takeover@baton.app/*; do
        echo "/usr/share/gnome-shell/extensions/baton-takeover@baton.app/$(basename "$f")"
    done
    for f in docs/*.md docs/*.png; do
        echo "/usr/share/doc/baton/$f"
    done
)
files=$(rpm -qpl "$RPM" 2>/dev/null | sort)
check "holds exactly the tray app, the CLI, the menu entry, the icon, the extension and the docs" \
    test "$files" = "$(sort <<<"$expected_files")"
if [ "$files" != "$(sort <<<"$expected_files")" ]; then
    diff <(sort <<<"$expected_files") <(echo "$files") | sed 's/^/rpm:      /'
fi
modes=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$RPM" 2>/dev/null)
check "both programs are executable by everyone" \
    test "$(grep -c '^-rwxr-xr-x /usr/bin/baton' <<<"$modes")" -eq 2

requires=$(rpm -qpR "$RPM" 2>/dev/null)
for soname in 'libayatana-appindicator3.so.1()(64bit)' 'libwebkit2gtk-4.1.so.0()(64bit)' \
    'libgtk-3.so.0()(64bit)' 'libxkbcommon.so.0()(64bit)'; do
    check "requires $soname" grep -qxF "$soname" <<<"$requires"
done
check "requires no development package" bash -c '! grep -Eq -- "-devel|-dev( |$)" <<<"$1"' _ "$requires"

# The payload, unpacked by rpm into a scratch root with its own database.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
rpm --root "$scratch" --initdb
check "rpm unpacks it into a scratch root" \
    rpm --root "$scratch" -i --nodeps --noscripts --nosignature "$RPM"
check "the installed menu entry is the repository's" \
    cmp -s "$scratch/usr/share/applications/app.baton.tray.desktop" "$REPO/packaging/linux/app.baton.tray.desktop"
answer=$("$scratch/usr/bin/baton" --version 2>&1)
check "the installed baton --version names $version and commit $COMMIT (got '$answer')" \
    grep -q "$version.*$COMMIT" <<<"$answer"
check "rpm -e removes it again" \
    bash -c 'rpm --root "$1" -e baton && [ ! -e "$1/usr/bin/baton" ] && [ ! -e "$1/usr/bin/baton-tray" ]' _ "$scratch"

echo "rpm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
