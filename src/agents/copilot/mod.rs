//! GitHub's Copilot CLI: a hook file of telemhq's own with flat handler lists (JSON with
//! comments), and session events with the turn's usage. It runs a hook from the user's
//! and the repository's hook files both, so emit takes each event once.
pub mod events;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Agent, Blocker, Scope, repo_root};
use crate::env::Env;
use crate::error::Result;
use crate::hookfile::Format;
use crate::hookfile::flat::FlatSet;
use crate::jsonfile::Dialect;
use crate::ping::payload::{self, HookEvent};
use crate::ping::queue::UsageSource;
use crate::usage::Turn;

/// The command for an event. Copilot CLI's native payloads do not name their event,
/// and its hooks' environment has `CLAUDE_PROJECT_DIR` too: the command says both. No
/// PATH needed, no personal path in a committed file, never fails the turn.
pub fn command(event: &str) -> String {
    format!(
        "{} emit --agent copilot --event {event} || true",
        crate::hook_link!()
    )
}

fn handler(event: &str) -> Value {
    // Seconds Copilot CLI gives the hook (emit returns in milliseconds).
    json!({"type": "command", "bash": command(event), "timeoutSec": 5})
}

pub static HOOKS: FlatSet = FlatSet {
    command_key: "bash",
    turn_events: &["agentStop"],
    tool_events: &["postToolUse", "postToolUseFailure", "errorOccurred"],
    command,
    handler,
    version: 1,
};

pub struct CopilotCli;

impl Agent for CopilotCli {
    fn id(&self) -> &'static str {
        "copilot"
    }

    fn display_name(&self) -> &'static str {
        "Copilot CLI"
    }

    fn provider(&self) -> &'static str {
        "github"
    }

    fn tool(&self) -> &'static str {
        "copilot-cli"
    }

    /// `$COPILOT_HOME`, else `~/.copilot`.
    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        super::dir_from_var(env, "COPILOT_HOME", ".copilot")
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        self.user_dir(env).map(|d| d.join("hooks/telemhq.json"))
    }

    fn global_file_help(&self) -> &'static str {
        "$COPILOT_HOME/hooks/telemhq.json, else ~/.copilot/hooks/telemhq.json"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        (scope == Scope::Repo).then_some(".github/hooks/telemhq.json")
    }

    fn format(&self) -> Format {
        Format::Flat {
            set: &HOOKS,
            dialect: Dialect::Comments,
        }
    }

    fn turn_end_events(&self) -> &'static [&'static str] {
        &["agentStop"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        match event.hook_event_name.as_deref() {
            Some("errorOccurred") => Some(
                event
                    .error_context
                    .as_deref()
                    .filter(|c| {
                        c.len() <= 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    })
                    .unwrap_or("other")
                    .to_string(),
            ),
            Some("postToolUse") => match event.tool_result_type.as_deref() {
                None | Some("success") => None,
                Some(kind @ ("failure" | "rejected" | "denied")) => Some(kind.to_string()),
                Some(_) => Some("other".into()),
            },
            Some("postToolUseFailure") => Some(payload::tool_failure_category(event)),
            _ => payload::other_failure(event),
        }
    }

    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        let usage = events::turn_usage(Path::new(&source.transcript_path), source.event_ms)?;
        Some(usage.read(source.event_ms))
    }

    /// `session-state/<session>/events.jsonl` in Copilot CLI's folder.
    fn history(&self, env: &Env) -> Vec<PathBuf> {
        let Ok(dir) = self.user_dir(env) else {
            return Vec::new();
        };
        super::files_under(&dir.join("session-state"), 1, &|p| {
            p.file_name().is_some_and(|n| n == "events.jsonl")
        })
    }

    fn history_turns(&self, path: &Path, _from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
        (events::turns(path), 0)
    }

    fn runs_hooks_twice(&self) -> bool {
        true
    }

    /// `disableAllHooks` in Copilot's settings; a repository's hook files load only in a
    /// folder the user trusted (`trusted_folders` in its config).
    fn blockers(&self, env: &Env, scope: Scope, _file: &Path) -> Vec<Blocker> {
        let Ok(dir) = self.user_dir(env) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let settings = dir.join("settings.json");
        let off = crate::jsonfile::value_of(&settings, Dialect::Comments)
            .and_then(|d| d.get("disableAllHooks").cloned())
            == Some(Value::Bool(true));
        if off {
            let shown = env.show(&settings);
            out.push(Blocker {
                why: format!(
                    "Copilot CLI's hooks are switched off (disableAllHooks is true in {shown})"
                ),
                fix: format!("set \"disableAllHooks\": false in {shown}"),
            });
        }
        if scope == Scope::Repo
            && let Ok(root) = repo_root(env, scope)
        {
            let root = std::fs::canonicalize(&root).unwrap_or(root);
            let config = dir.join("config.json");
            let trusted = crate::jsonfile::value_of(&config, Dialect::Comments)
                .and_then(|c| c.get("trusted_folders").cloned())
                .and_then(|t| t.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .any(|f| root.starts_with(f));
            if !trusted {
                out.push(Blocker {
                    why: format!(
                        "Copilot CLI loads {}'s hooks only once the folder is trusted, and it is not ({} has no trusted_folders entry for it)",
                        env.show(&root),
                        env.show(&config)
                    ),
                    fix: "run copilot in the repository once and trust the folder".into(),
                });
            }
        }
        out
    }
}
