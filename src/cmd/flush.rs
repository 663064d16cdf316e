//! `telemhq flush`: deliver what is queued now and say what happened; and `__send`, the
//! detached sender that emit starts.

use crate::claude::transcript;
use crate::config::{self, Config};
use crate::env::Env;
use crate::error::Result;
use crate::ping::sender;

pub fn run(env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    let config = Config::load(&layout)?;
    let url = config::effective_ping_url(env.ping_url.as_deref(), &config);
    let report = sender::drain(&layout, url.as_deref(), false, transcript::read_usage);
    if report.busy {
        crate::outln!(
            "A background sender is delivering right now; {} event(s) pending. Try again in a moment.",
            report.pending
        );
        return Ok(0);
    }
    if report.no_url {
        crate::outln!(
            "No ping URL is set: {} event(s) wait in the queue. Set one with `telemhq install --global --ping-url URL`.",
            report.pending
        );
        return Ok(1);
    }
    crate::outln!("Delivered {} event(s).", report.delivered);
    for (id, why) in &report.failed {
        crate::outln!("Failed for good: {id} ({why}; check it with `telemhq doctor --ping`).");
    }
    if report.pending > 0 {
        let why = report.last_error.as_deref().unwrap_or("not tried");
        crate::outln!(
            "Still pending: {} event(s) ({why}); they go out with the next emit or flush.",
            report.pending
        );
    } else if let Some(problem) = &report.last_error {
        crate::outln!("{problem}");
    } else {
        crate::outln!("Nothing pending.");
    }
    let clean = report.failed.is_empty() && report.pending == 0 && report.last_error.is_none();
    Ok(if clean { 0 } else { 1 })
}

/// The detached sender emit starts: it never reports, it just delivers.
pub fn run_detached(env: &Env) {
    std::panic::set_hook(Box::new(|_| {}));
    let Ok(layout) = env.layout() else { return };
    let config = Config::load(&layout).unwrap_or_default();
    let url = config::effective_ping_url(env.ping_url.as_deref(), &config);
    sender::run_detached(&layout, url.as_deref(), transcript::read_usage);
}
