//! The CLI's door to a running host: finds it through the data directory (or `BATON_URL`),
//! speaks the local API, and turns API errors into exit codes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_core::{DataDir, RunId};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::exit::{self, Failure};

/// Environment a run's command gets from `baton run`.
pub const URL_ENV: &str = "BATON_URL";
pub const RUN_ID_ENV: &str = "BATON_RUN_ID";
pub const RUN_TOKEN_ENV: &str = "BATON_RUN_TOKEN";
pub const LEASE_TOKEN_ENV: &str = "BATON_LEASE_TOKEN";

/// A client of one host, acting as the user or as one run.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Where the host listens. Shared by the clones of this client: when the host moves to
    /// another port, one of them finds out and all follow.
    base: Arc<Mutex<String>>,
    data_dir: DataDir,
    token: String,
    run: Option<RunId>,
}

impl Client {
    /// Finds the host and picks the identity: inside a run (`BATON_RUN_TOKEN` set) the CLI acts
    /// as that run, so a run's command can never use the user's powers by accident; otherwise
    /// it acts as the user with the token from the data directory.
    pub fn connect(data_dir: &DataDir) -> Result<Client, Failure> {
        Self::connect_with(data_dir, true)
    }

    /// Finds the host and acts as the user, even inside a run: for `baton mcp` and its
    /// hook, which submit runs of their own.
    pub fn connect_as_user(data_dir: &DataDir) -> Result<Client, Failure> {
        Self::connect_with(data_dir, false)
    }

    fn connect_with(data_dir: &DataDir, run_env: bool) -> Result<Client, Failure> {
        let base = match std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()) {
            Some(url) => url,
            None => {
                data_dir
                    .host_info()
                    .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?
                    .ok_or_else(Failure::no_host)?
                    .url
            }
        };
        let run_token = std::env::var(RUN_TOKEN_ENV)
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
                    .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?,
                None,
            ),
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| Failure::new(exit::FAILED, format!("cannot make an HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: Arc::new(Mutex::new(base.trim_end_matches('/').to_string())),
            data_dir: data_dir.clone(),
            token,
            run,
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

    /// The host's base URL.
    pub fn base(&self) -> String {
        self.base.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// The bearer token in use.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(|http, url| http.get(url), path).await
    }

    /// GET with query parameters.
    pub async fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T, Failure> {
        self.send(|http, url| http.get(url).query(query), path)
            .await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.send(|http, url| http.post(url).json(body), path).await
    }

    /// Opens an SSE stream.
    pub async fn stream(&self, path: &str) -> Result<EventStream, Failure> {
        let response = self.respond(|http, url| http.get(url), path).await?;
        Ok(EventStream {
            bytes: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        })
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
    ) -> Result<reqwest::Response, Failure> {
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

    /// Re-reads where the host listens; true if it moved.
    fn rediscover(&self) -> bool {
        let Ok(Some(info)) = self.data_dir.host_info() else {
            return false;
        };
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
            .header("x-baton-via", "cli")
    }

    async fn send<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
        path: &str,
    ) -> Result<T, Failure> {
        let build =
            |http: &reqwest::Client, url: String| build(http, url).timeout(Duration::from_secs(90));
        let response = self.respond(build, path).await?;
        response.json().await.map_err(|e| {
            Failure::new(
                exit::FAILED,
                format!("the host sent an answer Baton cannot read: {e}"),
            )
        })
    }
}

/// The run id inside a run token (`run_<id>_<mac>`).
fn run_of_token(token: &str) -> Option<RunId> {
    token
        .strip_prefix("run_")?
        .split('_')
        .next()?
        .parse()
        .ok()
        .map(RunId)
}

/// A connection that fails or is refused means the host is not there (any more).
fn transport(error: reqwest::Error) -> Failure {
    if error.is_connect() || error.is_request() || error.is_body() {
        Failure::no_host()
    } else if error.is_timeout() {
        Failure::new(exit::FAILED, "the Baton host did not answer in time")
    } else {
        Failure::new(
            exit::FAILED,
            format!("talking to the Baton host failed: {error}"),
        )
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, Failure> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"].as_str().map_or_else(
        || format!("the Baton host answered {status}"),
        str::to_string,
    );
    Err(Failure::new(exit::code_for(code), message))
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads server-sent events off a response body.
pub struct EventStream {
    bytes:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl EventStream {
    /// The next event; `None` when the host closed the stream, an error when the connection
    /// broke (the host died).
    pub async fn next(&mut self) -> Result<Option<Message>, Failure> {
        loop {
            if let Some(message) = self.take_message() {
                if message.data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Ok(Some(message));
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(_)) => return Err(Failure::no_host()),
                None => return Ok(None),
            }
        }
    }

    fn take_message(&mut self) -> Option<Message> {
        let end = self.buffer.windows(2).position(|w| w == b"\n\n")?;
        let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
        let text = String::from_utf8_lossy(&block);
        let mut message = Message {
            id: None,
            event: "message".into(),
            data: String::new(),
        };
        for line in text.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => message.id = Some(value.to_string()),
                "event" => message.event = value.to_string(),
                "data" => {
                    if !message.data.is_empty() {
                        message.data.push('\n');
                    }
                    message.data.push_str(value);
                }
                _ => {}
            }
        }
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_tokens_name_their_run() {
        assert_eq!(run_of_token("run_42_abcdef"), Some(RunId(42)));
        assert_eq!(run_of_token("0123abcd"), None);
    }
}
