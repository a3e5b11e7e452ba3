"""What the Wayland suites share (gnome.py, kde.py): checks and their tally, child processes,
private D-Bus buses, the real `baton` host and tray app, and the native window typed into.

Paths of the binaries are set once by `configure(argv)`; every child started goes into `procs`,
every host into `hosts`, so `finish` can end them all and keep their logs when anything failed.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from gi.repository import Gio, GLib

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 30.0
BATON = None
TRAY = None
NAME = "wayland"


def configure(name, argv):
    """The suite's name (its lines' prefix) and `argv`: BATON [TRAY]."""
    global NAME, BATON, TRAY
    NAME = name
    if len(argv) < 2:
        sys.exit(f"usage: {os.path.basename(argv[0])} BATON [TRAY]")
    BATON = os.path.abspath(argv[1])
    TRAY = os.path.abspath(argv[2]) if len(argv) > 2 else None


passed, failed = [], []
procs = []
hosts = []  # every host and tray started, for their logs


def log(message):
    print(f"{NAME}: {message}", flush=True)


def check(name, ok, detail=""):
    (passed if ok else failed).append(name)
    log(f"{'ok' if ok else 'FAILED'}: {name}" + (f" ({detail})" if detail and not ok else ""))
    return ok


def wait_for(what, predicate, timeout=WAIT, every=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def spawn(args, env, **kw):
    p = subprocess.Popen(args, env=env, start_new_session=True, **kw)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode


class Lines:
    """A child's output, line by line, kept as it comes."""

    def __init__(self, stream):
        self.lines = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def all(self):
        with self._lock:
            return list(self.lines)


def session_bus_config(tmp, run_dir):
    """A session bus whose activatable services are the system's, less the file indexer:
    GNOME Shell starts localsearch, which would index the whole machine on two cores."""
    services = os.path.join(tmp, "services")
    os.makedirs(services)
    for name in os.listdir("/usr/share/dbus-1/services"):
        if "LocalSearch" in name or "Tracker3.Miner" in name:
            continue
        os.symlink(os.path.join("/usr/share/dbus-1/services", name), os.path.join(services, name))
    config = os.path.join(tmp, "session.conf")
    with open(config, "w") as f:
        f.write(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir={run_dir}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""")
    return config


def start_bus(config, env, log_file):
    p = spawn(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"], env,
              stdout=subprocess.PIPE, stderr=open(log_file, "w"), text=True)
    address = p.stdout.readline().strip()
    if not address:
        raise RuntimeError(f"dbus-daemon with {config} did not start")
    return address


class Buses:
    """A private session bus and a stand-in system bus, in an environment of the run's own."""

    def __init__(self, tmp, env):
        self._buses = {}
        self.logs = os.path.join(tmp, "logs")
        env["DBUS_SYSTEM_BUS_ADDRESS"] = start_bus("/usr/share/dbus-1/session.conf", env,
                                                   os.path.join(self.logs, "system-bus.log"))
        env["DBUS_SESSION_BUS_ADDRESS"] = start_bus(session_bus_config(tmp, env["XDG_RUNTIME_DIR"]), env,
                                                    os.path.join(self.logs, "session-bus.log"))
        self.env = env

    def bus(self, system=False):
        key = "system" if system else "session"
        if key not in self._buses:
            address = self.env["DBUS_SYSTEM_BUS_ADDRESS" if system else "DBUS_SESSION_BUS_ADDRESS"]
            flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                     | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
            self._buses[key] = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        return self._buses[key]

    def has_owner(self, name, system=False):
        try:
            return self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "NameHasOwner", GLib.Variant("(s)", (name,)), system=system)[0]
        except GLib.Error:
            return False

    def call(self, dest, path, iface, method, params=None, system=False):
        return self.bus(system).call_sync(dest, path, iface, method, params, None,
                                          Gio.DBusCallFlags.NONE, 30000, None).unpack()

    def activation_environment(self, *names):
        """What D-Bus starts on demand (the portal's backends) sees `names` of this session."""
        subprocess.run(["dbus-update-activation-environment", *names], env=self.env, check=True)

    def mock_logind(self):
        """logind on the stand-in system bus: the compositors ask it for their seat."""
        with open(os.path.join(self.logs, "logind-mock.log"), "w") as out:
            spawn(["/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "logind"], self.env,
                  stdout=out, stderr=out)
        wait_for("the mocked logind", lambda: self.has_owner("org.freedesktop.login1", system=True))

    def start_portal(self):
        with open(os.path.join(self.logs, "xdg-desktop-portal.log"), "w") as out:
            spawn(["/usr/libexec/xdg-desktop-portal"], self.env, stdout=out, stderr=out)
        wait_for("the desktop portal", lambda: self.has_owner("org.freedesktop.portal.Desktop"))


def private_env(tmp, desktop):
    """A runtime directory, home and XDG directories of this run's own, for `desktop`."""
    run_dir = os.path.join(tmp, "run")
    home = os.path.join(tmp, "home")
    for d in (run_dir, home, os.path.join(tmp, "logs")):
        os.makedirs(d, mode=0o700)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": run_dir,
        "XDG_DATA_HOME": os.path.join(home, ".local/share"),
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "XDG_CURRENT_DESKTOP": desktop,
        "XDG_SESSION_TYPE": "wayland",
        "GTK_A11Y": "none",
        "NO_AT_BRIDGE": "1",
    }


# --- Baton -------------------------------------------------------------------------------------


class Host:
    """`baton daemon` on a data directory, in the Wayland session (no DISPLAY)."""

    def __init__(self, session, data_dir, *flags):
        self.env = dict(session.env, BATON_DATA_DIR=data_dir, BATON_LOG="info,baton=info")
        self.env.pop("DISPLAY", None)
        self.data_dir = data_dir
        self.started = time.monotonic()
        self.p = spawn([BATON, "daemon", *flags], self.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
        self.log = Lines(self.p.stderr)
        hosts.append(self)
        wait_for("the host to serve", lambda: any("serving" in l for l in self.log.all())
                 or self.p.poll() is not None)
        if self.p.poll() is not None:
            raise RuntimeError(f"baton daemon exited {self.p.returncode}: {self.log.all()}")
        self.serving_after = time.monotonic() - self.started

    def baton(self, *args, timeout=60):
        env = dict(self.env, PATH=os.path.dirname(BATON) + ":" + self.env["PATH"])
        return subprocess.run([BATON, *args], env=env, capture_output=True, text=True, timeout=timeout)

    def status(self):
        return self.baton("status").stdout

    def http(self, method, path, body=None, token=None):
        token = token or open(os.path.join(self.data_dir, "token")).read().strip()
        conn = http.client.HTTPConnection("localhost", timeout=30)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.connect(os.path.join(self.data_dir, "baton.sock"))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        answer = conn.getresponse()
        data = answer.read()
        conn.close()
        return answer.status, (json.loads(data) if data else None)

    def stop(self):
        return stop(self.p, signal.SIGINT, timeout=20)


class Tray(Host):
    """The tray app (`baton-tray`), hosting Baton in the Wayland session."""

    def __init__(self, session, data_dir):
        self.env = dict(session.env, BATON_DATA_DIR=data_dir)
        self.env.pop("DISPLAY", None)
        self.data_dir = data_dir
        self.p = spawn([TRAY], self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = Lines(self.p.stderr)
        hosts.append(self)
        wait_for("the tray app to host Baton", lambda: self.baton("status").returncode == 0
                 or self.p.poll() is not None)
        if self.p.poll() is not None:
            raise RuntimeError(f"baton-tray exited {self.p.returncode}: {self.log.all()[-20:]}")

    def said(self, text):
        return [line for line in self.log.all() if text in line]

    def stop(self):
        return stop(self.p, signal.SIGTERM, timeout=20)


class Entry:
    """The native window with its text field."""

    def __init__(self, session):
        self.p = spawn(["/usr/bin/python3", os.path.join(HERE, "entry.py")], session.env,
                       stdout=subprocess.PIPE, stderr=open(os.path.join(session.logs, "entry.log"), "w"),
                       text=True)
        self.out = Lines(self.p.stdout)
        wait_for("the text window to show", lambda: any('"shown"' in l for l in self.out.all()))

    def text(self):
        texts = [json.loads(l)["text"] for l in self.out.all() if l.startswith('{"text"')]
        return texts[-1] if texts else ""

    def wait_text(self, expected, timeout=15):
        try:
            wait_for(f"the field to say {expected!r}", lambda: self.text() == expected, timeout)
            return True
        except TimeoutError:
            return False


# --- checks both desktops make -----------------------------------------------------------------


def check_typing(host, entry, greeting, x, y, after_move=None):
    """A holder clicks into the native window at (x, y) and types `greeting`; then a key combo
    and shifted symbols. `after_move` checks what the desktop says of the pointer, where it can."""
    out = host.baton("run", "--desktop", "-t", "type on Wayland", "--", "baton", "input",
                     "move", str(x), str(y), "click", "wait", "200", "type", greeting)
    check("the holder's batch runs", out.returncode == 0, out.stderr.strip())
    if after_move:
        after_move()
    check("text typed through Baton reached the native Wayland window",
          entry.wait_text(greeting), repr(entry.text()))
    out = host.baton("run", "--desktop", "-t", "replace", "--", "baton", "input",
                     "key", "ctrl+a", "type", "Replaced @ 100%")
    check("a key combo and shifted symbols reach it too",
          out.returncode == 0 and entry.wait_text("Replaced @ 100%"), f"{out.stderr.strip()} {entry.text()!r}")


def check_private_display(host, entry, tmp):
    """A run on a private display inside the Wayland session: its command gets an X display of
    its own and no WAYLAND_DISPLAY, its input goes to its own X window exactly, and the
    person's desktop is neither queued for nor typed into."""
    said = entry.text()
    out_file = os.path.join(tmp, "private.out")
    text = "Typed on a display of its own"
    script = (
        f'echo "$DISPLAY ${{WAYLAND_DISPLAY:-none}}" > {tmp}/private.env\n'
        f'/usr/bin/python3 {os.path.join(HERE, "entry.py")} --x11 > {out_file} 2> {tmp}/private.err &\n'
        f'while ! grep -q shown {out_file}; do sleep 0.05; done\n'
        f'baton input move 640 400 click wait 200 type "{text}"\n'
        f'while ! grep -q \'"{text}"\' {out_file}; do sleep 0.05; done\n'
        'kill $!\n'
    )
    out = host.baton("run", "--display", "private", "-t", "a form on its own display", "--",
                     "sh", "-c", script)
    if not check("a run on a private display runs under the Wayland session",
                 out.returncode == 0, f"exit {out.returncode}: {out.stderr.strip()}"):
        return
    display, wayland = open(os.path.join(tmp, "private.env")).read().split()
    check("its command gets an X display of its own and no WAYLAND_DISPLAY",
          display.startswith(":") and wayland == "none", f"{display} {wayland}")
    lines = [json.loads(line) for line in open(out_file) if line.startswith('{"text"')]
    check("its input reached its own window exactly", lines and lines[-1]["text"] == text,
          repr(lines[-1:]))
    check("and nothing of it reached the person's window", entry.text() == said,
          repr(entry.text()))
    runs = json.loads(host.baton("history", "--json").stdout)
    run = next(r for r in runs if r["title"] == "a form on its own display")
    check("it never asked for the person's desktop", run["needs_desktop"] is False, f"{run}")


def check_pointer_hidden(host):
    """Wayland tells no program where the pointer is: an honest refusal, not a failure."""
    code, answer = host.http("GET", "/v1/input/pointer")
    check("asking where the pointer is answers 501 not_supported",
          code == 501 and answer["error"]["code"] == "not_supported", f"{code} {answer}")
    out = host.baton("input", "pointer")
    check("and the CLI says so in a sentence, exiting non-zero",
          out.returncode != 0 and "does not tell programs where the pointer is" in out.stderr,
          f"{out.returncode} {out.stderr.strip()}")


def check_stale_holder(host, entry):
    """A lease token from before the run's own release is refused and types nothing; the
    current one types."""
    code, submitted = host.http("POST", "/v1/runs", {"title": "stale", "client": "suite",
                                                     "needs_desktop": True})
    run_id, run_token = submitted["run"]["id"], submitted["token"]
    old = submitted["run"]["lease_token"]
    host.http("POST", f"/v1/runs/{run_id}/release", {}, run_token)
    code, acquired = host.http("POST", f"/v1/runs/{run_id}/acquire", {}, run_token)
    new = acquired["run"]["lease_token"]
    before = entry.text()
    code, answer = host.http("POST", f"/v1/runs/{run_id}/input",
                             {"lease_token": old, "actions": [{"kind": "type", "text": " STALE"}]},
                             run_token)
    time.sleep(0.5)
    check("a stale lease token is refused (409 stale_token)",
          code == 409 and answer["error"]["code"] == "stale_token", f"{code} {answer}")
    check("and nothing of it was typed", entry.text() == before, repr(entry.text()))
    code, answer = host.http("POST", f"/v1/runs/{run_id}/input",
                             {"lease_token": new, "actions": [{"kind": "type", "text": " fresh"}]},
                             run_token)
    check("the current token types", code == 200 and entry.wait_text(before + " fresh"),
          f"{code} {answer} {entry.text()!r}")
    host.http("POST", f"/v1/runs/{run_id}/finish", {"outcome": "succeeded"}, run_token)


def check_token_kept(data_dir):
    token_file = os.path.join(data_dir, "remote-desktop-token")
    mode = os.stat(token_file).st_mode & 0o777 if os.path.exists(token_file) else None
    check("the grant's restore token is kept owner-only", mode == 0o600, f"mode {mode}")


def check_types_after_restart(host, entry):
    out = host.baton("run", "--desktop", "-t", "again", "--", "baton", "input",
                     "key", "ctrl+a", "type", "Remembered")
    check("a holder types after the restart", out.returncode == 0 and entry.wait_text("Remembered"),
          f"{out.stderr.strip()} {entry.text()!r}")


def cannot_run(why, needs):
    """Says the suite is skipped here (`why`), or fails under CI, where it must run."""
    if os.environ.get("CI"):
        sys.exit(f"{NAME}: cannot run ({why}; the suite needs {needs}, which scripts/setup.sh "
                 "installs on Debian 13)")
    log(f"SKIPPED: {why}; the suite needs {needs} (Debian 13)")


def run(prefix, body, tray):
    """Runs `body(tmp)` in a directory of its own, then, when a tray app was given, its checks
    `tray(session, data_dir)` on what `body` answered; any exception is the suite's failure."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix=prefix)
    keep = False
    try:
        session, data_dir = body(tmp)
        if TRAY:
            tray(session, data_dir)
        else:
            log("the tray app's hotkey is not checked: no baton-tray given")
    except Exception as e:  # noqa: BLE001 - any failure of the set-up is the suite's failure
        failed.append(f"set-up: {e}")
        log(f"FAILED: {e}")
        keep = True
    finally:
        finish(tmp, keep)


def finish(tmp, keep):
    """Ends every child, keeps the logs if anything failed, prints the tally; exits 1 on a
    failure."""
    for p in reversed(procs):
        stop(p, timeout=5)
    if failed:
        keep = True
    if keep:
        for i, started in enumerate(hosts):
            name = "tray" if isinstance(started, Tray) else "daemon"
            with open(os.path.join(tmp, "logs", f"{i + 1}-{name}.log"), "w") as out:
                out.write("\n".join(started.log.all()) + "\n")
        log(f"logs kept in {tmp}/logs")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{NAME}: {len(passed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)
