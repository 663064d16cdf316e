//! What telemhq knows about Claude Code: settings layers, hook blocks, transcripts.
pub mod hooks;
pub(crate) mod jsonedit;
pub mod settings;
pub mod settings_change;
pub mod transcript;
