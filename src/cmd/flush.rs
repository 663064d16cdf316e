//! `telemhq flush`: deliver what is queued now and say what happened; and the detached
//! background sender that emit starts.

use crate::config::{self, Config};
use crate::env::Env;
use crate::error::Result;
use crate::ping::{deliver, queue};

pub fn run(env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    let config = Config::load(&layout)?;
    let url = config::effective_ping_url(env.ping_url.as_deref(), &config);
    let report = deliver::drain(&layout, url.as_deref(), false, false);
    if report.busy {
        println!(
            "A background sender is delivering right now; {} event(s) pending. Try again in a moment.",
            report.pending
        );
        return Ok(0);
    }
    if report.no_url {
        println!(
            "No ping URL is set: {} event(s) wait in the queue. Set one with `telemhq install --global --ping-url URL`.",
            report.pending
        );
        return Ok(1);
    }
    println!("Delivered {} event(s).", report.delivered);
    for (id, status) in &report.failed {
        println!(
            "Failed for good: {id} (HTTP {status}: the ping URL was refused; check it with `telemhq doctor --ping`)."
        );
    }
    if report.pending > 0 {
        let why = report.last_error.as_deref().unwrap_or("not tried");
        println!(
            "Still pending: {} event(s) ({why}); they go out with the next emit or flush.",
            report.pending
        );
    } else {
        println!("Nothing pending.");
    }
    Ok(if report.failed.is_empty() && report.pending == 0 {
        0
    } else {
        1
    })
}

/// The detached sender: drains with retries and backoff, then looks once more, so that
/// an event queued while it held the lock is never left behind.
pub fn run_background(env: &Env) {
    std::panic::set_hook(Box::new(|_| {}));
    let Ok(layout) = env.layout() else { return };
    let config = Config::load(&layout).unwrap_or_default();
    let url = config::effective_ping_url(env.ping_url.as_deref(), &config);
    loop {
        let report = deliver::drain(&layout, url.as_deref(), true, false);
        if report.busy
            || report.no_url
            || report.last_error.is_some()
            || queue::list(&layout.queue).is_empty()
        {
            return;
        }
    }
}
