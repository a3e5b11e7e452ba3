#!/usr/bin/env python3
"""The KDE Plasma 6 Wayland suite: the real `baton` on a real, headless KWin (Wayland only, no X).

    kde.py PATH/TO/baton [PATH/TO/baton-tray]

Starts, all private to this run (its own runtime directory, home, session bus and a stand-in
system bus with logind mocked): PipeWire and WirePlumber (KDE's portal does remote desktop only
beside a screencast), `kwin_wayland --virtual` (one 1280x720 output), the desktop portal with
KDE's backend, and the GTK 4 window with one text field (entry.py).

KDE asks the person with a dialog of plasma-workspace, which this headless session lacks (the
backend then refuses at once): the person's "Allow" is given beforehand in the portal's
permission store, as KDE keeps it once answered (`kde-authorized`, `remote-desktop`).
Checked, in order:
  1. input is on, and status says exactly what takeover cannot do on KDE (nothing there tells
     whose input is whose; the compositor's idle notifications say when there was input);
  2. a holder clicks into the native window and types into it (shifted characters, a key
     combo), through `baton run --desktop` and `baton input`; asking where the pointer is
     answers 501 not_supported, and the CLI says so;
  3. an agent acting every 10-100 ms is never paused by its own input, and the person's input
     (a second Baton host's portal session: another source) while the holder is quiet pauses
     it within 300 ms at BATON_KDE_ROUNDS (50) random moments;
  4. a stale holder (a lease token from before its own release) is refused, nothing typed;
  5. the grant's restore token is kept owner-only, and the next start types at once;
  6. the tray app (with TRAY given): KDE binds its stop hotkey through the GlobalShortcuts
     portal (no dialog on KDE), and the shortcut, fired through KDE's own kglobalaccel as its
     key would, stops the holder (`user:hotkey`).
Prints "N passed, N failed" and exits non-zero on any failure; keeps the logs when anything
failed.
"""
import os
import random
import shutil
import subprocess
import sys
import time

from gi.repository import GLib

import common
from common import (Buses, Entry, Host, Tray, check, check_pointer_hidden, check_private_display,
                    check_stale_holder, check_token_kept, check_types_after_restart, check_typing, log, private_env, spawn, wait_for)

# KWin hands its restricted Wayland protocols (the screencast the portal needs) only to
# programs whose .desktop file lists them, found through KDE's menu: a minimal menu.
MENU = """<!DOCTYPE Menu PUBLIC "-//freedesktop//DTD Menu 1.0//EN"
 "http://www.freedesktop.org/standards/menu-spec/1.0/menu.dtd">
<Menu><Name>Applications</Name><DefaultAppDirs/><DefaultDirectoryDirs/><Include><All/></Include></Menu>
"""
# What Baton's tray registers with the portal, and the component KDE files its shortcut under.
APP_ID = "app.baton.tray"
COMPONENT = "/component/" + APP_ID.replace(".", "_")


def kwin_version():
    try:
        out = subprocess.run(["kwin_wayland", "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.split()[-1]
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


class Session(Buses):
    """A headless KWin, PipeWire, the portal with KDE's backend."""

    def __init__(self, tmp):
        env = private_env(tmp, "KDE")
        env.update(QT_QPA_PLATFORM="wayland", KDE_FULL_SESSION="true")
        super().__init__(tmp, env)
        menus = os.path.join(env["XDG_CONFIG_HOME"], "menus")
        os.makedirs(menus)
        with open(os.path.join(menus, "applications.menu"), "w") as f:
            f.write(MENU)
        self.mock_logind()
        with open(os.path.join(self.logs, "pipewire.log"), "w") as out:
            spawn(["pipewire"], env, stdout=out, stderr=out)
        wait_for("PipeWire", lambda: os.path.exists(os.path.join(env["XDG_RUNTIME_DIR"], "pipewire-0")))
        with open(os.path.join(self.logs, "wireplumber.log"), "w") as out:
            spawn(["wireplumber"], env, stdout=out, stderr=out)
        env["WAYLAND_DISPLAY"] = "wayland-baton"
        # The portal's backend, started on demand, must see the session before KWin asks it.
        self.activation_environment("WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "XDG_SESSION_TYPE",
                                    "XDG_RUNTIME_DIR", "DBUS_SYSTEM_BUS_ADDRESS", "QT_QPA_PLATFORM",
                                    "KDE_FULL_SESSION", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
                                    "XDG_CACHE_HOME", "HOME")
        started = time.monotonic()
        with open(os.path.join(self.logs, "kwin.log"), "w") as out:
            self.kwin = spawn(["kwin_wayland", "--virtual", "--no-lockscreen", "--width", "1280",
                               "--height", "720", "--socket", "wayland-baton"], env, stdout=out, stderr=out)
        wait_for("KWin to start", self.kwin_ready, timeout=90, every=0.2)
        log(f"KWin {kwin_version()} headless, up in {time.monotonic() - started:.1f} s")
        self.start_portal()

    def kwin_ready(self):
        if self.kwin.poll() is not None:
            raise RuntimeError(f"kwin_wayland exited {self.kwin.returncode}; see {self.logs}/kwin.log")
        socket_path = os.path.join(self.env["XDG_RUNTIME_DIR"], "wayland-baton")
        return self.has_owner("org.kde.KWin") and os.path.exists(socket_path)

    def allow_remote_desktop(self, app_id=""):
        """The person's "Allow" in KDE's dialog, as the permission store keeps it."""
        self.call("org.freedesktop.impl.portal.PermissionStore", "/org/freedesktop/impl/portal/PermissionStore",
                  "org.freedesktop.impl.portal.PermissionStore", "SetPermission",
                  GLib.Variant("(sbssas)", ("kde-authorized", True, "remote-desktop", app_id, ["yes"])))

    def press_shortcut(self, name):
        """Fires a global shortcut as its keys would, through KDE's own kglobalaccel."""
        self.call("org.kde.kglobalaccel", COMPONENT, "org.kde.kglobalaccel.Component",
                  "invokeShortcut", GLib.Variant("(s)", (name,)))


ROUNDS = int(os.environ.get("BATON_KDE_ROUNDS", "50"))
# How soon the holder must be paused once the person acts while Baton is quiet: the idle
# notification's own wait is not in it (the person's first input resumes at once), the
# takeover backstop samples every 100 ms.
WITHIN = 0.300


def person_when_baton_is_quiet(session, host, tmp):
    """KDE tells no program whose input is whose, only that there was input. A second Baton
    host, with its own portal session and takeover off, plays the person's hands: another
    source of input that is not this host's. An agent acting every 10-100 ms through this host
    is never paused by its own input; at ROUNDS random moments while the holder is quiet, the
    person's nudge pauses it within WITHIN."""
    rng = random.Random(int(os.environ.get("BATON_KDE_SEED", "0")) or None)
    hands = Host(session, os.path.join(tmp, "hands"), "--no-takeover")
    wait_for("the person's input to be on", lambda: "Input: off" not in hands.status(), timeout=15)
    _, held = hands.http("POST", "/v1/runs", {"title": "hands", "client": "suite", "needs_desktop": True})
    hands_run = (held["run"]["id"], held["token"], held["run"]["lease_token"])
    _, submitted = host.http("POST", "/v1/runs", {"title": "agent", "client": "suite", "needs_desktop": True})
    run_id, run_token, lease = submitted["run"]["id"], submitted["token"], submitted["run"]["lease_token"]

    def move(on, run, dx):
        run_id, token, lease = run
        return on.http("POST", f"/v1/runs/{run_id}/input",
                       {"lease_token": lease, "actions": [{"kind": "move", "x": dx, "y": 0, "relative": True}]},
                       token)

    refused, sent = [], 0
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        code, answer = move(host, (run_id, run_token, lease), 1 if sent % 2 else -1)
        sent += 1
        if code != 200:
            refused.append(answer)
        time.sleep(rng.uniform(0.010, 0.100))
    check("Baton's own input alone never pauses its holder (2 s of an agent's moves)",
          not refused and sent > 10, f"{sent} actions, refused: {refused[:3]}")

    def paused():
        return host.http("GET", "/v1/status")[1]["desktop"]["holder_paused"]

    latencies, missed = [], []
    for round_ in range(ROUNDS):
        # Both runs are alive (their TTL); a heartbeat is no input.
        host.http("POST", f"/v1/runs/{run_id}/heartbeat", {}, run_token)
        hands.http("POST", f"/v1/runs/{hands_run[0]}/heartbeat", {}, hands_run[1])
        host.http("POST", "/v1/desktop/holder/resume", {})
        time.sleep(rng.uniform(0.5, 0.9))  # Baton quiet, longer than its own input's grace
        nudged = time.monotonic()
        code, answer = move(hands, hands_run, 1 if round_ % 2 else -1)
        if code != 200:
            raise RuntimeError(f"the person's hands failed: {code} {answer}")
        try:
            wait_for("the holder to be paused", paused, timeout=2.0, every=0.005)
            latencies.append(time.monotonic() - nudged)
        except TimeoutError:
            missed.append(round_)
    host.http("POST", "/v1/desktop/holder/resume", {})
    host.http("POST", f"/v1/runs/{run_id}/finish", {"outcome": "succeeded"}, run_token)
    hands.stop()
    latencies.sort()
    late = [t for t in latencies if t > WITHIN]
    median = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    log(f"the person's input while Baton was quiet paused the holder in {len(latencies)} of {ROUNDS} "
        f"rounds, {median:.0f} ms after it at the median, {p99:.0f} ms at p99; missed: {missed or 'none'}")
    check(f"the person's input while Baton is quiet pauses the holder ({ROUNDS} random moments, "
          f"within {WITHIN * 1000:.0f} ms)", not missed and not late,
          f"{len(missed)} missed, {len(late)} later than {WITHIN * 1000:.0f} ms")


def tray_checks(session, data_dir):
    tray = Tray(session, data_dir)
    bound = "the desktop bound the stop hotkey"
    try:
        wait_for("KDE to bind the stop hotkey", lambda: tray.said(bound), timeout=20)
    except TimeoutError:
        pass
    check("KDE binds the tray's stop hotkey with no dialog", bool(tray.said(bound)),
          "\n".join(tray.log.all()[-15:]))
    env = dict(tray.env, PATH=os.path.dirname(common.BATON) + ":" + tray.env["PATH"])
    holder = spawn([common.BATON, "run", "--desktop", "-t", "held", "--client", "suite", "--", "sleep", "120"],
                   env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    held = wait_for("the run to hold the desktop",
                    lambda: next((l for l in tray.status().splitlines() if l.startswith("Desktop: #")), None))
    run_id = held.split("#")[1].split()[0]
    try:
        session.press_shortcut("stop")
        pressed = None
    except GLib.Error as e:
        pressed = e.message
    try:
        code = holder.wait(15)
    except subprocess.TimeoutExpired:
        code = None
    _, run = tray.http("GET", f"/v1/runs/{run_id}")
    check("the shortcut stops the holder (user:hotkey)",
          code == 130 and run.get("cancelled_by") == "user:hotkey",
          f"kglobalaccel: {pressed or 'invoked'}; baton run exited {code}; the run: {run}")
    tray.stop()


def main():
    version = kwin_version()
    if version is None or int(version.split(".")[0]) < 6 or not shutil.which("/usr/libexec/xdg-desktop-portal"):
        common.cannot_run(f"KWin {version} here" if version else "no KWin here",
                          "KDE Plasma 6's KWin and xdg-desktop-portal-kde")
        return
    common.run("baton-kde.", suite, tray_checks)


def suite(tmp):
    session = Session(tmp)
    session.allow_remote_desktop()
    entry = Entry(session)

    # 1: input on; takeover off, and why.
    data_dir = os.path.join(tmp, "granted")
    host = Host(session, data_dir)
    wait_for("input to be on", lambda: "Input: off" not in host.status(), timeout=15)
    status = host.status()
    check("input is on through KDE's portal and libei", "Input: off" not in status, status)
    check("status says exactly what takeover cannot do on KDE",
          "Takeover: limited (this Wayland desktop tells no program whose input is whose" in status,
          status)

    # 2: a holder clicks and types into the native window; where the pointer is stays hidden.
    # A headless KWin has no input device until Baton's appear, and a window learns of a seat's
    # new keyboard and pointer only after they appear: a first move lets the window bind them,
    # as a real seat's devices are there from the start.
    host.baton("run", "--desktop", "-t", "warm up", "--", "baton", "input", "move", "10", "10")
    time.sleep(1.0)
    check_typing(host, entry, "Hello, KDE!", 640, 360)
    check_pointer_hidden(host)

    # 3: the person first, as far as KDE lets Baton tell: once Baton is quiet.
    person_when_baton_is_quiet(session, host, tmp)

    # 4: a stale holder is refused and types nothing.
    check_stale_holder(host, entry)

    # 5: a run on a private display, beside the person's Wayland desktop.
    check_private_display(host, entry, tmp)
    check("the host stops cleanly", host.stop() == 0)

    # 5: the grant is kept; the next start types at once.
    check_token_kept(data_dir)
    host = Host(session, data_dir)
    check_types_after_restart(host, entry)
    host.stop()

    # The tray app's stop hotkey through the GlobalShortcuts portal, on the granted data
    # directory (common.run, with a tray app given).
    return session, data_dir


if __name__ == "__main__":
    common.configure("wayland-kde", sys.argv)
    main()
