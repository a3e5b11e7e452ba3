#!/usr/bin/env python3
"""The GNOME Wayland suite: the real `baton` on a real, headless GNOME Shell (Wayland only, no X).

    gnome.py PATH/TO/baton [PATH/TO/baton-tray]

Starts, all private to this run (its own runtime directory, home, session bus and a stand-in
system bus with logind mocked by python-dbusmock, as gnome-shell wants a seat):
  gnome-shell --headless --wayland --no-x11 (one 1280x720 virtual monitor), the desktop portal
  (xdg-desktop-portal with GNOME's backend, which asks with a real dialog), and a GTK 4 window
  with one text field (entry.py), a native Wayland client that XTEST could never reach.

The person at the computer is played through mutter's own RemoteDesktop D-Bus API (a source of
input that is not Baton's); what the shell shows is read with org.gnome.Shell.Eval
(--unsafe-mode). Checked, in order:
  1. a host's start does not wait for the dialog; meanwhile input is refused with the reason;
  2. refusing the dialog turns input off with a sentence saying how to be asked again;
  3. allowing it: the grant's token is kept owner-only in the data directory;
  4. a holder moves the pointer, clicks into the native window and types into it (shifted
     characters, a key combo), through `baton run --desktop` and `baton input`;
  5. the person first: with Baton's GNOME Shell extension (installed and enabled before the
     shell starts, as a person would), an agent acting every 10-100 ms through Baton is never
     paused by its own input, and at ROUNDS (200) random moments the person's mouse (another
     input source) has the holder's input refused within 100 ms; the rate, the median and p99
     are printed;
  6. a stale holder (a lease token from before its own release) is refused, nothing typed;
  7. the next start of the host asks nothing: no dialog, and input works at once;
  8. the tray app (with TRAY given): the desktop binds its stop hotkey through the
     GlobalShortcuts portal once the person answers GNOME's dialog; the person's own
     Ctrl+Alt+Shift+S then stops the holder (`user:hotkey`); the next start binds it again
     without a dialog.
Prints "N passed, N failed" and exits non-zero on any failure; keeps the logs (the shell's,
the portal's, each host's) when anything failed. BATON_WAYLAND_ROUNDS sets the rounds of 5,
BATON_WAYLAND_SEED their random moments, and BATON_WAYLAND_MONITOR=1 records the extension's
signals (dbus-monitor) into the logs.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

from gi.repository import GLib

import common
from common import (HERE, Buses, Entry, Host, Tray, check, check_pointer_hidden, check_private_display,
                    check_stale_holder, check_token_kept, check_types_after_restart, check_typing, log,
                    private_env, spawn, wait_for)

# Dialog answers a person gives xdg-desktop-portal-gnome 48's Remote Desktop dialog, whose
# keyboard focus starts on "Remember This Selection" (ticked): to "Allow Remote Interaction",
# turn it on, on to "Share", press it.
ALLOW_KEYS = ["Tab", "space", "Tab", "Tab", "Return"]
KEYSYMS = {"Escape": 0xFF1B, "Return": 0xFF0D, "Tab": 0xFF09, "space": 0x20, "Shift": 0xFFE1,
           "Control": 0xFFE3, "Alt": 0xFFE9, "s": 0x73}
# GNOME's Add Keyboard Shortcuts dialog (gnome-control-center): back to "Add", press it.
ADD_SHORTCUT_KEYS = ["Shift+Tab", "space"]

# --- the session -------------------------------------------------------------------------------


def gnome_shell_version():
    try:
        out = subprocess.run(["gnome-shell", "--version"], capture_output=True, text=True, timeout=30)
        return int(out.stdout.split()[-1].split(".")[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


EXTENSION = "baton-takeover@baton.app"


def install_extension(env):
    """Baton's GNOME Shell extension, installed and enabled for this session's user as a person
    would (the shell loads extensions when it starts)."""
    source = os.path.join(HERE, "..", "..", "extensions", "gnome", EXTENSION)
    target = os.path.join(env["XDG_DATA_HOME"], "gnome-shell", "extensions", EXTENSION)
    shutil.copytree(source, target)
    subprocess.run(["gsettings", "set", "org.gnome.shell", "enabled-extensions", f"['{EXTENSION}']"],
                   env=env, check=True, timeout=30)


class Session(Buses):
    """A headless GNOME Shell, its portal, and a stand-in person."""

    def __init__(self, tmp):
        super().__init__(tmp, private_env(tmp, "GNOME"))
        env = self.env
        self.mock_logind()
        install_extension(env)
        with open(os.path.join(self.logs, "gnome-shell.log"), "w") as out:
            self.shell = spawn(["gnome-shell", "--headless", "--unsafe-mode", "--wayland", "--no-x11",
                                "--virtual-monitor", "1280x720", "--wayland-display=wayland-baton"],
                               env, stdout=out, stderr=out)
        started = time.monotonic()
        wait_for("GNOME Shell to start", lambda: self.shell_ready(), timeout=90, every=0.2)
        log(f"GNOME Shell {gnome_shell_version()} headless, up in {time.monotonic() - started:.1f} s")
        env["WAYLAND_DISPLAY"] = "wayland-baton"
        self.activation_environment("WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "XDG_SESSION_TYPE",
                                    "XDG_RUNTIME_DIR", "DBUS_SYSTEM_BUS_ADDRESS", "GTK_A11Y", "NO_AT_BRIDGE",
                                    "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "HOME")
        self.start_portal()
        self.person = self.call("org.gnome.Mutter.RemoteDesktop", "/org/gnome/Mutter/RemoteDesktop",
                                "org.gnome.Mutter.RemoteDesktop", "CreateSession")[0]
        self.person_call("Start")
        # A new session's first event can be lost while the seat learns of its device.
        self.press("Shift")
        time.sleep(0.3)
        if self.eval("Main.overview.visible"):
            self.press("Escape")
            wait_for("the overview to close", lambda: self.eval("Main.overview.visible") is False)

    def eval(self, js):
        """Runs JavaScript in the shell; its value (the shell answers it as JSON), or None."""
        try:
            ok, out = self.call("org.gnome.Shell", "/org/gnome/Shell", "org.gnome.Shell", "Eval",
                                GLib.Variant("(s)", (js,)))
        except GLib.Error:
            return None
        try:
            return json.loads(out) if ok and out else None
        except ValueError:
            return None

    def shell_ready(self):
        if self.shell.poll() is not None:
            raise RuntimeError(f"gnome-shell exited {self.shell.returncode}; see {self.logs}/gnome-shell.log")
        return self.eval("Main.layoutManager._startingUp") is False

    def person_call(self, method, params=None):
        return self.call("org.gnome.Mutter.RemoteDesktop", self.person,
                         "org.gnome.Mutter.RemoteDesktop.Session", method, params)

    def press(self, combo):
        names = combo.split("+")
        for down, seq in ((True, names), (False, list(reversed(names)))):
            for n in seq:
                self.person_call("NotifyKeyboardKeysym", GLib.Variant("(ub)", (KEYSYMS[n], down)))

    def windows(self):
        """(title, wm class or app id) of every window the shell shows."""
        return self.eval("""global.get_window_actors().map(a => a.meta_window)
            .map(w => [w.get_title() || '', w.get_gtk_application_id() || w.get_wm_class() || ''])""") or []

    def dialog(self):
        """The Remote Desktop dialog of xdg-desktop-portal-gnome, if it is up."""
        for title, app in self.windows():
            if "portal" in app.lower() or title == "Remote Desktop":
                return title
        return None

    def focused_dialog(self):
        """The title of the portal's dialog that has the keyboard (Remote Desktop from
        xdg-desktop-portal-gnome, Add Keyboard Shortcuts from gnome-control-center)."""
        return self.eval("""(() => { const w = global.display.focus_window;
            const app = (w ? (w.get_gtk_application_id() || w.get_wm_class() || '') : '').toLowerCase();
            return app.includes('portal') || app.includes('globalshortcutsprovider') ? w.get_title() : null; })()""")

    def answer(self, keys, title=None):
        """Answers the dialog (the one titled `title`, if given) with keys, as the person would,
        once it has the keyboard."""
        wait_for(f"the dialog {title or ''} to have the keyboard",
                 lambda: self.focused_dialog() if title is None else self.focused_dialog() == title)
        time.sleep(1.0)  # keys sent before the dialog settles its focus land elsewhere
        self.press("Shift")
        time.sleep(0.3)
        for key in keys:
            self.press(key)
            time.sleep(0.3)

    def pointer(self):
        return self.eval("global.get_pointer().slice(0, 2)")


ROUNDS = int(os.environ.get("BATON_WAYLAND_ROUNDS", "200"))
# The person-first rule: every action of the holder sent this long after the person's input is
# refused.
WITHIN = 0.100


def person_first(session, host):
    """An agent acts every 10-100 ms through Baton while the person, through an input source
    that is not Baton's, moves the mouse at ROUNDS random moments. Each time the holder's input
    must be refused (user_active) within WITHIN of the person's, and Baton's own input alone
    must never pause it."""
    rng = random.Random(int(os.environ.get("BATON_WAYLAND_SEED", "0")) or None)
    code, submitted = host.http("POST", "/v1/runs", {"title": "agent", "client": "suite", "needs_desktop": True})
    run_id, run_token = submitted["run"]["id"], submitted["token"]
    lease = submitted["run"]["lease_token"]
    answers = []  # (sent, answered, error code or None)
    stop_agent = threading.Event()

    def agent():
        step = 1
        beat = time.monotonic()
        while not stop_agent.is_set():
            if time.monotonic() - beat > 2.0:  # a live agent keeps its run alive (its TTL)
                host.http("POST", f"/v1/runs/{run_id}/heartbeat", {}, run_token)
                beat = time.monotonic()
            sent = time.monotonic()
            code, answer = host.http("POST", f"/v1/runs/{run_id}/input",
                                     {"lease_token": lease,
                                      "actions": [{"kind": "move", "x": step, "y": 0, "relative": True}]},
                                     run_token)
            answers.append((sent, time.monotonic(), None if code == 200 else answer["error"]["code"]))
            step = -step
            time.sleep(rng.uniform(0.010, 0.100))

    if os.environ.get("BATON_WAYLAND_MONITOR"):
        spawn(["dbus-monitor", "--session", "type='signal',interface='app.baton.InputSource'"], session.env,
              stdout=open(os.path.join(session.logs, "input-source.log"), "w"), stderr=subprocess.DEVNULL)
    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    time.sleep(2.0)
    alone = [a for a in answers if a[2] is not None]
    check("Baton's own input alone never pauses its holder (2 s of an agent's moves)",
          not alone and len(answers) > 10, f"{len(answers)} actions, refused: {alone[:3]}")
    latencies, late, missed = [], 0, []
    for round_ in range(ROUNDS):
        host.http("POST", "/v1/desktop/holder/resume", {})
        time.sleep(rng.uniform(0.15, 0.40))
        # The person nudges the mouse: a short movement, a few events over 24 ms, as a real
        # mouse reports even a small one (the shell names the device of the *last* event of each
        # burst, so one lone event landing in the same frame as Baton's can go unnamed).
        person = time.monotonic()
        for i in range(4):
            session.person_call("NotifyPointerMotionRelative", GLib.Variant("(dd)", (1.0, 1.0 if i % 2 else -1.0)))
            time.sleep(0.008)
        try:
            wait_for("the holder's input to be refused", lambda: any(
                a[0] >= person and a[2] == "user_active" for a in list(answers)), timeout=2.0, every=0.005)
        except TimeoutError:
            if not missed:
                codes = sorted({str(a[2]) for a in list(answers) if a[0] >= person})
                log(f"round {round_}: no refusal; the holder's answers meanwhile: {codes}")
            missed.append(round_)
            continue
        refused = min(a[1] for a in list(answers) if a[0] >= person and a[2] == "user_active")
        latencies.append(refused - person)
        if any(a[0] >= person + WITHIN and a[2] is None for a in list(answers)):
            late += 1
    stop_agent.set()
    thread.join()
    host.http("POST", "/v1/desktop/holder/resume", {})
    host.http("POST", f"/v1/runs/{run_id}/finish", {"outcome": "succeeded"}, run_token)
    first = ROUNDS - len(missed) - late
    latencies.sort()
    median = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    log(f"person first in {first} of {ROUNDS} rounds; the holder's first refused input came "
        f"{median:.0f} ms after the person's at the median, {p99:.0f} ms at p99 (worst "
        f"{max(latencies) * 1000 if latencies else float('nan'):.0f} ms); missed: {missed or 'none'}; {late} late")
    check(f"the person first at {ROUNDS} random moments (refused within {WITHIN * 1000:.0f} ms)",
          first == ROUNDS, f"{len(missed)} missed, {late} with the holder's input still let through later")


BOUND = "the desktop bound the stop hotkey"


def tray_checks(session, data_dir):
    tray = Tray(session, data_dir)
    session.answer(ADD_SHORTCUT_KEYS, title="Add Keyboard Shortcuts")
    try:
        wait_for("the desktop to bind the stop hotkey", lambda: tray.said(BOUND), timeout=15)
    except TimeoutError:
        pass
    if check("the desktop binds the tray's stop hotkey once its dialog is answered",
             bool(tray.said(BOUND)), "\n".join(tray.log.all()[-15:])):
        said = tray.said(BOUND)[0]
        check("the tray says the key the desktop assigned, as people read it",
              'trigger="Shift+Ctrl+Alt+S"' in said, said)
    holder = spawn([common.BATON, "run", "--desktop", "-t", "held", "--client", "suite", "--", "sleep", "120"],
                   dict(tray.env, PATH=os.path.dirname(common.BATON) + ":" + tray.env["PATH"]),
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    held = wait_for("the run to hold the desktop",
                    lambda: next((l for l in tray.status().splitlines() if l.startswith("Desktop: #")), None))
    run_id = held.split("#")[1].split()[0]
    session.press("Control+Alt+Shift+s")
    try:
        code = holder.wait(15)
    except subprocess.TimeoutExpired:
        code = None
    _, run = tray.http("GET", f"/v1/runs/{run_id}")
    check("the person's Ctrl+Alt+Shift+S stops the holder (user:hotkey)",
          code == 130 and run.get("cancelled_by") == "user:hotkey",
          f"baton run exited {code}; the run: {run}")
    tray.stop()
    tray = Tray(session, data_dir)
    try:
        wait_for("the binding again", lambda: tray.said(BOUND), timeout=15)
    except TimeoutError:
        pass
    check("the next start binds it again without a dialog",
          bool(tray.said(BOUND)) and session.focused_dialog() is None,
          f"{session.windows()} {tray.log.all()[-10:]}")
    tray.stop()


def main():
    version = gnome_shell_version()
    if version is None or version < 45 or not shutil.which("/usr/libexec/xdg-desktop-portal"):
        common.cannot_run(f"GNOME Shell {version} here" if version else "no GNOME Shell here",
                          "GNOME Shell 45 or later and xdg-desktop-portal-gnome")
        return
    common.run("baton-gnome.", suite, tray_checks)


def suite(tmp):
    session = Session(tmp)
    entry = Entry(session)

    # 1, 2: the first start asks; a refusal turns input off with the way back.
    refused_dir = os.path.join(tmp, "refused")
    host = Host(session, refused_dir)
    check("the host serves before the person answers the dialog", host.serving_after < 10,
          f"{host.serving_after:.1f} s")
    wait_for("the Remote Desktop dialog", session.dialog)
    status = host.status()
    check("meanwhile status says input waits for the person's OK",
          "Input: off (waiting for you to allow Baton" in status, status)
    out = host.baton("run", "--desktop", "-t", "too early", "--", "baton", "input", "type", "x")
    check("meanwhile a holder's input is refused with the reason",
          out.returncode != 0 and "waiting for you to allow Baton" in out.stderr,
          f"exit {out.returncode}: {out.stderr.strip()}")
    session.answer(["Escape"])
    wait_for("the dialog to go", lambda: not session.dialog())
    wait_for("status to say the dialog was refused",
             lambda: "not allowed to control the keyboard and mouse" in host.status(), timeout=10)
    check("a refused dialog turns input off and says how to be asked again",
          "Restart Baton to be asked again" in host.status(), host.status())
    check("a refused dialog keeps no grant",
          not os.path.exists(os.path.join(refused_dir, "remote-desktop-token")))
    host.stop()

    # 3: allowing it; the token is kept, owner-only.
    data_dir = os.path.join(tmp, "granted")
    host = Host(session, data_dir)
    wait_for("the Remote Desktop dialog", session.dialog)
    session.answer(ALLOW_KEYS)
    wait_for("input to be on", lambda: "Input: off" not in host.status(), timeout=15)
    check_token_kept(data_dir)
    status = host.status()
    check("takeover detection is on (Baton's GNOME Shell extension tells devices apart)",
          "Takeover:" not in status, status)

    # 4: a holder types into a native Wayland window; where the pointer is stays hidden.
    check_typing(host, entry, "Hello, Wayland!", 640, 400, after_move=lambda: check(
        "the pointer went where the holder moved it", session.pointer() == [640, 400],
        f"{session.pointer()}"))
    check_pointer_hidden(host)

    # 5: the person first: their input pauses the holder, Baton's own never does.
    person_first(session, host)

    # 6: a stale holder is refused and types nothing.
    check_stale_holder(host, entry)

    # 7: a run on a private display, beside the person's Wayland desktop.
    check_private_display(host, entry, tmp)
    check("the host stops cleanly", host.stop() == 0)

    # 7: the next start asks nothing and types at once.
    host = Host(session, data_dir)
    try:
        wait_for("input to be on again", lambda: "Input: off" not in host.status(), timeout=10)
        on_again = True
    except TimeoutError:
        on_again = False
    check("the next start needs no dialog: input is on at once", on_again, host.status())
    check("and no dialog was shown", session.dialog() is None, f"{session.windows()}")
    check_types_after_restart(host, entry)
    host.stop()

    # The tray app's stop hotkey through the GlobalShortcuts portal, on the granted data
    # directory (common.run, with a tray app given).
    return session, data_dir


if __name__ == "__main__":
    common.configure("wayland-gnome", sys.argv)
    main()
