//! What telemhq knows about Copilot CLI: its hook file, and usage from its session events.
pub mod events;
pub mod hooks;
