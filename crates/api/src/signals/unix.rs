use tokio::signal::unix::{Signal, SignalKind, signal};

use super::Sig;

/// Ctrl+C (SIGINT), SIGTERM and a closed terminal (SIGHUP).
#[derive(Debug)]
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    /// Starts listening.
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next one.
    pub async fn recv(&mut self) -> Sig {
        tokio::select! {
            _ = self.interrupt.recv() => Sig::Interrupt,
            _ = self.terminate.recv() => Sig::Terminate,
            _ = self.hangup.recv() => Sig::Hangup,
        }
    }
}
