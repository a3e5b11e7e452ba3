//! Private displays (DESIGN rule 14): a run that holds a unit of the pool `displays` asks for
//! its display, the host starts one for it (an X server of its own, with an input gateway
//! guarded by that hold), routes the run's input there, takes its screenshots, and ends it as
//! soon as the run no longer holds the unit: released, ended, cancelled or vanished.
//!
//! The servers are the platform's (`baton_platform::private_display`); this module only keeps
//! which run has which, so it is tested with a fake starter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use baton_core::input::{Gateway, Guard, InputDriver};
use baton_core::published::Published;
use baton_core::{Caller, Error as CoreError, ErrorCode, Handle, ResourceName, RunId};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorBody, Result};
use crate::extract::RunPath;
use crate::models::PrivateDisplay;
use crate::openapi::Failures;
use crate::state::ApiState;

/// A display just started, with the driver its gateway takes over.
pub struct Started {
    /// Input and screenshots of that display; ends the display when dropped.
    pub driver: Box<dyn InputDriver>,
    /// Its name, for `DISPLAY`.
    pub name: String,
    /// Its server's process id.
    pub pid: u32,
    /// Its size.
    pub size: (i32, i32),
    /// The window manager running on it, if any.
    pub window_manager: Option<String>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// Starts one display, on the thread that is to own it (the display's input thread).
pub type Starter = Arc<dyn Fn() -> std::result::Result<Started, String> + Send + Sync>;

/// The private displays of this host. Cheap to clone.
#[derive(Clone)]
pub struct Displays {
    /// How to start one, or why none can be started here.
    starter: std::result::Result<Starter, Arc<str>>,
    open: Arc<Mutex<BTreeMap<RunId, Open>>>,
    /// Held while a display starts, so that two requests of one run start one display.
    starting: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Displays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Displays")
            .field("unavailable", &self.starter.as_ref().err())
            .finish_non_exhaustive()
    }
}

/// One open display: what the run is told, and the gateway its input goes through.
#[derive(Debug, Clone)]
pub struct Open {
    /// What `POST /v1/runs/{id}/display` answers.
    pub facts: PrivateDisplay,
    /// The display's own input gateway; the display ends when the last clone is dropped.
    pub gateway: Gateway,
}

impl Displays {
    /// Displays started by `starter`.
    pub fn new(starter: Starter) -> Displays {
        Displays::with(Ok(starter))
    }

    /// No private displays on this host, and why.
    pub fn unavailable(why: impl Into<String>) -> Displays {
        Displays::with(Err(why.into().into()))
    }

    fn with(starter: std::result::Result<Starter, Arc<str>>) -> Displays {
        Displays {
            starter,
            open: Arc::new(Mutex::new(BTreeMap::new())),
            starting: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Why this host starts no private displays, if it starts none.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.starter.as_ref().err().map(|why| &**why)
    }

    /// The open display of `run`, if it has one.
    pub fn get(&self, run: RunId) -> Option<Open> {
        self.lock().get(&run).cloned()
    }

    /// Every open display, by run.
    pub fn list(&self) -> Vec<PrivateDisplay> {
        self.lock()
            .values()
            .map(|open| open.facts.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RunId, Open>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The display of `run`, started now if it has none yet. The run must hold a unit of
    /// `displays`; the display is its for as long as it holds that unit.
    pub async fn open(&self, core: &Handle, run: RunId) -> Result<PrivateDisplay> {
        let starter = self
            .starter
            .as_ref()
            .map_err(|why| CoreError::NoDisplay(why.to_string()))?
            .clone();
        let _starting = self.starting.lock().await;
        let token = held_token(&core.published(), run)?;
        if let Some(open) = self.get(run)
            && open.facts.lease_token == token
        {
            return Ok(open.facts);
        }
        let status = core.watch_status();
        let guard = Guard::Resource {
            resource: ResourceName::displays(),
            run,
        };
        let started = tokio::task::spawn_blocking(move || {
            let (tell, told) = std::sync::mpsc::channel();
            let gateway = Gateway::spawn_guarding(
                move || {
                    let started = starter()?;
                    let _ = tell.send((
                        started.name,
                        started.pid,
                        started.size,
                        started.window_manager,
                    ));
                    Ok(started.driver)
                },
                status,
                guard,
            );
            match told.try_recv() {
                Ok(facts) => Ok((gateway, facts)),
                Err(_) => Err(gateway
                    .unavailable_reason()
                    .unwrap_or_else(|| "the private display did not start".into())),
            }
        })
        .await
        .map_err(|e| CoreError::NoDisplay(format!("cannot start a private display: {e}")))?;
        let (gateway, (name, pid, (width, height), window_manager)) = started.map_err(|why| {
            CoreError::NoDisplay(format!("cannot start a private display: {why}"))
        })?;
        let facts = PrivateDisplay {
            run,
            display: name,
            lease_token: token,
            width,
            height,
            pid,
            window_manager,
        };
        // The run may have let go while its display started: then it ends here, unused.
        held_token(&core.published(), run)?;
        tracing::info!(run = %run, display = %facts.display, pid, "a private display started");
        self.lock().insert(
            run,
            Open {
                facts: facts.clone(),
                gateway,
            },
        );
        Ok(facts)
    }

    /// Ends every display whose run no longer holds its unit of `displays` by the same token.
    pub fn sweep(&self, published: &Published) {
        let displays = ResourceName::displays();
        let ended: Vec<Open> = {
            let mut open = self.lock();
            let gone: Vec<RunId> = open
                .iter()
                .filter(|(run, o)| {
                    published.token_of(&displays, **run) != Some(o.facts.lease_token)
                })
                .map(|(run, _)| *run)
                .collect();
            gone.iter().filter_map(|run| open.remove(run)).collect()
        };
        for open in ended {
            tracing::info!(run = %open.facts.run, display = %open.facts.display, "the private display ends with its hold");
        }
    }

    /// Ends every display (the host stops).
    pub fn close_all(&self) {
        self.lock().clear();
    }
}

/// The token `run` holds `displays` by, or why it has no display to ask for.
fn held_token(published: &Published, run: RunId) -> Result<u64> {
    published
        .token_of(&ResourceName::displays(), run)
        .ok_or_else(|| {
            Error::Core(CoreError::InputRefused {
                code: ErrorCode::NotHolder,
                message: format!(
                    "run #{run} holds no private display: a run needs the resource 'displays' for one ('baton run --display private')"
                ),
            })
        })
}

/// Ends each display as soon as its run lets go, until the host stops; then ends them all.
pub async fn watch(
    displays: Displays,
    mut status: watch::Receiver<Arc<Published>>,
    stopping: CancellationToken,
) {
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let published = status.borrow_and_update().clone();
                displays.sweep(&published);
            }
            () = stopping.cancelled() => break,
        }
    }
    displays.close_all();
}

/// The run's private display: started now if it has none yet. Only the run itself asks, with
/// its run token, while it holds a unit of `displays`. Its `baton input` then goes there.
#[utoipa::path(post, path = "/v1/runs/{id}/display", tag = "displays", params(("id" = i64, Path)),
    responses((status = 200, body = PrivateDisplay),
              (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "not_holder: the run holds no unit of 'displays'"),
              Failures))]
pub async fn open(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<Json<PrivateDisplay>> {
    if caller != Caller::Run(id) {
        return Err(Error::Forbidden(format!(
            "only run #{id} itself asks for its private display, with its run token"
        )));
    }
    Ok(Json(state.displays.open(&state.core, id).await?))
}

/// A picture of the run's private display, as PNG. The run itself or the person may look; the
/// person's own desktop is never sent.
#[utoipa::path(get, path = "/v1/runs/{id}/screenshot", tag = "displays", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>),
              (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "not_holder: the run has no private display"),
              Failures))]
pub async fn screenshot(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RunPath(id): RunPath,
) -> Result<Response> {
    if !caller.is_user() && caller != Caller::Run(id) {
        return Err(Error::Forbidden(format!(
            "only run #{id} itself or the person looks at its private display"
        )));
    }
    let open = state.displays.get(id).ok_or_else(|| {
        Error::Core(CoreError::InputRefused {
            code: ErrorCode::NotHolder,
            message: format!("run #{id} has no private display open"),
        })
    })?;
    let png = open.gateway.screenshot().await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Every private display open now, with its run. Changes nothing.
#[utoipa::path(get, path = "/v1/displays", tag = "displays",
    responses((status = 200, body = Vec<PrivateDisplay>), Failures))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<PrivateDisplay>> {
    Json(state.displays.list())
}
