//! The seam between the gateway and the platform: the only place input reaches a display.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::input::action::Step;

/// What a driver does: the only place input reaches the display.
pub trait InputDriver: Send {
    /// The main screen's size.
    fn screen(&mut self) -> std::result::Result<(i32, i32), String>;
    /// Where the pointer is; `None` where the desktop tells no program (Wayland), which is an
    /// answer and not a failure.
    fn pointer(&mut self) -> std::result::Result<Option<(i32, i32)>, String>;
    /// Sends one step (never a `Wait`: the gateway waits itself).
    fn perform(&mut self, step: &Step) -> std::result::Result<(), String>;
    /// The display's picture, as PNG. Only a run's private display offers one: the person's
    /// desktop is theirs to look at.
    fn screenshot(&mut self) -> std::result::Result<Vec<u8>, String> {
        Err("this display takes no screenshots through Baton".into())
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

    fn pointer(&mut self) -> std::result::Result<Option<(i32, i32)>, String> {
        let performed = self.performed.lock().map_err(|e| e.to_string())?;
        let mut at = (0, 0);
        for step in performed.iter() {
            match step {
                Step::MoveTo(x, y) => at = (*x, *y),
                Step::MoveBy(dx, dy) => at = (at.0 + dx, at.1 + dy),
                _ => {}
            }
        }
        Ok(Some(at))
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
