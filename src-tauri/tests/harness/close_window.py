#!/usr/bin/python3
"""Asks an X window to close, as a window manager's close button does: WM_DELETE_WINDOW; then
waits until the application has destroyed it.

  close_window.py WINDOW_ID [SECONDS]

The test desktop has no window manager, and xdotool's windowclose destroys the window outright,
which no user can do; this is the polite request an application actually receives.

The request is answered by the application when it gets to it, so the script waits (SECONDS,
15 by default) for the window's DestroyNotify: a window that is only gone from the screen may
still be there, hidden. Exits 0 once the window is destroyed, 2 if it was only unmapped
(hidden), 1 if neither happened in time (or there is no such window).
Needs Debian's python3-xlib (run it with /usr/bin/python3).
"""
import select
import sys
import time

from Xlib import X, display, error, protocol

window_id = int(sys.argv[1], 0)
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0

screen = display.Display()
window = screen.create_resource_object("window", window_id)

# Selected before the request, so that a destruction that follows at once is not missed.
missing = error.CatchError(error.BadWindow)
window.change_attributes(event_mask=X.StructureNotifyMask, onerror=missing)
screen.sync()
if missing.get_error():
    print(f"close_window.py: there is no window {window_id:#x}", file=sys.stderr)
    sys.exit(1)

protocols = screen.intern_atom("WM_PROTOCOLS")
delete = screen.intern_atom("WM_DELETE_WINDOW")
event = protocol.event.ClientMessage(
    window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
window.send_event(event, event_mask=X.NoEventMask)
screen.flush()

deadline = time.monotonic() + seconds
unmapped = False
while True:
    while screen.pending_events():
        received = screen.next_event()
        if received.type == X.DestroyNotify and received.window.id == window_id:
            sys.exit(0)
        if received.type == X.UnmapNotify and received.window.id == window_id:
            unmapped = True
    left = deadline - time.monotonic()
    if left <= 0:
        break
    select.select([screen], [], [], left)

if unmapped:
    print(f"close_window.py: window {window_id:#x} was hidden, not destroyed, within {seconds}s",
          file=sys.stderr)
    sys.exit(2)
print(f"close_window.py: window {window_id:#x} was neither hidden nor destroyed within {seconds}s",
      file=sys.stderr)
sys.exit(1)
