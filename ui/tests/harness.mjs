// Opens Baton's static windows in headless Chromium (Debian's) with a fake Tauri IPC in place
// of the host: it records every command the page sends, answers from canned replies, and lets
// a test emit the host's events.
import { chromium } from "playwright-core";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { existsSync } from "node:fs";

const UI = join(dirname(fileURLToPath(import.meta.url)), "..");
// Debian installs Chromium as /usr/bin/chromium, Ubuntu (the snap) as chromium-browser.
const CHROMIUM =
  process.env.CHROMIUM ||
  ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"].find(existsSync) ||
  "/usr/bin/chromium";

/** Installed in the page before its scripts run. */
function fakeTauri(replies) {
  const listeners = {};
  window.__fake = { calls: [], replies, listeners };
  window.__TAURI__ = {
    core: {
      async invoke(command, args) {
        window.__fake.calls.push({ command, args: args ?? {} });
        const reply = window.__fake.replies[command];
        if (reply && reply.error) throw reply.error;
        return typeof reply === "function" ? reply(args) : reply;
      },
    },
    event: {
      async listen(name, handler) {
        (listeners[name] ||= []).push(handler);
        return () => {};
      },
    },
  };
  window.__emit = (name, payload) => (listeners[name] || []).forEach((h) => h({ payload }));
}

/**
 * Opens `file` with canned `replies` (plain data: they are copied into the page). `dynamic`, if
 * given, runs in the page after the fake is installed, to put reply functions in
 * `window.__fake.replies`; it must be self-contained.
 */
export async function openPage(file, replies, dynamic) {
  // launch() gives every browser a fresh, throw-away profile.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.addInitScript(fakeTauri, replies);
  if (dynamic) await page.addInitScript(dynamic);
  await page.goto(pathToFileURL(join(UI, file)).href);
  return {
    page,
    errors,
    /** The commands the page sent so far. */
    calls: () => page.evaluate(() => window.__fake.calls),
    /** Changes a canned reply. */
    reply: (command, value) => page.evaluate(([c, v]) => (window.__fake.replies[c] = v), [command, value]),
    emit: (name, payload) => page.evaluate(([n, p]) => window.__emit(n, p), [name, payload]),
    close: () => browser.close(),
  };
}

// ----- sample data, shaped like the host's ---------------------------------------------------

const T0 = Date.now() - 130_000;
const at = (ms) => new Date(T0 + ms).toISOString();

export function run(id, title, client, extra = {}) {
  return {
    id, title, client, needs_desktop: true, state: "queued", holds_desktop: false,
    lease_token: null, position: null, ttl_ms: 15000, created_at: at(id * 1000),
    started_at: null, finished_at: null, outcome: null, exit_code: null,
    cancelled_by: null, reason: null, ...extra,
  };
}

export function snapshot({ holder = null, queue = [], running = [], paused = false } = {}) {
  return {
    desktop: {
      holder,
      lease_token: holder ? holder.lease_token : null,
      since: holder ? holder.started_at : null,
      paused,
      queue: queue.map((r, i) => ({ ...r, position: i + 1 })),
    },
    running,
    last_event: 7,
  };
}

export const busy = () => snapshot({
  holder: run(1, "log in to the bank", "claude-code", {
    state: "running", holds_desktop: true, lease_token: 41, started_at: at(0),
  }),
  queue: [run(2, "fill the expense form", "codex"), run(3, "upload receipts", "cron")],
  running: [run(4, "cargo test", "codex", { needs_desktop: false, state: "running", started_at: at(500) })],
});

export const history = () => [
  run(3, "upload receipts", "cron"),
  run(2, "fill the expense form", "codex"),
  run(0, "old job", "cli", {
    state: "cancelled", started_at: at(0), finished_at: at(2000),
    cancelled_by: "user:hotkey", reason: "wrong window",
  }),
];
