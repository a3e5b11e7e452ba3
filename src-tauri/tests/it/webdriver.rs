//! The real dashboard, driven over WebDriver (tauri-driver + WebKitWebDriver) on a private
//! desktop: it shows the holder's title, cancels a queued run, shows a private display live,
//! enlarges it and stops its run, and leaves screenshots in `target/tmp/artifacts/`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use base64::Engine;
use serde_json::{Value, json};

/// The W3C element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The longest one WebDriver request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

struct Driver {
    process: Child,
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Driver {
    async fn start(desk: &Desktop, args: &[&str]) -> Driver {
        let port = free_port();
        let native = free_port();
        let process = desk
            .env(&mut Command::new(tauri_driver()))
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // tauri-driver drops requests from clients that close the connection; reqwest keeps it.
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": workspace_bin("baton-tray"),
            "args": args,
        }}}});
        let start = Instant::now();
        let session = loop {
            match http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                Ok(res) => {
                    let body: Value = res.json().await.unwrap();
                    break body["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no session: {body}"))
                        .to_string();
                }
                Err(_) if start.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("tauri-driver did not answer: {e}"),
            }
        };
        Driver {
            process,
            http,
            base,
            session,
        }
    }

    /// One WebDriver request. Within a deadline: a request the browser never answers fails
    /// the test, naming itself, instead of holding up the whole suite.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let what = format!("{method} {path}");
        let mut req = self.http.request(method, url).timeout(CALL_TIMEOUT);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {what} failed: {e}"));
        answer.json::<Value>().await.unwrap()["value"].take()
    }

    /// Waits for an element matching `css` whose text satisfies `pred`.
    async fn wait_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(element) = self.find(css).await {
                let text = self
                    .call(
                        reqwest::Method::GET,
                        &format!("/element/{element}/text"),
                        None,
                    )
                    .await;
                if let Some(text) = text.as_str().filter(|t| pred(t)) {
                    return text.to_string();
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "{css} never showed the expected text"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().map(str::to_string)
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await.unwrap_or_else(|| panic!("no {css}"));
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Replaces the value of the input matching `css` with `text`, as typing leaves it (an
    /// `input` event). Set by the page, not with WebDriver's synthesized keys: on a bare Xvfb
    /// (no window manager gives the window the keyboard focus) WebKitWebDriver's key events
    /// once never finished, in CI under load, leaving the field empty and the test hung.
    async fn fill(&self, css: &str, text: &str) {
        let filled = self
            .execute(
                "const field = document.querySelector(arguments[0]);\
                 if (!field) return false;\
                 field.focus();\
                 field.value = arguments[1];\
                 field.dispatchEvent(new Event('input', { bubbles: true }));\
                 return true;",
                json!([css, text]),
            )
            .await;
        assert_eq!(filled, json!(true), "no {css}");
    }

    /// Runs `script` (a function body) in the page with `args`, and returns what it returns.
    async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script` (as for [`Driver::execute`]) until what it returns satisfies `done`.
    #[cfg(target_os = "linux")]
    async fn wait_page(
        &self,
        what: &str,
        script: &str,
        args: Value,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let answer = self.execute(script, args.clone()).await;
            if done(&answer) {
                return answer;
            }
            assert!(start.elapsed() < WAIT, "{what} never came: {answer}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `body` (the body of an async function that receives `done`) in the page.
    async fn execute_async(&self, body: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": body, "args": []})),
        )
        .await
    }

    async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    async fn quit(mut self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tauri_driver() -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    let installed = format!("{home}/.cargo/bin/tauri-driver");
    if std::path::Path::new(&installed).exists() {
        installed
    } else {
        "tauri-driver".into()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_holder_and_cancels_a_queued_run() {
    let desk = Desktop::start();
    let driver = Driver::start(&desk, &["--dashboard"]).await;
    // The app is up once the page shows the free desktop.
    driver
        .wait_text("#state-pill", |t| t == "Desktop free")
        .await;

    let t = desk.scratch.path();
    let mut a = desk.hold("a", "log in to the bank", &["-c", "claude-code"]);
    wait_file(&t.join("a.id"), WAIT);
    let mut b = desk.spawn_baton(&[
        "run",
        "-d",
        "-t",
        "fill the expense form",
        "-c",
        "codex",
        "--",
        "true",
    ]);
    b.stderr.wait_for("queued behind", WAIT);

    let title = driver.wait_text("#holder .title", |t| !t.is_empty()).await;
    assert_eq!(title, "log in to the bank");
    driver
        .wait_text("#queue li .title", |t| t == "fill the expense form")
        .await;
    // WebKit paints a moment after the DOM changes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let shot = driver.screenshot("dashboard.png").await;
    eprintln!("screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // The dashboard's capability does not reach the settings' commands.
    let refused = driver
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             window.__TAURI__.core.invoke('regenerate_token')\
               .then(() => done('allowed'), (e) => done('refused: ' + e));",
        )
        .await;
    let refused = refused.as_str().unwrap_or_default().to_string();
    assert!(refused.starts_with("refused: "), "{refused}");
    assert!(
        refused.contains("regenerate_token") && refused.contains("not allowed"),
        "{refused}"
    );

    // Cancel asks once more, then acts.
    driver.click("#queue li button.danger").await;
    driver.click("#queue li button.danger").await;
    assert_eq!(exit_of(&mut b).code(), Some(130));
    driver
        .wait_text("#queue-empty", |t| t.contains("Nobody"))
        .await;
    let history = desk.history();
    let cancelled = history
        .iter()
        .find(|r| r["title"] == "fill the expense form")
        .unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], "user:dashboard");

    std::fs::write(t.join("a.go"), "").unwrap();
    assert_eq!(exit_of(&mut a).code(), Some(0));
    driver
        .wait_text("#state-pill", |t| t == "Desktop free")
        .await;
    driver.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_hotkey_from_the_settings_works_at_once_and_the_old_one_no_longer() {
    let desk = Desktop::start();
    let driver = Driver::start(&desk, &["--settings"]).await;
    driver
        .wait_text("#hotkey-current", |t| t == "Ctrl+Alt+Shift+S")
        .await;
    driver.wait_text("#hotkey-state", |t| t == "active").await;
    desk.wait_menu("Stop desktop holder (Ctrl+Alt+Shift+S)");

    driver.fill("#hotkey-text", "Ctrl+Alt+Shift+K").await;
    driver.click("#hotkey-form button[type=submit]").await;
    driver
        .wait_text("#hotkey-current", |t| t == "Ctrl+Alt+Shift+K")
        .await;
    desk.wait_menu("Stop desktop holder (Ctrl+Alt+Shift+K)");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let shot = driver.screenshot("settings.png").await;
    eprintln!("screenshot: {}", shot.display());

    let t = desk.scratch.path();
    let mut a = desk.hold("a", "a", &[]);
    wait_file(&t.join("a.id"), WAIT);
    // The old hotkey is gone...
    desk.key("ctrl+alt+shift+s");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(a.is_running(), "the old hotkey still stops the holder");
    // ... and the new one works, without a restart.
    desk.key("ctrl+alt+shift+k");
    assert_eq!(exit_of(&mut a).code(), Some(130));
    let history = desk.history();
    assert_eq!(history[0]["cancelled_by"], "user:hotkey");

    // A bad one is refused next to the field, and the new one stays.
    driver.fill("#hotkey-text", "Ctrl+Banana").await;
    driver.click("#hotkey-form button[type=submit]").await;
    let error = driver.wait_text("#hotkey-error", |t| !t.is_empty()).await;
    assert!(
        error.contains("is not a hotkey Baton understands"),
        "{error}"
    );
    assert_eq!(
        driver.wait_text("#hotkey-current", |_| true).await,
        "Ctrl+Alt+Shift+K"
    );

    // Start at login writes the desktop's autostart entry, and removes it again.
    let autostart = desk.path("home/.config/autostart");
    let entries = || {
        std::fs::read_dir(&autostart)
            .map(|d| d.flatten().count())
            .unwrap_or(0)
    };
    assert_eq!(entries(), 0);
    driver.click("#autostart").await;
    wait_until("the autostart entry", || entries() == 1);
    driver.click("#autostart").await;
    wait_until("the autostart entry to go", || entries() == 0);
    driver.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_added_in_the_settings_fires_through_the_queue_and_is_paused_there() {
    let desk = Desktop::start();
    let driver = Driver::start(&desk, &["--settings"]).await;
    driver
        .wait_text("#hotkey-current", |t| t == "Ctrl+Alt+Shift+S")
        .await;

    // A bad expression is the host's to refuse, beside the form; nothing is kept.
    driver.fill("#schedule-name", "bad").await;
    driver.fill("#schedule-cron", "0 25 * * *").await;
    driver.fill("#schedule-command", "true").await;
    driver.click("#schedule-submit").await;
    let error = driver.wait_text("#schedule-error", |t| !t.is_empty()).await;
    assert!(
        error.contains("the hour field's '25' is not valid"),
        "{error}"
    );

    driver.fill("#schedule-name", "tick").await;
    driver.fill("#schedule-cron", "* * * * * *").await;
    driver
        .fill("#schedule-command", "sh -c 'echo tick from $BATON_RUN_ID'")
        .await;
    driver.click("#schedule-submit").await;
    let next = driver
        .wait_text("#schedule-list li[data-schedule='tick'] .next-fire", |t| {
            t.starts_with("next ")
        })
        .await;
    eprintln!("the settings say: {next}");
    let out = desk.baton_output(&["schedule", "list", "--json"]);
    let entries: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["tick"], "the refused entry was not kept");
    assert_eq!(
        entries[0]["command"],
        json!(["sh", "-c", "echo tick from $BATON_RUN_ID"]),
        "the line is split as a shell would"
    );

    // It fires through the app's own host, as a run of its own with its output kept.
    desk.a_tick_ran("tick");

    // Pause, the second button of its row, is the settings' too.
    driver
        .click("#schedule-list li[data-schedule='tick'] button:nth-of-type(2)")
        .await;
    driver
        .wait_text("#schedule-list li[data-schedule='tick'] .when", |t| {
            t == "paused"
        })
        .await;
    let out = desk.baton_output(&["schedule", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.starts_with("tick: '* * * * * *', paused"),
        "{listed}"
    );
    driver.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_entries_runs_one_now_and_opens_its_log() {
    let desk = Desktop::start();
    let driver = Driver::start(&desk, &["--dashboard"]).await;
    driver
        .wait_text("#state-pill", |t| t == "Desktop free")
        .await;
    let out = desk.baton_output(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--",
        "sh",
        "-c",
        "echo tick from $BATON_RUN_ID",
    ]);
    assert!(out.status.success(), "{}", stderr_text(&out));
    let line = driver
        .wait_text("#schedules li[data-schedule='nightly']", |t| {
            t.contains("next ")
        })
        .await;
    assert!(line.contains("0 3 * * *"), "{line}");

    driver
        .click("#schedules li[data-schedule='nightly'] button")
        .await;
    desk.a_tick_ran("nightly");
    let run = desk
        .history()
        .into_iter()
        .find(|r| r["client"] == "schedule:nightly")
        .unwrap();
    let id = run["id"].as_i64().unwrap();
    assert_eq!(run["fire"], json!({"entry": "nightly", "stands_for": 0}));
    // Its row in the history opens what its command printed.
    let row = format!("#history tr[data-run='{id}']");
    driver
        .wait_text(&format!("{row} td.detail"), |t| t.contains("Log"))
        .await;
    driver.click(&format!("{row} button.log")).await;
    let log = driver
        .wait_text(&format!("tr[data-log='{id}'] pre.log"), |t| !t.is_empty())
        .await;
    assert_eq!(log, format!("tick from {id}"));
    driver.quit().await;
}

/// What the page shows of the picture `arguments[0]`: its source, the size of the image it holds (0
/// until one is loaded) and the width it is drawn at.
#[cfg(target_os = "linux")]
const PICTURE: &str = "const img = document.querySelector(arguments[0]);\
     if (!img) return null;\
     return { src: img.src, width: img.naturalWidth, height: img.naturalHeight,\
              drawn: img.getBoundingClientRect().width,\
              large: img.closest('figure').classList.contains('large') };";

/// Private displays are Linux's (an Xvfb per run).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_a_private_display_live_enlarges_it_and_stops_its_run() {
    let desk = Desktop::start();
    let driver = Driver::start(&desk, &["--dashboard"]).await;
    driver
        .wait_text("#state-pill", |t| t == "Desktop free")
        .await;
    let t = desk.scratch.path();
    let script = hold_script(t, "p");
    let mut p = desk.spawn_baton(&[
        "run",
        "--display",
        "private",
        "-t",
        "fill the form",
        "-c",
        "codex",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    wait_file(&t.join("p.id"), WAIT);
    let id = std::fs::read_to_string(t.join("p.id")).unwrap();
    let figure = format!("#displays figure[data-run=\"{}\"]", id.trim());
    let picture = format!("{figure} img");
    driver
        .wait_text(&format!("{figure} figcaption"), |t| {
            t.contains("fill the form")
        })
        .await;

    // The picture is the display's whole screen, and it is live: a new one comes in turn.
    let first = driver
        .wait_page("the display's picture", PICTURE, json!([picture]), |p| {
            p["width"].as_u64().is_some_and(|w| w > 0)
        })
        .await;
    let (width, height) = baton_platform::private_display::SIZE;
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(u64::from(width)), Some(u64::from(height))),
        "{first}"
    );
    assert_eq!(first["large"], json!(false));
    let src = first["src"].clone();
    driver
        .wait_page("a newer picture", PICTURE, json!([picture]), |p| {
            p["src"] != src
        })
        .await;

    // A click shows it across the card; another, back at its size.
    driver.click(&picture).await;
    let large = driver.execute(PICTURE, json!([picture])).await;
    assert_eq!(large["large"], json!(true), "{large}");
    assert!(
        large["drawn"].as_f64() > first["drawn"].as_f64(),
        "enlarged: {large}, before: {first}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let shot = driver.screenshot("dashboard-display.png").await;
    eprintln!("screenshot: {}", shot.display());
    driver.click(&picture).await;
    let small = driver.execute(PICTURE, json!([picture])).await;
    assert_eq!(small["large"], json!(false), "{small}");
    assert_eq!(small["drawn"], first["drawn"], "{small}");

    // Stop asks once more, then ends the run, and its display with it.
    driver.click(&format!("{figure} button.danger")).await;
    driver.click(&format!("{figure} button.danger")).await;
    assert_eq!(exit_of(&mut p).code(), Some(130));
    driver
        .wait_page(
            "the card to go",
            "return document.getElementById('displays-card').hidden;",
            json!([]),
            |hidden| *hidden == json!(true),
        )
        .await;
    let history = desk.history();
    let stopped = history
        .iter()
        .find(|r| r["title"] == "fill the form")
        .unwrap();
    assert_eq!(stopped["cancelled_by"], "user:dashboard");
    driver.quit().await;
}
