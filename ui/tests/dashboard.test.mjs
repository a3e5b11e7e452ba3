// The dashboard in headless Chromium with a fake IPC: what it shows, what its buttons send,
// and how the host's events update it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage, busy, history, snapshot, run } from "./harness.mjs";

const replies = () => ({ status: busy(), history: history(), stop_holder: null, set_paused: true });

async function dashboard(t, overrides = {}) {
  const ui = await openPage("index.html", { ...replies(), ...overrides });
  t.after(() => ui.close());
  await ui.page.waitForSelector("#queue li");
  return ui;
}

const texts = (page, selector) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent.trim()));

test("shows who holds the desktop, the queue in order, parallel runs and the history", async (t) => {
  const { page, errors } = await dashboard(t);
  assert.equal(await page.textContent("#state-pill"), "Desktop in use");
  assert.equal(await page.textContent("#holder .title"), "log in to the bank");
  const facts = await texts(page, "#holder dd");
  assert.equal(facts[0], "claude-code");
  assert.match(facts[1], /^2m1\ds$/, "elapsed since the grant");
  assert.equal(facts[2], "41", "lease token");
  assert.deepEqual(await texts(page, "#queue .position"), ["1", "2"]);
  assert.deepEqual(await texts(page, "#queue .title"), ["fill the expense form", "upload receipts"]);
  assert.deepEqual(await texts(page, "#parallel .title"), ["cargo test"]);
  assert.deepEqual(await texts(page, "#history tbody .title"), ["upload receipts", "fill the expense form", "old job"]);
  const detail = await texts(page, "#history tbody td.detail");
  assert.equal(detail[2], "by user:hotkey: wrong window", "who cancelled and why");
  assert.equal(await page.isDisabled("#stop"), false);
  assert.deepEqual(errors, []);
});

test("buttons send the right commands", async (t) => {
  const ui = await dashboard(t);
  const { page } = ui;
  await page.click("#stop");
  assert.equal(await page.isDisabled("#stop"), true, "no second stop before the next status");
  await page.click("#pause");
  await page.click('#queue li[data-run="3"] button:has-text("Move to front")');
  assert.equal(await page.isDisabled('#queue li[data-run="2"] button:has-text("Move to front")'), true, "first in line cannot move up");
  // Cancel asks once more before it acts.
  const cancel = '#queue li[data-run="2"] button.danger';
  await page.click(cancel);
  assert.equal(await page.textContent(cancel), "Confirm cancel");
  let sent = (await ui.calls()).map((c) => c.command);
  assert.ok(!sent.includes("cancel_run"), "one click does not cancel");
  await page.click(cancel);
  await page.selectOption("#filter-state", "cancelled");
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "history" && c.args.runState === "cancelled"));

  const reads = ["status", "history", "timeline", "displays", "schedules"];
  const calls = (await ui.calls()).filter((c) => !reads.includes(c.command));
  assert.deepEqual(calls, [
    { command: "stop_holder", args: { runId: 1 } },
    { command: "set_paused", args: { paused: true } },
    { command: "move_to_front", args: { id: 3 } },
    { command: "cancel_run", args: { id: 2, reason: null } },
  ]);
});

test("the host's events update the page without polling", async (t) => {
  const ui = await dashboard(t);
  const { page } = ui;
  const historyCalls = async () => (await ui.calls()).filter((c) => c.command === "history").length;
  const before = await historyCalls();

  await ui.emit("baton://status", snapshot({ paused: true, queue: [run(3, "upload receipts", "cron")] }));
  assert.equal(await page.textContent("#state-pill"), "Hand-offs paused");
  assert.equal(await page.textContent("#pause"), "Resume hand-offs");
  assert.equal(await page.isDisabled("#stop"), true, "nobody to stop");
  assert.match(await page.textContent("#holder"), /Free: nobody holds the desktop/);
  assert.match(await page.textContent("#holder"), /Hand-offs are paused/);
  assert.deepEqual(await texts(page, "#queue .title"), ["upload receipts"]);
  assert.equal(await page.isVisible("#parallel-empty"), true);

  await ui.reply("history", [run(9, "new run", "codex")]);
  for (let seq = 8; seq < 14; seq++) await ui.emit("baton://event", { seq, kind: "submitted" });
  await page.waitForSelector('#history tbody tr[data-run="9"]');
  await page.waitForTimeout(400);
  assert.equal(await historyCalls(), before + 1, "one history reload per burst of events");
  // Nothing else was asked for: updates come from events.
  await page.waitForTimeout(1200);
  assert.equal((await ui.calls()).filter((c) => c.command === "status").length, 1);
});

test("titles are shown as text, never as markup", async (t) => {
  const evil = '<img src=x onerror="window.__pwned=1">';
  const ui = await dashboard(t, {
    status: snapshot({
      holder: run(1, evil, "x", { state: "running", holds_desktop: true, lease_token: 1, started_at: new Date().toISOString() }),
      queue: [run(2, "b", "y")],
    }),
  });
  assert.equal(await ui.page.textContent("#holder .title"), evil);
  assert.equal(await ui.page.evaluate(() => window.__pwned), undefined);
});

test("a refused request says why", async (t) => {
  const ui = await dashboard(t, { cancel_run: { error: "run #2 has already ended (succeeded); nothing more can be done with it" } });
  const cancel = '#queue li[data-run="2"] button.danger';
  await ui.page.click(cancel);
  await ui.page.click(cancel);
  await ui.page.waitForSelector("#error:not([hidden])");
  assert.match(await ui.page.textContent("#error"), /already ended \(succeeded\)/);
});

test("follows the desktop's dark theme, with text that stays readable", async (t) => {
  const ui = await dashboard(t);
  const colours = async () => ui.page.evaluate(() => {
    const rgb = (c) => c.match(/\d+/g).slice(0, 3).map(Number);
    const luminance = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    const body = getComputedStyle(document.body);
    const card = getComputedStyle(document.querySelector(".card"));
    return {
      background: luminance(rgb(body.backgroundColor)),
      card: luminance(rgb(card.backgroundColor)),
      text: luminance(rgb(body.color)),
    };
  });
  await ui.page.emulateMedia({ colorScheme: "light" });
  const light = await colours();
  assert.ok(light.background > 0.8 && light.text < 0.3, JSON.stringify(light));
  await ui.page.emulateMedia({ colorScheme: "dark" });
  const dark = await colours();
  assert.ok(dark.background < 0.2 && dark.card < 0.25 && dark.text > 0.8, JSON.stringify(dark));
});

test("when the person takes over, the holder card says so and gives the desktop back", async (t) => {
  const ui = await dashboard(t);
  const paused = busy();
  paused.desktop.holder_paused = true;
  await ui.emit("baton://status", paused);
  assert.equal(await ui.page.textContent("#state-pill"), "You have the desktop");
  assert.match(await ui.page.textContent("#holder"), /Paused while you use the computer/);
  await ui.page.click("#give-back");
  await ui.page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "resume_holder"));
  assert.equal(await ui.page.isDisabled("#give-back"), true);
});

test("a run waiting for the person's OK is named, with Allow and Cancel", async (t) => {
  const ui = await dashboard(t);
  const asking = snapshot({
    queue: [run(2, "fill the expense form", "codex"), run(3, "upload receipts", "cron")],
  });
  asking.desktop.awaiting_ok = { id: 2, title: "fill the expense form", client: "codex" };
  await ui.emit("baton://status", asking);
  assert.equal(await ui.page.textContent("#state-pill"), "Waiting for your OK");
  assert.match(await ui.page.textContent("#holder .ask"), /'fill the expense form' \(codex\) wants the desktop/);
  await ui.page.click("#allow");
  assert.equal(await ui.page.isDisabled("#allow"), true, "no second OK before the next status");
  // Cancel asks once more, as everywhere.
  await ui.page.click("#refuse");
  await ui.page.click("#refuse");
  await ui.page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "cancel_run"));
  const calls = (await ui.calls()).filter((c) => c.command === "allow_run" || c.command === "cancel_run");
  assert.deepEqual(calls, [
    { command: "allow_run", args: { id: 2 } },
    { command: "cancel_run", args: { id: 2, reason: null } },
  ]);
  // Once answered, the question is gone.
  await ui.emit("baton://status", snapshot({ queue: [run(3, "upload receipts", "cron")] }));
  assert.equal(await ui.page.$("#holder .ask"), null);
});

test("a notification's run is shown highlighted, and stays so as the page updates", async (t) => {
  const ui = await dashboard(t);
  await ui.emit("baton://focus", 3);
  assert.deepEqual(await ui.page.$$eval(".focused", (n) => n.map((e) => e.dataset.run)), ["3", "3"], "in the queue and the history");
  await ui.emit("baton://status", busy());
  assert.equal(await ui.page.$eval('#queue li[data-run="3"]', (e) => e.classList.contains("focused")), true);
  await ui.emit("baton://focus", 1);
  assert.deepEqual(await ui.page.$$eval(".focused", (n) => n.map((e) => e.id || e.dataset.run)), ["holder"]);
});

test("each other resource gets a card line, and the last hour a lane per resource", async (t) => {
  const now = Date.now();
  const ago = (minutes) => new Date(now - minutes * 60_000).toISOString();
  const brief = (id, title, client) => ({ id, title, client });
  const status = busy();
  status.resources = [
    {
      name: "browser:work", capacity: 1,
      holders: [{ run: brief(5, "research prices", "codex"), lease_token: 3, since: ago(2) }],
      queue: [brief(6, "compare offers", "claude-code")],
    },
    { name: "phone", capacity: 2, holders: [], queue: [] },
  ];
  const lanes = [
    {
      resource: "browser:work",
      spans: [
        { run: brief(5, "research prices", "codex"), kind: "held", from: ago(2), to: null },
        { run: brief(6, "compare offers", "claude-code"), kind: "waited", from: ago(1), to: null },
      ],
      marks: [],
    },
    {
      resource: "desktop",
      spans: [
        { run: brief(1, "log in to the bank", "claude-code"), kind: "held", from: ago(50), to: ago(20) },
        { run: brief(2, "fill the expense form", "codex"), kind: "waited", from: ago(30), to: ago(20) },
        { run: brief(2, "fill the expense form", "codex"), kind: "held", from: ago(20), to: null },
      ],
      marks: [
        { kind: "takeover", at: ago(40), run: brief(1, "log in to the bank", "claude-code") },
        { kind: "stop", at: ago(20), run: brief(1, "log in to the bank", "claude-code") },
      ],
    },
    { resource: "phone", spans: [], marks: [] },
  ];
  const { page, errors } = await dashboard(t, { status, timeline: lanes });
  await page.waitForSelector("#timeline svg .lane");
  assert.equal(await page.isVisible("#resources-card"), true);
  const lines = await texts(page, "#resources li");
  assert.match(lines[0], /^browser:workcapacity 1research pricescodexfor 2m0\ds\s*token 31 waiting: 'compare offers'$/);
  assert.match(lines[1], /^phonecapacity 2freenobody waiting$/);
  // The desktop's lane first, then the others by name.
  assert.deepEqual(
    await page.$$eval("#timeline .lane", (nodes) => nodes.map((n) => n.getAttribute("data-resource"))),
    ["desktop", "browser:work", "phone"],
  );
  const desktop = '#timeline .lane[data-resource="desktop"]';
  assert.equal(await page.locator(`${desktop} rect.span.held`).count(), 2);
  assert.equal(await page.locator(`${desktop} rect.span.waited`).count(), 1);
  assert.deepEqual(await texts(page, `${desktop} .mark`), [
    "▲You took over from 'log in to the bank' at " + (await page.evaluate((t) => format.when(t), lanes[1].marks[0].at)),
    "■Stopped 'log in to the bank' at " + (await page.evaluate((t) => format.when(t), lanes[1].marks[1].at)),
  ]);
  // A hold is as wide as its time: thirty minutes of an hour is about half the lane.
  const widths = await page.$$eval(`${desktop} rect.span.held`, (nodes) => nodes.map((n) => Number(n.getAttribute("width"))));
  const lane = await page.$eval("#timeline svg", (n) => Number(n.getAttribute("width")) - 130 - 24);
  assert.ok(Math.abs(widths[0] / lane - 0.5) < 0.02, `${widths[0]} of ${lane}`);
  // Waits sit below holds.
  const ys = await page.$$eval('#timeline .lane[data-resource="browser:work"] rect', (nodes) => nodes.map((n) => Number(n.getAttribute("y"))));
  assert.ok(ys[1] > ys[0], `${ys}`);
  // The picture is asked for with the last hour; zooming in asks for less, and says so.
  assert.ok((await page.evaluate(() => window.__fake.calls)).some((c) => c.command === "timeline" && c.args.minutes === 60));
  assert.equal(await page.textContent("#timeline-heading"), "The last hour");
  await page.click('.zoom button[data-minutes="5"]');
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "timeline" && c.args.minutes === 5));
  assert.equal(await page.textContent("#timeline-heading"), "The last 5 minutes");
  assert.equal(await page.getAttribute('.zoom button[data-minutes="5"]', "aria-pressed"), "true");
  await page.keyboard.press("-");
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "timeline" && c.args.minutes === 15));
  assert.deepEqual(errors, []);
});

test("without other resources the card stays out of the way", async (t) => {
  const { page, errors } = await dashboard(t, { timeline: [{ resource: "desktop", spans: [], marks: [] }] });
  assert.equal(await page.isVisible("#resources-card"), false);
  await page.waitForSelector("#timeline svg .lane");
  assert.deepEqual(errors, []);
});

test("each private display is a live tile with its run and a way to stop it", async (t) => {
  const status = busy();
  status.running.push(run(7, "book the flight", "codex", { needs_desktop: false, state: "running", started_at: new Date().toISOString() }));
  const displays = [
    { run: 4, display: ":3", lease_token: 1, width: 1280, height: 800, pid: 100 },
    { run: 7, display: ":5", lease_token: 2, width: 1280, height: 800, pid: 101 },
  ];
  const ui = await openPage("index.html", { ...replies(), status, displays, cancel_run: null }, () => {
    // A 16x10 PNG, counted per display: the live view keeps asking.
    const png = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAABAAAAAKCAIAAAAy3EnLAAAAFElEQVR4nGNQaLhAEmIY1TA0NQAAvr/mAb38UYsAAAAASUVORK5CYII="), (c) => c.charCodeAt(0));
    window.__fake.replies.display_picture = () => png.buffer.slice(0);
  });
  t.after(() => ui.close());
  const { page, errors } = ui;
  await page.waitForSelector('#displays figure[data-run="7"]');
  assert.equal(await page.isVisible("#displays-card"), true);
  assert.equal(await page.textContent("#displays-count"), "2");
  assert.deepEqual(await texts(page, "#displays figcaption"), [
    "cargo testcodex:3Cancel",
    "book the flightcodex:5Cancel",
  ]);
  // The pictures arrive, and keep arriving: a few frames a second.
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#displays img")].every((img) => img.src.startsWith("blob:") && img.naturalWidth === 16));
  const asked = async () => (await ui.calls()).filter((c) => c.command === "display_picture").length;
  const before = await asked();
  await page.waitForFunction((n) => window.__fake.calls.filter((c) => c.command === "display_picture").length >= n + 4, before);
  // A click shows a display across the card, and keeps it so as the page updates.
  const small = await page.$eval('#displays figure[data-run="4"] img', (img) => img.getBoundingClientRect().width);
  await page.click('#displays figure[data-run="4"] img');
  await ui.emit("baton://status", status);
  await page.waitForFunction(() => window.__fake.calls.filter((c) => c.command === "displays").length >= 2);
  await page.waitForFunction(() => document.querySelector('#displays figure[data-run="4"]').classList.contains("large"));
  const large = await page.$eval('#displays figure[data-run="4"] img', (img) => img.getBoundingClientRect().width);
  assert.ok(large > small * 1.5, `${small} → ${large}`);
  await page.click('#displays figure[data-run="4"] img');
  assert.equal(await page.$eval('#displays figure[data-run="4"]', (f) => f.classList.contains("large")), false);
  // Stop asks once more, then cancels that run as the person; the list read again meanwhile
  // (every few seconds, and at each change) keeps the question.
  const cancel = '#displays figure[data-run="7"] button';
  await page.click(cancel);
  assert.equal(await page.textContent(cancel), "Confirm cancel");
  const reads = (await ui.calls()).filter((c) => c.command === "displays").length;
  await ui.emit("baton://status", status);
  await page.waitForFunction((n) => window.__fake.calls.filter((c) => c.command === "displays").length > n, reads);
  await page.waitForTimeout(100);
  assert.equal(await page.textContent(cancel), "Confirm cancel");
  // Refused once: said, and the button can be pressed again.
  await page.evaluate(() => { window.__fake.replies.cancel_run = { error: "the host is stopping" }; });
  await page.click(cancel);
  await page.waitForFunction((sel) => !document.querySelector(sel).disabled, cancel);
  assert.equal(await page.textContent("#error"), "the host is stopping");
  await page.evaluate(() => { window.__fake.replies.cancel_run = null; });
  await page.click(cancel);
  await page.click(cancel);
  await page.waitForFunction(() => window.__fake.calls.filter((c) => c.command === "cancel_run").length === 2);
  assert.deepEqual((await ui.calls()).filter((c) => c.command === "cancel_run").map((c) => c.args),
    [{ id: 7, reason: null }, { id: 7, reason: null }]);
  // A display that ended goes from the page.
  await ui.reply("displays", [displays[0]]);
  await ui.emit("baton://status", status);
  await page.waitForFunction(() => document.querySelectorAll("#displays figure").length === 1);
  assert.deepEqual(errors, []);
});

test("without private displays their card stays out of the way", async (t) => {
  const { page, errors } = await dashboard(t, { displays: [] });
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "displays"));
  assert.equal(await page.isVisible("#displays-card"), false);
  assert.equal((await page.evaluate(() => window.__fake.calls)).some((c) => c.command === "display_picture"), false);
  assert.deepEqual(errors, []);
});

test("schedule entries show their next fire and run now; a scheduled run's log opens under it", async (t) => {
  const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
  const entry = (name, extra = {}) => ({
    name, cron: "0 2 * * *", command: ["./backup.sh"], missed: "catch-up", paused: false,
    created_at: new Date().toISOString(), handled: new Date().toISOString(), last_run: null,
    next_fire: inAnHour, ...extra,
  });
  const scheduled = run(7, "./backup.sh", "schedule:backup", {
    needs_desktop: false, state: "succeeded", started_at: new Date(Date.now() - 5000).toISOString(),
    finished_at: new Date().toISOString(), fire: { entry: "backup", at: new Date().toISOString(), stands_for: 3 },
  });
  const ui = await dashboard(t, {
    schedules: [entry("backup", { last_run: 7 }), entry("report", { paused: true, next_fire: null })],
    history: [scheduled, ...history()],
    run_log: "copied 12 files\n<b>done</b>\n",
    run_schedule: { run: run(8, "./backup.sh", "schedule:backup"), message: "running", version: 1 },
  });
  const { page, errors } = ui;
  await page.waitForSelector('#schedules li[data-schedule="backup"]');
  assert.equal(await page.isVisible("#schedules-card"), true);
  const backup = await page.textContent('#schedules li[data-schedule="backup"]');
  for (const fact of ["backup", "0 2 * * *", "next ", "(in 59m", "last run #7"]) {
    assert.ok(backup.includes(fact), `${fact} missing from ${backup}`);
  }
  assert.match(await page.textContent('#schedules li[data-schedule="report"]'), /paused/);
  await page.click('#schedules li[data-schedule="backup"] button:has-text("Run now")');
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "run_schedule"));
  assert.deepEqual((await ui.calls()).filter((c) => c.command === "run_schedule").map((c) => c.args), [{ name: "backup" }]);

  const row = '#history tbody tr[data-run="7"]';
  assert.match(await page.textContent(`${row} td.detail`), /stands for 3 fires/);
  assert.equal(await page.locator('#history tbody tr[data-run="0"] button.log').count(), 0, "only scheduled runs have a log");
  await page.click(`${row} button.log`);
  await page.waitForSelector('tr[data-log="7"] pre.log');
  assert.equal(await page.textContent('tr[data-log="7"] pre.log'), "copied 12 files\n<b>done</b>\n", "shown as text");
  assert.deepEqual((await ui.calls()).filter((c) => c.command === "run_log").map((c) => c.args), [{ id: 7 }]);
  await page.click(`${row} button.log`);
  assert.equal(await page.locator('tr[data-log="7"]').count(), 0, "a second click hides it");
  assert.deepEqual(errors, []);
});

test("without schedule entries their card stays out of the way", async (t) => {
  const { page } = await dashboard(t, { schedules: [] });
  await page.waitForFunction(() => window.__fake.calls.some((c) => c.command === "schedules"));
  assert.equal(await page.isHidden("#schedules-card"), true);
});
