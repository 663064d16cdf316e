//! telemhq: metadata-only TelemHQ pings for coding agents' turns, and the tools that set
//! them up.
//!
//! Layers, each using only those below it: `cmd` (one module per command) on top; then
//! `transaction` (install and uninstall across files); `agents` (each agent one module,
//! listed once); `ping` (payload, queue, sender) and `hookfile` (the hook-file formats,
//! pure editors); and the ground floor (`config`, `env`, `error`, `fsutil`, `gitindex`, `jsonfile`,
//! `prices`, `store`, `term`, `time`, `usage`).
#![forbid(unsafe_code)]
// Public: what the binary and the integration tests use; the rest is the crate's own,
// so that the compiler reports what nothing uses.
pub mod agents;
mod budget;
pub mod cli;
pub mod cmd;
mod config;
pub mod env;
mod error;
mod fsutil;
mod gitindex;
pub mod hookfile;
pub mod jsonfile;
mod ping;
/// OTLP's messages as telemhq sends them (the tests decode what a collector forwards).
pub use ping::otlp;
mod prices;
mod quota;
pub mod store;
mod table;
mod term;
mod time;
pub mod transaction;
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
