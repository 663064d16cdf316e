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

    /// The `stop` payload's own tokens, taken by the hook.
    fn running_total(&self, event: &HookEvent) -> Option<[u64; 5]> {
        let t = &event.tokens;
        if t.input.is_none() && t.output.is_none() {
            return None;
        }
        // Cursor's `input_tokens` is the turn's whole input, cache reads and writes in it
        // (as its users measured): in telemhq's meaning, input without them.
        let (cache_read, cache_write) = (t.cache_read.unwrap_or(0), t.cache_write.unwrap_or(0));
        Some([
            t.input
                .unwrap_or(0)
                .saturating_sub(cache_read + cache_write),
            t.output.unwrap_or(0),
            cache_read,
            cache_write,
            0,
        ])
    }

    /// The tokens the hook took from the `stop` payload: one model call's worth (Cursor
    /// gives the turn's sum).
    fn read_usage(&self, source: &UsageSource) -> Option<Turn> {
        let [input, output, cache_read, cache_write, reasoning] = source.running_total?;
        // "default" is Cursor's Auto, not a model.
        let model = source.model.clone().filter(|m| m != "default");
        let usage = TurnUsage {
            key: source.turn_id.clone(),
            model: model.clone(),
            calls: vec![Call {
                id: source.turn_id.clone(),
                model,
                input,
                output,
                cache_read,
                cache_write,
                cache_write_1h: 0,
                reasoning,
            }],
            ..TurnUsage::default()
        };
        Some(usage.read(source.event_ms))
    }

    /// A turn's events come once per Cursor event however many of its hooks (its own,
    /// Claude Code's) run them. A turn has one end but many tool calls: a tool event is
    /// the call's (its id, else its tool and input), so every call of a turn is sent.
    fn once_per(&self, event: &HookEvent) -> Option<String> {
        let name = event.hook_event_name.as_deref()?.to_ascii_lowercase();
        let generation = event.generation_id.as_deref()?;
        let call = match (&event.tool_use_id, &event.tool_name) {
            (Some(id), _) => format!("\n{id}"),
            (None, Some(tool)) => format!(
                "\n{tool}\n{}",
                event.tool_input_digest.as_deref().unwrap_or("")
            ),
            (None, None) => String::new(),
        };
        Some(format!("{generation}\n{name}{call}"))
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
        let total = Cursor.running_total(&e).unwrap();
        assert_eq!(total, [20152 - 8704, 15, 8704, 0, 0]);
        let source = |model: &str| UsageSource {
            transcript_path: String::new(),
            prompt_id: None,
            event_ms: 0,
            subagent: false,
            agent: Some("cursor".into()),
            turn_id: Some("g-1".into()),
            running_total: Some(total),
            state_dir: None,
            model: Some(model.into()),
        };
        let turn = Cursor.read_usage(&source("claude-4.5-sonnet")).unwrap();
        assert_eq!(turn.key.as_deref(), Some("g-1"));
        assert_eq!(turn.fields["usage"]["cache_read_input_tokens"], 8704);
        assert_eq!(turn.fields["model"], "claude-4.5-sonnet");
        let auto = Cursor.read_usage(&source("default")).unwrap();
        assert!(auto.fields.get("model").is_none(), "Auto is not a model");
        assert_eq!(Cursor.failure(&e), None);
        let failed = event(json!({"hook_event_name": "stop", "status": "error"}));
        assert_eq!(Cursor.failure(&failed).as_deref(), Some("error"));
        assert!(
            Cursor.running_total(&failed).is_none(),
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
