//! Gemini CLI and Copilot CLI: their files parse, telemhq's hooks are there, nothing
//! switches them off, and their command reaches telemhq.

use super::super::facts::Facts;
use super::super::{AGENTS, Report};
use crate::env::Env;

pub(super) fn check_agent_files(facts: &Facts, env: &Env, report: &mut Report) {
    for file in &facts.agent_files {
        let shown = env.show(&file.path);
        let name = file.agent.display_name();
        let id = format!(
            "{}.{}",
            file.agent.name(),
            file.flag.trim_start_matches('-')
        );
        let fix = format!(
            "telemhq install --agent {} {}",
            file.agent.name(),
            file.flag
        );
        match &file.hooks {
            Err(why) => report.fail(
                AGENTS,
                id,
                format!("{shown} cannot be read as {name}'s file: {why}"),
                format!("fix {shown}, then {fix}"),
            ),
            Ok(installed) if installed.is_empty() => {}
            Ok(installed) => {
                let events = installed.join(", ");
                match (&file.not_run, &file.reached) {
                    (Some((why, fix)), _) => report.fail(
                        AGENTS,
                        id,
                        format!("{shown}: telemhq hooks for {events}, but {why}"),
                        fix.clone(),
                    ),
                    (None, Some((version, _))) => report.ok(
                        AGENTS,
                        id,
                        format!("{shown}: telemhq hooks for {events} in {name}; their command reaches telemhq {version}"),
                    ),
                    (None, None) => report.fail(
                        AGENTS,
                        id,
                        format!(
                            "{shown}: telemhq hooks for {events} in {name}, but their command does not reach telemhq (`sh -c`, PATH=/usr/bin:/bin)"
                        ),
                        fix,
                    ),
                }
            }
        }
    }
}
