#!/usr/bin/python3
"""Asks an X window to close, as a window manager's close button does: WM_DELETE_WINDOW.

  close_window.py WINDOW_ID

The test desktop has no window manager, and xdotool's windowclose destroys the window outright,
which no user can do; this is the polite request an application actually receives.
Needs Debian's python3-xlib (run it with /usr/bin/python3).
"""
import sys

from Xlib import X, display, protocol

screen = display.Display()
window = screen.create_resource_object("window", int(sys.argv[1]))
protocols = screen.intern_atom("WM_PROTOCOLS")
delete = screen.intern_atom("WM_DELETE_WINDOW")
event = protocol.event.ClientMessage(
    window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
window.send_event(event, event_mask=X.NoEventMask)
screen.flush()
