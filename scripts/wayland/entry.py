#!/usr/bin/env python3
"""A native Wayland window with one text field filling it (GTK 4), for the Wayland suite.

Prints a JSON line when it is shown ({"shown": true}) and whenever the field's text changes
({"text": "..."}), so the suite sees exactly what reached the window. GDK_BACKEND=wayland is
forced: the point is a window that XTEST could never reach. With `--x11` it is the other way
round: an X window, for a run's private display (an X server of its own) inside the Wayland
session.
"""
import json
import os
import sys

os.environ["GDK_BACKEND"] = "x11" if "--x11" in sys.argv[1:] else "wayland"
import gi  # noqa: E402

gi.require_version("Gtk", "4.0")
from gi.repository import GLib, Gtk  # noqa: E402


def say(**what):
    sys.stdout.write(json.dumps(what) + "\n")
    sys.stdout.flush()


window = Gtk.Window(title="Baton Wayland entry")
field = Gtk.Entry(hexpand=True, vexpand=True)
field.connect("changed", lambda f: say(text=f.get_text()))
window.set_child(field)
window.connect("map", lambda _w: say(shown=True))
window.connect("close-request", lambda _w: loop.quit() or False)
window.maximize()
window.present()
loop = GLib.MainLoop()
loop.run()
