//! The sender: delivers queued events oldest first over one reused connection, with
//! retries, backoff and a record of why; started detached by emit, run in the
//! foreground by `telemhq flush`. One sender at a time (a lock whose file says who
//! holds it since when, for doctor).

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use std::collections::HashSet;

use crate::config::{Config, PingUrl, Route, TrackerSource};
use crate::env::Layout;
use crate::fsutil;
use crate::ping::deliver::{self, Attempt};
use crate::ping::queue::{self, Dropped, State, UsageSource};
use crate::prices::Overrides;
use crate::usage::Turn;

/// Reads a turn's usage from the agent's records (the layer above supplies it, so that
/// pings never depend on one agent's formats).
pub type ReadUsage = fn(&UsageSource) -> Option<Turn>;

/// What a drain did.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: usize,
    /// Events refused for good: (event id, why).
    pub failed: Vec<(String, String)>,
    pub pending: usize,
    pub last_error: Option<String>,
    pub no_url: bool,
    pub busy: bool,
    /// An event was queued while this drain held the lock, and it did not look at it.
    pub arrived: bool,
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
        serde_json::from_slice(&fsutil::read_regular(&Self::path(layout)).ok()?).ok()
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

/// How long one sender keeps retrying before it leaves the rest to the next one.
pub fn lifetime() -> Duration {
    env_ms("TELEMHQ_SENDER_LIFETIME_MS", 15 * 60 * 1000)
}

/// Backoff before retry number `n` (0-based): doubling from the base up to the cap, with
/// ±25 % jitter so that many machines do not retry in step.
fn backoff(n: u32) -> Duration {
    let base = env_ms("TELEMHQ_RETRY_BASE_MS", 1000);
    let cap = env_ms("TELEMHQ_RETRY_MAX_MS", 60_000);
    let raw = base.saturating_mul(1u32 << n.min(16)).min(cap);
    let jitter = fsutil::random_bytes::<2>()
        .map(|b| u64::from(u16::from_le_bytes(b)) % 500)
        .unwrap_or(250); // 0..500 per mille
    raw.mul_f64(0.75 + jitter as f64 / 1000.0)
}

/// The wait before the next try: what the endpoint asked for (`Retry-After`), but never
/// less than the backoff, so that `Retry-After: 0` cannot make a tight loop.
fn next_wait(asked: Option<Duration>, retries: u32) -> Duration {
    let floor = backoff(retries);
    asked.map_or(floor, |a| a.max(floor))
}

/// Who holds the sender lock, written into the lock file by the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub since_ms: i64,
}

/// Whether a sender runs now, and since when (None: no sender runs). Reads only.
pub fn running_sender(layout: &Layout) -> Option<Holder> {
    let file = fs::File::open(&layout.sender_lock).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(fs::TryLockError::WouldBlock) => {
            let text = fs::read_to_string(&layout.sender_lock).unwrap_or_default();
            let mut words = text.split_whitespace();
            Some(Holder {
                pid: words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
                since_ms: words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
            })
        }
        Err(fs::TryLockError::Error(_)) => None,
    }
}

/// How long a drain keeps at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Patience {
    /// Keep retrying with backoff for up to the sender's lifetime (the detached sender).
    pub persistent: bool,
    /// Keep retrying until then, waiting for a running sender to finish first, and never
    /// let one request run past it (`flush --wait`, emit in CI, `telemhq run`).
    pub deadline: Option<Instant>,
    /// Stop retrying when every failing tracker refused the connection (it is down, not
    /// slow): emit in CI leaves the event to the queue rather than wait out its budget.
    pub stop_when_refused: bool,
}

impl Patience {
    /// One pass, now (`flush`).
    pub const ONCE: Patience = Patience {
        persistent: false,
        deadline: None,
        stop_when_refused: false,
    };

    pub fn until(deadline: Instant) -> Patience {
        Patience {
            persistent: false,
            deadline: Some(deadline),
            stop_when_refused: false,
        }
    }

    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// Delivers pending events, oldest first, each to its own tracker, while this process
/// holds the sender lock. An invalid URL is never contacted; a tracker that fails is not
/// called again in the same pass, while the others' events still go.
pub fn drain(layout: &Layout, patience: Patience, read_usage: ReadUsage) -> Report {
    let mut report = Report::default();
    // Nothing was ever queued: nothing to do, and nothing to create.
    if !matches!(fsutil::check_private_dir(&layout.state_dir), Ok(Some(_))) {
        return report;
    }
    let pending_now = || queue::list(&layout.queue).len();
    if let Err(e) = fsutil::check_private_dir(&layout.queue) {
        report.last_error = Some(e.to_string());
        return report;
    }
    let lock = match take_lock(layout, patience) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            report.busy = true;
            report.pending = pending_now();
            return report;
        }
        Err(e) => {
            report.last_error = Some(e.to_string());
            report.pending = pending_now();
            return report;
        }
    };
    say_who_holds(&lock);
    let mut seen: HashSet<PathBuf> = queue::list(&layout.queue).into_iter().collect();
    drain_locked(layout, patience, read_usage, &mut report, &mut seen);
    queue::close_store();
    drop(lock);
    // Only now, with the lock let go: an emit that found it held started no sender, so
    // an event it queued while this drain ran is this drain's to hand on. (Looking
    // before letting go would miss one queued in between.)
    let pending = queue::list(&layout.queue);
    report.arrived = pending.iter().any(|p| !seen.contains(p));
    report.pending = pending.len();
    report
}

/// The body of a drain, while this process holds the sender lock; `seen` collects every
/// entry it looked at.
fn drain_locked(
    layout: &Layout,
    patience: Patience,
    read_usage: ReadUsage,
    report: &mut Report,
    seen: &mut HashSet<PathBuf>,
) {
    let persistent = patience.persistent || patience.deadline.is_some();
    queue::sweep_stale_temps(&layout.queue, Duration::from_secs(600));
    queue::sweep_markers(layout, Duration::from_secs(3600));
    let started = Instant::now();
    let lifetime = match patience.left() {
        Some(left) => left,
        None => lifetime(),
    };
    // A Retry-After from an earlier sender still holds, unless it is further ahead than
    // any endpoint may ask for (a clock that jumped back, a damaged record): that one
    // is ignored, so that nothing stops delivery for good.
    if let Some(until) = LastError::load(layout)
        .and_then(|e| e.not_before_ms)
        .filter(|until| {
            until - crate::time::now_ms() <= deliver::MAX_RETRY_AFTER.as_millis() as i64
        })
    {
        let wait = Duration::from_millis((until - crate::time::now_ms()).max(0) as u64);
        if !wait.is_zero() {
            if !persistent || wait > lifetime {
                report.last_error = Some(format!(
                    "the endpoint asked to wait until {}",
                    crate::time::rfc3339(until)
                ));
                return;
            }
            std::thread::sleep(wait);
        }
    }
    let mut retries = 0u32;
    loop {
        // No request may run past the deadline.
        let agent = deliver::agent(patience.left());
        let config = Config::load(layout).unwrap_or_default();
        // Trackers that failed in this pass, and how long the last one asked to wait.
        let mut failing: HashSet<String> = HashSet::new();
        let mut asked: Option<Duration> = None;
        let mut all_refused = true;
        report.no_url = false;
        // The bound, kept here rather than by the hook (see `queue::enqueue`).
        let _ = queue::trim(layout);
        for path in queue::list(&layout.queue) {
            seen.insert(path.clone());
            let Some(mut entry) = queue::read_entry(&path) else {
                // One of telemhq's entry names, but unreadable: never blocks the queue.
                let _ = fs::remove_file(&path);
                continue;
            };
            if entry.ping_done.is_some() {
                continue; // only its export is left (below)
            }
            if entry.otlp.is_some() && destination(&entry, &config).is_none() {
                // No tracker, but a collector: exported (below), it is done.
                if entry.usage_from.is_some() {
                    add_usage(&path, &mut entry, read_usage, &config.prices);
                }
                entry.ping_done = Some("none".into());
                let _ = queue::rewrite(&path, &entry);
                continue;
            }
            let Some(route) = destination(&entry, &config) else {
                // It waits for its folder's first tracker; meanwhile the store has it.
                report.no_url = true;
                if entry.usage_from.is_some() {
                    add_usage(&path, &mut entry, read_usage, &config.prices);
                }
                queue::remember_waiting(layout, &path, &mut entry);
                continue;
            };
            if failing.contains(&route.url) {
                continue;
            }
            let url = match PingUrl::parse(&route.url) {
                Ok(url) => url,
                Err(reason) if entry.ping_url.is_some() => {
                    // Emitted for this URL, which can never be contacted: failed for good.
                    report.failed.push((entry.event_id.clone(), reason.clone()));
                    entry.note = Some(reason);
                    ping_finished(layout, &path, entry, State::Failed);
                    continue;
                }
                Err(reason) => {
                    note_error(layout, &reason, None);
                    report.last_error = Some(reason);
                    failing.insert(route.url);
                    continue;
                }
            };
            if patience.left().is_some_and(|left| left.is_zero()) {
                break;
            }
            if entry.usage_from.is_some() {
                add_usage(&path, &mut entry, read_usage, &config.prices);
            }
            // Drops since the last delivered ping ride on this one.
            let drops = Dropped::load(layout).unreported;
            if drops > 0 {
                entry.payload.insert("dropped_events".into(), json!(drops));
            }
            let body = serde_json::to_vec(&entry.payload).expect("a payload serialises");
            let attempt = deliver::post(&agent, &url, &body);
            match &attempt {
                Attempt::Delivered(_) => {
                    report.delivered += 1;
                    let _ = queue::mark_drops_reported(layout, drops);
                    ping_finished(layout, &path, entry, State::Delivered);
                }
                Attempt::Rejected(status) | Attempt::Redirected { status, .. } => {
                    let reason = attempt.refusal().expect("a refusal");
                    note_error(layout, &reason, None);
                    report.failed.push((entry.event_id.clone(), reason.clone()));
                    entry.http_status = Some(*status);
                    entry.note = Some(reason);
                    ping_finished(layout, &path, entry, State::Failed);
                }
                Attempt::Retry { reason, after } => {
                    // Kept in the store meanwhile: a report counts it while it waits.
                    // (Before the error is noted: by then the entry is as it will stay.)
                    queue::remember_waiting(layout, &path, &mut entry);
                    all_refused &= reason == deliver::REFUSED;
                    let not_before = after.map(|a| crate::time::now_ms() + a.as_millis() as i64);
                    note_error(layout, reason, not_before);
                    report.last_error = Some(reason.clone());
                    asked = asked.max(*after);
                    failing.insert(route.url);
                }
            }
        }
        // The OpenTelemetry Collectors, in batches.
        let exporting = export(layout, &agent, read_usage, &config, report, patience);
        all_refused &= exporting.as_deref().is_none_or(|r| r == deliver::REFUSED);
        if (failing.is_empty() && exporting.is_none())
            || !persistent
            || (patience.stop_when_refused && all_refused)
        {
            break;
        }
        let wait = next_wait(asked, retries);
        if started.elapsed() + wait > lifetime {
            break;
        }
        std::thread::sleep(wait);
        retries += 1;
    }
    if report.delivered > 0 && report.last_error.is_none() {
        let _ = fs::remove_file(LastError::path(layout));
    }
}

/// An entry's ping is done (delivered or failed for good): settled, unless its export is
/// still to go (then kept, with the ping's outcome noted).
fn ping_finished(layout: &Layout, path: &Path, mut entry: queue::Entry, state: State) {
    if entry.otlp.is_some() && entry.otlp_done.is_none() {
        entry.ping_done = Some(state.name().to_string());
        let _ = queue::rewrite(path, &entry);
    } else {
        let _ = queue::settle(layout, path, entry, state);
    }
}

/// An entry's export is done: settled if its ping is too (as the ping went: `failed`
/// stays failed), else kept for its ping.
fn export_finished(layout: &Layout, path: &Path, mut entry: queue::Entry, outcome: &str) {
    entry.otlp_done = Some(outcome.to_string());
    match entry.ping_done.as_deref() {
        Some("failed") => {
            let _ = queue::settle(layout, path, entry, State::Failed);
        }
        Some(_) => {
            let _ = queue::settle(layout, path, entry, State::Delivered);
        }
        None => {
            let _ = queue::rewrite(path, &entry);
        }
    }
}

/// At most this many events in one export request.
const EXPORT_BATCH: usize = 200;

/// Exports the queued events that have a collector and are not exported yet, in batches
/// per collector: logs, then the metrics of the turn ends among them. Returns why the
/// export must be tried again (None: nothing left to retry).
fn export(
    layout: &Layout,
    agent: &ureq::Agent,
    read_usage: ReadUsage,
    config: &Config,
    report: &mut Report,
    patience: Patience,
) -> Option<String> {
    use crate::ping::otlp;
    let mut groups: Vec<(crate::config::Otlp, Vec<(PathBuf, queue::Entry)>)> = Vec::new();
    for path in queue::list(&layout.queue) {
        let Some(mut entry) = queue::read_entry(&path) else {
            continue;
        };
        let Some(target) = entry.otlp.clone().filter(|_| entry.otlp_done.is_none()) else {
            continue;
        };
        if entry.usage_from.is_some() {
            add_usage(&path, &mut entry, read_usage, &config.prices);
        }
        match groups
            .iter_mut()
            .find(|(t, _)| t.endpoint == target.endpoint && t.headers == target.headers)
        {
            Some((_, entries)) => entries.push((path, entry)),
            None => groups.push((target, vec![(path, entry)])),
        }
    }
    let host_id = host_id(config);
    let mut retry = None;
    for (target, entries) in groups {
        let Ok(base) = PingUrl::parse_otlp(&target.endpoint) else {
            for (path, entry) in entries {
                export_finished(
                    layout,
                    &path,
                    entry,
                    "failed (the endpoint is not one telemhq sends to)",
                );
            }
            continue;
        };
        for batch in entries.chunks(EXPORT_BATCH) {
            if patience.left().is_some_and(|left| left.is_zero()) {
                return Some("out of time".into());
            }
            let payloads: Vec<&serde_json::Map<String, serde_json::Value>> =
                batch.iter().map(|(_, e)| &e.payload).collect();
            let source = otlp::Source {
                resource: &target.resource,
                host_id: &host_id,
            };
            let logs = otlp::body(&otlp::logs(&payloads, &source));
            let mut attempt = deliver::post_otlp(agent, &base, "/v1/logs", &target.headers, &logs);
            if matches!(attempt, Attempt::Delivered(_))
                && let Some(metrics) = otlp::metrics(&payloads, &source)
            {
                attempt = deliver::post_otlp(
                    agent,
                    &base,
                    "/v1/metrics",
                    &target.headers,
                    &otlp::body(&metrics),
                );
            }
            match &attempt {
                Attempt::Delivered(_) => {
                    for (path, entry) in batch.iter().cloned() {
                        export_finished(layout, &path, entry, "delivered");
                    }
                }
                Attempt::Rejected(_) | Attempt::Redirected { .. } => {
                    let reason = format!(
                        "OpenTelemetry export refused: {}",
                        attempt.refusal().expect("a refusal")
                    );
                    note_error(layout, &reason, None);
                    for (path, entry) in batch.iter().cloned() {
                        report.failed.push((entry.event_id.clone(), reason.clone()));
                        export_finished(layout, &path, entry, &format!("failed ({reason})"));
                    }
                }
                Attempt::Retry { reason, .. } => {
                    let why = format!("OpenTelemetry export: {reason}");
                    note_error(layout, &why, None);
                    report.last_error = Some(why);
                    retry = Some(reason.clone());
                    break; // this collector again in the next pass
                }
            }
        }
    }
    retry
}

/// This machine's identity for the collector: a keyed hash of its name (never the name).
pub fn host_id(config: &Config) -> String {
    let name = fs::read_to_string("/etc/hostname")
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".into());
    match &config.hash_secret {
        Some(secret) => {
            crate::ping::payload::PathHasher::Keyed(secret.as_bytes().to_vec()).hash(&name)
        }
        None => crate::ping::payload::PathHasher::Plain.hash(&name),
    }
}

/// Where a queued event goes: the tracker it was emitted for, else (there was none then)
/// the tracker its folder has now.
fn destination(entry: &queue::Entry, config: &Config) -> Option<Route> {
    if let Some(url) = &entry.ping_url {
        return Some(Route {
            url: url.clone(),
            source: entry.tracker.clone().unwrap_or(TrackerSource::Global),
        });
    }
    // Entries from earlier releases carry no folder: the global tracker is theirs.
    let folder = entry.folder.as_deref().unwrap_or("");
    config.tracker_for(Path::new(folder))
}

/// Takes the sender lock: at once, or, with a deadline, once a running sender is done.
fn take_lock(layout: &Layout, patience: Patience) -> crate::error::Result<Option<fs::File>> {
    loop {
        match fsutil::lock_file(&layout.sender_lock, false)? {
            Some(lock) => return Ok(Some(lock)),
            None if patience.left().is_some_and(|l| !l.is_zero()) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            None => return Ok(None),
        }
    }
}

/// Writes "pid since_ms" into the held lock file, for doctor.
fn say_who_holds(mut lock: &fs::File) {
    let _ = lock.set_len(0);
    let _ = write!(lock, "{} {}", std::process::id(), crate::time::now_ms());
}

/// Reads the turn's usage into the payload, once, and keeps the result in the queue, so
/// that `log` shows what is sent. Waits until the event is a moment old: the agent may
/// still be writing the turn's last lines when its hook runs.
fn add_usage(path: &Path, entry: &mut queue::Entry, read_usage: ReadUsage, own: &Overrides) {
    let Some(source) = entry.usage_from.take() else {
        return;
    };
    let settle = env_ms("TELEMHQ_TRANSCRIPT_SETTLE_MS", 1000);
    let age = Duration::from_millis((crate::time::now_ms() - source.event_ms).max(0) as u64);
    if age < settle {
        std::thread::sleep(settle - age);
    }
    // Priced here, off the hook's path, with the user's own prices first.
    if let Some(turn) = read_usage(&source) {
        entry.call_ids = turn.calls.iter().filter_map(|c| c.id.clone()).collect();
        crate::ping::payload::add_turn(&mut entry.payload, turn, own);
    }
    let _ = queue::rewrite(path, entry);
}

fn note_error(layout: &Layout, reason: &str, not_before_ms: Option<i64>) {
    let record = LastError {
        at: crate::time::rfc3339_now(),
        reason: reason.to_string(),
        not_before_ms,
    };
    let _ = fsutil::write_private(
        &LastError::path(layout),
        &serde_json::to_vec(&record).expect("serialises"),
    );
}

/// The detached sender's whole run: drains with retries and backoff, then again while
/// events arrived that the last drain did not look at, so that an event queued while it
/// held the lock (whose emit started no sender) is never left behind.
pub fn run_detached(layout: &Layout, read_usage: ReadUsage) {
    let patience = Patience {
        persistent: true,
        deadline: None,
        stop_when_refused: false,
    };
    while drain(layout, patience, read_usage).arrived {}
}

/// Starts the detached sender (`telemhq __send`) unless one is running (it re-checks
/// the queue after it lets go of its lock, so it will see a new event). Its own process
/// group and stdio on /dev/null: the agent neither waits for it nor kills it with the
/// hook.
pub fn start_detached(layout: &Layout) {
    match fsutil::lock_file(&layout.sender_lock, false) {
        Ok(Some(lock)) => drop(lock),
        _ => return,
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let _ = Command::new(exe)
        .arg("__send")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_tiny_retry_after_keeps_the_backoff_floor() {
        assert!(next_wait(Some(Duration::ZERO), 0) >= Duration::from_millis(750));
        assert!(next_wait(Some(Duration::from_millis(1)), 3) >= Duration::from_secs(6));
        assert_eq!(
            next_wait(Some(Duration::from_secs(120)), 0),
            Duration::from_secs(120)
        );
    }

    use std::cell::RefCell;

    const FIRST: &str = "00000000-0000-4000-8000-000000000001";
    const SECOND: &str = "00000000-0000-4000-8000-000000000002";

    thread_local! {
        static LAYOUT: RefCell<Option<Layout>> = const { RefCell::new(None) };
    }

    fn route() -> Option<Route> {
        Some(Route {
            // Nothing listens on port 1: every delivery is a retry.
            url: "http://127.0.0.1:1/ping/tok_arrival".into(),
            source: TrackerSource::Global,
        })
    }

    fn enqueue(layout: &Layout, id: &str, usage_from: Option<UsageSource>) {
        let payload = serde_json::from_value(json!({"event": "Stop", "event_id": id})).unwrap();
        queue::enqueue(layout, id, usage_from, payload, route(), "/", None).unwrap();
    }

    /// Stands in for an emit that queues its event while the drain holds the lock.
    fn another_emit_meanwhile(_: &UsageSource) -> Option<Turn> {
        LAYOUT.with(|l| enqueue(l.borrow().as_ref().unwrap(), SECOND, None));
        None
    }

    fn nothing_meanwhile(_: &UsageSource) -> Option<Turn> {
        None
    }

    fn first_event(layout: &Layout) {
        let usage = UsageSource {
            transcript_path: "/nonexistent".into(),
            prompt_id: None,
            event_ms: crate::time::now_ms() - 60_000, // old enough to be read at once
            subagent: false,
            agent: None,
            turn_id: None,
            running_total: None,
            state_dir: None,
            model: None,
        };
        enqueue(layout, FIRST, Some(usage));
    }

    #[test]
    fn an_event_queued_while_the_lock_is_held_is_reported_as_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        LAYOUT.with(|l| *l.borrow_mut() = Some(layout.clone()));
        first_event(&layout);
        let report = drain(&layout, Patience::ONCE, another_emit_meanwhile);
        assert!(report.arrived, "{report:?}");
        assert_eq!(report.pending, 2);
    }

    #[test]
    fn a_drain_that_saw_every_event_reports_none_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        first_event(&layout);
        let report = drain(&layout, Patience::ONCE, nothing_meanwhile);
        assert!(!report.arrived, "{report:?}");
        assert_eq!(report.pending, 1);
    }
}
