//! The input gateway: Baton drives the mouse and keyboard itself, for the desktop holder only
//! (DESIGN rule 8).
//!
//! A batch of actions is validated as a whole before anything runs (bad input changes nothing).
//! Then one OS thread, the only one that sends input, executes it in order, and before *every*
//! action checks the published status: the run must still hold the lease, with the token it
//! presented, and must not be paused by the person at the computer. A cancel acknowledged in
//! the middle of a batch therefore stops it before its next action.
//!
//! The input itself goes through [`InputDriver`]: enigo on a real display, a recording fake in
//! tests.

use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::error::{Error, Result};
use crate::model::{RunId, Snapshot};

/// Bounds on a batch; beyond them it is refused as a whole.
pub mod limits {
    use std::time::Duration;

    /// Most actions in one batch.
    pub const ACTIONS: usize = 200;
    /// Longest text of one `type` action, in characters.
    pub const TEXT_CHARS: usize = 2000;
    /// Most clicks in one `click`.
    pub const CLICKS: u8 = 3;
    /// Largest scroll step on either axis.
    pub const SCROLL: i32 = 50;
    /// Longest single `wait`.
    pub const WAIT: Duration = Duration::from_secs(5);
    /// Longest total waiting in one batch.
    pub const TOTAL_WAIT: Duration = Duration::from_secs(30);
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Button {
    /// The primary button.
    #[default]
    Left,
    /// The secondary button.
    Right,
    /// The wheel button.
    Middle,
}

/// One action, as clients send it: `{"kind": "move", "x": 10, "y": 20}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Action {
    /// Moves the pointer to (x, y), or by (x, y) with `relative`.
    Move {
        /// Column, or horizontal offset.
        x: i32,
        /// Row, or vertical offset.
        y: i32,
        /// Move by, rather than to.
        #[serde(default)]
        relative: bool,
    },
    /// Clicks a button `count` times (1–3).
    Click {
        /// Which button (default left).
        #[serde(default)]
        button: Button,
        /// How many clicks (default 1).
        #[serde(default = "one")]
        count: u8,
    },
    /// Presses a button and keeps it down.
    Down {
        /// Which button.
        #[serde(default)]
        button: Button,
    },
    /// Lets a button go.
    Up {
        /// Which button.
        #[serde(default)]
        button: Button,
    },
    /// Types text.
    Type {
        /// The text.
        text: String,
    },
    /// Presses a key combination: `ctrl+l`, `Return`, `alt+Tab`, `ctrl+shift+t`.
    Key {
        /// The combination.
        combo: String,
    },
    /// Scrolls: positive `dy` down, positive `dx` right, in wheel steps.
    Scroll {
        /// Horizontal steps.
        #[serde(default)]
        dx: i32,
        /// Vertical steps.
        #[serde(default)]
        dy: i32,
    },
    /// Waits, so that the application under the pointer can catch up (at most 5 s).
    Wait {
        /// Milliseconds.
        ms: u64,
    },
}

fn one() -> u8 {
    1
}

/// A key the driver can press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character key.
    Char(char),
    /// A named key (Return, Tab, F5, Control, …).
    Named(NamedKey),
}

/// The named keys Baton understands.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKey {
    Control,
    Alt,
    Shift,
    Super,
    Return,
    Tab,
    Escape,
    Space,
    Backspace,
    Delete,
    Home,
    End,
    PageUp,
    PageDown,
    Up,
    Down,
    Left,
    Right,
    CapsLock,
    F(u8),
}

/// A parsed key combination: modifiers held while the key is pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combo {
    /// Held, in order.
    pub modifiers: Vec<NamedKey>,
    /// Pressed.
    pub key: Key,
}

/// A validated action, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// To (x, y).
    MoveTo(i32, i32),
    /// By (dx, dy).
    MoveBy(i32, i32),
    /// A button, n times.
    Click(Button, u8),
    /// A button down.
    Down(Button),
    /// A button up.
    Up(Button),
    /// Text.
    Type(String),
    /// A combination.
    Key(Combo),
    /// Wheel steps (dx, dy).
    Scroll(i32, i32),
    /// A pause.
    Wait(Duration),
}

/// What a driver does: the only place input reaches the display.
pub trait InputDriver: Send {
    /// The main screen's size.
    fn screen(&mut self) -> std::result::Result<(i32, i32), String>;
    /// Where the pointer is.
    fn pointer(&mut self) -> std::result::Result<(i32, i32), String>;
    /// Sends one step (never a `Wait`: the gateway waits itself).
    fn perform(&mut self, step: &Step) -> std::result::Result<(), String>;
}

/// Checks and parses a whole batch against a screen of `screen` pixels.
pub fn validate(actions: &[Action], screen: (i32, i32)) -> Result<Vec<Step>> {
    let invalid = |index: usize, why: String| {
        Error::Invalid(format!(
            "action {} of {}: {why}; nothing ran",
            index + 1,
            actions.len()
        ))
    };
    if actions.is_empty() {
        return Err(Error::Invalid(
            "the batch is empty: send at least one action".into(),
        ));
    }
    if actions.len() > limits::ACTIONS {
        return Err(Error::Invalid(format!(
            "a batch has at most {} actions, this one {}; nothing ran",
            limits::ACTIONS,
            actions.len()
        )));
    }
    let (width, height) = screen;
    let mut waited = Duration::ZERO;
    let mut steps = Vec::with_capacity(actions.len());
    for (index, action) in actions.iter().enumerate() {
        let step = match action {
            Action::Move {
                x,
                y,
                relative: false,
            } => {
                if !(0..width).contains(x) || !(0..height).contains(y) {
                    return Err(invalid(
                        index,
                        format!("({x}, {y}) is off the screen, which is {width}x{height}"),
                    ));
                }
                Step::MoveTo(*x, *y)
            }
            Action::Move {
                x,
                y,
                relative: true,
            } => {
                if x.abs() >= width || y.abs() >= height {
                    return Err(invalid(
                        index,
                        format!("a move by ({x}, {y}) leaves the {width}x{height} screen"),
                    ));
                }
                Step::MoveBy(*x, *y)
            }
            Action::Click { button, count } => {
                if !(1..=limits::CLICKS).contains(count) {
                    return Err(invalid(
                        index,
                        format!("a click counts 1 to {} times, not {count}", limits::CLICKS),
                    ));
                }
                Step::Click(*button, *count)
            }
            Action::Down { button } => Step::Down(*button),
            Action::Up { button } => Step::Up(*button),
            Action::Type { text } => {
                if text.is_empty() {
                    return Err(invalid(index, "there is no text to type".into()));
                }
                if text.chars().count() > limits::TEXT_CHARS {
                    return Err(invalid(
                        index,
                        format!("text is at most {} characters", limits::TEXT_CHARS),
                    ));
                }
                if text.contains('\0') {
                    return Err(invalid(index, "text cannot contain NUL characters".into()));
                }
                Step::Type(text.clone())
            }
            Action::Key { combo } => Step::Key(parse_combo(combo).map_err(|e| invalid(index, e))?),
            Action::Scroll { dx, dy } => {
                if (*dx, *dy) == (0, 0) {
                    return Err(invalid(index, "a scroll needs dx or dy".into()));
                }
                if dx.abs() > limits::SCROLL || dy.abs() > limits::SCROLL {
                    return Err(invalid(
                        index,
                        format!("a scroll is at most {} steps each way", limits::SCROLL),
                    ));
                }
                Step::Scroll(*dx, *dy)
            }
            Action::Wait { ms } => {
                let wait = Duration::from_millis(*ms);
                if wait > limits::WAIT {
                    return Err(invalid(
                        index,
                        format!("a wait is at most {} ms", limits::WAIT.as_millis()),
                    ));
                }
                waited += wait;
                if waited > limits::TOTAL_WAIT {
                    return Err(invalid(
                        index,
                        format!(
                            "a batch waits at most {} s in all",
                            limits::TOTAL_WAIT.as_secs()
                        ),
                    ));
                }
                Step::Wait(wait)
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// Parses `ctrl+l`, `Return`, `alt+Tab`, `ctrl+shift+t`, `F5`.
pub fn parse_combo(text: &str) -> std::result::Result<Combo, String> {
    let parts: Vec<&str> = text.split('+').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "'{text}' is not a key combination: write keys joined by '+', like ctrl+l or alt+Tab"
        ));
    }
    let (key, modifiers) = parts
        .split_last()
        .ok_or_else(|| "the key is empty".to_string())?;
    let modifiers = modifiers
        .iter()
        .map(|m| match named(m) {
            Some(k @ (NamedKey::Control | NamedKey::Alt | NamedKey::Shift | NamedKey::Super)) => {
                Ok(k)
            }
            _ => Err(format!(
                "'{m}' in '{text}' is not a modifier: use ctrl, alt, shift or super"
            )),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut chars = key.chars();
    let key = match (chars.next(), chars.next()) {
        (Some(c), None) if !c.is_control() => Key::Char(c.to_ascii_lowercase()),
        _ => Key::Named(named(key).ok_or_else(|| {
            format!(
                "unknown key '{key}' in '{text}': use a character, or Return, Tab, Escape, Space, Backspace, Delete, Home, End, PageUp, PageDown, Up, Down, Left, Right, CapsLock, F1–F24, ctrl, alt, shift, super"
            )
        })?),
    };
    Ok(Combo { modifiers, key })
}

fn named(name: &str) -> Option<NamedKey> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "ctrl" | "control" => NamedKey::Control,
        "alt" | "option" => NamedKey::Alt,
        "shift" => NamedKey::Shift,
        "super" | "meta" | "win" | "cmd" | "command" => NamedKey::Super,
        "return" | "enter" => NamedKey::Return,
        "tab" => NamedKey::Tab,
        "escape" | "esc" => NamedKey::Escape,
        "space" => NamedKey::Space,
        "backspace" => NamedKey::Backspace,
        "delete" | "del" => NamedKey::Delete,
        "home" => NamedKey::Home,
        "end" => NamedKey::End,
        "pageup" | "page_up" | "prior" => NamedKey::PageUp,
        "pagedown" | "page_down" | "next" => NamedKey::PageDown,
        "up" => NamedKey::Up,
        "down" => NamedKey::Down,
        "left" => NamedKey::Left,
        "right" => NamedKey::Right,
        "capslock" | "caps_lock" => NamedKey::CapsLock,
        f if f.len() >= 2 && f.starts_with('f') => {
            let n: u8 = f[1..].parse().ok()?;
            if !(1..=24).contains(&n) {
                return None;
            }
            NamedKey::F(n)
        }
        _ => return None,
    })
}

/// Why the gateway stopped before an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The run holds the lease, but under a newer token than it presented.
    StaleToken {
        /// The token in force.
        current: u64,
    },
    /// The person at the computer took over: the holder is paused.
    UserActive,
    /// The run does not hold the desktop (any more): the caller finds out why.
    NotHolder,
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How many actions ran, from the first.
    pub ran: usize,
    /// Why it stopped early, if it did.
    pub stopped: Option<Stop>,
}

enum Job {
    Batch {
        run: RunId,
        lease_token: u64,
        steps: Vec<Step>,
        reply: oneshot::Sender<Result<Outcome>>,
    },
    Screen(oneshot::Sender<Result<(i32, i32)>>),
    Pointer(oneshot::Sender<Result<(i32, i32)>>),
}

/// The door to the input thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    jobs: Option<std_mpsc::Sender<Job>>,
    /// Why there is no input thread (no display), when there is none.
    unavailable: Option<String>,
    /// When the gateway last sent input, for telling Baton's input from a person's.
    last_input: Arc<Mutex<Option<Instant>>>,
}

impl Gateway {
    /// Starts the input thread with the driver `connect` makes there (input libraries tie
    /// themselves to the thread that opened the display). If it fails, every request is
    /// answered with [`Error::NoDisplay`] and the reason.
    pub fn spawn<F>(connect: F, status: watch::Receiver<Arc<Snapshot>>) -> Gateway
    where
        F: FnOnce() -> std::result::Result<Box<dyn InputDriver>, String> + Send + 'static,
    {
        let (jobs, incoming) = std_mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let last_input = Arc::new(Mutex::new(None));
        let last = last_input.clone();
        let spawned = std::thread::Builder::new()
            .name("baton-input".into())
            .spawn(move || match connect() {
                Ok(driver) => {
                    let _ = ready_tx.send(Ok(()));
                    serve(driver, &incoming, &status, &last);
                }
                Err(why) => {
                    let _ = ready_tx.send(Err(why));
                }
            });
        let outcome = match spawned {
            Ok(_) => ready_rx
                .recv()
                .unwrap_or_else(|_| Err("the input thread ended at start".into())),
            Err(e) => Err(format!("cannot start the input thread: {e}")),
        };
        match outcome {
            Ok(()) => Gateway {
                jobs: Some(jobs),
                unavailable: None,
                last_input,
            },
            Err(why) => {
                tracing::info!(reason = %why, "no input gateway: input requests are answered with no_display");
                Gateway::unavailable(why)
            }
        }
    }

    /// A gateway that answers every request with [`Error::NoDisplay`].
    pub fn unavailable(why: impl Into<String>) -> Gateway {
        Gateway {
            jobs: None,
            unavailable: Some(why.into()),
            last_input: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether input can be sent at all.
    pub fn available(&self) -> bool {
        self.jobs.is_some()
    }

    /// When the gateway last sent input.
    pub fn last_input(&self) -> Option<Instant> {
        self.last_input.lock().ok().and_then(|t| *t)
    }

    /// Runs a validated batch for `run` with `lease_token`.
    pub async fn run(&self, run: RunId, lease_token: u64, steps: Vec<Step>) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Batch {
            run,
            lease_token,
            steps,
            reply,
        })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// The main screen's size.
    pub async fn screen(&self) -> Result<(i32, i32)> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Screen(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Where the pointer is.
    pub async fn pointer(&self) -> Result<(i32, i32)> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Pointer(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn send(&self, job: Job) -> Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| Error::NoDisplay(self.unavailable.clone().unwrap_or_default()))?;
        jobs.send(job).map_err(|_| Error::Closed)
    }
}

/// How often buttons a holder left pressed are checked while it may have lost the desktop.
const HELD_CHECK: Duration = Duration::from_millis(250);

/// Buttons pressed by a `down` and not yet let go, and whose they are.
#[derive(Debug, Default)]
struct Held {
    owner: Option<(RunId, u64)>,
    buttons: Vec<Button>,
}

impl Held {
    /// Lets every held button go: their holder lost the desktop, and a stuck button would be
    /// the next holder's (or the person's) problem.
    fn release(&mut self, driver: &mut dyn InputDriver) {
        for button in self.buttons.drain(..) {
            if let Err(e) = driver.perform(&Step::Up(button)) {
                tracing::warn!(error = %e, "cannot let go of a held button");
            }
        }
        self.owner = None;
    }

    /// Lets go unless `owner` still may act.
    fn release_unless_allowed(&mut self, driver: &mut dyn InputDriver, snapshot: &Snapshot) {
        if let Some((run, token)) = self.owner
            && may_act(snapshot, run, token).is_some()
        {
            self.release(driver);
        }
    }
}

/// The input thread: one job at a time, in order.
fn serve(
    mut driver: Box<dyn InputDriver>,
    jobs: &std_mpsc::Receiver<Job>,
    status: &watch::Receiver<Arc<Snapshot>>,
    last_input: &Mutex<Option<Instant>>,
) {
    let failed = |e: String| Error::InputFailed(e);
    let mut held = Held::default();
    loop {
        let job = if held.buttons.is_empty() {
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        } else {
            match jobs.recv_timeout(HELD_CHECK) {
                Ok(job) => job,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    held.release_unless_allowed(driver.as_mut(), &status.borrow());
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            }
        };
        match job {
            Job::Screen(reply) => {
                let _ = reply.send(driver.screen().map_err(failed));
            }
            Job::Pointer(reply) => {
                let _ = reply.send(driver.pointer().map_err(failed));
            }
            Job::Batch {
                run,
                lease_token,
                steps,
                reply,
            } => {
                if held.owner.is_some_and(|owner| owner != (run, lease_token)) {
                    held.release_unless_allowed(driver.as_mut(), &status.borrow());
                }
                let outcome = run_batch(
                    driver.as_mut(),
                    run,
                    lease_token,
                    &steps,
                    status,
                    last_input,
                    &mut held,
                );
                if !matches!(outcome, Ok(Outcome { stopped: None, .. })) {
                    held.release_unless_allowed(driver.as_mut(), &status.borrow());
                }
                let _ = reply.send(outcome);
            }
        }
    }
}

fn run_batch(
    driver: &mut dyn InputDriver,
    run: RunId,
    lease_token: u64,
    steps: &[Step],
    status: &watch::Receiver<Arc<Snapshot>>,
    last_input: &Mutex<Option<Instant>>,
    held: &mut Held,
) -> Result<Outcome> {
    for (index, step) in steps.iter().enumerate() {
        // DESIGN rule 8: checked again before every action, against the newest status.
        if let Some(stop) = may_act(&status.borrow(), run, lease_token) {
            return Ok(Outcome {
                ran: index,
                stopped: Some(stop),
            });
        }
        match step {
            Step::Wait(wait) => std::thread::sleep(*wait),
            step => {
                driver.perform(step).map_err(Error::InputFailed)?;
                match step {
                    Step::Down(button) => {
                        held.owner = Some((run, lease_token));
                        held.buttons.push(*button);
                    }
                    Step::Up(button) => held.buttons.retain(|b| b != button),
                    _ => {}
                }
                if let Ok(mut last) = last_input.lock() {
                    *last = Some(Instant::now());
                }
            }
        }
    }
    Ok(Outcome {
        ran: steps.len(),
        stopped: None,
    })
}

/// Whether `run` may send input with `lease_token` now.
pub fn may_act(snapshot: &Snapshot, run: RunId, lease_token: u64) -> Option<Stop> {
    let desktop = &snapshot.desktop;
    match (&desktop.holder, desktop.lease_token) {
        (Some(holder), Some(current)) if holder.id == run => {
            if current != lease_token {
                Some(Stop::StaleToken { current })
            } else if desktop.holder_paused {
                Some(Stop::UserActive)
            } else {
                None
            }
        }
        _ => Some(Stop::NotHolder),
    }
}

/// A driver that records what it is asked to do, for tests.
#[derive(Debug, Clone)]
pub struct FakeDriver {
    /// Every step performed, in order.
    pub performed: Arc<Mutex<Vec<Step>>>,
    /// The screen it reports.
    pub screen: (i32, i32),
    /// How long each step takes.
    pub delay: Duration,
}

impl FakeDriver {
    /// A 1280x800 screen, steps taking no time.
    pub fn new() -> Self {
        FakeDriver {
            performed: Arc::new(Mutex::new(Vec::new())),
            screen: (1280, 800),
            delay: Duration::ZERO,
        }
    }
}

impl Default for FakeDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl InputDriver for FakeDriver {
    fn screen(&mut self) -> std::result::Result<(i32, i32), String> {
        Ok(self.screen)
    }

    fn pointer(&mut self) -> std::result::Result<(i32, i32), String> {
        let performed = self.performed.lock().map_err(|e| e.to_string())?;
        let mut at = (0, 0);
        for step in performed.iter() {
            match step {
                Step::MoveTo(x, y) => at = (*x, *y),
                Step::MoveBy(dx, dy) => at = (at.0 + dx, at.1 + dy),
                _ => {}
            }
        }
        Ok(at)
    }

    fn perform(&mut self, step: &Step) -> std::result::Result<(), String> {
        std::thread::sleep(self.delay);
        self.performed
            .lock()
            .map_err(|e| e.to_string())?
            .push(step.clone());
        Ok(())
    }
}

/// The real driver: enigo on an X11 display.
pub struct EnigoDriver {
    enigo: enigo::Enigo,
}

impl std::fmt::Debug for EnigoDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnigoDriver")
    }
}

impl EnigoDriver {
    /// Connects to `display` (`$DISPLAY` when `None`).
    pub fn connect(display: Option<&str>) -> std::result::Result<Self, String> {
        let settings = enigo::Settings {
            x11_display: display.map(str::to_string),
            ..enigo::Settings::default()
        };
        enigo::Enigo::new(&settings)
            .map(|enigo| EnigoDriver { enigo })
            .map_err(|e| format!("cannot send input to the display: {e}"))
    }
}

impl InputDriver for EnigoDriver {
    fn screen(&mut self) -> std::result::Result<(i32, i32), String> {
        use enigo::Mouse;
        self.enigo.main_display().map_err(|e| e.to_string())
    }

    fn pointer(&mut self) -> std::result::Result<(i32, i32), String> {
        use enigo::Mouse;
        self.enigo.location().map_err(|e| e.to_string())
    }

    fn perform(&mut self, step: &Step) -> std::result::Result<(), String> {
        use enigo::{Axis, Coordinate, Direction, Keyboard, Mouse};
        let button = |b: &Button| match b {
            Button::Left => enigo::Button::Left,
            Button::Right => enigo::Button::Right,
            Button::Middle => enigo::Button::Middle,
        };
        let e = &mut self.enigo;
        let done = match step {
            Step::MoveTo(x, y) => e.move_mouse(*x, *y, Coordinate::Abs),
            Step::MoveBy(dx, dy) => e.move_mouse(*dx, *dy, Coordinate::Rel),
            Step::Click(b, count) => {
                (0..*count).try_for_each(|_| e.button(button(b), Direction::Click))
            }
            Step::Down(b) => e.button(button(b), Direction::Press),
            Step::Up(b) => e.button(button(b), Direction::Release),
            Step::Type(text) => e.text(text),
            Step::Key(combo) => {
                let press = combo
                    .modifiers
                    .iter()
                    .try_for_each(|m| e.key(enigo_key(Key::Named(*m)), Direction::Press));
                let key = press.and_then(|()| e.key(enigo_key(combo.key), Direction::Click));
                // Modifiers go up whatever happened, or they would stay stuck for the person.
                let release = combo
                    .modifiers
                    .iter()
                    .rev()
                    .try_for_each(|m| e.key(enigo_key(Key::Named(*m)), Direction::Release));
                key.and(release)
            }
            Step::Scroll(dx, dy) => {
                let vertical = if *dy != 0 {
                    e.scroll(*dy, Axis::Vertical)
                } else {
                    Ok(())
                };
                vertical.and_then(|()| {
                    if *dx != 0 {
                        e.scroll(*dx, Axis::Horizontal)
                    } else {
                        Ok(())
                    }
                })
            }
            Step::Wait(wait) => {
                std::thread::sleep(*wait);
                Ok(())
            }
        };
        done.map_err(|e| e.to_string())
    }
}

fn enigo_key(key: Key) -> enigo::Key {
    use enigo::Key as K;
    match key {
        Key::Char(c) => K::Unicode(c),
        Key::Named(named) => match named {
            NamedKey::Control => K::Control,
            NamedKey::Alt => K::Alt,
            NamedKey::Shift => K::Shift,
            NamedKey::Super => K::Meta,
            NamedKey::Return => K::Return,
            NamedKey::Tab => K::Tab,
            NamedKey::Escape => K::Escape,
            NamedKey::Space => K::Space,
            NamedKey::Backspace => K::Backspace,
            NamedKey::Delete => K::Delete,
            NamedKey::Home => K::Home,
            NamedKey::End => K::End,
            NamedKey::PageUp => K::PageUp,
            NamedKey::PageDown => K::PageDown,
            NamedKey::Up => K::UpArrow,
            NamedKey::Down => K::DownArrow,
            NamedKey::Left => K::LeftArrow,
            NamedKey::Right => K::RightArrow,
            NamedKey::CapsLock => K::CapsLock,
            NamedKey::F(n) => function_key(n),
        },
    }
}

fn function_key(n: u8) -> enigo::Key {
    use enigo::Key as K;
    const KEYS: [enigo::Key; 24] = [
        K::F1,
        K::F2,
        K::F3,
        K::F4,
        K::F5,
        K::F6,
        K::F7,
        K::F8,
        K::F9,
        K::F10,
        K::F11,
        K::F12,
        K::F13,
        K::F14,
        K::F15,
        K::F16,
        K::F17,
        K::F18,
        K::F19,
        K::F20,
        K::F21,
        K::F22,
        K::F23,
        K::F24,
    ];
    KEYS[usize::from(n.clamp(1, 24) - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combos_parse_like_people_write_them() {
        let combo = parse_combo("ctrl+shift+T").expect("combo");
        assert_eq!(combo.modifiers, vec![NamedKey::Control, NamedKey::Shift]);
        assert_eq!(combo.key, Key::Char('t'));
        assert_eq!(
            parse_combo("Return").expect("return").key,
            Key::Named(NamedKey::Return)
        );
        assert_eq!(
            parse_combo("alt+Tab").expect("alt tab").key,
            Key::Named(NamedKey::Tab)
        );
        assert_eq!(
            parse_combo("F5").expect("f5").key,
            Key::Named(NamedKey::F(5))
        );
        assert_eq!(parse_combo("+").map_err(|_| ()), Err(()));
        for bad in ["ctrl+", "ctrl++l", "hyper+l", "ctrl+Banana", "F25", ""] {
            assert!(parse_combo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_action_refuses_the_whole_batch() {
        let ok = Action::Type { text: "hi".into() };
        let cases = [
            (vec![], "empty"),
            (
                vec![
                    ok.clone(),
                    Action::Move {
                        x: 2000,
                        y: 5,
                        relative: false,
                    },
                ],
                "off the screen",
            ),
            (
                vec![Action::Key {
                    combo: "ctrl+Banana".into(),
                }],
                "unknown key",
            ),
            (
                vec![Action::Click {
                    button: Button::Left,
                    count: 9,
                }],
                "1 to 3",
            ),
            (
                vec![Action::Type {
                    text: "x".repeat(2001),
                }],
                "at most 2000",
            ),
            (vec![Action::Wait { ms: 9000 }], "at most 5000"),
            (vec![Action::Scroll { dx: 0, dy: 0 }], "needs dx or dy"),
        ];
        for (actions, expected) in cases {
            let err = validate(&actions, (1280, 800))
                .expect_err(expected)
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
        assert_eq!(validate(&[ok], (1280, 800)).expect("valid").len(), 1);
    }
}
