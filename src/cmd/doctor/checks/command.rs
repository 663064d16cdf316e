//! Hook commands: none besides telemhq's own runs telemhq for the same event (each
//! would count twice), no earlier release's command beside today's, and not the old
//! Python hook.

use std::path::Path;

use super::super::facts::Facts;
use super::super::{COMMAND, Report};
use super::files::{file_id, install_command};
use crate::env::Env;
use crate::hookfile::looks_like_telemhq;

pub(super) fn check_commands(facts: &Facts, env: &Env, report: &mut Report) {
    // An event some hand-written command runs telemhq for beside telemhq's own.
    let mut doubled = false;
    for f in &facts.files {
        let format = f.agent.format_for(&f.path);
        let foreign: Vec<_> = f
            .hooks
            .iter()
            .filter(|h| !format.is_own_command(&h.command) && looks_like_telemhq(&h.command))
            .collect();
        if foreign.is_empty() {
            continue;
        }
        // The agent reads all its files for this folder together: telemhq's own command
        // for the same event in any of them runs beside this one.
        let own_events: Vec<&str> = facts
            .files
            .iter()
            .filter(|g| g.agent.id() == f.agent.id())
            .flat_map(|g| {
                g.hooks
                    .iter()
                    .filter(|h| format.is_own_command(&h.command))
                    .map(|h| h.event.as_str())
            })
            .collect();
        let twice: Vec<&str> = foreign
            .iter()
            .map(|h| h.event.as_str())
            .filter(|e| own_events.contains(e))
            .collect();
        let events: Vec<&str> = foreign.iter().map(|h| h.event.as_str()).collect();
        let missing: Vec<String> = foreign
            .iter()
            .filter_map(|h| missing_program(&h.command))
            .collect();
        let mut message = format!(
            "{} ({}) runs telemhq for {} with a command telemhq did not write: doctor does not run it, install and uninstall leave it alone",
            f.agent.display_name(),
            env.show(&f.path),
            events.join(", ")
        );
        if !missing.is_empty() {
            message.push_str(&format!(
                "; it names {}, a program that is not there",
                missing.join(", ")
            ));
        }
        let id = format!("command.foreign.{}", file_id(f));
        let fix = format!("remove that entry, then {}", install_command(f));
        if twice.is_empty() {
            message.push_str("; beside telemhq's own entry each event would ping twice");
            report.warn(COMMAND, id, message, fix);
        } else {
            message.push_str(&format!(
                "; telemhq's own hook runs for {} too, so each of those events is counted twice",
                twice.join(", ")
            ));
            report.fail(COMMAND, id, message, fix);
            doubled = true;
        }
    }
    doubled |= check_seed_hook(facts, env, report);
    check_one_command(facts, env, report, doubled);
}

/// The program of a command that runs telemhq, when it is an absolute path that does
/// not exist (nothing is run to find out).
fn missing_program(command: &str) -> Option<String> {
    command
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .find(|w| w.rsplit('/').next() == Some("telemhq"))
        .filter(|w| w.starts_with('/') && !w.contains('$') && !Path::new(w).exists())
        .map(crate::term::safe)
}

/// The Python hook telemhq replaces, still installed next to it, pings every event a
/// second time (and sends a failed command's stderr).
fn check_seed_hook(facts: &Facts, env: &Env, report: &mut Report) -> bool {
    let with_seed: Vec<String> = facts
        .files
        .iter()
        .filter(|f| {
            f.hooks
                .iter()
                .any(|h| h.command.contains("telemhq_ping.py"))
        })
        .map(|f| env.show(&f.path))
        .collect();
    if with_seed.is_empty() {
        return false;
    }
    report.warn(
        COMMAND,
        "command.seed_hook",
        format!("the Python hook telemhq_ping.py is still installed in {}: events ping twice, and it sends error text", with_seed.join(", ")),
        "remove the hook entries that run telemhq_ping.py from those files",
    );
    true
}

/// An agent runs identical commands once: telemhq's command of an earlier release in one
/// file beside today's in another runs twice for every event.
fn check_one_command(facts: &Facts, env: &Env, report: &mut Report, doubled: bool) {
    let with_own: Vec<_> = facts
        .files
        .iter()
        .filter(|f| !f.own_commands().is_empty())
        .collect();
    if with_own.is_empty() {
        return;
    }
    let older: Vec<_> = with_own
        .iter()
        .filter(|f| {
            let format = f.agent.format_for(&f.path);
            f.own_commands()
                .iter()
                .any(|c| !format.is_current_command(c))
        })
        .collect();
    if older.is_empty() && doubled {
        // (Said above: another command runs telemhq for some events too.)
        report.info(
            COMMAND,
            "command.duplicates",
            "telemhq's own command is one string per agent in every file",
        );
    } else if older.is_empty() {
        report.ok(
            COMMAND,
            "command.duplicates",
            "one command string per agent in every file: each event pings once",
        );
        return;
    }
    let has_todays = with_own.iter().any(|f| {
        let format = f.agent.format_for(&f.path);
        f.own_commands()
            .iter()
            .any(|c| format.is_current_command(c))
    });
    let twice = if has_todays {
        "; beside today's command in another file, each event pings twice"
    } else {
        ""
    };
    let files: Vec<String> = older.iter().map(|f| env.show(&f.path)).collect();
    let fixes: Vec<String> = older.iter().map(|f| install_command(f)).collect();
    report.warn(
        COMMAND,
        "command.duplicates",
        format!(
            "{} still run telemhq with an earlier release's command, which a headless run \
             can stop before it queues a StopFailure event{twice}",
            files.join(", ")
        ),
        fixes.join("; "),
    );
}
