//! One file per subcommand; only commands here.
pub mod budget;
pub mod completions;
pub mod doctor;
pub mod emit;
pub mod flush;
pub mod import;
pub mod install;
pub mod log;
pub mod prices;
pub mod report;
pub mod run;
pub mod statusline;
pub mod uninstall;

use crate::agents::{self, Agent, Scope};
use crate::cli::ScopeArgs;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::transaction::Target;

/// The scope from the flags; asked for on a terminal, a usage error elsewhere.
pub fn pick_scope(args: ScopeArgs, verb: &str) -> Result<Scope> {
    if args.global {
        return Ok(Scope::Global);
    }
    if args.repo {
        return Ok(Scope::Repo);
    }
    if args.local {
        return Ok(Scope::Local);
    }
    if crate::term::interactive() {
        let items = [
            "--global  your user settings (every project)",
            "--repo    this repository's settings (shared with the team)",
            "--local   your personal settings in this repository (Claude Code only)",
        ];
        return Ok(
            Scope::ALL[crate::term::select(&format!("Where should telemhq {verb}?"), &items)?]
        );
    }
    Err(Error::usage(format!(
        "say where to {verb}: --global (your user settings), --repo (this repository's settings) or --local"
    )))
}

/// The targets named with `--agent` (Claude Code when none), each once, in order, in
/// one scope. `all`: to install, every agent found on this machine (said on stderr); to
/// uninstall, every agent. With `all`, agents without the scope are skipped (said);
/// named one by one, such an agent is a usage error.
pub fn targets(named: &[String], env: &Env, scope: Scope, installing: bool) -> Result<Vec<Target>> {
    let mut out: Vec<&'static dyn Agent> = Vec::new();
    let mut add = |a: &'static dyn Agent| {
        if !out.iter().any(|o| o.id() == a.id()) {
            out.push(a);
        }
    };
    let all = named.iter().any(|n| n == "all");
    for name in named {
        if name != "all" {
            add(agents::by_id(name).expect("clap checked the value"));
        } else if installing {
            let found: Vec<(&'static dyn Agent, String)> = agents::ALL
                .iter()
                .filter_map(|a| a.found(env).map(|seen| (*a, seen)))
                .collect();
            if found.is_empty() {
                let folders: Vec<String> = agents::ALL
                    .iter()
                    .map(|a| format!("{} ({})", a.display_name(), a.program()))
                    .collect();
                return Err(Error::new(format!(
                    "found none of {} here (neither their folders nor their commands on PATH): \
                     name one with --agent",
                    folders.join(", ")
                )));
            }
            let list: Vec<String> = found
                .iter()
                .map(|(a, seen)| format!("{} ({seen})", a.display_name()))
                .collect();
            eprintln!("Found {}.", list.join(", "));
            found.into_iter().for_each(|(a, _)| add(a));
        } else {
            agents::ALL.iter().copied().for_each(&mut add);
        }
    }
    if out.is_empty() {
        out.push(agents::ALL[0]);
    }
    if all {
        let skipped: Vec<&str> = out
            .iter()
            .filter(|a| a.hook_file(env, scope).is_none())
            .map(|a| a.display_name())
            .collect();
        if !skipped.is_empty() {
            eprintln!(
                "{}: skipped {}, which {} no such settings.",
                scope.flag(),
                skipped.join(", "),
                if skipped.len() == 1 { "has" } else { "have" }
            );
        }
        out.retain(|a| a.hook_file(env, scope).is_some());
    }
    out.into_iter()
        .map(|agent| {
            let target = Target { agent, scope };
            crate::transaction::hook_path(target, env).map(|_| target)
        })
        .collect()
}
