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
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "baton-tray: there is no display to show the tray on (neither DISPLAY nor WAYLAND_DISPLAY is set).\n\
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
