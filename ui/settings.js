// The settings window: every change is applied at once by the host; a refused one says why next
// to the field, and the old setting stays in force.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;

/** Shows `message` under a field (or hides it). */
function fieldError(id, message) {
  const box = $(`${id}-error`);
  box.textContent = message ? String(message) : "";
  box.hidden = !message;
}

/** Calls a command for a field; on refusal shows the sentence there. */
async function apply(field, command, args) {
  fieldError(field, null);
  try {
    const view = await bridge.invoke(command, args);
    if (view && typeof view === "object" && view.hotkey) render(view);
    return view;
  } catch (error) {
    fieldError(field, error);
    return undefined;
  }
}

function render(view) {
  current = view;
  // Until the first view arrives nothing is shown but "Loading": an unchecked box or an
  // empty field would be a false state, not a pending one.
  $("main").setAttribute("aria-busy", "false");
  $("loading").hidden = true;
  const notWorking = view.not_working || [];
  $("computer").hidden = notWorking.length === 0;
  $("computer-list").replaceChildren(
    ...notWorking.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }),
  );
  const hotkey = view.hotkey;
  $("hotkey-current").textContent = readable(hotkey.accelerator);
  $("hotkey-state").textContent = hotkey.active
    ? "active"
    : `not working: ${hotkey.error || "it could not be registered"}`;
  $("hotkey-state").className = hotkey.active ? "muted" : "field-error";
  for (const box of document.querySelectorAll("[data-notify]")) {
    box.checked = Boolean(view.notifications[box.dataset.notify]);
    box.disabled = box.dataset.notify !== "do_not_disturb" && view.notifications.do_not_disturb;
  }
  const answers = view.notifications.answers || {};
  for (const box of document.querySelectorAll("[data-answers]")) {
    box.checked = answers[box.dataset.answers] !== false;
    // Buttons only mean something where the server shows them and the kind is shown at all.
    box.disabled = view.notification_answers === false || view.notifications.do_not_disturb
      || !view.notifications[box.dataset.answers];
  }
  $("notify-answers").textContent =
    view.notification_answers === false
      ? "This desktop's notification server shows no buttons: notifications are plain text. Answer from the tray menu or the dashboard."
      : view.notification_answers
        ? "Notifications about one run carry answers: Allow, Let it go first, Cancel it, Stop it, Give it back."
        : "";
  if (document.activeElement !== $("ttl")) $("ttl").value = String(view.default_ttl_secs);
  for (const [id, value] of [
    ["max-active", view.limits.max_active_runs],
    ["max-per-client", view.limits.max_runs_per_client],
    ["retention-days", view.limits.retention_days],
  ]) {
    if (document.activeElement !== $(id)) $(id).value = String(value);
  }
  if (document.activeElement !== $("port")) $("port").value = String(view.api_port);
  $("takeover-enabled").checked = view.takeover.enabled;
  if (document.activeElement !== $("takeover-quiet")) $("takeover-quiet").value = String(view.takeover.quiet_secs);
  $("takeover-quiet").disabled = !view.takeover.enabled;
  $("api-url").textContent = view.api_url || "not listening";
  $("token-file").textContent = view.token_file;
  $("version").textContent = view.version || "";
  $("autostart").checked = view.autostart;
  $("ask-first").checked = view.ask_first;
  for (const box of document.querySelectorAll("[data-announce]")) {
    box.checked = (view.notifications.resources || []).includes(box.dataset.announce);
    box.disabled = view.notifications.do_not_disturb;
  }
}

// ----- resources ----------------------------------------------------------------------------

/** The notification switches as the page shows them, resources included. */
function notificationsShown() {
  const notifications = { answers: {}, resources: [] };
  for (const b of document.querySelectorAll("[data-notify]")) notifications[b.dataset.notify] = b.checked;
  for (const b of document.querySelectorAll("[data-answers]")) notifications.answers[b.dataset.answers] = b.checked;
  for (const b of document.querySelectorAll("[data-announce]")) if (b.checked) notifications.resources.push(b.dataset.announce);
  return notifications;
}

/** A row per declared resource: its capacity, whether it is announced, and removing it. */
async function loadResources() {
  let resources;
  try {
    resources = (await bridge.invoke("resources")) || [];
  } catch (error) {
    return fieldError("resource", error);
  }
  const others = resources.filter((r) => r.name !== "desktop");
  $("resource-none").hidden = others.length > 0;
  $("resource-list").replaceChildren(...others.map((resource) => {
    const row = document.createElement("li");
    row.dataset.resource = resource.name;
    const name = el("code", { class: "resource-name", text: resource.name });
    const capacity = el("input", { type: "number", min: 1, max: 1000, step: 1, value: String(resource.capacity) });
    capacity.setAttribute("aria-label", `capacity of ${resource.name}`);
    const setCapacity = el("button", { type: "button", text: "Apply" });
    setCapacity.addEventListener("click", async () => {
      const value = Number(capacity.value);
      if (!Number.isInteger(value) || value < 1 || value > 1000) {
        return fieldError("resource", "A capacity is a whole number from 1 to 1000.");
      }
      if (await apply("resource", "set_capacity", { name: resource.name, capacity: value }) !== undefined) loadResources();
    });
    const announce = el("input", { type: "checkbox", "data-announce": resource.name });
    announce.checked = (current?.notifications.resources || []).includes(resource.name);
    announce.addEventListener("change", () => apply("notify", "set_notifications", { notifications: notificationsShown() }));
    const remove = el("button", { type: "button", class: "danger subtle", text: "Remove" });
    remove.addEventListener("click", async () => {
      if (!secondClick(remove, "Remove: runs can no longer ask for it", 5000)) return;
      if (await apply("resource", "remove_resource", { name: resource.name }) !== undefined) loadResources();
    });
    row.append(name, el("label", {}, "for ", capacity, " at once"), setCapacity,
      el("label", { class: "check inline" }, announce, " announce queueing and hand-offs"), remove);
    return row;
  }));
}

// ----- schedules ----------------------------------------------------------------------------

/** The words of a command line, as a shell splits them: quotes keep spaces, `\` the next
 * character. Throws on a quote that is not closed. */
function commandWords(line) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new Error(`a ${quote === "'" ? "single" : "double"} quote in the command is not closed`);
  if (word !== null) words.push(word);
  return words;
}

/** A command's words as a line `commandWords` reads back the same. */
function commandLine(words) {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)).join(" ");
}

/** The entry being edited, if the form holds one. */
let editing = null;

function editEntry(entry) {
  editing = entry ? entry.name : null;
  $("schedule-name").value = entry ? entry.name : "";
  $("schedule-name").readOnly = Boolean(entry);
  $("schedule-cron").value = entry ? entry.cron : "";
  $("schedule-command").value = entry ? commandLine(entry.command) : "";
  $("schedule-title").value = entry?.title || "";
  $("schedule-desktop").checked = Boolean(entry?.needs_desktop);
  $("schedule-missed").value = entry?.missed || "catch-up";
  $("schedule-submit").textContent = entry ? "Save" : "Add";
  $("schedule-cancel").hidden = !entry;
  fieldError("schedule", null);
}

/** A row per schedule entry: its expression, command, next fire; edit, pause, remove. */
async function loadSchedules() {
  let entries;
  try {
    entries = (await bridge.invoke("schedules")) || [];
  } catch (error) {
    return fieldError("schedule", error);
  }
  $("schedule-none").hidden = entries.length > 0;
  $("schedule-list").replaceChildren(...entries.map((entry) => {
    const row = el("li", { "data-schedule": entry.name });
    const when = entry.paused
      ? "paused"
      : entry.next_fire ? `next ${format.when(entry.next_fire)}` : "never fires again";
    const editButton = el("button", { type: "button", text: "Edit" });
    editButton.addEventListener("click", () => editEntry(entry));
    const pause = el("button", { type: "button", text: entry.paused ? "Resume" : "Pause" });
    pause.addEventListener("click", async () => {
      if (await apply("schedule", "pause_schedule", { name: entry.name, paused: !entry.paused }) !== undefined) loadSchedules();
    });
    const remove = el("button", { type: "button", class: "danger subtle", text: "Remove" });
    remove.addEventListener("click", async () => {
      if (!secondClick(remove, "Remove: it fires no more", 5000)) return;
      if (await apply("schedule", "remove_schedule", { name: entry.name }) !== undefined) {
        if (editing === entry.name) editEntry(null);
        loadSchedules();
      }
    });
    row.append(
      el("code", { class: "resource-name", text: entry.name }),
      el("code", { class: "muted", text: entry.cron }),
      el("span", { class: "schedule-command", text: commandLine(entry.command) }),
      el("span", { class: entry.paused ? "when muted" : "when next-fire", text: when }),
      entry.needs_desktop ? el("span", { class: "muted", text: "needs the desktop" }) : "",
      editButton, pause, remove,
    );
    return row;
  }));
}

async function submitSchedule(event) {
  event.preventDefault();
  const name = $("schedule-name").value.trim();
  if (!/^[A-Za-z0-9._-]{1,48}$/.test(name)) {
    return fieldError("schedule", "An entry's name is letters, digits and . _ - (at most 48), such as backup.");
  }
  let command;
  try {
    command = commandWords($("schedule-command").value);
  } catch (error) {
    return fieldError("schedule", error.message);
  }
  if (command.length === 0) return fieldError("schedule", "Give the command to run.");
  const title = $("schedule-title").value.trim();
  const spec = {
    name,
    cron: $("schedule-cron").value.trim(),
    command,
    title: title || null,
    needs_desktop: $("schedule-desktop").checked,
    missed: $("schedule-missed").value,
  };
  // The host checks the expression and says which field is wrong.
  if (await apply("schedule", "put_schedule", { spec, replace: editing !== null }) !== undefined) {
    editEntry(null);
    loadSchedules();
  }
}

/** `CmdOrCtrl+Alt+Shift+KeyK` as people read it: `Ctrl+Alt+Shift+K`. */
function readable(accelerator) {
  return accelerator
    .split("+")
    .map((part) => {
      const lower = part.toLowerCase();
      if (lower === "cmdorctrl" || lower === "commandorcontrol" || lower === "control") return "Ctrl";
      if (/^key[a-z]$/i.test(part)) return part.slice(3).toUpperCase();
      if (/^digit\d$/i.test(part)) return part.slice(5);
      return part;
    })
    .join("+");
}

// ----- the hotkey recorder ------------------------------------------------------------------

/** The accelerator for a key press, or why it cannot be one. */
function acceleratorOf(event) {
  const modifiers = [];
  if (event.ctrlKey) modifiers.push("Ctrl");
  if (event.altKey) modifiers.push("Alt");
  if (event.shiftKey) modifiers.push("Shift");
  if (event.metaKey) modifiers.push("Super");
  if (["Control", "Alt", "Shift", "Meta", "OS", "AltGraph"].includes(event.key)) return { pending: true };
  if (!event.ctrlKey && !event.altKey && !event.metaKey) {
    return { error: "Use Ctrl, Alt or Super with the key: on its own it would stop ordinary typing everywhere." };
  }
  let key = event.code;
  if (/^Key[A-Z]$/.test(key)) key = key.slice(3);
  else if (/^Digit\d$/.test(key)) key = key.slice(5);
  return { accelerator: [...modifiers, key].join("+") };
}

let recording = false;

function startRecording() {
  if (recording) return;
  recording = true;
  const button = $("hotkey-record");
  button.classList.add("recording");
  $("hotkey-prompt").hidden = false;
  fieldError("hotkey", null);
  const stop = () => {
    recording = false;
    window.removeEventListener("keydown", onKey, true);
    button.classList.remove("recording");
    $("hotkey-prompt").hidden = true;
  };
  const onKey = (event) => {
    event.preventDefault();
    event.stopPropagation();
    if (event.key === "Escape") return stop();
    const result = acceleratorOf(event);
    if (result.pending) return;
    stop();
    if (result.error) return fieldError("hotkey", result.error);
    apply("hotkey", "set_hotkey", { accelerator: result.accelerator });
  };
  window.addEventListener("keydown", onKey, true);
}

// ----- wiring -------------------------------------------------------------------------------

async function start() {
  $("hotkey-record").addEventListener("click", startRecording);
  $("hotkey-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const accelerator = $("hotkey-text").value.trim();
    if (!accelerator) return fieldError("hotkey", "Type a hotkey such as Ctrl+Alt+Shift+S.");
    apply("hotkey", "set_hotkey", { accelerator });
  });
  for (const box of document.querySelectorAll("[data-notify], [data-answers]")) {
    box.addEventListener("change", () =>
      apply("notify", "set_notifications", { notifications: notificationsShown() }));
  }
  $("schedule-form").addEventListener("submit", submitSchedule);
  $("schedule-cancel").addEventListener("click", () => editEntry(null));
  $("resource-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("resource-name").value.trim();
    const capacity = Number($("resource-capacity").value);
    if (!/^[A-Za-z0-9:._-]{1,64}$/.test(name)) {
      return fieldError("resource", "A resource's name is letters, digits and : . _ - (at most 64), such as browser:work.");
    }
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1000) {
      return fieldError("resource", "A capacity is a whole number from 1 to 1000.");
    }
    if (await apply("resource", "add_resource", { name, capacity }) !== undefined) {
      $("resource-name").value = "";
      loadResources();
    }
  });
  $("ttl-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number($("ttl").value);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      return fieldError("ttl", "A heartbeat TTL is a number of seconds above 0.");
    }
    apply("ttl", "set_default_ttl", { seconds });
  });
  $("limits-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const [active, perClient, days] = ["max-active", "max-per-client", "retention-days"].map((id) =>
      Number($(id).value),
    );
    if (![active, perClient].every((n) => Number.isInteger(n) && n >= 1)) {
      return fieldError("limits", "A cap on active runs is a whole number, at least 1.");
    }
    if (!Number.isInteger(days) || days < 1 || days > 36500) {
      return fieldError("limits", "History is kept for 1 to 36500 days.");
    }
    apply("limits", "set_limits", {
      limits: { max_active_runs: active, max_runs_per_client: perClient, retention_days: days },
    });
  });
  const sendTakeover = () => {
    const quiet = Number($("takeover-quiet").value);
    if (!Number.isFinite(quiet) || quiet < 1 || quiet > 600) {
      return fieldError("takeover", "The quiet time is between 1 and 600 seconds.");
    }
    apply("takeover", "set_takeover", {
      takeover: { enabled: $("takeover-enabled").checked, quiet_secs: quiet },
    });
  };
  $("takeover-enabled").addEventListener("change", sendTakeover);
  $("takeover-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendTakeover();
  });
  $("port-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const port = Number($("port").value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return fieldError("port", "A port is a whole number from 0 to 65535.");
    }
    apply("port", "set_api_port", { port });
  });
  $("token-show").addEventListener("click", async () => {
    const token = await apply("token", "user_token");
    if (token === undefined) return;
    $("token").type = "text";
    $("token").value = token;
  });
  $("token-copy").addEventListener("click", async () => {
    const token = await apply("token", "user_token");
    if (token === undefined) return;
    try {
      await navigator.clipboard.writeText(token);
      note("Copied.");
    } catch {
      // No clipboard access: leave the token selected for a manual copy.
      $("token").type = "text";
      $("token").value = token;
      $("token").select();
      note("Selected: press Ctrl+C to copy it.");
    }
  });
  const regenerate = $("token-regenerate");
  regenerate.addEventListener("click", async () => {
    if (!secondClick(regenerate, "Regenerate: the old token stops working", 5000)) return;
    const token = await apply("token", "regenerate_token");
    if (token === undefined) return;
    $("token").type = "text";
    $("token").value = token;
    note("A new token is in force. The CLI and agents started from now on use it; anything holding the old one must read the new one.");
  });
  $("autostart").addEventListener("change", () =>
    apply("autostart", "set_autostart", { enabled: $("autostart").checked }));
  $("ask-first").addEventListener("change", () =>
    apply("ask", "set_ask_first", { askFirst: $("ask-first").checked }));

  const view = await bridge.invoke("get_settings");
  render(view);
  await loadResources();
  await loadSchedules();
}

function note(text) {
  $("token-note").textContent = text;
  $("token-note").hidden = false;
}

start().catch((error) => {
  $("loading").hidden = true;
  const box = $("error");
  box.textContent = `The settings cannot reach Baton: ${error}`;
  box.hidden = false;
});
