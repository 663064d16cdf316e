//! Delivery: the queue, the sender, the last error; Claude Code's version; the test ping.

use super::super::facts::Facts;
use super::super::{AGENTS, DELIVERY, DOCTOR, PING, Report};
use crate::ping::deliver::Attempt;
use crate::ping::queue::State;
use crate::ping::sender;
use crate::time;

pub(super) fn check_delivery(facts: &Facts, report: &mut Report) {
    // A sender holds its lock for at most its lifetime; far longer means it is stuck
    // (and no other sender can deliver meanwhile).
    if let Some(holder) = facts.sender {
        let held_ms = facts.now_ms - holder.since_ms;
        let limit = sender::lifetime().as_millis() as i64 + 5 * 60 * 1000;
        if held_ms > limit {
            report.fail(
                DELIVERY,
                "sender.stuck",
                format!(
                    "a background sender (pid {}) has held the delivery lock since {} ({}), far longer than a sender runs: nothing is delivered meanwhile",
                    holder.pid,
                    time::rfc3339(holder.since_ms),
                    human_age(held_ms)
                ),
                format!("kill {} (the next emit or telemhq flush starts a new sender)", holder.pid),
            );
        }
    }
    let entries = &facts.queue;
    let pending: Vec<_> = entries
        .iter()
        .filter(|(s, _)| *s == State::Pending)
        .collect();
    match pending.first() {
        None => report.ok(DELIVERY, "queue.pending", "no events waiting in the queue"),
        Some((_, oldest)) => {
            let age = crate::time::parse_rfc3339_ms(&oldest.queued_at)
                .map(|t| facts.now_ms - t)
                .unwrap_or(0);
            let message = format!(
                "{} event(s) waiting; the oldest since {} ({})",
                pending.len(),
                oldest.queued_at,
                human_age(age)
            );
            if age > 10 * 60 * 1000 {
                report.warn(
                    DELIVERY,
                    "queue.pending",
                    message,
                    "telemhq flush (it says why they are not going out)",
                );
            } else {
                report.ok(DELIVERY, "queue.pending", message);
            }
        }
    }
    let failed: Vec<_> = entries
        .iter()
        .filter(|(s, _)| *s == State::Failed)
        .collect();
    if let Some((_, last)) = failed.last() {
        let status = last.http_status.map_or("?".to_string(), |s| s.to_string());
        let why = last
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        report.fail(
            DELIVERY,
            "queue.failed",
            format!("{} event(s) refused for good, the last with HTTP {status} at {}{why}", failed.len(), last.failed_at.as_deref().unwrap_or("?")),
            "check the ping URL (telemhq doctor --ping); a 401/403/404 means a wrong or revoked URL: telemhq install --global --ping-url URL",
        );
    } else {
        report.ok(DELIVERY, "queue.failed", "no events refused by the tracker");
    }
    // The OpenTelemetry Collector, on its own: its refusals are not the tracker's.
    let refused_exports: Vec<_> = entries
        .iter()
        .filter(|(_, e)| {
            e.otlp_done
                .as_deref()
                .is_some_and(|d| d.starts_with("failed"))
        })
        .collect();
    if let Some((_, last)) = refused_exports.last() {
        report.fail(
            DELIVERY,
            "export.failed",
            format!(
                "{} event(s) refused by the OpenTelemetry Collector, the last: {}",
                refused_exports.len(),
                last.otlp_done.as_deref().unwrap_or("?")
            ),
            "check the collector's endpoint and headers (telemhq doctor --ping sends a test export)",
        );
    }
    let exports_waiting = pending
        .iter()
        .any(|(_, e)| e.otlp.is_some() && e.otlp_done.is_none());
    if let Some(last) = &facts.last_export_error
        && exports_waiting
    {
        report.warn(
            DELIVERY,
            "export.last_error",
            format!(
                "the last export to the OpenTelemetry Collector failed at {}: {}",
                last.at, last.reason
            ),
            "telemhq doctor --ping to test the collector; telemhq flush to retry now",
        );
    }
    let dropped = facts.dropped;
    if dropped.total > 0 || dropped.exports > 0 {
        report.warn(
            DELIVERY,
            "queue.dropped",
            format!(
                "dropped because the queue was full before they went out: {} ping(s), {} export(s) to the OpenTelemetry Collector",
                dropped.total, dropped.exports
            ),
            "make sure pings and exports can go out (telemhq flush); the queue keeps the newest 1000",
        );
    } else {
        report.ok(
            DELIVERY,
            "queue.dropped",
            "no events dropped at the queue's bound",
        );
    }
    // (An event with no tracker that went only to a collector is no ping.)
    if let Some((_, last)) = entries
        .iter()
        .rev()
        .find(|(s, e)| *s == State::Delivered && e.ping_done.as_deref() != Some("none"))
    {
        report.verified_delivery = Some(format!(
            "the last ping was delivered at {}",
            last.delivered_at.as_deref().unwrap_or("?")
        ));
        report.ok(
            DELIVERY,
            "last_delivered",
            format!(
                "last ping delivered at {}",
                last.delivered_at.as_deref().unwrap_or("?")
            ),
        );
    } else {
        report.info(DELIVERY, "last_delivered", "no ping delivered yet");
    }
    if let Some(last) = &facts.last_error
        && pending.iter().any(|(_, e)| e.ping_done.is_none())
    {
        report.warn(
            DELIVERY,
            "last_error",
            format!(
                "the last delivery attempt failed at {}: {}",
                last.at, last.reason
            ),
            "telemhq doctor --ping to test the endpoint; telemhq flush to retry now",
        );
    }
}

fn human_age(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        ..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

/// The local store: readable, and written without trouble.
pub(super) fn check_store(facts: &Facts, report: &mut Report) {
    let path = crate::term::path(&crate::store::path(&facts.layout));
    match &facts.store {
        Ok(None) => report.info(DELIVERY, "store", "no local store yet: it starts with the first event"),
        Ok(Some(n)) => report.ok(DELIVERY, "store", format!("the local store {path} holds {n} event(s)")),
        Err(why) => report.warn(
            DELIVERY,
            "store",
            format!("{why}: hooks and delivery go on, but `telemhq report` and `log` cannot read it"),
            format!("move {path} aside (a new one starts with the next event), then `telemhq import` to fill it again from your agents' history"),
        ),
    }
    if let Some(why) = &facts.store_write_error {
        report.warn(
            DELIVERY,
            "store.write",
            match why.split_once(' ') {
                Some((at, reason)) => {
                    format!("the local store could not keep an event (at {at}): {reason}")
                }
                None => format!("the local store could not keep an event: {why}"),
            },
            "check the disk has room and no other program holds the store; nothing else is affected",
        );
    }
}

/// Models of recent turns without a price: their turns went out without a cost.
pub(super) fn check_prices(facts: &Facts, report: &mut Report) {
    let mut unpriced: Vec<String> = Vec::new();
    for (_, entry) in &facts.queue {
        for m in entry
            .payload
            .get("unpriced_models")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
        {
            if !unpriced.iter().any(|u| u == m) {
                unpriced.push(m.to_string());
            }
        }
    }
    if unpriced.is_empty() {
        return;
    }
    let names: Vec<String> = unpriced.iter().map(|m| crate::term::safe(m)).collect();
    report.warn(
        DELIVERY,
        "cost.unpriced",
        format!(
            "no price for {}: their turns are sent without cost_usd (never as $0)",
            names.join(", ")
        ),
        format!(
            "telemhq prices {} shows how the name was looked up; telemhq prices set MODEL --input USD --output USD prices it yourself",
            names[0]
        ),
    );
}

/// Information: which agents are here, and Claude Code's version.
pub(super) fn check_agents(facts: &Facts, report: &mut Report) {
    let found: Vec<String> = facts
        .found
        .iter()
        .map(|(a, seen)| format!("{} ({})", a.display_name(), crate::term::safe(seen)))
        .collect();
    if found.is_empty() {
        report.info(
            AGENTS,
            "agents",
            "none of the agents telemhq serves was found here",
        );
    } else {
        report.info(AGENTS, "agents", format!("found {}", found.join(", ")));
    }
    if let Some((path, version)) = &facts.claude {
        report.info(
            AGENTS,
            "claude",
            format!("Claude Code {version} at {}", crate::term::path(path)),
        );
    }
}

/// What doctor did not finish within its time budget: said, never waited for.
pub(super) fn check_budget(facts: &Facts, report: &mut Report) {
    if facts.unfinished.is_empty() {
        return;
    }
    report.warn(
        DOCTOR,
        "doctor.unfinished",
        format!(
            "not checked within doctor's time budget: {}",
            facts.unfinished.join("; ")
        ),
        "run telemhq doctor again (a slow hook link target, disk or a very large repository takes longer)",
    );
}

/// The OpenTelemetry Collector: where events are exported, and with `--ping` what a test
/// export got.
pub(super) fn check_otlp(facts: &Facts, report: &mut Report) {
    let Some(endpoint) = &facts.otlp else {
        return;
    };
    match &facts.test_export {
        None => report.info(
            DELIVERY,
            "otlp",
            format!("every event is also exported to the OpenTelemetry Collector at {endpoint} (telemhq doctor --ping tests it)"),
        ),
        Some(Ok((masked, Attempt::Delivered(s), ms))) => report.ok(
            DELIVERY,
            "otlp",
            format!("test export to {masked}: HTTP {s} in {ms} ms"),
        ),
        Some(Ok((masked, attempt, _))) => {
            let why = match attempt {
                Attempt::Retry { reason, .. } => reason.clone(),
                other => other.refusal().unwrap_or_default(),
            };
            report.fail(
                DELIVERY,
                "otlp",
                format!("test export to {masked}: {why}"),
                "check the collector is up and its OTLP/HTTP port and headers: telemhq install --global --otlp-endpoint URL [--otlp-header KEY=VALUE]",
            )
        }
        Some(Err(why)) => report.fail(
            DELIVERY,
            "otlp",
            why.clone(),
            "telemhq install --global --otlp-endpoint URL",
        ),
    }
}

pub(super) fn check_ping(facts: &Facts, report: &mut Report) {
    let Some(test) = &facts.test_ping else { return };
    let (masked, attempt, ms) = match test {
        Ok(sent) => sent,
        Err(why) => {
            report.fail(
                PING,
                "ping",
                why.clone(),
                "telemhq install --global --ping-url URL",
            );
            return;
        }
    };
    match attempt {
        Attempt::Delivered(s) => {
            report.verified_delivery = Some(format!("the test ping was answered with HTTP {s}"));
            report.ok(PING, "ping", format!("test ping to {masked}: HTTP {s} in {ms} ms"))
        }
        Attempt::Redirected { .. } => report.fail(
            PING,
            "ping",
            format!("test ping to {masked}: {}", attempt.refusal().unwrap_or_default()),
            "copy the ping URL again from your TelemHQ job: telemhq install --global --ping-url URL",
        ),
        Attempt::Rejected(s) => report.fail(
            PING,
            "ping",
            format!("test ping to {masked}: HTTP {s}: the endpoint refused it, so the URL is wrong or its token was revoked"),
            "copy the ping URL again from your TelemHQ job: telemhq install --global --ping-url URL",
        ),
        Attempt::Retry { reason, .. } => {
            let why = if reason.starts_with("HTTP 5") {
                "the TelemHQ endpoint has a problem on its side; queued events are retried"
            } else if reason.contains("timed out") {
                "no answer in time: a firewall, a proxy (HTTPS_PROXY) or the endpoint is slow"
            } else if reason.to_ascii_lowercase().contains("tls") || reason.to_ascii_lowercase().contains("certificate") {
                "TLS failed: a proxy that intercepts HTTPS, or a wrong system clock"
            } else if reason.to_ascii_lowercase().contains("proxy") {
                "the proxy from HTTPS_PROXY/ALL_PROXY refused or failed"
            } else {
                "the endpoint could not be reached"
            };
            report.fail(PING, "ping", format!("test ping to {masked} after {ms} ms: {reason}: {why}"), "check the network and proxy settings, then run telemhq doctor --ping again");
        }
    }
}

/// Spending limits: a warning for each one passed in its period so far.
pub(super) fn check_budgets(facts: &Facts, report: &mut Report) {
    let Some(states) = &facts.budgets else {
        if facts.config.as_ref().is_ok_and(|c| !c.budgets.is_empty()) {
            report.info(
                DELIVERY,
                "budget",
                "the budgets cannot be checked: the local store cannot be read",
            );
        }
        return;
    };
    if states.is_empty() {
        return;
    }
    let dollars = crate::table::dollars;
    let passed: Vec<&crate::budget::State> = states.iter().filter(|s| s.exceeded()).collect();
    if passed.is_empty() {
        let shown: Vec<String> = states
            .iter()
            .map(|s| {
                format!(
                    "{} {} of {}",
                    s.budget.label(),
                    dollars(s.spent),
                    dollars(s.budget.usd)
                )
            })
            .collect();
        report.ok(
            DELIVERY,
            "budget",
            format!("within every budget: {}", shown.join("; ")),
        );
        return;
    }
    for s in passed {
        report.warn(
            DELIVERY,
            "budget",
            format!(
                "the {} budget is passed: {} spent this {}, the limit is {}",
                s.budget.label(),
                dollars(s.spent),
                s.budget.period.noun(),
                dollars(s.budget.usd)
            ),
            format!(
                "`telemhq report --since {}` shows where it went; `telemhq budget set --{} USD` changes the limit",
                crate::time::rfc3339(s.since_ms).get(..10).unwrap_or("0d"),
                s.budget.period.name()
            ),
        );
    }
}
