//! What telemhq knows about Gemini CLI: its hook groups, and usage from its chat files.
pub mod chat;
pub mod hooks;
