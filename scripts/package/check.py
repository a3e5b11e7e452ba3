#!/usr/bin/python3
"""The Debian package as a person gets it, on a fresh Debian 13 root (CI's second root).

    check.py OLD.deb NEW.deb NEW_COMMIT TRAY_HOST

Run as root inside the root, where OLD.deb is installed with apt already (by .ci/run, which counts
what it brought), together with Xvfb, D-Bus and python3-gi for the stand-in tray host
(src-tauri/tests/harness/tray_host.py). Checks, as the user root with the real data directory
(~/.local/share/baton):
  1. what the package put in place: both programs on PATH, the .desktop entry with the app id
     the portals need, the icon, the GNOME Shell extension;
  2. the tray app starts under Xvfb, its tray item is registered, and the installed `baton`
     answers `baton status`; a run leaves history;
  3. NEW.deb (a higher version, built from another commit) installed with apt while the tray
     app runs: the running app keeps answering, with the history;
  4. the next start runs the new version (`baton --version` names NEW_COMMIT), with the history
     and the token kept;
  5. `apt-get remove` removes the programs and keeps the data; purging too (Baton's data is the
     user's, in their home, which no package touches).
Prints "N passed, N failed" and exits non-zero on any failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile

# The helpers the Wayland suites use: beside this file in the package's root (.ci/run copies
# them there), in scripts/wayland/ in the repository.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "wayland")]
import common  # noqa: E402
from common import check, failed, log, passed, procs, spawn, stop, wait_for  # noqa: E402

OLD, NEW, NEW_COMMIT, TRAY_HOST = sys.argv[1:5]
DATA = os.path.expanduser("~/.local/share/baton")
common.NAME = "package"


def run(*args, env=None, timeout=300):
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout)


def apt(*args):
    return run("apt-get", "-y", "-q", *args, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), timeout=900)


class Session:
    """Xvfb, a session bus and the stand-in tray host: what a desktop gives the tray app."""

    def __init__(self, tmp):
        self.items = os.path.join(tmp, "tray")
        os.makedirs(self.items)
        env = dict(os.environ, DISPLAY=":57", XDG_RUNTIME_DIR=os.path.join(tmp, "run"), NO_AT_BRIDGE="1")
        os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
        spawn(["Xvfb", ":57", "-screen", "0", "1280x800x24", "-nolisten", "tcp"], env,
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("Xvfb", lambda: os.path.exists("/tmp/.X11-unix/X57"), timeout=60)
        bus = spawn(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env,
                    stdout=subprocess.PIPE, text=True)
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        spawn(["/usr/bin/python3", TRAY_HOST, "watch", self.items], env,
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.env = env

    def registered(self):
        path = os.path.join(self.items, "items")
        return os.path.exists(path) and open(path).read().strip()


def start_tray(session):
    """The installed tray app, as the menu entry starts it; answers once it hosts Baton."""
    tray = spawn(["baton-tray"], session.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for("the tray app to host Baton",
             lambda: run("baton", "status", env=session.env).returncode == 0 or tray.poll() is not None,
             timeout=60)
    if tray.poll() is not None:
        raise RuntimeError(f"baton-tray exited {tray.returncode}: {tray.stderr.read()[-2000:]}")
    return tray


def stop_tray(tray):
    """Ends the tray app as a session's end does (SIGTERM): its exit code, and what it said."""
    code = stop(tray, timeout=30)
    said = tray.stderr.read()[-1500:] if tray.stderr else ""
    return code, said


def history(env):
    out = run("baton", "history", env=env)
    return out.stdout if out.returncode == 0 else f"exit {out.returncode}: {out.stderr}"


def main():
    tmp = tempfile.mkdtemp(prefix="baton-package.")
    try:
        # 1: what the package put in place.
        check("baton and baton-tray are on PATH, in /usr/bin",
              shutil.which("baton") == "/usr/bin/baton" and shutil.which("baton-tray") == "/usr/bin/baton-tray",
              f"{shutil.which('baton')} {shutil.which('baton-tray')}")
        desktop = "/usr/share/applications/app.baton.tray.desktop"
        entry = open(desktop).read() if os.path.exists(desktop) else ""
        check("the menu entry carries the app id the portals need, and starts the tray app",
              "Exec=baton-tray" in entry and "Icon=app.baton.tray" in entry and "NoDisplay" not in entry, entry)
        check("the icon and the GNOME Shell extension are installed",
              os.path.exists("/usr/share/icons/hicolor/256x256/apps/app.baton.tray.png")
              and os.path.exists("/usr/share/gnome-shell/extensions/baton-takeover@baton.app/extension.js"))
        old_version = run("baton", "--version").stdout.strip()
        check("the installed baton says its version and commit", old_version.startswith("baton 0.1.0 ("),
              old_version)

        # 2: the tray app starts, registers its tray item, and the CLI answers.
        session = Session(tmp)
        tray = start_tray(session)
        try:
            wait_for("the tray item", session.registered, timeout=30)
        except TimeoutError:
            pass
        check("the tray app's item is registered with the tray host", bool(session.registered()))
        status = run("baton", "status", env=session.env)
        check("the installed baton answers baton status", status.returncode == 0 and "Desktop:" in status.stdout,
              status.stdout + status.stderr)
        out = run("baton", "run", "-t", "before the upgrade", "--", "true", env=session.env)
        check("a run through the installed CLI", out.returncode == 0, out.stderr)
        token = open(os.path.join(DATA, "token")).read()

        # 3: an upgrade while it runs.
        out = apt("install", "--no-install-recommends", NEW)
        check("apt installs the higher version while the tray app runs", out.returncode == 0, out.stdout[-1500:] + out.stderr)
        check("the running tray app keeps answering", tray.poll() is None
              and run("baton", "status", env=session.env).returncode == 0)
        check("with the history", "before the upgrade" in history(session.env), history(session.env))
        code, said = stop_tray(tray)
        check("the tray app stops cleanly", code == 0, f"exit {code}: {said}")

        # 4: the next start is the new version, with the history and the token.
        new_version = run("baton", "--version").stdout.strip()
        check("the next start runs the new version", f"({NEW_COMMIT})" in new_version and new_version != old_version,
              f"{old_version} -> {new_version}")
        tray = start_tray(session)
        check("it hosts Baton with the history of before the upgrade",
              "before the upgrade" in history(session.env), history(session.env))
        check("and the same token", open(os.path.join(DATA, "token")).read() == token)
        code, said = stop_tray(tray)
        check("the tray app stops cleanly again", code == 0, f"exit {code}: {said}")

        # 5: removing keeps the user's data.
        out = apt("remove", "baton")
        check("apt-get remove removes the programs",
              out.returncode == 0 and not os.path.exists("/usr/bin/baton") and not os.path.exists("/usr/bin/baton-tray")
              and not os.path.exists(desktop), out.stderr)
        check("and keeps the history and the token",
              os.path.exists(os.path.join(DATA, "baton.db")) and open(os.path.join(DATA, "token")).read() == token)
        out = run("dpkg", "--purge", "baton")
        gone = run("dpkg-query", "-W", "baton").returncode != 0
        check("purging keeps them too (they are the user's, in their home)",
              out.returncode == 0 and gone and os.path.exists(os.path.join(DATA, "baton.db")),
              out.stdout + out.stderr)
    except Exception as e:  # noqa: BLE001 - any failure of the set-up is the check's failure
        failed.append(f"set-up: {e}")
        log(f"FAILED: {e}")
    finally:
        for p in reversed(procs):
            stop(p, timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"package: {len(passed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
