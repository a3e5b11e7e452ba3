//! Human takeover: when the person at the computer uses the mouse or keyboard while a run holds
//! the desktop, the holder is paused (its input is refused with `user_active`; it keeps its
//! place) instead of fighting them, and resumes after a quiet time.
//!
//! Input the person makes is told from Baton's own by time: the display reports when the last
//! input happened (any device, X screensaver extension); if that is later than the input
//! gateway's own last event, a person did it. A pointer that moved between two samples while
//! Baton sent nothing counts too. Sampling runs only while someone holds the desktop.
//!
//! The rules (the [`Detector`] and the [`watch`] loop) know no display: they read an
//! [`ActivityProbe`]. The X11 probe is in [`x11`]; another platform is another file beside it.

pub mod x11;

pub use x11::X11Probe;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::actor::Handle;
use crate::input::Gateway;
use crate::model::{Caller, RunId};
use crate::published::Published;

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

/// Watches for the person while someone holds the desktop; pauses and resumes the holder.
/// Runs until the scheduler stops.
pub async fn watch(
    core: Handle,
    gateway: Gateway,
    mut probe: Box<dyn ActivityProbe>,
    mut settings: watch::Receiver<TakeoverSettings>,
) {
    let mut status = core.watch_status();
    let mut detector = Detector::default();
    let who = Caller::user("takeover");
    // The holder this watcher paused, and when the person last did something.
    let mut paused_by_us: Option<RunId> = None;
    let mut last_human: Option<Instant> = None;
    // The holder being watched, and since when.
    let mut watching: Option<(RunId, Instant)> = None;
    loop {
        let published: Arc<Published> = status.borrow_and_update().clone();
        let holder = published.holder_id();
        let current = *settings.borrow_and_update();
        if holder.is_none() || !current.enabled {
            // Nothing to watch: sleep until the desktop or the settings change.
            paused_by_us = None;
            watching = None;
            tokio::select! {
                changed = status.changed() => if changed.is_err() { return; },
                changed = settings.changed() => if changed.is_err() { return; },
            }
            continue;
        }
        let now = Instant::now();
        if paused_by_us.is_some() && paused_by_us == holder && !published.holder_paused {
            // Someone gave the desktop back before the quiet time (tray, dashboard): the input
            // so far is done with; only new input takes it over again.
            paused_by_us = None;
            last_human = None;
            watching = None;
        }
        let since = match watching {
            Some((id, since)) if Some(id) == holder => since,
            _ => {
                // A new holder: start afresh.
                detector = Detector::default();
                paused_by_us = None;
                let id = holder.unwrap_or(RunId(0));
                watching = Some((id, now));
                now
            }
        };
        match probe.sample() {
            Ok(sample) => {
                let own = gateway.last_input().map(Instant::from_std);
                let person = detector.person_input(sample, now, own, since);
                if let Some(at) = person {
                    last_human = Some(last_human.map_or(at, |last| last.max(at)));
                }
                let active =
                    person.is_some_and(|at| now.saturating_duration_since(at) < current.quiet);
                if active {
                    if !published.holder_paused {
                        match core.pause_holder(who.clone()).await {
                            Ok(true) => {
                                tracing::info!(holder = ?holder, "the person at the computer took over");
                                paused_by_us = holder;
                            }
                            Ok(false) => {}
                            Err(e) => tracing::debug!(error = %e, "cannot pause the holder"),
                        }
                    }
                } else if paused_by_us.is_some()
                    && published.holder_paused
                    && last_human.is_none_or(|t| now.duration_since(t) >= current.quiet)
                {
                    if let Err(e) = core.resume_holder(who.clone()).await {
                        tracing::debug!(error = %e, "cannot resume the holder");
                    }
                    paused_by_us = None;
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot sample the display"),
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
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
