//! Alibaba's Qwen Code: hook groups in Claude Code's shape in `settings.json` (JSON with
//! comments, timeouts in seconds), and chat files whose telemetry lines carry each model
//! call's usage, tagged with the turn's `prompt_id`.
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

/// Qwen Code puts `CLAUDE_PROJECT_DIR` (and `GEMINI_PROJECT_DIR`) into its hooks'
/// environment, so the command says which agent runs it. No PATH needed, no personal
/// path, nothing on stdout, never fails the turn (`|| true`).
pub const HOOK_COMMAND: &str = concat!(crate::hook_link!(), " emit --agent qwen || true");

pub static HOOKS: HookSet = HookSet {
    command: HOOK_COMMAND,
    own_commands: &[HOOK_COMMAND],
    turn_template: include_str!("../../../templates/qwen-turn-hooks.json"),
    tool_template: include_str!("../../../templates/qwen-tool-activity-hooks.json"),
};

pub struct QwenCode;

impl QwenCode {
    fn settings(env: &Env) -> Result<PathBuf> {
        Ok(super::home(env)?.join(".qwen/settings.json"))
    }

    /// Where Qwen Code keeps the folders the user trusts.
    fn trusted_folders(env: &Env) -> Result<PathBuf> {
        match std::env::var_os("QWEN_CODE_TRUSTED_FOLDERS_PATH") {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
            _ => Ok(super::home(env)?.join(".qwen/trustedFolders.json")),
        }
    }
}

/// Whether Qwen Code trusts `folder`, by its rules: `TRUST_FOLDER` trusts a folder and
/// what is in it, `TRUST_PARENT` the folder's parent and what is in it, `DO_NOT_TRUST`
/// a folder and what is in it; the most specific rule wins.
pub fn trusted(rules: &Value, folder: &Path) -> bool {
    let mut best: Option<(usize, bool)> = None;
    for (path, rule) in rules.as_object().into_iter().flatten() {
        let path = Path::new(path);
        let (scope, trust) = match rule.as_str() {
            Some("TRUST_FOLDER") => (path, true),
            Some("TRUST_PARENT") => (path.parent().unwrap_or(path), true),
            Some("DO_NOT_TRUST") => (path, false),
            _ => continue,
        };
        if folder.starts_with(scope) {
            let depth = scope.components().count();
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, trust));
            }
        }
    }
    best.is_some_and(|(_, trust)| trust)
}

impl Agent for QwenCode {
    fn id(&self) -> &'static str {
        "qwen"
    }

    fn display_name(&self) -> &'static str {
        "Qwen Code"
    }

    fn provider(&self) -> &'static str {
        "qwen"
    }

    fn tool(&self) -> &'static str {
        "qwen-code"
    }

    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        Ok(super::home(env)?.join(".qwen"))
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        Self::settings(env)
    }

    fn global_file_help(&self) -> &'static str {
        "~/.qwen/settings.json"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        (scope == Scope::Repo).then_some(".qwen/settings.json")
    }

    fn format(&self) -> Format {
        Format::Groups {
            set: &HOOKS,
            dialect: Dialect::Comments,
        }
    }

    fn turn_end_events(&self) -> &'static [&'static str] {
        &["Stop", "StopFailure"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        match event.hook_event_name.as_deref() {
            Some("StopFailure") => Some(payload::stop_failure_category(event.error.as_deref())),
            Some("PostToolUseFailure") => Some(payload::tool_failure_category(event)),
            _ => payload::other_failure(event),
        }
    }

    /// The turn is the Stop payload's `prompt_id` in the chat file (the payload's own
    /// `input_tokens` is only the last prompt's size).
    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        let prompt_id = source.prompt_id.as_deref()?;
        let usage = chat::turn_usage(Path::new(&source.transcript_path), prompt_id)?;
        Some(usage.read(source.event_ms))
    }

    /// `projects/<folder>/chats/<session>.jsonl` in Qwen Code's folder.
    fn history(&self, env: &Env) -> Vec<PathBuf> {
        let Ok(dir) = self.user_dir(env) else {
            return Vec::new();
        };
        super::files_under(&dir.join("projects"), 2, &|p| {
            p.parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == "chats")
                && p.extension().is_some_and(|e| e == "jsonl")
        })
    }

    fn history_turns(&self, path: &Path, _from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
        (chat::turns(path), 0)
    }

    /// `disableAllHooks` in the user's or the repository's settings; with folder trust
    /// on, a repository's hooks run only in a folder the user trusted.
    fn blockers(&self, env: &Env, scope: Scope, _file: &Path) -> Vec<Blocker> {
        let mut out = Vec::new();
        let user = Self::settings(env).ok();
        let repo = repo_root(env, Scope::Repo)
            .ok()
            .map(|r| r.join(".qwen/settings.json"));
        for file in user.iter().chain(repo.iter()) {
            let Some(doc) = crate::jsonfile::value_of(file, Dialect::Comments) else {
                continue;
            };
            if doc.get("disableAllHooks") == Some(&Value::Bool(true)) {
                let shown = env.show(file);
                out.push(Blocker {
                    why: format!(
                        "Qwen Code's hooks are switched off (disableAllHooks is true in {shown})"
                    ),
                    fix: format!("remove \"disableAllHooks\": true from {shown}"),
                });
            }
        }
        let trust_on = user
            .as_deref()
            .and_then(|f| crate::jsonfile::value_of(f, Dialect::Comments))
            .and_then(|d| d.pointer("/security/folderTrust/enabled").cloned())
            == Some(Value::Bool(true));
        if scope == Scope::Repo
            && trust_on
            && let Ok(root) = repo_root(env, scope)
            && let Ok(rules_file) = Self::trusted_folders(env)
        {
            let root = std::fs::canonicalize(&root).unwrap_or(root);
            let rules =
                crate::jsonfile::value_of(&rules_file, Dialect::Comments).unwrap_or(Value::Null);
            if !trusted(&rules, &root) {
                out.push(Blocker {
                    why: format!(
                        "Qwen Code has folder trust on and does not trust {}: it skips the repository's hooks there ({} has no rule trusting it)",
                        env.show(&root),
                        env.show(&rules_file)
                    ),
                    fix: "run qwen in the repository once and trust the folder".into(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_carry_the_qwen_command_and_a_timeout_in_seconds() {
        assert_eq!(HOOKS.turn_events(), ["Stop", "StopFailure"]);
        assert_eq!(HOOKS.tool_events(), ["PostToolUse", "PostToolUseFailure"]);
        for event in ["Stop", "PostToolUse"] {
            let handler = &HOOKS.template_group(event).unwrap()["hooks"][0];
            assert_eq!(handler["command"], HOOK_COMMAND);
            assert_eq!(handler["timeout"], 5, "seconds");
        }
    }

    #[test]
    fn folder_trust_rules() {
        let rules = json!({
            "/home/dev/work": "TRUST_FOLDER",
            "/home/dev/work/secret": "DO_NOT_TRUST",
            "/home/dev/other/x": "TRUST_PARENT",
        });
        let t = |p: &str| trusted(&rules, Path::new(p));
        assert!(t("/home/dev/work/api"));
        assert!(
            !t("/home/dev/work/secret/api"),
            "the most specific rule wins"
        );
        assert!(
            t("/home/dev/other/y"),
            "TRUST_PARENT trusts the parent's folders"
        );
        assert!(!t("/home/dev/elsewhere"));
        assert!(!trusted(&Value::Null, Path::new("/x")));
    }
}
