//! `schedule`: the entries the host fires through the queue, and `logs`: what a scheduled
//! run's command printed. Anyone lists them and reads logs; the person changes them.

use baton_client::Client;
use baton_client::models::Schedule;
use baton_core::schedule::{EntrySpec, Missed};
use baton_core::{RunId, Timestamp};

use crate::cli::{EntryArgs, ScheduleCommand};
use crate::exit::{self, Failure};

pub async fn schedule(client: &Client, command: ScheduleCommand) -> Result<u8, Failure> {
    match command {
        ScheduleCommand::List { json } => {
            let entries = client.schedules().await?;
            if json {
                crate::cmd::show::print_json(&entries)?;
            } else if entries.is_empty() {
                println!("no schedule entries (add one with 'baton schedule add')");
            } else {
                for entry in &entries {
                    println!("{}", line(entry));
                }
            }
        }
        ScheduleCommand::Add(args) => {
            let added = client.add_schedule(&spec(args)?).await?;
            println!("added {}", line(&added));
        }
        ScheduleCommand::Edit(args) => {
            let changed = client.edit_schedule(&spec(args)?).await?;
            println!("changed {}", line(&changed));
        }
        ScheduleCommand::Remove { name } => {
            let removed = client.remove_schedule(&name).await?;
            println!(
                "removed '{}'; its runs stay in the history",
                removed.removed
            );
        }
        ScheduleCommand::Pause { name } => {
            println!("{}", line(&client.pause_schedule(&name, true).await?));
        }
        ScheduleCommand::Resume { name } => {
            println!("{}", line(&client.pause_schedule(&name, false).await?));
        }
        ScheduleCommand::RunNow { name } => {
            let status = client.run_schedule(&name).await?;
            println!(
                "run #{} of '{name}': {} (its output: baton logs {})",
                status.run.id, status.message, status.run.id
            );
        }
    }
    Ok(exit::OK)
}

pub async fn logs(client: &Client, run_id: i64) -> Result<u8, Failure> {
    let text = client.log(RunId(run_id)).await?;
    print!("{text}");
    Ok(exit::OK)
}

/// The entry the arguments give.
fn spec(args: EntryArgs) -> Result<EntrySpec, Failure> {
    let missed: Missed = args
        .missed
        .parse()
        .map_err(|e: baton_core::Error| Failure::new(exit::USAGE, e.to_string()))?;
    Ok(EntrySpec {
        name: args.name,
        cron: args.cron,
        command: args.command,
        title: args.title,
        needs_desktop: args.desktop,
        resources: args.resources,
        missed,
    })
}

/// One entry on one line: its name, expression, next fire, and what else a person should see.
pub fn line(schedule: &Schedule) -> String {
    let entry = &schedule.entry;
    let spec = &entry.spec;
    let mut parts = vec![format!("{}: '{}'", spec.name, spec.cron)];
    match (entry.paused, schedule.next_fire) {
        (true, _) => parts.push("paused".into()),
        (false, Some(next)) => parts.push(format!("next {}", local(next))),
        (false, None) => parts.push("never fires again".into()),
    }
    if spec.needs_desktop {
        parts.push("needs the desktop".into());
    }
    if !spec.resources.is_empty() {
        let names: Vec<&str> = spec.resources.iter().map(|r| r.as_str()).collect();
        parts.push(format!("needs {}", names.join(", ")));
    }
    if spec.missed == Missed::Skip {
        parts.push("skips missed fires".into());
    }
    if let Some(run) = entry.last_run {
        parts.push(format!("last run #{run}"));
    }
    if let Some(problem) = &entry.problem {
        parts.push(format!("last fire made no run: {problem}"));
    }
    let command = crate::format::truncate(&spec.command.join(" "), 60);
    format!("{} — {command}", parts.join(", "))
}

/// `2026-12-06 09:30:00 (in 2h05m)`, in this computer's local time.
fn local(t: Timestamp) -> String {
    use chrono::TimeZone;
    let when = chrono::Local
        .timestamp_millis_opt(t.0)
        .single()
        .map_or_else(
            || format!("{} ms", t.0),
            |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
    let now = Timestamp::now();
    if t > now {
        format!("{when} (in {})", crate::format::duration(now.until(t)))
    } else {
        format!("{when} (due now)")
    }
}
