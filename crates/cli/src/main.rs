//! `baton`: the user's and every script's door to Baton.
//!
//! Map of the binary:
//! - [`cli`]: the command line (clap).
//! - [`cmd`]: one module per group of subcommands (`daemon`, `run`, control requests, reads,
//!   resources, schedules).
//! - [`link`]: which agent an MCP session's run belongs to, for the Claude Code hook.
//! - [`process`]: process groups, signals and the terminal, for `baton run` and the proxy.
//! - [`exit`]: the exit codes scripts rely on.
//! - [`format`]: how runs, events and durations read in a terminal.
//! - [`mcp`]: `baton mcp`, the MCP server for agents (and its gating proxy).

mod cli;
mod cmd;
mod exit;
mod format;
mod link;
mod mcp;
mod process;

use std::process::ExitCode;

use baton_platform::DataDir;
use clap::Parser;

use crate::cli::{Cli, Command, HookAgent};
use crate::exit::Failure;
use baton_client::Client;

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(target_os = "macos")]
    if let Command::WatchParent { parent, group } = cli.command {
        return ExitCode::from(process::macos::watch_parent(parent, group));
    }
    let is_daemon = matches!(cli.command, Command::Daemon(_));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if is_daemon { "info" } else { "warn" })
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    // Claude Code blocks a tool only on a deny (or exit 2): for its hook, every failure, a panic
    // included, is a deny, never an exit code that lets the tool run.
    let is_hook = matches!(cli.command, Command::Hook { .. });
    if is_hook {
        std::panic::set_hook(Box::new(|info| {
            cmd::hook::print_deny(&format!(
                "Baton's hook failed ({info}), so the desktop tool does not run"
            ));
        }));
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli, is_daemon))) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(failure)) if is_hook => {
            cmd::hook::print_deny(&format!(
                "Baton's hook could not check the desktop ({failure}), so the desktop tool does not run"
            ));
            ExitCode::from(exit::OK)
        }
        Ok(Err(failure)) => {
            eprintln!("baton: {failure}");
            ExitCode::from(failure.code)
        }
        // The panic hook has said so.
        Err(_) if is_hook => ExitCode::from(exit::OK),
        Err(_) => ExitCode::from(101),
    }
}

fn run(cli: Cli, is_daemon: bool) -> Result<u8, Failure> {
    let data_dir = match cli.data_dir {
        Some(dir) => DataDir::at(dir),
        None => DataDir::resolve().map_err(|e| Failure::new(exit::FAILED, e.to_string()))?,
    };
    // The host serves many clients at once; a client does one thing. A client's commands are
    // also spawned from the main thread, which is what PR_SET_PDEATHSIG is tied to.
    let runtime = if is_daemon {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .map_err(|e| Failure::new(exit::FAILED, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli.command, data_dir))
}

async fn dispatch(command: Command, data_dir: DataDir) -> Result<u8, Failure> {
    match command {
        Command::Daemon(args) => return cmd::daemon::daemon(data_dir, args).await,
        // These run without a host too, and say so in their own protocol.
        Command::Mcp(args) => return mcp::serve(data_dir, args).await,
        Command::Hook {
            agent: HookAgent::ClaudeCode,
        } => return Ok(cmd::hook::claude_code(&data_dir).await),
        _ => {}
    }
    let client = Client::connect(&data_dir)?;
    match command {
        Command::Daemon(_) | Command::Mcp(_) | Command::Hook { .. } => {
            unreachable!("handled above")
        }
        #[cfg(target_os = "macos")]
        Command::WatchParent { .. } => unreachable!("handled in main"),
        Command::Status { json } => cmd::show::status(&client, json).await,
        Command::Run(args) => cmd::run::run(&client, args, None).await,
        Command::Replace { run_id, run } => cmd::run::run(&client, run, Some(run_id)).await,
        Command::Cancel { run_id, reason } => cmd::control::cancel(&client, run_id, reason).await,
        Command::Stop { reason } => cmd::control::stop(&client, reason).await,
        Command::Pause => cmd::control::pause(&client, true).await,
        Command::Resume => cmd::control::pause(&client, false).await,
        Command::Front { run_id } => cmd::control::front(&client, run_id).await,
        Command::Allow { run_id } => cmd::control::allow(&client, run_id).await,
        Command::Amend {
            run_id,
            text,
            reason,
        } => cmd::control::amend(&client, run_id, text, reason).await,
        Command::History {
            limit,
            state,
            client: run_client,
            json,
        } => cmd::show::history(&client, limit, state, run_client, json).await,
        Command::Input { lease_token, words } => {
            cmd::input::input(&client, words, lease_token).await
        }
        Command::Events {
            follow,
            since,
            json,
        } => cmd::show::events(&client, follow, since, json).await,
        Command::Resource(command) => cmd::resource::resource(&client, command).await,
        Command::Schedule(command) => cmd::schedule::schedule(&client, command).await,
        Command::Logs { run_id } => cmd::schedule::logs(&client, run_id).await,
        Command::Screenshot { run_id, output } => {
            cmd::input::screenshot(&client, run_id, output).await
        }
    }
}
