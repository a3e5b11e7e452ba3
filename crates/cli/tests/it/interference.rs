//! What Baton is for: eight agents at once on one display, each clicking into its own text
//! field and typing its own sentence. Through Baton (`baton run --desktop` + `baton input`)
//! every field must end exactly right, every round. The same agents without Baton (xdotool
//! straight at the display) mix their input up; both rates are printed.
//!
//! Rounds: `BATON_INTERFERENCE_ROUNDS` (default 20; `make interference` runs 1000).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

const AGENTS: usize = 8;

fn sentence(agent: usize, round: usize) -> String {
    // Distinct, 40+ characters, capitals and punctuation included.
    format!("Agent {agent} of round {round} says: the quick brown fox jumps over the lazy dog!")
}

fn rounds() -> usize {
    std::env::var("BATON_INTERFERENCE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20)
}

/// The share of fields that came out exactly right.
fn rate(right: usize, rounds: usize) -> f64 {
    100.0 * right as f64 / (rounds * AGENTS) as f64
}

#[test]
fn eight_agents_through_baton_never_mix_their_input() {
    let x = Xvfb::start();
    let d = Daemon::on_display(&x.display, &[]);
    let mut fields = Fields::open(&x.display, AGENTS);
    let rounds = rounds();
    let started = Instant::now();
    let mut right = 0;
    for round in 0..rounds {
        fields.clear();
        let agents: Vec<Proc> = (0..AGENTS)
            .map(|agent| {
                let (cx, cy) = fields.centres[agent];
                let script = format!(
                    "baton input move {cx} {cy} click wait 60 type '{}'",
                    sentence(agent, round)
                );
                run_script(
                    &d,
                    &["-d", "-t", &format!("agent {agent}"), "-c", "test"],
                    &script,
                )
            })
            .collect();
        for (agent, mut proc) in agents.into_iter().enumerate() {
            let code = proc.wait(Duration::from_secs(120)).code();
            assert_eq!(
                code,
                Some(0),
                "agent {agent}, round {round}: {:?}",
                proc.stderr.all()
            );
        }
        let texts = fields.texts();
        for (agent, text) in texts.iter().enumerate() {
            let expected = sentence(agent, round);
            assert_eq!(
                text, &expected,
                "round {round}: field {agent} is mixed: {texts:?}"
            );
            right += 1;
        }
    }
    eprintln!(
        "through Baton: {right} of {} fields exactly right ({:.1} %) in {rounds} rounds of {AGENTS} agents, {:.1} s a round",
        rounds * AGENTS,
        rate(right, rounds),
        started.elapsed().as_secs_f64() / rounds as f64
    );
}

#[test]
fn the_same_agents_without_baton_mix_their_input() {
    let x = Xvfb::start();
    let mut fields = Fields::open(&x.display, AGENTS);
    let rounds = 5;
    let mut right = 0;
    for round in 0..rounds {
        fields.clear();
        let agents: Vec<_> = (0..AGENTS)
            .map(|agent| {
                let (cx, cy) = fields.centres[agent];
                // What an agent does when nothing coordinates it: straight at the display.
                Command::new("xdotool")
                    .env("DISPLAY", &x.display)
                    .args([
                        "mousemove",
                        &cx.to_string(),
                        &cy.to_string(),
                        "click",
                        "1",
                        "sleep",
                        "0.06",
                    ])
                    .args(["type", "--delay", "12", &sentence(agent, round)])
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut agent in agents {
            agent.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        right += fields
            .texts()
            .iter()
            .enumerate()
            .filter(|(agent, text)| **text == sentence(*agent, round))
            .count();
    }
    eprintln!(
        "without Baton: {right} of {} fields exactly right ({:.1} %) in {rounds} rounds of {AGENTS} agents",
        rounds * AGENTS,
        rate(right, rounds)
    );
    assert!(
        right < rounds * AGENTS,
        "eight uncoordinated agents never mixed their input: the test no longer shows the problem"
    );
}
