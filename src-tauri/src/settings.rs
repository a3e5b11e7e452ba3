//! The tray app's settings, kept in the settings table of Baton's database (one JSON value a
//! key), with defaults for anything missing or unreadable.

use baton_core::{Store, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::notice::NoticeKind;

/// The default stop hotkey.
pub const DEFAULT_HOTKEY: &str = "CmdOrCtrl+Alt+Shift+S";

/// Which notifications to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// A run is queued behind the holder.
    pub queued: bool,
    /// The desktop changed hands.
    pub handoff: bool,
    /// The user stopped a run.
    pub stopped: bool,
    /// A run stopped responding.
    pub expired: bool,
    /// The person at the computer took over from the holder.
    pub takeover: bool,
    /// Show none at all.
    pub do_not_disturb: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            queued: true,
            handoff: true,
            stopped: true,
            expired: true,
            takeover: true,
            do_not_disturb: false,
        }
    }
}

impl NotifySettings {
    /// Whether a notice of `kind` is shown.
    pub fn allows(&self, kind: NoticeKind) -> bool {
        !self.do_not_disturb
            && match kind {
                NoticeKind::Queued => self.queued,
                NoticeKind::Handoff => self.handoff,
                NoticeKind::Stopped => self.stopped,
                NoticeKind::Expired => self.expired,
                NoticeKind::Takeover => self.takeover,
            }
    }
}

/// Everything the tray app keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The global hotkey that stops the holder (an accelerator: `CmdOrCtrl+Alt+Shift+S`).
    pub hotkey: String,
    /// Which notifications to show.
    pub notifications: NotifySettings,
    /// Heartbeat TTL, in seconds, for runs that do not ask for their own.
    pub default_ttl_secs: f64,
    /// The API's port on 127.0.0.1; 0: any free port.
    pub api_port: u16,
    /// Noticing the person at the computer.
    pub takeover: TakeoverConfig,
}

/// Noticing the person at the computer, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TakeoverConfig {
    /// Pause the holder while the person uses the mouse or keyboard.
    pub enabled: bool,
    /// Seconds without the person's input before the holder goes on.
    pub quiet_secs: f64,
}

impl Default for TakeoverConfig {
    fn default() -> Self {
        let defaults = baton_core::takeover::TakeoverSettings::default();
        TakeoverConfig {
            enabled: defaults.enabled,
            quiet_secs: defaults.quiet.as_secs_f64(),
        }
    }
}

impl TakeoverConfig {
    /// The settings the host's watcher takes; refuses a quiet time outside 1 s to 10 min.
    pub fn to_settings(self) -> Result<baton_core::takeover::TakeoverSettings> {
        if !(1.0..=600.0).contains(&self.quiet_secs) {
            return Err(Error::Setting(format!(
                "The quiet time before the holder goes on must be between 1 and 600 seconds; {} is not.",
                self.quiet_secs
            )));
        }
        Ok(baton_core::takeover::TakeoverSettings {
            enabled: self.enabled,
            quiet: std::time::Duration::from_secs_f64(self.quiet_secs),
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hotkey: DEFAULT_HOTKEY.into(),
            notifications: NotifySettings::default(),
            default_ttl_secs: baton_core::DEFAULT_TTL.as_secs_f64(),
            api_port: 0,
            takeover: TakeoverConfig::default(),
        }
    }
}

const HOTKEY: &str = "tray.hotkey";
const NOTIFICATIONS: &str = "tray.notifications";
const DEFAULT_TTL: &str = "host.default_ttl_secs";
const API_PORT: &str = "host.api_port";
const TAKEOVER: &str = "host.takeover";

impl Settings {
    /// Reads the settings; a missing or unreadable value gets its default (and a warning).
    pub async fn load(store: &Store) -> Settings {
        let defaults = Settings::default();
        Settings {
            hotkey: read(store, HOTKEY).await.unwrap_or(defaults.hotkey),
            notifications: read(store, NOTIFICATIONS)
                .await
                .unwrap_or(defaults.notifications),
            default_ttl_secs: read(store, DEFAULT_TTL)
                .await
                .unwrap_or(defaults.default_ttl_secs),
            api_port: read(store, API_PORT).await.unwrap_or(defaults.api_port),
            takeover: read(store, TAKEOVER).await.unwrap_or(defaults.takeover),
        }
    }

    /// Stores the hotkey.
    pub async fn save_hotkey(store: &Store, hotkey: &str) -> Result<()> {
        write(store, HOTKEY, &hotkey).await
    }

    /// Stores the default heartbeat TTL.
    pub async fn save_default_ttl(store: &Store, seconds: f64) -> Result<()> {
        write(store, DEFAULT_TTL, &seconds).await
    }

    /// Stores the API port.
    pub async fn save_api_port(store: &Store, port: u16) -> Result<()> {
        write(store, API_PORT, &port).await
    }

    /// Stores how the person at the computer is noticed.
    pub async fn save_takeover(store: &Store, takeover: &TakeoverConfig) -> Result<()> {
        write(store, TAKEOVER, takeover).await
    }

    /// Stores the notification switches.
    pub async fn save_notifications(store: &Store, notifications: &NotifySettings) -> Result<()> {
        write(store, NOTIFICATIONS, notifications).await
    }
}

async fn read<T: serde::de::DeserializeOwned>(store: &Store, key: &str) -> Option<T> {
    match store.setting(key).await {
        Ok(Some(value)) => serde_json::from_value(value)
            .inspect_err(|e| tracing::warn!(key, error = %e, "ignoring an unreadable setting"))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(key, error = %e, "cannot read a setting");
            None
        }
    }
}

async fn write<T: Serialize + ?Sized>(store: &Store, key: &str, value: &T) -> Result<()> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::Setting(format!("cannot store {key}: {e}")))?;
    store.set_setting(key, &value, Timestamp::now()).await?;
    Ok(())
}
