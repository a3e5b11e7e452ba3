//! The macOS drivers of takeover detection: a listen-only event tap for the events as they
//! happen, and the pointer with the HID system's idle time, sampled as a backstop.
//!
//! Every Quartz event carries the user data of the event source that made it; Baton's gateway
//! sets [`OWN_INPUT_MARK`] there, so an event with that mark is Baton's and every other is the
//! person's (a device's events carry none; another tool's, its own: the safe side). The tap
//! needs the Input Monitoring permission. Without it Baton samples only, and says so.
//!
//! Only type-checked (`make check-platforms`); nothing here has run on a Mac.

use std::time::Duration;

use core_foundation::runloop::CFRunLoop;
use core_graphics::event::{
    CGEvent, CGEventTap, CGEventTapLocation, CGEventTapOptions, CGEventTapPlacement, CGEventType,
    CallbackResult, EventField,
};
use core_graphics::event_source::{CGEventSource, CGEventSourceStateID};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::native::OWN_INPUT_MARK;
use baton_core::takeover::attribution::{Kind, Observed};
use baton_core::takeover::{ActivityProbe, Drivers, Recorded, Sample};

/// Why Baton samples only on a Mac that has not given it Input Monitoring.
pub const NO_INPUT_MONITORING: &str = "macOS has not given Baton the Input Monitoring permission, so it notices you only by sampling and may miss input in the middle of a run's own: allow Baton in System Settings > Privacy & Security > Input Monitoring, then restart Baton";

#[allow(unsafe_code)]
mod sys {
    use core_graphics::event_source::CGEventSourceStateID;

    #[link(name = "CoreGraphics", kind = "framework")]
    unsafe extern "C" {
        pub fn CGEventSourceSecondsSinceLastEventType(
            state: CGEventSourceStateID,
            event_type: u32,
        ) -> f64;
        pub fn CGPreflightListenEventAccess() -> bool;
        pub fn CGRequestListenEventAccess() -> bool;
    }

    /// `kCGAnyInputEventType`.
    pub const ANY_INPUT: u32 = !0;
}

/// Starts the macOS drivers. `ask_permission`: let the system ask the person for Input
/// Monitoring when Baton lacks it (the host does so the first time only). Without it, the
/// events are missing and say why; the probe needs no permission.
#[allow(unsafe_code)]
pub fn connect(ask_permission: bool) -> Result<Drivers, String> {
    let mut probe = MacProbe;
    probe
        .sample()
        .map_err(|e| format!("takeover detection is off: {e}"))?;
    // SAFETY: plain queries of this process's permission, no arguments.
    let allowed = unsafe {
        sys::CGPreflightListenEventAccess() || (ask_permission && sys::CGRequestListenEventAccess())
    };
    let events = if allowed {
        start_tap()
    } else {
        Err(NO_INPUT_MONITORING.to_string())
    };
    Ok(Drivers {
        probe: Box::new(probe),
        events,
    })
}

/// The pointer and the HID system's idle time.
#[derive(Debug, Clone, Copy)]
pub struct MacProbe;

impl ActivityProbe for MacProbe {
    #[allow(unsafe_code)]
    fn sample(&mut self) -> Result<Sample, String> {
        let source = CGEventSource::new(CGEventSourceStateID::CombinedSessionState)
            .map_err(|()| "cannot read the input state".to_string())?;
        let pointer = CGEvent::new(source)
            .map_err(|()| "cannot read the pointer".to_string())?
            .location();
        // SAFETY: a query with two plain values.
        let seconds = unsafe {
            sys::CGEventSourceSecondsSinceLastEventType(
                CGEventSourceStateID::HIDSystemState,
                sys::ANY_INPUT,
            )
        };
        Ok(Sample {
            pointer: (pointer.x as i32, pointer.y as i32),
            idle: Duration::try_from_secs_f64(seconds).ok(),
        })
    }
}

/// Installs the tap on a thread whose run loop serves it.
fn start_tap() -> Result<UnboundedReceiver<Recorded>, String> {
    let (tx, rx) = unbounded_channel::<Recorded>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("baton-takeover".into())
        .spawn(move || {
            let interest = vec![
                CGEventType::KeyDown,
                CGEventType::KeyUp,
                CGEventType::LeftMouseDown,
                CGEventType::LeftMouseUp,
                CGEventType::RightMouseDown,
                CGEventType::RightMouseUp,
                CGEventType::OtherMouseDown,
                CGEventType::OtherMouseUp,
                CGEventType::MouseMoved,
                CGEventType::LeftMouseDragged,
                CGEventType::RightMouseDragged,
                CGEventType::OtherMouseDragged,
                CGEventType::ScrollWheel,
            ];
            let ready = ready_tx.clone();
            let tapped = CGEventTap::with_enabled(
                CGEventTapLocation::Session,
                CGEventTapPlacement::TailAppendEventTap,
                CGEventTapOptions::ListenOnly,
                interest,
                |_proxy, kind, event| {
                    let mark = event.get_integer_value_field(EventField::EVENT_SOURCE_USER_DATA);
                    if mark != i64::from(OWN_INPUT_MARK) {
                        let at = std::time::Instant::now();
                        let button =
                            event.get_integer_value_field(EventField::MOUSE_EVENT_BUTTON_NUMBER);
                        let key = event.get_integer_value_field(EventField::KEYBOARD_EVENT_KEYCODE);
                        let wheel = event
                            .get_integer_value_field(EventField::SCROLL_WHEEL_EVENT_DELTA_AXIS_1);
                        for observed in tap_events(kind as u32, button, key, wheel) {
                            let _ = tx.send((observed, at));
                        }
                    }
                    CallbackResult::Keep
                },
                move || {
                    let _ = ready.send(Ok(()));
                    CFRunLoop::run_current();
                },
            );
            if tapped.is_err() {
                let _ = ready_tx.send(Err(NO_INPUT_MONITORING.to_string()));
            }
        })
        .map_err(|e| format!("cannot start watching the input: {e}"))?;
    ready_rx
        .recv()
        .unwrap_or_else(|_| Err("the input watcher ended at start".into()))?;
    Ok(rx)
}

/// An event, by its Quartz type, in X11's numbering of buttons (1 left, 2 middle, 3 right, 4
/// and 5 the wheel) so every platform feeds the rules alike. Modifier keys alone
/// (`FlagsChanged`) are not asked for: they say nothing of a person at work.
fn tap_events(kind: u32, button: i64, key: i64, wheel: i64) -> Vec<Observed> {
    let happened = |kind, detail| Observed::Happened { kind, detail };
    let other = match button {
        2 => 2,
        b => u8::try_from(b + 6).unwrap_or(u8::MAX),
    };
    let key = (key & 0xff) as u8;
    match kind {
        1 => vec![happened(Kind::ButtonPress, 1)],
        2 => vec![happened(Kind::ButtonRelease, 1)],
        3 => vec![happened(Kind::ButtonPress, 3)],
        4 => vec![happened(Kind::ButtonRelease, 3)],
        5..=7 | 27 => vec![happened(Kind::Motion, 0)],
        10 => vec![happened(Kind::KeyPress, key)],
        11 => vec![happened(Kind::KeyRelease, key)],
        22 => {
            let detail = if wheel > 0 { 4 } else { 5 };
            vec![
                happened(Kind::ButtonPress, detail),
                happened(Kind::ButtonRelease, detail),
            ]
        }
        25 => vec![happened(Kind::ButtonPress, other)],
        26 => vec![happened(Kind::ButtonRelease, other)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartz_events_become_the_rules_events() {
        let happened = |kind, detail| Observed::Happened { kind, detail };
        assert_eq!(tap_events(1, 0, 0, 0), [happened(Kind::ButtonPress, 1)]);
        assert_eq!(tap_events(6, 0, 0, 0), [happened(Kind::Motion, 0)]);
        assert_eq!(tap_events(10, 0, 36, 0), [happened(Kind::KeyPress, 36)]);
        assert_eq!(
            tap_events(22, 0, 0, -3),
            [
                happened(Kind::ButtonPress, 5),
                happened(Kind::ButtonRelease, 5)
            ]
        );
        assert_eq!(tap_events(25, 2, 0, 0), [happened(Kind::ButtonPress, 2)]);
        assert_eq!(tap_events(25, 3, 0, 0), [happened(Kind::ButtonPress, 9)]);
        assert!(tap_events(12, 0, 0, 0).is_empty());
    }
}
