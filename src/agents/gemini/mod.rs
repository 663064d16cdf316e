//! Google's Gemini CLI: hook groups in Claude Code's shape in `settings.json` (JSON with
//! comments, the timeout in milliseconds), and chat files with the turn's usage.
pub mod chat;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Agent, Blocker, Scope, repo_root};
use crate::env::Env;
use crate::error::Result;
use crate::hookfile::{Format, HookSet};
use crate::jsonfile::Dialect;
use crate::ping::payload::{self, HookEvent};
use crate::ping::queue::UsageSource;
use crate::usage::Turn;

/// Gemini CLI puts `CLAUDE_PROJECT_DIR` into its hooks' environment too, so the command
/// says which agent runs it. Like Claude Code's, it needs no PATH, holds no personal
/// path, prints nothing on stdout (Gemini CLI takes a hook's stdout as JSON) and never
/// fails the turn (`|| true`).
pub const HOOK_COMMAND: &str = concat!(crate::hook_link!(), " emit --agent gemini || true");

pub static HOOKS: HookSet = HookSet {
    command: HOOK_COMMAND,
    own_commands: &[HOOK_COMMAND],
    turn_template: include_str!("../../../templates/gemini-turn-hooks.json"),
    tool_template: include_str!("../../../templates/gemini-tool-activity-hooks.json"),
};

pub struct GeminiCli;

impl GeminiCli {
    fn settings(env: &Env) -> Result<PathBuf> {
        Ok(super::home(env)?.join(".gemini/settings.json"))
    }
}

impl Agent for GeminiCli {
    fn id(&self) -> &'static str {
        "gemini"
    }

    fn display_name(&self) -> &'static str {
        "Gemini CLI"
    }

    fn provider(&self) -> &'static str {
        "google"
    }

    fn tool(&self) -> &'static str {
        "gemini-cli"
    }

    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        Ok(super::home(env)?.join(".gemini"))
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        Self::settings(env)
    }

    fn global_file_help(&self) -> &'static str {
        "~/.gemini/settings.json"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        (scope == Scope::Repo).then_some(".gemini/settings.json")
    }

    fn format(&self) -> Format {
        Format::Groups {
            set: &HOOKS,
            dialect: Dialect::Comments,
        }
    }

    fn turn_end_events(&self) -> &'static [&'static str] {
        &["AfterAgent"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        match event.hook_event_name.as_deref() {
            Some("AfterTool") => event.tool_error.then(|| "tool_error".into()),
            _ => payload::other_failure(event),
        }
    }

    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        let usage = chat::turn_usage(Path::new(&source.transcript_path), source.event_ms)?;
        Some(usage.read(source.event_ms))
    }

    /// `tmp/<project>/chats/session-*.jsonl` in Gemini CLI's folder.
    fn history(&self, env: &Env) -> Vec<PathBuf> {
        let Ok(dir) = self.user_dir(env) else {
            return Vec::new();
        };
        super::files_under(&dir.join("tmp"), 2, &|p| {
            p.parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == "chats")
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    // (`.json`: one document, as versions before 0.4x wrote them.)
                    n.starts_with("session-") && (n.ends_with(".jsonl") || n.ends_with(".json"))
                })
        })
    }

    fn history_turns(&self, path: &Path, _from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
        (chat::turns(path), 0)
    }

    /// `hooksConfig.enabled: false`, or telemhq's command in `hooksConfig.disabled`, in
    /// the user's or the repository's settings.
    fn blockers(&self, env: &Env, _scope: Scope, _file: &Path) -> Vec<Blocker> {
        let mut files: Vec<PathBuf> = Self::settings(env).into_iter().collect();
        if let Ok(root) = repo_root(env, Scope::Repo) {
            files.push(root.join(".gemini/settings.json"));
        }
        let mut out = Vec::new();
        for file in files {
            let Some(doc) = crate::jsonfile::value_of(&file, Dialect::Comments) else {
                continue;
            };
            let shown = env.show(&file);
            if doc.pointer("/hooksConfig/enabled") == Some(&Value::Bool(false)) {
                out.push(Blocker {
                    why: format!(
                        "Gemini CLI's hooks are switched off (hooksConfig.enabled is false in {shown})"
                    ),
                    fix: format!("remove \"enabled\": false from hooksConfig in {shown}"),
                });
            }
            let disabled = doc
                .pointer("/hooksConfig/disabled")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|d| d == HOOK_COMMAND);
            if disabled {
                out.push(Blocker {
                    why: format!("telemhq's hook is listed in hooksConfig.disabled in {shown}"),
                    fix: format!("take it out of hooksConfig.disabled in {shown}"),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_carry_the_gemini_command_and_a_timeout_in_milliseconds() {
        assert_eq!(HOOKS.turn_events(), ["AfterAgent"]);
        assert_eq!(HOOKS.tool_events(), ["AfterTool"]);
        for event in ["AfterAgent", "AfterTool"] {
            let handler = &HOOKS.template_group(event).unwrap()["hooks"][0];
            assert_eq!(handler["command"], HOOK_COMMAND);
            assert_eq!(handler["timeout"], 5000, "milliseconds: 5 s");
        }
    }
}
