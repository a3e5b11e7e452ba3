#!/usr/bin/python3
"""Text fields for Baton's input tests: a real X window (GTK) with N one-line fields.

  fields.py N    once shown, prints one JSON line: each field's centre on the screen, [[x, y], ...];
                 then, for every line "dump" on stdin, prints one JSON line: the fields' texts,
                 and for every line "clear", empties them and prints "cleared".

Needs Debian's python3-gi and GTK 3 (run it with /usr/bin/python3) and DISPLAY.
"""
import json
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402

count = int(sys.argv[1])
window = Gtk.Window(title="baton test fields")
window.move(0, 0)
column = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8)
column.set_border_width(8)
fields = []
for _ in range(count):
    field = Gtk.Entry()
    field.set_width_chars(70)
    column.pack_start(field, False, False, 0)
    fields.append(field)
window.add(column)
window.connect("destroy", Gtk.main_quit)
window.show_all()


def report():
    origin = window.get_window().get_origin()
    left, top = origin[-2], origin[-1]
    centres = []
    for field in fields:
        area = field.get_allocation()
        x, y = field.translate_coordinates(window, 0, 0)
        centres.append([left + x + area.width // 2, top + y + area.height // 2])
    print(json.dumps(centres), flush=True)
    return False


def command(_source, _condition):
    line = sys.stdin.readline()
    if not line:
        Gtk.main_quit()
        return False
    if line.strip() == "dump":
        print(json.dumps([field.get_text() for field in fields]), flush=True)
    elif line.strip() == "clear":
        for field in fields:
            field.set_text("")
        print("cleared", flush=True)
    return True


GLib.timeout_add(400, report)
GLib.io_add_watch(sys.stdin, GLib.IO_IN, command)
Gtk.main()
