//! Binding a run to this process, the way `baton run` and `baton mcp` both need it.
//!
//! After submit the run is *attached*: its life is tied to this process's connection, so a
//! kill -9 of the process hands the desktop on at once (DESIGN rule 9). Heartbeats every third
//! of the TTL keep it alive, so a frozen process loses the desktop after the TTL. The run's
//! statuses arrive on the attach stream, newest last; [`baton_core::messages::queue_notice`]
//! says honestly why it waits. A run that gives up either finishes or withdraws, whichever the host accepts: a grant
//! may arrive between the decision and the request ([`BoundRun::leave`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use baton_core::{Amendment, ErrorCode, Outcome, Run, RunId, RunStatus};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::models::FinishRequest;
use crate::sse::EventStream;

/// The shortest time between two heartbeats, whatever the TTL.
const MIN_HEARTBEAT: Duration = Duration::from_millis(30);

/// A run this process acts for. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BoundRun {
    id: RunId,
    me: Client,
    /// The newest inbox note already shown; heartbeats acknowledge it.
    inbox_read: Arc<AtomicU32>,
}

/// How a withdraw went.
#[derive(Debug)]
pub enum Withdrawal {
    /// The run is withdrawn.
    Withdrawn,
    /// The run could not be withdrawn because it started meanwhile (the grant is on its way).
    Started,
    /// The host went away.
    HostGone,
    /// The host did not withdraw it for another reason (a timeout, an internal error): the run
    /// may still be queued, and is not to be taken for started.
    Failed(Error),
}

impl BoundRun {
    /// Acts for run `id` as `me` without binding it here: for a run that has ended, or whose
    /// binding another part of the process holds.
    pub fn detached(id: RunId, me: Client) -> BoundRun {
        BoundRun {
            id,
            me,
            inbox_read: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The run.
    pub fn id(&self) -> RunId {
        self.id
    }

    /// The host, acting as this run.
    pub fn me(&self) -> &Client {
        &self.me
    }

    /// The inbox notes of `status` not shown yet; from now on they count as shown.
    pub fn take_unread<'a>(&self, status: &'a RunStatus) -> Vec<&'a Amendment> {
        let read = self.inbox_read.load(Ordering::Relaxed);
        let notes: Vec<&Amendment> = status.inbox.iter().filter(|n| n.n > read).collect();
        if let Some(last) = notes.last() {
            self.inbox_read.fetch_max(last.n, Ordering::Relaxed);
        }
        notes
    }

    /// The run's status now (a heartbeat); `None` if the host does not answer.
    pub async fn current(&self) -> Option<RunStatus> {
        self.me
            .heartbeat(self.id, self.inbox_read.load(Ordering::Relaxed))
            .await
            .ok()
    }

    /// Ends the run with an outcome.
    pub async fn finish(
        &self,
        outcome: Outcome,
        exit_code: Option<i32>,
        note: Option<String>,
    ) -> Result<Run> {
        let finish = FinishRequest {
            outcome,
            exit_code,
            note,
        };
        self.me.finish(self.id, &finish).await
    }

    /// Gives up before the run started.
    pub async fn withdraw(&self, reason: &str) -> Withdrawal {
        match self.me.withdraw(self.id, Some(reason.to_string())).await {
            Ok(_) => Withdrawal::Withdrawn,
            Err(Error::NoHost) => Withdrawal::HostGone,
            Err(e) if e.code() == Some(ErrorCode::ShuttingDown) => Withdrawal::HostGone,
            // The one refusal that means "granted meanwhile": the run is no longer queued.
            Err(e) if e.is_invalid_state() => Withdrawal::Started,
            Err(e) => Withdrawal::Failed(e),
        }
    }

    /// Ends the run whatever its state: withdrawn if it has not started, finished with
    /// `outcome` if it has. A grant can come between the two requests, so each refusal for
    /// the run's state tries the other; an error when the run had already ended, or the host
    /// is gone.
    pub async fn leave(&self, outcome: Outcome, note: &str) -> Result<Run> {
        let mut refused = None;
        for _ in 0..4 {
            match self.me.withdraw(self.id, Some(note.to_string())).await {
                Ok(run) => return Ok(run),
                Err(e) if e.is_invalid_state() => {}
                Err(e) => return Err(e),
            }
            match self.finish(outcome, None, Some(note.to_string())).await {
                Ok(run) => return Ok(run),
                Err(e) if e.is_invalid_state() => refused = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(refused.unwrap_or_else(|| Error::Transport("the run could not be ended".into())))
    }
}

/// A bound run with its attach stream; dropping it stops the heartbeats and closes the stream
/// (the run then expires at once, unless it ended).
#[derive(Debug)]
pub struct Binding {
    run: BoundRun,
    stream: EventStream,
    heartbeat: JoinHandle<()>,
}

/// What binding a just-submitted run gives.
#[derive(Debug)]
pub enum Bound {
    /// The run is attached and kept alive.
    Live(Binding),
    /// The run had ended already (not queued on a busy desktop, or cancelled right away).
    Ended(Box<RunStatus>),
}

impl Binding {
    /// Attaches run `status.run.id` as `me` (a client acting as the run) and starts its
    /// heartbeats. If the attach fails, the run is not left to its TTL: it is withdrawn,
    /// unless it ended meanwhile, which is then what this answers.
    pub async fn bind(me: Client, status: RunStatus) -> Result<Bound> {
        let id = status.run.id;
        if status.ended {
            return Ok(Bound::Ended(Box::new(status)));
        }
        let run = BoundRun {
            id,
            me,
            inbox_read: Arc::new(AtomicU32::new(0)),
        };
        let stream = match run.me.attach(id).await {
            Ok(stream) => stream,
            Err(Error::NoHost) => return Err(Error::NoHost),
            Err(e) => {
                if let Some(now) = run.current().await
                    && now.ended
                {
                    return Ok(Bound::Ended(Box::new(now)));
                }
                // Withdrawn if it waits; ended if it was granted at submit, so that it does not
                // hold the desktop until its TTL.
                let _ = run
                    .leave(Outcome::Failed, "its client could not attach")
                    .await;
                return Err(e);
            }
        };
        let ttl = Duration::from_millis(status.run.ttl_ms);
        let heartbeat = tokio::spawn(heartbeat(run.clone(), ttl));
        Ok(Bound::Live(Binding {
            run,
            stream,
            heartbeat,
        }))
    }

    /// The run.
    pub fn run(&self) -> &BoundRun {
        &self.run
    }

    /// The run's next status from the attach stream. `None` when the stream ended without a
    /// final status or broke: the host went away.
    pub async fn next(&mut self) -> Result<Option<RunStatus>> {
        match self.stream.next_json().await {
            Ok(status) => Ok(status),
            Err(Error::NoHost) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Binding {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Keeps the run alive and acknowledges the inbox notes already shown, until it ends.
async fn heartbeat(run: BoundRun, ttl: Duration) {
    let every = (ttl / 3).max(MIN_HEARTBEAT);
    loop {
        tokio::time::sleep(every).await;
        if let Some(status) = run.current().await
            && status.ended
        {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};

    /// A host that answers every request with `status` and the error `code`.
    fn host_answering(status: &str, code: &str) -> Client {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let body = format!(r#"{{"error":{{"code":"{code}","message":"refused here"}}}}"#);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut request_body = vec![0; length];
                let _ = reader.read_exact(&mut request_body);
                let _ = stream.write_all(format!("{head}{body}").as_bytes());
            }
        });
        Client::at(&url, "token").unwrap()
    }

    #[tokio::test]
    async fn only_an_invalid_state_refusal_reads_as_started() {
        let run = BoundRun::detached(RunId(7), host_answering("409 Conflict", "invalid_state"));
        assert!(matches!(run.withdraw("test").await, Withdrawal::Started));
        let run = BoundRun::detached(
            RunId(7),
            host_answering("500 Internal Server Error", "store_failed"),
        );
        match run.withdraw("test").await {
            Withdrawal::Failed(e) => assert_eq!(e.code(), Some(ErrorCode::StoreFailed)),
            other => panic!("a 500 was read as {other:?}"),
        }
        // A code from a newer host is no code this client knows, and still no "started".
        let run = BoundRun::detached(RunId(7), host_answering("409 Conflict", "some_newer_code"));
        match run.withdraw("test").await {
            Withdrawal::Failed(e) => assert_eq!(e.code(), None),
            other => panic!("a 500 was read as {other:?}"),
        }
        let run = BoundRun::detached(
            RunId(7),
            host_answering("503 Service Unavailable", "shutting_down"),
        );
        assert!(matches!(run.withdraw("test").await, Withdrawal::HostGone));
    }
}
