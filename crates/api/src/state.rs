//! What every handler shares: the core's handle, the user token and the allowed Host values.

use std::sync::Arc;

use baton_core::Handle;
use baton_core::input::Gateway;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::models::{Feature, HostFacts};

/// Shared by all handlers; one reference count to clone, because axum clones the state for
/// every extractor and middleware of every request: a dozen channel ends cloned and dropped
/// each time showed in the hand-off's profile.
#[derive(Debug, Clone)]
pub struct ApiState(Arc<Shared>);

/// What [`ApiState`] shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The scheduler.
    pub core: Handle,
    /// The input gateway (unavailable on a headless host).
    pub input: Gateway,
    /// The runs' private displays (none where the host cannot start them).
    pub displays: crate::displays::Displays,
    user_token: Arc<watch::Sender<String>>,
    allowed_hosts: Arc<[String]>,
    /// The host's token: cancelled when the host stops, so that endless streams end.
    pub(crate) stopping: CancellationToken,
    /// Why takeover detection does not run on this host, if it does not.
    pub(crate) takeover_missing: Option<Arc<str>>,
    /// What takeover detection cannot do here though it runs (sampling only), if anything.
    pub(crate) takeover_limit: Option<Arc<str>>,
    /// The takeover settings, which can switch detection off.
    pub(crate) takeover: Option<watch::Receiver<baton_core::takeover::TakeoverSettings>>,
    /// Runs the commands of schedule entries; none on a host that runs none.
    pub launcher: Option<crate::schedules::Launcher>,
}

impl ApiState {
    /// State for a server on `port` (0 in tests that never check Host: only `localhost` and
    /// loopback addresses without a port are then accepted).
    pub fn new(
        core: Handle,
        input: Gateway,
        user_token: String,
        port: u16,
        stopping: CancellationToken,
    ) -> Self {
        ApiState(Arc::new(Shared {
            core,
            input,
            displays: crate::displays::Displays::unavailable(
                "this host starts no private displays",
            ),
            user_token: Arc::new(watch::Sender::new(user_token)),
            allowed_hosts: allowed_hosts(port),
            stopping,
            takeover_missing: Some("takeover detection is not started on this host".into()),
            takeover_limit: None,
            takeover: None,
            launcher: None,
        }))
    }

    /// With takeover detection as the host started it: `missing` says why it does not run.
    pub fn with_takeover(
        mut self,
        missing: Option<String>,
        settings: watch::Receiver<baton_core::takeover::TakeoverSettings>,
    ) -> Self {
        let shared = Arc::make_mut(&mut self.0);
        shared.takeover_missing = missing.map(Into::into);
        shared.takeover = Some(settings);
        self
    }

    /// With the launcher of scheduled commands.
    pub fn with_launcher(mut self, launcher: crate::schedules::Launcher) -> Self {
        Arc::make_mut(&mut self.0).launcher = Some(launcher);
        self
    }

    /// With the private displays the host starts.
    pub fn with_displays(mut self, displays: crate::displays::Displays) -> Self {
        Arc::make_mut(&mut self.0).displays = displays;
        self
    }

    /// With what takeover detection cannot do here though it runs.
    pub fn with_takeover_limit(mut self, limit: Option<String>) -> Self {
        Arc::make_mut(&mut self.0).takeover_limit = limit.map(Into::into);
        self
    }

    /// What takeover detection cannot do here though it runs (it samples only: input in the
    /// middle of a batch of the holder's may go unseen), if anything.
    pub fn takeover_limit(&self) -> Option<&str> {
        self.takeover_limit.as_deref()
    }

    /// Why takeover detection cannot run on this host at all (the platform, the session), if
    /// it cannot: unlike the settings' switch, this does not change while the host runs.
    pub fn takeover_missing(&self) -> Option<&str> {
        self.takeover_missing.as_deref()
    }

    /// Why takeover detection is off now, if it is.
    pub fn takeover_off(&self) -> Option<String> {
        if let Some(why) = &self.takeover_missing {
            return Some(why.to_string());
        }
        match &self.takeover {
            Some(settings) if !settings.borrow().enabled => {
                Some("takeover detection is switched off in the settings".into())
            }
            _ => None,
        }
    }

    /// What this host can do here. `live`: with the settings' switch of takeover detection
    /// (the API); without it, what the platform and the session allow, which does not change
    /// while the host runs (the tray menu, the settings' own list).
    pub fn host_facts(&self, live: bool) -> HostFacts {
        let takeover_off = if live {
            self.takeover_off()
        } else {
            self.takeover_missing().map(str::to_string)
        };
        HostFacts {
            platform: std::env::consts::OS.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            input: Feature::from_reason(self.input.unavailable_reason()),
            takeover: Feature::from_reason(takeover_off)
                .limited(self.takeover_limit().map(str::to_string)),
        }
    }

    /// The same state for a server on `port`: requests must name that port in their Host.
    pub fn for_port(&self, port: u16) -> Self {
        ApiState(Arc::new(Shared {
            allowed_hosts: allowed_hosts(port),
            ..Shared::clone(&self.0)
        }))
    }

    /// The current user token.
    pub fn user_token(&self) -> String {
        self.user_token.borrow().clone()
    }

    /// Replaces the user token (settings: regenerate); the old one stops working at once.
    pub fn set_user_token(&self, token: String) {
        self.user_token.send_replace(token);
    }

    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }
}

impl std::ops::Deref for ApiState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Loopback names, with and without the port.
fn allowed_hosts(port: u16) -> Arc<[String]> {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .flat_map(|h| [format!("{h}:{port}"), (*h).to_string()])
        .collect()
}
