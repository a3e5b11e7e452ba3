//! Process control on Unix: process groups, signals, the terminal's foreground group, and
//! `PR_SET_PDEATHSIG` (Linux) so a command never outlives its wrapper. macOS has no
//! `PR_SET_PDEATHSIG`: there a watcher process ends the group when the wrapper exits
//! (`super::macos`).

use std::io;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::Duration;

use baton_api::signals::Sig;
use nix::sys::signal::{SigSet, Signal, killpg};
use nix::unistd::{Pid, getpgrp, setpgid, tcgetpgrp, tcsetpgrp};
use tokio::process::{Child, Command};

/// A command in its own process group.
#[derive(Debug)]
pub struct Job {
    child: Child,
    /// The group, whose id is the command's pid.
    group: Option<Pid>,
    /// The terminal's foreground group before the command was given the terminal.
    terminal: Option<Pid>,
}

impl Job {
    /// Starts `command` leading a new process group (so a cancel reaches everything it
    /// starts), with the terminal if this process is the terminal's foreground (run from a
    /// shell prompt: the command can read from it and gets Ctrl+C itself), and ended with
    /// SIGTERM if this process dies.
    pub fn spawn(mut command: Command) -> io::Result<Job> {
        let foreground = terminal_foreground();
        own_process_group(&mut command, foreground.is_some());
        let child = command.spawn()?;
        let group = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw);
        let mut terminal = None;
        if let Some(group) = group {
            // Also from this side, so the group exists whichever process runs first.
            let _ = setpgid(group, group);
            #[cfg(target_os = "macos")]
            super::macos::watch_this_process(group.as_raw());
            if foreground.is_some() {
                let _ = tcsetpgrp(std::io::stdin().as_fd(), group);
                terminal = foreground;
            }
        }
        Ok(Job {
            child,
            group,
            terminal,
        })
    }

    /// Waits for the command to end (cancel-safe).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Passes `sig` on to the command's whole group.
    pub fn forward(&self, sig: Sig) {
        let signal = match sig {
            Sig::Interrupt | Sig::Break => Signal::SIGINT,
            Sig::Hangup => Signal::SIGHUP,
            Sig::Terminate | Sig::Logoff | Sig::Shutdown => Signal::SIGTERM,
        };
        if let Some(group) = self.group {
            let _ = killpg(group, signal);
        }
    }

    /// Ends the command and everything it started: SIGTERM to the group, then SIGKILL after
    /// `grace`. Gives the terminal back.
    pub async fn end(&mut self, grace: Duration) {
        if let Some(group) = self.group {
            let _ = killpg(group, Signal::SIGTERM);
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            if let Some(group) = self.group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            let _ = self.child.kill().await;
        }
        self.take_back_terminal();
    }

    /// Makes this process's group the terminal's foreground again, if the command had it.
    pub fn take_back_terminal(&mut self) {
        let Some(group) = self.terminal.take() else {
            return;
        };
        // A background process that touches the terminal gets SIGTTOU; hold it off meanwhile.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let _ = ttou.thread_block();
        let _ = tcsetpgrp(std::io::stdin().as_fd(), group);
        let _ = ttou.thread_unblock();
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.take_back_terminal();
    }
}

/// A command's exit code as a shell reports it (128 + N for signal N), and a note when a
/// signal ended it.
pub fn exit_of(status: &ExitStatus) -> (i32, Option<String>) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(format!("killed by signal {sig}"))),
        (None, None) => (1, None),
    }
}

/// Whether `program` names an executable file, directly or on `PATH`.
pub fn can_start(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &std::path::Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

/// This process's group, if it is the terminal's foreground group.
fn terminal_foreground() -> Option<Pid> {
    let stdin = std::io::stdin();
    let ours = getpgrp();
    (std::io::IsTerminal::is_terminal(&stdin)
        && tcgetpgrp(stdin.as_fd()).is_ok_and(|fg| fg == ours))
    .then_some(ours)
}

/// `command` with [`own_process_group`]'s care, for a spawner that takes a
/// [`process_wrap::tokio::CommandWrap`] (rmcp's child-process transport).
pub fn downstream(mut command: Command) -> process_wrap::tokio::CommandWrap {
    own_process_group(&mut command, false);
    process_wrap::tokio::CommandWrap::from(command)
}

/// In the child, before exec: lead a new process group, take the terminal if asked, and get
/// SIGTERM if this process dies (kill -9 included; Linux only), so a command never goes on
/// driving the desktop after its lease went with its wrapper.
#[allow(unsafe_code)]
fn own_process_group(command: &mut Command, take_terminal: bool) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe calls (setpgid, sigprocmask, tcsetpgrp, prctl, getppid), allocating
    // nothing.
    unsafe {
        command.pre_exec(move || {
            setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            if take_terminal {
                let mut ttou = SigSet::empty();
                ttou.add(Signal::SIGTTOU);
                ttou.thread_block()?;
                let _ = tcsetpgrp(std::io::stdin().as_fd(), nix::unistd::getpid());
                ttou.thread_unblock()?;
            }
            #[cfg(target_os = "linux")]
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            // The wrapper may have died between the fork and the line above, and then the
            // signal never comes: the command must not start orphaned.
            if nix::unistd::getppid() != parent {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// This process's parent.
pub fn parent_id() -> u32 {
    std::os::unix::process::parent_id()
}

/// This process's ancestors, nearest first, from `/proc` (Linux); elsewhere only the parent.
pub fn ancestors() -> Vec<u32> {
    let mut chain = Vec::new();
    let mut pid = parent_id();
    while pid > 1 && chain.len() < 64 {
        chain.push(pid);
        match parent_of(pid) {
            Some(parent) => pid = parent,
            None => break,
        }
    }
    chain
}

/// The parent of `pid` from `/proc/<pid>/stat`: the field after the command name, which is in
/// parentheses and may itself contain spaces and parentheses.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether a process `pid` exists (that this process may signal).
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parents_from_proc() {
        let chain = ancestors();
        assert_eq!(chain.first(), Some(&parent_id()));
        assert_eq!(parent_of(std::process::id()), Some(parent_id()));
    }
}
