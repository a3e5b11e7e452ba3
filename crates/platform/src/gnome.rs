//! Telling the person's input from Baton's on GNOME (Wayland), through Baton's shell extension.
//!
//! GNOME reports input from every source alike to programs: its idle monitor counts Baton's
//! own libei input as activity, so timing alone would pause the holder on its own typing, the
//! mistake X11's detection was built to avoid. Only the shell knows which device object each
//! event came from, and Baton's libei devices are objects of their own. The extension
//! (`extensions/gnome/baton-takeover@baton.app`) says, on the session bus, the number of the
//! device behind each burst of input and lists the devices on request; Baton claims as its own
//! the devices that appeared while its libei connection was being set up ([`InputSource::claim_new`]),
//! and takes input from any other device for the person's.
//!
//! The shell reports the last device whenever it changes, so the person's input is seen as it
//! follows Baton's own or starts anew; a person who was already typing when the holder got the
//! desktop is seen at their first event after the holder's first action.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use baton_core::takeover::Recorded;
use baton_core::takeover::attribution::{Kind, Observed};
use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::error::{Error, Result};

/// Where the extension answers.
const SHELL: &str = "org.gnome.Shell";
const PATH: &str = "/app/baton/InputSource";
const INTERFACE: &str = "app.baton.InputSource";
/// The extension's id, as a person installs it.
pub const EXTENSION: &str = "baton-takeover@baton.app";
/// How long the shell may take to list Baton's new devices.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// Clutter's keyboard device type.
const KEYBOARD: u32 = 1;

/// The extension on this session's bus, and the devices Baton claimed as its own.
#[derive(Debug, Clone)]
pub struct InputSource {
    connection: zbus::Connection,
    own: Arc<Mutex<HashSet<u32>>>,
}

impl InputSource {
    /// Finds the extension: an error says how to get it when it does not answer.
    pub async fn connect() -> Result<InputSource> {
        let connection = zbus::Connection::session()
            .await
            .map_err(|e| Error::NoPortal(e.to_string()))?;
        let source = InputSource {
            connection,
            own: Arc::default(),
        };
        source.devices().await.map_err(|_| Error::NoExtension)?;
        Ok(source)
    }

    /// The numbers of the input devices the shell has now.
    pub async fn devices(&self) -> Result<HashSet<u32>> {
        let reply = self
            .connection
            .call_method(Some(SHELL), PATH, Some(INTERFACE), "Devices", &())
            .await
            .map_err(|e| Error::Takeover(e.to_string()))?;
        let devices: Vec<(u32, u32)> = reply
            .body()
            .deserialize()
            .map_err(|e| Error::Takeover(e.to_string()))?;
        Ok(devices.into_iter().map(|(id, _)| id).collect())
    }

    /// Takes as Baton's the devices that were not in `before`, once there are `expected` of
    /// them (the libei devices the compositor gave Baton): the shell adds them to its seat a
    /// main-loop turn or two after the compositor resumed them. Call it before any holder can
    /// act through them. Answers how many were claimed.
    pub async fn claim_new(&self, before: &HashSet<u32>, expected: usize) -> Result<usize> {
        let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
        let new: Vec<u32> = loop {
            let now = self.devices().await?;
            let new: Vec<u32> = now.difference(before).copied().collect();
            if new.len() >= expected || tokio::time::Instant::now() >= deadline {
                if new.len() < expected {
                    tracing::warn!(
                        claimed = new.len(),
                        expected,
                        "the shell listed fewer new devices than Baton was given; input from the others may pause the holder"
                    );
                }
                break new;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        if let Ok(mut own) = self.own.lock() {
            own.extend(new.iter().copied());
        }
        tracing::info!(devices = ?new, "Baton's own input devices, as the shell numbers them");
        Ok(new.len())
    }

    /// The person's input as it happens: every burst from a device that is not Baton's, as
    /// the takeover watcher takes it (a happened event no request of Baton's answers). Ends
    /// when the bus connection does.
    pub async fn events(&self) -> Result<UnboundedReceiver<Recorded>> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(SHELL)
            .and_then(|b| b.path(PATH))
            .and_then(|b| b.interface(INTERFACE))
            .and_then(|b| b.member("Input"))
            .map_err(|e| Error::Takeover(e.to_string()))?
            .build();
        let mut stream = zbus::MessageStream::for_match_rule(rule, &self.connection, None)
            .await
            .map_err(|e| Error::Takeover(e.to_string()))?;
        let (sender, receiver) = unbounded_channel();
        let own = self.own.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let at = std::time::Instant::now();
                let Ok((device, kind)) = message.body().deserialize::<(u32, u32)>() else {
                    continue;
                };
                if own.lock().is_ok_and(|own| own.contains(&device)) {
                    continue;
                }
                let kind = if kind == KEYBOARD {
                    Kind::KeyPress
                } else {
                    Kind::Motion
                };
                if sender
                    .send((Observed::Happened { kind, detail: 0 }, at))
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

/// The sampling backstop where there is none: GNOME's idle time counts Baton's own input too,
/// so on Wayland only the extension's events tell the person apart.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSampling;

impl baton_core::takeover::ActivityProbe for NoSampling {
    fn sample(&mut self) -> std::result::Result<baton_core::takeover::Sample, String> {
        Err("on Wayland only the shell extension's events tell the person's input apart".into())
    }
}
