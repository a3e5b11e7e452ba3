#!/usr/bin/env python3
"""A stand-in freedesktop notification server for the tray app's tests: it takes actions
(GetCapabilities says so), prints every notification it receives as one JSON line
({"id", "body", "actions"}), and presses an action when told on stdin ("press ID KEY"): it
emits ActionInvoked and then NotificationClosed, as a server does when a person clicks a
button. dunst is the real server of the other tests.

A press waits until its notification has been shown for PRESS_AFTER seconds: a person cannot
click a notification in the instant it appears, and a client hears ActionInvoked only once it
has the notification's id back from Notify and has asked the bus for the signal, a few
milliseconds after the server printed it here."""

import json
import sys
import threading
import time

from gi.repository import Gio, GLib

XML = """
<node>
  <interface name="org.freedesktop.Notifications">
    <method name="GetCapabilities"><arg type="as" direction="out"/></method>
    <method name="Notify">
      <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
      <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
      <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
      <arg type="u" direction="out"/>
    </method>
    <method name="CloseNotification"><arg type="u" direction="in"/></method>
    <method name="GetServerInformation">
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
    </method>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
  </interface>
</node>
"""
PATH = "/org/freedesktop/Notifications"
IFACE = "org.freedesktop.Notifications"

PRESS_AFTER = 0.5

state = {"next": 1, "connection": None, "shown": {}}


def emit(signal, params):
    state["connection"].emit_signal(None, PATH, IFACE, signal, params)


def on_call(connection, sender, path, iface, method, params, invocation):
    if method == "GetCapabilities":
        invocation.return_value(GLib.Variant("(as)", (["actions", "body"],)))
    elif method == "Notify":
        (_app, _replaces, _icon, _summary, body, actions, _hints, _timeout) = params.unpack()
        nid = state["next"]
        state["next"] += 1
        state["shown"][nid] = time.monotonic()
        keys = actions[0::2]
        print(json.dumps({"id": nid, "body": body, "actions": keys}), flush=True)
        invocation.return_value(GLib.Variant("(u)", (nid,)))
    elif method == "CloseNotification":
        invocation.return_value(None)
    elif method == "GetServerInformation":
        invocation.return_value(GLib.Variant("(ssss)", ("stand-in", "baton", "1", "1.2")))


def on_bus(connection, name):
    state["connection"] = connection
    node = Gio.DBusNodeInfo.new_for_xml(XML)
    connection.register_object(PATH, node.interfaces[0], on_call, None, None)


def on_name(connection, name):
    print(json.dumps({"ready": True}), flush=True)


def read_commands():
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "press":
            nid, key = int(parts[1]), parts[2]

            def press(nid=nid, key=key):
                emit("ActionInvoked", GLib.Variant("(us)", (nid, key)))
                emit("NotificationClosed", GLib.Variant("(uu)", (nid, 2)))
                return False

            # A notification never shown is pressed at once (the tray then ignores it).
            age = time.monotonic() - state["shown"].get(nid, 0.0)
            GLib.timeout_add(max(0, int((PRESS_AFTER - age) * 1000)), press)
    GLib.idle_add(loop.quit)


Gio.bus_own_name(Gio.BusType.SESSION, IFACE, Gio.BusNameOwnerFlags.NONE, on_bus, on_name, None)
threading.Thread(target=read_commands, daemon=True).start()
loop = GLib.MainLoop()
loop.run()
