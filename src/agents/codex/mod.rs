//! OpenAI's Codex CLI: hooks as arrays of tables in `config.toml`, run only once trusted
//! (the trust in the user's config), and rollout files with the turn's usage.
pub mod rollout;

use std::path::{Path, PathBuf};

use super::{Agent, Blocker, Scope, repo_root};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::hookfile::Format;
use crate::hookfile::codex_toml::{self, TomlSet};
use crate::jsonfile::ReadError;
use crate::ping::payload::{self, HookEvent};
use crate::ping::queue::UsageSource;
use crate::usage::Turn;

/// The command every scope installs. It runs the link in telemhq's private folder, so it
/// needs no PATH, and prints nothing on stdout (Codex accepts nothing or JSON there).
pub const HOOK_COMMAND: &str = concat!(crate::hook_link!(), " emit --agent codex || true");

pub static HOOKS: TomlSet = TomlSet {
    command: HOOK_COMMAND,
    timeout: 10,
    turn_event: "Stop",
    tool_event: "PostToolUse",
    // Codex matches `tool_name` with a regex: every tool.
    tool_matcher: ".*",
};

pub struct Codex;

/// Codex's folder as Codex resolves it: `$CODEX_HOME` made canonical (`./`, `../` and
/// links resolved; Codex refuses one that does not exist), else `~/.codex` as it is. Its
/// trust keys name files under this path.
fn codex_home(env: &Env) -> Result<PathBuf> {
    match std::env::var_os("CODEX_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_relative() {
                return Err(Error::new(format!(
                    "CODEX_HOME is a relative path ({}): set it to an absolute path",
                    crate::term::path(&dir)
                )));
            }
            std::fs::canonicalize(&dir).map_err(|e| {
                Error::new(format!(
                    "CODEX_HOME ({}) cannot be resolved ({}): Codex itself needs it to exist",
                    crate::term::path(&dir),
                    crate::error::io_reason(&e)
                ))
            })
        }
        None => Ok(super::home(env)?.join(".codex")),
    }
}

impl Agent for Codex {
    fn id(&self) -> &'static str {
        "codex"
    }

    fn display_name(&self) -> &'static str {
        "Codex CLI"
    }

    fn provider(&self) -> &'static str {
        "openai"
    }

    fn tool(&self) -> &'static str {
        "codex"
    }

    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        codex_home(env)
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        codex_home(env).map(|d| d.join("config.toml"))
    }

    fn global_file_help(&self) -> &'static str {
        "$CODEX_HOME/config.toml, else ~/.codex/config.toml"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        (scope == Scope::Repo).then_some(".codex/config.toml")
    }

    fn format(&self) -> Format {
        Format::CodexToml(&HOOKS)
    }

    fn read_problem(&self, e: &ReadError) -> String {
        match e {
            ReadError::Syntax { problem, .. } => {
                format!("not valid TOML, so Codex cannot read it: {problem}")
            }
            other => other.problem(),
        }
    }

    fn trust_file(&self, env: &Env) -> Option<Result<PathBuf>> {
        Some(codex_home(env).map(|d| d.join("config.toml")))
    }

    fn turn_end_events(&self) -> &'static [&'static str] {
        &["Stop"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        payload::other_failure(event)
    }

    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        let path = Path::new(&source.transcript_path);
        let usage = rollout::turn_usage(path, source.turn_id.as_deref()?)?;
        Some(usage.read(source.event_ms))
    }

    /// `sessions/**/rollout-*.jsonl` in Codex's folder.
    fn history(&self, env: &Env) -> Vec<PathBuf> {
        let Ok(dir) = codex_home(env) else {
            return Vec::new();
        };
        super::files_under(&dir.join("sessions"), 4, &|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("rollout-") && n.ends_with(".jsonl")
            })
        })
    }

    fn history_turns(&self, path: &Path, _from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
        (rollout::turns(path), 0)
    }

    /// Codex runs a hook only when the user's config trusts it (its hash as the file
    /// holds it now), and loads a repository's `.codex/` only in a project it trusts.
    fn blockers(&self, env: &Env, scope: Scope, file: &Path) -> Vec<Blocker> {
        let Some(Ok(trust_path)) = self.trust_file(env) else {
            return Vec::new();
        };
        let trust = crate::fsutil::read_regular(&trust_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let hooks = crate::fsutil::read_regular(file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let shown_trust = env.show(&trust_path);
        let mut out = Vec::new();
        if scope == Scope::Repo
            && let Ok(root) = repo_root(env, scope)
            && codex_toml::project_trusted(&trust, &root) != Some(true)
        {
            out.push(Blocker {
                why: format!(
                    "Codex loads {}'s .codex/ only in a project you trust, and {shown_trust} does \
                     not trust it",
                    env.show(&root)
                ),
                fix: "run codex in the repository once and trust the folder".into(),
            });
        }
        let source = file.to_string_lossy();
        let untrusted = HOOKS.untrusted_events(&hooks, &trust, &source);
        if !untrusted.is_empty() {
            out.push(Blocker {
                why: format!(
                    "telemhq's {} hook is not trusted in {shown_trust} (changed by hand, moved, \
                     or trusted elsewhere): Codex does not run it",
                    untrusted.join(", ")
                ),
                fix: format!("telemhq install --agent codex {}", scope.flag()),
            });
        }
        out
    }
}
