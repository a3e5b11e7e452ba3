//! `status`, `history`, `events`: reading, never changing.

use baton_client::Client;
use baton_client::models::HistoryParams;
use baton_core::Event;

use crate::exit::{self, Failure};
use crate::format;

pub async fn status(client: &Client, json: bool) -> Result<u8, Failure> {
    let snapshot = client.status().await?;
    if json {
        print_json(&snapshot)?;
        return Ok(exit::OK);
    }
    // What this host cannot do here, said before it fails someone (an older host has no such
    // route: then nothing is said).
    let facts = client.host_facts().await.ok();
    let desktop = &snapshot.desktop;
    match &desktop.holder {
        Some(holder) => println!(
            "Desktop: {} for {}, lease token {}",
            format::run(holder),
            desktop.since.map(format::since).unwrap_or_default(),
            desktop.lease_token.unwrap_or_default()
        ),
        None => println!("Desktop: free"),
    }
    if desktop.paused {
        println!(
            "Hand-offs: paused by the user (nobody new gets the desktop until 'baton resume')"
        );
    }
    if let Some(waiting) = &desktop.awaiting_ok {
        println!(
            "Waiting for your OK for '{}' ({}): 'baton allow {}' lets it take the desktop, 'baton cancel {}' refuses it",
            waiting.title, waiting.client, waiting.id, waiting.id
        );
    }
    if desktop.queue.is_empty() {
        println!("Queue: empty");
    } else {
        println!("Queue: {} waiting", desktop.queue.len());
        for run in &desktop.queue {
            println!(
                "  {}. {}, waiting {}",
                run.position.unwrap_or_default(),
                format::run(run),
                format::since(run.created_at)
            );
        }
    }
    if !snapshot.running.is_empty() {
        println!("In parallel: {}", snapshot.running.len());
        for run in &snapshot.running {
            println!(
                "  {}, for {}",
                format::run(run),
                run.started_at.map(format::since).unwrap_or_default()
            );
        }
    }
    for resource in &snapshot.resources {
        println!("Resource {}", crate::cmd::resource::line(resource));
    }
    if let Some(facts) = facts {
        for line in facts.not_working() {
            println!("{line}");
        }
    }
    Ok(exit::OK)
}

pub async fn history(
    client: &Client,
    limit: u32,
    state: Option<baton_core::RunState>,
    run_client: Option<String>,
    json: bool,
) -> Result<u8, Failure> {
    let query = HistoryParams {
        limit: Some(limit),
        state: state.map(|s| s.as_str().to_string()),
        client: run_client,
        before: None,
    };
    let runs = client.history(&query).await?;
    if json {
        print_json(&runs)?;
        return Ok(exit::OK);
    }
    if runs.is_empty() {
        println!("No runs yet.");
        return Ok(exit::OK);
    }
    println!(
        "{:>5}  {:<11}  {:<12}  {:<24}  {:<8}  DETAIL",
        "ID", "STATE", "CLIENT", "SUBMITTED", "TOOK"
    );
    for run in runs {
        let took = match (run.started_at, run.finished_at) {
            (Some(start), Some(end)) => format::duration(start.until(end)),
            (Some(start), None) => format!("{}+", format::since(start)),
            _ => "-".into(),
        };
        let detail = match (&run.cancelled_by, &run.reason, &run.outcome) {
            (Some(by), reason, _) => format!(
                "by {by}{}",
                reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            (None, Some(reason), _) => reason.clone(),
            (None, None, Some(outcome)) => outcome.clone(),
            _ => String::new(),
        };
        println!(
            "{:>5}  {:<11}  {:<12}  {:<24}  {:<8}  '{}'{}",
            run.id,
            run.state,
            format::truncate(&run.client, 12),
            run.created_at,
            took,
            run.title,
            if detail.is_empty() {
                String::new()
            } else {
                format!(" {detail}")
            }
        );
    }
    Ok(exit::OK)
}

pub async fn events(
    client: &Client,
    follow: bool,
    since: Option<u64>,
    json: bool,
) -> Result<u8, Failure> {
    let print = |event: &Event| -> Result<(), Failure> {
        if json {
            println!("{}", to_json(event)?);
        } else {
            println!("{}", format::event(event));
        }
        Ok(())
    };
    if !follow {
        let mut after = since.unwrap_or(0);
        loop {
            let page = client.events(after, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(exit::OK);
            };
            after = last.seq;
            for event in &page {
                print(event)?;
            }
        }
    }
    let mut stream = client.event_stream(since).await?;
    while let Some(event) = stream.next_json::<Event>().await? {
        print(&event)?;
    }
    Err(Failure::new(exit::NO_HOST, "the Baton host stopped"))
}

pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::new(exit::FAILED, e.to_string()))
}
