//! Whose input is it? The display's input events, told apart by what sent them, not by when.
//!
//! A display driver reports two things in the order the display handled them: input a client
//! *asked* for (a synthetic event: XTEST's `FakeInput` on X11), saying whether that client is
//! Baton's own gateway; and input that *happened* (a device event). A happened event is Baton's
//! when it answers a request of Baton's still waiting to be answered; anything else is the
//! person's: a real device, another tool's synthetic input (the safe side), a pointer warp.
//! So the person is seen whenever they act, also in the middle of a batch of Baton's own.
//!
//! No display and no clock here: events in, decisions out (the unit tests below), so that every
//! platform's driver feeds the same rules.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// The kinds of input event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A key went down.
    KeyPress,
    /// A key came up.
    KeyRelease,
    /// A button went down (the wheel is buttons too, on X11).
    ButtonPress,
    /// A button came up.
    ButtonRelease,
    /// The pointer moved.
    Motion,
}

impl Kind {
    /// The kind of an X11 core event type (2 to 6), or `None`.
    pub fn from_x11(code: u8) -> Option<Kind> {
        Some(match code {
            2 => Kind::KeyPress,
            3 => Kind::KeyRelease,
            4 => Kind::ButtonPress,
            5 => Kind::ButtonRelease,
            6 => Kind::Motion,
            _ => return None,
        })
    }

    fn press_of(self) -> Option<Kind> {
        match self {
            Kind::KeyRelease => Some(Kind::KeyPress),
            Kind::ButtonRelease => Some(Kind::ButtonPress),
            _ => None,
        }
    }
}

/// One thing the display reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A client asked for synthetic input: `own` when it is Baton's input gateway.
    Asked {
        /// Whether Baton sent it.
        own: bool,
        /// What kind of event it asked for.
        kind: Kind,
        /// The key code or button; 0 for motion.
        detail: u8,
    },
    /// An input event happened on the display.
    Happened {
        /// What kind.
        kind: Kind,
        /// The key code or button; 0 for motion.
        detail: u8,
    },
}

/// A request no event answers within this long is dropped (a move to where the pointer already
/// is produces none), so it cannot later be taken to answer the person's event.
pub const UNANSWERED: Duration = Duration::from_millis(200);

/// Tells the person's input from Baton's, event by event. One per display; call
/// [`Attribution::new_holding`] when the desktop changes hands.
#[derive(Debug, Default)]
pub struct Attribution {
    /// Synthetic requests not yet answered by an event, oldest first.
    pending: VecDeque<(bool, Kind, u8, Instant)>,
    /// Keys and buttons the person pressed while this holder held the desktop.
    pressed: HashSet<(Kind, u8)>,
}

impl Attribution {
    /// A fresh attribution, for a new holder.
    pub fn new() -> Self {
        Attribution::default()
    }

    /// The desktop changed hands: keys the person pressed before are no longer this holding's
    /// (Baton's requests still waiting for their events stay Baton's).
    pub fn new_holding(&mut self) {
        self.pressed.clear();
    }

    /// Takes one observation, made at `at`; `true` when it is the person's input.
    ///
    /// A release whose press came before this holder got the desktop is nobody's takeover: it
    /// is the end of the key press that started the run (Enter in a terminal).
    pub fn observe(&mut self, observed: Observed, at: Instant) -> bool {
        while self
            .pending
            .front()
            .is_some_and(|(_, _, _, asked)| at.saturating_duration_since(*asked) > UNANSWERED)
        {
            self.pending.pop_front();
        }
        match observed {
            Observed::Asked { own, kind, detail } => {
                self.pending.push_back((own, kind, detail, at));
                false
            }
            Observed::Happened { kind, detail } => {
                let answered = self
                    .pending
                    .iter()
                    .position(|(_, k, d, _)| *k == kind && (kind == Kind::Motion || *d == detail));
                let own = match answered {
                    Some(index) => self.pending.remove(index).is_some_and(|(own, ..)| own),
                    None => false,
                };
                if own {
                    return false;
                }
                match kind.press_of() {
                    Some(press) => self.pressed.remove(&(press, detail)),
                    None => {
                        if kind != Kind::Motion {
                            self.pressed.insert((kind, detail));
                        }
                        true
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(own: bool, kind: Kind, detail: u8) -> Observed {
        Observed::Asked { own, kind, detail }
    }

    fn happened(kind: Kind, detail: u8) -> Observed {
        Observed::Happened { kind, detail }
    }

    #[test]
    fn baton_s_own_input_however_fast_is_nobody_s_takeover() {
        let mut a = Attribution::new();
        let t = Instant::now();
        // A batch: 200 moves, then a typed word, every request answered right after.
        for _ in 0..200 {
            assert!(!a.observe(asked(true, Kind::Motion, 0), t));
            assert!(!a.observe(happened(Kind::Motion, 0), t));
        }
        for key in [38, 39, 40] {
            for kind in [Kind::KeyPress, Kind::KeyRelease] {
                assert!(!a.observe(asked(true, kind, key), t));
            }
        }
        for key in [38, 39, 40] {
            for kind in [Kind::KeyPress, Kind::KeyRelease] {
                assert!(
                    !a.observe(happened(kind, key), t),
                    "answered later, still Baton's"
                );
            }
        }
    }

    #[test]
    fn the_person_is_seen_in_the_middle_of_a_batch_and_right_after_it() {
        let mut a = Attribution::new();
        let t = Instant::now();
        a.observe(asked(true, Kind::Motion, 0), t);
        // The person moves the mouse between Baton's request and its event: one of the two
        // motions is the person's, whichever is taken for Baton's.
        assert!(!a.observe(happened(Kind::Motion, 0), t));
        assert!(a.observe(happened(Kind::Motion, 0), t));
        // A millisecond after Baton's own event, a key of the person's.
        let later = t + Duration::from_millis(1);
        assert!(a.observe(happened(Kind::KeyPress, 24), later));
        assert!(
            a.observe(happened(Kind::KeyRelease, 24), later),
            "and its release"
        );
    }

    #[test]
    fn another_tool_s_synthetic_input_is_the_person_s() {
        let mut a = Attribution::new();
        let t = Instant::now();
        a.observe(asked(false, Kind::ButtonPress, 1), t);
        assert!(a.observe(happened(Kind::ButtonPress, 1), t));
    }

    #[test]
    fn a_request_nothing_answered_is_forgotten_and_cannot_hide_the_person() {
        let mut a = Attribution::new();
        let t = Instant::now();
        // A move to where the pointer already was: no event follows.
        a.observe(asked(true, Kind::Motion, 0), t);
        let later = t + UNANSWERED + Duration::from_millis(1);
        assert!(a.observe(happened(Kind::Motion, 0), later));
    }

    #[test]
    fn the_release_of_the_key_that_started_the_run_is_not_a_takeover() {
        let mut a = Attribution::new();
        let t = Instant::now();
        assert!(!a.observe(happened(Kind::KeyRelease, 36), t));
        // A key pressed and released now is.
        assert!(a.observe(happened(Kind::KeyPress, 36), t));
        assert!(a.observe(happened(Kind::KeyRelease, 36), t));
    }

    #[test]
    fn a_key_of_baton_s_does_not_answer_for_another_key() {
        let mut a = Attribution::new();
        let t = Instant::now();
        a.observe(asked(true, Kind::KeyPress, 38), t);
        assert!(
            a.observe(happened(Kind::KeyPress, 24), t),
            "the person's key"
        );
        assert!(!a.observe(happened(Kind::KeyPress, 38), t), "Baton's key");
    }
}
