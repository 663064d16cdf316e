//! Every command and flag, in one place. What names agents is made from the list of
//! agents (`agents::ALL`), so that a new agent shows up everywhere by being listed.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::agents::{self, Agent, Scope};

fn about() -> String {
    format!(
        "Metadata-only TelemHQ pings for the turns and tool calls of {}",
        agents::display_names()
    )
}

/// `--agent` for install and uninstall: an agent's id, or `all`.
fn agent_or_all() -> PossibleValuesParser {
    let mut values: Vec<PossibleValue> = agents::ALL
        .iter()
        .map(|a| PossibleValue::new(a.id()).help(a.display_name()))
        .collect();
    values.push(PossibleValue::new("all").help("every agent found on this machine"));
    PossibleValuesParser::new(values)
}

/// `--agent` for emit: the agent whose hook runs.
fn one_agent() -> impl TypedValueParser<Value = &'static dyn Agent> {
    PossibleValuesParser::new(agents::ids().collect::<Vec<_>>())
        .map(|id| agents::by_id(&id).expect("a listed agent"))
}

/// Each agent's file per scope, for `install --help`.
fn files_help() -> String {
    let mut out = String::from("Files, per agent and scope:\n");
    for agent in agents::ALL {
        out.push_str(&format!(
            "  {} (--agent {}):\n",
            agent.display_name(),
            agent.id()
        ));
        out.push_str(&format!("    --global  {}\n", agent.global_file_help()));
        for scope in [Scope::Repo, Scope::Local] {
            if let Some(file) = agent.repo_file(scope) {
                out.push_str(&format!("    {:<9} <repository>/{file}\n", scope.flag()));
            }
        }
    }
    out
}

fn install_about() -> String {
    format!(
        "Add telemhq's hooks to the settings of {} and set up the private hooks folder",
        agents::display_names()
    )
}

fn uninstall_about() -> String {
    format!(
        "Remove exactly telemhq's hooks from the settings of {}",
        agents::display_names()
    )
}

fn emit_about() -> String {
    format!(
        "The hook runtime: {} run it with the event JSON on stdin",
        agents::display_names()
    )
}

/// The longest wait for delivery a command takes (a day): a larger number is refused
/// before anything runs.
const MAX_WAIT: u64 = 24 * 3600;

#[derive(Debug, Parser)]
#[command(name = "telemhq", version, about = about())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = install_about(), after_help = files_help())]
    Install(InstallArgs),
    #[command(about = uninstall_about(), after_help = files_help())]
    Uninstall(UninstallArgs),
    #[command(about = emit_about())]
    Emit(EmitArgs),
    /// Deliver queued events now and report what happened.
    Flush(FlushArgs),
    /// Run a command (a scheduled job, a CI step), then deliver its pings and one run ping.
    Run(RunArgs),
    /// List recent events: the exact JSON that was or will be sent, and its state.
    Log(LogArgs),
    /// Check the whole setup and say how to fix what is wrong.
    Doctor(DoctorArgs),
    /// Show the price table and how a model is priced; set your own prices.
    Prices(PricesArgs),
    /// Read your agents' history on this machine into the local store (every past turn).
    Import(ImportArgs),
    /// Usage and cost from the local store, by day, week, month, session, project, model
    /// or agent.
    Report(ReportArgs),
    /// Spending limits per day, week or month (for every agent or one, every project or
    /// one): what is spent and left, from the local store.
    Budget(BudgetArgs),
    /// Claude Code's status line: model, the session's cost, today's cost, quota and the
    /// tightest budget, one line (set it up with `install --statusline`).
    Statusline,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), for `man`.
    Man,
    /// Internal: the detached background sender that emit starts.
    #[command(name = "__send", hide = true)]
    Send,
}

#[derive(Debug, Args)]
pub struct BudgetArgs {
    #[command(subcommand)]
    pub action: Option<BudgetAction>,
    /// One JSON document: each budget's period, limit, spent, left, exceeded.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BudgetAction {
    /// Set a limit (US dollars) for a day, a week (from Monday) or a month; a second one
    /// for the same period, agent and project replaces it.
    Set(BudgetSetArgs),
    /// Remove the limit of a period (and agent and project).
    Unset(BudgetPlaceArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct BudgetPeriodArgs {
    /// A limit per day.
    #[arg(long, value_name = "USD", num_args = 0..=1, default_missing_value = "")]
    pub daily: Option<String>,
    /// A limit per week (from Monday).
    #[arg(long, value_name = "USD", num_args = 0..=1, default_missing_value = "")]
    pub weekly: Option<String>,
    /// A limit per month.
    #[arg(long, value_name = "USD", num_args = 0..=1, default_missing_value = "")]
    pub monthly: Option<String>,
}

#[derive(Debug, Args)]
pub struct BudgetSetArgs {
    #[command(flatten)]
    pub period: BudgetPeriodArgs,
    /// Only this agent's turns.
    #[arg(long, value_name = "AGENT", value_parser = PossibleValuesParser::new(agents::ids().collect::<Vec<_>>()))]
    pub agent: Option<String>,
    /// Only this project's turns (its repository's folder name).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct BudgetPlaceArgs {
    #[command(flatten)]
    pub period: BudgetPeriodArgs,
    /// The agent the budget is for.
    #[arg(long, value_name = "AGENT", value_parser = PossibleValuesParser::new(agents::ids().collect::<Vec<_>>()))]
    pub agent: Option<String>,
    /// The project the budget is for.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone, Copy)]
#[group(required = false, multiple = false)]
pub struct ScopeArgs {
    /// Each agent's user settings (every project; the files are listed below).
    #[arg(long)]
    pub global: bool,
    /// This git repository's shared settings (committed, for the team).
    #[arg(long)]
    pub repo: bool,
    /// Your personal settings in this repository (not committed; Claude Code only).
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The agent to install into (claude when not given), or all (every one found on this
    /// machine); may be given more than once.
    #[arg(long, value_name = "AGENT", value_parser = agent_or_all())]
    pub agent: Vec<String>,
    /// Also ping after tool calls (Claude Code: Bash, Edit, MultiEdit, Write and failed
    /// calls; the other agents: every tool call).
    #[arg(long, conflicts_with = "no_tool_activity")]
    pub tool_activity: bool,
    /// Remove the tool-activity hooks.
    #[arg(long)]
    pub no_tool_activity: bool,
    /// The TelemHQ ping URL (else TELEMHQ_PING_URL, else asked for on a terminal).
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<String>,
    /// Also export every event to this OpenTelemetry Collector (its OTLP/HTTP base URL).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// A header the collector wants (KEY=VALUE; a secret: kept private, never printed).
    #[arg(long, value_name = "KEY=VALUE", requires = "otlp_endpoint")]
    pub otlp_header: Vec<String>,
    /// A resource attribute of your own on every export (KEY=VALUE: team, cost centre).
    #[arg(long, value_name = "KEY=VALUE", requires = "otlp_endpoint")]
    pub otlp_resource_attribute: Vec<String>,
    /// Stop exporting to the OpenTelemetry Collector.
    #[arg(long, conflicts_with = "otlp_endpoint")]
    pub no_otlp: bool,
    /// With a ping URL added: keep the events recorded meanwhile without a tracker on this
    /// machine, rather than send them to it (asked on a terminal; sent by default).
    #[arg(long)]
    pub keep_local: bool,
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
    /// The agent to uninstall from (claude when not given), or all; may be given more than
    /// once.
    #[arg(long, value_name = "AGENT", value_parser = agent_or_all())]
    pub agent: Vec<String>,
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

impl EmitArgs {
    /// The arguments of `telemhq emit` read without clap, for the hook's hot path (clap
    /// builds every command's definition first). Only the forms hook commands use: None
    /// for anything else, which clap then reads and explains.
    pub fn from_hook_args(args: &[std::ffi::OsString]) -> Option<EmitArgs> {
        let mut out = EmitArgs {
            agent: crate::agents::by_id("claude")?,
            event: None,
            print: false,
        };
        let mut rest = args.iter().map(|a| a.to_str());
        while let Some(arg) = rest.next() {
            match arg? {
                "--agent" => out.agent = crate::agents::by_id(rest.next()??)?,
                "--event" => out.event = Some(rest.next()??.to_string()),
                "--print" => out.print = true,
                a => {
                    let (flag, value) = a.split_once('=')?;
                    match flag {
                        "--agent" => out.agent = crate::agents::by_id(value)?,
                        "--event" => out.event = Some(value.to_string()),
                        _ => return None,
                    }
                }
            }
        }
        Some(out)
    }
}

#[derive(Debug, Args)]
pub struct EmitArgs {
    /// The agent that runs this hook (its hook command says so).
    #[arg(long, value_name = "AGENT", default_value = "claude", value_parser = one_agent())]
    pub agent: &'static dyn Agent,
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
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "60",
          value_parser = clap::value_parser!(u64).range(..=MAX_WAIT))]
    pub wait: Option<u64>,
    /// Print one JSON object: delivered, failed (each event's id and why), pending,
    /// busy (a background sender was delivering), the last error.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tracker for this run's ping (and its hooks' pings), else TELEMHQ_PING_URL, else
    /// the tracker of this folder.
    #[arg(long, value_name = "URL")]
    pub ping_url: Option<String>,
    /// After the command: how long to wait for every ping to be delivered.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(..=MAX_WAIT))]
    pub flush_timeout: u64,
    /// Exit 3 (when the command succeeded) if the run's turns cost more than USD, so that
    /// a scheduled job or a CI step stops on it.
    #[arg(long, value_name = "USD", value_parser = usd)]
    pub max_cost: Option<f64>,
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
    /// One JSON object per line (the event's state, tracker and payload).
    #[arg(long, conflicts_with = "payload")]
    pub json: bool,
    /// Each event with the exact JSON that was or will be sent.
    #[arg(long)]
    pub payload: bool,
    /// Only this agent's events.
    #[arg(long, value_name = "AGENT", value_parser = PossibleValuesParser::new(agents::ids().collect::<Vec<_>>()))]
    pub agent: Option<String>,
    /// Only events in this state.
    #[arg(long, value_name = "STATE", value_parser = ["pending", "delivered", "failed", "local"])]
    pub state: Option<String>,
    /// Only events for trackers whose (masked) URL holds this text.
    #[arg(long, value_name = "TEXT")]
    pub tracker: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Only this agent's history (may be given more than once).
    #[arg(long, value_name = "AGENT", value_parser = PossibleValuesParser::new(agents::ids().collect::<Vec<_>>()))]
    pub agent: Vec<String>,
    /// Only turns from this day on (YYYY-MM-DD, or 0d for today, 7d for seven days ago).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Also send the imported turns to your trackers (marked `backfill`), after asking.
    #[arg(long)]
    pub send: bool,
    /// With --send: do not ask.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// How `report` groups turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grouping {
    Daily,
    Weekly,
    Monthly,
    Session,
    Project,
    Model,
    Agent,
    // The agents' quota windows: the latest seen, and each day's highest.
    Quota,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How to group the turns.
    #[arg(value_enum, default_value = "daily")]
    pub by: Grouping,
    /// From this day on: YYYY-MM-DD, or that many days, weeks or months ago (0d: today,
    /// 1d: yesterday, 2w, 3m), in the report's time zone.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Up to and with this day (what --since takes: YYYY-MM-DD, 1d, 2w, 3m).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this agent's turns.
    #[arg(long, value_name = "AGENT", value_parser = PossibleValuesParser::new(agents::ids().collect::<Vec<_>>()))]
    pub agent: Option<String>,
    /// Only this project's turns (its repository's folder name, as the rows show it).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// The time zone of days, weeks and months (an IANA name, like Europe/Berlin;
    /// default: this machine's).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// One JSON document.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV, one row per group, then the totals.
    #[arg(long)]
    pub csv: bool,
    /// Each model's part under each row (in --json: a `models` list per row).
    #[arg(long)]
    pub breakdown: bool,
    /// No bar chart beside the rows (it is drawn only on a terminal).
    #[arg(long)]
    pub no_chart: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PricesArgs {
    #[command(subcommand)]
    pub action: Option<PricesAction>,
    /// A model name, as an agent records it: how it is matched and priced.
    pub model: Option<String>,
    /// List the table's models (those whose name holds PATTERN, in any case) with their
    /// input and output prices.
    #[arg(long, value_name = "PATTERN", num_args = 0..=1, default_missing_value = "", conflicts_with = "model")]
    pub list: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PricesAction {
    /// Price a model yourself (US dollars per million tokens); your prices come first.
    Set(PriceSetArgs),
    /// Forget your own prices of a model.
    Unset {
        /// The model, as given to `prices set`.
        model: String,
    },
}

#[derive(Debug, Args)]
pub struct PriceSetArgs {
    /// The model, as the agent records it (a date suffix or provider prefix may be left off).
    pub model: String,
    /// Input tokens (not cached), per million.
    #[arg(long, value_name = "USD")]
    pub input: f64,
    /// Output tokens (reasoning included), per million.
    #[arg(long, value_name = "USD")]
    pub output: f64,
    /// Cache reads, per million (else the input price).
    #[arg(long, value_name = "USD")]
    pub cache_read: Option<f64>,
    /// Cache writes, per million (else the input price).
    #[arg(long, value_name = "USD")]
    pub cache_write: Option<f64>,
    /// One-hour cache writes, per million (else twice the input price).
    #[arg(long, value_name = "USD")]
    pub cache_write_1h: Option<f64>,
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

/// A number of US dollars, 0 or more.
fn usd(text: &str) -> Result<f64, String> {
    text.trim()
        .trim_start_matches('$')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{text:?} is not a number of US dollars (like 2.50)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str]) -> Option<EmitArgs> {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        EmitArgs::from_hook_args(&args)
    }

    /// The hook's fast path reads what clap reads, for every form a hook command uses.
    #[test]
    fn emit_arguments_read_without_clap_agree_with_clap() {
        for args in [
            &[][..],
            &["--agent", "codex"],
            &["--agent=gemini"],
            &["--agent", "copilot", "--event", "agentStop"],
            &["--event=agentStop", "--agent", "copilot", "--print"],
            &["--print"],
        ] {
            let fast = hook(args).unwrap_or_else(|| panic!("{args:?} falls back to clap"));
            let mut all = vec!["telemhq", "emit"];
            all.extend_from_slice(args);
            let Command::Emit(slow) = Cli::try_parse_from(all).unwrap().command else {
                panic!("not emit");
            };
            assert_eq!(fast.agent.id(), slow.agent.id(), "{args:?}");
            assert_eq!(fast.event, slow.event, "{args:?}");
            assert_eq!(fast.print, slow.print, "{args:?}");
        }
    }

    /// Anything else is left to clap, which explains it.
    #[test]
    fn other_emit_arguments_go_to_clap() {
        for args in [
            &["--agent"][..],
            &["--agent", "nobody"],
            &["--help"],
            &["--bogus"],
            &["extra"],
            &["--event"],
        ] {
            assert!(hook(args).is_none(), "{args:?}");
        }
    }
}
