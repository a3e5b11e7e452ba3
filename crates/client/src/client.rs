//! [`Client`]: one host, acting as the user or as one run. It finds the host through the data
//! directory (or `BATON_URL`), follows it when it moves to another port, and speaks the API's
//! requests as types.
//!
//! Credentials go only where the host has shown it listens: where the host note names a socket
//! in the data directory (Unix), the client talks over that socket and nothing else. Only the
//! directory's owner can reach it or put one there, whereas a TCP port left behind by a host
//! that died is anyone's to take, and with it the token of the next client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::schedule::EntrySpec;
use baton_core::{
    ErrorCode, Event, ResourceName, ResourceState, Run, RunId, RunSpec, RunStatus, Snapshot,
    Submitted,
};
use baton_platform::DataDir;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::models::{
    AcquireRequest, AddResource, AmendRequest, CapacityRequest, EventsParams, FinishRequest,
    HeartbeatRequest, HistoryParams, InputReport, InputRequest, Paused, Point, PrivateDisplay,
    ReasonRequest, Removed, Schedule, ScheduleRemoved, ScreenSize, StopRequest, Stopped,
};
use crate::sse::EventStream;

/// The environment a run's command gets from `baton run`.
pub mod env {
    /// The host's base URL.
    pub const URL: &str = "BATON_URL";
    /// The run's id.
    pub const RUN_ID: &str = "BATON_RUN_ID";
    /// The run's token: inside a run, clients act as that run.
    pub const RUN_TOKEN: &str = "BATON_RUN_TOKEN";
    /// The lease token, while the run holds the desktop.
    pub const LEASE_TOKEN: &str = "BATON_LEASE_TOKEN";
    /// Every resource the run holds with its token, `name=token` separated by spaces (a
    /// resource's name has neither): `browser:work=7 desktop=3`. A resource's own wrapper
    /// compares the token with the highest it has seen, so a stale holder is refused there too.
    pub const LEASES: &str = "BATON_LEASES";

    /// The run's private display (`:5`), when it has one: its `baton input` goes there, with
    /// the token of `displays` from [`LEASES`].
    pub const DISPLAY: &str = "BATON_DISPLAY";

    /// The token of `resource` in a [`LEASES`] value.
    pub fn lease_of(leases: &str, resource: &str) -> Option<u64> {
        leases
            .split_whitespace()
            .filter_map(|entry| entry.split_once('='))
            .find(|(name, _)| *name == resource)
            .and_then(|(_, token)| token.parse().ok())
    }

    /// The value of [`LEASES`] for what a run holds.
    pub fn leases<'a>(
        held: impl IntoIterator<Item = (&'a baton_core::ResourceName, &'a u64)>,
    ) -> String {
        held.into_iter()
            .map(|(name, token)| format!("{name}={token}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How long a connection may take to open: the host is on this machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an idle connection is kept for the next request (the host's limit is 10 s).
const POOL_IDLE: Duration = Duration::from_secs(5);
/// How long a plain request may take (a `wait` takes at most 60 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// A client of one host, acting as the user or as one run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Where the host listens. Shared by the clones of this client: when the host moves to
    /// another port, one of them finds out and all follow.
    base: Arc<Mutex<String>>,
    /// Where to look again when the host seems gone (it may have moved); none for a client
    /// given a URL.
    data_dir: Option<DataDir>,
    token: String,
    run: Option<RunId>,
    /// Whether it talks over the data directory's socket (then it never looks for a port).
    socket: bool,
}

/// The base URL of requests over the socket: its Host header is `localhost`.
const SOCKET_BASE: &str = "http://localhost";

impl Client {
    /// Finds the host and picks the identity: inside a run (`BATON_RUN_TOKEN` set) the client
    /// acts as that run, so a run's command can never use the user's powers by accident;
    /// otherwise it acts as the user with the token from the data directory.
    pub fn connect(data_dir: &DataDir) -> Result<Client> {
        Self::connect_with(data_dir, true)
    }

    /// Finds the host and acts as the user, even inside a run: for `baton mcp` and its hook,
    /// which submit runs of their own.
    pub fn connect_as_user(data_dir: &DataDir) -> Result<Client> {
        Self::connect_with(data_dir, false)
    }

    fn connect_with(data_dir: &DataDir, run_env: bool) -> Result<Client> {
        let env_url = std::env::var(env::URL).ok().filter(|u| !u.is_empty());
        // No host note, no host: a URL alone (a stale BATON_URL) is no proof of who listens.
        let info = data_dir
            .host_info()
            .map_err(|e| Error::DataDir(e.to_string()))?
            .ok_or(Error::NoHost)?;
        // Without the socket the credentials go over TCP: only to a port a live host holds.
        #[cfg(not(unix))]
        if !data_dir.host_alive() {
            return Err(Error::NoHost);
        }
        // The socket is the one in this client's own view of the data directory (which may be
        // mounted elsewhere than where the host sees it).
        let socket = if cfg!(unix) && info.socket.is_some() {
            Some(data_dir.socket_path())
        } else {
            None
        };
        let base = match (&socket, env_url) {
            (Some(_), _) => SOCKET_BASE.to_string(),
            (None, Some(url)) => url,
            (None, None) => info.url,
        };
        let run_token = std::env::var(env::RUN_TOKEN)
            .ok()
            .filter(|t| run_env && !t.is_empty());
        let (token, run) = match run_token {
            Some(token) => {
                let run = run_of_token(&token);
                (token, run)
            }
            None => (
                data_dir
                    .user_token()
                    .map_err(|e| Error::DataDir(e.to_string()))?,
                None,
            ),
        };
        Self::new_with(&base, Some(data_dir.clone()), token, run, socket)
    }

    /// A client of the host at `url`, with `token` (the user's, or run `run`'s).
    pub fn at(url: &str, token: impl Into<String>) -> Result<Client> {
        let token = token.into();
        let run = run_of_token(&token);
        Self::new_with(url, None, token, run, None)
    }

    fn new_with(
        url: &str,
        data_dir: Option<DataDir>,
        token: String,
        run: Option<RunId>,
        socket: Option<std::path::PathBuf>,
    ) -> Result<Client> {
        let builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // Requests and answers are small and must go out at once.
            .tcp_nodelay(true)
            // Loopback only: never through a proxy from the environment, which would see the
            // token.
            .no_proxy()
            // The host closes a connection that waits 10 s for a request: let one go before
            // that, rather than send a request on a connection the host is closing.
            .pool_idle_timeout(POOL_IDLE);
        let builder = match &socket {
            #[cfg(unix)]
            Some(path) => builder.unix_socket(path.as_path()),
            #[cfg(not(unix))]
            Some(_) => builder,
            None => builder,
        };
        let http = builder
            .build()
            .map_err(|e| Error::Transport(format!("cannot make an HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: Arc::new(Mutex::new(url.trim_end_matches('/').to_string())),
            data_dir,
            token,
            run,
            socket: socket.is_some(),
        })
    }

    /// The same host, acting as run `id` with its token.
    pub fn as_run(&self, id: RunId, token: String) -> Client {
        Client {
            token,
            run: Some(id),
            ..self.clone()
        }
    }

    /// The run this client acts as, if any.
    pub fn run(&self) -> Option<RunId> {
        self.run
    }

    /// The data directory this client found the host through, if it did.
    pub fn data_dir(&self) -> Option<&DataDir> {
        self.data_dir.as_ref()
    }

    /// The host's TCP address, for programs that need one (a run's command gets it as
    /// `BATON_URL`); this client itself may talk over the data directory's socket.
    pub fn tcp_url(&self) -> Option<String> {
        if !self.socket {
            return Some(self.base());
        }
        let info = self.data_dir.as_ref()?.host_info().ok()??;
        Some(info.url)
    }

    /// The host's base URL, as this client reaches it.
    pub fn base(&self) -> String {
        self.base.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// The bearer token in use.
    pub fn token(&self) -> &str {
        &self.token
    }

    // The requests, as types.

    /// `GET /v1/status`: who holds the desktop, who waits. Changes nothing.
    pub async fn status(&self) -> Result<Snapshot> {
        self.get("/v1/status").await
    }

    /// `GET /v1/host`: what the host can do here (input, takeover detection).
    pub async fn host_facts(&self) -> Result<crate::models::HostFacts> {
        self.get("/v1/host").await
    }

    /// `GET /v1/health`, which needs no token.
    pub async fn health(&self) -> Result<serde_json::Value> {
        self.get("/v1/health").await
    }

    /// `GET /v1/runs/{id}`.
    pub async fn get_run(&self, id: RunId) -> Result<Run> {
        self.get(&format!("/v1/runs/{id}")).await
    }

    /// `POST /v1/runs`: a new run.
    pub async fn submit(&self, spec: &RunSpec) -> Result<Submitted> {
        self.post("/v1/runs", spec).await
    }

    /// `POST /v1/runs/{id}/replace`: the user cancels `id` and puts `spec` in its place.
    pub async fn replace(&self, id: RunId, spec: &RunSpec) -> Result<Submitted> {
        self.post(&format!("/v1/runs/{id}/replace"), spec).await
    }

    /// `POST /v1/runs/{id}/heartbeat`: keeps the run alive; notes up to `inbox_after` are
    /// read.
    pub async fn heartbeat(&self, id: RunId, inbox_after: u32) -> Result<RunStatus> {
        self.post(
            &format!("/v1/runs/{id}/heartbeat"),
            &HeartbeatRequest { inbox_after },
        )
        .await
    }

    /// `GET /v1/runs/{id}/attach`: the run's statuses, its life bound to this connection.
    pub async fn attach(&self, id: RunId) -> Result<EventStream> {
        self.stream(&format!("/v1/runs/{id}/attach")).await
    }

    /// `POST /v1/runs/{id}/finish`.
    pub async fn finish(&self, id: RunId, finish: &FinishRequest) -> Result<Run> {
        self.post(&format!("/v1/runs/{id}/finish"), finish).await
    }

    /// `POST /v1/runs/{id}/withdraw`: gives up before starting.
    pub async fn withdraw(&self, id: RunId, reason: Option<String>) -> Result<Run> {
        self.post(
            &format!("/v1/runs/{id}/withdraw"),
            &ReasonRequest { reason },
        )
        .await
    }

    /// `POST /v1/runs/{id}/release`: gives the desktop back and goes on in parallel.
    pub async fn release(&self, id: RunId) -> Result<RunStatus> {
        self.post(&format!("/v1/runs/{id}/release"), &serde_json::json!({}))
            .await
    }

    /// `POST /v1/runs/{id}/acquire`: asks for the desktop again (back of the queue).
    pub async fn acquire(&self, id: RunId) -> Result<RunStatus> {
        self.post(&format!("/v1/runs/{id}/acquire"), &serde_json::json!({}))
            .await
    }

    /// `POST /v1/runs/{id}/acquire` of `resources`, all at once.
    pub async fn acquire_resources(
        &self,
        id: RunId,
        resources: Vec<ResourceName>,
    ) -> Result<RunStatus> {
        let body = AcquireRequest {
            resources: Some(resources),
        };
        self.post(&format!("/v1/runs/{id}/acquire"), &body).await
    }

    /// `GET /v1/resources`: every resource, the desktop first, with holders and queues.
    pub async fn resources(&self) -> Result<Vec<ResourceState>> {
        self.get("/v1/resources").await
    }

    /// `POST /v1/resources`: declares a resource.
    pub async fn add_resource(&self, name: ResourceName, capacity: u32) -> Result<ResourceState> {
        self.post("/v1/resources", &AddResource { name, capacity })
            .await
    }

    /// `POST /v1/resources/{name}/capacity`.
    pub async fn set_capacity(&self, name: &ResourceName, capacity: u32) -> Result<ResourceState> {
        self.post(
            &format!("/v1/resources/{name}/capacity"),
            &CapacityRequest { capacity },
        )
        .await
    }

    /// `DELETE /v1/resources/{name}`: only while nobody holds it or waits for it.
    pub async fn remove_resource(&self, name: &ResourceName) -> Result<Removed> {
        self.send(
            |http, url| http.delete(url),
            &format!("/v1/resources/{name}"),
        )
        .await
    }

    /// `GET /v1/schedules`: every schedule entry, with its next fire.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.get("/v1/schedules").await
    }

    /// `POST /v1/schedules`: adds an entry (the person only).
    pub async fn add_schedule(&self, spec: &EntrySpec) -> Result<Schedule> {
        self.post("/v1/schedules", spec).await
    }

    /// `PUT /v1/schedules/{name}`: changes an entry (the person only).
    pub async fn edit_schedule(&self, spec: &EntrySpec) -> Result<Schedule> {
        let path = format!("/v1/schedules/{}", spec.name);
        self.send(|http, url| http.put(url).json(spec), &path).await
    }

    /// `DELETE /v1/schedules/{name}`.
    pub async fn remove_schedule(&self, name: &str) -> Result<ScheduleRemoved> {
        self.send(
            |http, url| http.delete(url),
            &format!("/v1/schedules/{name}"),
        )
        .await
    }

    /// `POST /v1/schedules/{name}/pause` (`paused`) or `/resume`.
    pub async fn pause_schedule(&self, name: &str, paused: bool) -> Result<Schedule> {
        let action = if paused { "pause" } else { "resume" };
        self.post(
            &format!("/v1/schedules/{name}/{action}"),
            &serde_json::json!({}),
        )
        .await
    }

    /// `POST /v1/schedules/{name}/run`: a run of the entry now; its status.
    pub async fn run_schedule(&self, name: &str) -> Result<RunStatus> {
        self.post(&format!("/v1/schedules/{name}/run"), &serde_json::json!({}))
            .await
    }

    /// `GET /v1/runs/{id}/log`: the output of a scheduled run's command (its end).
    pub async fn log(&self, id: RunId) -> Result<String> {
        let path = format!("/v1/runs/{id}/log");
        let response = self
            .respond(|http, url| http.get(url).timeout(REQUEST_TIMEOUT), &path)
            .await?;
        response.text().await.map_err(transport)
    }

    /// `POST /v1/runs/{id}/cancel`: the user's cancel, or another run relaying it.
    pub async fn cancel(&self, id: RunId, reason: Option<String>) -> Result<Run> {
        self.post(&format!("/v1/runs/{id}/cancel"), &ReasonRequest { reason })
            .await
    }

    /// `GET /v1/runs/{id}/cancel-targets`: the runs `id` may relay the user's stop for.
    pub async fn cancel_targets(&self, id: RunId) -> Result<Vec<Run>> {
        self.get(&format!("/v1/runs/{id}/cancel-targets")).await
    }

    /// `POST /v1/runs/{id}/front`.
    pub async fn front(&self, id: RunId) -> Result<RunStatus> {
        self.post(&format!("/v1/runs/{id}/front"), &serde_json::json!({}))
            .await
    }

    /// `POST /v1/runs/{id}/allow`: the user OKs the run waiting for it.
    pub async fn allow(&self, id: RunId) -> Result<RunStatus> {
        self.post(&format!("/v1/runs/{id}/allow"), &serde_json::json!({}))
            .await
    }

    /// `POST /v1/runs/{id}/amend`; a run relaying the user's correction for another run gives
    /// the user's words as `reason`.
    pub async fn amend(
        &self,
        id: RunId,
        text: String,
        reason: Option<String>,
    ) -> Result<RunStatus> {
        self.post(
            &format!("/v1/runs/{id}/amend"),
            &AmendRequest { text, reason },
        )
        .await
    }

    /// `POST /v1/desktop/stop`.
    pub async fn stop(&self, stop: &StopRequest) -> Result<Stopped> {
        self.post("/v1/desktop/stop", stop).await
    }

    /// `POST /v1/desktop/pause` or `/resume`: hand-offs.
    pub async fn set_paused(&self, paused: bool) -> Result<Paused> {
        let path = if paused {
            "/v1/desktop/pause"
        } else {
            "/v1/desktop/resume"
        };
        self.post(path, &serde_json::json!({})).await
    }

    /// `GET /v1/history`.
    pub async fn history(&self, query: &HistoryParams) -> Result<Vec<Run>> {
        self.get_with("/v1/history", query).await
    }

    /// `GET /v1/events`: the log after `after`, at most `limit` events.
    pub async fn events(&self, after: u64, limit: u32) -> Result<Vec<Event>> {
        let query = EventsParams {
            after: Some(after),
            limit: Some(limit),
        };
        self.get_with("/v1/events", &query).await
    }

    /// `GET /v1/events/stream`: new events as they happen (after `after`, if given).
    pub async fn event_stream(&self, after: Option<u64>) -> Result<EventStream> {
        match after {
            Some(after) => {
                self.stream(&format!("/v1/events/stream?after={after}"))
                    .await
            }
            None => self.stream("/v1/events/stream").await,
        }
    }

    /// `POST /v1/runs/{id}/input`: a batch, for the holder.
    pub async fn input(&self, id: RunId, input: &InputRequest) -> Result<InputReport> {
        self.post(&format!("/v1/runs/{id}/input"), input).await
    }

    /// `GET /v1/input/pointer`.
    pub async fn pointer(&self) -> Result<Point> {
        self.get("/v1/input/pointer").await
    }

    /// `GET /v1/input/screen`.
    pub async fn screen(&self) -> Result<ScreenSize> {
        self.get("/v1/input/screen").await
    }

    /// `POST /v1/runs/{id}/display`: the run's private display, started now if it has none
    /// yet. Only the run itself asks, while it holds one of the pool `displays`.
    pub async fn open_display(&self, id: RunId) -> Result<PrivateDisplay> {
        self.post(&format!("/v1/runs/{id}/display"), &serde_json::json!({}))
            .await
    }

    /// `GET /v1/displays`: the private displays open now.
    pub async fn displays(&self) -> Result<Vec<PrivateDisplay>> {
        self.get("/v1/displays").await
    }

    /// `GET /v1/runs/{id}/screenshot`: the run's private display, as PNG.
    pub async fn screenshot(&self, id: RunId) -> Result<Vec<u8>> {
        let path = format!("/v1/runs/{id}/screenshot");
        let response = self
            .respond(|http, url| http.get(url).timeout(REQUEST_TIMEOUT), &path)
            .await?;
        let bytes = response.bytes().await.map_err(transport)?;
        Ok(bytes.to_vec())
    }

    // The transport.

    /// GET, answered as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(|http, url| http.get(url), path).await
    }

    /// GET with query parameters.
    pub async fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T> {
        self.send(|http, url| http.get(url).query(query), path)
            .await
    }

    /// POST a JSON body.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.send(|http, url| http.post(url).json(body), path).await
    }

    /// Opens an SSE stream.
    pub async fn stream(&self, path: &str) -> Result<EventStream> {
        let response = self.respond(|http, url| http.get(url), path).await?;
        Ok(EventStream::new(response))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Sends a request. If the host does not answer where this client thinks it is, it may
    /// have moved to another port: look in the data directory once more, and try there.
    async fn respond(
        &self,
        build: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
        path: &str,
    ) -> Result<reqwest::Response> {
        let attempt = |client: &Client| {
            client
                .authorized(build(&client.http, client.url(path)))
                .send()
        };
        let response = match attempt(self).await {
            Ok(response) => response,
            Err(e) if e.is_connect() && self.rediscover() => {
                attempt(self).await.map_err(transport)?
            }
            Err(e) => return Err(transport(e)),
        };
        check(response).await
    }

    /// Re-reads where the host listens; true if it moved. Over the socket it cannot have.
    fn rediscover(&self) -> bool {
        if self.socket {
            return false;
        }
        let Some(Ok(Some(info))) = self.data_dir.as_ref().map(DataDir::host_info) else {
            return false;
        };
        // A host that now has a socket is reached through it by a new client, not here.
        if info.socket.is_some() && cfg!(unix) {
            return false;
        }
        let url = info.url.trim_end_matches('/').to_string();
        match self.base.lock() {
            Ok(mut base) if *base != url => {
                *base = url;
                true
            }
            _ => false,
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .bearer_auth(&self.token)
            // The user's surface, recorded as `user:cli` in what it changes.
            .header(baton_core::VIA_HEADER, "cli")
    }

    async fn send<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
        path: &str,
    ) -> Result<T> {
        let build = |http: &reqwest::Client, url: String| build(http, url).timeout(REQUEST_TIMEOUT);
        let response = self.respond(build, path).await?;
        response
            .json()
            .await
            .map_err(|e| Error::Decode(e.to_string()))
    }
}

/// The run id inside a run token (`run_<id>_<mac>`).
pub fn run_of_token(token: &str) -> Option<RunId> {
    token
        .strip_prefix("run_")?
        .split('_')
        .next()?
        .parse()
        .ok()
        .map(RunId)
}

/// A connection that fails or is refused means the host is not there (any more).
fn transport(error: reqwest::Error) -> Error {
    if error.is_connect() || error.is_request() || error.is_body() {
        Error::NoHost
    } else if error.is_timeout() {
        Error::Timeout
    } else {
        Error::Transport(error.to_string())
    }
}

/// A refusal becomes [`Error::Api`] with the host's code and sentence.
async fn check(response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .and_then(|code| code.parse::<ErrorCode>().ok());
    let message = body["error"]["message"].as_str().map_or_else(
        || format!("the Baton host answered {status}"),
        str::to_string,
    );
    Err(Error::Api {
        status: status.as_u16(),
        code,
        message,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_s_token_is_read_back_from_the_leases_variable() {
        let name = |s: &str| s.parse::<baton_core::ResourceName>().unwrap();
        let held = [(name("browser:work"), 7), (name("displays"), 3)];
        let value = env::leases(held.iter().map(|(n, t)| (n, t)));
        assert_eq!(value, "browser:work=7 displays=3");
        assert_eq!(env::lease_of(&value, "displays"), Some(3));
        assert_eq!(env::lease_of(&value, "browser:work"), Some(7));
        assert_eq!(env::lease_of(&value, "desktop"), None);
        assert_eq!(env::lease_of("", "displays"), None);
    }

    #[test]
    fn run_tokens_name_their_run() {
        assert_eq!(run_of_token("run_42_abcdef"), Some(RunId(42)));
        assert_eq!(run_of_token("0123abcd"), None);
    }
}
