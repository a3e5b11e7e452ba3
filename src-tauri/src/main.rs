#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]
//! The `baton-tray` binary: reads its arguments, refuses politely where there is no display,
//! else runs the app.

use std::process::ExitCode;

const HELP: &str = "baton-tray [--dashboard] [--settings]

Baton's tray app: who owns the desktop at a glance, a stop hotkey, notifications.
  --dashboard  open the dashboard at once
  --settings   open the settings at once";

fn main() -> ExitCode {
    let mut options = baton_tray::Options::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--dashboard" => options.dashboard = true,
            "--settings" => options.settings = true,
            "--help" | "-h" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("baton-tray: unknown argument '{other}' (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(why) = display() {
        eprintln!(
            "baton-tray: {why}.\n\
             On a machine without a desktop, run 'baton daemon' instead: it hosts the same Baton, without the tray."
        );
        return ExitCode::from(1);
    }
    match baton_tray::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-tray: {e}");
            ExitCode::from(1)
        }
    }
}

/// Windows and macOS always have their desktop (a session without one never starts the app).
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn display() -> Result<(), String> {
    Ok(())
}

/// Whether there is a display to show the tray on, and one that answers: GTK would otherwise
/// panic at start-up.
#[cfg(all(unix, not(target_os = "macos")))]
fn display() -> Result<(), String> {
    let x11 = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
    let wayland = std::env::var("WAYLAND_DISPLAY")
        .ok()
        .filter(|d| !d.is_empty());
    if x11.is_none() && wayland.is_none() {
        return Err(
            "there is no display to show the tray on (neither DISPLAY nor WAYLAND_DISPLAY is set)"
                .into(),
        );
    }
    let answers = |connect: Option<std::io::Result<()>>| connect.is_some_and(|c| c.is_ok());
    if answers(x11.as_deref().map(connect_x11)) || answers(wayland.as_deref().map(connect_wayland))
    {
        return Ok(());
    }
    Err(format!(
        "the display does not answer (DISPLAY={}, WAYLAND_DISPLAY={})",
        x11.as_deref().unwrap_or(""),
        wayland.as_deref().unwrap_or("")
    ))
}

/// Connects to an X server: `:N` (a local socket) or `host:N` (TCP port 6000 + N).
#[cfg(all(unix, not(target_os = "macos")))]
fn connect_x11(display: &str) -> std::io::Result<()> {
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad DISPLAY");
    let (host, rest) = display.rsplit_once(':').ok_or_else(invalid)?;
    let number: u16 = rest
        .split('.')
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| invalid())?;
    match host {
        "" | "unix" => {
            std::os::unix::net::UnixStream::connect(format!("/tmp/.X11-unix/X{number}"))?;
        }
        host => {
            // `host:60000` names no port: an error, not an overflow.
            let port = number.checked_add(6000).ok_or_else(invalid)?;
            let address = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
                .next()
                .ok_or_else(invalid)?;
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2))?;
        }
    }
    Ok(())
}

/// Connects to a Wayland compositor's socket.
#[cfg(all(unix, not(target_os = "macos")))]
fn connect_wayland(display: &str) -> std::io::Result<()> {
    let path = if display.starts_with('/') {
        std::path::PathBuf::from(display)
    } else {
        std::path::PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_default())
            .join(display)
    };
    std::os::unix::net::UnixStream::connect(path).map(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn a_display_number_past_the_last_port_is_refused_not_a_panic() {
        use super::connect_x11;
        let error = connect_x11("localhost:60000").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(
            connect_x11("nohost:x").unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }
}
