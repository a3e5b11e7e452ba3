#!/usr/bin/env python3
r"""The Windows suite: the real baton.exe (built for x86_64-pc-windows-gnu) under Wine.

A fresh Wine prefix, no display: the headless host (`baton daemon --no-input`), `status`,
`run --desktop` queueing first come first served with the honest message and handing off, a
user's cancel ending the command's whole process tree with exit 130, a killed `baton run`
handing the desktop on at once, and a killed host whose restart marks its run `interrupted`
with lease tokens still rising; the session's end (logoff, shutdown: wineboot --end-session)
stops the host cleanly, its active run `interrupted` and its host note removed. The token file's ACL is checked by baton-core's own Windows
test, which scripts/test-windows.sh runs under Wine beside this suite.

Then a host with input and takeover detection on: the holder's own `baton input` (SendInput,
carrying Baton's mark) does not pause it; another program's input (nudge.exe, SendInput with no
mark, built beside the shim) does, seen by the host's low-level hooks, and the holder resumes
after the quiet time. Wine has no devices without a display, so "the person" is that other
program here: the same hook path, the same rule (unmarked input is the person's).

At a console of its own (console.exe), Ctrl+C stops the host cleanly. What Wine cannot do here
is said in the output: a cancel's Ctrl+Break to the command's process group (the cancel's
terminate step carries the guarantee).

With a TRAY_EXE and Xvfb, the tray app baton-tray.exe is started under Wine on a virtual
display, in a prefix of its own: its host must serve the same CLI, and when the session ends
stop cleanly before the app exits, without a crash; its windows (WebView2) and toasts are not
tried.

With an MSI (packaging/windows/baton.wxs) and NEXT_MSI (the same with a higher version), the
installer in a prefix of its own: a silent install puts the programs in C:\Program Files\Baton,
a Start-menu entry, and `baton` on PATH (cmd finds it); the installed CLI answers `baton status`
from the installed host; NEXT_MSI replaces it, keeping the history and the token; and uninstalling
removes the programs, the entry and the PATH entry, keeping the data in %APPDATA%\baton.

Usage: suite.py BATON_EXE SHIM_DLL [TRAY_EXE [MSI NEXT_MSI]]
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

EXE, SHIM = sys.argv[1], sys.argv[2]
NUDGE = os.path.join(os.path.dirname(SHIM), "nudge.exe")
CONSOLE = os.path.join(os.path.dirname(SHIM), "console.exe")
TRAY = sys.argv[3] if len(sys.argv) > 3 else None
MSI, NEXT_MSI = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
SCRATCH = tempfile.mkdtemp(prefix="baton-wine-")
PREFIX = os.path.join(SCRATCH, "prefix")
ENV = dict(
    os.environ,
    WINEPREFIX=PREFIX,
    WINEDEBUG="-all",
    # No Mono or Gecko installer dialogs in a headless prefix.
    WINEDLLOVERRIDES="mscoree,mshtml=",
)
ENV.pop("DISPLAY", None)
ENV.pop("WAYLAND_DISPLAY", None)
for name in ("BATON_DATA_DIR", "BATON_URL", "BATON_RUN_TOKEN", "BATON_RUN_ID"):
    ENV.pop(name, None)
WINE = shutil.which("wine") or "/usr/lib/wine/wine64"
FAILED = []
PROCS = []


def say(text):
    print(f"windows-suite: {text}", flush=True)


def check(name, ok, detail=""):
    if ok:
        say(f"ok - {name}")
    else:
        say(f"FAIL - {name}: {detail}")
        FAILED.append(name)


def win_path(path):
    """A Linux path as Wine's Z: drive sees it."""
    return "Z:" + path.replace("/", "\\")


class Started:
    """A baton.exe started in the background, its output in files: Wine's own service
    processes, started by whichever program comes first, inherit its handles, so a pipe
    would never reach end-of-file."""

    def __init__(self, args, program=None):
        self.out_path = tempfile.mktemp(dir=SCRATCH, suffix=".out")
        self.err_path = tempfile.mktemp(dir=SCRATCH, suffix=".err")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [WINE, program or EXE, *args], env=ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        PROCS.append(self.proc)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    @property
    def returncode(self):
        return self.proc.returncode

    def communicate(self, timeout):
        self.proc.wait(timeout=timeout)
        with open(self.out_path) as out, open(self.err_path) as err:
            return out.read(), err.read()


def baton(*args, timeout=60):
    started = Started(args)
    out, err = started.communicate(timeout)
    return subprocess.CompletedProcess(args, started.returncode, out, err)


def start(*args):
    return Started(args)


def in_console(key, go, *args):
    """baton.exe ARGS in a console of its own (console.exe), with `key` (c, break) pressed
    there once the file `go` exists. Its output goes to its files, as for `start`."""
    line = subprocess.list2cmdline([win_path(EXE), *args])
    return Started([key, win_path(go), line], program=CONSOLE)


def wait_for(what, test, timeout=30.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def status():
    out = baton("status", "--json")
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)


def holder_title():
    snap = status()
    holder = snap and snap["desktop"]["holder"]
    return holder["title"] if holder else None


def queue_titles():
    snap = status()
    return [r["title"] for r in snap["desktop"]["queue"]] if snap else None


def history():
    out = baton("history", "--json", "--limit", "50")
    return json.loads(out.stdout) if out.returncode == 0 else []


def run_named(title):
    for run in history():
        if run["title"] == title:
            return run
    return None


def submit(data, title):
    """A desktop run over the HTTP API with the user's token, as a script would hold one; its
    id."""
    with open(os.path.join(data, "token")) as f:
        token = f.read().strip()
    with open(os.path.join(data, "host.json")) as f:
        url = json.load(f)["url"]
    request = urllib.request.Request(
        url + "/v1/runs",
        data=json.dumps({
            "title": title, "client": "windows-suite", "needs_desktop": True, "ttl_ms": 300_000,
        }).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["run"]["id"]


def wine_pids_of(image):
    """Linux pids of Wine processes running `image` (ping.exe, say) in this prefix."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if f"WINEPREFIX={PREFIX}".encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").lower()
        except OSError:
            continue
        if image in cmdline:
            pids.append(int(entry))
    return pids


def start_daemon():
    daemon = start("daemon", "--no-input", "--no-takeover")
    wait_for("the host to answer baton status", lambda: status() is not None, timeout=60)
    return daemon


def kill9(started):
    os.kill(started.pid, signal.SIGKILL)
    started.wait(timeout=10)


def wine_lacks_process_prng():
    """Wine before 9 (Debian 12's 8.0) has no ProcessPrng, which Rust's standard library needs."""
    out = subprocess.run([WINE, "--version"], env=ENV, capture_output=True, text=True, timeout=60).stdout
    try:
        return int(out.strip().removeprefix("wine-").split(".")[0]) < 9
    except ValueError:
        return True


def new_prefix():
    """A new Wine prefix at PREFIX, with the shim in its system32 where this Wine needs it."""
    say(f"a new Wine prefix in {PREFIX}")
    subprocess.run([WINE, "wineboot", "-i"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    # wineboot returns while the session it started may still be filling the prefix: a session
    # killed then (use_null_graphics ends it) can leave a prefix where no program loads
    # kernel32.dll. Let it end by itself first.
    subprocess.run(["wineserver", "-w"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if wine_lacks_process_prng():
        system32 = os.path.join(PREFIX, "drive_c", "windows", "system32")
        shutil.copy(SHIM, os.path.join(system32, "bcryptprimitives.dll"))


def use_null_graphics():
    """Wine's null graphics driver for this prefix, from the next start of its session on (the
    running one is ended): windows without a display."""
    key = "HKCU\\Software\\Wine\\Drivers"
    subprocess.run(
        [WINE, "reg", "add", key, "/v", "Graphics", "/d", "null", "/f"], env=ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
    )
    end_session()
    session_starts()


def data_dir():
    """%APPDATA%\\baton in the current prefix, as Linux sees it."""
    return os.path.join(PREFIX, "drive_c", "users", os.environ.get("USER", "root"), "AppData", "Roaming", "baton")


def end_session():
    """Ends the prefix's Wine session (every Wine process in it) and waits for it."""
    subprocess.run(["wineserver", "-k"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["wineserver", "-w"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def session_starts():
    """Waits until the prefix's next Wine session runs a program (cmd), at most a minute. Once,
    in CI, the first baton.exe after `use_null_graphics` exited 53 without a word, as Wine does
    when a program cannot load kernel32.dll, and so did the host after it: the checks must not
    begin before the session can start programs."""
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run([WINE, "cmd", "/c", "exit", "0"], env=ENV, capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Wine session starts no program (cmd exits {out.returncode}: "
                               f"{out.stderr.strip()})")
        time.sleep(0.5)


def write_bat(name, text):
    path = os.path.join(SCRATCH, name)
    with open(path, "w", newline="\r\n") as f:
        f.write(text)
    return win_path(path)


def main():
    new_prefix()
    # Windows always has a desktop, if no screen; Wine without a display has one only with its
    # null graphics driver, and without one no program can make a window (Baton's hidden
    # window, which hears the session end, among them).
    use_null_graphics()
    say("not run here: a person's own mouse and keyboard (Wine has no devices without a display): another program's input stands in for them")
    say("not run here: a cancel's Ctrl+Break to the command's group (Wine's GenerateConsoleCtrlEvent fails in baton run: 'invalid access' without a console, 'invalid handle' in one it shares with its parent): the cancels below end by terminating the job after the 5 s grace")

    # No host yet: the same exit code and sentence as on Unix.
    out = baton("status")
    check("status without a host exits 69", out.returncode == 69, f"{out.returncode} {out.stderr}")

    daemon = start_daemon()
    data = data_dir()
    check(
        "the data directory is %APPDATA%\\baton",
        os.path.exists(os.path.join(data, "token")) and os.path.exists(os.path.join(data, "host.json")),
        f"nothing in {data}",
    )
    snap = status()
    check("status answers from a free desktop", snap["desktop"]["holder"] is None, json.dumps(snap))

    # FIFO: A holds; B then C queue behind it with the honest message; a user cancel of A
    # hands the desktop to B, B's end to C.
    hold = write_bat("hold.bat", "@echo off\r\nping -n 120 127.0.0.1 >nul\r\n")
    quick = write_bat("quick.bat", "@echo off\r\necho %BATON_LEASE_TOKEN%\r\n")
    a = start("run", "--desktop", "--title", "A", "--", "cmd", "/c", hold)
    wait_for("A to hold the desktop", lambda: holder_title() == "A")
    b = start("run", "--desktop", "--title", "B", "--", "cmd", "/c", quick)
    wait_for("B to queue", lambda: queue_titles() == ["B"])
    c = start("run", "--desktop", "--title", "C", "--", "cmd", "/c", quick)
    wait_for("C to queue", lambda: queue_titles() == ["B", "C"])
    check("B and C wait first come first served", queue_titles() == ["B", "C"], str(queue_titles()))
    a_id = run_named("A")["id"]
    out = baton("cancel", str(a_id))
    check("the user's cancel is accepted", out.returncode == 0, out.stderr)
    a_code = a.wait(timeout=30)
    check("the cancelled command's baton run exits 130", a_code == 130, f"exit {a_code}")
    b_out, b_err = b.communicate(timeout=60)
    c_out, c_err = c.communicate(timeout=60)
    check("B was told it is queued behind A", "queued behind 'A'" in b_err, b_err)
    check("C was told its position", "position 2" in c_err, c_err)
    check("B ran after the hand-off and exited 0", b.returncode == 0 and "the desktop is yours" in b_err, f"{b.returncode} {b_err}")
    check("C ran after B", c.returncode == 0 and "the desktop is yours" in c_err, f"{c.returncode} {c_err}")
    tokens = [int(b_out.strip() or 0), int(c_out.strip() or 0)]
    check("each holder's command got a rising lease token", 0 < tokens[0] < tokens[1], str(tokens))
    runs = {r["title"]: r for r in history()}
    check(
        "the history says A was cancelled by the user and B, C succeeded",
        runs["A"]["state"] == "cancelled" and runs["B"]["state"] == "succeeded" and runs["C"]["state"] == "succeeded",
        json.dumps({k: runs[k]["state"] for k in "ABC"}),
    )

    # A cancel ends the command's whole tree: cmd, the batch file's ping, and a grandchild
    # started in the background that would write a marker if it lived.
    marker = os.path.join(SCRATCH, "marker.txt")
    child = write_bat("child.bat", f"@echo off\r\nping -n 8 127.0.0.1 >nul\r\necho late > {win_path(marker)}\r\n")
    tree = write_bat("tree.bat", f"@echo off\r\nstart /b cmd /c {child}\r\nping -n 120 127.0.0.1 >nul\r\n")
    d = start("run", "--desktop", "--title", "D", "--", "cmd", "/c", tree)
    wait_for("D to hold the desktop", lambda: holder_title() == "D")
    wait_for("D's tree to be up", lambda: len(wine_pids_of("ping")) >= 2, timeout=30)
    began = time.monotonic()
    baton("stop")
    d_code = d.wait(timeout=30)
    took = time.monotonic() - began
    check("a stopped holder's baton run exits 130", d_code == 130, f"exit {d_code}")
    check("the tree is ended within the 5 s grace and a little", took < 9, f"{took:.1f} s")
    time.sleep(1)
    left = wine_pids_of("ping")
    check("nothing of the tree is left", not left, f"still running: {left}")
    time.sleep(8)
    check("the grandchild never wrote its marker", not os.path.exists(marker), "marker written")

    # kill -9 of a holder's baton run: the desktop goes to the next at once, and its command
    # goes with the job.
    e = start("run", "--desktop", "--title", "E", "--", "cmd", "/c", hold)
    wait_for("E to hold the desktop", lambda: holder_title() == "E")
    wait_for("E's ping to run", lambda: wine_pids_of("ping"))
    f = start("run", "--desktop", "--title", "F", "--", "cmd", "/c", quick)
    wait_for("F to queue", lambda: queue_titles() == ["F"])
    began = time.monotonic()
    kill9(e)
    f.communicate(timeout=30)
    took = time.monotonic() - began
    check("killing a holder's baton run hands the desktop on at once", f.returncode == 0 and took < 5, f"exit {f.returncode} after {took:.1f} s")
    wait_for("E's command to go with its job", lambda: not wine_pids_of("ping"), timeout=10)
    check("the killed wrapper's command went with it", not wine_pids_of("ping"), "ping still runs")

    # kill -9 of the host: the run it hosted is interrupted at the restart, tokens go on rising.
    g = start("run", "--desktop", "--title", "G", "--", "cmd", "/c", hold)
    wait_for("G to hold the desktop", lambda: holder_title() == "G")
    g_token = status()["desktop"]["lease_token"]
    kill9(daemon)
    g_code = g.wait(timeout=30)
    check("a holder whose host died exits 69 (no host)", g_code == 69, f"exit {g_code}")
    daemon = start_daemon()
    g_run = run_named("G")
    check("the restarted host marks the run interrupted", g_run and g_run["state"] == "interrupted", json.dumps(g_run))
    h = start("run", "--desktop", "--title", "H", "--", "cmd", "/c", quick)
    h_out, _ = h.communicate(timeout=60)
    h_token = int(h_out.strip() or 0)
    check("lease tokens still rise after the restart", h_token > g_token, f"{h_token} after {g_token}")

    baton_status = baton("status")
    check("status names the desktop free again", baton_status.returncode == 0, baton_status.stderr)

    # A schedule entry fires on this host too: its command runs through `baton run --adopt`
    # (this same baton.exe), and what it prints is kept in the run's log.
    added = baton("schedule", "add", "tick", "--cron", "* * * * * *", "--", "cmd", "/c", "echo tick tock")
    check("a schedule entry is added", added.returncode == 0, added.stderr)

    def ticked():
        return [r for r in history() if r["client"] == "schedule:tick" and r["state"] == "succeeded"]

    wait_for("a scheduled run that succeeded", lambda: ticked(), timeout=60)
    logged = baton("logs", str(ticked()[0]["id"]))
    check("a scheduled command's output is in its run's log", "tick tock" in logged.stdout,
          f"{logged.returncode} {logged.stdout!r} {logged.stderr}")
    removed = baton("schedule", "remove", "tick")
    check("the entry is removed", removed.returncode == 0, removed.stderr)
    wait_for("the entry's last run to end", lambda: not any(
        r["client"] == "schedule:tick" and r["state"] in ("queued", "running") for r in history()))

    # The session ends (wineboot --end-session sends every top-level window WM_QUERYENDSESSION
    # and WM_ENDSESSION, as Windows does at logoff and shutdown, then ends the process): the
    # host stops cleanly first. The run is held over the API, with no `baton run` of its own
    # that the session's end would stop first.
    held = submit(data, "S")
    wait_for("S to hold the desktop", lambda: holder_title() == "S")
    ended = subprocess.run(
        [WINE, "wineboot", "--end-session"], env=ENV, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, timeout=120,
    )
    check("Wine ends the session", ended.returncode == 0, ended.stderr.decode(errors="replace"))
    try:
        _, said = daemon.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        kill9(daemon)
        _, said = daemon.communicate(timeout=10)
        said += "\n(still running 30 s after the session ended)"
    check("the host stops with the session, cleanly", "baton: stopped" in said, said[-2000:])
    stopped_cleanly(data, held, "S", "at the session's end")
    console()
    daemon = start_daemon()
    kill9(daemon)
    wait_for("the killed host to be seen gone", lambda: baton("status").returncode == 69, timeout=20)
    check(
        "a host note left by a killed host is not taken for a host (its lock is free)",
        os.path.exists(os.path.join(data, "host.json")) and baton("status").returncode == 69,
        "",
    )
    takeover()
    tray_app()
    installer()


def stopped_cleanly(data, held, title, when):
    """After a host's stop `when`: its note is removed, and a restarted host finds the run it
    held (`held`, titled `title`) ended `interrupted` by the stop itself, nothing left for the
    restart to mark: a clean stop, not a death."""
    check(f"{when}, the host's clean stop removes its host note", not os.path.exists(os.path.join(data, "host.json")), "host.json left")
    daemon = start("daemon", "--no-input", "--no-takeover")
    wait_for("the host to answer baton status", lambda: status() is not None, timeout=60)
    run = run_named(title)
    check(
        f"{when}, the held run was ended interrupted",
        run and run["id"] == held and run["state"] == "interrupted",
        json.dumps(run),
    )
    kill9(daemon)
    _, said = daemon.communicate(timeout=10)
    check(f"{when}, the host stopped before it went: its restart found nothing to mark", "were active when Baton last stopped" not in said, said[-2000:])


def console():
    """At a console, as a person runs Baton from a terminal: Ctrl+C stops the host cleanly.
    (Ctrl+Break is not tried: in a second console of the same session Wine's
    GenerateConsoleCtrlEvent fails with 'invalid handle' even in console.exe.)"""
    data = data_dir()
    for key, name in (("c", "Ctrl+C"),):
        go = os.path.join(SCRATCH, f"press-{key}")
        host = in_console(key, go, "daemon", "--no-input", "--no-takeover")
        wait_for("the host in its console to answer baton status", lambda: status() is not None, timeout=60)
        held = submit(data, f"held at {name}")
        open(go, "w").close()
        _, said = host.communicate(timeout=60)
        check(
            f"{name} in its console stops the host cleanly (exit 0)",
            host.returncode == 0 and "baton: stopped" in said,
            f"exit {host.returncode}: {said[-2000:]}",
        )
        stopped_cleanly(data, held, f"held at {name}", f"at {name}")


def paused():
    snap = status()
    return bool(snap and snap["desktop"]["holder"] and snap["desktop"]["holder_paused"])


def takeover():
    """Input and takeover detection on: Baton's own input is not a takeover, another
    program's is, and the holder resumes after the quiet time."""
    daemon = start("daemon", "--takeover-quiet", "2")
    wait_for("the host with input to answer", lambda: status() is not None, timeout=60)
    facts = baton("status")
    check(
        "input and takeover detection work on this host",
        "Input: off" not in facts.stdout and "Takeover:" not in facts.stdout,
        facts.stdout,
    )
    sent = os.path.join(SCRATCH, "sent.txt")
    go = os.path.join(SCRATCH, "go.txt")
    holder = write_bat("typist.bat", (
        "@echo off\r\n"
        f"\"{win_path(EXE)}\" input move 200 200 move 320 240 type hello\r\n"
        f"echo %errorlevel% > {win_path(sent)}\r\n"
        ":wait\r\n"
        f"if exist {win_path(go)} exit /b 0\r\n"
        "ping -n 2 127.0.0.1 >nul\r\n"
        "goto wait\r\n"
    ))
    t = start("run", "--desktop", "--title", "T", "--", "cmd", "/c", holder)
    wait_for("the holder's input to be sent", lambda: os.path.exists(sent) and open(sent).read().strip(), timeout=60)
    with open(sent) as f:
        code = f.read().strip()
    check("the holder's baton input is carried out", code == "0", f"exit {code}")
    time.sleep(1.5)
    check("Baton's own input does not pause its holder", not paused(), json.dumps(status()))
    nudged = subprocess.run([WINE, NUDGE], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    check("another program's input is sent", nudged.returncode == 0, nudged.stderr.decode(errors="replace"))
    began = time.monotonic()
    try:
        wait_for("the holder to be paused", paused, timeout=10, every=0.1)
        check("another program's input pauses the holder", True, "")
    except TimeoutError:
        check("another program's input pauses the holder", False, json.dumps(status()))
    try:
        wait_for("the holder to resume", lambda: not paused(), timeout=20, every=0.2)
        took = time.monotonic() - began
        check("the holder resumes after the quiet time", took >= 1.5, f"after {took:.1f} s")
    except TimeoutError:
        check("the holder resumes after the quiet time", False, json.dumps(status()))
    open(go, "w").close()
    t_code = t.wait(timeout=60)
    check("the holder finishes", t_code == 0, f"exit {t_code}")
    kill9(daemon)


def tray_app():
    global PREFIX
    if not TRAY:
        return
    if not shutil.which("Xvfb"):
        say("not run here: the tray app (no Xvfb for its display)")
        return
    xvfb_log = open(os.path.join(SCRATCH, "xvfb.log"), "w")
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE, stderr=xvfb_log, start_new_session=True,
    )
    PROCS.append(xvfb)
    display = ":" + xvfb.stdout.readline().decode().strip()
    # A prefix of its own, made with the display from its first program on: the one above
    # has Wine's null graphics driver, and Wine's desktop made without the display.
    end_session()
    PREFIX = os.path.join(SCRATCH, "tray-prefix")
    ENV["WINEPREFIX"] = PREFIX
    ENV["DISPLAY"] = display
    new_prefix()
    log = os.path.join(SCRATCH, "tray.log")
    with open(log, "w") as out:
        tray = subprocess.Popen(
            [WINE, TRAY], env=ENV, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    PROCS.append(tray)
    try:
        wait_for(
            "the tray app's host to answer, or the tray app to end",
            lambda: tray.poll() is not None or status() is not None,
            timeout=90,
        )
    except TimeoutError:
        pass
    with open(log) as f:
        said = f.read()
    if xvfb.poll() is not None:
        with open(os.path.join(SCRATCH, "xvfb.log")) as f:
            check("the tray app's display (Xvfb) is up", False, f.read()[-2000:])
        return
    check("the tray app hosts Baton under Wine", status() is not None, said[-3000:])
    if status() is None:
        return
    data = data_dir()
    with open(os.path.join(data, "host.json")) as f:
        kind = json.load(f)["kind"]
    check("the host note says the tray app hosts", kind == "tray", kind)
    quick = write_bat("tray-quick.bat", "@echo off\r\necho %BATON_LEASE_TOKEN%\r\n")
    out = baton("run", "--desktop", "--title", "through the tray", "--", "cmd", "/c", quick)
    check(
        "a desktop run goes through the tray app's host",
        out.returncode == 0 and int(out.stdout.strip() or 0) > 0,
        f"{out.returncode} {out.stdout} {out.stderr}",
    )
    say("not run here: the tray app's windows (WebView2) and toasts, which Wine does not have")
    # The session ends with a run held: the tray app's host stops cleanly before Windows ends
    # it, whichever of its windows hears the end first (tao's, whose event loop then ends
    # under the host, or Baton's own).
    held = submit(data, "held at the tray's end")
    subprocess.run(
        [WINE, "wineboot", "--end-session"], env=ENV, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, timeout=120,
    )
    try:
        code = tray.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(tray.pid, signal.SIGKILL)
        code = f"still running 30 s after the session ended ({tray.wait(timeout=10)})"
    with open(log) as f:
        said = f.read()
    check(
        "the tray app ends with the session, without a crash",
        code == 0 and "panicked" not in said,
        f"exit {code}: {said[-2000:]}",
    )
    stopped_cleanly(data, held, "held at the tray's end", "the tray app at the session's end")


def msiexec(*args):
    """msiexec ARGS, silent (/qn), with its verbose log kept for a failure's detail."""
    log = tempfile.mktemp(dir=SCRATCH, suffix=".msi.log")
    done = subprocess.run(
        [WINE, "msiexec", *args, "/qn", "/l*v", win_path(log)], env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
    )
    said = ""
    if os.path.exists(log):
        with open(log, "rb") as f:
            # Windows Installer writes its log in UTF-16.
            raw = f.read()
            said = raw.decode("utf-16", errors="replace") if raw[:2] == b"\xff\xfe" else raw.decode(errors="replace")
    return done.returncode, said[-3000:]


def in_cmd(*args):
    """`cmd /c ARGS` under Wine: a program found the way a shell finds it, through PATH."""
    done = subprocess.run(
        [WINE, "cmd", "/c", *args], env=ENV, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
    )
    return done


def system_path():
    """The system PATH as the installer left it in the registry."""
    out = subprocess.run(
        [WINE, "reg", "query", r"HKLM\System\CurrentControlSet\Control\Session Manager\Environment", "/v", "PATH"],
        env=ENV, capture_output=True, text=True, timeout=120,
    ).stdout
    return next((line.split("REG_EXPAND_SZ")[-1].split("REG_SZ")[-1].strip() for line in out.splitlines() if "PATH" in line.upper() and "REG_" in line), "")


def installed_versions():
    """DisplayVersion of each installed product named Baton (Windows Installer's own list)."""
    out = subprocess.run(
        [WINE, "reg", "query", r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall", "/s"],
        env=ENV, capture_output=True, text=True, timeout=120,
    ).stdout
    versions, name = [], None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("HKEY_"):
            name = None
        elif line.startswith("DisplayName") and line.endswith("Baton"):
            name = "Baton"
        elif line.startswith("DisplayVersion") and name == "Baton":
            versions.append(line.split()[-1])
    return versions


def installer():
    """The .msi: install, use, upgrade and uninstall, as a person (or an agent's set-up) would."""
    global PREFIX, EXE
    if not MSI:
        return
    end_session()
    PREFIX = os.path.join(SCRATCH, "installer-prefix")
    ENV["WINEPREFIX"] = PREFIX
    ENV.pop("DISPLAY", None)
    new_prefix()
    use_null_graphics()

    absent = in_cmd("baton", "--version")
    check("before the install cmd finds no baton", absent.returncode != 0, absent.stdout)
    code, log = msiexec("/i", win_path(MSI))
    check("the installer installs silently (msiexec /i /qn)", code == 0, f"exit {code}: {log}")
    folder = os.path.join(PREFIX, "drive_c", "Program Files", "Baton")
    files = ("baton.exe", "baton-tray.exe", "WebView2Loader.dll")
    missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
    check("it puts baton.exe, baton-tray.exe and WebView2Loader.dll in C:\\Program Files\\Baton", not missing, f"missing: {missing}")
    # Windows puts a per-machine package's entry in every user's Start menu (ProgramData);
    # Wine's msi resolves ProgramMenuFolder to the installing user's even so.
    menus = [
        os.path.join(PREFIX, "drive_c", "ProgramData", "Microsoft", "Windows", "Start Menu", "Programs", "Baton.lnk"),
        os.path.join(PREFIX, "drive_c", "users", os.environ.get("USER", "root"), "AppData", "Roaming",
                     "Microsoft", "Windows", "Start Menu", "Programs", "Baton.lnk"),
    ]
    check("it adds a Start-menu entry", any(os.path.isfile(m) for m in menus), f"none of {menus}")
    check(
        "it appends its folder to the system PATH",
        "C:\\Program Files\\Baton" in system_path(),
        system_path(),
    )
    first = installed_versions()
    check("Windows lists Baton among the installed programs", len(first) == 1, str(first))

    version = in_cmd("baton", "--version")
    check(
        "cmd finds the installed baton on PATH, which names its version and commit",
        version.returncode == 0 and version.stdout.startswith("baton ") and "(" in version.stdout,
        f"exit {version.returncode}: {version.stdout} {version.stderr}",
    )
    EXE = os.path.join(folder, "baton.exe")
    daemon = start_daemon()
    out = in_cmd("baton", "status")
    check("the installed baton answers baton status", out.returncode == 0 and "Desktop" in out.stdout, f"exit {out.returncode}: {out.stdout} {out.stderr}")
    quick = write_bat("installed.bat", "@echo off\r\necho %BATON_LEASE_TOKEN%\r\n")
    out = baton("run", "--desktop", "--title", "before the upgrade", "--", "cmd", "/c", quick)
    check("a desktop run goes through the installed host", out.returncode == 0, f"{out.returncode} {out.stderr}")
    with open(os.path.join(data_dir(), "token")) as f:
        token = f.read()
    kill9(daemon)
    end_session()

    code, log = msiexec("/i", win_path(NEXT_MSI))
    check("a newer installer upgrades in place", code == 0, f"exit {code}: {log}")
    versions = installed_versions()
    check("after the upgrade one Baton is installed, the newer one", len(versions) == 1 and versions != first, f"{versions} after {first}")
    daemon = start_daemon()
    before = run_named("before the upgrade")
    with open(os.path.join(data_dir(), "token")) as f:
        kept = f.read() == token
    check("the upgrade keeps the history and the token", before is not None and kept, json.dumps(before))
    kill9(daemon)
    end_session()

    code, log = msiexec("/x", win_path(NEXT_MSI))
    check("uninstalling succeeds (msiexec /x)", code == 0, f"exit {code}: {log}")
    left = [f for f in files if os.path.exists(os.path.join(folder, f))]
    check("uninstalling removes the programs", not left, f"left: {left}")
    check("uninstalling removes the Start-menu entry", not any(os.path.exists(m) for m in menus), str(menus))
    check("uninstalling takes Baton off the system PATH", "Baton" not in system_path(), system_path())
    check("Windows no longer lists Baton", installed_versions() == [], str(installed_versions()))
    with open(os.path.join(data_dir(), "token")) as f:
        kept = f.read() == token
    check(
        "uninstalling keeps the user's data (%APPDATA%\\baton: the history and the token)",
        kept and os.path.isfile(os.path.join(data_dir(), "baton.db")),
        str(os.listdir(data_dir())),
    )


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except Exception as e:  # noqa: BLE001 - any failure is the suite's failure
        FAILED.append(f"{type(e).__name__}: {e}")
        say(f"FAIL - the suite stopped: {type(e).__name__}: {e}")
    finally:
        for proc in PROCS:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
        subprocess.run(["wineserver", "-k"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(SCRATCH, ignore_errors=True)
    if FAILED:
        say(f"{len(FAILED)} failed: {', '.join(FAILED)}")
        sys.exit(1)
    say("all passed")
