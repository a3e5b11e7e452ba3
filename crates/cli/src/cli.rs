//! The command line, as clap sees it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::exit::{self, Failure};

/// Baton: share one desktop between many agents and scripts.
///
/// Work that needs the mouse, keyboard and screen holds the desktop lease, one at a time;
/// everything else runs in parallel. Waiting runs queue first come, first served, and start
/// automatically when the lease is handed on. Only the user cancels.
#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version = baton_api::VERSION,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Baton's data directory (default: $BATON_DATA_DIR, or the platform's data dir + /baton).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// (macOS, internal) End process group GROUP when process PARENT exits: what Linux does
    /// with PR_SET_PDEATHSIG for `baton run`'s commands.
    #[cfg(target_os = "macos")]
    #[command(hide = true)]
    WatchParent { parent: u32, group: i32 },
    /// Host Baton without the tray app, in the foreground (Ctrl+C stops it).
    Daemon(DaemonArgs),
    /// Who holds the desktop, who waits, what runs in parallel. Changes nothing.
    Status {
        /// Print the snapshot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command as a Baton run, flock-style: queue for the desktop if it needs it, run
    /// the command, finish the run with its outcome, exit with its exit code.
    #[command(after_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Cancel a run. Inside a run ($BATON_RUN_TOKEN set) this relays the user's stop for
    /// another run and needs --reason; a run can never cancel itself.
    Cancel {
        /// The run to cancel.
        run_id: i64,
        /// Why (recorded in the history).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel whoever holds the desktop now.
    Stop {
        /// Why (recorded in the history).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pause hand-offs: the holder goes on, nobody new gets the desktop.
    Pause,
    /// Resume hand-offs.
    Resume,
    /// Move a queued run to the front of the queue.
    Front {
        /// The queued run.
        run_id: i64,
    },
    /// Let the run that waits for your OK take the desktop (when Baton asks before each run
    /// takes it: `baton daemon --ask-first`, or the setting). To refuse it, cancel it.
    Allow {
        /// The run waiting for your OK.
        run_id: i64,
    },
    /// Send a correction to a run's inbox. Nothing is cancelled or requeued.
    Amend {
        /// The run.
        run_id: i64,
        /// The correction.
        text: String,
        /// The user's words: needed inside a run, to relay the user's correction for another
        /// run (recorded with it).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel a run and put a new one in its place (its queue slot, or the desktop directly if
    /// it held it), then run the new command like `baton run`.
    Replace {
        /// The run to replace.
        run_id: i64,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Finished and running runs, newest first.
    History {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only runs in this state (queued, running, succeeded, failed, cancelled, expired,
        /// withdrawn, interrupted).
        #[arg(long)]
        state: Option<baton_core::RunState>,
        /// Only runs of this client.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mouse and keyboard through Baton, for the run this command runs in (it must hold the
    /// desktop). Several actions make one batch, run in order.
    #[command(after_help = INPUT_AFTER_HELP)]
    Input {
        /// The lease token to present (default: $BATON_LEASE_TOKEN).
        #[arg(long, value_name = "N")]
        lease_token: Option<u64>,
        /// The actions.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ACTION"
        )]
        words: Vec<String>,
    },
    /// Save a picture of a run's private display as PNG (`baton run --display private`).
    /// Inside such a run it is the run's own; the person may name any run with one.
    Screenshot {
        /// The run (default: the run this command runs in).
        run_id: Option<i64>,
        /// Where to write the PNG (default: run-ID.png; `-` for stdout).
        #[arg(long, short, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Serve Baton's tools to an agent over MCP on stdin/stdout (for Claude Code, Codex and
    /// other MCP clients). Needs a running host; one MCP session is one run.
    #[command(after_help = MCP_AFTER_HELP)]
    Mcp(McpArgs),
    /// Answer an agent's hook. `claude-code`: Claude Code's PreToolUse hook, which refuses a
    /// desktop tool at once unless this Claude Code session holds the desktop through
    /// `baton mcp`.
    #[command(after_help = HOOK_AFTER_HELP)]
    Hook {
        /// The agent whose hook this is.
        agent: HookAgent,
    },
    /// Named resources besides the desktop, such as a browser profile: list them, or (the
    /// person only) declare, resize and remove them.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Schedule entries: commands the host runs through the queue when their cron
    /// expression fires, in this computer's local time. Anyone lists them; the person adds,
    /// edits, pauses, resumes, removes and runs them now.
    #[command(subcommand, after_help = SCHEDULE_AFTER_HELP)]
    Schedule(ScheduleCommand),
    /// Print the output of a scheduled run's command (its last MiB).
    Logs {
        /// The run.
        run_id: i64,
    },
    /// The event log: every transition, in order.
    Events {
        /// Keep following new events.
        #[arg(long, short)]
        follow: bool,
        /// Start after this sequence number (default: the whole log, or only new events with
        /// --follow).
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// A line per resource, the desktop first: its capacity, who holds it and who waits.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Declare a resource, such as browser:work; runs then need it with --resource NAME.
    Add {
        /// Letters, digits and ':' '.' '_' '-', at most 64 characters.
        #[arg(value_parser = crate::cmd::resource::name)]
        name: baton_core::ResourceName,
        /// How many runs may hold it at once.
        #[arg(long, default_value_t = 1, value_name = "N")]
        capacity: u32,
    },
    /// Change how many runs may hold a resource at once; it applies to its queue at once.
    Capacity {
        /// The resource.
        #[arg(value_parser = crate::cmd::resource::name)]
        name: baton_core::ResourceName,
        /// The new capacity.
        capacity: u32,
    },
    /// Remove a resource; only while nobody holds it or waits for it.
    Remove {
        /// The resource.
        #[arg(value_parser = crate::cmd::resource::name)]
        name: baton_core::ResourceName,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// A line per entry: its name, expression, next fire, and whether it is paused.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add an entry; it fires from now on.
    Add(EntryArgs),
    /// Change an entry (give it whole, as for add); a new expression fires from now on.
    Edit(EntryArgs),
    /// Remove an entry; its runs stay in the history, an active one goes on.
    Remove {
        /// The entry.
        name: String,
    },
    /// Pause an entry: the fires that pass while it is paused are let go.
    Pause {
        /// The entry.
        name: String,
    },
    /// Resume a paused entry: it fires next at its next time from now.
    Resume {
        /// The entry.
        name: String,
    },
    /// Run an entry now, through the queue like a fire (not while its earlier run is active).
    RunNow {
        /// The entry.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct EntryArgs {
    /// Letters, digits and '.' '_' '-', at most 48 characters; its runs' client is
    /// schedule:NAME.
    pub name: String,
    /// When it fires: 5 cron fields (minute hour day-of-month month day-of-week), or 6 with
    /// seconds first, in this computer's local time.
    #[arg(long, value_name = "EXPR")]
    pub cron: String,
    /// Its command needs the mouse, keyboard and screen: each run queues for the desktop.
    #[arg(long, short)]
    pub desktop: bool,
    /// Its command needs this declared resource too. Repeat for several.
    #[arg(long = "resource", short = 'r', value_name = "NAME", value_parser = crate::cmd::resource::name)]
    pub resources: Vec<baton_core::ResourceName>,
    /// Its runs' title (default: the command line).
    #[arg(long, short)]
    pub title: Option<String>,
    /// Fires missed while Baton was not running, the computer slept, or the entry's earlier
    /// run was still going: `catch-up` makes one run for all of them, `skip` lets them go.
    #[arg(long, default_value = "catch-up", value_name = "catch-up|skip")]
    pub missed: String,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

const SCHEDULE_AFTER_HELP: &str = "\
Each fire is a run of client schedule:NAME, through the queue like any run: an entry that needs
the desktop waits its turn behind the holder, however long, and no fire times out. An entry has
one run at a time; fires that pass meanwhile make at most one catch-up run (or none with
--missed skip). The output of each run's command is kept: baton logs RUN_ID.

Examples:
  baton schedule add backup --cron '0 2 * * *' -- ./backup.sh
  baton schedule add report --cron '30 9 * * 1-5' --desktop --title 'weekly report' -- ./report.sh
  baton schedule list";

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Port on 127.0.0.1 (0: any free port; clients find it through the data directory).
    /// Default: the one in the settings, else any free port.
    #[arg(long)]
    pub port: Option<u16>,
    /// SQLite durability: 'normal' survives a crash of Baton, 'full' also a power cut.
    #[arg(long, default_value = "normal", value_name = "normal|full")]
    pub durability: String,
    /// Default heartbeat TTL for runs, in seconds. Default: the one in the settings, else 15.
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<f64>,
    /// Never send input, even with a display: `baton input` is answered with no_display.
    #[arg(long)]
    pub no_input: bool,
    /// Keep and serve the schedule entries, but fire none and run none now (for tests and
    /// maintenance).
    #[arg(long)]
    pub no_schedules: bool,
    /// Do not pause the holder when the person at the computer uses the mouse or keyboard.
    /// Default: as in the settings, else on.
    #[arg(long)]
    pub no_takeover: bool,
    /// After a takeover, how long without the person's input before the holder resumes.
    /// Default: the one in the settings, else 10.
    #[arg(long, value_name = "SECS")]
    pub takeover_quiet: Option<f64>,
    /// The most active runs in all; submits beyond it are refused. Default: the one in the
    /// settings, else 10000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_active: Option<u32>,
    /// The most active runs with one client name. Default: the one in the settings, else 1000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_client: Option<u32>,
    /// Days of history to keep; older ended runs and events are pruned. Default: the one in
    /// the settings, else 90.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: Option<u32>,
    /// Ask the user before each run takes the free desktop: it waits, first in line, until
    /// `baton allow <run>` (or the tray) says yes, or the user cancels it. Default: as in the
    /// settings, else off.
    #[arg(long)]
    pub ask_first: bool,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Put another desktop MCP server behind Baton: its tools that drive input wait for the
    /// desktop; read-only ones pass straight through. Its command follows '--'.
    #[arg(long)]
    pub proxy: bool,
    /// With --proxy: gate this tool too (an exact tool name, or a word of tool names).
    #[arg(long, value_name = "NAME", requires = "proxy")]
    pub gate: Vec<String>,
    /// With --proxy: let this tool through ungated (an exact tool name, or a word of tool names).
    #[arg(long, value_name = "NAME", requires = "proxy")]
    pub no_gate: Vec<String>,
    /// With --proxy: let tools the server itself marks read-only through ungated.
    #[arg(long, requires = "proxy")]
    pub trust_read_only_hints: bool,
    /// With --proxy: list the server's tools, which are gated and why, and exit.
    #[arg(long, requires = "proxy")]
    pub explain: bool,
    /// With --proxy: give the desktop back after this many seconds without a gated call
    /// (0: keep it until the session ends).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub idle: f64,
    /// With --proxy: give up on a call to the desktop MCP server after this many seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub call_timeout: f64,
    /// With --proxy: gate the server's acting tools on this resource instead of the desktop,
    /// such as a Playwright server on its browser profile (browser:work). Repeat for several;
    /// name desktop as well to gate on both.
    #[arg(long = "resource", value_name = "NAME", requires = "proxy",
          value_parser = crate::cmd::resource::name)]
    pub resources: Vec<baton_core::ResourceName>,
    /// With --proxy, `private`: run the server on a display of the session's own (Linux,
    /// Xvfb), held from the pool `displays` for as long as the session lasts. Nobody else
    /// uses that display, so its tools are not gated.
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        requires = "proxy",
        conflicts_with = "resources"
    )]
    pub display: Option<DisplayKind>,
    /// The title of the session's runs (default: "agent session", or "desktop through CMD").
    #[arg(long)]
    pub title: Option<String>,
    /// The client of the session's runs (default: the MCP client's name: claude-code, codex).
    #[arg(long)]
    pub client: Option<String>,
    /// With --proxy: the desktop MCP server's command and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Displays a run may ask for besides the person's desktop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DisplayKind {
    /// A display of the run's own, which nobody else sees or types into.
    Private,
}

/// Agents `baton hook` answers for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HookAgent {
    /// Claude Code's PreToolUse hook (JSON on stdin).
    ClaudeCode,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The command needs the mouse, keyboard and screen: hold the desktop lease while it runs
    /// (the same as --resource desktop).
    #[arg(long, short)]
    pub desktop: bool,
    /// The command needs this resource (one the person declared, such as browser:work): hold
    /// it while it runs. Repeat for several; they are granted together, and with --desktop.
    #[arg(long = "resource", short = 'r', value_name = "NAME", value_parser = crate::cmd::resource::name)]
    pub resources: Vec<baton_core::ResourceName>,
    /// `private`: the command gets a display of its own (Linux, an Xvfb server) instead of
    /// the person's screen, from the pool `displays`; its DISPLAY points there, and its
    /// `baton input` acts there. The display ends with the run.
    #[arg(long, value_enum, value_name = "KIND", conflicts_with = "desktop")]
    pub display: Option<DisplayKind>,
    /// What the run is doing, as the user sees it (default: the command line).
    #[arg(long, short)]
    pub title: Option<String>,
    /// Who is submitting it (claude-code, codex, cron, …).
    #[arg(long, short, default_value = "cli", env = "BATON_CLIENT")]
    pub client: String,
    /// Give up after waiting this many seconds for the desktop (exit 75).
    #[arg(long, value_name = "SECS", conflicts_with = "no_wait")]
    pub wait: Option<f64>,
    /// Do not wait: if the desktop is busy, exit 75 at once.
    #[arg(long)]
    pub no_wait: bool,
    /// Heartbeat TTL in seconds: if this process freezes for longer, it loses the desktop.
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<f64>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// (internal) Run the command for run RUN_ID, which the host made for a schedule entry,
    /// with the token in $BATON_ADOPT_TOKEN, instead of submitting a run.
    #[arg(long, hide = true, value_name = "RUN_ID", conflicts_with_all = ["desktop", "resources", "wait", "no_wait", "ttl"])]
    pub adopt: Option<i64>,
}

const RUN_AFTER_HELP: &str = "\
The command gets BATON_URL, BATON_RUN_ID, BATON_RUN_TOKEN, BATON_LEASES (each resource it
holds with its token: `browser:work=2 desktop=1`) and, when it holds the desktop,
BATON_LEASE_TOKEN in its environment; with --display private, DISPLAY and BATON_DISPLAY name
its own display. With --resource it starts once it holds every resource
it names (and the desktop with --desktop), all at once; it waits holding none of them.

Exit codes: the command's own; 69 no Baton host (or it went away: the command is ended);
75 gave up waiting (--wait, --no-wait) or lost the desktop; 130 cancelled by the user (the
command got SIGTERM, then SIGKILL after 5 s).

Example:
  baton run --desktop --title 'log in to the bank' -- ./login.sh";

const INPUT_AFTER_HELP: &str = "\
Actions (one after another make one batch):
  move X Y | move --rel DX DY     the pointer, to or by
  click [left|right|middle] [--double]
  down [BUTTON] | up [BUTTON]     press or let go a button
  type TEXT                       type text
  key COMBO                       a key combination: ctrl+l, Return, alt+Tab, ctrl+shift+t
  scroll DX DY                    wheel steps; positive DY scrolls down
  wait MS                         let the application catch up (at most 5000)
Read-only, on their own: pointer, screen.

Inside 'baton run --desktop', the run's identity and lease token come from the environment.
Refused (the run does not hold the desktop, its token is stale, it was cancelled, the person at
the computer is using it): exit 4 with the reason.

Example:
  baton input move 640 360 click type 'hello world' key Return";

const MCP_AFTER_HELP: &str = "\
Tools: desktop_status, desktop_acquire, desktop_wait, desktop_release, desktop_input, run_amend,
run_finish, cancel_targets, run_cancel.

Claude Code:  claude mcp add --scope user baton -- baton mcp
Codex:        codex mcp add baton -- baton mcp
Gate another desktop server:
              claude mcp add --scope user playwright -- baton mcp --proxy -- npx @playwright/mcp@latest";

const HOOK_AFTER_HELP: &str = "\
In ~/.claude/settings.json (the matcher names the desktop tools to guard):
  {\"hooks\": {\"PreToolUse\": [{\"matcher\": \"mcp__desktop__.*\",
     \"hooks\": [{\"type\": \"command\", \"command\": \"baton hook claude-code\"}]}]}}

It answers within a second: nothing (the tool runs) when this Claude Code session holds the
desktop through 'baton mcp', else a refusal with the honest reason (queued behind whom, or
acquire it first).";

/// A positive, finite number of seconds, from the flag `flag`.
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
    baton_core::lease::ttl_from_secs(value).map_err(|_| {
        Failure::new(
            exit::USAGE,
            format!(
                "{flag} takes between {} and {} seconds, not {value}",
                MIN_TTL.as_secs_f64(),
                MAX_TTL.as_secs()
            ),
        )
    })
}
