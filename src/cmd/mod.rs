//! One file per subcommand.
pub mod agent_files;
pub mod codex;
pub mod doctor;
pub mod emit;
pub mod flush;
pub mod install;
pub mod log;
pub mod run;
pub mod uninstall;

use crate::agent::Agent;
use crate::claude::settings::Scope;
use crate::cli::{AgentArg, ScopeArgs};
use crate::env::Env;
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
/// `all`: to install, every agent found on this machine (said on stderr); to uninstall,
/// every agent. With `--local`, `all` keeps only the agents that have such settings.
pub fn agents(named: &[AgentArg], env: &Env, scope: Scope, verb: &str) -> Result<Vec<Agent>> {
    let mut out: Vec<Agent> = Vec::new();
    let mut add = |a: Agent| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for arg in named {
        match arg {
            AgentArg::Claude => add(Agent::Claude),
            AgentArg::Codex => add(Agent::Codex),
            AgentArg::Gemini => add(Agent::Gemini),
            AgentArg::Copilot => add(Agent::Copilot),
            AgentArg::All if verb == "install" => {
                let found = agent_files::found(env);
                if found.is_empty() {
                    return Err(Error::new(
                        "found none of Claude Code, Codex CLI, Gemini CLI or Copilot CLI here (no \
                         ~/.claude, ~/.codex, ~/.gemini or ~/.copilot, and none of claude, codex, \
                         gemini, copilot on PATH): name one with --agent",
                    ));
                }
                let list: Vec<String> = found
                    .iter()
                    .map(|(a, seen)| format!("{} ({seen})", a.display_name()))
                    .collect();
                eprintln!("Found {}.", list.join(", "));
                for (a, _) in found {
                    add(a);
                }
            }
            AgentArg::All => Agent::ALL.into_iter().for_each(&mut add),
        }
    }
    if out.is_empty() {
        out.push(Agent::Claude);
    }
    if scope == Scope::Local && named.contains(&AgentArg::All) {
        let skipped: Vec<&str> = out
            .iter()
            .filter(|a| **a != Agent::Claude)
            .map(|a| a.display_name())
            .collect();
        if !skipped.is_empty() {
            eprintln!(
                "--local: only Claude Code has personal per-repository settings; skipped {}.",
                skipped.join(", ")
            );
        }
        out.retain(|a| *a == Agent::Claude);
    }
    Ok(out)
}
