//! The driver of the real desktop: enigo, over its pure-Rust x11rb backend on Linux (X11), its
//! Win32 `SendInput` backend on Windows and Quartz events on macOS.

use baton_core::input::action::{Button, Key, NamedKey, Step};
use baton_core::input::driver::InputDriver;

/// The real driver: enigo on this platform's desktop.
pub struct EnigoDriver {
    enigo: enigo::Enigo,
}

impl std::fmt::Debug for EnigoDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnigoDriver")
    }
}

/// What marks Baton's own input where the platform carries a mark with each event: Win32's
/// `dwExtraInfo`, Quartz's event-source user data. Takeover detection takes an injected event
/// with any other mark (or none) for the person's, so another tool's synthetic input pauses the
/// holder too (the safe side). Not enigo's default (100), which every enigo user shares.
pub const OWN_INPUT_MARK: u32 = 0x4241_544E;

impl EnigoDriver {
    /// Connects to `display` (`$DISPLAY` when `None`; Linux only, other platforms have one
    /// desktop). On macOS, `ask_permission` lets the system ask the person for the
    /// Accessibility permission when Baton lacks it; without the permission this fails with a
    /// sentence that says where to give it.
    pub fn connect(display: Option<&str>, ask_permission: bool) -> Result<Self, String> {
        // Held until enigo has its own connection: an X server without clients resets, and
        // a reset between the two would undo what enigo's connection set up.
        #[cfg(target_os = "linux")]
        let _probe = has_xtest(display)?;
        let settings = enigo::Settings {
            x11_display: display.map(str::to_string),
            windows_dw_extra_info: Some(OWN_INPUT_MARK as usize),
            event_source_user_data: Some(i64::from(OWN_INPUT_MARK)),
            open_prompt_to_get_permissions: ask_permission,
            ..enigo::Settings::default()
        };
        enigo::Enigo::new(&settings)
            .map(|enigo| EnigoDriver { enigo })
            .map_err(|e| match e {
                enigo::NewConError::NoPermission => NO_ACCESSIBILITY.to_string(),
                e => format!("cannot send input to the display: {e}"),
            })
    }
}

/// Checks that the X display can take synthetic input, and answers the connection that asked.
/// enigo connects to a display without the XTEST extension and fails only at the first
/// event, so without this check input would be said to work and then refuse the holder's
/// first click.
#[cfg(target_os = "linux")]
fn has_xtest(display: Option<&str>) -> Result<impl Sized, String> {
    use x11rb::connection::RequestConnection;
    let failed = |e: &dyn std::fmt::Display| format!("cannot send input to the display: {e}");
    let (display, _) = x11rb::connect(display).map_err(|e| failed(&e))?;
    match display.extension_information("XTEST") {
        Ok(Some(_)) => Ok(display),
        Ok(None) => Err(
            "the display has no XTEST extension, which Baton needs to move the mouse and type"
                .into(),
        ),
        Err(e) => Err(failed(&e)),
    }
}

/// Why input is off on a Mac that has not given Baton the Accessibility permission.
const NO_ACCESSIBILITY: &str = "macOS has not given Baton the Accessibility permission it needs to move the mouse and type for the run that holds the desktop: allow Baton in System Settings > Privacy & Security > Accessibility, then restart Baton";

impl InputDriver for EnigoDriver {
    fn screen(&mut self) -> std::result::Result<(i32, i32), String> {
        use enigo::Mouse;
        self.enigo.main_display().map_err(|e| e.to_string())
    }

    fn pointer(&mut self) -> std::result::Result<Option<(i32, i32)>, String> {
        use enigo::Mouse;
        self.enigo.location().map(Some).map_err(|e| e.to_string())
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

/// F`n` (1 to [`baton_core::input::action::HIGHEST_FUNCTION_KEY`], which validation enforced).
fn function_key(n: u8) -> enigo::Key {
    use enigo::Key as K;
    match n {
        1 => K::F1,
        2 => K::F2,
        3 => K::F3,
        4 => K::F4,
        5 => K::F5,
        6 => K::F6,
        7 => K::F7,
        8 => K::F8,
        9 => K::F9,
        10 => K::F10,
        11 => K::F11,
        12 => K::F12,
        13 => K::F13,
        14 => K::F14,
        15 => K::F15,
        16 => K::F16,
        17 => K::F17,
        18 => K::F18,
        19 => K::F19,
        #[cfg(not(target_os = "macos"))]
        21 => K::F21,
        #[cfg(not(target_os = "macos"))]
        22 => K::F22,
        #[cfg(not(target_os = "macos"))]
        23 => K::F23,
        #[cfg(not(target_os = "macos"))]
        24 => K::F24,
        _ => K::F20,
    }
}
