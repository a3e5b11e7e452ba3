//! `cancel`, `stop`, `pause`, `resume`, `front`, `amend`: requests that change something, each
//! answered with one sentence.

use baton_client::Client;
use baton_client::models::StopRequest;
use baton_core::RunId;

use crate::exit::{self, Failure};
use crate::format;

pub async fn cancel(client: &Client, id: i64, reason: Option<String>) -> Result<u8, Failure> {
    let run = client.cancel(RunId(id), reason).await?;
    match client.run() {
        Some(me) => println!(
            "cancelled {} (relayed for the user by run #{me})",
            format::run(&run)
        ),
        None => println!("cancelled {}", format::run(&run)),
    }
    Ok(exit::OK)
}

pub async fn stop(client: &Client, reason: Option<String>) -> Result<u8, Failure> {
    let answer = client
        .stop(&StopRequest {
            reason,
            run_id: None,
        })
        .await?;
    match answer.stopped {
        Some(run) => println!("stopped {}, which held the desktop", format::run(&run)),
        None => println!("the desktop is free: nothing to stop"),
    }
    Ok(exit::OK)
}

pub async fn pause(client: &Client, paused: bool) -> Result<u8, Failure> {
    let answer = client.set_paused(paused).await?;
    let sentence = match (paused, answer.changed) {
        (true, true) => "hand-offs paused: the holder goes on, nobody new gets the desktop",
        (true, false) => "hand-offs were already paused",
        (false, true) => "hand-offs resumed",
        (false, false) => "hand-offs were not paused",
    };
    println!("{sentence}");
    Ok(exit::OK)
}

pub async fn front(client: &Client, id: i64) -> Result<u8, Failure> {
    let status = client.front(RunId(id)).await?;
    println!("{} is now first in the queue", format::run(&status.run));
    Ok(exit::OK)
}

pub async fn allow(client: &Client, id: i64) -> Result<u8, Failure> {
    let status = client.allow(RunId(id)).await?;
    println!("allowed: {} has the desktop now", format::run(&status.run));
    Ok(exit::OK)
}

pub async fn amend(
    client: &Client,
    id: i64,
    text: String,
    reason: Option<String>,
) -> Result<u8, Failure> {
    let status = client.amend(RunId(id), text, reason).await?;
    println!(
        "sent to {} (note {} in its inbox); nothing was cancelled or requeued",
        format::run(&status.run),
        status.inbox.last().map_or(0, |a| a.n)
    );
    Ok(exit::OK)
}
