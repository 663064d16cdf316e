//! Every agent's hook files: each reads as the agent reads it, telemhq's entries are
//! complete, nothing stops the agent running them, and their command reaches telemhq.
//! One line per file, its id `<agent>.<scope>`.

use super::super::facts::{Facts, HookFile, Link};
use super::super::{FILES, Report};
use crate::agents::Scope;
use crate::cli::DoctorArgs;
use crate::env::Env;
use crate::term;

/// `claude.global`, `codex.repo`, …
pub(super) fn file_id(f: &HookFile) -> String {
    format!(
        "{}.{}",
        f.agent.id(),
        f.scope.flag().trim_start_matches('-')
    )
}

pub(super) fn install_command(f: &HookFile) -> String {
    format!(
        "telemhq install --agent {} {}",
        f.agent.id(),
        f.scope.flag()
    )
}

pub(super) fn check_files(facts: &Facts, env: &Env, report: &mut Report) {
    let mut told: Vec<(String, String)> = Vec::new();
    for f in &facts.files {
        let id = file_id(f);
        let name = f.agent.display_name();
        let shown = env.show(&f.path);
        let install = install_command(f);
        if let Some(problem) = &f.problem {
            let at = match problem.place {
                Some((line, column)) => format!("{}:{line}:{column}", term::path(&f.path)),
                None => shown.clone(),
            };
            let message = format!("{name}: {at}: {}", problem.why);
            let fix = format!(
                "fix the file at {at} (backups of files telemhq changed are in {})",
                term::path(&facts.layout.backups)
            );
            if !problem.agent_reads_it {
                report.fail(FILES, id, message, fix);
                continue;
            }
            report.warn(FILES, format!("settings.{id}"), message, fix);
        }
        if f.events.is_empty() {
            report.info(FILES, id, format!("{name}: {shown} has no telemhq hooks"));
            continue;
        }
        let events = f.events.join(", ");
        if !f.entry_problems.is_empty() {
            let mut problems = f.entry_problems.clone();
            problems.extend(f.blockers.iter().map(|b| b.why.clone()));
            report.fail(
                FILES,
                id,
                format!("{name}: {shown}: {}", problems.join("; ")),
                install,
            );
            continue;
        }
        // A blocker that holds for every file of an agent (a switch in its settings) is
        // said once.
        let fresh: Vec<_> = f
            .blockers
            .iter()
            .filter(|b| !told.contains(&(f.agent.id().to_string(), b.why.clone())))
            .collect();
        // A repository's file whose hooks do not run, while the same agent's global
        // ones (for the same events) do: this repository's events still ping through
        // those, so it is a warning about the repository, not a failure of delivery.
        let covered = f.scope != crate::agents::Scope::Global
            && facts.files.iter().any(|g| {
                g.agent.id() == f.agent.id()
                    && g.scope == crate::agents::Scope::Global
                    && g.blockers.is_empty()
                    && g.entry_problems.is_empty()
                    && f.events.iter().all(|e| g.events.contains(e))
            });
        if !fresh.is_empty() {
            let whys: Vec<&str> = fresh.iter().map(|b| b.why.as_str()).collect();
            let fixes: Vec<&str> = fresh.iter().map(|b| b.fix.as_str()).collect();
            let message = format!(
                "{name}: {shown}: telemhq hooks for {events}, but {}",
                whys.join("; ")
            );
            if covered {
                report.warn(
                    FILES,
                    id,
                    format!("{message} (the global hooks ping for this repository meanwhile)"),
                    fixes.join("; "),
                );
            } else {
                report.fail(FILES, id, message, fixes.join("; "));
            }
            told.extend(
                fresh
                    .iter()
                    .map(|b| (f.agent.id().to_string(), b.why.clone())),
            );
            continue;
        }
        if !f.blockers.is_empty() {
            report.fail(
                FILES,
                id,
                format!(
                    "{name}: {shown}: telemhq hooks for {events}, but they do not run (see above)"
                ),
                f.blockers[0].fix.clone(),
            );
            continue;
        }
        let link = &facts.layout.link;
        match &facts.link {
            Link::Missing => {
                report.fail(
                    FILES,
                    id,
                    format!(
                        "{name}: {shown}: telemhq hooks for {events}, but {} is missing: the hook command has nothing to run",
                        env.show(link)
                    ),
                    install,
                );
                continue;
            }
            Link::Dangling(target) => {
                report.fail(
                    FILES,
                    id,
                    format!(
                        "{name}: {shown}: telemhq hooks for {events}, but {} points at {}, which no longer exists",
                        env.show(link),
                        term::path(target)
                    ),
                    format!("{install} (run the telemhq you want the hooks to use)"),
                );
                continue;
            }
            Link::Present => {}
        }
        match &f.reached {
            Some(Some((version, exe))) => {
                let same = facts
                    .me
                    .as_deref()
                    .is_some_and(|m| std::path::Path::new(exe) == m);
                if same {
                    report.ok(
                        FILES,
                        id,
                        format!(
                            "{name}: {shown}: telemhq hooks for {events}; their command reaches this telemhq ({version})"
                        ),
                    );
                } else {
                    report.warn(
                        FILES,
                        id,
                        format!(
                            "{name}: {shown}: telemhq hooks for {events}; their command reaches telemhq {version} at {}, not this one",
                            term::safe(exe)
                        ),
                        format!("{install} with the telemhq you want the hooks to use"),
                    );
                }
            }
            Some(None) => report.fail(
                FILES,
                id,
                format!(
                    "{name}: {shown}: telemhq hooks for {events}, but their command does not reach telemhq when run as {name} runs it (`sh -c`, PATH=/usr/bin:/bin)"
                ),
                format!("{install} (it installs a command that needs no PATH)"),
            ),
            None => report.warn(
                FILES,
                id,
                format!(
                    "{name}: {shown}: telemhq hooks for {events}; whether their command reaches telemhq was not checked (out of time)"
                ),
                "telemhq doctor again",
            ),
        }
    }
}

/// "Installed" means some agent has telemhq's hooks in a file checked.
pub(super) fn check_installed(facts: &Facts, args: &DoctorArgs, report: &mut Report) {
    if facts.files.iter().any(|f| !f.events.is_empty()) {
        return;
    }
    let flag = if args.repo {
        Scope::Repo
    } else {
        Scope::Global
    }
    .flag();
    let names: Vec<&str> = facts.found.iter().map(|(a, _)| a.id()).collect();
    let fix = match names.as_slice() {
        [] => format!(
            "telemhq install {flag} --agent AGENT (one of {})",
            crate::agents::ids().collect::<Vec<_>>().join(", ")
        ),
        [one] => format!("telemhq install {flag} --agent {one}"),
        _ => format!("telemhq install {flag} --agent all"),
    };
    report.fail(
        FILES,
        "hooks.installed",
        "telemhq is not installed for any agent in the settings checked",
        fix,
    );
}

pub(super) fn check_record(facts: &Facts, report: &mut Report) {
    if let Some((path, e)) = &facts.managed_problem {
        let (line, column) = e.position().unwrap_or((1, 1));
        let message = format!(
            "Claude Code's managed settings {}:{line}:{column}: {}",
            term::path(path),
            crate::agents::claude::settings::describe(e)
        );
        if !matches!(e, crate::jsonfile::ReadError::Io(_)) {
            report.warn(
                FILES,
                "settings.claude.managed",
                message,
                "ask your administrator",
            );
        }
    }
    match &facts.record {
        Ok(()) => report.ok(
            FILES,
            "install_record",
            "telemhq's record of what it installed is readable",
        ),
        Err(e) => report.fail(
            FILES,
            "install_record",
            e.clone(),
            format!(
                "mv {0} {0}.damaged, then telemhq install again",
                term::path(&facts.layout.installs)
            ),
        ),
    }
}
