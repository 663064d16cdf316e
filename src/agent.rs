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
    /// Google's Gemini CLI.
    Gemini,
    /// GitHub's Copilot CLI.
    Copilot,
}

impl Agent {
    pub const ALL: [Agent; 4] = [Agent::Claude, Agent::Codex, Agent::Gemini, Agent::Copilot];

    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Copilot => "copilot",
        }
    }

    /// The name users know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            Agent::Claude => "Claude Code",
            Agent::Codex => "Codex CLI",
            Agent::Gemini => "Gemini CLI",
            Agent::Copilot => "Copilot CLI",
        }
    }

    /// Its command, as found on PATH.
    pub fn command(self) -> &'static str {
        self.name()
    }

    pub fn from_name(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The ping's `provider`.
    pub fn provider(self) -> &'static str {
        match self {
            Agent::Claude => "anthropic",
            Agent::Codex => "openai",
            Agent::Gemini => "google",
            Agent::Copilot => "github",
        }
    }

    /// The ping's `tool`.
    pub fn tool(self) -> &'static str {
        match self {
            Agent::Claude => "claude-code",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini-cli",
            Agent::Copilot => "copilot-cli",
        }
    }

    /// Events whose pings carry the turn's usage.
    pub fn turn_end_events(self) -> &'static [&'static str] {
        match self {
            Agent::Claude => &["Stop", "StopFailure", "SubagentStop"],
            Agent::Codex => &["Stop"],
            Agent::Gemini => &["AfterAgent"],
            Agent::Copilot => &["agentStop"],
        }
    }

    /// Whether the agent may run the same hook twice for one event (from a user and a
    /// repository hook file), so that emit must drop the second run. Claude Code and
    /// Gemini CLI run identical commands once.
    pub fn runs_duplicate_hooks(self) -> bool {
        self == Agent::Copilot
    }
}

/// The usage fields of a queued turn-end event, read from its agent's own records.
pub fn read_usage(source: &UsageSource) -> Option<Map<String, Value>> {
    let path = std::path::Path::new(&source.transcript_path);
    let usage = match source.agent.as_deref().and_then(Agent::from_name) {
        Some(Agent::Codex) => crate::codex::rollout::turn_usage(path, source.turn_id.as_deref()?)?,
        Some(Agent::Gemini) => crate::gemini::chat::turn_usage(path, source.event_ms)?,
        Some(Agent::Copilot) => crate::copilot::events::turn_usage(path, source.event_ms)?,
        Some(Agent::Claude) | None => return crate::claude::transcript::read_usage(source),
    };
    Some(usage.to_fields(source.event_ms))
}
