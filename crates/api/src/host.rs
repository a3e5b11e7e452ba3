//! Hosting Baton: the data directory's lock and token, the store, the scheduler and the HTTP
//! server, started and stopped in the right order. `baton daemon` and the tray app both host
//! through this, so agents cannot tell them apart.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use baton_core::clock::SystemClock;
use baton_core::input::{Gateway, InputDriver};
use baton_core::takeover::{self, TakeoverSettings};
use baton_core::{Config, Durability, Handle, Store, Timestamp};
use baton_platform::{DataDir, EnigoDriver, HostInfo, HostKind, HostLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::serve::Limits;
use crate::settings::HostSettings;
use crate::state::ApiState;

/// How to host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The data directory to serve.
    pub data_dir: DataDir,
    /// Which program hosts, written into `host.json`.
    pub kind: HostKind,
    /// SQLite `synchronous` level.
    pub durability: Durability,
    /// Where input goes.
    pub input: InputOptions,
    /// Settings for this start only (a daemon's flags). Each one given wins over the stored
    /// setting (`crate::settings`) for this start, and the log says so; the others come from
    /// the data directory, so every host of it starts the same way.
    pub overrides: Overrides,
    /// The `baton` program that runs the commands of schedule entries (`baton run --adopt`).
    /// `None`: the entries are kept and served, but none fires and none runs now.
    pub schedules: Option<std::path::PathBuf>,
}

impl HostOptions {
    /// A host of `data_dir` with the stored settings, the default durability and input on the
    /// display.
    pub fn new(data_dir: DataDir, kind: HostKind) -> HostOptions {
        HostOptions {
            data_dir,
            kind,
            durability: Durability::Normal,
            input: InputOptions::Display,
            overrides: Overrides::default(),
            schedules: None,
        }
    }
}

/// Settings given for one start, over the stored ones.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Port on 127.0.0.1; 0 picks a free one (clients find it in `host.json`).
    pub port: Option<u16>,
    /// Heartbeat TTL for runs that do not ask for another.
    pub default_ttl: Option<Duration>,
    /// Whether to pause the holder while the person at the computer uses it.
    pub takeover_enabled: Option<bool>,
    /// How long without the person's input before the holder goes on.
    pub takeover_quiet: Option<Duration>,
    /// The most active runs in all.
    pub max_active: Option<usize>,
    /// The most active runs of one client.
    pub max_per_client: Option<usize>,
    /// Days of history kept.
    pub retention_days: Option<u32>,
    /// Whether the user OKs each run before it takes the free desktop.
    pub ask_first: Option<bool>,
}

/// Where the input gateway sends input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InputOptions {
    /// The X display in `$DISPLAY`, if there is one; else input is answered with `no_display`.
    #[default]
    Display,
    /// Nowhere: input is answered with `no_display` (a host that must never drive the desktop).
    Disabled,
}

/// A running host. Stop it with [`Host::shutdown`]; dropping it without that is a crash, which
/// the next start recovers from.
#[derive(Debug)]
pub struct Host {
    core: Handle,
    state: ApiState,
    data_dir: DataDir,
    kind: HostKind,
    started_at: Timestamp,
    /// The root of the host's cancellation tree, cancelled once, when the whole host stops:
    /// every server (each a child token) and every endless stream and task ends.
    stopping: CancellationToken,
    /// How the person at the computer is noticed; changed live.
    takeover: watch::Sender<TakeoverSettings>,
    retention: watch::Sender<Duration>,
    /// The server new clients are sent to.
    server: Server,
    /// Servers of earlier ports, still finishing the connections they had.
    retired: Vec<Server>,
    /// The server on the data directory's socket, for this user's own clients.
    local: Option<Local>,
    interrupted: usize,
    _lock: HostLock,
}

/// One listening socket and the server on it.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    /// Stops this server accepting; its open connections finish. A child of the host's
    /// token, so the host's stop retires it too.
    retire: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    async fn bind(port: u16) -> Result<TcpListener> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        TcpListener::bind(addr).await.map_err(|source| Error::Bind {
            addr: addr.to_string(),
            source,
        })
    }

    /// Serves `state`'s API on `listener` until this server is retired or the host stops.
    fn start(
        listener: TcpListener,
        state: &ApiState,
        stopping: &CancellationToken,
    ) -> Result<Server> {
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: "127.0.0.1".into(),
            source,
        })?;
        // Small writes (SSE events, short JSON answers) must go out at once: with Nagle's
        // algorithm on, each one can wait ~40 ms for the client's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        let app = crate::router(state.for_port(addr.port()));
        let retire = stopping.child_token();
        let task = tokio::spawn(crate::serve::serve(
            listener,
            app,
            Limits::default(),
            retire.clone().cancelled_owned(),
        ));
        Ok(Server { addr, retire, task })
    }

    async fn finish(self) {
        drain(self.task, "TCP").await;
    }
}

/// Waits up to 5 s for a server's open connections to finish, then ends the server anyway.
async fn drain(mut task: JoinHandle<()>, what: &str) {
    if tokio::time::timeout(Duration::from_secs(5), &mut task)
        .await
        .is_err()
    {
        tracing::warn!("{what} connections still open after 5 s; closing anyway");
        task.abort();
    }
}

/// The API on a Unix socket inside the data directory (0700): only its owner can connect,
/// and nobody else can put a socket there, so a client that sends its token there sends it to
/// the host. A TCP port, by contrast, is anyone's to take once the host is gone.
#[derive(Debug)]
struct Local {
    path: std::path::PathBuf,
    task: JoinHandle<()>,
}

impl Local {
    /// Serves `state`'s API on the data directory's socket until the host stops. `None` (and a
    /// warning) where there is none to be had: clients then use TCP, as before sockets.
    #[cfg(unix)]
    fn start(data_dir: &DataDir, state: &ApiState, stopping: &CancellationToken) -> Option<Local> {
        use std::os::unix::fs::PermissionsExt;
        let path = data_dir.socket_path();
        // A socket a crash left behind: this process holds the data directory's lock, so the
        // path is its to take.
        let _ = std::fs::remove_file(&path);
        let listener = match tokio::net::UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no API socket; clients use TCP");
                return None;
            }
        };
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(error = %e, "cannot make the API socket owner-only");
        }
        // Over the socket the Host header carries no port (`localhost`).
        let app = crate::router(state.for_port(0));
        let task = tokio::spawn(crate::serve::serve(
            listener,
            app,
            Limits::default(),
            stopping.clone().cancelled_owned(),
        ));
        Some(Local { path, task })
    }

    #[cfg(not(unix))]
    fn start(_: &DataDir, _: &ApiState, _: &CancellationToken) -> Option<Local> {
        None
    }

    async fn finish(self) {
        drain(self.task, "socket").await;
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Host {
    /// Takes the data directory (refusing if another host serves it), opens the store
    /// (interrupting runs a crash left active), starts the scheduler and the server, and writes
    /// `host.json`.
    pub async fn start(options: HostOptions) -> Result<Host> {
        let HostOptions {
            data_dir,
            kind,
            durability,
            input,
            overrides,
            schedules,
        } = options;
        data_dir.create()?;
        data_dir.check_private()?;
        let lock = data_dir.lock()?;
        let token = data_dir.ensure_user_token()?;
        let opened = Store::open(&data_dir.db_path(), durability, Timestamp::now()).await?;
        let interrupted = opened.interrupted.len();
        if interrupted > 0 {
            tracing::warn!(
                runs = ?opened.interrupted,
                "Baton stopped while these runs were active; they are now 'interrupted'"
            );
        }
        let settings = Settings::resolve(&HostSettings::load(&opened.store).await, &overrides);
        let listener = match Server::bind(settings.port).await {
            Ok(listener) => listener,
            // A stored port another program took since must not keep Baton from starting.
            Err(e) if overrides.port.is_none() && settings.port != 0 => {
                tracing::warn!(error = %e, "the stored API port is not free; using a free port");
                Server::bind(0).await?
            }
            Err(e) => return Err(e),
        };
        let displays = private_displays();
        let config = Config {
            default_ttl: settings.default_ttl,
            caps: settings.caps,
            ask_first: settings.ask_first,
            private_displays: displays
                .unavailable_reason()
                .is_none()
                .then(|| default_displays(memory_bytes())),
        };
        let takeover = settings.takeover;
        let store = opened.store.clone();
        let core = baton_core::spawn(opened, Arc::new(SystemClock), config);
        let stopping = CancellationToken::new();
        let retention = watch::Sender::new(settings.retention);
        tokio::spawn(prune_history(
            store,
            crate::schedules::logs_dir(data_dir.path()),
            retention.subscribe(),
            stopping.clone(),
        ));
        let ask = first_ask(&data_dir);
        let source = input_source().await;
        let gateway = start_input(input, &core, ask, &data_dir, &source);
        let takeover = watch::Sender::new(takeover);
        let (takeover_missing, takeover_limit) = if on_wayland() {
            watch_on_wayland(&core, &gateway, &takeover, source).await
        } else if gateway.available() {
            match watch_for_the_person(&core, &gateway, &takeover, ask) {
                Ok(limit) => (None, limit),
                Err(missing) => (Some(missing), None),
            }
        } else {
            (
                Some("takeover detection needs the input gateway, which is off".into()),
                None,
            )
        };
        if displays.unavailable_reason().is_none() {
            tokio::spawn(crate::displays::watch(
                displays.clone(),
                core.watch_status(),
                stopping.clone(),
            ));
        }
        let mut state = ApiState::new(core.clone(), gateway, token, 0, stopping.clone())
            .with_takeover(takeover_missing, takeover.subscribe())
            .with_takeover_limit(takeover_limit)
            .with_displays(displays);
        if let Some(program) = schedules {
            let launcher = crate::schedules::Launcher::new(program, data_dir.path().to_path_buf());
            tokio::spawn(crate::schedules::fire_loop(
                core.clone(),
                launcher.clone(),
                stopping.clone(),
            ));
            state = state.with_launcher(launcher);
        } else {
            tracing::info!("schedule entries fire on no host started this way");
        }
        let server = Server::start(listener, &state, &stopping)?;
        let local = Local::start(&data_dir, &state, &stopping);
        let host = Host {
            core,
            state,
            data_dir,
            kind,
            started_at: Timestamp::now(),
            stopping,
            takeover,
            retention,
            server,
            retired: Vec::new(),
            local,
            interrupted,
            _lock: lock,
        };
        host.announce()?;
        tracing::info!(url = %host.url(), dir = %host.data_dir.path().display(), "Baton is serving");
        Ok(host)
    }

    /// The API's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Moves the API to `port` (0: any free port). The new port is bound first, so a port in
    /// use leaves everything as it was. Clients already connected on the old port (attached
    /// runs) keep their connections; new clients find the new port in `host.json`.
    pub async fn set_port(&mut self, port: u16) -> Result<String> {
        if port != 0 && port == self.server.addr.port() {
            return Ok(self.url());
        }
        let listener = Server::bind(port).await?;
        let server = Server::start(listener, &self.state, &self.stopping)?;
        let old = std::mem::replace(&mut self.server, server);
        // Tell clients first, then stop taking new connections on the old port: a client that
        // finds the old port closed finds the new one in host.json. If the note cannot be
        // written, nothing moves.
        if let Err(e) = self.announce() {
            let new = std::mem::replace(&mut self.server, old);
            new.retire.cancel();
            self.retired.push(new);
            return Err(e);
        }
        old.retire.cancel();
        self.retired.push(old);
        tracing::info!(url = %self.url(), "Baton moved to another port");
        Ok(self.url())
    }

    /// The scheduler.
    pub fn core(&self) -> &Handle {
        &self.core
    }

    /// How long the history is kept; a change prunes at once.
    pub fn retention(&self) -> &watch::Sender<Duration> {
        &self.retention
    }

    /// Changes how the person at the computer is noticed, at once.
    pub fn takeover(&self) -> &watch::Sender<TakeoverSettings> {
        &self.takeover
    }

    /// The API's shared state (to change the user token live).
    pub fn state(&self) -> &ApiState {
        &self.state
    }

    /// The data directory served.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// How many runs a previous crash left active (now `interrupted`).
    pub fn interrupted_at_start(&self) -> usize {
        self.interrupted
    }

    /// Resolves if the scheduler stops on its own (its database failed).
    pub async fn failed(&self) {
        self.core.closed().await;
    }

    /// Stops cleanly: active runs end `interrupted` (attached clients are told), streams end,
    /// the servers stop, `host.json` is removed and the database is closed.
    pub async fn shutdown(self) {
        self.core.shutdown().await;
        self.state.displays.close_all();
        self.stopping.cancel();
        self.server.finish().await;
        for server in self.retired {
            server.finish().await;
        }
        if let Some(local) = self.local {
            local.finish().await;
        }
        self.data_dir.remove_host_info();
        self.core.store().close().await;
    }

    /// Writes `host.json`: where clients find this host.
    fn announce(&self) -> Result<()> {
        self.data_dir.write_host_info(&HostInfo {
            url: self.url(),
            socket: self.local.as_ref().map(|l| l.path.clone()),
            pid: std::process::id(),
            kind: self.kind,
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: self.started_at,
        })?;
        Ok(())
    }
}

/// The settings one start runs with: the stored ones, under the overrides given.
#[derive(Debug)]
struct Settings {
    port: u16,
    default_ttl: Duration,
    takeover: TakeoverSettings,
    caps: baton_core::Caps,
    retention: Duration,
    ask_first: bool,
}

impl Settings {
    /// Each override given wins, and the log says over what; a stored value that is not
    /// acceptable (written by hand, or by another version) is replaced by the default, with a
    /// warning, rather than keep the host from starting.
    fn resolve(stored: &HostSettings, overrides: &Overrides) -> Settings {
        let defaults = HostSettings::default();
        let stored_ttl = baton_core::lease::ttl_from_secs(stored.default_ttl_secs)
            .inspect_err(|e| tracing::warn!(error = %e, "the stored default TTL is not used"))
            .unwrap_or(baton_core::DEFAULT_TTL);
        let stored_takeover = stored
            .takeover
            .to_settings()
            .inspect_err(|e| tracing::warn!(error = %e, "the stored takeover setting is not used"))
            .or_else(|_| defaults.takeover.to_settings())
            .unwrap_or_default();
        let port = pick(
            "API port",
            overrides.port,
            stored.api_port,
            defaults.api_port,
        );
        let default_ttl = pick(
            "default TTL",
            overrides.default_ttl,
            stored_ttl,
            baton_core::DEFAULT_TTL,
        );
        let takeover = TakeoverSettings {
            enabled: pick(
                "takeover detection",
                overrides.takeover_enabled,
                stored_takeover.enabled,
                defaults.takeover.enabled,
            ),
            quiet: pick(
                "takeover quiet time",
                overrides.takeover_quiet,
                stored_takeover.quiet,
                Duration::from_secs_f64(defaults.takeover.quiet_secs),
            ),
        };
        let valid_cap = |value: usize, what: &str, default: usize| {
            crate::settings::check_cap(value, what)
                .inspect_err(|e| tracing::warn!(error = %e, "the stored cap is not used"))
                .unwrap_or(default)
        };
        let caps = baton_core::Caps {
            max_active: pick(
                "most active runs",
                overrides.max_active,
                valid_cap(
                    stored.max_active_runs,
                    "The most active runs",
                    defaults.max_active_runs,
                ),
                defaults.max_active_runs,
            ),
            max_per_client: pick(
                "most active runs of one client",
                overrides.max_per_client,
                valid_cap(
                    stored.max_runs_per_client,
                    "The most active runs of one client",
                    defaults.max_runs_per_client,
                ),
                defaults.max_runs_per_client,
            ),
        };
        let stored_retention = crate::settings::check_retention(stored.retention_days)
            .inspect_err(|e| tracing::warn!(error = %e, "the stored retention is not used"))
            .unwrap_or(defaults.retention_days);
        let retention_days = pick(
            "days of history kept",
            overrides.retention_days,
            stored_retention,
            defaults.retention_days,
        );
        let ask_first = pick(
            "asking before a run takes the desktop",
            overrides.ask_first,
            stored.ask_first,
            defaults.ask_first,
        );
        Settings {
            port,
            default_ttl,
            takeover,
            caps,
            retention: Duration::from_secs(u64::from(retention_days) * 24 * 3600),
            ask_first,
        }
    }
}

/// How often the history is pruned while the host runs (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Prunes the history older than the retention at start, then every [`PRUNE_EVERY`] and
/// whenever the retention changes, until the host stops. A failure is logged and tried again
/// next time: it loses nothing.
async fn prune_history(
    store: Store,
    logs: std::path::PathBuf,
    mut retention: watch::Receiver<Duration>,
    stopping: CancellationToken,
) {
    loop {
        let retention_now = *retention.borrow_and_update();
        let retention_ms = i64::try_from(retention_now.as_millis()).unwrap_or(i64::MAX);
        let cutoff = Timestamp(Timestamp::now().0.saturating_sub(retention_ms));
        crate::schedules::prune_logs(&store, &logs, cutoff).await;
        match store.prune(cutoff).await {
            Ok(pruned) if pruned.runs + pruned.events > 0 => tracing::info!(
                runs = pruned.runs,
                events = pruned.events,
                days = retention_now.as_secs() / 86_400,
                "pruned the history older than the retention period"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune the history; trying again later"),
        }
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => {}
            changed = retention.changed() => if changed.is_err() { return; },
            () = stopping.cancelled() => return,
        }
    }
}

/// The value given for this start if there is one (saying so when it differs from the stored
/// one), else the stored one (saying so when it is not the default).
fn pick<T: PartialEq + std::fmt::Debug + Copy>(
    what: &str,
    given: Option<T>,
    stored: T,
    default: T,
) -> T {
    match given {
        Some(given) if given != stored => {
            tracing::info!(
                "{what}: {given:?}, given for this start, wins over the stored setting ({stored:?})"
            );
            given
        }
        Some(given) => given,
        None => {
            if stored != default {
                tracing::info!("{what}: {stored:?}, from the settings");
            }
            stored
        }
    }
}

#[cfg(target_os = "linux")]
/// How long a host's start waits for a Wayland desktop's grant before it serves anyway: with
/// a remembered grant the portal answers in milliseconds; a dialog waits for the person, and
/// meanwhile input is refused with [`WAITING_FOR_GRANT`].
const GRANT_PATIENCE: Duration = Duration::from_secs(3);

#[cfg(target_os = "linux")]
/// Why input is refused while the desktop's dialog waits for the person.
const WAITING_FOR_GRANT: &str = "waiting for you to allow Baton to control the keyboard and mouse: answer the desktop's Remote Desktop dialog (on GNOME: Share, with \"Allow remote interaction\" on); it is asked once and remembered";

/// Why the person is not noticed on a Wayland desktop other than GNOME that gives no idle
/// notifications either: the compositors report every source's input alike (their idle
/// monitors count Baton's own libei input as activity too), so pausing the holder on "input"
/// would pause it on its own typing, the mistake X11's detection was built to avoid. GNOME
/// tells devices apart through Baton's shell extension.
const WAYLAND_TAKEOVER: &str = "on this Wayland desktop no program can tell whose input is whose (GNOME can, with Baton's shell extension), so Baton cannot tell your mouse and keyboard from its own; stop the holder with the tray menu or the stop hotkey";

/// What takeover detection cannot do on a Wayland desktop that only says when input happened
/// (the compositor's idle notifications, KDE's among them): input within the core's grace
/// after Baton's own is taken for Baton's.
#[cfg(target_os = "linux")]
const WAYLAND_IDLE_ONLY: &str = "this Wayland desktop tells no program whose input is whose (GNOME can, with Baton's shell extension), only when there was input: Baton notices you once it has sent nothing itself for a quarter of a second, not while it types; stop it then with the tray menu or the stop hotkey";

/// Baton's GNOME Shell extension, where this is GNOME on Wayland: `Err` says why not.
#[cfg(target_os = "linux")]
type InputSource = Option<std::result::Result<baton_platform::gnome::InputSource, String>>;
#[cfg(not(target_os = "linux"))]
type InputSource = Option<std::result::Result<(), String>>;

#[cfg(target_os = "linux")]
async fn input_source() -> InputSource {
    if !on_wayland() {
        return None;
    }
    let gnome = std::env::var("XDG_CURRENT_DESKTOP")
        .is_ok_and(|d| d.split(':').any(|d| d.eq_ignore_ascii_case("GNOME")));
    if !gnome {
        return Some(Err(WAYLAND_TAKEOVER.into()));
    }
    Some(
        baton_platform::gnome::InputSource::connect()
            .await
            .map_err(|e| e.to_string()),
    )
}

#[cfg(not(target_os = "linux"))]
async fn input_source() -> InputSource {
    None
}

/// Starts noticing the person on Wayland through `source`, or, without it, through the
/// compositor's idle notifications. Answers (why not at all, what it cannot do), as
/// [`watch_for_the_person`] does.
#[cfg(target_os = "linux")]
async fn watch_on_wayland(
    core: &Handle,
    gateway: &Gateway,
    settings: &watch::Sender<TakeoverSettings>,
    source: InputSource,
) -> (Option<String>, Option<String>) {
    let why = match source {
        Some(Ok(source)) => match source.events().await {
            Ok(events) => {
                tokio::spawn(takeover::watch(
                    core.clone(),
                    gateway.clone(),
                    Box::new(baton_platform::gnome::NoSampling),
                    Some(events),
                    settings.subscribe(),
                ));
                return (None, None);
            }
            Err(e) => e.to_string(),
        },
        Some(Err(why)) => why,
        None => WAYLAND_TAKEOVER.into(),
    };
    if !gateway.available()
        && gateway
            .unavailable_reason()
            .is_some_and(|r| r != WAITING_FOR_GRANT)
    {
        return (Some(why), None);
    }
    match baton_platform::idle::IdleProbe::connect() {
        Ok(probe) => {
            tokio::spawn(takeover::watch(
                core.clone(),
                gateway.clone(),
                Box::new(probe),
                None,
                settings.subscribe(),
            ));
            // On GNOME the extension's absence is the way to more: say it.
            let limit = if why == WAYLAND_TAKEOVER {
                WAYLAND_IDLE_ONLY.to_string()
            } else {
                format!("{WAYLAND_IDLE_ONLY}; {why}")
            };
            tracing::warn!(limit = %limit, "the person's input is noticed by the compositor's idle notifications only");
            (None, Some(limit))
        }
        Err(e) => {
            tracing::info!(error = %e, "no idle notifications either: takeover is off");
            (Some(why), None)
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn watch_on_wayland(
    _core: &Handle,
    _gateway: &Gateway,
    _settings: &watch::Sender<TakeoverSettings>,
    _source: InputSource,
) -> (Option<String>, Option<String>) {
    (Some(WAYLAND_TAKEOVER.into()), None)
}

/// Whether input goes through the Wayland portal here.
fn on_wayland() -> bool {
    cfg!(target_os = "linux") && wayland_session()
}

#[cfg(target_os = "linux")]
fn wayland_session() -> bool {
    baton_platform::wayland::is_wayland_session()
}

#[cfg(not(target_os = "linux"))]
fn wayland_session() -> bool {
    false
}

/// Starts the input gateway for `options`: on a Linux Wayland session through the desktop's
/// RemoteDesktop portal (its grant kept in `data_dir`), else on Linux on `$DISPLAY` (X11),
/// elsewhere on the session's one desktop.
fn start_input(
    options: InputOptions,
    core: &Handle,
    ask_permission: bool,
    data_dir: &DataDir,
    source: &InputSource,
) -> Gateway {
    if options == InputOptions::Disabled {
        return Gateway::unavailable("input is disabled on this host");
    }
    #[cfg(target_os = "linux")]
    if baton_platform::wayland::is_wayland_session() {
        let token = baton_platform::wayland::token_file(data_dir.path());
        let source = source.clone().and_then(std::result::Result::ok);
        return Gateway::spawn_patient(
            move || {
                baton_platform::wayland::WaylandDriver::connect(&token, source)
                    .map(|d| Box::new(d) as Box<dyn InputDriver>)
                    .map_err(|e| e.to_string())
            },
            core.watch_status(),
            GRANT_PATIENCE,
            WAITING_FOR_GRANT.into(),
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (data_dir, source);
    let display = if cfg!(all(unix, not(target_os = "macos"))) {
        std::env::var("DISPLAY")
            .ok()
            .filter(|d| !d.is_empty())
            .map(Some)
    } else {
        Some(None)
    };
    match display {
        None => Gateway::unavailable("DISPLAY is not set"),
        Some(display) => Gateway::spawn(
            move || {
                EnigoDriver::connect(display.as_deref(), ask_permission)
                    .map(|d| Box::new(d) as Box<dyn InputDriver>)
            },
            core.watch_status(),
        ),
    }
}

/// The private displays this host starts: on Linux where Xvfb is installed.
#[cfg(target_os = "linux")]
fn private_displays() -> crate::displays::Displays {
    use baton_platform::private_display::{PrivateDisplayDriver, SIZE, unavailable};
    if let Some(why) = unavailable() {
        tracing::info!(reason = %why, "no private displays");
        return crate::displays::Displays::unavailable(why);
    }
    crate::displays::Displays::new(Arc::new(|| {
        let driver = PrivateDisplayDriver::start()?;
        Ok(crate::displays::Started {
            name: driver.name(),
            pid: driver.pid(),
            size: (i32::from(SIZE.0), i32::from(SIZE.1)),
            window_manager: driver.window_manager().map(str::to_string),
            driver: Box::new(driver),
        })
    }))
}

#[cfg(not(target_os = "linux"))]
fn private_displays() -> crate::displays::Displays {
    crate::displays::Displays::unavailable("private displays are Linux only for now")
}

/// How many private displays at once unless the person says otherwise: one per 4 GiB of
/// memory (a browser on a display of its own takes one or two), at least 1 and at most 16; 5
/// on a 24 GB machine.
fn default_displays(memory: Option<u64>) -> u32 {
    let per_display = 4 << 30;
    memory.map_or(2, |bytes| {
        u32::try_from((bytes / per_display).clamp(1, 16)).unwrap_or(1)
    })
}

/// The machine's memory, from `/proc/meminfo`.
fn memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether the system may ask the person for the permissions input and takeover detection
/// need (macOS: Accessibility, Input Monitoring): on the first start on this data directory
/// only. Later starts do not ask again; what is missing is said in `baton status`, the tray
/// menu and the settings instead.
fn first_ask(data_dir: &DataDir) -> bool {
    if !cfg!(target_os = "macos") {
        return false;
    }
    let asked = data_dir.path().join("asked-permissions");
    if asked.exists() {
        return false;
    }
    if let Err(e) = std::fs::write(&asked, "") {
        tracing::debug!(error = %e, "cannot note that the permissions were asked for");
    }
    true
}

/// Starts noticing the person at the computer with this platform's drivers. `Err` says why it
/// cannot at all; `Ok(Some(limit))` that it works with a limit (sampling only).
fn watch_for_the_person(
    core: &Handle,
    gateway: &Gateway,
    settings: &watch::Sender<TakeoverSettings>,
    ask_permission: bool,
) -> Result<Option<String>, String> {
    let drivers = baton_platform::takeover::connect(ask_permission).inspect_err(|e| {
        tracing::warn!(error = %e, "takeover detection is off");
    })?;
    let (events, limit) = match drivers.events {
        Ok(events) => (Some(events), None),
        Err(why) => {
            tracing::warn!(error = %why, "the person's input is noticed by sampling only");
            (None, Some(why))
        }
    };
    tokio::spawn(takeover::watch(
        core.clone(),
        gateway.clone(),
        drivers.probe,
        events,
        settings.subscribe(),
    ));
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::default_displays;

    #[test]
    fn the_pool_of_displays_grows_with_memory_within_bounds() {
        const GIB: u64 = 1 << 30;
        // What /proc/meminfo says of a "24 GB" machine: a little under 24 GiB.
        assert_eq!(default_displays(Some(23 * GIB + GIB / 2)), 5);
        assert_eq!(default_displays(Some(2 * GIB)), 1);
        assert_eq!(default_displays(Some(1024 * GIB)), 16);
        assert_eq!(default_displays(None), 2);
    }
}
