//! A run's private display (Linux): an X server of its own, started for the run and ended
//! with it, with the input driver and the screenshots of that display (DESIGN rule 14).
//!
//! Xvfb, not a headless Wayland compositor: every toolkit an agent drives (GTK, Qt, Tk,
//! Chromium, Electron, Java) still speaks X11, Xvfb needs no GPU, seat or session bus, starts
//! in tens of milliseconds, and XTEST lets Baton's own driver (enigo) type there exactly as it
//! does on an X11 desktop. A headless compositor would need XWayland for half of those apps
//! anyway, and its input would go through a portal that asks the person.
//!
//! A window manager (Openbox, when installed) runs on each display: apps that ask for focus,
//! dialogs placed over their window, and the EWMH hints that agents' tools (`xdotool
//! windowactivate`, `wmctrl`) need all come from one. Openbox because it is small, keeps to
//! those standards, opens no panel or desktop of its own, and is packaged everywhere; a display
//! without one still works, and says so.
//!
//! Nothing is left behind: the server gets SIGTERM when the thread that started it ends (the
//! private display's input thread, which the host drops with the run), and the kernel sends
//! the same when the host dies, kill -9 included (`PR_SET_PDEATHSIG`). On SIGTERM Xvfb
//! removes its socket and its lock file itself.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baton_core::input::action::Step;
use baton_core::input::driver::InputDriver;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use crate::native::EnigoDriver;

/// The X server each private display runs.
pub const SERVER: &str = "Xvfb";
/// The size of a private display's screen.
pub const SIZE: (u16, u16) = (1280, 800);
/// How long a server may take to say which display it is.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to end after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// The window manager each private display gets, when it is installed.
pub const WINDOW_MANAGER: &str = "openbox";
/// How long the window manager may take to manage the screen.
const WM_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `program` is on `PATH`.
fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// Why private displays cannot be had here, if they cannot: the server is not installed.
pub fn unavailable() -> Option<String> {
    (!installed(SERVER)).then(|| {
        format!("private displays need {SERVER}, which is not installed (Debian: apt install xvfb)")
    })
}

/// One X server of a run's own, with its window manager when there is one. Ends both when
/// dropped.
#[derive(Debug)]
pub struct PrivateDisplay {
    child: Child,
    number: u32,
    window_manager: Option<Child>,
}

impl PrivateDisplay {
    /// Starts a server on the first free display number and waits until it takes clients.
    /// Call it on the thread that is to own the display: the server ends with that thread.
    pub fn start() -> Result<PrivateDisplay, String> {
        let (reader, writer) =
            std::io::pipe().map_err(|e| format!("cannot start {SERVER}: {e}"))?;
        let writer = OwnedFd::from(writer);
        let fd = writer.as_raw_fd();
        let mut command = Command::new(SERVER);
        command
            .args(["-displayfd", &fd.to_string(), "-screen", "0"])
            .arg(format!("{}x{}x24", SIZE.0, SIZE.1))
            .args(["-nolisten", "tcp", "-noreset"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        end_with_this_thread(&mut command, Some(fd));
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {SERVER}: {e}"))?;
        // Only the server may hold the write end now: its exit then ends the read below.
        drop(writer);
        let mut display = PrivateDisplay {
            child,
            number: 0,
            window_manager: None,
        };
        display.number = read_number(reader, &mut display.child)?;
        display.window_manager = start_window_manager(&display.name());
        Ok(display)
    }

    /// The window manager running on it, if any.
    pub fn window_manager(&self) -> Option<&'static str> {
        self.window_manager.as_ref().map(|_| WINDOW_MANAGER)
    }

    /// The display's name, for `DISPLAY`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PrivateDisplay {
    fn drop(&mut self) {
        // The window manager first: it would end anyway when its server goes, but not
        // before the server's end is waited for.
        let name = self.name();
        if let Some(mut window_manager) = self.window_manager.take() {
            stop(&mut window_manager, &name, WINDOW_MANAGER);
        }
        stop(&mut self.child, &name, SERVER);
    }
}

/// SIGTERM, then a kill if `child` has not ended within [`STOP_TIMEOUT`].
fn stop(child: &mut Child, name: &str, what: &str) {
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tracing::warn!(
        display = name,
        what,
        "a private display's process did not end on SIGTERM; killing it"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts the window manager on display `name` and waits until it manages the screen; `None`, with
/// the reason logged, when it is not installed or does not come up (the display works without).
fn start_window_manager(name: &str) -> Option<Child> {
    if !installed(WINDOW_MANAGER) {
        tracing::info!(
            display = name,
            "no window manager on the private display: {WINDOW_MANAGER} is not installed (Debian: apt install openbox)"
        );
        return None;
    }
    let mut command = Command::new(WINDOW_MANAGER);
    command
        .arg("--sm-disable")
        .env("DISPLAY", name)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    end_with_this_thread(&mut command, None);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(display = name, error = %e, "cannot start {WINDOW_MANAGER} on a private display");
            return None;
        }
    };
    match wait_managed(name, &mut child) {
        Ok(()) => Some(child),
        Err(why) => {
            tracing::warn!(
                display = name,
                "no window manager on the private display: {why}"
            );
            stop(&mut child, name, WINDOW_MANAGER);
            None
        }
    }
}

/// Waits until a window manager announces itself on display `name`'s root window
/// (`_NET_SUPPORTING_WM_CHECK`, which an EWMH window manager sets once it manages the screen).
fn wait_managed(name: &str, child: &mut Child) -> Result<(), String> {
    use x11rb::protocol::xproto::AtomEnum;
    let failed = |e: &dyn std::fmt::Display| format!("cannot watch {name}: {e}");
    let (conn, screen) = x11rb::connect(Some(name)).map_err(|e| failed(&e))?;
    let root = conn.setup().roots[screen].root;
    let check = conn
        .intern_atom(false, b"_NET_SUPPORTING_WM_CHECK")
        .map_err(|e| failed(&e))?
        .reply()
        .map_err(|e| failed(&e))?
        .atom;
    let deadline = Instant::now() + WM_TIMEOUT;
    loop {
        let property = conn
            .get_property(false, root, check, AtomEnum::WINDOW, 0, 1)
            .map_err(|e| failed(&e))?
            .reply()
            .map_err(|e| failed(&e))?;
        if property.value_len > 0 {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{WINDOW_MANAGER} ended at once ({status})"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{WINDOW_MANAGER} did not manage the screen within {} s",
                WM_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// In the child, before exec: keep `fd` open across exec (it is where the server writes its
/// display number) and get SIGTERM when the starting thread ends, which includes the host
/// dying; a host that died between fork and exec leaves no process starting.
#[allow(unsafe_code)]
fn end_with_this_thread(command: &mut Command, fd: Option<i32>) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe calls (fcntl, prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = fd {
                let borrowed = std::os::fd::BorrowedFd::borrow_raw(fd);
                nix::fcntl::fcntl(
                    borrowed,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )?;
            }
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            if nix::unistd::getppid() != parent {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// Reads the display number the server writes once it takes clients.
fn read_number(reader: std::io::PipeReader, child: &mut Child) -> Result<u32, String> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + START_TIMEOUT;
    let mut reader = reader;
    let mut said = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{SERVER} did not start within {} s",
                START_TIMEOUT.as_secs()
            ));
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(format!("cannot hear from {SERVER}: {e}")),
        }
        let mut buf = [0u8; 16];
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("cannot hear from {SERVER}: {e}"))?;
        if n == 0 {
            let status = child.wait().map_err(|e| e.to_string())?;
            return Err(format!("{SERVER} ended before it took clients ({status})"));
        }
        said.extend_from_slice(&buf[..n]);
        if said.ends_with(b"\n") {
            return std::str::from_utf8(&said)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| format!("{SERVER} named no display"));
        }
    }
}

/// A private display with its input driver and its screenshots, for the display's gateway.
/// Fields end in this order: the connections first, then the server.
pub struct PrivateDisplayDriver {
    input: EnigoDriver,
    capture: RustConnection,
    root: u32,
    display: PrivateDisplay,
}

impl std::fmt::Debug for PrivateDisplayDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateDisplayDriver")
            .field("display", &self.display)
            .finish_non_exhaustive()
    }
}

impl PrivateDisplayDriver {
    /// Starts a private display and connects to it, on the thread that is to own it.
    pub fn start() -> Result<PrivateDisplayDriver, String> {
        let display = PrivateDisplay::start()?;
        let name = display.name();
        let input = EnigoDriver::connect(Some(&name), false)?;
        let (capture, screen) = x11rb::connect(Some(&name))
            .map_err(|e| format!("cannot watch the private display {name}: {e}"))?;
        let root = capture.setup().roots[screen].root;
        Ok(PrivateDisplayDriver {
            input,
            capture,
            root,
            display,
        })
    }

    /// The display's name, for `DISPLAY`.
    pub fn name(&self) -> String {
        self.display.name()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.display.pid()
    }

    /// The window manager running on it, if any.
    pub fn window_manager(&self) -> Option<&'static str> {
        self.display.window_manager()
    }
}

impl InputDriver for PrivateDisplayDriver {
    fn screen(&mut self) -> Result<(i32, i32), String> {
        self.input.screen()
    }

    fn pointer(&mut self) -> Result<Option<(i32, i32)>, String> {
        self.input.pointer()
    }

    fn perform(&mut self, step: &Step) -> Result<(), String> {
        self.input.perform(step)
    }

    fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        let failed = |e: &dyn std::fmt::Display| format!("cannot read the private display: {e}");
        let (width, height) = SIZE;
        let image = self
            .capture
            .get_image(ImageFormat::Z_PIXMAP, self.root, 0, 0, width, height, !0)
            .map_err(|e| failed(&e))?
            .reply()
            .map_err(|e| failed(&e))?;
        let pixels = usize::from(width) * usize::from(height);
        if image.data.len() < pixels * 4 {
            return Err(failed(&"the server sent a picture of another shape"));
        }
        // 24-bit colour travels as 32 bits a pixel: B, G, R, pad on a little-endian server.
        let lsb = self.capture.setup().image_byte_order == ImageOrder::LSB_FIRST;
        let mut rgb = Vec::with_capacity(pixels * 3);
        for px in image.data.as_chunks::<4>().0.iter().take(pixels) {
            if lsb {
                rgb.extend_from_slice(&[px[2], px[1], px[0]]);
            } else {
                rgb.extend_from_slice(&[px[1], px[2], px[3]]);
            }
        }
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, u32::from(width), u32::from(height));
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&rgb))
            .map_err(|e| failed(&e))?;
        Ok(png)
    }
}
