//! The person's activity on a Wayland desktop that tells no program whose input is whose (KDE
//! Plasma, GNOME without Baton's extension, wlroots desktops): the compositor's idle
//! notifications (`ext-idle-notify-v1`), sampled by takeover's backstop.
//!
//! The compositor counts Baton's own libei input as activity too, so this alone cannot tell
//! the person's input from Baton's: the core's `Detector` takes activity within its grace after
//! Baton's own last input for Baton's. That is the limit status states: the person is noticed
//! only once Baton has sent nothing for that long.
//!
//! The notification fires `idled` [`IDLE_AFTER`] after the last input of any kind and `resumed`
//! at the first input after that; so while the state is "resumed" the last input is about now,
//! and once "idled" it was `IDLE_AFTER` before. [`IDLE_AFTER`] is well under the grace, or the
//! state would still be "resumed" by Baton's own input when the grace ends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_core::takeover::{ActivityProbe, Sample};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{wl_registry, wl_seat};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, delegate_noop};
use wayland_protocols::ext::idle_notify::v1::client::ext_idle_notification_v1::{
    self, ExtIdleNotificationV1,
};
use wayland_protocols::ext::idle_notify::v1::client::ext_idle_notifier_v1::ExtIdleNotifierV1;

use crate::error::{Error, Result};

/// How long without input before the compositor says idle.
pub const IDLE_AFTER: Duration = Duration::from_millis(100);

/// What the compositor last said.
#[derive(Debug, Default)]
struct Activity {
    /// Input happened since the last `idled` (the first `resumed` after it).
    active: bool,
    /// When the last input was, as far as the notifications tell.
    last_input: Option<Instant>,
    /// Why the notifications stopped, if they did.
    failed: Option<String>,
}

impl Activity {
    /// The compositor said input resumed at `now`.
    fn resumed(&mut self, now: Instant) {
        self.active = true;
        self.last_input = Some(now);
    }

    /// The compositor said idle at `now`: the last input was [`IDLE_AFTER`] before.
    fn idled(&mut self, now: Instant) {
        self.active = false;
        self.last_input = Some(now.checked_sub(IDLE_AFTER).unwrap_or(now));
    }

    /// How long ago the last input was at `now`, as far as the notifications tell.
    fn idle(&self, now: Instant) -> Option<Duration> {
        if self.active {
            Some(Duration::ZERO)
        } else {
            self.last_input.map(|at| now.saturating_duration_since(at))
        }
    }
}

/// Idle notifications from the compositor, read on a thread of their own.
#[derive(Debug)]
pub struct IdleProbe {
    activity: Arc<Mutex<Activity>>,
}

impl IdleProbe {
    /// Connects to the compositor (`WAYLAND_DISPLAY`) and asks for idle notifications about
    /// input on its seat; fails when it offers none.
    pub fn connect() -> Result<IdleProbe> {
        let failed = |e: &dyn std::fmt::Display| Error::Idle(e.to_string());
        let connection = Connection::connect_to_env().map_err(|e| failed(&e))?;
        let (globals, mut queue) =
            registry_queue_init::<Listener>(&connection).map_err(|e| failed(&e))?;
        let handle = queue.handle();
        let seat: wl_seat::WlSeat = globals.bind(&handle, 1..=1, ()).map_err(|e| failed(&e))?;
        let notifier: ExtIdleNotifierV1 = globals
            .bind(&handle, 1..=2, ())
            .map_err(|_| Error::Idle("no ext_idle_notifier_v1".into()))?;
        let timeout = u32::try_from(IDLE_AFTER.as_millis()).unwrap_or(u32::MAX);
        // Version 2's input notification ignores idle inhibitors (a playing video), which
        // would otherwise hold back every notification.
        let notification = if notifier.version() >= 2 {
            notifier.get_input_idle_notification(timeout, &seat, &handle, ())
        } else {
            notifier.get_idle_notification(timeout, &seat, &handle, ())
        };
        let activity = Arc::new(Mutex::new(Activity::default()));
        let mut listener = Listener {
            activity: activity.clone(),
        };
        queue
            .roundtrip(&mut listener)
            .map_err(|e| Error::Idle(e.to_string()))?;
        std::thread::Builder::new()
            .name("baton-idle".into())
            .spawn(move || {
                // Held for as long as the thread reads: dropping them ends the notifications.
                let _kept = (connection, seat, notifier, notification);
                let why = loop {
                    if let Err(e) = queue.blocking_dispatch(&mut listener) {
                        break e.to_string();
                    }
                };
                tracing::warn!(error = %why, "the compositor's idle notifications stopped");
                if let Ok(mut activity) = listener.activity.lock() {
                    activity.failed = Some(why);
                }
            })
            .map_err(Error::Runtime)?;
        Ok(IdleProbe { activity })
    }
}

impl ActivityProbe for IdleProbe {
    fn sample(&mut self) -> std::result::Result<Sample, String> {
        let activity = self.activity.lock().map_err(|e| e.to_string())?;
        if let Some(why) = &activity.failed {
            return Err(format!(
                "the compositor's idle notifications stopped: {why}"
            ));
        }
        // Wayland tells no program where the pointer is: a pointer that never moves.
        Ok(Sample {
            pointer: (0, 0),
            idle: activity.idle(Instant::now()),
        })
    }
}

/// The event queue's state: what the notifications said.
struct Listener {
    activity: Arc<Mutex<Activity>>,
}

impl Dispatch<ExtIdleNotificationV1, ()> for Listener {
    fn event(
        state: &mut Self,
        _: &ExtIdleNotificationV1,
        event: ext_idle_notification_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let now = Instant::now();
        let Ok(mut activity) = state.activity.lock() else {
            return;
        };
        match event {
            ext_idle_notification_v1::Event::Idled => activity.idled(now),
            ext_idle_notification_v1::Event::Resumed => activity.resumed(now),
            _ => {}
        }
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Listener {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(Listener: ignore wl_seat::WlSeat);
delegate_noop!(Listener: ExtIdleNotifierV1);

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::takeover::{Detector, OWN_INPUT_GRACE};

    /// The notifications, read as samples, make the core's detector take input while Baton
    /// is quiet for the person's and Baton's own for Baton's: so IDLE_AFTER must stay well
    /// under the grace.
    #[test]
    fn notifications_tell_the_person_only_once_baton_is_quiet() {
        assert!(IDLE_AFTER * 2 <= OWN_INPUT_GRACE);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let sample = |activity: &Activity, now| Sample {
            pointer: (0, 0),
            idle: activity.idle(now),
        };
        let mut activity = Activity::default();
        let mut detector = Detector::default();
        let since = tokio::time::Instant::from_std(start);
        let instant = |t: Instant| tokio::time::Instant::from_std(t);
        assert_eq!(activity.idle(at(0)), None, "nothing said yet");

        // Baton types at 1000 ms: the compositor resumes, then idles 100 ms later.
        let own = Some(instant(at(1000)));
        activity.resumed(at(1002));
        assert!(
            detector
                .person_input(sample(&activity, at(1050)), instant(at(1050)), own, since)
                .is_none()
        );
        activity.idled(at(1102));
        assert_eq!(activity.idle(at(1400)), Some(Duration::from_millis(398)));
        assert!(
            detector
                .person_input(sample(&activity, at(1400)), instant(at(1400)), own, since)
                .is_none(),
            "Baton's own input, seen after its grace, is still Baton's"
        );

        // The person moves at 2000 ms while Baton is quiet: theirs, while it lasts.
        activity.resumed(at(2000));
        assert_eq!(
            detector.person_input(sample(&activity, at(2050)), instant(at(2050)), own, since),
            Some(instant(at(2050)))
        );
        activity.idled(at(2300));
        assert_eq!(activity.idle(at(2300)), Some(IDLE_AFTER));
    }
}
