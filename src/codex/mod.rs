//! What telemhq knows about OpenAI's Codex CLI: its hooks in config.toml (with their
//! trust), and its rollout files (where a turn's usage is).
pub mod hooks;
pub mod rollout;
