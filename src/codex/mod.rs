//! What telemhq knows about OpenAI's Codex CLI: its rollout files (where a turn's usage is).
pub mod rollout;
