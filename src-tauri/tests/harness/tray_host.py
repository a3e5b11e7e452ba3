#!/usr/bin/python3
"""A stand-in for the desktop's tray host, for Baton's end-to-end tests.

Baton's tray icon is a StatusNotifierItem with a dbusmenu menu (libayatana-appindicator). A real
desktop shell would show it; here this script plays that part over the session bus:

  tray_host.py watch DIR        own org.kde.StatusNotifierWatcher; record registered items in DIR/items
  tray_host.py menu DIR         print the registered item's icon and menu as JSON
  tray_host.py click DIR LABEL  click the menu entry whose label starts with LABEL

Needs Debian's python3-gi (run it with /usr/bin/python3).
"""
import json
import os
import sys
import time

from gi.repository import Gio, GLib

WATCHER_XML = """
<node>
  <interface name="org.kde.StatusNotifierWatcher">
    <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>"""


def watch(state_dir):
    items = []
    interface = Gio.DBusNodeInfo.new_for_xml(WATCHER_XML).interfaces[0]
    record = os.path.join(state_dir, "items")

    def on_call(conn, sender, _path, _iface, method, params, invocation):
        if method == "RegisterStatusNotifierItem":
            service = params.unpack()[0]
            # Items register either a bus name or an object path on their own connection.
            bus, path = (sender, service) if service.startswith("/") else (service, "/StatusNotifierItem")
            items.append(bus + path)
            with open(record, "a") as f:
                f.write(f"{bus} {path}\n")
            conn.emit_signal(None, "/StatusNotifierWatcher", "org.kde.StatusNotifierWatcher",
                             "StatusNotifierItemRegistered", GLib.Variant("(s)", (bus + path,)))
        invocation.return_value(None)

    def on_get(_conn, _sender, _path, _iface, prop):
        return {
            "RegisteredStatusNotifierItems": GLib.Variant("as", items),
            "IsStatusNotifierHostRegistered": GLib.Variant("b", True),
            "ProtocolVersion": GLib.Variant("i", 0),
        }[prop]

    def on_bus(conn, _name):
        conn.register_object("/StatusNotifierWatcher", interface, on_call, on_get, None)

    def on_name(_conn, _name):
        print("ready", flush=True)

    Gio.bus_own_name(Gio.BusType.SESSION, "org.kde.StatusNotifierWatcher",
                     Gio.BusNameOwnerFlags.NONE, on_bus, on_name, lambda *_: sys.exit("name lost"))
    GLib.MainLoop().run()


def registered(state_dir):
    record = os.path.join(state_dir, "items")
    for _ in range(100):
        if os.path.exists(record):
            lines = [l for l in open(record).read().splitlines() if l.strip()]
            if lines:
                return lines[-1].split()
        time.sleep(0.05)
    sys.exit("no tray item registered")


def layout(state_dir):
    bus, path = registered(state_dir)
    conn = Gio.bus_get_sync(Gio.BusType.SESSION)
    props = conn.call_sync(bus, path, "org.freedesktop.DBus.Properties", "GetAll",
                           GLib.Variant("(s)", ("org.kde.StatusNotifierItem",)),
                           None, 0, 3000, None).unpack()[0]
    menu = props["Menu"]
    _, (_root, _props, children) = conn.call_sync(
        bus, menu, "com.canonical.dbusmenu", "GetLayout",
        GLib.Variant("(iias)", (0, -1, [])), None, 0, 3000, None).unpack()
    entries = [{
        "id": child[0],
        "label": child[1].get("label", "").replace("__", "\0").replace("_", "").replace("\0", "_"),
        "enabled": child[1].get("enabled", True),
        "type": child[1].get("type", "standard"),
    } for child in children]
    return conn, bus, menu, props, entries


def main():
    mode, state_dir = sys.argv[1], sys.argv[2]
    if mode == "watch":
        watch(state_dir)
    elif mode == "menu":
        _, _, _, props, entries = layout(state_dir)
        print(json.dumps({"icon": props.get("IconName", ""), "title": props.get("Title", ""),
                          "entries": entries}))
    elif mode == "click":
        conn, bus, menu, _, entries = layout(state_dir)
        matches = [e for e in entries if e["label"].startswith(sys.argv[3])]
        if not matches:
            sys.exit(f"no menu entry starting with {sys.argv[3]!r} in {[e['label'] for e in entries]}")
        conn.call_sync(bus, menu, "com.canonical.dbusmenu", "Event",
                       GLib.Variant("(isvu)", (matches[0]["id"], "clicked", GLib.Variant("i", 0),
                                               int(time.time()))),
                       None, 0, 3000, None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
