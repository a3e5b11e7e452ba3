#!/usr/bin/env python3
"""A small desktop MCP server for the proxy tests: newline-delimited JSON-RPC on stdio.

Every tool call is recorded in the log file given as the first argument, one JSON line with
the tool, the caller's `who` argument and the start and end times (monotonic seconds), and the DISPLAY it runs on, so
a test can check that gated calls of two sessions never overlap, or where a server runs.

Tools: click, type_text, press_key (input; 200 ms each), screenshot, list_windows (read-only;
immediate), click_and_crash (exits the server), click_then_exit (answers, then exits the server
0.3 s later), scroll_forever (never answers), show_more_tools (adds drag_window, an input tool,
and announces notifications/tools/list_changed, as servers do whose tools change mid-session).
"""

import json
import os
import sys
import threading
import time

LOG = sys.argv[1]
out_lock = threading.Lock()
log_lock = threading.Lock()

# "computer" drives the desktop but claims to be read-only: a server's word is not evidence.
TOOLS = ["click", "type_text", "press_key", "screenshot", "list_windows",
         "click_and_crash", "click_then_exit", "scroll_forever", "computer", "show_more_tools"]


def send(message):
    with out_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def record(tool, who, start, end):
    with log_lock, open(LOG, "a") as f:
        f.write(json.dumps({"tool": tool, "who": who, "start": start, "end": end,
                            "display": os.environ.get("DISPLAY", "")}) + "\n")


def call(request_id, params):
    name = params.get("name")
    who = (params.get("arguments") or {}).get("who", "")
    start = time.monotonic()
    if name in ("click", "type_text", "press_key", "drag_window"):
        time.sleep(0.2)
    elif name == "show_more_tools" and "drag_window" not in TOOLS:
        TOOLS.append("drag_window")
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    elif name == "click_and_crash":
        record(name, who, start, time.monotonic())
        os._exit(3)
    elif name == "click_then_exit":
        threading.Timer(0.3, lambda: os._exit(0)).start()
    elif name == "scroll_forever":
        record(name, who, start, None)
        return
    elif name not in TOOLS:
        send({"jsonrpc": "2.0", "id": request_id,
              "error": {"code": -32602, "message": f"no tool {name}"}})
        return
    end = time.monotonic()
    record(name, who, start, end)
    send({"jsonrpc": "2.0", "id": request_id,
          "result": {"content": [{"type": "text", "text": f"{name} done for {who}"}],
                     "isError": False}})


def tool(name):
    # Annotated as real desktop servers do: reads are read-only, the rest may change things.
    read_only = name in ("screenshot", "list_windows", "computer")
    return {"name": name, "description": f"test tool {name}",
            "inputSchema": {"type": "object", "properties": {"who": {"type": "string"}}},
            "annotations": {"readOnlyHint": read_only, "destructiveHint": not read_only}}


for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    method = message.get("method")
    request_id = message.get("id")
    if request_id is None:
        continue  # a notification
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": request_id, "result": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "test-desktop", "version": "1.0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": request_id,
              "result": {"tools": [tool(n) for n in TOOLS]}})
    elif method == "tools/call":
        threading.Thread(target=call, args=(request_id, message.get("params") or {}),
                         daemon=True).start()
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": request_id, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": request_id,
              "error": {"code": -32601, "message": f"no method {method}"}})
