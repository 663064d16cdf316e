//! Claude Code: settings layers with hook groups in strict JSON, transcripts with the
//! turn's usage.
pub mod hooks;
pub mod settings;
pub mod transcript;

use std::path::{Path, PathBuf};

use super::{Agent, Blocker, Scope};
use crate::env::Env;
use crate::error::Result;
use crate::hookfile::Format;
use crate::jsonfile::{Dialect, ReadError};
use crate::ping::payload::{self, HookEvent};
use crate::ping::queue::UsageSource;
use crate::usage::Turn;

pub struct ClaudeCode;

impl Agent for ClaudeCode {
    fn id(&self) -> &'static str {
        "claude"
    }

    fn display_name(&self) -> &'static str {
        "Claude Code"
    }

    fn provider(&self) -> &'static str {
        "anthropic"
    }

    fn tool(&self) -> &'static str {
        "claude-code"
    }

    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        env.claude_dir().map(Path::to_path_buf)
    }

    /// telemhq keeps its own state in `~/.claude/hooks/`: that folder alone does not
    /// show that Claude Code is here; anything else in it, Claude Code's `~/.claude.json`
    /// or `claude` on PATH does.
    fn found(&self, env: &Env) -> Option<String> {
        if let Some(state) = env.home.as_ref().map(|h| h.join(".claude.json"))
            && state.is_file()
        {
            return Some(env.show(&state));
        }
        if let Ok(dir) = self.user_dir(env)
            && std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name() != "hooks")
        {
            return Some(env.show(&dir));
        }
        super::find_program(self.program()).map(|p| crate::term::path(&p))
    }

    fn program(&self) -> &'static str {
        "claude"
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        env.claude_dir().map(|d| d.join("settings.json"))
    }

    fn global_file_help(&self) -> &'static str {
        "$CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        Some(match scope {
            Scope::Local => ".claude/settings.local.json",
            _ => ".claude/settings.json",
        })
    }

    fn format(&self) -> Format {
        Format::Groups {
            set: &hooks::CLAUDE,
            dialect: Dialect::Strict,
        }
    }

    fn read_problem(&self, e: &ReadError) -> String {
        settings::describe(e)
    }

    fn reads_anyway(&self, e: &ReadError) -> bool {
        settings::claude_code_reads_it(e)
    }

    fn turn_end_events(&self) -> &'static [&'static str] {
        &["Stop", "StopFailure", "SubagentStop"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        match event.hook_event_name.as_deref() {
            Some("StopFailure") => Some(payload::stop_failure_category(event.error.as_deref())),
            Some("PostToolUseFailure") => Some(payload::tool_failure_category(event)),
            _ => payload::other_failure(event),
        }
    }

    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        transcript::read_usage(source)
    }

    /// Claude Code may write the turn's last lines just after its Stop hook starts: wait
    /// until its last API answer is final. A failed turn has no final answer to wait for.
    fn read_usage_when_written(
        &self,
        source: &UsageSource,
        event: &HookEvent,
        until: std::time::Instant,
    ) -> Option<Turn> {
        let path = Path::new(&source.transcript_path);
        let wait = event.hook_event_name.as_deref() == Some("Stop") && !source.subagent;
        // A sub-agent of versions that wrote it into the main transcript: its lines come
        // with its result, just after its hook.
        let side_chain = source.subagent && !transcript::is_subagent_file(path);
        loop {
            let usage = if source.subagent {
                transcript::subagent_usage(path)
            } else {
                transcript::turn_usage(path, source.prompt_id.as_deref())
            };
            let done = usage.as_ref().is_some_and(|u| u.ended || side_chain);
            if !(wait || side_chain) || done || std::time::Instant::now() >= until {
                return usage.map(|u| u.read(source.event_ms));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Cursor runs Claude Code's hooks when its third-party hooks option is on; its
    /// payloads carry `conversation_id` / `cursor_version`.
    fn ran_by_other(&self, event: &HookEvent) -> Option<&'static str> {
        (event.conversation_id.is_some() || event.cursor_version.is_some()).then_some("cursor")
    }

    /// `disableAllHooks` in the layer that decides it, or managed settings that allow
    /// only their own hooks.
    fn blockers(&self, env: &Env, _scope: Scope, _file: &Path) -> Vec<Blocker> {
        settings::blockers(env)
    }

    /// `projects/**/*.jsonl` in Claude Code's folder, sub-agents' transcripts included.
    fn history(&self, env: &Env) -> Vec<PathBuf> {
        let Ok(dir) = self.user_dir(env) else {
            return Vec::new();
        };
        super::files_under(&dir.join("projects"), 4, &|p| {
            p.extension().is_some_and(|e| e == "jsonl")
        })
    }

    fn history_turns(&self, path: &Path, from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
        transcript::turns(path, from)
    }

    fn queue_name(&self) -> Option<&'static str> {
        None
    }
}
