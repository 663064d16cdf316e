//! Rendering doctor's checks: a checklist for people, or one JSON document.

use serde_json::{Value, json};

use super::{Report, Status};

pub(super) fn to_json(report: &Report) -> Value {
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    json!({
        "telemhq_version": env!("CARGO_PKG_VERSION"),
        "checks": report.checks,
        "summary": {"ok": count(Status::Ok), "info": count(Status::Info), "warn": count(Status::Warn), "fail": count(Status::Fail)},
        "delivery_verified": report.verified_delivery,
        "local_only": report.local_only,
    })
}

/// Doctor's findings for a person, each wrapped at spaces to `width` (None: unwrapped,
/// for a file or a pipe).
pub(super) fn render_human(report: &Report, colour: bool, width: Option<usize>) -> String {
    let paint = |s: Status, text: &str| -> String {
        if !colour {
            return text.to_string();
        }
        let code = match s {
            Status::Ok => "32",
            Status::Info => "2",
            Status::Warn => "33",
            Status::Fail => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let mut out = String::new();
    let mut group = "";
    for c in &report.checks {
        if c.group != group {
            group = c.group;
            out.push_str(&format!(
                "{}{group}\n",
                if out.is_empty() { "" } else { "\n" }
            ));
        }
        let mark = match c.status {
            Status::Ok => "✓",
            Status::Info => "·",
            Status::Warn => "⚠",
            Status::Fail => "✗",
        };
        let message = indented(&c.message, width, 4);
        out.push_str(&format!("  {} {message}\n", paint(c.status, mark)));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      fix: {}\n", indented(fix, width, 11)));
        }
    }
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    let (fails, warns) = (count(Status::Fail), count(Status::Warn));
    // "Pings will arrive" only once a ping was seen to arrive.
    let summary = match (fails, warns, &report.verified_delivery) {
        (0, 0, _) if report.local_only => {
            "No problems found. No tracker is set: every event stays on this machine \
             (`telemhq report` shows them)."
                .to_string()
        }
        (0, 0, Some(seen)) => format!("All good: pings will arrive ({seen})."),
        (0, 0, None) => "No problems found, but no ping has been seen to arrive yet: \
                         `telemhq doctor --ping` sends a test ping to verify the endpoint."
            .to_string(),
        (0, w, _) => format!("No problems that stop pings; {w} warning(s)."),
        (f, w, _) => format!("{f} problem(s) stop pings from arriving; {w} warning(s)."),
    };
    out.push_str(&format!("\n{}\n", crate::table::wrap(&summary, width)));
    out
}

/// `text` wrapped to fit after a margin of `margin` columns, its later lines indented
/// by that margin.
fn indented(text: &str, width: Option<usize>, margin: usize) -> String {
    let inner = width.map(|w| w.saturating_sub(margin).max(20));
    crate::table::wrap(text, inner).replace('\n', &format!("\n{}", " ".repeat(margin)))
}
