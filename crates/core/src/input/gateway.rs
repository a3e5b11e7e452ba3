//! The input thread: one at a time, in order, for the holder only.

use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::error::{Error, Result};
use crate::input::action::{Button, Step};
use crate::input::driver::InputDriver;
use crate::model::RunId;
use crate::published::Published;
use crate::resource::ResourceName;

/// What a gateway's display belongs to, and so whom it lets act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The person's desktop: its holder, with the desktop's token, while the person at the
    /// computer has not taken over.
    Desktop,
    /// A display of a run's own, from the pool `resource`: that run, while it holds a unit of
    /// the pool by the token it presents. Nobody sits at it, so there is no takeover.
    Resource {
        /// The pool.
        resource: ResourceName,
        /// The run the display was started for.
        run: RunId,
    },
}

impl Guard {
    /// Whether `run` may send input with `lease_token` now.
    pub fn may_act(&self, published: &Published, run: RunId, lease_token: u64) -> Option<Stop> {
        match self {
            Guard::Desktop => may_act(published, run, lease_token),
            Guard::Resource {
                resource,
                run: owner,
            } => match published.token_of(resource, run) {
                Some(current) if run == *owner && current == lease_token => None,
                Some(current) if run == *owner => Some(Stop::StaleToken { current }),
                _ => Some(Stop::NotHolder),
            },
        }
    }
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
    Screenshot(oneshot::Sender<Result<Vec<u8>>>),
}

/// The door to the input thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    jobs: Option<std_mpsc::Sender<Job>>,
    /// Why input cannot be sent now, when it cannot: no display, or a driver still waiting for
    /// the person's permission (then the input thread clears it once connected).
    unavailable: Arc<Mutex<Option<String>>>,
    /// When the gateway last sent input, for telling Baton's input from a person's.
    last_input: Arc<Mutex<Sent>>,
}

/// Baton's own input as the takeover watcher's backstop sees it: when the last action ended,
/// and whether one is being sent now (a long `type` takes seconds, all of them Baton's).
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    last: Option<Instant>,
    sending: bool,
}

impl Gateway {
    /// Starts the input thread with the driver `connect` makes there (input libraries tie
    /// themselves to the thread that opened the display). If it fails, every request is
    /// answered with [`Error::NoDisplay`] and the reason.
    pub fn spawn<F>(connect: F, status: watch::Receiver<Arc<Published>>) -> Gateway
    where
        F: FnOnce() -> std::result::Result<Box<dyn InputDriver>, String> + Send + 'static,
    {
        Gateway::spawn_patient(connect, status, Duration::MAX, String::new())
    }

    /// The same, for a driver that may wait for the person (a permission dialog on Wayland):
    /// after `patience` the gateway is handed back anyway, and until the driver has connected
    /// every request is answered with [`Error::NoDisplay`] and `waiting`. A host must not wait
    /// for a dialog to start: agents are told the truth meanwhile.
    pub fn spawn_patient<F>(
        connect: F,
        status: watch::Receiver<Arc<Published>>,
        patience: Duration,
        waiting: String,
    ) -> Gateway
    where
        F: FnOnce() -> std::result::Result<Box<dyn InputDriver>, String> + Send + 'static,
    {
        Gateway::start(connect, status, patience, waiting, Guard::Desktop)
    }

    /// A gateway of a display that `guard` says whose it is (a run's private display). The
    /// driver is made, and ends, on the gateway's own thread, which lives until the last clone
    /// of the gateway is dropped: a driver that owns its display's server ends it then.
    pub fn spawn_guarding<F>(
        connect: F,
        status: watch::Receiver<Arc<Published>>,
        guard: Guard,
    ) -> Gateway
    where
        F: FnOnce() -> std::result::Result<Box<dyn InputDriver>, String> + Send + 'static,
    {
        Gateway::start(connect, status, Duration::MAX, String::new(), guard)
    }

    fn start<F>(
        connect: F,
        status: watch::Receiver<Arc<Published>>,
        patience: Duration,
        waiting: String,
        guard: Guard,
    ) -> Gateway
    where
        F: FnOnce() -> std::result::Result<Box<dyn InputDriver>, String> + Send + 'static,
    {
        let (jobs, incoming) = std_mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let last_input = Arc::new(Mutex::new(Sent::default()));
        let unavailable = Arc::new(Mutex::new(Some(waiting)));
        let last = last_input.clone();
        let state = unavailable.clone();
        let spawned = std::thread::Builder::new()
            .name("baton-input".into())
            .spawn(move || {
                let connected = connect();
                let why = connected.as_ref().err().cloned();
                if let Some(why) = &why {
                    tracing::info!(reason = %why, "no input gateway: input requests are answered with no_display");
                }
                if let Ok(mut state) = state.lock() {
                    *state = why;
                }
                let _ = ready_tx.send(());
                if let Ok(driver) = connected {
                    serve(driver, &incoming, &status, &last, &guard);
                }
            });
        if let Err(e) = spawned {
            return Gateway::unavailable(format!("cannot start the input thread: {e}"));
        }
        match ready_rx.recv_timeout(patience) {
            Ok(()) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                if let Ok(mut state) = unavailable.lock() {
                    state.get_or_insert_with(|| "the input thread ended at start".into());
                }
            }
        }
        Gateway {
            jobs: Some(jobs),
            unavailable,
            last_input,
        }
    }

    /// A gateway that answers every request with [`Error::NoDisplay`].
    pub fn unavailable(why: impl Into<String>) -> Gateway {
        Gateway {
            jobs: None,
            unavailable: Arc::new(Mutex::new(Some(why.into()))),
            last_input: Arc::new(Mutex::new(Sent::default())),
        }
    }

    /// Why input cannot be sent now, if it cannot.
    pub fn unavailable_reason(&self) -> Option<String> {
        match self.unavailable.lock() {
            Ok(why) => why.clone(),
            Err(_) => Some("the input thread failed".into()),
        }
    }

    /// Whether input can be sent now.
    pub fn available(&self) -> bool {
        self.jobs.is_some() && self.unavailable_reason().is_none()
    }

    /// When the gateway last sent input: now, while it is sending.
    pub fn last_input(&self) -> Option<Instant> {
        let sent = self.last_input.lock().map(|s| *s).unwrap_or_default();
        if sent.sending {
            Some(Instant::now())
        } else {
            sent.last
        }
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

    /// The display's picture, as PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Screenshot(reply))?;
        answer.await.map_err(|_| Error::Closed)?
    }

    fn send(&self, job: Job) -> Result<()> {
        if let Some(why) = self.unavailable_reason() {
            return Err(Error::NoDisplay(why));
        }
        let jobs = self.jobs.as_ref().ok_or(Error::Closed)?;
        jobs.send(job).map_err(|_| Error::Closed)
    }
}

/// Why a desktop that tells no program where the pointer is (Wayland) has no answer, and
/// what to do instead.
const NO_POINTER: &str = "this desktop does not tell programs where the pointer is (Wayland keeps it from them); move it to absolute coordinates instead, for example 'baton input move 100 200'";

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
    fn release_unless_allowed(
        &mut self,
        driver: &mut dyn InputDriver,
        published: &Published,
        guard: &Guard,
    ) {
        if let Some((run, token)) = self.owner
            && guard.may_act(published, run, token).is_some()
        {
            self.release(driver);
        }
    }
}

/// The input thread: one job at a time, in order.
fn serve(
    mut driver: Box<dyn InputDriver>,
    jobs: &std_mpsc::Receiver<Job>,
    status: &watch::Receiver<Arc<Published>>,
    last_input: &Mutex<Sent>,
    guard: &Guard,
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
                    held.release_unless_allowed(driver.as_mut(), &status.borrow(), guard);
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
                let _ = reply.send(match driver.pointer() {
                    Ok(Some(at)) => Ok(at),
                    Ok(None) => Err(Error::NotSupported(NO_POINTER.into())),
                    Err(e) => Err(failed(e)),
                });
            }
            Job::Screenshot(reply) => {
                let _ = reply.send(driver.screenshot().map_err(failed));
            }
            Job::Batch {
                run,
                lease_token,
                steps,
                reply,
            } => {
                if held.owner.is_some_and(|owner| owner != (run, lease_token)) {
                    held.release_unless_allowed(driver.as_mut(), &status.borrow(), guard);
                }
                let outcome = run_batch(
                    driver.as_mut(),
                    run,
                    lease_token,
                    &steps,
                    (status, guard),
                    last_input,
                    &mut held,
                );
                if !matches!(outcome, Ok(Outcome { stopped: None, .. })) {
                    held.release_unless_allowed(driver.as_mut(), &status.borrow(), guard);
                }
                let _ = reply.send(outcome);
            }
        }
    }
}

/// How many characters of a `type` action go to the display between two checks of the holder.
const TYPE_PART: usize = 8;

fn run_batch(
    driver: &mut dyn InputDriver,
    run: RunId,
    lease_token: u64,
    steps: &[Step],
    (status, guard): (&watch::Receiver<Arc<Published>>, &Guard),
    last_input: &Mutex<Sent>,
    held: &mut Held,
) -> Result<Outcome> {
    for (index, step) in steps.iter().enumerate() {
        // DESIGN rule 8: checked again before every action, against the newest status.
        if let Some(stop) = guard.may_act(&status.borrow(), run, lease_token) {
            return Ok(Outcome {
                ran: index,
                stopped: Some(stop),
            });
        }
        match step {
            Step::Wait(wait) => std::thread::sleep(*wait),
            step => {
                let mark = |sending: bool| {
                    if let Ok(mut sent) = last_input.lock() {
                        *sent = Sent {
                            last: Some(Instant::now()),
                            sending,
                        };
                    }
                };
                // Text goes a few characters at a time, each part checked like an action:
                // a long `type` stops soon after the person takes over, not at its end.
                let parts: Vec<Step> = match step {
                    Step::Type(text) if text.chars().count() > TYPE_PART => text
                        .chars()
                        .collect::<Vec<_>>()
                        .chunks(TYPE_PART)
                        .map(|part| Step::Type(part.iter().collect()))
                        .collect(),
                    step => vec![step.clone()],
                };
                for (n, part) in parts.iter().enumerate() {
                    if n > 0
                        && let Some(stop) = guard.may_act(&status.borrow(), run, lease_token)
                    {
                        return Ok(Outcome {
                            ran: index,
                            stopped: Some(stop),
                        });
                    }
                    mark(true);
                    let performed = driver.perform(part).map_err(Error::InputFailed);
                    mark(false);
                    performed?;
                }
                match step {
                    Step::Down(button) => {
                        held.owner = Some((run, lease_token));
                        held.buttons.push(*button);
                    }
                    Step::Up(button) => held.buttons.retain(|b| b != button),
                    _ => {}
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
pub fn may_act(desktop: &Published, run: RunId, lease_token: u64) -> Option<Stop> {
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
