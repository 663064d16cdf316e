//! Codex: its config parses, telemhq's hooks are there and trusted (Codex runs no
//! untrusted hook), and their command reaches telemhq.

use super::super::facts::Facts;
use super::super::{CODEX, Report};
use crate::env::Env;

pub(super) fn check_codex(facts: &Facts, env: &Env, report: &mut Report) {
    for config in &facts.codex {
        let shown = env.show(&config.path);
        let id = format!("codex.{}", config.flag.trim_start_matches('-'));
        let fix = format!("telemhq install --agent codex {}", config.flag);
        match &config.hooks {
            Err(why) => report.fail(
                CODEX,
                id,
                format!("{shown} is not valid TOML, so Codex cannot read it: {why}"),
                format!("fix {shown}, then {fix}"),
            ),
            Ok((installed, _)) if installed.is_empty() => {}
            Ok((installed, untrusted)) if untrusted.is_empty() => match &config.reached {
                Some((version, _)) => report.ok(
                    CODEX,
                    id,
                    format!(
                        "{shown}: telemhq hooks for {}, trusted; their command reaches telemhq {version}",
                        installed.join(", ")
                    ),
                ),
                None => report.fail(
                    CODEX,
                    id,
                    format!(
                        "{shown}: telemhq hooks for {}, trusted, but their command does not reach telemhq (`sh -c`, PATH=/usr/bin:/bin)",
                        installed.join(", ")
                    ),
                    fix,
                ),
            },
            Ok((_, untrusted)) => report.fail(
                CODEX,
                id,
                format!(
                    "{shown}: telemhq's {} hook is not trusted (changed by hand, or moved): Codex does not run it",
                    untrusted.join(", ")
                ),
                fix,
            ),
        }
    }
}
