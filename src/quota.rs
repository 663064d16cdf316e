//! The agents' quota windows as they were last seen (Claude Code's 5-hour and 7-day
//! windows from its status line), and how they went: numbers only, kept in telemhq's
//! private folder, for `report quota`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::Layout;

/// One quota window as an agent shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// `five_hour`, `seven_day`.
    pub name: &'static str,
    pub used_percent: f64,
    /// When it resets (Unix ms), where given.
    pub resets_ms: Option<i64>,
}

/// One window as seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// The agent (`claude-code`).
    pub agent: String,
    /// `five_hour`, `seven_day`.
    pub window: String,
    pub used_percent: f64,
    /// When it resets, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    /// When it was seen, RFC 3339.
    pub at: String,
}

fn latest_path(layout: &Layout) -> std::path::PathBuf {
    layout.state_dir.join("quota.json")
}

fn history_path(layout: &Layout) -> std::path::PathBuf {
    layout.state_dir.join("quota-history.jsonl")
}

/// The history is kept to about this size (the older half goes).
const HISTORY_MAX: usize = 512 * 1024;

/// The latest of each agent's windows.
pub fn latest(layout: &Layout) -> Vec<Seen> {
    crate::fsutil::read_regular_bounded(&latest_path(layout), 1 << 20)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Every change seen, oldest first.
pub fn history(layout: &Layout) -> Vec<Seen> {
    crate::fsutil::read_regular_bounded(&history_path(layout), 4 * HISTORY_MAX as u64)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps what an agent showed of its windows now, where it changed (the status line
/// runs after every turn: most calls write nothing). Only into telemhq's private folder
/// when it is there; never an error.
pub fn record(layout: &Layout, agent: &str, windows: &[Window], now_ms: i64) {
    if !layout.state_dir.is_dir() {
        return;
    }
    let mut latest = latest(layout);
    let mut changed = Vec::new();
    let mut stale = false;
    for w in windows {
        let seen = Seen {
            agent: agent.to_string(),
            window: w.name.to_string(),
            used_percent: (w.used_percent * 10.0).round() / 10.0,
            resets_at: w.resets_ms.map(crate::time::rfc3339),
            at: crate::time::rfc3339(now_ms),
        };
        match latest
            .iter_mut()
            .find(|s| s.agent == seen.agent && s.window == seen.window)
        {
            Some(old)
                if old.used_percent == seen.used_percent && old.resets_at == seen.resets_at =>
            {
                // Unchanged: when it was seen last is kept in the latest only, and
                // written at most once a minute.
                let then = crate::time::parse_rfc3339_ms(&old.at).unwrap_or(0);
                if now_ms - then >= 60_000 {
                    old.at = seen.at.clone();
                    stale = true;
                }
            }
            Some(old) => {
                *old = seen.clone();
                changed.push(seen);
            }
            None => {
                latest.push(seen.clone());
                changed.push(seen);
            }
        }
    }
    if changed.is_empty() && !stale {
        return;
    }
    let Ok(text) = serde_json::to_vec(&latest) else {
        return;
    };
    let _ = crate::fsutil::write_private(&latest_path(layout), &text);
    if changed.is_empty() {
        return;
    }
    let mut lines =
        crate::fsutil::read_regular_bounded(&history_path(layout), 4 * HISTORY_MAX as u64)
            .unwrap_or_default();
    for s in changed {
        if let Ok(Value::Object(o)) = serde_json::to_value(&s) {
            lines.extend_from_slice(Value::Object(o).to_string().as_bytes());
            lines.push(b'\n');
        }
    }
    if lines.len() > HISTORY_MAX {
        let cut = lines.len() - HISTORY_MAX / 2;
        let from = lines[cut..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(lines.len(), |i| cut + i + 1);
        lines.drain(..from);
    }
    let _ = crate::fsutil::write_private(&history_path(layout), &lines);
}
