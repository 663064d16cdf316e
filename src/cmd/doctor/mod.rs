//! `telemhq doctor`: every reason pings would not arrive, each with its fix.
//! Facts first (`facts`: settings layers, folders, config, queue, the command), then
//! independent checks (`checks`), then one rendering (`report`): a checklist for people
//! or JSON for scripts. It only reads; `--ping` sends one test ping and nothing else,
//! and the only command it runs is telemhq's own hook command, bounded in time and output.

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

const SETTINGS: &str = "Settings";
const SWITCHES: &str = "Hooks switched on";
const COMMAND: &str = "Hook command";
const PRIVACY: &str = "Privacy and permissions";
const DELIVERY: &str = "Delivery";
const CLAUDE: &str = "Claude Code";
const CODEX: &str = "Codex";
const AGENTS: &str = "Gemini CLI and Copilot CLI";
const PING: &str = "Test ping";

pub fn run(args: &DoctorArgs, env: &Env) -> Result<i32> {
    let facts = facts::gather(env, args, env.layout()?);
    let report = checks::all(&facts, args, env);
    let failed = report.checks.iter().any(|c| c.status == Status::Fail);
    if args.json {
        crate::term::print_line(
            &serde_json::to_string_pretty(&report::to_json(&report)).expect("serialises"),
        );
    } else {
        crate::term::print(&report::render_human(&report, crate::term::colour_stdout()));
    }
    Ok(if failed { 1 } else { 0 })
}
