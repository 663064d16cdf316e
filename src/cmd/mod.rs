//! One file per subcommand.
pub mod codex;
pub mod doctor;
pub mod emit;
pub mod flush;
pub mod install;
pub mod log;
pub mod run;
pub mod uninstall;

use crate::claude::settings::Scope;
use crate::cli::ScopeArgs;
use crate::error::{Error, Result};

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
            "--repo    this repository's .claude/settings.json (shared with the team)",
            "--local   this repository's .claude/settings.local.json (only you)",
        ];
        return Ok([Scope::Global, Scope::Repo, Scope::Local]
            [crate::term::select(&format!("Where should telemhq {verb}?"), &items)?]);
    }
    Err(Error::usage(format!(
        "say where to {verb}: --global (your user settings), --repo (this repository's settings) or --local"
    )))
}

/// The agents named with `--agent` (Claude Code when none), each once, in order.
pub fn agents(named: &[crate::agent::Agent]) -> Vec<crate::agent::Agent> {
    let mut out: Vec<crate::agent::Agent> = Vec::new();
    for a in named {
        if !out.contains(a) {
            out.push(*a);
        }
    }
    if out.is_empty() {
        out.push(crate::agent::Agent::Claude);
    }
    out
}
