//! Cursor: flat handler lists in `hooks.json` (`{"version":1,"hooks":{"stop":[…]}}`),
//! the user's (`~/.cursor/hooks.json`) and a repository's (`.cursor/hooks.json`). Its
//! `stop` payload carries the turn's tokens itself: nothing is read from its records.
//!
//! Cursor can also run Claude Code's hooks (its third-party hooks option): those events
//! are Cursor's, told apart by `cursor_version` / `conversation_id`, and each Cursor
//! event is pinged once however many of its hooks ran it (by its `generation_id`).
//!
//! No Cursor CLI installs without an account: the payloads here follow its documented
//! shape and payloads published by its users.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Agent, Scope};
use crate::env::Env;
use crate::error::Result;
use crate::hookfile::Format;
use crate::hookfile::flat::FlatSet;
use crate::jsonfile::Dialect;
use crate::ping::payload::{self, HookEvent};
use crate::ping::queue::UsageSource;
use crate::usage::{Call, Turn, TurnUsage};

/// The command for an event: it names the agent and the event (no PATH needed, no
/// personal path in a committed file, never fails the turn).
pub fn command(event: &str) -> String {
    format!(
        "{} emit --agent cursor --event {event} || true",
        crate::hook_link!()
    )
}

fn handler(event: &str) -> Value {
    json!({"command": command(event)})
}

pub static HOOKS: FlatSet = FlatSet {
    command_key: "command",
    turn_events: &["stop"],
    tool_events: &["postToolUse", "postToolUseFailure"],
    command,
    handler,
    version: 1,
};

pub struct Cursor;

impl Agent for Cursor {
    fn id(&self) -> &'static str {
        "cursor"
    }

    fn display_name(&self) -> &'static str {
        "Cursor"
    }

    fn provider(&self) -> &'static str {
        "cursor"
    }

    fn tool(&self) -> &'static str {
        "cursor"
    }

    fn program(&self) -> &'static str {
        "cursor-agent"
    }

    fn user_dir(&self, env: &Env) -> Result<PathBuf> {
        Ok(super::home(env)?.join(".cursor"))
    }

    fn global_file(&self, env: &Env) -> Result<PathBuf> {
        self.user_dir(env).map(|d| d.join("hooks.json"))
    }

    fn global_file_help(&self) -> &'static str {
        "~/.cursor/hooks.json"
    }

    fn repo_file(&self, scope: Scope) -> Option<&'static str> {
        (scope == Scope::Repo).then_some(".cursor/hooks.json")
    }

    fn format(&self) -> Format {
        Format::Flat {
            set: &HOOKS,
            dialect: Dialect::Strict,
        }
    }

    /// Its own `stop`, and Claude Code's `Stop` when Cursor runs Claude Code's hooks.
    fn turn_end_events(&self) -> &'static [&'static str] {
        &["stop", "Stop"]
    }

    fn failure(&self, event: &HookEvent) -> Option<String> {
        match event.hook_event_name.as_deref() {
            Some("stop" | "Stop") => match event.status.as_deref() {
                Some("error") => Some("error".into()),
                Some("aborted") => Some("aborted".into()),
                _ => None,
            },
            Some("postToolUseFailure" | "PostToolUseFailure") => {
                Some(payload::tool_failure_category(event))
            }
            _ => payload::other_failure(event),
        }
    }

    /// Nothing to read later: the `stop` payload holds the turn's tokens.
    fn read_usage(&self, _source: &UsageSource) -> Option<Turn> {
        None
    }

    fn usage_in_event(&self, event: &HookEvent) -> Option<TurnUsage> {
        let t = &event.tokens;
        if t.input.is_none() && t.output.is_none() {
            return None;
        }
        // Cursor's `input_tokens` is the turn's whole input, cache reads and writes in it
        // (as its users measured): in telemhq's meaning, input without them.
        let (cache_read, cache_write) = (t.cache_read.unwrap_or(0), t.cache_write.unwrap_or(0));
        // "default" is Cursor's Auto, not a model.
        let model = event.model.clone().filter(|m| m != "default");
        Some(TurnUsage {
            key: event.generation_id.clone(),
            session: event.conversation_id.clone(),
            model: model.clone(),
            calls: vec![Call {
                id: event.generation_id.clone(),
                model,
                input: t
                    .input
                    .unwrap_or(0)
                    .saturating_sub(cache_read + cache_write),
                cache_read,
                cache_write,
                cache_write_1h: 0,
                output: t.output.unwrap_or(0),
                reasoning: 0,
            }],
            ..TurnUsage::default()
        })
    }

    /// A turn's events come once per Cursor event however many of its hooks (its own,
    /// Claude Code's) run them.
    fn once_per(&self, event: &HookEvent) -> Option<String> {
        let name = event.hook_event_name.as_deref()?.to_ascii_lowercase();
        Some(format!("{}\n{name}", event.generation_id.as_deref()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: Value) -> HookEvent {
        HookEvent::read_from(json.to_string().as_bytes()).0
    }

    /// A stop payload as cursor-agent 2026.09.10 sends it (published by its users).
    #[test]
    fn the_stop_payload_gives_the_turns_tokens() {
        let e = event(json!({"conversation_id": "c-1", "generation_id": "g-1",
            "model": "claude-4.5-sonnet", "status": "completed", "loop_count": 0,
            "input_tokens": 20152, "output_tokens": 15, "cache_read_tokens": 8704,
            "cache_write_tokens": 0, "hook_event_name": "stop", "transcript_path": null}));
        let u = Cursor.usage_in_event(&e).unwrap();
        let t = u.total();
        assert_eq!((t.input, t.cache_read, t.output), (20152 - 8704, 8704, 15));
        assert_eq!(u.key.as_deref(), Some("g-1"));
        assert_eq!(Cursor.failure(&e), None);
        let auto = event(json!({"generation_id": "g", "model": "default", "input_tokens": 1}));
        assert_eq!(Cursor.usage_in_event(&auto).unwrap().model, None);
        let failed = event(json!({"hook_event_name": "stop", "status": "error"}));
        assert_eq!(Cursor.failure(&failed).as_deref(), Some("error"));
        assert!(
            Cursor.usage_in_event(&failed).is_none(),
            "no tokens: no usage"
        );
    }

    #[test]
    fn its_own_and_claude_codes_hooks_name_the_same_event_once() {
        let own = event(json!({"generation_id": "g-1", "hook_event_name": "stop"}));
        let claudes = event(json!({"generation_id": "g-1", "hook_event_name": "Stop",
            "cursor_version": "1.7.0"}));
        assert_eq!(Cursor.once_per(&own), Cursor.once_per(&claudes));
        assert!(
            Cursor
                .once_per(&event(json!({"hook_event_name": "stop"})))
                .is_none()
        );
    }
}
