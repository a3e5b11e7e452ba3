// The dashboard: who owns the desktop, who waits, what runs in parallel, and the history.
// Live through the host's events (no polling), but for the private displays' pictures, which
// are fetched a few times a second while shown; buttons are user requests from the dashboard.
"use strict";

const PAGE = 25;

const view = {
  snapshot: null,
  /** History paging: `before` ids of the pages before this one. */
  pages: [],
  before: null,
  lastPage: [],
  /** The private displays shown across the card, by run id. */
  enlarged: new Set(),
  /** The run a notification was about, when one opened the dashboard: shown highlighted. */
  focus: typeof window.__BATON_FOCUS === "number" ? window.__BATON_FOCUS : null,
};

const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = String(message);
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => (box.hidden = true), 8000);
}

/** Runs a user request; the page updates through the status event that follows. */
async function request(command, args) {
  try {
    return await bridge.invoke(command, args);
  } catch (error) {
    showError(error);
    return undefined;
  }
}

// ----- the desktop ------------------------------------------------------------------------

function render(snapshot) {
  view.snapshot = snapshot;
  const desktop = snapshot.desktop;
  const pill = $("state-pill");
  const waiting = desktop.awaiting_ok;
  pill.className = "pill " + (desktop.paused || desktop.holder_paused || waiting ? "paused" : desktop.holder ? "held" : "free");
  pill.textContent = desktop.holder_paused
    ? "You have the desktop"
    : desktop.paused
      ? "Hand-offs paused"
      : waiting
        ? "Waiting for your OK"
        : desktop.holder ? "Desktop in use" : "Desktop free";
  $("stop").disabled = !desktop.holder;
  $("pause").textContent = desktop.paused ? "Resume hand-offs" : "Pause hand-offs";

  renderHolder(desktop);
  renderQueue(desktop.queue);
  renderParallel(snapshot.running);
  renderResources(snapshot.resources || []);
  schedulesChanged();
  displaysChanged();
  highlight();
  timelineChanged();
}

/** Marks where the run a notification was about is shown now (queue, holder, history). */
function highlight() {
  for (const node of document.querySelectorAll(".focused")) node.classList.remove("focused");
  if (view.focus === null) return;
  const shown = [...document.querySelectorAll(`[data-run="${view.focus}"]`)];
  for (const node of shown) node.classList.add("focused");
  if (shown.length) shown[0].scrollIntoView({ block: "nearest" });
}

function renderHolder(desktop) {
  const box = $("holder");
  box.replaceChildren();
  const holder = desktop.holder;
  if (holder) box.dataset.run = String(holder.id);
  else delete box.dataset.run;
  if (!holder) {
    box.append(el("p", { class: "empty", text: "Free: nobody holds the desktop." }));
    if (desktop.awaiting_ok) {
      box.append(askBox(desktop.awaiting_ok));
    }
    if (desktop.paused && desktop.queue.length) {
      box.append(el("p", { class: "note", text: "Hand-offs are paused: the queue waits until you resume." }));
    }
    return;
  }
  box.append(
    el("p", { class: "title", text: holder.title }),
    el("dl", { class: "facts" },
      el("dt", { text: "Client" }), el("dd", { text: holder.client }),
      el("dt", { text: "For" }), el("dd", { class: "elapsed", "data-since": desktop.since, text: format.since(desktop.since) }),
      el("dt", { text: "Lease token" }), el("dd", { text: String(desktop.lease_token) }),
      el("dt", { text: "Run" }), el("dd", { text: `#${holder.id}` }),
    ),
  );
  if (desktop.holder_paused) {
    const giveBack = el("button", { type: "button", id: "give-back", text: "Give it back now" });
    giveBack.addEventListener("click", () => {
      giveBack.disabled = true;
      request("resume_holder");
    });
    box.append(el("p", { class: "note takeover" },
      "Paused while you use the computer: its input waits, and it goes on by itself once you stop. ",
      giveBack));
  }
  if (desktop.paused) {
    box.append(el("p", { class: "note", text: "Hand-offs are paused: when this run is done, nobody new gets the desktop until you resume." }));
  }
}

/** The question Baton asks before a run takes the desktop, with both answers. */
function askBox(run) {
  const allow = el("button", { type: "button", id: "allow", text: "Allow" });
  allow.addEventListener("click", () => {
    allow.disabled = true;
    request("allow_run", { id: run.id });
  });
  const refuse = cancelButton(run);
  refuse.id = "refuse";
  return el("div", { class: "note ask", "data-run": String(run.id) },
    el("p", { text: `'${run.title}' (${run.client}) wants the desktop and waits for your OK. Nobody else starts meanwhile.` }),
    el("span", { class: "row-actions" }, allow, refuse),
  );
}

function renderQueue(queue) {
  const list = $("queue");
  list.replaceChildren(...queue.map((run) => {
    const front = el("button", { type: "button", text: "Move to front", disabled: run.position === 1 });
    front.addEventListener("click", () => request("move_to_front", { id: run.id }));
    return el("li", { "data-run": String(run.id) },
      el("span", { class: "position", text: String(run.position) }),
      runLabel(run),
      el("span", { class: "elapsed muted", "data-since": run.created_at, text: `waiting ${format.since(run.created_at)}` }),
      el("span", { class: "row-actions" }, front, cancelButton(run)),
    );
  }));
  $("queue-empty").hidden = queue.length > 0;
  $("queue-count").textContent = queue.length ? String(queue.length) : "";
}

function renderParallel(running) {
  const list = $("parallel");
  list.replaceChildren(...running.map((run) =>
    el("li", { "data-run": String(run.id) },
      runLabel(run),
      el("span", { class: "elapsed muted", "data-since": run.started_at, text: `for ${format.since(run.started_at)}` }),
      el("span", { class: "row-actions" }, cancelButton(run)),
    )));
  $("parallel-empty").hidden = running.length > 0;
  $("parallel-count").textContent = running.length ? String(running.length) : "";
}

// ----- other resources --------------------------------------------------------------------

/** A card line per declared resource: its capacity, who holds it, who waits. */
function renderResources(resources) {
  $("resources-card").hidden = resources.length === 0;
  $("resources-count").textContent = resources.length ? String(resources.length) : "";
  $("resources").replaceChildren(...resources.map((resource) => {
    const holders = resource.holders.length
      ? resource.holders.map((held) => el("span", { class: "holding", "data-run": String(held.run.id) },
          runLabel(held.run),
          el("span", { class: "elapsed muted", "data-since": held.since, text: `for ${format.since(held.since)}` }),
          el("span", { class: "muted", text: `token ${held.lease_token}` })))
      : [el("span", { class: "muted", text: "free" })];
    const waiting = resource.queue.length
      ? `${resource.queue.length} waiting: ${resource.queue.map((r) => `'${r.title}'`).join(", ")}`
      : "nobody waiting";
    return el("li", { "data-resource": resource.name },
      el("span", { class: "resource-name", text: resource.name }),
      el("span", { class: "muted", text: `capacity ${resource.capacity}` }),
      el("span", { class: "holders" }, ...holders),
      el("span", { class: "muted queue-line", text: waiting }),
    );
  }));
}

// ----- schedules ----------------------------------------------------------------------------

let schedulesTimer = null;
/** Entries change with a commit, like everything else: read them again after a status, at most
 * 4 times a second. */
function schedulesChanged() {
  clearTimeout(schedulesTimer);
  schedulesTimer = setTimeout(loadSchedules, 250);
}

async function loadSchedules() {
  const entries = await bridge.invoke("schedules").catch(() => null);
  if (entries) renderSchedules(entries);
}

/** A card line per schedule entry: its expression, next fire, last run, and Run now. */
function renderSchedules(entries) {
  $("schedules-card").hidden = entries.length === 0;
  $("schedules-count").textContent = entries.length ? String(entries.length) : "";
  $("schedules").replaceChildren(...entries.map((entry) => {
    const next = entry.paused
      ? el("span", { class: "state paused", text: "paused" })
      : entry.next_fire
        ? el("span", { class: "next-fire", "data-until": entry.next_fire,
            text: `next ${format.when(entry.next_fire)} (${format.until(entry.next_fire)})` })
        : el("span", { class: "muted", text: "never fires again" });
    const run = el("button", { type: "button", text: "Run now" });
    run.addEventListener("click", async () => {
      run.disabled = true;
      await request("run_schedule", { name: entry.name });
      run.disabled = false;
    });
    return el("li", { "data-schedule": entry.name },
      el("span", { class: "resource-name", text: entry.name }),
      el("code", { class: "muted", text: entry.cron }),
      next,
      entry.last_run != null
        ? el("span", { class: "muted", "data-run": String(entry.last_run), text: `last run #${entry.last_run}` })
        : null,
      entry.problem ? el("span", { class: "problem", text: entry.problem }) : null,
      run,
    );
  }));
}

// ----- private displays -------------------------------------------------------------------

/** How often a shown display's picture is fetched: a few frames a second. */
const PICTURE_EVERY = 400;
/** How often the list of displays is read besides each status change (a display opens just
 * after its run is granted). */
const DISPLAYS_EVERY = 2000;
/** Run id → the object URL of its display's newest picture. */
const pictures = new Map();
let displaysShown = [];

/** The runs the page knows, by id, to name a display's run. */
function knownRuns() {
  const runs = new Map();
  const snapshot = view.snapshot;
  if (!snapshot) return runs;
  const desktop = snapshot.desktop;
  for (const run of [desktop.holder, ...desktop.queue, ...snapshot.running]) {
    if (run) runs.set(run.id, run);
  }
  return runs;
}

async function loadDisplays() {
  const displays = await bridge.invoke("displays").catch(() => null);
  if (displays) renderDisplays(displays);
}

let displaysTimer = null;
/** A change re-reads the displays, at most four times a second. */
function displaysChanged() {
  if (displaysTimer) return;
  displaysTimer = setTimeout(() => {
    displaysTimer = null;
    loadDisplays();
  }, 250);
}

/** The tile shown per run, with what it was drawn from: kept while that does not change. */
const tiles = new Map();

/**
 * A tile per private display: its live picture, its run, and a way to stop the run. The list
 * is read again every few seconds; a tile whose run and display are unchanged is kept as it is,
 * so that a Cancel the person armed (it asks once more) is still there for the second click.
 */
function renderDisplays(displays) {
  displaysShown = displays;
  $("displays-card").hidden = displays.length === 0;
  $("displays-count").textContent = displays.length ? String(displays.length) : "";
  const runs = knownRuns();
  const figures = displays.map((shown) => {
    const run = runs.get(shown.run) || { id: shown.run, title: `run #${shown.run}`, client: "" };
    const key = JSON.stringify([shown.display, run.title, run.client]);
    const kept = tiles.get(shown.run);
    if (kept && kept.key === key) return kept.figure;
    const figure = displayTile(shown, run);
    tiles.set(shown.run, { key, figure });
    return figure;
  });
  for (const id of [...tiles.keys()]) {
    if (!displays.some((shown) => shown.run === id)) tiles.delete(id);
  }
  const list = $("displays");
  const same = figures.length === list.children.length && figures.every((f, i) => list.children[i] === f);
  if (!same) list.replaceChildren(...figures);
  for (const [id, url] of pictures) {
    if (!displays.some((shown) => shown.run === id)) {
      URL.revokeObjectURL(url);
      pictures.delete(id);
    }
  }
}

/** One display's tile. */
function displayTile(shown, run) {
  const picture = el("img", {
    class: "picture", alt: `What '${run.title}' sees on its display ${shown.display}`,
    "data-picture": String(shown.run),
  });
  if (pictures.has(shown.run)) picture.src = pictures.get(shown.run);
  // A click shows it across the card, at a size its text can be read; another, back.
  picture.title = "Click to enlarge";
  picture.addEventListener("click", () => {
    const large = !view.enlarged.has(shown.run);
    if (large) view.enlarged.add(shown.run);
    else view.enlarged.delete(shown.run);
    picture.closest("figure").classList.toggle("large", large);
    picture.title = large ? "Click to make it small again" : "Click to enlarge";
  });
  const classes = view.enlarged.has(shown.run) ? "display large" : "display";
  return el("figure", { class: classes, "data-run": String(shown.run) },
    picture,
    el("figcaption", {},
      runLabel(run),
      el("span", { class: "muted", text: shown.display }),
      el("span", { class: "row-actions" }, cancelButton(run))));
}

/** Fetches each shown display's picture in turn, then waits, while the window is seen. */
async function refreshPictures() {
  if (!document.hidden) {
    for (const shown of displaysShown) {
      let bytes;
      try {
        bytes = await bridge.invoke("display_picture", { id: shown.run });
      } catch {
        continue; // ended meanwhile: the next list drops it
      }
      const url = URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
      const old = pictures.get(shown.run);
      pictures.set(shown.run, url);
      for (const img of document.querySelectorAll(`img[data-picture="${shown.run}"]`)) img.src = url;
      if (old) URL.revokeObjectURL(old);
    }
  }
  setTimeout(refreshPictures, PICTURE_EVERY);
}

// ----- the last hour ----------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
/** How far back the picture goes, the last hour unless the person zoomed in (kept). */
const ZOOMS = [5, 15, 60];
const ZOOM_KEY = "baton.timeline.minutes";
let timelineMinutes = ZOOMS.includes(Number(localStorage.getItem(ZOOM_KEY)))
  ? Number(localStorage.getItem(ZOOM_KEY))
  : 60;
const ROW = 18;
const LABEL = 130;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) if (child != null) node.append(child);
  return node;
}

/** Puts each span in the first row where it does not overlap the one before it. */
function pack(spans, now) {
  const rows = [];
  return spans.map((span) => {
    const from = Date.parse(span.from);
    const to = span.to ? Date.parse(span.to) : now;
    let row = rows.findIndex((end) => end <= from);
    if (row < 0) {
      row = rows.length;
      rows.push(0);
    }
    rows[row] = to;
    return { span, from, to, row };
  });
}

/** A run's colour: the same run keeps it on every lane, next runs differ. */
function hue(id) {
  return (id * 137) % 360;
}

/** One lane per resource, the desktop first: holds on top, waits below, marks on the line. */
function renderTimeline(lanes, now = Date.now()) {
  const box = $("timeline");
  const width = Math.max(480, box.clientWidth || 900);
  const start = now - timelineMinutes * 60_000;
  const right = width - 24;
  const x = (t) => LABEL + ((Math.max(t, start) - start) / (now - start)) * (right - LABEL);
  lanes = [...lanes].sort((a, b) =>
    (a.resource === "desktop" ? -1 : b.resource === "desktop" ? 1 : a.resource.localeCompare(b.resource)));
  const parts = [];
  let y = 18;
  // A tick at every round step, with the time, and "now" at the right.
  const step = ({ 5: 1, 15: 3, 60: 10 }[timelineMinutes] || 10) * 60_000;
  for (let t = Math.ceil(start / step) * step; t < now - step / 4; t += step) {
    const label = new Date(t).toTimeString().slice(0, 5);
    parts.push(svg("line", { x1: x(t), x2: x(t), y1: 12, y2: "100%", class: "tick" }),
      svg("text", { x: x(t), y: 10, class: "tick-label", "text-anchor": "middle" }, label));
  }
  parts.push(svg("line", { x1: x(now), x2: x(now), y1: 12, y2: "100%", class: "tick now" }),
    svg("text", { x: x(now), y: 10, class: "tick-label", "text-anchor": "end" }, "now"));
  for (const lane of lanes) {
    const held = pack(lane.spans.filter((s) => s.kind === "held"), now);
    const waited = pack(lane.spans.filter((s) => s.kind === "waited"), now);
    const heldRows = Math.max(1, ...held.map((p) => p.row + 1));
    const waitRows = waited.length ? Math.max(...waited.map((p) => p.row + 1)) : 0;
    const height = (heldRows + waitRows) * ROW + 10;
    const group = svg("g", { class: "lane", "data-resource": lane.resource });
    group.append(svg("text", { x: 0, y: y + ROW - 5, class: "lane-name" }, lane.resource),
      svg("line", { x1: LABEL, x2: right, y1: y + height - 4, y2: y + height - 4, class: "lane-rule" }));
    for (const { span, from, to, row } of held.concat(waited.map((p) => ({ ...p, row: p.row + heldRows })))) {
      const left = x(from);
      const w = Math.max(2, x(to) - left);
      const top = y + row * ROW;
      const minutes = format.duration(to - from);
      const verb = span.kind === "held" ? "held it" : "waited";
      // Colours as attributes: WebKitGTK does not read a custom property inside hsl().
      const h = hue(span.run.id);
      const colours = span.kind === "held"
        ? { fill: `hsl(${h}, 45%, 42%)` }
        : { fill: `hsla(${h}, 40%, 75%, 0.45)`, stroke: `hsl(${h}, 40%, 50%)`, "stroke-dasharray": "3 2" };
      const rect = svg("rect", {
        x: left, y: top + 2, width: w, height: ROW - 4, rx: 3,
        class: `span ${span.kind}`, "data-run": span.run.id, ...colours,
      }, svg("title", {}, `'${span.run.title}' (${span.run.client}) ${verb} ${minutes}`));
      group.append(rect);
      if (w > 48) {
        group.append(svg("text", { x: left + 4, y: top + ROW - 6, class: `span-label ${span.kind}` },
          span.run.title.length * 6.5 > w - 8 ? span.run.title.slice(0, Math.floor((w - 8) / 6.5)) + "…" : span.run.title));
      }
    }
    const glyph = { takeover: "▲", stop: "■", expired: "✕" };
    for (const mark of lane.marks) {
      const at = Date.parse(mark.at);
      group.append(svg("text", { x: x(at), y: y + 9, class: `mark ${mark.kind}`, "text-anchor": "middle" },
        glyph[mark.kind] || "•",
        svg("title", {}, `${mark.kind === "takeover" ? "You took over from" : mark.kind === "stop" ? "Stopped" : "Stopped answering:"} '${mark.run.title}' at ${format.when(mark.at)}`)));
    }
    parts.push(group);
    y += height;
  }
  box.replaceChildren(svg("svg", { width, height: y + 4, viewBox: `0 0 ${width} ${y + 4}` }, ...parts));
}

async function loadTimeline() {
  const lanes = await request("timeline", { minutes: timelineMinutes });
  if (lanes) renderTimeline(lanes);
}

/** Shows the last `minutes`, and keeps the choice. */
function zoom(minutes) {
  timelineMinutes = minutes;
  localStorage.setItem(ZOOM_KEY, String(minutes));
  $("timeline-heading").textContent = minutes === 60 ? "The last hour" : `The last ${minutes} minutes`;
  for (const button of document.querySelectorAll(".zoom button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.minutes) === minutes));
  }
  loadTimeline();
}

let timelineTimer = null;
/** A change redraws the picture, at most once a second. */
function timelineChanged() {
  if (timelineTimer) return;
  timelineTimer = setTimeout(() => {
    timelineTimer = null;
    loadTimeline();
  }, 1000);
}

function runLabel(run) {
  return el("span", { class: "run" },
    el("span", { class: "title", text: run.title }),
    el("span", { class: "client", text: run.client }),
  );
}

/** Cancel asks once more before it acts: the button turns into "Confirm cancel" for 4 s. */
function cancelButton(run) {
  const button = el("button", { type: "button", class: "danger subtle", text: "Cancel" });
  button.addEventListener("click", async () => {
    if (!secondClick(button, "Confirm cancel", 4000)) return;
    button.disabled = true;
    try {
      await bridge.invoke("cancel_run", { id: run.id, reason: null });
    } catch (error) {
      // Refused: said, and the button is back (a display's tile is kept, not redrawn).
      showError(error);
      button.disabled = false;
    }
  });
  return button;
}

// ----- history ----------------------------------------------------------------------------

async function loadHistory() {
  const runs = await request("history", {
    runState: $("filter-state").value || null,
    client: $("filter-client").value.trim() || null,
    before: view.before,
    limit: PAGE,
  });
  if (!runs) return;
  view.lastPage = runs;
  const body = $("history").tBodies[0];
  body.replaceChildren(...runs.map(historyRow));
  highlight();
  $("history-empty").hidden = runs.length > 0;
  $("newer").disabled = view.pages.length === 0;
  $("older").disabled = runs.length < PAGE;
}

function historyRow(run) {
  const took = run.started_at
    ? run.finished_at
      ? format.duration(Date.parse(run.finished_at) - Date.parse(run.started_at))
      : `${format.since(run.started_at)}+`
    : "–";
  let detail = run.outcome || "";
  if (run.cancelled_by) {
    detail = `by ${run.cancelled_by}` + (run.reason ? `: ${run.reason}` : "");
  } else if (run.reason) {
    detail = run.reason;
  }
  if (run.fire && run.fire.stands_for > 1) {
    detail = `stands for ${run.fire.stands_for} fires` + (detail ? `; ${detail}` : "");
  }
  const cell = el("td", { class: "detail", text: detail });
  if (run.fire) cell.append(" ", logButton(run));
  return el("tr", { "data-run": String(run.id) },
    el("td", { class: "muted", text: String(run.id) }),
    el("td", {}, runLabel(run)),
    el("td", {}, el("span", { class: `state ${run.state}`, text: run.state })),
    el("td", { class: "muted", text: format.when(run.created_at) }),
    el("td", { class: "muted", text: took }),
    cell,
  );
}

/** Shows (and hides) what a scheduled run's command printed, under its row. */
function logButton(run) {
  const button = el("button", { type: "button", class: "log", text: "Log" });
  button.addEventListener("click", async () => {
    const row = button.closest("tr");
    const shown = row.nextElementSibling;
    if (shown && shown.classList.contains("log-row")) {
      shown.remove();
      button.textContent = "Log";
      return;
    }
    const text = await request("run_log", { id: run.id });
    if (text === undefined) return;
    const pre = el("pre", { class: "log", text: text || "(the command printed nothing)" });
    row.after(el("tr", { class: "log-row", "data-log": String(run.id) }, el("td", { colSpan: 6 }, pre)));
    button.textContent = "Hide log";
  });
  return button;
}

let historyTimer = null;
/** New events refresh the first page (not older ones the user is reading), at most 4 times a second. */
function historyChanged() {
  if (view.before !== null) return;
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, 250);
}

// ----- wiring -----------------------------------------------------------------------------

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".next-fire[data-until]")) {
    const at = node.getAttribute("data-until");
    node.textContent = `next ${format.when(at)} (${format.until(at, now)})`;
  }
  for (const node of document.querySelectorAll(".elapsed[data-since]")) {
    const since = node.getAttribute("data-since");
    if (!since || since === "null") continue;
    const text = format.since(since, now);
    node.textContent = node.textContent.startsWith("waiting ")
      ? `waiting ${text}`
      : node.textContent.startsWith("for ") ? `for ${text}` : text;
  }
}

async function start() {
  // Stop names the holder this page shows, and waits for the next status before it can be
  // pressed again: a double click must not stop the run the desktop was just handed to.
  $("stop").addEventListener("click", () => {
    const holder = view.snapshot && view.snapshot.desktop.holder;
    if (!holder) return;
    $("stop").disabled = true;
    request("stop_holder", { runId: holder.id });
  });
  $("pause").addEventListener("click", () =>
    request("set_paused", { paused: !(view.snapshot && view.snapshot.desktop.paused) }));
  $("older").addEventListener("click", () => {
    const last = view.lastPage[view.lastPage.length - 1];
    if (!last) return;
    view.pages.push(view.before);
    view.before = last.id;
    loadHistory();
  });
  $("newer").addEventListener("click", () => {
    view.before = view.pages.pop() ?? null;
    loadHistory();
  });
  const refilter = () => {
    view.pages = [];
    view.before = null;
    loadHistory();
  };
  $("filter-state").addEventListener("change", refilter);
  $("filter-client").addEventListener("input", () => {
    clearTimeout(refilter.timer);
    refilter.timer = setTimeout(refilter, 300);
  });
  $("history-filter").addEventListener("submit", (e) => e.preventDefault());

  await bridge.listen("baton://status", render);
  await bridge.listen("baton://event", historyChanged);
  await bridge.listen("baton://focus", (id) => {
    view.focus = id;
    highlight();
  });
  const snapshot = await request("status");
  if (snapshot) render(snapshot);
  for (const button of document.querySelectorAll(".zoom button")) {
    button.addEventListener("click", () => zoom(Number(button.dataset.minutes)));
  }
  // + and − zoom the picture in and out, where no field takes the key.
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    const at = ZOOMS.indexOf(timelineMinutes);
    if (event.key === "+" || event.key === "=") zoom(ZOOMS[Math.max(0, at - 1)]);
    if (event.key === "-" || event.key === "−") zoom(ZOOMS[Math.min(ZOOMS.length - 1, at + 1)]);
  });
  await loadHistory();
  zoom(timelineMinutes);
  setInterval(tick, 1000);
  setInterval(loadDisplays, DISPLAYS_EVERY);
  refreshPictures();
  // The window moves on: redraw the last hour now and then, changes or not.
  setInterval(loadTimeline, 30_000);
}

start().catch((error) => showError(`The dashboard cannot reach Baton: ${error}`));
