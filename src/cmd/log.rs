//! `telemhq log`: recent events, each with the exact JSON that was or will be sent.

use crate::cli::LogArgs;
use crate::env::Env;
use crate::error::Result;
use crate::ping::queue::{self, State};

pub fn run(args: &LogArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    let entries = queue::all(&layout);
    if entries.is_empty() {
        crate::outln!("No events yet. They appear here once your agents run telemhq's hooks.");
        return Ok(0);
    }
    let skip = entries.len().saturating_sub(args.limit);
    for (state, entry) in &entries[skip..] {
        let event = entry
            .payload
            .get("event")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let when = match state {
            State::Delivered => entry.delivered_at.as_deref(),
            State::Failed => entry.failed_at.as_deref(),
            State::Pending => None,
        };
        let mut head = format!(
            "{}  {:<9}  {event}  {}",
            entry.queued_at,
            state.name(),
            entry.event_id
        );
        if let Some(status) = entry.http_status {
            head.push_str(&format!("  HTTP {status}"));
        }
        if let Some(when) = when {
            head.push_str(&format!("  ({} at {when})", state.name()));
        }
        match (&entry.ping_url, state) {
            (Some(url), _) => head.push_str(&format!("  -> {}", crate::config::mask_url(url))),
            (None, State::Pending) => head.push_str("  -> (no tracker yet)"),
            (None, _) => {}
        }
        if let Some(note) = &entry.note {
            head.push_str(&format!("  {note}"));
        }
        if let Some(models) = entry
            .payload
            .get("unpriced_models")
            .and_then(|v| v.as_array())
        {
            let names: Vec<&str> = models.iter().filter_map(|m| m.as_str()).collect();
            head.push_str(&format!(
                "  no cost: no price for {} (telemhq prices set MODEL …)",
                names.join(", ")
            ));
        }
        crate::outln!("{head}");
        crate::outln!(
            "  {}",
            serde_json::to_string(&entry.payload).expect("a payload serialises")
        );
    }
    Ok(0)
}
