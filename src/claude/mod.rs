//! What telemhq knows about Claude Code: settings layers, hook blocks, transcripts.
pub mod hooks;
pub mod settings;
pub mod transcript;
