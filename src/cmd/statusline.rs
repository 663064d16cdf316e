//! `telemhq statusline`: Claude Code's status line command. Claude Code runs it after
//! every turn with a JSON document on stdin (the model, the session's cost and, on
//! subscriptions, `rate_limits`); it prints one line: the model, the session's cost,
//! today's cost across every agent (the local store, in local time), the 5-hour and 7-day
//! quota, and the tightest budget. It always exits 0 and never prints an error: bad,
//! empty or endless input, or a store it cannot read, give a shorter line. It keeps the
//! quota it was given (`report quota`).

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use crate::env::Env;
use crate::quota::Window;
use crate::store::Store;

/// The most of stdin read: Claude Code's document is a few KiB.
const MAX_INPUT: u64 = 1 << 20;
/// How long stdin is waited for: a writer that never closes it does not hold the line.
const INPUT_WAIT: Duration = Duration::from_millis(500);
/// How long a writer holding the store is waited for.
const STORE_WAIT: Duration = Duration::from_millis(200);

pub fn run(env: &Env) -> i32 {
    let input = read_input();
    let doc: Option<Value> = serde_json::from_slice(&input).ok();
    let now_ms = crate::time::now_ms();
    let line = line(doc.as_ref(), env, now_ms, colour());
    crate::outln!("{line}");
    0
}

/// Stdin, at most `MAX_INPUT` bytes, or what came within `INPUT_WAIT`.
fn read_input() -> Vec<u8> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::stdin()
            .lock()
            .take(MAX_INPUT)
            .read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx.recv_timeout(INPUT_WAIT).unwrap_or_default()
}

/// Colour, unless `NO_COLOR` asks for none or the terminal cannot show it (Claude Code
/// shows the line's ANSI colours).
fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// The quota windows of a statusLine document (numbers only).
pub fn windows(doc: &Value) -> Vec<Window> {
    ["five_hour", "seven_day"]
        .into_iter()
        .filter_map(|name| {
            let w = doc.get("rate_limits")?.get(name)?;
            let used = w
                .get("used_percentage")
                .and_then(Value::as_f64)
                .filter(|p| p.is_finite() && (0.0..=1000.0).contains(p))?;
            let resets_ms = match w.get("resets_at") {
                // Seconds (or milliseconds) since the epoch, or RFC 3339.
                Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).map(|v| {
                    if v > 1e12 {
                        v as i64
                    } else {
                        (v * 1000.0) as i64
                    }
                }),
                Some(Value::String(s)) => crate::time::parse_rfc3339_ms(s),
                _ => None,
            };
            Some(Window {
                name,
                used_percent: used,
                resets_ms,
            })
        })
        .collect()
}

/// `2h10m`, `3d4h`, `45m`, `now`.
fn until(ms: i64) -> String {
    let m = ms.max(0) / 60_000;
    match m {
        0 => "now".into(),
        m if m < 60 => format!("{m}m"),
        m if m < 24 * 60 => format!("{}h{:02}m", m / 60, m % 60),
        m => format!("{}d{}h", m / (24 * 60), (m / 60) % 24),
    }
}

fn paint(colour: bool, code: &str, text: String) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text
    }
}

/// The status line for a document (None: unreadable input) at `now_ms`.
pub fn line(doc: Option<&Value>, env: &Env, now_ms: i64, colour: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(doc) = doc {
        let model = doc
            .get("model")
            .and_then(|m| m.get("display_name").or_else(|| m.get("id")))
            .and_then(Value::as_str)
            .map(|m| crate::term::safe(&m.chars().take(40).collect::<String>()))
            .filter(|m| !m.trim().is_empty());
        if let Some(m) = model {
            parts.push(m);
        }
        if let Some(c) = doc
            .get("cost")
            .and_then(|c| c.get("total_cost_usd"))
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0)
        {
            parts.push(format!("session {}", crate::table::dollars(c)));
        }
    }
    let layout = env.layout().ok();
    // The store and the budgets: what cannot be read is left out of the line.
    let store = layout
        .as_ref()
        .and_then(|l| Store::open_existing_waiting(l, STORE_WAIT).ok());
    let tz = jiff::tz::TimeZone::system();
    if let Some(store) = &store {
        let today = crate::budget::Period::Daily.start(now_ms, &tz);
        let spent = match store {
            Some(s) => s.cost_between(today, i64::MAX, None, None).ok(),
            None => Some(0.0),
        };
        if let Some(spent) = spent {
            parts.push(format!("today {}", crate::table::dollars(spent)));
        }
    }
    if let Some(doc) = doc {
        let windows = windows(doc);
        for w in &windows {
            let label = if w.name == "five_hour" { "5h" } else { "7d" };
            let mut text = format!("{label} {:.0}%", w.used_percent);
            if let Some(at) = w.resets_ms {
                text.push_str(&format!(" ↻{}", until(at - now_ms)));
            }
            let code = match w.used_percent {
                p if p >= 90.0 => "31",
                p if p >= 70.0 => "33",
                _ => "32",
            };
            parts.push(paint(colour, code, text));
        }
        if let (Some(layout), false) = (&layout, windows.is_empty()) {
            crate::quota::record(layout, "claude-code", &windows, now_ms);
        }
    }
    if let (Some(layout), Some(store)) = (&layout, &store)
        && let Ok(config) = crate::config::Config::load(layout)
        && !config.budgets.is_empty()
        && let Some(states) = crate::budget::states(store.as_ref(), &config.budgets, now_ms, &tz)
        && let Some(tight) = crate::budget::tightest(&states)
    {
        let label = tight.budget.label();
        let text = if tight.exceeded() {
            paint(
                colour,
                "31",
                format!(
                    "{label} budget passed: {} of {}",
                    crate::table::dollars(tight.spent),
                    crate::table::dollars(tight.budget.usd)
                ),
            )
        } else {
            let code = if tight.share() >= 0.8 { "33" } else { "32" };
            paint(
                colour,
                code,
                format!("{label} budget {:.0}%", tight.share() * 100.0),
            )
        };
        parts.push(text);
    }
    if parts.is_empty() {
        return "telemhq".into();
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_windows_take_seconds_milliseconds_or_rfc3339() {
        let doc = serde_json::json!({"rate_limits": {
            "five_hour": {"used_percentage": 42.5, "resets_at": 1_796_914_800},
            "seven_day": {"used_percentage": 15, "resets_at": "2026-12-10T15:00:00Z"}}});
        let w = windows(&doc);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].resets_ms, Some(1_796_914_800_000));
        assert_eq!(w[1].resets_ms, Some(1_796_914_800_000));
        assert_eq!(w[1].used_percent, 15.0);
        let odd = serde_json::json!({"rate_limits": {"five_hour": {"used_percentage": "lots"}}});
        assert!(windows(&odd).is_empty());
    }

    #[test]
    fn times_to_reset_read_short() {
        assert_eq!(until(-5), "now");
        assert_eq!(until(45 * 60_000), "45m");
        assert_eq!(until(130 * 60_000), "2h10m");
        assert_eq!(until((3 * 24 + 4) * 3_600_000), "3d4h");
    }
}
