//! Human takeover: when the person at the computer uses the mouse or keyboard while a run holds
//! the desktop, the holder is paused (its input is refused with `user_active`; it keeps its
//! place) instead of fighting them, and resumes after a quiet time.
//!
//! The person's input is told from Baton's by what sent it, not by when: a display driver
//! reports the display's input events as they happen, with the synthetic ones Baton's input
//! gateway asked for marked as such, and [`attribution`] takes every other event for the
//! person's, also one in the middle of a batch of Baton's own. The holder is paused as soon as
//! the first such event arrives. Sampling the display (the idle time, and a pointer that moved
//! while Baton sent nothing: the [`Detector`]) stays on as a backstop, and is all there is on a
//! display without the events.
//!
//! The rules know no display: [`attribution`] and the [`Detector`] are pure, and the [`watch`]
//! loop reads a stream of [`attribution::Observed`] and an [`ActivityProbe`]. The drivers that
//! produce them for X11, Windows, macOS and GNOME on Wayland are `baton-platform`'s, one file
//! per platform, and come here as [`Drivers`].

pub mod attribution;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::actor::Handle;
use crate::input::Gateway;
use crate::model::{Caller, RunId};
use crate::published::Published;
use attribution::{Attribution, Observed};

/// How often activity is sampled while someone holds the desktop.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Input within this long after Baton's own last event is taken to be Baton's.
pub const OWN_INPUT_GRACE: Duration = Duration::from_millis(250);

/// How takeover detection behaves; changed live by the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeoverSettings {
    /// Whether to detect at all.
    pub enabled: bool,
    /// How long without the person's input before the holder resumes.
    pub quiet: Duration,
}

impl Default for TakeoverSettings {
    fn default() -> Self {
        TakeoverSettings {
            enabled: true,
            quiet: Duration::from_secs(10),
        }
    }
}

/// One look at the display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Where the pointer is.
    pub pointer: (i32, i32),
    /// How long ago the last input of any kind happened, if the display says.
    pub idle: Option<Duration>,
}

/// What a recorder sends: the observation, and when it was read.
pub type Recorded = (Observed, std::time::Instant);

/// This platform's drivers, as [`connect`] started them.
pub struct Drivers {
    /// The sampled backstop.
    pub probe: Box<dyn ActivityProbe>,
    /// The input events as they happen, or why there are none (then sampling is all there is,
    /// and input in the middle of a batch of Baton's own goes unseen).
    pub events: Result<UnboundedReceiver<Recorded>, String>,
}

impl std::fmt::Debug for Drivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drivers")
            .field("events", &self.events.as_ref().map(|_| "recording"))
            .finish_non_exhaustive()
    }
}

/// What the display says about input (X11 in the product, a script in tests).
pub trait ActivityProbe: Send {
    /// A sample, or why there is none.
    fn sample(&mut self) -> Result<Sample, String>;
}

/// Decides, sample by sample, whether a person is using the computer.
#[derive(Debug, Default)]
pub struct Detector {
    last_pointer: Option<(i32, i32)>,
}

impl Detector {
    /// When the person last used the computer, as far as `sample` shows: input that came
    /// after Baton's own last event (`own_input`) and after this holder got the desktop
    /// (`since`; the Enter that started the run is nobody's takeover), or a pointer that moved
    /// while Baton sent nothing.
    pub fn person_input(
        &mut self,
        sample: Sample,
        now: Instant,
        own_input: Option<Instant>,
        since: Instant,
    ) -> Option<Instant> {
        let moved = self
            .last_pointer
            .replace(sample.pointer)
            .is_some_and(|last| last != sample.pointer);
        let own_recent =
            own_input.is_some_and(|t| now.saturating_duration_since(t) < OWN_INPUT_GRACE);
        if own_recent {
            return None;
        }
        let after = own_input.map_or(since, |own| own.max(since)) + OWN_INPUT_GRACE;
        let last_input = sample
            .idle
            .and_then(|idle| now.checked_sub(idle))
            .filter(|at| *at > after);
        match (last_input, moved) {
            (Some(at), _) => Some(at),
            (None, true) => Some(now),
            (None, false) => None,
        }
    }
}

/// What the watcher knows about the current holding.
struct Holding {
    id: RunId,
    since: Instant,
    detector: Detector,
    /// Whether this watcher paused the holder (and so may resume it).
    paused_by_us: bool,
    /// When the person last did something.
    last_human: Option<Instant>,
}

impl Holding {
    fn new(id: RunId, now: Instant) -> Self {
        Holding {
            id,
            since: now,
            detector: Detector::default(),
            paused_by_us: false,
            last_human: None,
        }
    }
}

/// Watches for the person while someone holds the desktop; pauses and resumes the holder.
/// `events` is the display's input as it happens (none where the platform has no such
/// stream); `probe` is sampled beside it. Runs until the scheduler stops.
///
/// Every pause and resume names the holder it is about, so what was seen of one holder never
/// acts on the next.
pub async fn watch(
    core: Handle,
    gateway: Gateway,
    probe: Box<dyn ActivityProbe>,
    mut events: Option<UnboundedReceiver<Recorded>>,
    mut settings: watch::Receiver<TakeoverSettings>,
) {
    let mut status = core.watch_status();
    let who = Caller::takeover();
    let mut holding: Option<Holding> = None;
    // One for the display, not one per holder: Baton's requests sent just before a hand-off
    // are still Baton's when their events arrive after it.
    let mut attribution = Attribution::new();
    let mut probe = Some(probe);
    let mut next_sample = Instant::now();
    loop {
        let published: Arc<Published> = status.borrow_and_update().clone();
        let current = *settings.borrow_and_update();
        let now = Instant::now();
        let holder = published.holder_id().filter(|_| current.enabled);
        match (holding.take(), holder) {
            (Some(h), None) => {
                // Detection switched off (or the holding ended) during a pause of ours: the
                // holder must not stay paused with nobody to resume it.
                if h.paused_by_us && published.holder_paused {
                    let _ = core.set_holder_paused_if(h.id, false, who.clone()).await;
                }
            }
            (None, None) => {}
            (Some(mut h), Some(id)) if h.id == id => {
                if h.paused_by_us && !published.holder_paused {
                    // Given back before the quiet time (tray, dashboard, notification): the
                    // input so far is done with; only new input takes it over again.
                    h.paused_by_us = false;
                    h.last_human = None;
                }
                holding = Some(h);
            }
            (_, Some(id)) => {
                attribution.new_holding();
                holding = Some(Holding::new(id, now));
            }
        }
        // What this turn saw of the person, if anything.
        let mut person: Option<Instant> = None;
        let recv = async {
            match events.as_mut() {
                Some(events) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // The desktop's state first: an event is weighed against the holder it came under.
            biased;
            changed = status.changed() => if changed.is_err() { return; },
            changed = settings.changed() => if changed.is_err() { return; },
            received = recv => match received {
                Some((observed, at)) => {
                    let at = Instant::from_std(at);
                    if attribution.observe(observed, at)
                        && holding.as_ref().is_some_and(|h| at >= h.since)
                    {
                        person = Some(at);
                    }
                }
                None => {
                    tracing::warn!("the display's input events stopped; sampling goes on");
                    events = None;
                }
            },
            () = tokio::time::sleep_until(next_sample), if holding.is_some() && probe.is_some() => {
                next_sample = Instant::now() + SAMPLE_EVERY;
                // The probe asks the display server, which may stall: not on a runtime thread.
                if let Some(mut taken) = probe.take() {
                    let (back, sample) = match tokio::task::spawn_blocking(move || {
                        let sample = taken.sample();
                        (taken, sample)
                    })
                    .await
                    {
                        Ok(pair) => pair,
                        Err(_) => return,
                    };
                    probe = Some(back);
                    if let Some(h) = holding.as_mut() {
                        match sample {
                            Ok(sample) => {
                                let own = gateway.last_input().map(Instant::from_std);
                                person = h.detector.person_input(sample, Instant::now(), own, h.since);
                            }
                            Err(e) => tracing::debug!(error = %e, "cannot sample the display"),
                        }
                    }
                }
            },
        }
        let Some(h) = holding.as_mut() else { continue };
        let now = Instant::now();
        if let Some(at) = person {
            h.last_human = Some(h.last_human.map_or(at, |last| last.max(at)));
        }
        let active = h
            .last_human
            .is_some_and(|at| now.saturating_duration_since(at) < current.quiet);
        let (still_holds, paused) = {
            let now_published = status.borrow();
            (
                now_published.holder_id() == Some(h.id),
                now_published.holder_paused,
            )
        };
        if !still_holds {
            // The desktop changed hands meanwhile: the next turn starts a new holding.
            continue;
        }
        if person.is_some() && active && !paused {
            match core.set_holder_paused_if(h.id, true, who.clone()).await {
                Ok(true) => {
                    tracing::info!(holder = ?h.id, "the person at the computer took over");
                    h.paused_by_us = true;
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "cannot pause the holder"),
            }
        } else if !active && h.paused_by_us && paused {
            if let Err(e) = core.set_holder_paused_if(h.id, false, who.clone()).await {
                tracing::debug!(error = %e, "cannot resume the holder");
            }
            h.paused_by_us = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: i32, idle_ms: u64) -> Sample {
        Sample {
            pointer: (x, 0),
            idle: Some(Duration::from_millis(idle_ms)),
        }
    }

    #[test]
    fn baton_s_own_input_is_not_a_person() {
        let mut d = Detector::default();
        let t0 = Instant::now();
        assert!(
            d.person_input(at(0, 5000), t0, None, t0).is_none(),
            "quiet: nobody"
        );
        // Baton moved the pointer and typed just now.
        let own = t0 + Duration::from_millis(1000);
        assert!(
            d.person_input(at(50, 10), own + Duration::from_millis(10), Some(own), t0)
                .is_none()
        );
        // Later, the input the display last saw is still Baton's.
        let later = own + Duration::from_millis(800);
        assert!(d.person_input(at(50, 800), later, Some(own), t0).is_none());
    }

    #[test]
    fn input_after_baton_s_own_is_a_person() {
        let mut d = Detector::default();
        let t0 = Instant::now();
        let own = t0;
        d.person_input(at(50, 0), own + Duration::from_millis(300), Some(own), t0);
        // A key press 200 ms ago, long after Baton's last event.
        let now = own + Duration::from_secs(2);
        assert_eq!(
            d.person_input(at(50, 200), now, Some(own), t0),
            Some(now - Duration::from_millis(200))
        );
        // A pointer that moved though nothing was sent is a person too.
        let mut d = Detector::default();
        d.person_input(
            Sample {
                pointer: (10, 10),
                idle: None,
            },
            now,
            Some(own),
            t0,
        );
        let later = now + Duration::from_millis(100);
        let moved = Sample {
            pointer: (11, 10),
            idle: None,
        };
        assert_eq!(d.person_input(moved, later, Some(own), t0), Some(later));
    }

    #[test]
    fn the_key_press_that_started_the_run_is_not_a_takeover() {
        let mut d = Detector::default();
        let pressed_enter = Instant::now();
        let granted = pressed_enter + Duration::from_millis(50);
        let now = granted + Duration::from_millis(100);
        assert!(d.person_input(at(0, 150), now, None, granted).is_none());
        // Typing a second later is.
        let later = now + Duration::from_secs(1);
        assert!(d.person_input(at(0, 20), later, None, granted).is_some());
    }
}
