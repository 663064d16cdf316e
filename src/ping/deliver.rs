//! Delivery: POST each pending event to the ping URL, oldest first, over one reused
//! connection, with timeouts, retries with backoff and jitter, and a record of why.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::env::Layout;
use crate::fsutil;
use crate::ping::queue::{self, State};

/// What one POST came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered(u16),
    /// A 4xx other than 408 and 429: retrying will not help (wrong or revoked URL).
    Rejected(u16),
    /// Worth trying again: a network error, a timeout, 408, 429 or 5xx.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
}

/// Sorts an HTTP answer into what to do next.
pub fn classify(status: u16, retry_after: Option<&str>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered(status),
        408 | 429 | 500..=599 => Attempt::Retry {
            reason: format!("HTTP {status}"),
            after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(3600))),
        },
        _ => Attempt::Rejected(status),
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .user_agent(format!("telemhq/{}", env!("CARGO_PKG_VERSION")))
        .proxy(ureq::Proxy::try_from_env())
        .build()
        .new_agent()
}

pub fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Attempt {
    match agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
    {
        Ok(mut response) => {
            // Read the (small) answer to its end: only then does the connection go back
            // to the pool for the next event.
            let _ = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_vec();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            classify(response.status().as_u16(), retry_after.as_deref())
        }
        Err(err) => Attempt::Retry {
            reason: describe(&err),
            after: None,
        },
    }
}

/// A network error in words, for the debug line, flush and doctor.
pub fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".into()
        }
        ureq::Error::Io(e) => format!("network error: {e}"),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string(),
    }
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: usize,
    pub failed: Vec<(String, u16)>,
    pub pending: usize,
    pub last_error: Option<String>,
    pub no_url: bool,
    pub busy: bool,
}

/// The last delivery problem, for doctor.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LastError {
    pub at: String,
    pub reason: String,
    /// Unix ms before which the endpoint asked not to be called again (`Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<i64>,
}

impl LastError {
    pub fn load(layout: &Layout) -> Option<LastError> {
        serde_json::from_slice(&std::fs::read(Self::path(layout)).ok()?).ok()
    }

    pub fn path(layout: &Layout) -> std::path::PathBuf {
        layout.state_dir.join("last-error.json")
    }
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Backoff before retry number `n` (0-based): doubling from the base up to the cap, with
/// ±25 % jitter so that many machines do not retry in step.
fn backoff(n: u32) -> Duration {
    let base = env_ms("TELEMHQ_RETRY_BASE_MS", 1000);
    let cap = env_ms("TELEMHQ_RETRY_MAX_MS", 60_000);
    let raw = base.saturating_mul(1u32 << n.min(16)).min(cap);
    let jitter = u64::from(u16::from_le_bytes(fsutil::random_bytes::<2>())) % 500; // 0..500 per mille
    raw.mul_f64(0.75 + jitter as f64 / 1000.0)
}

/// Delivers pending events, oldest first, while this process holds the sender lock.
/// `persistent`: keep retrying with backoff for up to the sender's lifetime (the
/// background sender); otherwise stop at the first retryable failure (`flush`).
pub fn drain(layout: &Layout, url: Option<&str>, persistent: bool, debug: bool) -> Report {
    let mut report = Report::default();
    let Ok(Some(_lock)) = fsutil::lock_file(&layout.sender_lock, false) else {
        report.busy = true;
        report.pending = queue::list(&layout.queue).len();
        return report;
    };
    let Some(url) = url else {
        report.no_url = true;
        report.pending = queue::list(&layout.queue).len();
        return report;
    };
    let started = Instant::now();
    let lifetime = env_ms("TELEMHQ_SENDER_LIFETIME_MS", 15 * 60 * 1000);
    // A Retry-After from an earlier sender still holds.
    if let Some(until) = LastError::load(layout).and_then(|e| e.not_before_ms) {
        let wait = Duration::from_millis((until - crate::ping::payload::now_ms()).max(0) as u64);
        if !wait.is_zero() {
            if !persistent || wait > lifetime {
                report.last_error = Some(format!(
                    "the endpoint asked to wait until {}",
                    crate::ping::payload::rfc3339(until)
                ));
                report.pending = queue::list(&layout.queue).len();
                return report;
            }
            std::thread::sleep(wait);
        }
    }
    let agent = agent();
    let mut retries = 0u32;
    'outer: loop {
        let pending = queue::list(&layout.queue);
        if pending.is_empty() {
            break;
        }
        for path in pending {
            let Some(mut entry) = queue::read_entry(&path) else {
                let _ = std::fs::remove_file(&path); // unreadable: never blocks the queue
                continue;
            };
            if entry.usage_from.is_some() {
                add_usage(&path, &mut entry);
            }
            let body = serde_json::to_vec(&entry.payload).expect("a payload serialises");
            match post(&agent, url, &body) {
                Attempt::Delivered(_) => {
                    retries = 0;
                    report.delivered += 1;
                    let _ = queue::settle(layout, &path, entry, State::Delivered);
                }
                Attempt::Rejected(status) => {
                    report.failed.push((entry.event_id.clone(), status));
                    let reason = format!("HTTP {status}: the ping URL was refused");
                    note_error(layout, &reason, None, debug);
                    let mut entry = entry;
                    entry.http_status = Some(status);
                    let _ = queue::settle(layout, &path, entry, State::Failed);
                }
                Attempt::Retry { reason, after } => {
                    let not_before =
                        after.map(|a| crate::ping::payload::now_ms() + a.as_millis() as i64);
                    note_error(layout, &reason, not_before, debug);
                    report.last_error = Some(reason);
                    let wait = after.unwrap_or_else(|| backoff(retries));
                    if !persistent || started.elapsed() + wait > lifetime {
                        break 'outer;
                    }
                    std::thread::sleep(wait);
                    retries += 1;
                    continue 'outer;
                }
            }
        }
    }
    if report.delivered > 0 && report.last_error.is_none() {
        let _ = std::fs::remove_file(LastError::path(layout));
    }
    report.pending = queue::list(&layout.queue).len();
    report
}

/// Reads the turn's usage from the transcript into the payload, once, and keeps the
/// result in the queue, so that `log` shows what is sent. Waits until the event is a
/// moment old: Claude Code may still be writing the turn's last lines when its hook runs.
fn add_usage(path: &std::path::Path, entry: &mut queue::Entry) {
    let Some(source) = entry.usage_from.take() else {
        return;
    };
    let settle = env_ms("TELEMHQ_TRANSCRIPT_SETTLE_MS", 1000);
    let age =
        Duration::from_millis((crate::ping::payload::now_ms() - source.event_ms).max(0) as u64);
    if age < settle {
        std::thread::sleep(settle - age);
    }
    if let Some(fields) = crate::cmd::emit::read_usage(&source) {
        for (k, v) in fields {
            entry.payload.insert(k, v);
        }
    }
    let _ = queue::rewrite(path, entry);
}

fn note_error(layout: &Layout, reason: &str, not_before_ms: Option<i64>, debug: bool) {
    if debug {
        eprintln!("telemhq: ping not delivered: {reason}");
    }
    let record = LastError {
        at: crate::ping::payload::rfc3339_now(),
        reason: reason.to_string(),
        not_before_ms,
    };
    let _ = fsutil::write_private(
        &LastError::path(layout),
        &serde_json::to_vec(&record).expect("serialises"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_retry_or_not() {
        assert_eq!(classify(200, None), Attempt::Delivered(200));
        assert_eq!(classify(204, None), Attempt::Delivered(204));
        assert_eq!(classify(404, None), Attempt::Rejected(404));
        assert_eq!(classify(401, None), Attempt::Rejected(401));
        assert!(matches!(classify(500, None), Attempt::Retry { .. }));
        assert!(matches!(classify(503, None), Attempt::Retry { .. }));
        assert!(matches!(classify(408, None), Attempt::Retry { .. }));
        assert_eq!(
            classify(429, Some("7")),
            Attempt::Retry {
                reason: "HTTP 429".into(),
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(0);
        assert!(
            first >= Duration::from_millis(750) && first < Duration::from_millis(1250),
            "{first:?}"
        );
        let late = backoff(20);
        assert!(late <= Duration::from_secs(75), "{late:?}");
        assert!(late >= Duration::from_secs(45), "{late:?}");
    }
}
