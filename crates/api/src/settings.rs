//! The host's settings, kept in the settings table of the data directory's database (one JSON
//! value a key), so that every host of a data directory, the tray app or `baton daemon`, starts
//! with the same ones. The settings window writes them; [`crate::Host::start`] reads them, and
//! a value given for one start (a daemon flag) wins over the stored one for that start.

use std::time::Duration;

use baton_core::takeover::TakeoverSettings;
use baton_core::{Store, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Where each setting is kept.
pub mod keys {
    /// The default heartbeat TTL, in seconds.
    pub const DEFAULT_TTL: &str = "host.default_ttl_secs";
    /// The API's port.
    pub const API_PORT: &str = "host.api_port";
    /// Noticing the person at the computer.
    pub const TAKEOVER: &str = "host.takeover";
    /// The most active runs in all.
    pub const MAX_ACTIVE_RUNS: &str = "host.max_active_runs";
    /// The most active runs of one client.
    pub const MAX_RUNS_PER_CLIENT: &str = "host.max_runs_per_client";
    /// How many days of history are kept.
    pub const RETENTION_DAYS: &str = "host.retention_days";
    /// Whether the user OKs each run before it takes the free desktop.
    pub const ASK_FIRST: &str = "host.ask_first";
}

/// The longest retention the settings take (about a hundred years: keep everything).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// What a host keeps between starts.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSettings {
    /// Heartbeat TTL, in seconds, for runs that do not ask for their own.
    pub default_ttl_secs: f64,
    /// The API's port on 127.0.0.1; 0: any free port.
    pub api_port: u16,
    /// Noticing the person at the computer.
    pub takeover: TakeoverConfig,
    /// The most active runs in all; a submit beyond it is refused (429).
    pub max_active_runs: usize,
    /// The most active runs with one client name.
    pub max_runs_per_client: usize,
    /// Runs that ended, and events, older than this many days are pruned.
    pub retention_days: u32,
    /// Ask the user before a run takes the free desktop (off by default).
    pub ask_first: bool,
}

impl Default for HostSettings {
    fn default() -> Self {
        let caps = baton_core::Caps::default();
        HostSettings {
            default_ttl_secs: baton_core::DEFAULT_TTL.as_secs_f64(),
            api_port: 0,
            takeover: TakeoverConfig::default(),
            max_active_runs: caps.max_active,
            max_runs_per_client: caps.max_per_client,
            retention_days: 90,
            ask_first: false,
        }
    }
}

/// A cap on active runs: at least 1.
pub fn check_cap(value: usize, what: &str) -> Result<usize> {
    if value >= 1 {
        Ok(value)
    } else {
        Err(baton_core::Error::Invalid(format!("{what} must be at least 1.")).into())
    }
}

/// A retention period: 1 day to [`MAX_RETENTION_DAYS`].
pub fn check_retention(days: u32) -> Result<u32> {
    if (1..=MAX_RETENTION_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(baton_core::Error::Invalid(format!(
            "History is kept between 1 and {MAX_RETENTION_DAYS} days; {days} is not."
        ))
        .into())
    }
}

impl HostSettings {
    /// Reads the settings; a missing or unreadable value gets its default (and a warning).
    pub async fn load(store: &Store) -> HostSettings {
        let defaults = HostSettings::default();
        HostSettings {
            default_ttl_secs: load_value(store, keys::DEFAULT_TTL)
                .await
                .unwrap_or(defaults.default_ttl_secs),
            api_port: load_value(store, keys::API_PORT)
                .await
                .unwrap_or(defaults.api_port),
            takeover: load_value(store, keys::TAKEOVER)
                .await
                .unwrap_or(defaults.takeover),
            max_active_runs: load_value(store, keys::MAX_ACTIVE_RUNS)
                .await
                .unwrap_or(defaults.max_active_runs),
            max_runs_per_client: load_value(store, keys::MAX_RUNS_PER_CLIENT)
                .await
                .unwrap_or(defaults.max_runs_per_client),
            retention_days: load_value(store, keys::RETENTION_DAYS)
                .await
                .unwrap_or(defaults.retention_days),
            ask_first: load_value(store, keys::ASK_FIRST)
                .await
                .unwrap_or(defaults.ask_first),
        }
    }

    /// Stores the caps on active runs (in all, per client); both at least 1.
    pub async fn save_caps(store: &Store, max_active: usize, per_client: usize) -> Result<()> {
        check_cap(max_active, "The most active runs")?;
        check_cap(per_client, "The most active runs of one client")?;
        store_value(store, keys::MAX_ACTIVE_RUNS, &max_active).await?;
        store_value(store, keys::MAX_RUNS_PER_CLIENT, &per_client).await
    }

    /// Stores how many days of history are kept.
    pub async fn save_retention(store: &Store, days: u32) -> Result<()> {
        store_value(store, keys::RETENTION_DAYS, &check_retention(days)?).await
    }

    /// Stores the default heartbeat TTL.
    pub async fn save_default_ttl(store: &Store, seconds: f64) -> Result<()> {
        store_value(store, keys::DEFAULT_TTL, &seconds).await
    }

    /// Stores whether the user OKs each run before it takes the free desktop.
    pub async fn save_ask_first(store: &Store, ask_first: bool) -> Result<()> {
        store_value(store, keys::ASK_FIRST, &ask_first).await
    }

    /// Stores the API port.
    pub async fn save_api_port(store: &Store, port: u16) -> Result<()> {
        store_value(store, keys::API_PORT, &port).await
    }

    /// Stores how the person at the computer is noticed.
    pub async fn save_takeover(store: &Store, takeover: &TakeoverConfig) -> Result<()> {
        store_value(store, keys::TAKEOVER, takeover).await
    }
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
        let defaults = TakeoverSettings::default();
        TakeoverConfig {
            enabled: defaults.enabled,
            quiet_secs: defaults.quiet.as_secs_f64(),
        }
    }
}

impl TakeoverConfig {
    /// The settings the host's watcher takes; refuses a quiet time outside 1 s to 10 min.
    pub fn to_settings(self) -> Result<TakeoverSettings> {
        if !(1.0..=600.0).contains(&self.quiet_secs) {
            return Err(baton_core::Error::Invalid(format!(
                "The quiet time before the holder goes on must be between 1 and 600 seconds; {} is not.",
                self.quiet_secs
            ))
            .into());
        }
        Ok(TakeoverSettings {
            enabled: self.enabled,
            quiet: Duration::from_secs_f64(self.quiet_secs),
        })
    }
}

/// Reads one setting; `None` when it is missing or unreadable (with a warning: a setting a
/// newer or broken version wrote must not keep the host from starting).
pub async fn load_value<T: DeserializeOwned>(store: &Store, key: &str) -> Option<T> {
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

/// Stores one setting.
pub async fn store_value<T: Serialize + ?Sized>(store: &Store, key: &str, value: &T) -> Result<()> {
    let value = serde_json::to_value(value).map_err(baton_core::Error::unstorable)?;
    store.set_setting(key, &value, Timestamp::now()).await?;
    Ok(())
}
