//! The coding agents telemhq serves, and what differs between them for pings: who they
//! are (`provider`, `tool`), which events end a turn, and where a turn's usage is read.
//! The queue, the sender, the config and the trackers are shared by all of them.

use serde_json::{Map, Value};

use crate::ping::queue::UsageSource;

/// A coding agent whose hooks run `telemhq emit`. The hook command names it
/// (`emit --agent codex`): nothing is guessed from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agent {
    /// Anthropic's Claude Code.
    Claude,
    /// OpenAI's Codex CLI.
    Codex,
}

impl Agent {
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
        }
    }

    pub fn from_name(name: &str) -> Option<Agent> {
        match name {
            "claude" => Some(Agent::Claude),
            "codex" => Some(Agent::Codex),
            _ => None,
        }
    }

    /// The ping's `provider`.
    pub fn provider(self) -> &'static str {
        match self {
            Agent::Claude => "anthropic",
            Agent::Codex => "openai",
        }
    }

    /// The ping's `tool`.
    pub fn tool(self) -> &'static str {
        match self {
            Agent::Claude => "claude-code",
            Agent::Codex => "codex",
        }
    }

    /// Events whose pings carry the turn's usage.
    pub fn turn_end_events(self) -> &'static [&'static str] {
        match self {
            Agent::Claude => &["Stop", "StopFailure", "SubagentStop"],
            Agent::Codex => &["Stop"],
        }
    }
}

/// The usage fields of a queued turn-end event, read from its agent's own records.
pub fn read_usage(source: &UsageSource) -> Option<Map<String, Value>> {
    match source.agent.as_deref().and_then(Agent::from_name) {
        Some(Agent::Codex) => {
            let path = std::path::Path::new(&source.transcript_path);
            let usage = crate::codex::rollout::turn_usage(path, source.turn_id.as_deref()?)?;
            Some(usage.to_fields(source.event_ms))
        }
        _ => crate::claude::transcript::read_usage(source),
    }
}
