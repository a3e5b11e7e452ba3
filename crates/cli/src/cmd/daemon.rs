//! `baton daemon`: the headless host, in the foreground.

use std::time::Duration;

use baton_api::{Host, HostOptions, InputOptions};
use baton_core::takeover::TakeoverSettings;
use baton_core::{Config, DataDir, Durability};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::DaemonArgs;
use crate::exit::{self, Failure};

pub async fn daemon(data_dir: DataDir, args: DaemonArgs) -> Result<u8, Failure> {
    let durability: Durability = args
        .durability
        .parse()
        .map_err(|e: String| Failure::new(exit::USAGE, e))?;
    let ttl = ttl_seconds(args.ttl, "--ttl")?;
    // Listen before starting, so a stop that comes during start-up is still a clean one.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_failure)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_failure)?;
    let host = Host::start(HostOptions {
        data_dir,
        port: args.port,
        kind: "daemon".into(),
        durability,
        config: Config { default_ttl: ttl },
        input: if args.no_input {
            InputOptions::Disabled
        } else {
            InputOptions::Display
        },
        takeover: TakeoverSettings {
            enabled: !args.no_takeover,
            quiet: seconds(args.takeover_quiet, "--takeover-quiet")?,
        },
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
        _ = interrupt.recv() => false,
        _ = terminate.recv() => false,
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

/// A positive, finite number of seconds.
pub fn seconds(value: f64, flag: &str) -> Result<Duration, Failure> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Failure::new(
            exit::USAGE,
            format!("{flag} takes a number of seconds above 0 and at most 86400, not {value}"),
        ))
    }
}

/// A heartbeat TTL within the bounds the scheduler accepts.
pub fn ttl_seconds(value: f64, flag: &str) -> Result<Duration, Failure> {
    use baton_core::lease::limits::{MAX_TTL, MIN_TTL};
    let ttl = seconds(value, flag)?;
    if (MIN_TTL..=MAX_TTL).contains(&ttl) {
        Ok(ttl)
    } else {
        Err(Failure::new(
            exit::USAGE,
            format!(
                "{flag} takes between {} and {} seconds, not {value}",
                MIN_TTL.as_secs_f64(),
                MAX_TTL.as_secs()
            ),
        ))
    }
}

fn signal_failure(e: std::io::Error) -> Failure {
    Failure::new(exit::FAILED, format!("cannot listen for signals: {e}"))
}
