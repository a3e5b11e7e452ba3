//! `resource`: the named resources besides the desktop. Anyone lists them; the person declares,
//! resizes and removes them.

use baton_client::Client;
use baton_core::{ResourceName, ResourceState};

use crate::cli::ResourceCommand;
use crate::exit::{self, Failure};

pub async fn resource(client: &Client, command: ResourceCommand) -> Result<u8, Failure> {
    match command {
        ResourceCommand::List { json } => {
            let resources = client.resources().await?;
            if json {
                crate::cmd::show::print_json(&resources)?;
            } else {
                for resource in &resources {
                    println!("{}", line(resource));
                }
            }
        }
        ResourceCommand::Add { name, capacity } => {
            let added = client.add_resource(name, capacity).await?;
            println!(
                "declared '{}' (capacity {}); runs may now need it with --resource {}",
                added.name, added.capacity, added.name
            );
        }
        ResourceCommand::Capacity { name, capacity } => {
            let changed = client.set_capacity(&name, capacity).await?;
            println!("{}", line(&changed));
        }
        ResourceCommand::Remove { name } => {
            let removed = client.remove_resource(&name).await?;
            println!("removed '{}'", removed.removed);
        }
    }
    Ok(exit::OK)
}

/// One resource on one line: its name, capacity, holders and queue.
pub fn line(resource: &ResourceState) -> String {
    let held: Vec<String> = resource
        .holders
        .iter()
        .map(|h| {
            format!(
                "#{} '{}' ({}), lease token {}",
                h.run.id, h.run.title, h.run.client, h.lease_token
            )
        })
        .collect();
    let holders = if held.is_empty() {
        "free".to_string()
    } else {
        format!("held by {}", held.join("; "))
    };
    let waiting: Vec<String> = resource
        .queue
        .iter()
        .map(|r| format!("#{} '{}' ({})", r.id, r.title, r.client))
        .collect();
    let queue = match waiting.len() {
        0 => "nobody waiting".to_string(),
        n => format!("{n} waiting: {}", waiting.join(", ")),
    };
    format!(
        "{}: capacity {}, {holders}; {queue}",
        resource.name, resource.capacity
    )
}

/// A resource's name as the host will take it; the host says whether one by that name exists.
pub fn name(text: &str) -> Result<ResourceName, String> {
    text.parse().map_err(|e: baton_core::Error| e.to_string())
}
