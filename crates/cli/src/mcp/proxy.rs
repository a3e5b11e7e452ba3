//! `baton mcp --proxy -- CMD ARGS…`: another desktop MCP server behind Baton.
//!
//! Its tools are offered as its own, next to Baton's. A tool that drives input (by its name,
//! see [`Gates`]) first gets the desktop for this session, waiting in the queue like anyone
//! else, and runs only while the session holds it; read-only tools (screenshots, window lists)
//! pass straight through and are never delayed. The lease stays with the session between
//! calls and is given back after an idle time, or when the session ends.
//!
//! The downstream server is started once, in the background, so a slow or broken one never
//! holds up the MCP handshake; when it fails, calls say so and the lease is given back. One on
//! a private display may wait its turn for a display first: meanwhile the agent gets Baton's
//! own tools at once, and the server's when it starts (`tools/list_changed`), and a call to one
//! of them hears, in progress notifications, where its display's run stands in line.
//!
//! Its tools may change while the session runs (`notifications/tools/list_changed`): the proxy
//! then lists them again, classifies the new ones by the same rules as it calls them (gated
//! unless they only read), and tells the agent in turn. A tool the proxy has not listed never
//! runs: a call to one it does not know lists the tools again first.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, RoleServer, ServiceError, ServiceExt};
use tokio::sync::watch;

use crate::exit::NO_HOST_MESSAGE;
use crate::mcp::Baton;
use crate::mcp::session::Active;
use crate::mcp::tools::{describe, error};
use crate::mcp::wait::{self, Progress, Until, Waited};

/// Words in a tool's name that mark it as driving input. A word matches if it starts with one
/// of these: `browser_click`, `type_text`, `pressKey`, `mouse_move`, `launch_app`.
pub const DEFAULT_GATED: &[&str] = &[
    "click", "type", "key", "press", "scroll", "move", "drag", "launch", "hover", "fill", "select",
    "navigate", "paste", "upload", "focus",
];

/// Words in a tool's name that mark it as only reading (`browser_take_screenshot`,
/// `list_windows`, `get_screen_size`). A tool passes ungated only with one of these and none of
/// [`DEFAULT_GATED`]: any other tool (`computer`, `run_code`, `browser_evaluate`) might drive the
/// desktop, so it waits for it, unless the user lets it through with `--no-gate`.
pub const READ_WORDS: &[&str] = &[
    "screenshot",
    "snapshot",
    "list",
    "get",
    "read",
    "find",
    "search",
    "query",
    "status",
    "info",
    "describe",
    "show",
    "view",
    "inspect",
    "capture",
    "console",
    "log",
    "wait",
];

/// How long the downstream server may take to start and answer the handshake.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Which tools drive input.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    /// Tool names or name words that are gated as well.
    pub add: Vec<String>,
    /// Tool names or name words that pass straight through after all.
    pub remove: Vec<String>,
    /// Whether a tool the server marks read-only passes (`--trust-read-only-hints`): a server's
    /// own word is not evidence unless the user says so.
    pub trust_read_only: bool,
    /// Nothing is gated: the server runs on a private display of the session's own.
    pub private: bool,
}

impl Gates {
    /// Whether calling `tool` needs the desktop.
    pub fn gated(&self, tool: &str, read_only: bool) -> bool {
        self.decide(tool, read_only).0
    }

    /// Whether calling `tool` needs the desktop, and why, in the order the rules apply: the
    /// user's exact names, the user's words, a trusted read-only hint, an input word, a read
    /// word; a tool none of them speaks for is gated.
    pub fn decide(&self, tool: &str, read_only: bool) -> (bool, String) {
        if self.private {
            return (
                false,
                "the server runs on a private display of this session's own".into(),
            );
        }
        if self.remove.iter().any(|n| n == tool) {
            return (false, "--no-gate names it".into());
        }
        if self.add.iter().any(|n| n == tool) {
            return (true, "--gate names it".into());
        }
        let marks = |word: &str, pattern: &str| word.starts_with(&pattern.to_lowercase());
        let words = words(tool);
        let find = |patterns: &mut dyn Iterator<Item = &str>| {
            let patterns: Vec<&str> = patterns.collect();
            words
                .iter()
                .find(|w| patterns.iter().any(|p| marks(w, p)))
                .cloned()
        };
        if let Some(word) = find(&mut self.add.iter().map(String::as_str)) {
            return (true, format!("--gate {word}: the word '{word}'"));
        }
        if let Some(word) = find(&mut self.remove.iter().map(String::as_str)) {
            return (false, format!("--no-gate: the word '{word}'"));
        }
        if read_only && self.trust_read_only {
            return (
                false,
                "the server marks it read-only (--trust-read-only-hints)".into(),
            );
        }
        if let Some(word) = find(&mut DEFAULT_GATED.iter().copied()) {
            return (true, format!("the word '{word}' drives input"));
        }
        if let Some(word) = find(&mut READ_WORDS.iter().copied()) {
            return (false, format!("the word '{word}' only reads"));
        }
        (
            true,
            "no word of its name says it only reads, so it waits for the desktop to be safe (--no-gate lets it through)"
                .into(),
        )
    }
}

/// The words of a tool name: split at `_`, `-`, `.`, `/`, spaces and lower-to-upper case
/// changes, lowercased.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

type Service = RunningService<RoleClient, Listener>;

/// Baton as the downstream server's client: counts its announcements that its tools changed.
struct Listener {
    config: ClientConfig,
    changed: watch::Sender<u64>,
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.send_modify(|n| *n += 1);
    }
}

#[derive(Clone)]
enum Down {
    Starting,
    Up(Arc<Service>),
    Failed(String),
}

/// The downstream server.
pub struct Downstream {
    /// The command line, as the agent and the user are told.
    pub label: String,
    state: watch::Receiver<Down>,
    /// Its tools as it last listed them: only these are called.
    known: Arc<std::sync::Mutex<Vec<Tool>>>,
    /// Bumped each time the server says its tools changed.
    changed: watch::Receiver<u64>,
    /// For a server on a private display: the last thing its `baton run` said (where it
    /// stands in line for a display), while it starts.
    waiting: watch::Receiver<Option<String>>,
    pub gates: Gates,
    call_timeout: Duration,
}

impl std::fmt::Debug for Downstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downstream")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Downstream {
    /// Starts `command` in the background. A server on a private display starts once the
    /// session has its display, which may mean waiting in line for one: then there is no
    /// limit on how long it takes.
    pub fn start(command: &[String], gates: Gates, call_timeout: Duration) -> Downstream {
        let label = crate::format::truncate(&command.join(" "), 120);
        let (tx, state) = watch::channel(Down::Starting);
        let (changes, changed) = watch::channel(0);
        let (said, waiting) = watch::channel(None);
        let said = gates.private.then_some(said);
        let known = Arc::new(std::sync::Mutex::new(Vec::new()));
        let command = command.to_vec();
        let name = label.clone();
        let listed = known.clone();
        let patience = if gates.private {
            Duration::MAX
        } else {
            START_TIMEOUT
        };
        tokio::spawn(async move {
            let result = tokio::time::timeout(patience, connect(&command, changes, said)).await;
            let down = match result {
                Ok(Ok((service, tools))) => {
                    *listed.lock().unwrap_or_else(|e| e.into_inner()) = tools;
                    Down::Up(Arc::new(service))
                }
                Ok(Err(why)) => Down::Failed(format!("the desktop MCP server '{name}' {why}")),
                Err(_) => Down::Failed(format!(
                    "the desktop MCP server '{name}' did not answer within {} s",
                    START_TIMEOUT.as_secs()
                )),
            };
            if let Down::Failed(why) = &down {
                tracing::error!("{why}");
            }
            let _ = tx.send(down);
        });
        Downstream {
            label,
            state,
            known,
            changed,
            waiting,
            gates,
            call_timeout,
        }
    }

    /// Whether the server is still starting on a private display (waiting for one, maybe):
    /// then the sentence to say about it.
    pub fn still_waiting(&self) -> Option<String> {
        if !self.gates.private || !matches!(*self.state.borrow(), Down::Starting) {
            return None;
        }
        let place = self.waiting.borrow().clone();
        Some(match place {
            // `baton run`'s sentence while its run waits in line.
            Some(place) if place.contains("queued") => format!(
                "the desktop MCP server '{}' waits for its private display: {place}",
                self.label
            ),
            _ => format!(
                "the desktop MCP server '{}' is starting on a private display",
                self.label
            ),
        })
    }

    /// Resolves once the server has started or failed.
    pub async fn started(&self) {
        let mut state = self.state.clone();
        let _ = state.wait_for(|down| !matches!(down, Down::Starting)).await;
    }

    /// The running service, waiting for it as [`Downstream::service`] does; while a server on
    /// a private display waits, the call hears why in progress notifications.
    async fn service_telling(&self, progress: &mut Progress) -> Result<Arc<Service>, String> {
        let mut waiting = self.waiting.clone();
        // Whether the wrapper may still say more: its channel closes with its stderr, and
        // at once for a server that is not on a private display (nobody relays for it).
        let mut open = true;
        let ready = self.service();
        tokio::pin!(ready);
        loop {
            if let Some(sentence) = self.still_waiting() {
                progress.say(&sentence).await;
            }
            tokio::select! {
                service = &mut ready => return service,
                changed = waiting.changed(), if open => open = changed.is_ok(),
                () = tokio::time::sleep(wait::PROGRESS_EVERY) => {}
            }
        }
    }

    /// Resolves each time the server says its tools changed (never, once it is gone).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.clone()
    }

    /// The running service, once it started; the reason it is not there otherwise.
    async fn service(&self) -> Result<Arc<Service>, String> {
        let mut state = self.state.clone();
        let ready = state
            .wait_for(|down| !matches!(down, Down::Starting))
            .await
            .map(|down| down.clone());
        match ready {
            Ok(Down::Up(service)) if service.is_transport_closed() => Err(format!(
                "the desktop MCP server '{}' has stopped; restart this MCP session to start it again",
                self.label
            )),
            Ok(Down::Up(service)) => Ok(service),
            Ok(Down::Failed(why)) => Err(why),
            Ok(Down::Starting) | Err(_) => Err(format!(
                "the desktop MCP server '{}' is not available",
                self.label
            )),
        }
    }

    /// Its tools as it lists them now (and from now on the ones called), or why there are none.
    pub async fn tools(&self) -> Result<Vec<Tool>, String> {
        let service = self.service().await?;
        match tokio::time::timeout(self.call_timeout, service.list_all_tools()).await {
            Ok(Ok(tools)) => {
                *self.known.lock().unwrap_or_else(|e| e.into_inner()) = tools.clone();
                Ok(tools)
            }
            Ok(Err(e)) => Err(self.failure(&service, &e)),
            Err(_) => Err(format!(
                "the desktop MCP server '{}' did not list its tools within {} s",
                self.label,
                self.call_timeout.as_secs()
            )),
        }
    }

    fn failure(&self, service: &Service, error: &ServiceError) -> String {
        if service.is_transport_closed() {
            format!(
                "the desktop MCP server '{}' has stopped ({error}); restart this MCP session to start it again",
                self.label
            )
        } else {
            format!("the desktop MCP server '{}' failed: {error}", self.label)
        }
    }

    /// Stops the downstream server: its stdin closes. (One that ignores that gets SIGTERM when
    /// this process exits: see [`connect`].)
    pub fn shut_down(&self) {
        if let Down::Up(service) = &*self.state.borrow() {
            service.cancellation_token().cancel();
        }
    }

    /// The server's tool names, when `name` is not among the tools it last listed.
    fn unknown(&self, name: &str) -> Option<String> {
        let tools = self.known.lock().unwrap_or_else(|e| e.into_inner());
        (!tools.iter().any(|t| t.name == name)).then(|| {
            tools
                .iter()
                .map(|t| t.name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// `name` is a tool of the server's; if the last list lacks it, the server is asked again
    /// (it may have added it since). Otherwise the tools it has.
    async fn check_known(&self, name: &str) -> Result<(), String> {
        if self.unknown(name).is_none() {
            return Ok(());
        }
        self.tools().await?;
        match self.unknown(name) {
            None => Ok(()),
            Some(known) => Err(format!(
                "the desktop MCP server '{}' has no tool '{name}'; its tools are {known}",
                self.label
            )),
        }
    }

    /// Whether the server says its tool `name` only reads (in the list it gave last).
    fn read_only(&self, name: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.annotations.as_ref()?.read_only_hint)
            .unwrap_or(false)
    }
}

async fn connect(
    command: &[String],
    changed: watch::Sender<u64>,
    said: Option<watch::Sender<Option<String>>>,
) -> Result<(Service, Vec<Tool>), String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "has no command".to_string())?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    // Its own process group (a Job object on Windows), ended when this process dies (kill -9
    // included), so a desktop server never outlives the session that gates it.
    let builder = TokioChildProcess::builder(crate::process::downstream(cmd));
    let (transport, stderr) = if said.is_some() {
        builder.stderr(std::process::Stdio::piped()).spawn()
    } else {
        builder.spawn()
    }
    .map_err(|e| format!("cannot start: {e}"))?;
    if let (Some(stderr), Some(said)) = (stderr, said) {
        tokio::spawn(relay(stderr, said));
    }
    let listener = Listener {
        config: ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("baton", env!("CARGO_PKG_VERSION")),
        ),
        changed,
    };
    let service = listener
        .serve(transport)
        .await
        .map_err(|e| format!("did not start an MCP session: {e}"))?;
    let tools = service
        .list_all_tools()
        .await
        .map_err(|e| format!("did not list its tools: {e}"))?;
    Ok((service, tools))
}

/// Passes the wrapping `baton run`'s stderr through to this process's, and keeps its last
/// sentence (`baton: queued behind … for 'displays', position 2`) for the calls that wait.
async fn relay(stderr: tokio::process::ChildStderr, said: watch::Sender<Option<String>>) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        if let Some(sentence) = line.strip_prefix("baton: ") {
            said.send_replace(Some(sentence.to_string()));
        }
    }
}

impl Baton {
    /// What the gated calls wait for, in a sentence: `the desktop`, or `'browser:work'`.
    fn gate_words(&self) -> String {
        match self.gate.as_slice() {
            [only] if only.is_desktop() => "the desktop".into(),
            gate => {
                let names: Vec<String> = gate.iter().map(|r| format!("'{r}'")).collect();
                names.join(" and ")
            }
        }
    }

    /// ` The desktop was given back.` (or the resources the proxy gates on).
    fn given_back(&self) -> String {
        let words = self.gate_words();
        let mut first = words.chars();
        let words = first
            .next()
            .map(|c| c.to_uppercase().chain(first).collect::<String>())
            .unwrap_or_default();
        format!(
            " {words} {} given back.",
            if self.gate.len() > 1 { "were" } else { "was" }
        )
    }

    /// Calls a downstream tool; a gated one only while this session holds what it gates on.
    pub(crate) async fn call_downstream(
        &self,
        downstream: &Downstream,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let service = match downstream
            .service_telling(&mut Progress::of(&context))
            .await
        {
            Ok(service) => service,
            Err(why) => {
                // No call can use the desktop through a server that is gone.
                let released = match self.session.release().await {
                    Ok(Some(_)) => self.given_back(),
                    _ => String::new(),
                };
                return error(format!("{why}.{released}"));
            }
        };
        let name = request.name.to_string();
        if let Err(why) = downstream.check_known(&name).await {
            return error(why);
        }
        let read_only = downstream.read_only(&name);
        let mut params = CallToolRequestParams::new(request.name);
        params.arguments = request.arguments;
        if !downstream.gates.gated(&name, read_only) {
            return self
                .forward(downstream, &service, params, &context)
                .await
                .unwrap_or_else(error);
        }

        let active = match self
            .session
            .open(Some(self.gate.clone()), None, self.client_name(&context))
            .await
        {
            Ok(active) => active,
            Err(failure) => return error(format!("'{name}' did not run: {}", failure.message)),
        };
        // From here until the call returns the session counts as using the desktop, so the idle
        // release cannot take it away between the grant and the call.
        self.session.gate(true).await;
        let result = self
            .gated_call(downstream, &service, params, &context, &active)
            .await;
        self.session.gate(false).await;
        result
    }

    /// A gated call once the session asked for the desktop: waits for it, then calls while
    /// the desktop stays this session's.
    async fn gated_call(
        &self,
        downstream: &Downstream,
        service: &Service,
        params: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        active: &Active,
    ) -> CallToolResult {
        let name = params.name.to_string();
        let mut progress = Progress::of(context);
        let waited = wait::wait(
            active.seen.clone(),
            Until::Usable,
            None,
            &mut progress,
            &context.ct,
        )
        .await;
        match waited {
            Waited::Ready(_) => {}
            Waited::NotYet(status) | Waited::Ended(status) => {
                return error(format!("'{name}' did not run: {}", describe(&status)));
            }
            Waited::HostGone => {
                return error(format!("'{name}' did not run: {NO_HOST_MESSAGE}"));
            }
            Waited::CallCancelled => {
                return error(format!(
                    "'{name}' did not run: the call was cancelled while it waited for {}; run #{} keeps its place",
                    self.gate_words(),
                    active.id
                ));
            }
        }

        let outcome = tokio::select! {
            result = self.forward(downstream, service, params, context) => Ok(result),
            // Dropping the call cancels it downstream too.
            status = wait::lost(active.seen.clone()) => Err(status),
        };
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(why)) => {
                // The server failed under the call; whatever it was doing, nobody should be
                // waiting behind it.
                let released = match self.session.release().await {
                    Ok(Some(_)) => self.given_back(),
                    _ => String::new(),
                };
                error(format!("{why}.{released}"))
            }
            Err(Some(status)) => error(format!("'{name}' was interrupted: {}", describe(&status))),
            Err(None) => error(format!("'{name}' was interrupted: {NO_HOST_MESSAGE}")),
        }
    }

    /// One call to the downstream server: its result (which may be its own tool error), or
    /// why the server failed to give one.
    async fn forward(
        &self,
        downstream: &Downstream,
        service: &Service,
        params: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        let name = params.name.to_string();
        let call = tokio::time::timeout(downstream.call_timeout, service.peer().call_tool(params));
        tokio::select! {
            result = call => match result {
                Ok(Ok(result)) => Ok(result),
                // It answered, with a protocol error (bad arguments, say): its own refusal.
                Ok(Err(ServiceError::McpError(e))) => Ok(error(format!(
                    "the desktop MCP server '{}' refused '{name}': {}",
                    downstream.label, e.message
                ))),
                Ok(Err(e)) => Err(downstream.failure(service, &e)),
                Err(_) => Err(format!(
                    "the desktop MCP server '{}' did not answer '{name}' within {} s; the call was cancelled",
                    downstream.label,
                    downstream.call_timeout.as_secs_f64()
                )),
            },
            () = context.ct.cancelled() => Ok(error(format!("'{name}' was cancelled by the client"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_split_into_words() {
        assert_eq!(words("browser_click"), ["browser", "click"]);
        assert_eq!(words("pressKey"), ["press", "key"]);
        assert_eq!(words("mouse-move.v2"), ["mouse", "move", "v2"]);
        assert_eq!(words("XMLScreenshot"), ["xmlscreenshot"]);
    }

    #[test]
    fn input_tools_are_gated_and_reads_pass() {
        let gates = Gates::default();
        // Unknown tools are gated: they might drive the desktop.
        for name in ["computer", "browser_evaluate", "run_code", "do_it"] {
            assert!(gates.gated(name, false), "{name} should be gated");
        }
        for name in [
            "click",
            "browser_click",
            "type_text",
            "pressKey",
            "mouse_move",
            "scroll",
            "drag_and_drop",
            "launch_app",
            "keyboard_shortcut",
        ] {
            assert!(gates.gated(name, false), "{name} should be gated");
        }
        for name in [
            "screenshot",
            "browser_take_screenshot",
            "list_windows",
            "get_screen_size",
            "read_clipboard",
        ] {
            assert!(!gates.gated(name, false), "{name} should pass");
        }
        // A server's own read-only hint is trusted only when the user says so.
        assert!(gates.gated("computer", true));
        assert!(gates.gated("get_key_state", true), "'key' drives input");
        let trusting = Gates {
            trust_read_only: true,
            ..Gates::default()
        };
        assert!(!trusting.gated("get_key_state", true));
        assert!(trusting.gated("computer", false));
    }

    #[test]
    fn configuration_adds_and_removes() {
        let gates = Gates {
            add: vec!["computer".into(), "run_script".into()],
            remove: vec!["browser_hover".into(), "select".into()],
            trust_read_only: true,
            private: false,
        };
        assert!(gates.gated("computer", false));
        assert!(
            gates.gated("computer_use", true),
            "added words win over read-only"
        );
        assert!(gates.gated("run_script", false));
        assert!(!gates.gated("browser_hover", false));
        assert!(!gates.gated("select_option", false));
        assert!(gates.gated("browser_click", false));
        // On a private display of the session's own, nothing waits.
        let private = Gates {
            private: true,
            ..gates
        };
        assert!(!private.gated("computer", false));
        assert_eq!(
            private.decide("browser_click", false).1,
            "the server runs on a private display of this session's own"
        );
    }
}
