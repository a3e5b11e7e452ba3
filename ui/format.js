// How runs, times and durations read, shared by the windows.
"use strict";

const format = {
  /** 42s, 2m10s, 1h05m */
  duration(ms) {
    const secs = Math.max(0, Math.floor(ms / 1000));
    if (secs < 60) return `${secs}s`;
    if (secs < 3600) return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, "0")}s`;
    return `${Math.floor(secs / 3600)}h${String(Math.floor((secs % 3600) / 60)).padStart(2, "0")}m`;
  },
  since(timestamp, now = Date.now()) {
    return format.duration(now - Date.parse(timestamp));
  },
  /** `in 2m10s` for a time to come, `due now` for one that has come. */
  until(timestamp, now = Date.now()) {
    const ms = Date.parse(timestamp) - now;
    return ms > 0 ? `in ${format.duration(ms)}` : "due now";
  },
  /** 14:05:09 today, else 2026-11-28 14:05 */
  when(timestamp) {
    const t = new Date(timestamp);
    const today = new Date().toDateString() === t.toDateString();
    const pad = (n) => String(n).padStart(2, "0");
    const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
    return today ? time : `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time.slice(0, 5)}`;
  },
};

/** Makes an element with text content (never HTML: titles come from agents). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

/**
 * A button that acts only on its second click: the first arms it, saying `armedText`, for
 * `ms`. Returns whether this click should act (then the button is disarmed).
 */
function secondClick(button, armedText, ms) {
  if (button.dataset.armed) {
    delete button.dataset.armed;
    clearTimeout(button.disarm);
    button.textContent = button.dataset.rest;
    return true;
  }
  button.dataset.rest = button.textContent;
  button.dataset.armed = "yes";
  button.textContent = armedText;
  button.disarm = setTimeout(() => {
    delete button.dataset.armed;
    button.textContent = button.dataset.rest;
  }, ms);
  return false;
}
