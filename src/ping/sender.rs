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
use crate::usage::Turn;

/// Reads a turn's usage from the agent's records (the layer above supplies it, so that
/// pings never depend on one agent's formats).
pub type ReadUsage = fn(&UsageSource) -> Option<Turn>;

/// What a drain did.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: usize,
    /// Pings refused for good: (event id, why).
    pub failed: Vec<(String, String)>,
    /// Events left in the queue (for either destination).
    pub pending: usize,
    /// Why pings wait (the tracker's answer, or that it could not be reached).
    pub last_error: Option<String>,
    pub no_url: bool,
    /// Another sender held the pings' turn for the whole drain.
    pub busy: bool,
    /// An event was queued while this drain held the lock, and it did not look at it.
    pub arrived: bool,
    /// OpenTelemetry: events exported, refused for good (event id, why), and why the
    /// rest of the exports wait. Each destination is reported on its own.
    pub exported: usize,
    pub export_failed: Vec<(String, String)>,
    pub export_error: Option<String>,
    /// Events whose export waits.
    pub export_pending: usize,
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

    /// The collector's, kept apart from the tracker's.
    pub fn load_export(layout: &Layout) -> Option<LastError> {
        serde_json::from_slice(&fsutil::read_regular(&Self::export_path(layout)).ok()?).ok()
    }

    pub fn export_path(layout: &Layout) -> std::path::PathBuf {
        layout.state_dir.join("last-export-error.json")
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
    [&layout.sender_lock, &sender_life(layout)]
        .into_iter()
        .find_map(|path| {
            let file = fs::File::open(path).ok()?;
            match file.try_lock_shared() {
                Ok(()) => None,
                Err(fs::TryLockError::WouldBlock) => {
                    let text = fs::read_to_string(path).unwrap_or_default();
                    let mut words = text.split_whitespace();
                    Some(Holder {
                        pid: words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
                        since_ms: words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
                    })
                }
                Err(fs::TryLockError::Error(_)) => None,
            }
        })
}

/// The lock a detached sender holds for its whole life (so that emit starts no second
/// one); the destinations' locks it holds only while it delivers, never while it waits.
fn sender_life(layout: &Layout) -> PathBuf {
    layout.state_dir.join("sender.life")
}

/// The lock of the OpenTelemetry exports (the pings' is `sender_lock`): each
/// destination is delivered by one process at a time, independently of the other.
fn export_lock(layout: &Layout) -> PathBuf {
    layout.state_dir.join("export.lock")
}

/// How long a drain keeps at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Patience {
    /// Keep retrying with backoff for up to the sender's lifetime (the detached sender).
    pub persistent: bool,
    /// Keep retrying until then, waiting for a running sender's turn, and never let one
    /// request run past it (`flush --wait`, emit in CI, `telemhq run`).
    pub deadline: Option<Instant>,
    /// Stop retrying a destination when every failure was a refused connection (it is
    /// down, not slow): emit in CI and `telemhq run` leave the event to the queue rather
    /// than wait out their budget.
    pub stop_when_refused: bool,
    /// Deliver the pings only (`telemhq run`, before its run ping: a collector never
    /// holds that up).
    pub pings_only: bool,
}

impl Patience {
    /// One pass, now (`flush`).
    pub const ONCE: Patience = Patience {
        persistent: false,
        deadline: None,
        stop_when_refused: false,
        pings_only: false,
    };

    pub fn until(deadline: Instant) -> Patience {
        Patience {
            deadline: Some(deadline),
            ..Patience::ONCE
        }
    }

    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn retries(&self) -> bool {
        self.persistent || self.deadline.is_some()
    }
}

/// What a drain shares between its two destinations' loops.
struct Drain<'a> {
    layout: &'a Layout,
    patience: Patience,
    read_usage: ReadUsage,
    /// The entries each loop looked at (an entry one loop has not seen is not handed on
    /// as if it had been: its ping, or its export, would wait for the next emit).
    seen_pings: std::sync::Mutex<HashSet<PathBuf>>,
    seen_exports: std::sync::Mutex<HashSet<PathBuf>>,
    /// Whether each loop is at work: while one destination is, the other keeps watching
    /// the queue for events that arrive meanwhile, rather than leave them waiting.
    pings_busy: std::sync::atomic::AtomicBool,
    exports_busy: std::sync::atomic::AtomicBool,
}

impl Drain<'_> {
    /// With nothing to do itself (`mine` idle), waits for new events while the other
    /// loop is at work: true when one came (and this loop is at work again).
    fn more_while(
        &self,
        mine: &std::sync::atomic::AtomicBool,
        other: &std::sync::atomic::AtomicBool,
        until: Instant,
        seen: &HashSet<PathBuf>,
    ) -> bool {
        use std::sync::atomic::Ordering;
        mine.store(false, Ordering::Release);
        while other.load(Ordering::Acquire) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            if queue::list(&self.layout.queue)
                .iter()
                .any(|p| !seen.contains(p))
            {
                mine.store(true, Ordering::Release);
                return true;
            }
        }
        false
    }
}

/// Delivers pending events, oldest first, each to its own tracker and to its collector,
/// the two destinations in loops of their own: a slow or dead one costs the other
/// nothing. An invalid URL is never contacted; a tracker that fails is not called again
/// in the same pass, while the others' events still go.
pub fn drain(layout: &Layout, patience: Patience, read_usage: ReadUsage) -> Report {
    drain_seeing(layout, patience, read_usage).0
}

/// A drain, and every queue entry it looked at.
fn drain_seeing(
    layout: &Layout,
    patience: Patience,
    read_usage: ReadUsage,
) -> (Report, HashSet<PathBuf>) {
    let mut report = Report::default();
    // Nothing was ever queued: nothing to do, and nothing to create.
    if !matches!(fsutil::check_private_dir(&layout.state_dir), Ok(Some(_))) {
        return (report, HashSet::new());
    }
    if let Err(e) = fsutil::check_private_dir(&layout.queue) {
        report.last_error = Some(e.to_string());
        report.pending = queue::list(&layout.queue).len();
        return (report, HashSet::new());
    }
    queue::sweep_stale_temps(&layout.queue, Duration::from_secs(600));
    queue::sweep_markers(layout, Duration::from_secs(3600));
    let d = Drain {
        layout,
        patience,
        read_usage,
        seen_pings: std::sync::Mutex::new(HashSet::new()),
        seen_exports: std::sync::Mutex::new(HashSet::new()),
        pings_busy: std::sync::atomic::AtomicBool::new(true),
        exports_busy: std::sync::atomic::AtomicBool::new(!patience.pings_only),
    };
    let (pings, exports) = std::thread::scope(|scope| {
        use std::sync::atomic::Ordering;
        let exports = (!patience.pings_only).then(|| {
            scope.spawn(|| {
                let r = export_loop(&d);
                d.exports_busy.store(false, Ordering::Release);
                r
            })
        });
        let pings = ping_loop(&d);
        d.pings_busy.store(false, Ordering::Release);
        let exports = exports.map(|h| h.join().unwrap_or_default());
        (pings, exports)
    });
    queue::close_store();
    report = pings;
    if let Some(e) = exports {
        report.exported = e.exported;
        report.export_failed = e.export_failed;
        report.export_error = e.export_error;
    }
    // Only now, with the locks let go: an emit that found a sender running started no
    // other, so an event it queued while this drain ran is this drain's to hand on.
    // Seen by both loops (by the pings' alone when exports were not this drain's).
    let seen_pings = d.seen_pings.into_inner().unwrap_or_else(|e| e.into_inner());
    let seen = if patience.pings_only {
        seen_pings
    } else {
        let seen_exports = d
            .seen_exports
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        seen_pings.intersection(&seen_exports).cloned().collect()
    };
    let pending = queue::list(&layout.queue);
    report.arrived = pending.iter().any(|p| !seen.contains(p));
    report.pending = pending.len();
    report.export_pending = pending
        .iter()
        .filter_map(|p| queue::read_entry(p))
        .filter(|e| e.otlp.is_some() && e.otlp_done.is_none())
        .count();
    (report, seen)
}

/// Takes a destination's lock for one pass: at once, or (with a deadline) once another
/// process's pass is done; the detached sender waits its turn for up to its lifetime.
fn take_turn(
    path: &Path,
    patience: Patience,
    until: Instant,
) -> crate::error::Result<Option<fs::File>> {
    loop {
        match fsutil::lock_file(path, false)? {
            Some(lock) => {
                say_who_holds(&lock);
                return Ok(Some(lock));
            }
            None if patience.retries() && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            None => return Ok(None),
        }
    }
}

/// When a loop must stop.
fn end_of(patience: Patience) -> Instant {
    match patience.deadline {
        Some(d) => d,
        None if patience.persistent => Instant::now() + lifetime(),
        None => Instant::now(),
    }
}

/// The pings: passes over the queue, each under the pings' lock, with backoff between
/// them (the lock let go while waiting, so that `run`, `flush` or emit in CI deliver
/// their own events meanwhile).
fn ping_loop(d: &Drain) -> Report {
    let (layout, patience) = (d.layout, d.patience);
    let mut report = Report::default();
    let until = end_of(patience);
    // A Retry-After from an earlier sender still holds, unless it is further ahead than
    // any endpoint may ask for (a clock that jumped back, a damaged record): that one
    // is ignored, so that nothing stops delivery for good.
    if let Some(at) = LastError::load(layout)
        .and_then(|e| e.not_before_ms)
        .filter(|at| at - crate::time::now_ms() <= deliver::MAX_RETRY_AFTER.as_millis() as i64)
    {
        let wait = Duration::from_millis((at - crate::time::now_ms()).max(0) as u64);
        if !wait.is_zero() {
            if !patience.retries() || Instant::now() + wait > until {
                report.last_error = Some(format!(
                    "the endpoint asked to wait until {}",
                    crate::time::rfc3339(at)
                ));
                return report;
            }
            std::thread::sleep(wait);
        }
    }
    let mut retries = 0u32;
    let mut turns = 0usize;
    loop {
        let lock = match take_turn(&layout.sender_lock, patience, until) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                report.busy = turns == 0;
                break;
            }
            Err(e) => {
                report.last_error = Some(e.to_string());
                break;
            }
        };
        turns += 1;
        let pass = ping_pass(d, &mut report);
        drop(lock);
        if pass.failing.is_empty() || !patience.retries() {
            // (What arrived during the pass, not listed by it, is new: the pass did not
            // take it.)
            if patience.retries()
                && d.more_while(&d.pings_busy, &d.exports_busy, until, &pass.listed)
            {
                continue;
            }
            break;
        }
        if patience.stop_when_refused && pass.all_refused {
            break;
        }
        let wait = next_wait(pass.asked, retries);
        if Instant::now() + wait > until {
            break;
        }
        std::thread::sleep(wait);
        retries += 1;
    }
    if report.delivered > 0 && report.last_error.is_none() {
        let _ = fs::remove_file(LastError::path(layout));
    }
    report
}

/// What a ping pass left to retry.
#[derive(Default)]
struct Pass {
    /// The entries this pass listed: one queued after them is new to its loop.
    listed: HashSet<PathBuf>,
    /// Trackers (or collectors) that failed in this pass.
    failing: HashSet<String>,
    /// The longest wait an endpoint asked for.
    asked: Option<Duration>,
    all_refused: bool,
}

fn ping_pass(d: &Drain, report: &mut Report) -> Pass {
    let (layout, patience) = (d.layout, d.patience);
    let agent = deliver::agent(patience.left());
    let config = Config::load(layout).unwrap_or_default();
    let mut pass = Pass {
        all_refused: true,
        ..Pass::default()
    };
    report.no_url = false;
    // The bound, kept here rather than by the hook (see `queue::enqueue`).
    let _ = queue::trim(layout);
    for path in queue::list(&layout.queue) {
        seen(&d.seen_pings, &path);
        pass.listed.insert(path.clone());
        let Some(entry) = queue::read_entry(&path) else {
            // One of telemhq's entry names, but unreadable: never blocks the queue.
            let _ = fs::remove_file(&path);
            continue;
        };
        if entry.ping_done.is_some() {
            continue; // only its export is left
        }
        let Some(route) = destination(&entry, &config) else {
            let Some(entry) = with_usage(d, &path, &config) else {
                continue;
            };
            if entry.otlp.is_some() {
                // No tracker, but a collector: exported, it is done.
                update(layout, &path, |e| e.ping_done = Some("none".into()));
            } else {
                // It waits for its folder's first tracker; meanwhile the store has it.
                report.no_url = true;
                let mut entry = entry;
                queue::remember_waiting(layout, &path, &mut entry);
            }
            continue;
        };
        if pass.failing.contains(&route.url) {
            continue;
        }
        let url = match PingUrl::parse(&route.url) {
            Ok(url) => url,
            Err(reason) if entry.ping_url.is_some() => {
                // Emitted for this URL, which can never be contacted: failed for good.
                report.failed.push((entry.event_id.clone(), reason.clone()));
                update(layout, &path, |e| {
                    e.note = Some(reason);
                    e.ping_done = Some(State::Failed.name().into());
                });
                continue;
            }
            Err(reason) => {
                note_error(layout, &reason, None);
                report.last_error = Some(reason);
                pass.failing.insert(route.url);
                continue;
            }
        };
        if patience.left().is_some_and(|left| left.is_zero()) {
            report
                .last_error
                .get_or_insert_with(|| "out of time".into());
            pass.failing.insert(route.url);
            break;
        }
        let Some(mut entry) = with_usage(d, &path, &config) else {
            continue;
        };
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
                update(layout, &path, |e| {
                    e.ping_done = Some(State::Delivered.name().into());
                });
            }
            Attempt::Rejected(status) | Attempt::Redirected { status, .. } => {
                let reason = attempt.refusal().expect("a refusal");
                note_error(layout, &reason, None);
                report.failed.push((entry.event_id.clone(), reason.clone()));
                let status = *status;
                update(layout, &path, |e| {
                    e.http_status = Some(status);
                    e.note = Some(reason);
                    e.ping_done = Some(State::Failed.name().into());
                });
            }
            Attempt::Retry { reason, after } => {
                // Kept in the store meanwhile: a report counts it while it waits.
                queue::remember_waiting(layout, &path, &mut entry);
                pass.all_refused &= reason == deliver::REFUSED;
                let not_before = after.map(|a| crate::time::now_ms() + a.as_millis() as i64);
                note_error(layout, reason, not_before);
                report.last_error = Some(reason.clone());
                pass.asked = pass.asked.max(*after);
                pass.failing.insert(route.url);
            }
        }
    }
    pass
}

fn seen(set: &std::sync::Mutex<HashSet<PathBuf>>, path: &Path) {
    set.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf());
}

/// Changes a queued entry as it is on disk now (the other destination's loop, or another
/// process, may have changed it meanwhile), under the queue's lock: then settles it, once
/// both its destinations are done (as its ping went: `failed` stays failed).
fn update(layout: &Layout, path: &Path, change: impl FnOnce(&mut queue::Entry)) {
    let Ok(_lock) = fsutil::lock_file(&layout.queue_lock, true) else {
        return;
    };
    let Some(mut entry) = queue::read_entry(path) else {
        return; // settled meanwhile
    };
    change(&mut entry);
    let ping = entry.ping_done.clone();
    let export_done = entry.otlp.is_none() || entry.otlp_done.is_some();
    match ping.as_deref() {
        Some(p) if export_done => {
            let state = if p == State::Failed.name() {
                State::Failed
            } else {
                State::Delivered
            };
            let _ = queue::settle(layout, path, entry, state);
        }
        _ => {
            let _ = queue::rewrite(path, &entry);
        }
    }
}

/// The entry with its turn's usage read into its payload (once: the result is kept in
/// the queue, so that `log` shows what is sent). None when it is gone meanwhile.
fn with_usage(d: &Drain, path: &Path, config: &Config) -> Option<queue::Entry> {
    let entry = queue::read_entry(path)?;
    let Some(source) = entry.usage_from.clone() else {
        return Some(entry);
    };
    // Waits until the event is a moment old: the agent may still be writing the turn's
    // last lines when its hook runs (outside the queue's lock).
    let settle = env_ms("TELEMHQ_TRANSCRIPT_SETTLE_MS", 1000);
    let age = Duration::from_millis((crate::time::now_ms() - source.event_ms).max(0) as u64);
    if age < settle {
        std::thread::sleep(settle - age);
    }
    // Priced here, off the hook's path, with the user's own prices first.
    let turn = (d.read_usage)(&source);
    let _lock = fsutil::lock_file(&d.layout.queue_lock, true).ok()?;
    let mut entry = queue::read_entry(path)?;
    if entry.usage_from.take().is_some() {
        if let Some(turn) = turn {
            entry.call_ids = turn.calls.iter().filter_map(|c| c.id.clone()).collect();
            crate::ping::payload::add_turn(&mut entry.payload, turn, &config.prices);
        }
        let _ = queue::rewrite(path, &entry);
    }
    Some(entry)
}

/// At most this many events in one export request.
const EXPORT_BATCH: usize = 200;

/// The OpenTelemetry exports: passes under their own lock, with their own backoff.
fn export_loop(d: &Drain) -> Report {
    let (layout, patience) = (d.layout, d.patience);
    let mut report = Report::default();
    let until = end_of(patience);
    let mut retries = 0u32;
    loop {
        // Nothing to export: no lock taken, nothing waited for (and what was listed is
        // seen: it has nothing for this loop).
        let listed = queue::list(&layout.queue);
        let mut to_export = false;
        for p in &listed {
            seen(&d.seen_exports, p);
            to_export |=
                queue::read_entry(p).is_some_and(|e| e.otlp.is_some() && e.otlp_done.is_none());
        }
        if !to_export {
            break;
        }
        let lock = match take_turn(&export_lock(layout), patience, until) {
            Ok(Some(lock)) => lock,
            Ok(None) | Err(_) => break,
        };
        let pass = export_pass(d, &mut report);
        drop(lock);
        if pass.failing.is_empty() || !patience.retries() {
            if patience.retries()
                && d.more_while(&d.exports_busy, &d.pings_busy, until, &pass.listed)
            {
                continue;
            }
            break;
        }
        if patience.stop_when_refused && pass.all_refused {
            break;
        }
        let wait = next_wait(None, retries);
        if Instant::now() + wait > until {
            break;
        }
        std::thread::sleep(wait);
        retries += 1;
    }
    if report.exported > 0 && report.export_error.is_none() {
        let _ = fs::remove_file(LastError::export_path(layout));
    }
    report
}

/// Exports the queued events that have a collector and are not exported yet, in batches
/// per collector: logs, then the metrics of the turn ends among them. A batch a collector
/// finds too large (413) is halved until it fits.
fn export_pass(d: &Drain, report: &mut Report) -> Pass {
    use crate::ping::otlp;
    let (layout, patience) = (d.layout, d.patience);
    let agent = deliver::agent(patience.left());
    let config = Config::load(layout).unwrap_or_default();
    let mut pass = Pass {
        all_refused: true,
        ..Pass::default()
    };
    let mut groups: Vec<(crate::config::Otlp, Vec<(PathBuf, queue::Entry)>)> = Vec::new();
    for path in queue::list(&layout.queue) {
        seen(&d.seen_exports, &path);
        pass.listed.insert(path.clone());
        let Some(entry) = queue::read_entry(&path) else {
            continue;
        };
        let Some(target) = entry.otlp.clone().filter(|_| entry.otlp_done.is_none()) else {
            continue;
        };
        let Some(entry) = with_usage(d, &path, &config) else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(t, _)| t.endpoint == target.endpoint && t.headers == target.headers)
        {
            Some((_, entries)) => entries.push((path, entry)),
            None => groups.push((target, vec![(path, entry)])),
        }
    }
    let host_id = host_id(&config);
    for (target, entries) in groups {
        let Ok(base) = PingUrl::parse_otlp(&target.endpoint) else {
            for (path, entry) in entries {
                let why = "the endpoint is not one telemhq sends to".to_string();
                report
                    .export_failed
                    .push((entry.event_id.clone(), why.clone()));
                update(layout, &path, |e| {
                    e.otlp_done = Some(format!("failed ({why})"))
                });
            }
            continue;
        };
        let mut batches: Vec<&[(PathBuf, queue::Entry)]> = entries.chunks(EXPORT_BATCH).collect();
        batches.reverse();
        while let Some(batch) = batches.pop() {
            if patience.left().is_some_and(|left| left.is_zero()) {
                report
                    .export_error
                    .get_or_insert_with(|| "out of time".into());
                pass.failing.insert(target.endpoint.clone());
                return pass;
            }
            let payloads: Vec<&serde_json::Map<String, serde_json::Value>> =
                batch.iter().map(|(_, e)| &e.payload).collect();
            let source = otlp::Source {
                resource: &target.resource,
                host_id: &host_id,
            };
            let logs = otlp::body(&otlp::logs(&payloads, &source));
            let mut attempt = deliver::post_otlp(&agent, &base, "/v1/logs", &target.headers, &logs);
            if matches!(attempt, Attempt::Delivered(_))
                && let Some(metrics) = otlp::metrics(&payloads, &source)
            {
                attempt = deliver::post_otlp(
                    &agent,
                    &base,
                    "/v1/metrics",
                    &target.headers,
                    &otlp::body(&metrics),
                );
            }
            match &attempt {
                Attempt::Delivered(_) => {
                    report.exported += batch.len();
                    for (path, _) in batch {
                        update(layout, path, |e| e.otlp_done = Some("delivered".into()));
                    }
                }
                Attempt::Rejected(413) if batch.len() > 1 => {
                    // Too large for this collector: the two halves, each on its own.
                    let (a, b) = batch.split_at(batch.len() / 2);
                    batches.push(b);
                    batches.push(a);
                }
                Attempt::Rejected(_) | Attempt::Redirected { .. } => {
                    let reason = format!(
                        "OpenTelemetry export refused: {}",
                        attempt.refusal().expect("a refusal")
                    );
                    note_export_error(layout, &reason);
                    report.export_error = Some(reason.clone());
                    for (path, entry) in batch {
                        report
                            .export_failed
                            .push((entry.event_id.clone(), reason.clone()));
                        update(layout, path, |e| {
                            e.otlp_done = Some(format!("failed ({reason})"))
                        });
                    }
                }
                Attempt::Retry { reason, .. } => {
                    let why = format!("OpenTelemetry export: {reason}");
                    note_export_error(layout, &why);
                    report.export_error = Some(why);
                    pass.all_refused &= reason == deliver::REFUSED;
                    pass.failing.insert(target.endpoint.clone());
                    break; // this collector again in the next pass
                }
            }
        }
    }
    pass
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

/// Writes "pid since_ms" into the held lock file, for doctor.
fn say_who_holds(mut lock: &fs::File) {
    let _ = lock.set_len(0);
    let _ = write!(lock, "{} {}", std::process::id(), crate::time::now_ms());
}

fn note_error(layout: &Layout, reason: &str, not_before_ms: Option<i64>) {
    write_error(&LastError::path(layout), reason, not_before_ms);
}

fn note_export_error(layout: &Layout, reason: &str) {
    write_error(&LastError::export_path(layout), reason, None);
}

fn write_error(path: &Path, reason: &str, not_before_ms: Option<i64>) {
    let record = LastError {
        at: crate::time::rfc3339_now(),
        reason: reason.to_string(),
        not_before_ms,
    };
    let _ = fsutil::write_private(path, &serde_json::to_vec(&record).expect("serialises"));
}

/// The detached sender's whole run, under its life lock (one detached sender at a time):
/// drains with retries and backoff, then again while events arrived that the last drain
/// did not look at, so that an event queued meanwhile (whose emit started no sender) is
/// never left behind.
pub fn run_detached(layout: &Layout, read_usage: ReadUsage) {
    let patience = Patience {
        persistent: true,
        ..Patience::ONCE
    };
    loop {
        let Ok(Some(life)) = fsutil::lock_file(&sender_life(layout), false) else {
            return; // another detached sender lives: it sees what is queued
        };
        say_who_holds(&life);
        let (_, seen) = drain_seeing(layout, patience, read_usage);
        drop(life);
        // Let go first, then look: an event queued since this drain's last look (its
        // emit found the life lock held and started no sender) is this sender's.
        if !queue::list(&layout.queue).iter().any(|p| !seen.contains(p)) {
            return;
        }
    }
}

/// Starts the detached sender (`telemhq __send`) unless one is alive (it looks at the
/// queue again after it lets go of its life lock, so it will see a new event). Its own
/// process group and stdio on /dev/null: the agent neither waits for it nor kills it with
/// the hook.
pub fn start_detached(layout: &Layout) {
    match fsutil::lock_file(&sender_life(layout), false) {
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
