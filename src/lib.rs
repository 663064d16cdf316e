//! telemhq: metadata-only TelemHQ pings for Claude Code, and the tools that set them up.
#![forbid(unsafe_code)]
pub mod claude;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod ping;
pub mod term;
pub mod time;

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
