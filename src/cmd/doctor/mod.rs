//! `telemhq doctor`: every reason pings would not arrive, each with its fix, for every
//! agent's user. Facts first (`facts`: each agent's hook file per scope, folders, config,
//! queue, the command), then independent checks (`checks`), then one rendering
//! (`report`): a checklist for people or JSON for scripts. It only reads; `--ping` sends
//! one test ping and nothing else; the commands it runs are telemhq's own hook commands
//! and `claude --version`, each bounded, all within one time budget.

mod checks;
mod facts;
mod report;

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::env::Env;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Information: nothing to judge.
    Info,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: String,
    pub group: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
    /// A ping was seen to arrive: delivered from the queue, or `--ping` answered 2xx.
    verified_delivery: Option<String>,
    /// No tracker anywhere: the events stay on this machine (used without an account).
    local_only: bool,
}

impl Report {
    fn add(
        &mut self,
        group: &'static str,
        id: impl Into<String>,
        status: Status,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id: id.into(),
            group,
            status,
            message: message.into(),
            fix,
        });
    }
    fn ok(&mut self, group: &'static str, id: impl Into<String>, message: impl Into<String>) {
        self.add(group, id, Status::Ok, message, None);
    }
    fn info(&mut self, group: &'static str, id: impl Into<String>, message: impl Into<String>) {
        self.add(group, id, Status::Info, message, None);
    }
    fn warn(
        &mut self,
        group: &'static str,
        id: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(group, id, Status::Warn, message, Some(fix.into()));
    }
    fn fail(
        &mut self,
        group: &'static str,
        id: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(group, id, Status::Fail, message, Some(fix.into()));
    }
}

const FILES: &str = "Agents' hook files";
const COMMAND: &str = "Hook commands";
const PRIVACY: &str = "Privacy and permissions";
const DELIVERY: &str = "Delivery";
const AGENTS: &str = "Agents on this machine";
const PING: &str = "Test ping";
const DOCTOR: &str = "doctor";

pub fn run(args: &DoctorArgs, env: &Env) -> Result<i32> {
    let facts = facts::gather(env, args, env.layout()?);
    let report = checks::all(&facts, args, env);
    let failed = report.checks.iter().any(|c| c.status == Status::Fail);
    if args.json {
        crate::term::print_line(
            &serde_json::to_string_pretty(&report::to_json(&report)).expect("serialises"),
        );
    } else {
        crate::term::print(&report::render_human(
            &report,
            crate::term::colour_stdout(),
            crate::table::terminal_width(),
        ));
    }
    Ok(if failed { 1 } else { 0 })
}
