//! Every command and flag, in one place.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "telemhq",
    version,
    about = "Metadata-only TelemHQ pings for Claude Code turns and tool calls"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add telemhq's hooks to Claude Code's settings and set up the private hooks folder.
    Install(InstallArgs),
    /// Remove exactly telemhq's hooks from Claude Code's settings.
    Uninstall(UninstallArgs),
    /// The hook runtime: Claude Code runs it with the event JSON on stdin.
    Emit(EmitArgs),
    /// Deliver queued events now and report what happened.
    Flush(FlushArgs),
    /// Run a command (a scheduled job, a CI step), then deliver its pings and one run ping.
    Run(RunArgs),
    /// List recent events: the exact JSON that was or will be sent, and its state.
    Log(LogArgs),
    /// Check the whole setup and say how to fix what is wrong.
    Doctor(DoctorArgs),
    /// Internal: the detached background sender that emit starts.
    #[command(name = "__send", hide = true)]
    Send,
}

#[derive(Debug, Args, Clone, Copy)]
#[group(required = false, multiple = false)]
pub struct ScopeArgs {
    /// The user settings: $CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json.
    #[arg(long)]
    pub global: bool,
    /// The project settings: .claude/settings.json at the root of this git repository.
    #[arg(long)]
    pub repo: bool,
    /// Your personal project settings: .claude/settings.local.json (not committed).
    #[arg(long)]
    pub local: bool,
}

/// An agent named on the command line, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentArg {
    Claude,
    Codex,
    Gemini,
    Copilot,
    /// Every supported agent found on this machine.
    All,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The agent to install into: claude (default), codex, gemini, copilot, or all (every
    /// one found on this machine); may be given more than once.
    #[arg(long, value_enum, value_name = "AGENT")]
    pub agent: Vec<AgentArg>,
    /// Also ping after each Bash/Edit/MultiEdit/Write call and each failed tool call.
    #[arg(long, conflicts_with = "no_tool_activity")]
    pub tool_activity: bool,
    /// Remove the tool-activity hooks.
    #[arg(long)]
    pub no_tool_activity: bool,
    /// The TelemHQ ping URL (else TELEMHQ_PING_URL, else asked for on a terminal).
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<String>,
    /// Show what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the change as an RFC 6902 JSON Patch instead of a diff.
    #[arg(long, requires = "dry_run")]
    pub json_patch: bool,
    /// Do not ask before writing.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The agent to uninstall from: claude (default), codex, gemini, copilot, or all; may be
    /// given more than once.
    #[arg(long, value_enum, value_name = "AGENT")]
    pub agent: Vec<AgentArg>,
    /// Show what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the change as an RFC 6902 JSON Patch instead of a diff.
    #[arg(long, requires = "dry_run")]
    pub json_patch: bool,
    /// Do not ask before writing.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct EmitArgs {
    /// The agent that runs this hook (its hook command says so).
    #[arg(long, value_enum, default_value = "claude")]
    pub agent: crate::agent::Agent,
    /// The event, for agents whose payloads do not name it (Copilot CLI's).
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Print the payload that would be sent, without queueing or sending it.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct FlushArgs {
    /// Wait until everything is delivered (at most SECONDS, 60 if not given), waiting for a
    /// running sender too; exit 1 with the number still pending if anything is.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60")]
    pub wait: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tracker for this run's ping (and its hooks' pings), else TELEMHQ_PING_URL, else
    /// the tracker of this folder.
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<String>,
    /// After the command: how long to wait for every ping to be delivered.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub flush_timeout: u64,
    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// How many events to show.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only the user settings.
    #[arg(long, conflicts_with = "repo")]
    pub global: bool,
    /// Check only this repository's settings.
    #[arg(long)]
    pub repo: bool,
    /// Print one JSON document instead of the checklist.
    #[arg(long)]
    pub json: bool,
    /// Send a real test ping and report the answer.
    #[arg(long)]
    pub ping: bool,
}
