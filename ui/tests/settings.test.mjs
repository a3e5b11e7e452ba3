// The settings window in headless Chromium with a fake IPC: what it shows, what each control
// sends, and how refusals appear next to the field that caused them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage } from "./harness.mjs";

const view = (changes = {}) => ({
  hotkey: { accelerator: "CmdOrCtrl+Alt+Shift+S", active: true, error: null },
  notifications: { queued: true, handoff: true, stopped: true, expired: true, takeover: true, ask: true, do_not_disturb: false, answers: { queued: true, handoff: true, takeover: true, ask: true } },
  takeover: { enabled: true, quiet_secs: 10 },
  notification_answers: false,
  default_ttl_secs: 15,
  limits: { max_active_runs: 10000, max_runs_per_client: 1000, retention_days: 90 },
  api_port: 0,
  api_url: "http://127.0.0.1:41233",
  autostart: false,
  ask_first: false,
  data_dir: "/home/me/.local/share/baton",
  token_file: "/home/me/.local/share/baton/token",
  not_working: [],
  version: "0.1.0 (544979fbc)",
  ...changes,
});

/** In the page: commands that change a setting answer the settings with that change made. */
function changingReplies() {
  const r = window.__fake.replies;
  const base = () => JSON.parse(JSON.stringify(r.get_settings));
  const with_ = (changes) => Object.assign(base(), changes);
  r.set_hotkey ??= (a) => with_({ hotkey: { accelerator: a.accelerator, active: true, error: null } });
  r.set_notifications ??= (a) => with_({ notifications: a.notifications });
  r.set_default_ttl ??= (a) => with_({ default_ttl_secs: a.seconds });
  r.set_api_port ??= (a) => with_({ api_port: a.port, api_url: `http://127.0.0.1:${a.port}` });
  r.set_autostart ??= (a) => with_({ autostart: a.enabled });
  r.set_takeover ??= (a) => with_({ takeover: a.takeover });
  r.set_limits ??= (a) => with_({ limits: a.limits });
  r.set_ask_first ??= (a) => with_({ ask_first: a.askFirst });
}

async function settings(t, replies = {}) {
  const ui = await openPage("settings.html", {
    get_settings: view(),
    user_token: "a".repeat(64),
    regenerate_token: "b".repeat(64),
    ...replies,
  }, changingReplies);
  t.after(() => ui.close());
  await ui.page.waitForFunction(() => document.getElementById("hotkey-current").textContent !== "…");
  return ui;
}

const sent = async (ui, command) => (await ui.calls()).filter((c) => c.command === command).map((c) => c.args);

test("says what does not work on this computer, and only then", async (t) => {
  const quiet = await settings(t);
  assert.equal(await quiet.page.isHidden("#computer"), true);
  const ui = await settings(t, {
    get_settings: view({
      not_working: [
        "Input: off (macOS has not given Baton the Accessibility permission <b>it needs</b>)",
        "Takeover: limited (it samples only)",
      ],
    }),
  });
  assert.equal(await ui.page.isVisible("#computer"), true);
  const lines = await ui.page.$$eval("#computer-list li", (items) => items.map((i) => i.textContent));
  assert.deepEqual(lines, [
    "Input: off (macOS has not given Baton the Accessibility permission <b>it needs</b>)",
    "Takeover: limited (it samples only)",
  ]);
  // Text, never markup.
  assert.equal(await ui.page.$$eval("#computer-list b", (b) => b.length), 0);
  assert.deepEqual(ui.errors, []);
});

test("before its data arrives it says it is loading, and shows no false state", async (t) => {
  const ui = await openPage("settings.html", { get_settings: view() }, () => {
    const settled = window.__fake.replies.get_settings;
    let release;
    const arrived = new Promise((resolve) => (release = resolve));
    window.__release = () => release();
    window.__fake.replies.get_settings = () => arrived.then(() => settled);
  });
  t.after(() => ui.close());
  await ui.page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "get_settings"));
  assert.equal(await ui.page.isVisible("#loading"), true);
  assert.equal(await ui.page.textContent("#loading"), "Loading the settings…");
  assert.equal(await ui.page.isVisible('[data-notify="queued"]'), false, "no unchecked box before the data");
  assert.equal(await ui.page.isVisible("#hotkey-current"), false);
  await ui.page.evaluate(() => window.__release());
  await ui.page.waitForFunction(() => document.getElementById("main").getAttribute("aria-busy") === "false");
  assert.equal(await ui.page.isVisible("#loading"), false);
  assert.equal(await ui.page.isChecked('[data-notify="queued"]'), true);
  assert.equal(await ui.page.textContent("#hotkey-current") !== "…", true);
  assert.deepEqual(ui.errors, []);
});

test("shows the settings in force", async (t) => {
  const { page, errors } = await settings(t);
  assert.equal(await page.textContent("#hotkey-current"), "Ctrl+Alt+Shift+S");
  assert.equal(await page.textContent("#hotkey-state"), "active");
  assert.equal(await page.isChecked('[data-notify="queued"]'), true);
  assert.equal(await page.isChecked('[data-notify="do_not_disturb"]'), false);
  assert.equal(await page.inputValue("#ttl"), "15");
  assert.match(await page.textContent("#notify-answers"), /shows no buttons/);
  assert.equal(await page.inputValue("#max-active"), "10000");
  assert.equal(await page.inputValue("#max-per-client"), "1000");
  assert.equal(await page.inputValue("#retention-days"), "90");
  assert.equal(await page.inputValue("#port"), "0");
  assert.equal(await page.textContent("#api-url"), "http://127.0.0.1:41233");
  assert.equal(await page.textContent("#token-file"), "/home/me/.local/share/baton/token");
  assert.equal(await page.textContent("#version"), "0.1.0 (544979fbc)", "which Baton, with its commit");
  assert.notEqual(await page.inputValue("#token"), "a".repeat(64), "the token is hidden until asked for");
  assert.deepEqual(errors, []);
});

test("a hotkey that does not work says why", async (t) => {
  const ui = await settings(t, {
    get_settings: view({ hotkey: { accelerator: "CmdOrCtrl+Alt+Shift+S", active: false, error: "another application holds it" } }),
  });
  assert.match(await ui.page.textContent("#hotkey-state"), /not working: another application holds it/);
});

test("the recorder turns a key press into a hotkey and refuses a bare key", async (t) => {
  const ui = await settings(t);
  const { page } = ui;
  await page.click("#hotkey-record");
  assert.equal(await page.isVisible("#hotkey-prompt"), true);
  await page.keyboard.press("K");
  assert.match(await page.textContent("#hotkey-error"), /Use Ctrl, Alt or Super/);
  assert.deepEqual(await sent(ui, "set_hotkey"), []);

  await page.click("#hotkey-record");
  await page.keyboard.press("Escape");
  assert.equal(await page.isVisible("#hotkey-prompt"), false);

  await page.click("#hotkey-record");
  await page.keyboard.press("Control+Alt+Shift+K");
  await page.waitForFunction(() => document.getElementById("hotkey-current").textContent === "Ctrl+Alt+Shift+K");
  assert.deepEqual(await sent(ui, "set_hotkey"), [{ accelerator: "Ctrl+Alt+Shift+K" }]);

  await page.fill("#hotkey-text", "Super+F9");
  await page.click('#hotkey-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById("hotkey-current").textContent === "Super+F9");
});

test("a refused hotkey is explained next to it and the old one is shown", async (t) => {
  const ui = await settings(t, {
    set_hotkey: { error: "the hotkey Ctrl+Alt+K cannot be registered (it is taken)" },
  });
  await ui.page.fill("#hotkey-text", "Ctrl+Alt+K");
  await ui.page.click('#hotkey-form button[type="submit"]');
  await ui.page.waitForSelector("#hotkey-error:not([hidden])");
  assert.match(await ui.page.textContent("#hotkey-error"), /cannot be registered/);
  assert.equal(await ui.page.textContent("#hotkey-current"), "Ctrl+Alt+Shift+S");
});

test("notification switches send every switch, and Do not disturb silences the rest", async (t) => {
  const ui = await settings(t);
  const { page } = ui;
  await page.uncheck('[data-notify="queued"]');
  await page.check('[data-notify="do_not_disturb"]');
  await page.waitForFunction(() => document.querySelector('[data-notify="handoff"]').disabled);
  assert.deepEqual(await sent(ui, "set_notifications"), [
    { notifications: { answers: { queued: true, handoff: true, takeover: true, ask: true }, resources: [], queued: false, handoff: true, stopped: true, expired: true, takeover: true, ask: true, do_not_disturb: false } },
    { notifications: { answers: { queued: true, handoff: true, takeover: true, ask: true }, resources: [], queued: false, handoff: true, stopped: true, expired: true, takeover: true, ask: true, do_not_disturb: true } },
  ]);
});

test("each kind's answers are switched on their own, where the server shows buttons", async (t) => {
  const ui = await settings(t, { get_settings: view({ notification_answers: true }) });
  const { page } = ui;
  assert.equal(await page.isChecked('[data-answers="queued"]'), true);
  await page.uncheck('[data-answers="handoff"]');
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "set_notifications"));
  const [sentNow] = await sent(ui, "set_notifications");
  assert.deepEqual(sentNow.notifications.answers, { queued: true, handoff: false, takeover: true, ask: true });
  assert.equal(sentNow.notifications.handoff, true, "the hand-off is still shown, as text");
  // A kind switched off has no buttons to switch.
  await page.uncheck('[data-notify="queued"]');
  await page.waitForFunction(() => document.querySelector('[data-answers="queued"]').disabled);
});

test("asking before an agent takes the desktop is one switch, shown as it is in force", async (t) => {
  const ui = await settings(t);
  const { page } = ui;
  assert.equal(await page.isChecked("#ask-first"), false);
  await page.check("#ask-first");
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "set_ask_first"));
  assert.deepEqual(await sent(ui, "set_ask_first"), [{ askFirst: true }]);
  assert.equal(await page.isChecked("#ask-first"), true);
});

test("TTL and port are checked, sent, and refusals shown where they belong", async (t) => {
  const ui = await settings(t, { set_api_port: { error: "cannot listen on 127.0.0.1:8080: Address in use (os error 98)" } });
  const { page } = ui;
  await page.fill("#ttl", "0");
  await page.click('#ttl-form button[type="submit"]');
  assert.match(await page.textContent("#ttl-error"), /above 0/);
  await page.fill("#ttl", "40");
  await page.click('#ttl-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById("ttl-error").hidden);
  assert.deepEqual(await sent(ui, "set_default_ttl"), [{ seconds: 40 }]);

  await page.fill("#port", "8080");
  await page.click('#port-form button[type="submit"]');
  await page.waitForSelector("#port-error:not([hidden])");
  assert.match(await page.textContent("#port-error"), /Address in use/);
  assert.equal(await page.textContent("#api-url"), "http://127.0.0.1:41233", "still where it was");
  assert.equal(await page.isHidden("#ttl-error"), true, "errors stay with their own field");
});

test("caps and retention are checked, sent, and a refusal is shown beside them", async (t) => {
  const ui = await settings(t);
  const { page } = ui;
  await page.fill("#max-per-client", "0");
  await page.click('#limits-form button[type="submit"]');
  assert.match(await page.textContent("#limits-error"), /at least 1/);
  await page.fill("#max-per-client", "50");
  await page.fill("#retention-days", "40000");
  await page.click('#limits-form button[type="submit"]');
  assert.match(await page.textContent("#limits-error"), /1 to 36500 days/);
  assert.deepEqual(await sent(ui, "set_limits"), [], "nothing is sent while the form is wrong");
  await page.fill("#retention-days", "30");
  await page.click('#limits-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById("limits-error").hidden);
  assert.deepEqual(await sent(ui, "set_limits"), [
    { limits: { max_active_runs: 10000, max_runs_per_client: 50, retention_days: 30 } },
  ]);
  assert.equal(await page.inputValue("#max-per-client"), "50");
});

test("the token is shown on request and regenerated only after a second click", async (t) => {
  const ui = await settings(t);
  const { page } = ui;
  await page.click("#token-show");
  await page.waitForFunction(() => document.getElementById("token").value === "a".repeat(64));
  await page.click("#token-regenerate");
  assert.match(await page.textContent("#token-regenerate"), /old token stops working/);
  assert.deepEqual(await sent(ui, "regenerate_token"), []);
  await page.click("#token-regenerate");
  await page.waitForFunction(() => document.getElementById("token").value === "b".repeat(64));
  assert.match(await page.textContent("#token-note"), /new token is in force/);
});

test("start at login is switched", async (t) => {
  const ui = await settings(t);
  await ui.page.check("#autostart");
  await ui.page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "set_autostart"));
  assert.deepEqual(await sent(ui, "set_autostart"), [{ enabled: true }]);
});

test("takeover detection is switched and its quiet time checked", async (t) => {
  const ui = await settings(t);
  const { page } = ui;
  assert.equal(await page.isChecked("#takeover-enabled"), true);
  assert.equal(await page.inputValue("#takeover-quiet"), "10");
  await page.fill("#takeover-quiet", "0.5");
  await page.click('#takeover-form button[type="submit"]');
  assert.match(await page.textContent("#takeover-error"), /between 1 and 600/);
  await page.fill("#takeover-quiet", "30");
  await page.click('#takeover-form button[type="submit"]');
  await page.uncheck("#takeover-enabled");
  await page.waitForFunction(() => document.getElementById("takeover-quiet").disabled);
  assert.deepEqual(await sent(ui, "set_takeover"), [
    { takeover: { enabled: true, quiet_secs: 30 } },
    { takeover: { enabled: false, quiet_secs: 30 } },
  ]);
});

test("resources are declared, resized, announced and removed from the settings", async (t) => {
  const declared = [
    { name: "desktop", capacity: 1, holders: [], queue: [] },
    { name: "browser:work", capacity: 1, holders: [], queue: [] },
  ];
  const ui = await settings(t, {
    resources: declared,
    add_resource: { name: "licence:cad", capacity: 2, holders: [], queue: [] },
    set_capacity: { name: "browser:work", capacity: 3, holders: [], queue: [] },
    remove_resource: null,
  });
  const { page, errors } = ui;
  await page.waitForSelector('#resource-list li[data-resource="browser:work"]');
  assert.equal(await page.locator("#resource-list li").count(), 1, "the desktop is built in, not listed");
  assert.equal(await page.isHidden("#resource-none"), true);

  // A name that cannot be one is refused before the host is asked.
  await page.fill("#resource-name", "browser work");
  await page.click('#resource-form button[type="submit"]');
  assert.match(await page.textContent("#resource-error"), /letters, digits/);
  await page.fill("#resource-name", "licence:cad");
  await page.fill("#resource-capacity", "2");
  await page.click('#resource-form button[type="submit"]');
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "add_resource"));
  assert.deepEqual(await sent(ui, "add_resource"), [{ name: "licence:cad", capacity: 2 }]);

  const row = '#resource-list li[data-resource="browser:work"]';
  await page.fill(`${row} input[type="number"]`, "3");
  await page.click(`${row} button:has-text("Apply")`);
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "set_capacity"));
  assert.deepEqual(await sent(ui, "set_capacity"), [{ name: "browser:work", capacity: 3 }]);

  // Announcing is off by default, and switched on per resource.
  assert.equal(await page.isChecked(`${row} [data-announce]`), false);
  await page.check(`${row} [data-announce]`);
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "set_notifications"));
  const [announced] = await sent(ui, "set_notifications");
  assert.deepEqual(announced.notifications.resources, ["browser:work"]);
  assert.equal(announced.notifications.queued, true, "the other switches are sent as shown");

  // Removing asks once more.
  await page.click(`${row} button.danger`);
  assert.deepEqual(await sent(ui, "remove_resource"), []);
  await page.click(`${row} button.danger`);
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "remove_resource"));
  assert.deepEqual(await sent(ui, "remove_resource"), [{ name: "browser:work" }]);
  assert.deepEqual(errors, []);
});

test("schedule entries are added, edited, paused and removed, and refusals shown beside them", async (t) => {
  const backup = {
    name: "backup", cron: "0 2 * * *", command: ["/home/me/my backup.sh", "--all"], title: null,
    needs_desktop: false, missed: "catch-up", paused: false, created_at: "2026-12-01T10:00:00Z",
    handled: "2026-12-01T10:00:00Z", last_run: null, next_fire: "2026-12-08T02:00:00Z",
  };
  const ui = await settings(t, {
    schedules: [backup],
    put_schedule: backup,
    pause_schedule: { ...backup, paused: true, next_fire: null },
    remove_schedule: null,
  });
  const { page, errors } = ui;
  const row = '#schedule-list li[data-schedule="backup"]';
  await page.waitForSelector(row);
  assert.equal(await page.isHidden("#schedule-none"), true);
  assert.equal(await page.textContent(`${row} .schedule-command`), "'/home/me/my backup.sh' --all");

  // Refused before the host is asked: a name that cannot be one, a quote left open.
  await page.fill("#schedule-name", "my report");
  await page.click("#schedule-submit");
  assert.match(await page.textContent("#schedule-error"), /letters, digits/);
  await page.fill("#schedule-name", "report");
  await page.fill("#schedule-cron", "30 9 * * 1-5");
  await page.fill("#schedule-command", "./report.sh 'two words");
  await page.click("#schedule-submit");
  assert.match(await page.textContent("#schedule-error"), /single quote in the command is not closed/);
  assert.deepEqual(await sent(ui, "put_schedule"), []);

  await page.fill("#schedule-command", String.raw`./report.sh "two words" 'it''s' plain\ space`);
  await page.fill("#schedule-title", "weekly report");
  await page.check("#schedule-desktop");
  await page.selectOption("#schedule-missed", "skip");
  await page.click("#schedule-submit");
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "put_schedule"));
  assert.deepEqual(await sent(ui, "put_schedule"), [{
    spec: {
      name: "report", cron: "30 9 * * 1-5", command: ["./report.sh", "two words", "its", "plain space"],
      title: "weekly report", needs_desktop: true, missed: "skip",
    },
    replace: false,
  }]);
  assert.equal(await page.inputValue("#schedule-name"), "", "the form is cleared after an add");

  // Edit fills the form, keeps the name, and saves in place; the host's refusal is shown.
  await page.click(`${row} button:has-text("Edit")`);
  assert.equal(await page.inputValue("#schedule-command"), "'/home/me/my backup.sh' --all");
  assert.equal(await page.getAttribute("#schedule-name", "readonly"), "");
  assert.equal(await page.textContent("#schedule-submit"), "Save");
  await ui.reply("put_schedule", { error: "in '0 25 * * *', the hour field's '25' is not valid" });
  await page.fill("#schedule-cron", "0 25 * * *");
  await page.click("#schedule-submit");
  await page.waitForSelector("#schedule-error:not([hidden])");
  assert.match(await page.textContent("#schedule-error"), /the hour field's '25' is not valid/);
  const [, edit] = await sent(ui, "put_schedule");
  assert.deepEqual(edit.spec.command, ["/home/me/my backup.sh", "--all"], "the quoted line reads back the same");
  assert.equal(edit.replace, true);

  await page.click(`${row} button:has-text("Pause")`);
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "pause_schedule"));
  assert.deepEqual(await sent(ui, "pause_schedule"), [{ name: "backup", paused: true }]);
  await page.click(`${row} button.danger`);
  assert.deepEqual(await sent(ui, "remove_schedule"), [], "one click does not remove");
  await page.click(`${row} button.danger`);
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "remove_schedule"));
  assert.deepEqual(await sent(ui, "remove_schedule"), [{ name: "backup" }]);
  assert.deepEqual(errors, []);
});
