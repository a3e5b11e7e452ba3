use tokio::signal::windows::{CtrlBreak, CtrlC, CtrlClose, CtrlLogoff, CtrlShutdown};

use super::Sig;

/// The console's control events: Ctrl+C, Ctrl+Break, the console window closed, logoff and
/// shutdown. (A process without a console gets only the last two.)
#[derive(Debug)]
pub struct Signals {
    ctrl_c: CtrlC,
    ctrl_break: CtrlBreak,
    close: CtrlClose,
    logoff: CtrlLogoff,
    shutdown: CtrlShutdown,
}

impl Signals {
    /// Starts listening.
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::windows;
        Ok(Signals {
            ctrl_c: windows::ctrl_c()?,
            ctrl_break: windows::ctrl_break()?,
            close: windows::ctrl_close()?,
            logoff: windows::ctrl_logoff()?,
            shutdown: windows::ctrl_shutdown()?,
        })
    }

    /// The next one. Returning from the handler of a close, logoff or shutdown event lets
    /// Windows end the process, so the caller must finish its clean stop promptly (Windows
    /// allows about 5 s).
    pub async fn recv(&mut self) -> Sig {
        tokio::select! {
            _ = self.ctrl_c.recv() => Sig::Interrupt,
            _ = self.ctrl_break.recv() => Sig::Break,
            _ = self.close.recv() => Sig::Hangup,
            _ = self.logoff.recv() => Sig::Logoff,
            _ = self.shutdown.recv() => Sig::Shutdown,
        }
    }
}
