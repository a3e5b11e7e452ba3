//! `baton mcp`: Baton for agents, as an MCP server on stdio.
//!
//! It is a client of the running host (it starts none): one MCP session is one run, whose
//! client is the MCP client's name. Map:
//! - [`tools`]: Baton's own tools (status, acquire, wait, release, input, amend, finish,
//!   cancel targets, cancel).
//! - [`session`]: the actor that owns the session's run and binds it to this process.
//! - [`wait`]: waiting for the desktop inside a call, with progress notifications.
//! - [`proxy`]: `--proxy`: another desktop MCP server's tools, the input ones gated.

mod proxy;
mod session;
mod tools;
mod wait;

use std::sync::Arc;
use std::time::Duration;

use baton_core::ResourceName;
use baton_platform::DataDir;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tokio_util::sync::CancellationToken;

use crate::cli::{DisplayKind, McpArgs};
use crate::exit::{self, Failure};
use baton_client::Client;
use proxy::{Downstream, Gates};
use session::{Session, Settings};

/// What every agent is told about Baton when it connects.
/// How long ending the session's run may take at exit.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

const INSTRUCTIONS: &str = "Baton shares this computer's desktop (mouse, keyboard, screen) between agents and \
scripts. Before you use the desktop, call desktop_acquire: you get it, or you are queued first come, first \
served, and told behind whom; wait with desktop_wait. Call desktop_release when you are done with it. Work \
that does not need the desktop never waits. Only the user cancels: if your run is stopped, stop the desktop \
work and tell the user. Status questions (desktop_status, cancel_targets) change nothing.";

/// The MCP server: Baton's tools, and a downstream server's behind the lease with `--proxy`.
#[derive(Clone)]
pub struct Baton {
    data_dir: DataDir,
    /// What the proxy's gated calls need: the desktop, or the resources `--resource` named.
    gate: Vec<ResourceName>,
    session: Session,
    client_override: Option<String>,
    downstream: Option<Arc<Downstream>>,
    router: ToolRouter<Baton>,
}

impl std::fmt::Debug for Baton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baton")
            .field("data_dir", &self.data_dir)
            .field("downstream", &self.downstream)
            .finish_non_exhaustive()
    }
}

impl Baton {
    /// The run's client: `--client`, else the MCP client's own name (Codex's shortened).
    fn client_name(&self, context: &RequestContext<RoleServer>) -> String {
        if let Some(client) = &self.client_override {
            return client.clone();
        }
        match context.client_info().map(|info| info.name) {
            Some(name) if name.to_lowercase().contains("codex") => "codex".to_string(),
            Some(name) if !name.trim().is_empty() => crate::format::truncate(name.trim(), 60),
            _ => "mcp".to_string(),
        }
    }
}

impl ServerHandler for Baton {
    fn get_info(&self) -> ServerConfig {
        // listChanged: a proxied server's tools may change, and the agent is told.
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("baton", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = self.router.list_all();
        if let Some(downstream) = &self.downstream {
            // A server still waiting for its private display does not hold up the session:
            // its tools are announced when it starts (`forward_tool_changes`).
            if let Some(sentence) = downstream.still_waiting() {
                tracing::info!("{sentence}; its tools are listed once it starts");
                return Ok(ListToolsResult::with_all_items(tools));
            }
            match downstream.tools().await {
                Ok(theirs) => {
                    for tool in theirs {
                        if self.router.has_route(&tool.name) {
                            tracing::warn!(
                                "the desktop MCP server's tool '{}' is hidden by Baton's own",
                                tool.name
                            );
                        } else {
                            tools.push(tool);
                        }
                    }
                }
                // Baton's own tools stay usable; the desktop server's calls say what is wrong.
                Err(why) => tracing::error!("{why}"),
            }
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.router.has_route(&request.name) {
            return self
                .router
                .call(ToolCallContext::new(self, request, context))
                .await;
        }
        if let Some(downstream) = &self.downstream {
            return Ok(self
                .call_downstream(downstream, request, context)
                .await
                .into());
        }
        let known: Vec<_> = self
            .router
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        Err(ErrorData::invalid_params(
            format!(
                "unknown tool '{}': Baton's tools are {}",
                request.name,
                known.join(", ")
            ),
            None,
        ))
    }
}

/// `baton mcp`: serves one MCP session on stdin/stdout until the client closes it (or a
/// SIGINT/SIGTERM), then ends the session's run.
/// `--explain`: the downstream server's tools, gated or not, and why.
async fn explain(downstream: &Downstream) -> Result<u8, Failure> {
    let tools = downstream
        .tools()
        .await
        .map_err(|e| Failure::new(exit::FAILED, e))?;
    downstream.shut_down();
    println!("Tools of '{}' behind Baton:", downstream.label);
    for tool in tools {
        let read_only = tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        let (gated, why) = downstream.gates.decide(&tool.name, read_only);
        println!(
            "  {:<7} {}: {why}",
            if gated { "GATED" } else { "passes" },
            tool.name
        );
    }
    Ok(exit::OK)
}

/// `desktop`, or `browser:work and desktop`: the resources a gate needs, for titles and
/// sentences.
pub(crate) fn names(resources: &[ResourceName]) -> String {
    let names: Vec<&str> = resources.iter().map(ResourceName::as_str).collect();
    names.join(" and ")
}

pub async fn serve(data_dir: DataDir, args: McpArgs) -> Result<u8, Failure> {
    let downstream = if args.proxy {
        if args.command.is_empty() {
            return Err(Failure::new(
                exit::USAGE,
                "--proxy needs the desktop MCP server's command after '--', e.g. 'baton mcp --proxy -- npx @playwright/mcp'",
            ));
        }
        let private = args.display == Some(DisplayKind::Private);
        let gates = Gates {
            add: args.gate.clone(),
            remove: args.no_gate.clone(),
            trust_read_only: args.trust_read_only_hints,
            private,
        };
        let timeout = crate::cli::seconds(args.call_timeout, "--call-timeout")?;
        let command = if private {
            on_a_private_display(&data_dir, &args)?
        } else {
            args.command.clone()
        };
        let downstream = Downstream::start(&command, gates, timeout);
        if args.explain {
            return explain(&downstream).await;
        }
        Some(Arc::new(downstream))
    } else {
        if !args.command.is_empty() {
            return Err(Failure::new(
                exit::USAGE,
                "a command after '--' is only for --proxy (the desktop MCP server to put behind Baton)",
            ));
        }
        None
    };
    let idle_release = match &downstream {
        Some(_) if args.idle > 0.0 => Some(crate::cli::seconds(args.idle, "--idle")?),
        _ => None,
    };
    if let Err(failure) = Client::connect_as_user(&data_dir) {
        // Not fatal: the tools say so until a host runs.
        tracing::warn!("{failure}; the tools will say so until one runs");
    }
    // What a gated call needs: the desktop, unless the proxy was told otherwise.
    let gate = if args.resources.is_empty() {
        vec![ResourceName::desktop()]
    } else {
        args.resources.clone()
    };
    let title = args.title.clone().unwrap_or_else(|| match &downstream {
        Some(downstream) => format!("{} through {}", names(&gate), downstream.label),
        None => "agent session".to_string(),
    });
    let session = Session::start(
        data_dir.clone(),
        Settings {
            title,
            idle_release,
        },
    );
    let server = Baton {
        data_dir,
        gate,
        session: session.clone(),
        client_override: args.client,
        downstream: downstream.clone(),
        router: Baton::tool_router(),
    };
    let stop = CancellationToken::new();
    let signalled = tokio::spawn(stop_on_signal(stop.clone()));
    let outcome = match server
        .serve_with_ct(rmcp::transport::stdio(), stop.clone())
        .await
    {
        Ok(service) => {
            let forwarding = downstream
                .clone()
                .map(|d| tokio::spawn(forward_tool_changes(d, service.peer().clone())));
            let outcome =
                service.waiting().await.map(|_| ()).map_err(|e| {
                    Failure::new(exit::FAILED, format!("the MCP session failed: {e}"))
                });
            if let Some(forwarding) = forwarding {
                forwarding.abort();
            }
            outcome
        }
        Err(e) => Err(Failure::new(
            exit::FAILED,
            format!("no MCP session was started on stdin/stdout: {e}"),
        )),
    };
    signalled.abort();
    // A frozen host must not keep this process alive: the attach stream closes with the
    // process, and that frees the desktop anyway.
    if tokio::time::timeout(CLOSE_TIMEOUT, session.close())
        .await
        .is_err()
    {
        tracing::warn!("the Baton host did not answer; ending the session without it");
    }
    if let Some(downstream) = &downstream {
        downstream.shut_down();
        // Let it see its stdin close before this process (and with it the child) goes.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if stop.is_cancelled() {
        // Stopped by a signal: stdin may still be open, and a blocked read of it would hold
        // up the runtime's shutdown.
        std::process::exit(i32::from(exit::OK));
    }
    outcome.map(|()| exit::OK)
}

/// The server's command wrapped in `baton run --display private`: a run of the session's own
/// that holds a private display as long as the server lives, with the server's stdin and
/// stdout passed through untouched and its DISPLAY pointing there.
fn on_a_private_display(data_dir: &DataDir, args: &McpArgs) -> Result<Vec<String>, Failure> {
    let baton = std::env::current_exe()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot find this baton program: {e}")))?;
    let label = crate::format::truncate(&args.command.join(" "), 80);
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| format!("{label} on a private display"));
    let mut command = vec![
        baton.to_string_lossy().into_owned(),
        "--data-dir".into(),
        data_dir.path().to_string_lossy().into_owned(),
        "run".into(),
        "--display".into(),
        "private".into(),
        "--title".into(),
        title,
        "--client".into(),
        args.client.clone().unwrap_or_else(|| "mcp".into()),
        "--".into(),
    ];
    command.extend(args.command.iter().cloned());
    Ok(command)
}

/// Each time the desktop server says its tools changed: lists them again (so the new ones can
/// be called, classified as they are), then tells the agent, which lists them in turn.
/// A server on a private display that was still waiting when the agent listed the tools is
/// announced the same way once it starts.
async fn forward_tool_changes(downstream: Arc<Downstream>, agent: Peer<RoleServer>) {
    let mut changes = downstream.changes();
    if downstream.gates.private {
        downstream.started().await;
        if agent.notify_tool_list_changed().await.is_err() {
            return;
        }
    }
    while changes.changed().await.is_ok() {
        if let Err(why) = downstream.tools().await {
            tracing::warn!("{why}");
        }
        if agent.notify_tool_list_changed().await.is_err() {
            return;
        }
    }
}

async fn stop_on_signal(stop: CancellationToken) {
    let Ok(mut signals) = crate::process::Signals::new() else {
        return;
    };
    signals.recv().await;
    stop.cancel();
}
