//! telemhq: metadata-only TelemHQ pings for Claude Code, and the tools that set them up.
#![forbid(unsafe_code)]
// Public: what the binary and the integration tests use; the rest is the crate's own,
// so that the compiler reports what nothing uses.
pub mod agent;
pub mod claude;
pub mod cli;
pub mod cmd;
pub mod codex;
mod config;
pub mod copilot;
pub mod env;
mod error;
mod fsutil;
pub mod gemini;
pub mod hook_groups;
mod jsonedit;
pub mod jsonfile;
mod ping;
pub mod settings_change;
mod term;
mod time;
mod usage;

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
