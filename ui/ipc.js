// The windows' one door to the host: Tauri's IPC in the app (named `bridge`: WebKit already has a
// global `ipc`, Tauri's own). Tests put a double in its place
// (window.__TAURI__) before this file loads.
"use strict";

const bridge = {
  /** Calls a command; rejects with the host's sentence. */
  invoke(command, args) {
    return window.__TAURI__.core.invoke(command, args);
  },
  /** Calls `handler(payload)` for every event `name`. */
  listen(name, handler) {
    return window.__TAURI__.event.listen(name, (event) => handler(event.payload));
  },
};
