//! The hook command: telemhq's own, reaching this telemhq; no other command that runs
//! telemhq or the old Python hook beside it (each would ping twice).

use std::path::Path;

use super::super::facts::{self, Facts, Layer, Link};
use super::super::{COMMAND, Report};
use super::scope_flag;
use crate::claude::hooks::{HOOK_COMMAND, TOOL_EVENTS, TURN_EVENTS};
use crate::env::Env;

pub(super) fn check_commands(facts: &Facts, env: &Env, report: &mut Report) {
    for layer in &facts.layers {
        let Some(value) = &layer.value else { continue };
        let foreign = facts::foreign_telemhq_events(value);
        if !foreign.is_empty() {
            let flag = scope_flag(layer.name);
            report.warn(
                COMMAND,
                format!("command.foreign.{}", layer.name.name()),
                format!(
                    "{} settings ({}) run telemhq for {} with a command telemhq did not write: \
                     doctor does not run it, install and uninstall leave it alone, and beside \
                     telemhq's own entry each event would ping twice",
                    layer.name.name(),
                    env.show(&layer.path),
                    foreign.join(", ")
                ),
                format!("remove that entry, then telemhq install {flag}"),
            );
        }
    }
    check_seed_hook(&facts.layers, env, report);
    if facts.probes.is_empty() {
        return;
    }
    check_one_command(&facts.layers, env, report);
    let link = &facts.layout.link;
    for (i, (cmd, reached)) in facts.probes.iter().enumerate() {
        let id = format!("command.runs.{i}");
        match &facts.link {
            Link::Missing => {
                report.fail(
                    COMMAND,
                    format!("command.link.{i}"),
                    format!(
                        "{} is missing: the hook command has nothing to run",
                        env.show(link)
                    ),
                    "telemhq install --global",
                );
                continue;
            }
            Link::Dangling(target) => {
                report.fail(
                    COMMAND,
                    format!("command.link.{i}"),
                    format!(
                        "{} points at {}, which no longer exists",
                        env.show(link),
                        target.display()
                    ),
                    "telemhq install --global (run the telemhq you want the hooks to use)",
                );
                continue;
            }
            Link::Present => {}
        }
        match reached {
            Some((version, exe)) => {
                let same = facts.me.as_deref().is_some_and(|m| Path::new(exe) == m);
                if same {
                    report.ok(COMMAND, id, format!("the hook command runs with `sh -c` and a bare PATH and reaches this telemhq ({version})"));
                } else {
                    report.warn(COMMAND, id, format!("the hook command reaches telemhq {version} at {exe}, not this one"), "telemhq install --global with the telemhq you want the hooks to use");
                }
            }
            None => report.fail(
                COMMAND,
                id,
                format!("the hook command does not reach telemhq when run as Claude Code runs it (`sh -c`, PATH=/usr/bin:/bin): {cmd}"),
                "telemhq install --global (it installs a command that needs no PATH)",
            ),
        }
    }
}

/// The Python hook telemhq replaces, still installed next to it, pings every event a
/// second time (and sends a failed command's stderr).
fn check_seed_hook(layers: &[Layer], env: &Env, report: &mut Report) {
    let with_seed: Vec<String> = layers
        .iter()
        .filter(|l| {
            l.value
                .as_ref()
                .and_then(|v| v.get("hooks"))
                .is_some_and(|h| h.to_string().contains("telemhq_ping.py"))
        })
        .map(|l| env.show(&l.path))
        .collect();
    if with_seed.is_empty() {
        return;
    }
    report.warn(
        COMMAND,
        "command.seed_hook",
        format!("the Python hook telemhq_ping.py is still installed in {}: events ping twice, and it sends error text", with_seed.join(", ")),
        "remove the hook entries that run telemhq_ping.py from those files",
    );
}

/// telemhq's own commands in a layer's hooks (none when Claude Code does not apply it).
fn own_commands(layer: &Layer) -> Vec<String> {
    let Some(value) = &layer.value else {
        return Vec::new();
    };
    TURN_EVENTS
        .iter()
        .chain(TOOL_EVENTS.iter())
        .flat_map(|e| facts::telemhq_entries(value, e))
        .map(|(_, cmd)| cmd)
        .collect()
}

/// Claude Code runs identical commands once: telemhq's command of an earlier release in
/// one layer beside today's in another runs twice for every event.
fn check_one_command(layers: &[Layer], env: &Env, report: &mut Report) {
    let commands: Vec<(&Layer, Vec<String>)> =
        layers.iter().map(|l| (l, own_commands(l))).collect();
    let older: Vec<&Layer> = commands
        .iter()
        .filter(|(_, cmds)| cmds.iter().any(|c| c != HOOK_COMMAND))
        .map(|&(l, _)| l)
        .collect();
    if older.is_empty() {
        report.ok(
            COMMAND,
            "command.duplicates",
            "one command string in every layer: each event pings once",
        );
        return;
    }
    let has_todays = commands
        .iter()
        .any(|(_, cmds)| cmds.iter().any(|c| c == HOOK_COMMAND));
    let twice = if has_todays {
        "; beside today's command in another layer, each event pings twice"
    } else {
        ""
    };
    let files: Vec<String> = older.iter().map(|l| env.show(&l.path)).collect();
    let flags: Vec<String> = older
        .iter()
        .map(|l| format!("telemhq install {}", scope_flag(l.name)))
        .collect();
    report.warn(
        COMMAND,
        "command.duplicates",
        format!(
            "{} still run telemhq with an earlier release's command, which a headless run \
             can stop before it queues a StopFailure event{twice}",
            files.join(", ")
        ),
        flags.join("; "),
    );
}
