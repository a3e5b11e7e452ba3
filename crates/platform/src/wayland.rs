//! Input on a Wayland desktop: the RemoteDesktop portal grants it, libei carries it.
//!
//! Wayland gives no program the keyboard and mouse of the session, so Baton asks the desktop
//! portal (`org.freedesktop.portal.RemoteDesktop`, through ashpd) for a remote-desktop session
//! with a keyboard and a pointer. The desktop asks the person once; Baton asks to keep the
//! grant until the person revokes it and stores the restore token the portal hands back
//! (owner-only, in the data directory), so later starts need no dialog. `ConnectToEIS` then
//! gives a libei socket, on which Baton is a *sender* (through reis): it binds the seat's
//! pointer, absolute pointer, buttons, scroll and keyboard, and sends evdev events.
//!
//! What the portal does not give:
//! - where the pointer is (Wayland tells no program), so [`InputDriver::pointer`] answers `None`
//!   and the API says so with `not_supported`;
//! - a keymap of Baton's own: text is typed with the keys of the person's layout, read from the
//!   keymap the compositor sends ([`crate::keymap`]); a character the layout lacks is refused
//!   before anything of the `type` is sent.
//!
//! GNOME 45+ and KDE Plasma 6 implement RemoteDesktop with `ConnectToEIS`; wlroots desktops
//! (sway, Hyprland) do not, and connecting says so.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ashpd::desktop::remote_desktop::{
    DeviceType, RemoteDesktop, SelectDevicesOptions, StartOptions,
};
use ashpd::desktop::{PersistMode, Session};
use baton_core::input::{Button, Combo, InputDriver, Key, NamedKey, Step};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use reis::ei;

use crate::error::{Error, Result};
use crate::gnome::InputSource;
use crate::keymap::{KeyTable, Press};

/// What Baton calls itself to the compositor's libei server.
const EI_NAME: &str = "Baton";
/// How long the compositor may take to hand over its devices after the connection.
const DEVICES_WAIT: Duration = Duration::from_secs(5);
/// How long a full socket may stay full before input counts as failed.
const FLUSH_WAIT: Duration = Duration::from_secs(2);
/// A notch of a scroll wheel in libei's discrete scroll units.
const WHEEL_NOTCH: i32 = 120;

/// evdev codes (linux/input-event-codes.h) of the buttons and named keys.
mod evdev {
    pub const BTN_LEFT: u32 = 0x110;
    pub const BTN_RIGHT: u32 = 0x111;
    pub const BTN_MIDDLE: u32 = 0x112;
    pub const KEY_LEFTSHIFT: u32 = 42;
}

/// The libei interfaces Baton binds, and the capability each gives.
const POINTER: &str = "ei_pointer";
const ABSOLUTE: &str = "ei_pointer_absolute";
const BUTTON: &str = "ei_button";
const SCROLL: &str = "ei_scroll";
const KEYBOARD: &str = "ei_keyboard";
const WANTED: [&str; 5] = [POINTER, ABSOLUTE, BUTTON, SCROLL, KEYBOARD];

/// Whether this session is a Wayland one (`WAYLAND_DISPLAY` set), where input must go through
/// the portal: X11 input (XTEST into XWayland, whose `DISPLAY` is set too) reaches only the few
/// windows that still use X.
pub fn is_wayland_session() -> bool {
    std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty())
}

/// The driver of a Wayland desktop: a portal session kept open, and its libei connection.
pub struct WaylandDriver {
    /// The portal's D-Bus connection lives on this runtime; the session ends with it.
    _runtime: tokio::runtime::Runtime,
    _portal: RemoteDesktop,
    _session: Session<RemoteDesktop>,
    ei: Ei,
}

impl std::fmt::Debug for WaylandDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaylandDriver")
            .field("devices", &self.ei.devices.len())
            .finish_non_exhaustive()
    }
}

impl WaylandDriver {
    /// Asks the portal for the desktop's keyboard and pointer, with the grant stored in
    /// `token_file` if there is one (then the desktop shows no dialog), and connects to the
    /// compositor's libei server. Waits as long as the person takes to answer a dialog; the
    /// newest restore token replaces the stored one. With `source` (GNOME with Baton's shell
    /// extension), the devices the compositor adds for Baton are claimed as Baton's own before
    /// anything is sent through them, so that takeover detection never mistakes them.
    pub fn connect(token_file: &Path, source: Option<InputSource>) -> Result<WaylandDriver> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("baton-portal")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (portal, session, fd) = runtime.block_on(start_session(token_file))?;
        let before = match &source {
            Some(source) => Some(runtime.block_on(source.devices())?),
            None => None,
        };
        let mut ei = Ei::connect(fd)?;
        ei.wait_for_devices(DEVICES_WAIT)?;
        // The first event of a new connection can be lost while the seat learns of the new
        // devices: a Shift tap is harmless, and what the holder sends next arrives whole.
        // (Nobody holds the desktop while a host starts, so no takeover is taken from it.)
        ei.key(evdev::KEY_LEFTSHIFT, true)?;
        ei.key(evdev::KEY_LEFTSHIFT, false)?;
        if let (Some(source), Some(before)) = (&source, &before) {
            runtime.block_on(source.claim_new(before, ei.devices.len()))?;
        }
        Ok(WaylandDriver {
            _runtime: runtime,
            _portal: portal,
            _session: session,
            ei,
        })
    }
}

/// The portal's part: a session granted keyboard and pointer, and its libei socket.
async fn start_session(
    token_file: &Path,
) -> Result<(RemoteDesktop, Session<RemoteDesktop>, OwnedFd)> {
    let portal = RemoteDesktop::new().await.map_err(Error::from_portal)?;
    if portal.version() < 2 {
        return Err(Error::NoRemoteDesktop(format!(
            "its RemoteDesktop is version {}, without ConnectToEIS",
            portal.version()
        )));
    }
    let session = portal
        .create_session(Default::default())
        .await
        .map_err(Error::from_portal)?;
    let token = read_token(token_file);
    let options = SelectDevicesOptions::default()
        .set_devices(DeviceType::Keyboard | DeviceType::Pointer)
        .set_persist_mode(PersistMode::ExplicitlyRevoked)
        .set_restore_token(token.as_deref());
    portal
        .select_devices(&session, options)
        .await
        .and_then(|request| request.response())
        .map_err(Error::from_portal)?;
    let started = portal
        .start(&session, None, StartOptions::default())
        .await
        .and_then(|request| request.response())
        .map_err(Error::from_portal)?;
    let granted = started.devices();
    if !granted.contains(DeviceType::Keyboard | DeviceType::Pointer) {
        return Err(Error::PartlyGranted(format!("{granted:?}")));
    }
    // Each start hands out a new token and the old one may no longer work: keep the newest.
    if let Some(token) = started.restore_token() {
        write_token(token_file, token).map_err(|source| Error::Token {
            path: token_file.to_path_buf(),
            source,
        })?;
    }
    let fd = portal
        .connect_to_eis(&session, Default::default())
        .await
        .map_err(Error::from_portal)?;
    Ok((portal, session, fd))
}

/// The stored restore token, if there is a readable one.
fn read_token(path: &Path) -> Option<String> {
    let token = std::fs::read_to_string(path).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Replaces the stored restore token, owner-only, whole or not at all.
fn write_token(path: &Path, token: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

/// Where Baton keeps the portal's restore token in a data directory.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("remote-desktop-token")
}

/// One device the compositor gave, as its events described it.
#[derive(Debug, Default)]
struct Device {
    interfaces: HashMap<String, reis::Object>,
    /// Where absolute motion may go: (x, y, width, height) in logical pixels.
    regions: Vec<(u32, u32, u32, u32)>,
    /// Described in full (`done`).
    done: bool,
    /// Resumed and emulating: events sent now are delivered.
    emulating: bool,
}

/// Baton's libei connection, driven without a runtime: it is read before each action and
/// while waiting for the devices, on the input thread.
struct Ei {
    context: ei::Context,
    serial: u32,
    sequence: u32,
    /// Capability masks each seat offers, by interface name.
    seats: HashMap<ei::Seat, HashMap<String, u64>>,
    devices: HashMap<ei::Device, Device>,
    keys: Option<KeyTable>,
    /// Why the compositor ended the connection, once it has.
    ended: Option<String>,
    started: Instant,
}

impl Ei {
    fn connect(fd: OwnedFd) -> Result<Ei> {
        let context =
            ei::Context::new(UnixStream::from(fd)).map_err(|e| Error::Eis(e.to_string()))?;
        let handshake = reis::handshake::ei_handshake_blocking(
            &context,
            EI_NAME,
            ei::handshake::ContextType::Sender,
        )
        .map_err(|e| Error::Eis(format!("the handshake failed: {e}")))?;
        Ok(Ei {
            context,
            serial: handshake.serial,
            sequence: 0,
            seats: HashMap::new(),
            devices: HashMap::new(),
            keys: None,
            ended: None,
            started: Instant::now(),
        })
    }

    /// Waits until a keyboard (with its keymap), a pointer, an absolute pointer, buttons and
    /// scrolling are all there and emulating.
    fn wait_for_devices(&mut self, wait: Duration) -> Result<()> {
        let deadline = Instant::now() + wait;
        loop {
            self.pump(Duration::from_millis(50))?;
            let missing = self.missing();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NoDevices(missing.join(", ")));
            }
        }
    }

    /// What Baton still lacks to drive the desktop.
    fn missing(&self) -> Vec<&'static str> {
        let mut missing: Vec<&'static str> = WANTED
            .iter()
            .copied()
            .filter(|interface| self.find(interface).is_none())
            .collect();
        if self.keys.is_none() {
            missing.push("the keyboard's keymap");
        }
        missing
    }

    /// An emulating device with `interface`, and that interface.
    fn find(&self, interface: &str) -> Option<(ei::Device, reis::Object)> {
        self.devices.iter().find_map(|(device, data)| {
            let object = data.interfaces.get(interface)?;
            (data.done && data.emulating).then(|| (device.clone(), object.clone()))
        })
    }

    /// Reads and handles what the compositor sent, waiting up to `wait` for the first of it.
    fn pump(&mut self, wait: Duration) -> Result<()> {
        self.dispatch()?;
        let millis = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.context.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(millis))
            .map_err(|e| Error::Eis(format!("cannot wait for the compositor: {e}")))?;
        if ready > 0 {
            match self.context.read() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.ended
                        .get_or_insert_with(|| "it closed the connection".into());
                }
                Err(e) => return Err(Error::Eis(e.to_string())),
            }
            self.dispatch()?;
        }
        match &self.ended {
            Some(why) => Err(Error::Ended(why.clone())),
            None => Ok(()),
        }
    }

    /// Handles every event already read.
    fn dispatch(&mut self) -> Result<()> {
        while let Some(pending) = self.context.pending_event() {
            let event = match pending {
                reis::PendingRequestResult::Request(event) => event,
                reis::PendingRequestResult::ParseError(e) => {
                    return Err(Error::Eis(format!(
                        "the compositor sent what Baton cannot read: {e}"
                    )));
                }
                reis::PendingRequestResult::InvalidObject(_) => continue,
            };
            self.handle(event);
        }
        self.flush()
    }

    fn handle(&mut self, event: ei::Event) {
        use ei::{connection, keyboard, seat};
        match event {
            ei::Event::Connection(_, connection::Event::Seat { seat }) => {
                self.seats.insert(seat, HashMap::new());
            }
            ei::Event::Connection(_, connection::Event::Ping { ping }) => ping.done(0),
            ei::Event::Connection(
                _,
                connection::Event::Disconnected {
                    last_serial,
                    reason,
                    explanation,
                },
            ) => {
                self.serial = last_serial;
                self.ended = Some(explanation.unwrap_or_else(|| format!("{reason:?}")));
            }
            ei::Event::Seat(seat, seat::Event::Capability { mask, interface }) => {
                self.seats.entry(seat).or_default().insert(interface, mask);
            }
            ei::Event::Seat(seat, seat::Event::Done) => {
                let offered = self.seats.get(&seat);
                let mask = WANTED
                    .iter()
                    .filter_map(|name| offered.and_then(|caps| caps.get(*name)))
                    .fold(0, |all, mask| all | mask);
                seat.bind(mask);
            }
            ei::Event::Seat(_, seat::Event::Device { device }) => {
                self.devices.insert(device, Device::default());
            }
            ei::Event::Seat(seat, seat::Event::Destroyed { serial }) => {
                self.serial = serial;
                self.seats.remove(&seat);
            }
            ei::Event::Device(device, event) => self.device_event(device, event),
            ei::Event::Keyboard(_, keyboard::Event::Keymap { size, keymap, .. }) => {
                match read_keymap(keymap, size).map(|text| KeyTable::from_text(&text)) {
                    Ok(Some(table)) => self.keys = Some(table),
                    Ok(None) => tracing::warn!(
                        "the compositor's keymap cannot be read; text cannot be typed"
                    ),
                    Err(e) => tracing::warn!(error = %e, "cannot read the compositor's keymap"),
                }
            }
            ei::Event::Keyboard(_, keyboard::Event::Modifiers { serial, .. }) => {
                self.serial = serial
            }
            _ => {}
        }
    }

    fn device_event(&mut self, device: ei::Device, event: ei::device::Event) {
        use ei::device::Event;
        let Some(data) = self.devices.get_mut(&device) else {
            return;
        };
        match event {
            Event::Interface { object } => {
                data.interfaces
                    .insert(object.interface().to_string(), object);
            }
            Event::Region {
                offset_x,
                offset_y,
                width,
                hight,
                ..
            } => {
                data.regions.push((offset_x, offset_y, width, hight));
            }
            Event::Done => {
                data.done = true;
                // ei_device version 3 servers resume a device only once the client is ready.
                if device.version() >= 3 {
                    device.ready();
                }
            }
            Event::Resumed { serial } => {
                self.serial = serial;
                device.start_emulating(serial, self.sequence);
                self.sequence = self.sequence.wrapping_add(1);
                data.emulating = true;
            }
            Event::Paused { serial } => {
                self.serial = serial;
                data.emulating = false;
            }
            Event::Destroyed { serial } => {
                self.serial = serial;
                self.devices.remove(&device);
            }
            _ => {}
        }
    }

    /// Sends what is buffered, waiting a little while the socket is full.
    fn flush(&self) -> Result<()> {
        let deadline = Instant::now() + FLUSH_WAIT;
        loop {
            match self.context.flush().map_err(io::Error::from) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    let mut fds = [PollFd::new(self.context.as_fd(), PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::from(100u16));
                }
                Err(e) => return Err(Error::Eis(format!("cannot send to the compositor: {e}"))),
            }
        }
    }

    /// Runs `send` with an emulating device's `interface`, then ends the frame and sends it.
    fn send<T: reis::Interface>(
        &mut self,
        interface: &'static str,
        send: impl FnOnce(T),
    ) -> Result<()> {
        self.pump(Duration::ZERO)?;
        let (device, object) = self
            .find(interface)
            .ok_or(Error::NoDevices(interface.into()))?;
        let typed = object
            .downcast::<T>()
            .ok_or(Error::NoDevices(interface.into()))?;
        send(typed);
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        device.frame(self.serial, micros);
        self.flush()
    }

    fn key(&mut self, code: u32, down: bool) -> Result<()> {
        let state = if down {
            ei::keyboard::KeyState::Press
        } else {
            ei::keyboard::KeyState::Released
        };
        self.send(KEYBOARD, |keyboard: ei::Keyboard| keyboard.key(code, state))
    }

    fn button(&mut self, button: Button, down: bool) -> Result<()> {
        let code = match button {
            Button::Left => evdev::BTN_LEFT,
            Button::Right => evdev::BTN_RIGHT,
            Button::Middle => evdev::BTN_MIDDLE,
        };
        let state = if down {
            ei::button::ButtonState::Press
        } else {
            ei::button::ButtonState::Released
        };
        self.send(BUTTON, |b: ei::Button| b.button(code, state))
    }

    /// The regions of the absolute pointer: the screen as the compositor lays it out.
    fn regions(&self) -> Vec<(u32, u32, u32, u32)> {
        self.devices
            .values()
            .filter(|d| d.interfaces.contains_key(ABSOLUTE))
            .flat_map(|d| d.regions.iter().copied())
            .collect()
    }

    /// Presses the keys of `presses` one after the other, each with its modifiers, which go up
    /// again whatever happened.
    fn tap_all(&mut self, presses: &[Press]) -> Result<()> {
        let keys = self.keys.clone().unwrap_or_default();
        for press in presses {
            let modifiers: Vec<u32> = [
                press.shift.then(|| keys.shift()).flatten(),
                press.altgr.then(|| keys.altgr()).flatten(),
            ]
            .into_iter()
            .flatten()
            .collect();
            self.chord(&modifiers, press.code)?;
        }
        Ok(())
    }

    /// `modifiers` down, `code` down and up, the modifiers up in reverse.
    fn chord(&mut self, modifiers: &[u32], code: u32) -> Result<()> {
        let mut result = modifiers.iter().try_for_each(|m| self.key(*m, true));
        if result.is_ok() {
            result = self.key(code, true).and_then(|()| self.key(code, false));
        }
        // Modifiers go up whatever happened, or they would stay stuck for the person.
        let released = modifiers
            .iter()
            .rev()
            .map(|m| self.key(*m, false))
            .collect::<Vec<_>>();
        result.and(released.into_iter().collect())
    }
}

/// Reads the keymap the compositor put in a memory file (`pread`, as the fd's offset may be
/// shared).
fn read_keymap(fd: OwnedFd, size: u32) -> io::Result<String> {
    let file = std::fs::File::from(fd);
    let mut text = vec![0u8; size as usize];
    file.read_exact_at(&mut text, 0)?;
    String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The evdev code of a named key.
fn named_code(key: NamedKey) -> u32 {
    match key {
        NamedKey::Control => 29,
        NamedKey::Alt => 56,
        NamedKey::Shift => evdev::KEY_LEFTSHIFT,
        NamedKey::Super => 125,
        NamedKey::Return => 28,
        NamedKey::Tab => 15,
        NamedKey::Escape => 1,
        NamedKey::Space => 57,
        NamedKey::Backspace => 14,
        NamedKey::Delete => 111,
        NamedKey::Home => 102,
        NamedKey::End => 107,
        NamedKey::PageUp => 104,
        NamedKey::PageDown => 109,
        NamedKey::Up => 103,
        NamedKey::Down => 108,
        NamedKey::Left => 105,
        NamedKey::Right => 106,
        NamedKey::CapsLock => 58,
        NamedKey::F(n) => function_code(n),
    }
}

/// F1–F10 are 59–68, F11 and F12 87 and 88, F13–F24 183–194 (validation bounds `n`).
fn function_code(n: u8) -> u32 {
    let n = u32::from(n);
    match n {
        1..=10 => 58 + n,
        11 | 12 => 76 + n,
        _ => 170 + n,
    }
}

/// The keys that type `text`, or the first character the layout cannot type.
fn presses(keys: Option<&KeyTable>, text: &str) -> std::result::Result<Vec<Press>, String> {
    let plain = |code| Press {
        code,
        shift: false,
        altgr: false,
    };
    text.chars()
        .map(|c| match c {
            '\n' | '\r' => Ok(plain(named_code(NamedKey::Return))),
            '\t' => Ok(plain(named_code(NamedKey::Tab))),
            c => keys.and_then(|k| k.press(c)).ok_or_else(|| {
                format!(
                    "cannot type {c:?} on this Wayland desktop: the keyboard layout has no key for it (nothing of this text was typed)"
                )
            }),
        })
        .collect()
}

impl InputDriver for WaylandDriver {
    fn screen(&mut self) -> std::result::Result<(i32, i32), String> {
        self.ei.pump(Duration::ZERO).map_err(|e| e.to_string())?;
        let regions = self.ei.regions();
        let width = regions.iter().map(|r| r.0 + r.2).max();
        let height = regions.iter().map(|r| r.1 + r.3).max();
        match (width, height) {
            (Some(w), Some(h)) => Ok((
                i32::try_from(w).unwrap_or(i32::MAX),
                i32::try_from(h).unwrap_or(i32::MAX),
            )),
            _ => Err("the compositor has not said how large the screen is".into()),
        }
    }

    fn pointer(&mut self) -> std::result::Result<Option<(i32, i32)>, String> {
        Ok(None)
    }

    fn perform(&mut self, step: &Step) -> std::result::Result<(), String> {
        let ei = &mut self.ei;
        let done = match step {
            Step::MoveTo(x, y) => {
                let inside = ei.regions().iter().any(|&(rx, ry, w, h)| {
                    let (x, y) = (i64::from(*x), i64::from(*y));
                    x >= i64::from(rx)
                        && x < i64::from(rx + w)
                        && y >= i64::from(ry)
                        && y < i64::from(ry + h)
                });
                if !inside {
                    return Err(format!("({x}, {y}) is not on the screen"));
                }
                #[allow(clippy::cast_precision_loss)]
                let (x, y) = (*x as f32, *y as f32);
                ei.send(ABSOLUTE, |p: ei::PointerAbsolute| p.motion_absolute(x, y))
            }
            Step::MoveBy(dx, dy) => {
                #[allow(clippy::cast_precision_loss)]
                let (dx, dy) = (*dx as f32, *dy as f32);
                ei.send(POINTER, |p: ei::Pointer| p.motion_relative(dx, dy))
            }
            Step::Click(button, count) => (0..*count).try_for_each(|_| {
                ei.button(*button, true)
                    .and_then(|()| ei.button(*button, false))
            }),
            Step::Down(button) => ei.button(*button, true),
            Step::Up(button) => ei.button(*button, false),
            Step::Type(text) => {
                let presses = presses(ei.keys.as_ref(), text)?;
                ei.tap_all(&presses)
            }
            Step::Key(combo) => {
                let (mut modifiers, code) = combo_keys(ei.keys.as_ref(), combo)?;
                modifiers.dedup();
                ei.chord(&modifiers, code)
            }
            Step::Scroll(dx, dy) => {
                let (dx, dy) = (dx * WHEEL_NOTCH, dy * WHEEL_NOTCH);
                ei.send(SCROLL, |s: ei::Scroll| s.scroll_discrete(dx, dy))
            }
            Step::Wait(wait) => {
                std::thread::sleep(*wait);
                Ok(())
            }
        };
        done.map_err(|e| e.to_string())
    }
}

/// The modifier codes and the key code of a combo such as `ctrl+l` or `alt+Tab`.
fn combo_keys(
    keys: Option<&KeyTable>,
    combo: &Combo,
) -> std::result::Result<(Vec<u32>, u32), String> {
    let mut modifiers: Vec<u32> = combo.modifiers.iter().map(|m| named_code(*m)).collect();
    let code = match combo.key {
        Key::Named(named) => named_code(named),
        Key::Char(c) => {
            // The key of the lower-case letter: ctrl+L is ctrl+l, as on X11.
            let lower = c.to_lowercase().next().unwrap_or(c);
            let press = keys
                .and_then(|k| k.press(lower).or_else(|| k.press(c)))
                .ok_or_else(|| format!("this keyboard layout has no key for {c:?}"))?;
            if press.shift {
                modifiers.push(evdev::KEY_LEFTSHIFT);
            }
            if press.altgr
                && let Some(altgr) = keys.and_then(KeyTable::altgr)
            {
                modifiers.push(altgr);
            }
            press.code
        }
    };
    Ok((modifiers, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_function_keys_have_their_evdev_codes() {
        assert_eq!(named_code(NamedKey::Return), 28);
        assert_eq!(function_code(1), 59);
        assert_eq!(function_code(10), 68);
        assert_eq!(function_code(11), 87);
        assert_eq!(function_code(12), 88);
        assert_eq!(function_code(13), 183);
        assert_eq!(function_code(24), 194);
    }

    #[test]
    fn a_text_with_one_character_the_layout_lacks_is_refused_whole() {
        let us = KeyTable::from_layout("us").expect("us");
        let typed = presses(Some(&us), "Hi\n").expect("a US layout types this");
        assert_eq!(typed.len(), 3);
        assert!(typed[0].shift && !typed[1].shift);
        assert_eq!(typed[2].code, 28);
        let refused = presses(Some(&us), "naïve").expect_err("no ï on a US layout");
        assert!(refused.contains("'ï'"), "{refused}");
        assert!(presses(None, "a").is_err(), "no keymap, no text");
    }

    #[test]
    fn a_combo_with_a_letter_uses_the_lower_case_key() {
        let us = KeyTable::from_layout("us").expect("us");
        let combo = baton_core::input::parse_combo("ctrl+L").expect("a combo");
        assert_eq!(combo_keys(Some(&us), &combo), Ok((vec![29], 38)));
        let combo = baton_core::input::parse_combo("ctrl+shift+Tab").expect("a combo");
        assert_eq!(combo_keys(Some(&us), &combo), Ok((vec![29, 42], 15)));
    }

    #[test]
    fn the_token_is_kept_owner_only_and_read_back_trimmed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = token_file(dir.path());
        assert_eq!(read_token(&file), None);
        write_token(&file, "abc-123\n").expect("written");
        assert_eq!(read_token(&file).as_deref(), Some("abc-123"));
        let mode = std::fs::metadata(&file)
            .expect("there")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        write_token(&file, "def").expect("replaced");
        assert_eq!(read_token(&file).as_deref(), Some("def"));
    }
}
