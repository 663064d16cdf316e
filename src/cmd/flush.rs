//! `telemhq flush`: deliver what is queued now and say what happened; and `__send`, the
//! detached sender that emit starts.

use crate::agents;
use crate::env::Env;
use crate::error::Result;
use std::time::{Duration, Instant};

use crate::cli::FlushArgs;
use crate::ping::sender::{self, Patience};

pub fn run(args: &FlushArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    // Each event goes to the tracker decided when it was emitted (or, if none was, to its
    // folder's tracker now): this shell's environment changes nothing.
    let patience = match args.wait {
        Some(secs) => Patience::until(Instant::now() + Duration::from_secs(secs)),
        None => Patience::ONCE,
    };
    let report = sender::drain(&layout, patience, agents::read_usage);
    if report.arrived {
        // Queued while this flush held the lock: its emit started no sender.
        sender::start_detached(&layout);
    }
    // Events that wait for their folder's first tracker are where they should be: with
    // no account, the store is where events go.
    let waiting_for_tracker = report.no_url && report.last_error.is_none();
    let clean = !report.busy
        && report.failed.is_empty()
        && report.export_failed.is_empty()
        && report.export_pending == 0
        && (report.pending == 0 || waiting_for_tracker)
        && report.last_error.is_none();
    if args.json {
        let failed: Vec<serde_json::Value> = report
            .failed
            .iter()
            .map(|(id, why)| serde_json::json!({"event_id": id, "why": why}))
            .collect();
        let export_failed: Vec<serde_json::Value> = report
            .export_failed
            .iter()
            .map(|(id, why)| serde_json::json!({"event_id": id, "why": why}))
            .collect();
        crate::outln!(
            "{}",
            serde_json::json!({
                "delivered": report.delivered,
                "failed": failed,
                "pending": report.pending,
                "busy": report.busy,
                "no_tracker": report.no_url,
                "last_error": report.last_error,
                "otlp": {
                    "exported": report.exported,
                    "failed": export_failed,
                    "pending": report.export_pending,
                    "last_error": report.export_error,
                },
            })
        );
        let waited_in_vain = args.wait.is_some() && report.pending > 0;
        return Ok(if clean || (report.busy && !waited_in_vain) {
            0
        } else {
            1
        });
    }
    if report.busy {
        // Why it is still at it, as the last attempt found.
        let why = sender::LastError::load(&layout)
            .map(|e| format!(" (its last attempt: {})", e.reason))
            .unwrap_or_default();
        crate::outln!(
            "A background sender is delivering right now{why}; {} event(s) pending. `telemhq flush --wait 30` waits for its turn.",
            report.pending
        );
        return Ok(if args.wait.is_some() && report.pending > 0 {
            1
        } else {
            0
        });
    }
    crate::outln!("Delivered {} event(s).", report.delivered);
    for (id, why) in &report.failed {
        crate::outln!(
            "Refused for good by the tracker: {id} ({why}; check the ping URL with `telemhq doctor --ping`)."
        );
    }
    if report.exported > 0 {
        crate::outln!(
            "Exported {} event(s) to the OpenTelemetry Collector.",
            report.exported
        );
    }
    for (id, why) in &report.export_failed {
        crate::outln!(
            "Refused for good by the OpenTelemetry Collector: {id} ({why}; check its endpoint and headers with `telemhq doctor --ping`)."
        );
    }
    if report.export_pending > 0 {
        crate::outln!(
            "Export to the OpenTelemetry Collector still pending: {} event(s) ({}).",
            report.export_pending,
            report.export_error.as_deref().unwrap_or("not tried")
        );
    }
    if report.pending > 0 {
        let why = match (&report.last_error, report.no_url) {
            (Some(e), _) => e.as_str(),
            (None, true) => {
                "kept on this machine: no tracker is set for their folder; they go to the first \
                 one it gets (`telemhq install --global --ping-url URL`, or --repo in the \
                 repository)"
            }
            (None, false) => "not tried",
        };
        if waiting_for_tracker {
            crate::outln!("{} event(s) {why}.", report.pending);
        } else {
            crate::outln!(
                "Still pending: {} event(s) ({why}); they go out with the next emit or flush.",
                report.pending
            );
        }
    } else if let Some(problem) = &report.last_error {
        crate::outln!("{problem}");
    } else {
        crate::outln!("Nothing pending.");
    }
    Ok(if clean { 0 } else { 1 })
}

/// How long after its start the detached sender outlives a TERM: the agent that ran the
/// hook may end the hook's whole process tree as it exits (a headless run after an API
/// error does, milliseconds after its StopFailure hook starts), and the sender is in that
/// tree until emit has exited.
const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The detached sender emit starts: it never reports, it just delivers.
pub fn run_detached(env: &Env) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // A hang-up is nothing to a sender with no terminal. A TERM in its first seconds is
    // the agent's sweep of the hook's tree: outlived; later, it ends the sender.
    let armed = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGHUP,
        Arc::new(AtomicBool::new(false)),
    );
    if signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGTERM,
        128 + signal_hook::consts::SIGTERM,
        armed.clone(),
    )
    .is_ok()
    {
        std::thread::spawn(move || {
            std::thread::sleep(TERM_GRACE);
            armed.store(true, Ordering::Release);
        });
    }
    std::panic::set_hook(Box::new(|_| {}));
    let Ok(layout) = env.layout() else { return };
    sender::run_detached(&layout, agents::read_usage);
}
