//! Windows: the console's control events, and the end of the session as a window hears it.
//!
//! A process that has loaded `user32.dll` (Baton's do: enigo, the tray) is not sent the
//! console's logoff and shutdown events; Windows sends its top-level windows
//! `WM_QUERYENDSESSION` and `WM_ENDSESSION` instead, and ends the process once they have
//! answered. So a hidden top-level window of Baton's own, on a thread of its own, hears them,
//! and holds its answer to `WM_ENDSESSION` until the clean stop is done (see [`Signals`]).

use std::cell::RefCell;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::signal::windows::{CtrlBreak, CtrlC, CtrlClose, CtrlLogoff, CtrlShutdown};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use windows::Win32::Foundation::{
    ERROR_CLASS_ALREADY_EXISTS, GetLastError, HWND, LPARAM, LRESULT, WPARAM,
};
use windows::Win32::System::LibraryLoader::GetModuleHandleW;
use windows::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DispatchMessageW, ENDSESSION_LOGOFF, GetMessageW, MSG,
    RegisterClassW, TranslateMessage, WINDOW_EX_STYLE, WINDOW_STYLE, WM_ENDSESSION,
    WM_QUERYENDSESSION, WNDCLASSW,
};
use windows::core::w;

use super::Sig;

/// How long the end of the session waits for the clean stop: Windows shows its "apps are
/// preventing shutdown" screen after about 5 s, and a host's clean stop takes well under one.
const STOP_BUDGET: Duration = Duration::from_secs(5);

/// The session ends: whether by logoff or shutdown, and the line whose closing lets the window
/// answer, and so Windows go on.
type Ending = (Sig, std_mpsc::Sender<()>);

/// The console's control events (Ctrl+C, Ctrl+Break, the console window closed, logoff and
/// shutdown) and the end of the session. A logoff or shutdown heard by the window is held off
/// until this `Signals` is dropped (at most [`STOP_BUDGET`]): the caller drops it after its
/// clean stop, as it does by keeping it until the end of the function that stops.
#[derive(Debug)]
pub struct Signals {
    ctrl_c: CtrlC,
    ctrl_break: CtrlBreak,
    close: CtrlClose,
    logoff: CtrlLogoff,
    shutdown: CtrlShutdown,
    /// `None` where no window could be made (a service without a desktop): the console's
    /// events are all there is then.
    session: Option<UnboundedReceiver<Ending>>,
    /// The session's end that waits for this to be dropped.
    holding: Option<std_mpsc::Sender<()>>,
}

impl Signals {
    /// Starts listening.
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::windows;
        let session = watch_session()
            .inspect_err(|e| tracing::warn!("logoff and shutdown will not stop Baton cleanly: {e}"))
            .ok();
        Ok(Signals {
            ctrl_c: windows::ctrl_c()?,
            ctrl_break: windows::ctrl_break()?,
            close: windows::ctrl_close()?,
            logoff: windows::ctrl_logoff()?,
            shutdown: windows::ctrl_shutdown()?,
            session,
            holding: None,
        })
    }

    /// The next one. Returning from the handler of a console's close, logoff or shutdown
    /// event lets Windows end the process, so the caller must finish its clean stop promptly
    /// (Windows allows about 5 s).
    pub async fn recv(&mut self) -> Sig {
        tokio::select! {
            _ = self.ctrl_c.recv() => Sig::Interrupt,
            _ = self.ctrl_break.recv() => Sig::Break,
            _ = self.close.recv() => Sig::Hangup,
            _ = self.logoff.recv() => Sig::Logoff,
            _ = self.shutdown.recv() => Sig::Shutdown,
            (sig, hold) = ending(&mut self.session) => {
                self.holding = Some(hold);
                sig
            }
        }
    }
}

/// The next end of the session; never, without a window.
async fn ending(session: &mut Option<UnboundedReceiver<Ending>>) -> Ending {
    if let Some(ending) = match session {
        Some(session) => session.recv().await,
        None => None,
    } {
        return ending;
    }
    std::future::pending().await
}

thread_local! {
    /// Where the window's thread sends the session's end.
    static SINK: RefCell<Option<UnboundedSender<Ending>>> = const { RefCell::new(None) };
}

/// Makes the hidden window, on a thread that runs its message loop for the life of the process.
#[allow(unsafe_code)]
fn watch_session() -> Result<UnboundedReceiver<Ending>, String> {
    let (tx, rx) = unbounded_channel();
    let (ready_tx, ready_rx) = std_mpsc::channel();
    std::thread::Builder::new()
        .name("baton-session".into())
        .spawn(move || {
            SINK.with(|sink| *sink.borrow_mut() = Some(tx));
            let made = make_window();
            let ok = made.is_ok();
            let _ = ready_tx.send(made);
            if !ok {
                return;
            }
            let mut msg = MSG::default();
            // SAFETY: `msg` outlives each call; the loop dispatches the window's messages (the
            // session's end is sent, so Windows calls the window from inside GetMessageW).
            while unsafe { GetMessageW(&mut msg, None, 0, 0) }.as_bool() {
                unsafe {
                    let _ = TranslateMessage(&msg);
                    DispatchMessageW(&msg);
                }
            }
        })
        .map_err(|e| format!("cannot start listening for the session's end: {e}"))?;
    ready_rx
        .recv()
        .unwrap_or_else(|_| Err("the session watcher ended at start".into()))?;
    Ok(rx)
}

/// A top-level window that is never shown: a message-only window (`HWND_MESSAGE`) is not sent
/// the session's end, so this one has no parent.
#[allow(unsafe_code)]
fn make_window() -> Result<(), String> {
    let class = w!("BatonSessionEnd");
    // SAFETY: the class names a window procedure of the right shape and a static name; the
    // window is made on this thread, which then runs its message loop.
    unsafe {
        let module = GetModuleHandleW(None).map_err(|e| e.to_string())?;
        let wc = WNDCLASSW {
            lpfnWndProc: Some(on_message),
            hInstance: module.into(),
            lpszClassName: class,
            ..Default::default()
        };
        // Several `Signals` in one process share the class.
        if RegisterClassW(&wc) == 0 && GetLastError() != ERROR_CLASS_ALREADY_EXISTS {
            return Err(format!(
                "cannot register the session window's class: {}",
                windows::core::Error::from_thread()
            ));
        }
        CreateWindowExW(
            WINDOW_EX_STYLE::default(),
            class,
            w!("Baton"),
            WINDOW_STYLE::default(),
            0,
            0,
            0,
            0,
            None,
            None,
            Some(module.into()),
            None,
        )
        .map(drop)
        .map_err(|e| format!("cannot make the session window: {e}"))
    }
}

#[allow(unsafe_code)]
unsafe extern "system" fn on_message(
    window: HWND,
    msg: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    match msg {
        // Baton never stands in the way of the session's end.
        WM_QUERYENDSESSION => LRESULT(1),
        // `wparam` is FALSE when the end was called off.
        WM_ENDSESSION => {
            if wparam.0 != 0 {
                let sig = if (lparam.0 as u32) & ENDSESSION_LOGOFF != 0 {
                    Sig::Logoff
                } else {
                    Sig::Shutdown
                };
                hold_for_stop(sig);
            }
            LRESULT(0)
        }
        // SAFETY: the arguments are the ones Windows passed.
        _ => unsafe { DefWindowProcW(window, msg, wparam, lparam) },
    }
}

/// Tells the listener, and waits until it has stopped (its `Signals` dropped) or the budget is
/// spent: once this window answers, Windows may end the process.
fn hold_for_stop(sig: Sig) {
    let (hold, released) = std_mpsc::channel::<()>();
    let told = SINK.with(|sink| {
        sink.borrow()
            .as_ref()
            .is_some_and(|tx| tx.send((sig, hold)).is_ok())
    });
    if told {
        tracing::info!("the session ends ({sig}): stopping cleanly first");
        let _ = released.recv_timeout(STOP_BUDGET);
    }
}
