//! What macOS lacks of Linux's process control: `PR_SET_PDEATHSIG`. A small watcher process
//! (`baton watch-parent`, hidden) waits with kqueue for `baton run` to exit, however it exits
//! (kill -9 included), then ends the command's process group as a cancel would: SIGTERM, and
//! SIGKILL after the grace period.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::event::{EvFlags, EventFilter, FilterFlag, KEvent, Kqueue};
use nix::sys::signal::{SigHandler, Signal, killpg, signal};
use nix::unistd::Pid;

/// How long the group gets between SIGTERM and SIGKILL, as for a cancel.
const GRACE: Duration = Duration::from_secs(5);

/// Starts the watcher of this process for the group `group`. A watcher that cannot start
/// leaves the command as on any Unix without the Linux call: ended by a cancel, not by a kill
/// of its wrapper; it is said in the log.
pub fn watch_this_process(group: i32) {
    let started = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg("watch-parent")
            .arg(std::process::id().to_string())
            .arg(group.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no watcher: the command would outlive a kill -9 of baton run");
    }
}

/// `baton watch-parent PARENT GROUP`: waits for `parent` to exit, then ends `group`.
#[allow(unsafe_code)]
pub fn watch_parent(parent: u32, group: i32) -> u8 {
    // SAFETY: setting a signal to be ignored installs no handler code.
    unsafe {
        // The terminal's Ctrl+C and hang-up are for the command and its wrapper, not for this.
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGHUP, SigHandler::SigIgn);
    }
    let exited = Kqueue::new().and_then(|queue| {
        let change = KEvent::new(
            parent as usize,
            EventFilter::EVFILT_PROC,
            EvFlags::EV_ADD | EvFlags::EV_ONESHOT,
            FilterFlag::NOTE_EXIT,
            0,
            0,
        );
        let mut seen = [change];
        queue.kevent(&[change], &mut seen, None).map(|_| ())
    });
    match exited {
        // Already gone before the watch began: end the group all the same.
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(_) => return 1,
    }
    let group = Pid::from_raw(group);
    if killpg(group, Signal::SIGTERM) == Err(Errno::ESRCH) {
        return 0;
    }
    std::thread::sleep(GRACE);
    let _ = killpg(group, Signal::SIGKILL);
    0
}
