//! Process control on Windows: a Job object holds the command and everything it starts, and is
//! closed with this process (kill-on-close), so a command never outlives its wrapper; a cancel
//! asks first (Ctrl+Break to the command's own console process group, WM_CLOSE to its windows)
//! and terminates the job after the grace period.

use std::collections::HashMap;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use baton_api::signals::Sig;
use process_wrap::tokio::{ChildWrapper, CommandWrap, CreationFlags, JobObject, KillOnDrop};
use tokio::process::Command;
use windows::Win32::Foundation::{CloseHandle, HWND, LPARAM, STILL_ACTIVE, WPARAM};
use windows::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
use windows::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};
use windows::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GetWindowThreadProcessId, PostMessageW, WM_CLOSE,
};
use windows::core::BOOL;

/// What a process ended by Ctrl+C exits with (`STATUS_CONTROL_C_EXIT`).
const CONTROL_C_EXIT: u32 = 0xC000_013A;

/// A command in a Job object of its own, in a console process group of its own.
#[derive(Debug)]
pub struct Job {
    child: Box<dyn ChildWrapper>,
    pid: Option<u32>,
}

impl Job {
    /// Starts `command` in a new Job object that ends with this process (the job is closed
    /// when this process exits, however it exits, and its processes with it), leading a new
    /// console process group so a cancel can ask it first with Ctrl+Break.
    pub fn spawn(command: Command) -> io::Result<Job> {
        let child = downstream(command).spawn()?;
        let pid = child.id();
        Ok(Job { child, pid })
    }

    /// Waits for the command itself to end (cancel-safe). What it started stays in the job
    /// until the job is closed, with this process.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.inner_mut().wait().await
    }

    /// Passes a console event on to the command's process group: Ctrl+Break, the one event a
    /// new process group receives (Ctrl+C is disabled in it).
    pub fn forward(&self, _sig: Sig) {
        if let Some(pid) = self.pid {
            ask_group(pid);
        }
    }

    /// Ends the command and everything it started: Ctrl+Break to its group and WM_CLOSE to
    /// the windows of its processes, then, once it has ended or after `grace`, the whole job
    /// terminated.
    pub async fn end(&mut self, grace: Duration) {
        if let Some(pid) = self.pid {
            ask_group(pid);
            close_windows(&descendants(pid));
        }
        let _ = tokio::time::timeout(grace, self.child.inner_mut().wait()).await;
        // The job, not the one process: what the command started goes too.
        let _ = self.child.start_kill();
        let _ = self.child.inner_mut().wait().await;
    }
}

/// `command` in a Job object that is closed (and its processes ended) when this process ends,
/// in a console process group of its own: `baton run`'s commands and the MCP proxy's
/// downstream server.
pub fn downstream(command: Command) -> CommandWrap {
    let mut wrap = CommandWrap::from(command);
    wrap.wrap(CreationFlags(CREATE_NEW_PROCESS_GROUP))
        .wrap(JobObject)
        .wrap(KillOnDrop);
    wrap
}

/// Ctrl+Break to the console process group `pid` leads. It fails where this process has no
/// console (a service, Wine without one): then the terminate step alone ends the command.
#[allow(unsafe_code)]
fn ask_group(pid: u32) {
    // SAFETY: plain call with integer arguments.
    if let Err(e) = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) } {
        tracing::debug!(pid, error = %e, "no Ctrl+Break for the command's group");
    }
}

/// Asks every top-level window of `pids` to close, as its close button would.
#[allow(unsafe_code)]
fn close_windows(pids: &[u32]) {
    unsafe extern "system" fn each(window: HWND, pids: LPARAM) -> BOOL {
        // SAFETY: `pids` is the address of the slice below, alive for the whole EnumWindows
        // call that invokes this callback.
        let pids = unsafe { &*(pids.0 as *const Vec<u32>) };
        let mut owner = 0u32;
        // SAFETY: `owner` is a valid place for the answer.
        unsafe { GetWindowThreadProcessId(window, Some(&mut owner)) };
        if pids.contains(&owner) {
            // SAFETY: posting a message to a window handle the system just gave us.
            let _ = unsafe { PostMessageW(Some(window), WM_CLOSE, WPARAM(0), LPARAM(0)) };
        }
        BOOL(1)
    }
    let pids = pids.to_vec();
    // SAFETY: the callback reads `pids` only while EnumWindows runs.
    let _ = unsafe { EnumWindows(Some(each), LPARAM(&pids as *const Vec<u32> as isize)) };
}

/// Every process and its parent, from a Toolhelp snapshot.
#[allow(unsafe_code)]
fn process_table() -> HashMap<u32, u32> {
    let mut table = HashMap::new();
    // SAFETY: the snapshot handle is closed below; the entry's size is set as the API needs.
    unsafe {
        let Ok(snapshot) = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) else {
            return table;
        };
        let mut entry = PROCESSENTRY32W {
            dwSize: u32::try_from(std::mem::size_of::<PROCESSENTRY32W>()).unwrap_or(0),
            ..Default::default()
        };
        let mut more = Process32FirstW(snapshot, &mut entry).is_ok();
        while more {
            table.insert(entry.th32ProcessID, entry.th32ParentProcessID);
            more = Process32NextW(snapshot, &mut entry).is_ok();
        }
        let _ = CloseHandle(snapshot);
    }
    table
}

/// `root` and every process below it.
fn descendants(root: u32) -> Vec<u32> {
    let table = process_table();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            table
                .iter()
                .filter(|&(&pid, &p)| p == parent && pid != parent && !found.contains(&pid))
                .map(|(&pid, _)| pid)
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    found
}

/// A command's exit code, and a note when Ctrl+C ended it (reported as 130, as on Unix).
pub fn exit_of(status: &ExitStatus) -> (i32, Option<String>) {
    match status.code() {
        Some(code) if code as u32 == CONTROL_C_EXIT => (130, Some("ended by Ctrl+C".into())),
        Some(code) => (code, None),
        None => (1, None),
    }
}

/// Whether `program` names a program Windows can start, directly or on `PATH` (trying the
/// extensions of `PATHEXT` when it has none).
pub fn can_start(program: &str) -> bool {
    let path = std::path::Path::new(program);
    let extensions: Vec<String> = if path.extension().is_some() {
        vec![String::new()]
    } else {
        std::env::var("PATHEXT")
            .unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into())
            .split(';')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    };
    let found = |base: &std::path::Path| {
        extensions.iter().any(|ext| {
            let mut name = base.as_os_str().to_owned();
            name.push(ext);
            std::path::Path::new(&name).is_file()
        })
    };
    if program.contains(['/', '\\', ':']) {
        return found(path);
    }
    std::env::var_os("PATH")
        .is_some_and(|dirs| std::env::split_paths(&dirs).any(|dir| found(&dir.join(program))))
}

/// This process's parent.
pub fn parent_id() -> u32 {
    process_table()
        .get(&std::process::id())
        .copied()
        .unwrap_or(0)
}

/// This process's ancestors, nearest first. Windows reuses ids and keeps a parent's id after
/// the parent is gone, so the walk stops at a process started after its child.
pub fn ancestors() -> Vec<u32> {
    let table = process_table();
    let mut chain = Vec::new();
    let mut pid = std::process::id();
    while let Some(&parent) = table.get(&pid) {
        if parent == 0 || chain.contains(&parent) || chain.len() >= 64 {
            break;
        }
        chain.push(parent);
        pid = parent;
    }
    chain
}

/// Whether a process `pid` exists and has not exited.
#[allow(unsafe_code)]
pub fn alive(pid: u32) -> bool {
    // SAFETY: the handle is closed before returning; `code` is a valid place for the answer.
    unsafe {
        let Ok(handle) = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid) else {
            return false;
        };
        let mut code = 0u32;
        let running =
            GetExitCodeProcess(handle, &mut code).is_ok() && code == STILL_ACTIVE.0 as u32;
        let _ = CloseHandle(handle);
        running
    }
}
