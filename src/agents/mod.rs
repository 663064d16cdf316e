//! The coding agents telemhq serves: each one implementation of `Agent`, listed once in
//! `ALL`. Everything that differs between agents is here, behind the trait: who they
//! are (`provider`, `tool`), where their hook files are per scope and in which format,
//! how they are found on a machine, which events end a turn, how a failure is
//! classified, where a turn's usage is read, whether a hook may run twice, and what
//! would stop the agent running telemhq's hooks. `--agent`, `--agent all`, emit, run,
//! install, uninstall and doctor all go through the list; the queue, the sender, the
//! config and the trackers are shared by all agents.

/// The hook link as every hook command names it, quoted for `sh`: the shell expands it
/// when the hook runs, so that a command needs no PATH and holds no one's home folder
/// (telemhq's link is `Layout::link`). One literal, so that every agent's command is
/// built from it at compile time.
#[macro_export]
macro_rules! hook_link {
    () => {
        r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq""#
    };
}

pub mod claude;
pub mod codex;
pub mod copilot;
pub mod cursor;
pub mod droid;
pub mod gemini;
pub mod qwen;

use std::path::{Path, PathBuf};

use crate::env::Env;
use crate::error::{Error, Result};
use crate::hookfile::Format;
use crate::jsonfile::ReadError;
use crate::ping::payload::HookEvent;
use crate::ping::queue::UsageSource;
use crate::usage::Turn;

/// Every agent telemhq serves, in the order help and doctor show them. A new agent is
/// one module and one line here.
pub static ALL: [&dyn Agent; 7] = [
    &claude::ClaudeCode,
    &codex::Codex,
    &gemini::GeminiCli,
    &copilot::CopilotCli,
    &qwen::QwenCode,
    &droid::FactoryDroid,
    &cursor::Cursor,
];

/// Where telemhq installs: the user's settings, a repository's shared settings, or the
/// user's personal settings in a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Repo,
    Local,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Global, Scope::Repo, Scope::Local];

    pub fn flag(self) -> &'static str {
        match self {
            Scope::Global => "--global",
            Scope::Repo => "--repo",
            Scope::Local => "--local",
        }
    }
}

/// Why an agent would not run telemhq's hooks although they are in its file, and the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocker {
    pub why: String,
    pub fix: String,
}

/// A coding agent whose hooks run `telemhq emit`. The hook command names it
/// (`emit --agent codex`): nothing is guessed from the environment.
pub trait Agent: Sync {
    /// The `--agent` value, and the agent's name in telemhq's own records.
    fn id(&self) -> &'static str;
    /// The name users know it by.
    fn display_name(&self) -> &'static str;
    /// The ping's `provider` and `tool`.
    fn provider(&self) -> &'static str;
    fn tool(&self) -> &'static str;
    /// Its command, as found on PATH.
    fn program(&self) -> &'static str {
        self.id()
    }
    /// The folder of its user settings.
    fn user_dir(&self, env: &Env) -> Result<PathBuf>;
    /// Whether this machine has the agent: what showed it (its folder, its command).
    fn found(&self, env: &Env) -> Option<String> {
        if let Ok(dir) = self.user_dir(env)
            && dir.is_dir()
        {
            return Some(env.show(&dir));
        }
        find_program(self.program()).map(|p| crate::term::path(&p))
    }
    /// The user's file that telemhq's hooks go into with `--global`.
    fn global_file(&self, env: &Env) -> Result<PathBuf>;
    /// That file, as help describes it.
    fn global_file_help(&self) -> &'static str;
    /// The file in a repository (relative to its root) that telemhq's hooks go into with
    /// `--repo` or `--local`. None: the agent has no such file.
    fn repo_file(&self, scope: Scope) -> Option<&'static str>;
    /// The file telemhq's hooks go into for a scope. None: the agent has no such scope.
    fn hook_file(&self, env: &Env, scope: Scope) -> Option<Result<PathBuf>> {
        match scope {
            Scope::Global => Some(self.global_file(env)),
            _ => {
                let relative = self.repo_file(scope)?;
                Some(repo_root(env, scope).map(|root| root.join(relative)))
            }
        }
    }
    /// How that file is written.
    fn format(&self) -> Format;
    /// How a given one of the agent's files is written (Droid has two kinds per scope).
    fn format_for(&self, _file: &Path) -> Format {
        self.format()
    }
    /// What is wrong with a file that does not read, and what the agent makes of it.
    fn read_problem(&self, e: &ReadError) -> String {
        e.problem()
    }
    /// Whether the agent still applies a file with this problem (telemhq then reads it
    /// too, to check it, but does not edit it).
    fn reads_anyway(&self, _e: &ReadError) -> bool {
        false
    }
    /// Where Codex-style trust for the hook files is kept (Codex: the user's config).
    fn trust_file(&self, _env: &Env) -> Option<Result<PathBuf>> {
        None
    }
    /// Events whose pings carry the turn's usage.
    fn turn_end_events(&self) -> &'static [&'static str];
    /// The error category of an event (never its text), if it is a failure.
    fn failure(&self, event: &HookEvent) -> Option<String>;
    /// The turn's usage, read from the agent's own records.
    fn read_usage(&self, source: &UsageSource) -> Option<Turn>;
    /// The same, as soon as the records hold the turn's end (at most until `until`): for
    /// agents that may still be writing them when the hook runs. Where the hook must
    /// deliver before it returns (CI).
    fn read_usage_when_written(
        &self,
        source: &UsageSource,
        _event: &HookEvent,
        _until: std::time::Instant,
    ) -> Option<Turn> {
        self.read_usage(source)
    }
    /// Another tool that runs this agent's hooks with its own events (Cursor runs Claude
    /// Code's): its name, for the ping's `provider` and `tool`; its turns are not this
    /// agent's, so no usage is read for them.
    fn ran_by_other(&self, _event: &HookEvent) -> Option<&'static str> {
        None
    }
    /// Token counts that must be taken when the hook runs (input, output, cache read,
    /// cache write, reasoning): Factory Droid's session running total (it keeps only
    /// that), Cursor's turn tokens (its `stop` payload carries them). They travel with
    /// the queued event to `read_usage`, which the sender calls off the hook's path.
    fn running_total(&self, _event: &HookEvent) -> Option<[u64; 5]> {
        None
    }
    /// What makes an event the same one when several hooks run it (Cursor's own and
    /// Claude Code's): emit pings it once. None: no such identity.
    fn once_per(&self, _event: &HookEvent) -> Option<String> {
        None
    }
    /// Whether the agent may run the same hook twice for one event (from a user and a
    /// repository hook file), so that emit must drop the second run.
    fn runs_hooks_twice(&self) -> bool {
        false
    }
    /// What would stop the agent running the hooks in `file` (a switch that turns hooks
    /// off, a folder or hook that is not trusted).
    fn blockers(&self, _env: &Env, _scope: Scope, _file: &Path) -> Vec<Blocker> {
        Vec::new()
    }
    /// The agent's own history files on this machine (for `import`): each a session's
    /// records.
    fn history(&self, _env: &Env) -> Vec<PathBuf> {
        Vec::new()
    }
    /// The turns of one history file, read from `from` (a byte offset where a turn
    /// starts; 0: the whole file), and where the next read of the file starts (0: read
    /// it whole again when it grows).
    fn history_turns(&self, _path: &Path, _from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
        (Vec::new(), 0)
    }
    /// The key under which the queue names the agent's usage reader (None: Claude Code,
    /// as queued by earlier releases).
    fn queue_name(&self) -> Option<&'static str> {
        Some(self.id())
    }
}

impl std::fmt::Debug for dyn Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl PartialEq for dyn Agent {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

/// The agent with this id.
pub fn by_id(id: &str) -> Option<&'static dyn Agent> {
    ALL.iter().copied().find(|a| a.id() == id)
}

/// The ids, for `--agent`.
pub fn ids() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|a| a.id())
}

/// "Claude Code, Codex CLI, Gemini CLI, Copilot CLI, Qwen Code, Factory Droid and Cursor".
pub fn display_names() -> String {
    let names: Vec<&str> = ALL.iter().map(|a| a.display_name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// The usage of a queued turn-end event, read by its agent's reader.
pub fn read_usage(source: &UsageSource) -> Option<Turn> {
    let agent = match source.agent.as_deref() {
        None => &claude::ClaudeCode as &dyn Agent,
        Some(name) => by_id(name)?,
    };
    agent.read_usage(source)
}

/// The files under `dir` (not following links, at most `depth` folders down) whose name
/// `wanted` picks, sorted.
pub fn files_under(dir: &Path, depth: usize, wanted: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && depth > 0 {
            out.extend(files_under(&path, depth - 1, wanted));
        } else if kind.is_file() && wanted(&path) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Finds a program on PATH, through absolute entries only: an empty entry or `.` (the
/// current folder) is never searched, so a checkout cannot put its own `claude` there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The home folder, or why there is none.
pub fn home(env: &Env) -> Result<&Path> {
    env.home
        .as_deref()
        .ok_or_else(|| Error::new("cannot find your home folder: set HOME"))
}

/// An agent's folder from its variable (absolute only), else a folder in HOME.
pub fn dir_from_var(env: &Env, var: &str, in_home: &str) -> Result<PathBuf> {
    match std::env::var_os(var).filter(|d| !d.is_empty()) {
        Some(dir) if Path::new(&dir).is_relative() => Err(Error::new(format!(
            "{var} is a relative path ({}): set it to an absolute path",
            crate::term::path(Path::new(&dir))
        ))),
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(home(env)?.join(in_home)),
    }
}

/// The root of the repository the current folder is in, for `--repo` and `--local`.
pub fn repo_root(env: &Env, scope: Scope) -> Result<PathBuf> {
    crate::env::git_root(&env.cwd).ok_or_else(|| {
        Error::new(format!(
            "{} is not inside a git repository, so there are no project settings for {}; run \
             this inside your project, or use --global",
            env.show(&env.cwd),
            scope.flag()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Installs out there are recognised by these exact strings: they never change.
    #[test]
    fn hook_commands_are_those_installs_out_there_hold() {
        assert_eq!(
            claude::hooks::HOOK_COMMAND,
            r#"trap '' TERM HUP; "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true"#
        );
        assert_eq!(
            claude::hooks::FIRST_RELEASE_COMMAND,
            r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true"#
        );
        assert_eq!(
            codex::HOOK_COMMAND,
            r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit --agent codex || true"#
        );
        assert_eq!(
            gemini::HOOK_COMMAND,
            r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit --agent gemini || true"#
        );
        assert_eq!(
            qwen::HOOK_COMMAND,
            r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit --agent qwen || true"#
        );
        assert_eq!(
            copilot::command("agentStop"),
            r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit --agent copilot --event agentStop || true"#
        );
    }

    #[test]
    fn every_agent_is_listed_once_with_its_own_names() {
        let ids: Vec<&str> = ids().collect();
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(ids.iter().filter(|x| **x == a.id()).count(), 1);
            assert_eq!(by_id(a.id()).map(|b| b.tool()), Some(a.tool()));
            assert!(ALL[..i].iter().all(|b| b.tool() != a.tool()));
            assert!(!a.turn_end_events().is_empty());
        }
        assert_eq!(
            display_names(),
            "Claude Code, Codex CLI, Gemini CLI, Copilot CLI, Qwen Code, Factory Droid and Cursor"
        );
    }
}
