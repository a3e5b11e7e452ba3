#!/usr/bin/env python3
"""A scripted stand-in for a model API, so a real Claude Code or Codex can be run offline.

    fake_model.py PLAN LOG

PLAN is a JSON list of steps, each {"tool": SUFFIX, "input": {...}}: the n-th answer of the
main conversation calls the tool whose name ends with SUFFIX (as the agent lists it, e.g.
"mcp__baton__desktop_acquire" for "baton__desktop_acquire"); once the plan is done the model
says "done".

Every tool result the agent sends back is appended to LOG as one JSON line
{"step": n, "tool": NAME, "text": TEXT, "is_error": BOOL}. The server prints its port on stdout.

It speaks the Anthropic Messages API (streamed, as Claude Code uses it) at /v1/messages and the
OpenAI Responses API (streamed, as Codex uses it) at /v1/responses. Requests without tools
(titles, summaries, quota checks) get a short text answer.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLAN = json.load(open(sys.argv[1]))
LOG = sys.argv[2]


def log(entry):
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


def text_of(content):
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict):
            if "text" in block:
                parts.append(block["text"])
            elif "content" in block:
                parts.append(text_of(block["content"]))
    return "\n".join(parts)


def pick(names, suffix):
    for name in names:
        if name.endswith(suffix):
            return name
    raise LookupError(f"fake_model: no tool ends with {suffix}: {sorted(names)}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        path = self.path.split("?")[0]
        if path.endswith("/messages/count_tokens"):
            return self.json({"input_tokens": 10})
        if path.endswith("/messages"):
            return self.anthropic(body)
        if path.endswith("/responses"):
            return self.openai(body)
        self.do_GET()

    def json(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True

    # --- Anthropic Messages -------------------------------------------------------------------

    def anthropic(self, body):
        names = [t.get("name", "") for t in body.get("tools") or []]
        results = []
        for message in body.get("messages", []):
            if message.get("role") == "user" and isinstance(message.get("content"), list):
                for block in message["content"]:
                    if block.get("type") == "tool_result":
                        results.append(block)
        main = any(n.startswith("mcp__") for n in names)
        step = len(results)
        if main and results:
            tool_names = {}
            for message in body["messages"]:
                if message.get("role") == "assistant" and isinstance(message.get("content"), list):
                    for block in message["content"]:
                        if block.get("type") == "tool_use":
                            tool_names[block["id"]] = block["name"]
            last = results[-1]
            log({"step": step - 1, "tool": tool_names.get(last.get("tool_use_id"), "?"),
                 "text": text_of(last.get("content")), "is_error": bool(last.get("is_error"))})
        message = {"id": f"msg_{time.monotonic_ns()}", "type": "message", "role": "assistant",
                   "model": body.get("model", "fake"), "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
        events = [("message_start", {"type": "message_start", "message": message})]
        if main and step < len(PLAN):
            name = pick(names, PLAN[step]["tool"])
            events += [
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "tool_use",
                                                           "id": f"toolu_{step}", "name": name,
                                                           "input": {}}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "input_json_delta",
                                                   "partial_json": json.dumps(PLAN[step]["input"])}}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ]
            stop = "tool_use"
        else:
            events += [
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": "done"}}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ]
            stop = "end_turn"
        events += [
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": 1}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        self.stream(events)

    # --- OpenAI Responses ---------------------------------------------------------------------

    def openai(self, body):
        # Codex groups an MCP server's tools in a namespace ("mcp__baton" holding
        # "desktop_acquire"); a call names both.
        names = []
        for t in body.get("tools") or []:
            if t.get("type") == "namespace":
                names += [f"{t['name']}__{child.get('name')}" for child in t.get("tools", [])]
            else:
                names.append(t.get("name") or "")
        calls, outputs = {}, []
        for item in body.get("input") or []:
            if item.get("type") == "function_call":
                calls[item.get("call_id")] = "__".join(
                    part for part in (item.get("namespace"), item.get("name")) if part)
            elif item.get("type") == "function_call_output":
                outputs.append(item)
        main = any("baton" in n for n in names)
        step = len(outputs)
        if main and outputs:
            last = outputs[-1]
            output = last.get("output")
            if isinstance(output, dict):
                output = output.get("content", output)
            text = output if isinstance(output, str) else text_of(output)
            log({"step": step - 1, "tool": calls.get(last.get("call_id"), "?"), "text": text,
                 "is_error": False})
        rid = f"resp_{time.monotonic_ns()}"
        if main and step < len(PLAN):
            namespace, _, name = pick(names, PLAN[step]["tool"]).rpartition("__")
            item = {"type": "function_call", "id": f"fc_{step}", "call_id": f"call_{step}",
                    "name": name, "arguments": json.dumps(PLAN[step]["input"]),
                    "status": "completed"}
            if namespace:
                item["namespace"] = namespace
        else:
            item = {"type": "message", "id": f"m_{step}", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "done", "annotations": []}]}
        response = {"id": rid, "object": "response", "status": "completed", "output": [item],
                    "usage": {"input_tokens": 10, "output_tokens": 1, "total_tokens": 11,
                              "input_tokens_details": {"cached_tokens": 0},
                              "output_tokens_details": {"reasoning_tokens": 0}}}
        self.stream([
            ("response.created", {"type": "response.created",
                                  "response": dict(response, status="in_progress", output=[])}),
            ("response.output_item.added", {"type": "response.output_item.added",
                                            "output_index": 0, "item": item}),
            ("response.output_item.done", {"type": "response.output_item.done",
                                           "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed", "response": response}),
        ])


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
