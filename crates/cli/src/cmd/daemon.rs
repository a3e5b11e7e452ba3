//! `baton daemon`: the headless host, in the foreground.

use baton_api::{Host, HostOptions, InputOptions, Overrides};
use baton_core::Durability;
use baton_platform::DataDir;

use crate::cli::{DaemonArgs, seconds, ttl_seconds};
use crate::exit::{self, Failure};
use crate::process::Signals;

pub async fn daemon(data_dir: DataDir, args: DaemonArgs) -> Result<u8, Failure> {
    let durability: Durability = args
        .durability
        .parse()
        .map_err(|e: String| Failure::new(exit::USAGE, e))?;
    // A flag given wins over the stored setting for this start (the host's log says so); the
    // rest comes from the data directory's settings, as for the tray app.
    let overrides = Overrides {
        port: args.port,
        default_ttl: args.ttl.map(|s| ttl_seconds(s, "--ttl")).transpose()?,
        takeover_enabled: args.no_takeover.then_some(false),
        takeover_quiet: args
            .takeover_quiet
            .map(|s| seconds(s, "--takeover-quiet"))
            .transpose()?,
        max_active: args.max_active.map(|n| n as usize),
        max_per_client: args.max_per_client.map(|n| n as usize),
        retention_days: args.retention_days,
        ask_first: args.ask_first.then_some(true),
    };
    // Listen before starting, so a stop that comes during start-up is still a clean one.
    // Ctrl+C, SIGTERM, and SIGHUP (the terminal it was started from closed) all stop it cleanly.
    let mut signals = Signals::new()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot listen for signals: {e}")))?;
    let host = Host::start(HostOptions {
        durability,
        input: if args.no_input {
            InputOptions::Disabled
        } else {
            InputOptions::Display
        },
        overrides,
        // This very program runs the scheduled commands, as `baton run --adopt`.
        schedules: if args.no_schedules {
            None
        } else {
            Some(std::env::current_exe().map_err(|e| {
                Failure::new(
                    exit::FAILED,
                    format!("cannot tell where this baton program is, to run scheduled commands with it: {e} (--no-schedules starts without them)"),
                )
            })?)
        },
        ..HostOptions::new(data_dir, baton_platform::HostKind::Daemon)
    })
    .await
    .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    eprintln!(
        "baton: serving {} at {} (Ctrl+C stops)",
        host.data_dir().path().display(),
        host.url()
    );
    if host.interrupted_at_start() > 0 {
        eprintln!(
            "baton: {} run(s) were active when Baton last stopped; they are now marked interrupted",
            host.interrupted_at_start()
        );
    }
    let failed = tokio::select! {
        _ = signals.recv() => false,
        () = host.failed() => true,
    };
    eprintln!("baton: stopping; active runs end as 'interrupted'");
    host.shutdown().await;
    if failed {
        return Err(Failure::new(
            exit::FAILED,
            "Baton's history database failed, so Baton stopped rather than lose track of the desktop; see the log above",
        ));
    }
    eprintln!("baton: stopped");
    Ok(exit::OK)
}
