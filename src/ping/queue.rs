//! The durable local queue: one file per event under the private hooks folder (0700
//! folders, 0600 files). `queue/` holds what is pending, oldest first by name; `sent/`
//! and `failed/` keep recent history for `telemhq log` and `doctor`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Route, TrackerSource};
use crate::env::Layout;
use crate::error::{IoContext, Result};
use crate::fsutil;

/// Pending events past which the oldest are dropped.
pub const MAX_PENDING_EVENTS: usize = 1000;
/// Pending bytes past which the oldest are dropped.
pub const MAX_PENDING_BYTES: u64 = 4 * 1024 * 1024;
/// Delivered and failed events kept for `log` and `doctor`.
pub const KEEP_HISTORY: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub event_id: String,
    pub queued_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// What happened, in words without the token (e.g. where a redirect pointed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The tracker this event goes to, decided when it was emitted, so that a later
    /// config change or another shell's `flush` never sends it elsewhere. None: there
    /// was no tracker then, and it goes to the first its folder gets. Local only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker: Option<TrackerSource>,
    /// The folder the event came from, to find its tracker later. Local only, never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    pub payload: Map<String, Value>,
    /// Where the turn's usage is read from before sending. Local only: never sent, and
    /// cleared once the usage is in the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_from: Option<UsageSource>,
    /// Already in the local store while it waits for a tracker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stored: bool,
    /// The agent's ids of the turn's calls (for the store; never sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_ids: Vec<String>,
    /// The OpenTelemetry Collector this event is exported to too, decided when it was
    /// emitted (None: none). Local only: its headers are secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<crate::config::Otlp>,
    /// With two destinations, what became of the one that finished first (`delivered`,
    /// `failed`, `none`: no tracker) while the other is still to go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_done: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_done: Option<String>,
}

/// The transcript a turn-end event's usage comes from. Claude Code may still be writing
/// the turn's last lines when the hook runs, so the sender reads it a moment later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsageSource {
    pub transcript_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// When the event fired (unix ms): turn durations end here.
    pub event_ms: i64,
    /// A sub-agent's own transcript: all of it is the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subagent: bool,
    /// The agent whose records these are (None: Claude Code), so the right reader reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Codex: the turn whose usage to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// Factory Droid: the session's running token totals when the hook ran (input,
    /// output, cache read, cache write, reasoning), a turn's being the difference from
    /// the session's previous turn end, kept in telemhq's folder (`state_dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_total: Option<[u64; 5]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// The model the event names (Cursor's, whose usage the event carries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Delivered,
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }
}

/// A file name that sorts by time: `<unix nanos, 20 digits>-<size>-<event id>.json`.
fn file_name(event_id: &str, size: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:020}-{size}-{event_id}.json")
}

/// Whether a file name is one telemhq gave an entry (see `file_name`): only these are
/// counted, sent, evicted or removed; anything else in the folder is left alone.
pub fn is_entry_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    let mut parts = stem.splitn(3, '-');
    let (Some(nanos), Some(size), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    nanos.len() == 20
        && nanos.bytes().all(|b| b.is_ascii_digit())
        && !size.is_empty()
        && size.len() <= 12
        && size.bytes().all(|b| b.is_ascii_digit())
        && id.len() == 36
        && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn size_from_name(path: &Path) -> u64 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// telemhq's entries in a queue folder, oldest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(is_entry_name))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

pub fn read_entry(path: &Path) -> Option<Entry> {
    serde_json::from_slice(&fsutil::read_regular(path).ok()?).ok()
}

/// Writes an entry file 0600 into a folder, via a temporary name and a rename, so that
/// a reader never sees half an event. No fsync: this is the hook's hot path, and a
/// rename survives the process being killed, which is what a hook has to expect.
fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let target = dir.join(name);
    fsutil::put_file(&target, bytes, 0o600, false)?;
    Ok(target)
}

/// Removes temporary files that a killed telemhq left in a queue folder.
pub fn sweep_stale_temps(dir: &Path, older_than: std::time::Duration) {
    remove_old_files(dir, older_than, fsutil::is_temp_name);
}

/// Removes the files of a folder older than `older_than` whose names `wanted` picks.
fn remove_old_files(dir: &Path, older_than: std::time::Duration, wanted: fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .ok()
            .filter(fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > older_than);
        if old && entry.file_name().to_str().is_some_and(wanted) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Claims an event by its key (what the agent wrote of it: session, event, time, tool):
/// true for the first hook run that claims it, false for a second run of the same
/// event (an agent that runs the same hook from a user and a repository hook file).
/// A marker that cannot be written claims nothing: the event is better sent twice than
/// lost.
pub fn claim_event(layout: &Layout, key: &str) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    if fsutil::ensure_private_dir(&layout.seen).is_err() {
        return true;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(key.as_bytes());
    let marker = layout.seen.join(&crate::hex(&digest)[..32]);
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(marker);
    !matches!(created, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists)
}

/// Removes event markers older than `older_than` (a second run comes within the hook's
/// timeout of the first).
pub fn sweep_markers(layout: &Layout, older_than: std::time::Duration) {
    remove_old_files(&layout.seen, older_than, |_| true);
}

/// Makes the private folders the queue needs (refusing links and foreign folders).
pub fn ensure_dirs(layout: &Layout) -> Result<()> {
    for dir in [&layout.hooks_dir, &layout.state_dir, &layout.queue] {
        fsutil::ensure_private_dir(dir)?;
    }
    Ok(())
}

/// Adds an event to the queue: one file, written whole under a temporary name and
/// renamed in, so no lock and no listing of the queue (the hook's cost must not grow with
/// the queue). The bound is kept by the sender (`trim`), which every emit starts.
pub fn enqueue(
    layout: &Layout,
    event_id: &str,
    usage_from: Option<UsageSource>,
    payload: Map<String, Value>,
    route: Option<Route>,
    folder: &str,
    otlp: Option<crate::config::Otlp>,
) -> Result<PathBuf> {
    ensure_dirs(layout)?;
    let entry = Entry {
        event_id: event_id.to_string(),
        queued_at: crate::time::rfc3339_now(),
        delivered_at: None,
        failed_at: None,
        http_status: None,
        note: None,
        ping_url: route.as_ref().map(|r| r.url.clone()),
        tracker: route.map(|r| r.source),
        folder: Some(folder.to_string()),
        payload,
        usage_from,
        stored: false,
        call_ids: Vec::new(),
        otlp,
        ping_done: None,
        otlp_done: None,
    };
    let body = serde_json::to_vec(&entry).expect("an entry serialises");
    put(&layout.queue, &file_name(event_id, body.len()), &body)
}

/// Drops the oldest entries past the bound (1,000 events, 4 MiB), counting what each
/// destination never got: a ping not yet delivered for the next delivered ping to report,
/// an export not yet made apart. The sender calls it before each pass over the queue.
pub fn trim(layout: &Layout) -> Result<usize> {
    let _lock = fsutil::lock_file(&layout.queue_lock, true)?;
    let pending = list(&layout.queue);
    let mut bytes: u64 = pending.iter().map(|p| size_from_name(p)).sum();
    let mut drop_count = 0usize;
    let (mut pings, mut exports) = (0u64, 0u64);
    while pending.len() - drop_count > MAX_PENDING_EVENTS
        || (bytes > MAX_PENDING_BYTES && drop_count < pending.len())
    {
        let path = &pending[drop_count];
        bytes = bytes.saturating_sub(size_from_name(path));
        match read_entry(path) {
            Some(e) => {
                pings += u64::from(e.ping_done.is_none());
                exports += u64::from(e.otlp.is_some() && e.otlp_done.is_none());
            }
            None => pings += 1,
        }
        let _ = fs::remove_file(path);
        drop_count += 1;
    }
    if drop_count > 0 {
        let mut dropped = Dropped::load(layout);
        dropped.total += pings;
        dropped.unreported += pings;
        dropped.exports += exports;
        dropped.save(layout)?;
    }
    Ok(drop_count)
}

/// Events dropped at the bound before they went out: pings in all, pings not yet
/// reported by a delivered ping, and exports to the collector.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dropped {
    pub total: u64,
    pub unreported: u64,
    #[serde(default)]
    pub exports: u64,
}

impl Dropped {
    fn path(layout: &Layout) -> PathBuf {
        layout.state_dir.join("dropped.json")
    }

    pub fn load(layout: &Layout) -> Dropped {
        fsutil::read_regular(&Self::path(layout))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, layout: &Layout) -> Result<()> {
        fsutil::write_private(
            &Self::path(layout),
            &serde_json::to_vec(self).expect("serialises"),
        )
    }
}

/// After a ping that carried `dropped_events: n` was delivered: those n are reported.
/// Drops counted meanwhile stay for the next ping, so each reaches the tracker once.
pub fn mark_drops_reported(layout: &Layout, n: u64) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let _lock = fsutil::lock_file(&layout.queue_lock, true)?;
    let mut dropped = Dropped::load(layout);
    dropped.unreported = dropped.unreported.saturating_sub(n);
    dropped.save(layout)
}

/// Rewrites a pending event in place (atomically), e.g. once its usage is known.
pub fn rewrite(path: &Path, entry: &Entry) -> Result<()> {
    let body = serde_json::to_vec(entry).expect("an entry serialises");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    put(path.parent().unwrap_or(Path::new(".")), &name, &body).map(|_| ())
}

/// Moves a pending event to `sent/` or `failed/` with what happened, keeping the
/// history bounded.
pub fn settle(layout: &Layout, pending: &Path, mut entry: Entry, state: State) -> Result<()> {
    let dir = match state {
        State::Delivered => &layout.sent,
        State::Failed => &layout.failed,
        State::Pending => return Ok(()),
    };
    let now = crate::time::rfc3339_now();
    match state {
        State::Delivered => entry.delivered_at = Some(now),
        _ => entry.failed_at = Some(now),
    }
    // A run counts its events as they are settled (see `runs`); the store keeps them.
    super::runs::record(layout, &entry.payload);
    remember(layout, &entry, state.name());
    let body = serde_json::to_vec(&entry).expect("an entry serialises");
    let name = pending
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kept = fsutil::ensure_private_dir(dir).and_then(|_| put(dir, &name, &body));
    // Settled is settled: even if its history copy cannot be written (a full disk), the
    // pending entry goes, so that it is never sent twice.
    fs::remove_file(pending).ctx("remove", pending)?;
    kept?;
    let history = list(dir);
    for old in &history[..history.len().saturating_sub(KEEP_HISTORY)] {
        let _ = fs::remove_file(old);
    }
    Ok(())
}

/// Records an event in the local store (a store that cannot be written never stops
/// delivery: the reason is kept for doctor). The store is opened once per process.
/// The store this process writes to, opened at its first event.
static STORE: std::sync::Mutex<Option<crate::store::Store>> = std::sync::Mutex::new(None);

/// Closes this process's store (its write-ahead log is then folded into the main file,
/// which is what a reader that changes no file sees).
pub fn close_store() {
    let mut slot = STORE.lock().unwrap_or_else(|e| e.into_inner());
    *slot = None;
}

pub fn remember(layout: &Layout, entry: &Entry, state: &str) {
    use crate::store::{Record, Store};
    let uid = entry
        .payload
        .get("turn_uid")
        .and_then(Value::as_str)
        .unwrap_or(&entry.event_id)
        .to_string();
    let tracker = entry.ping_url.as_deref().map(crate::config::mask_url);
    let mut note = match (entry.http_status, &entry.note) {
        (Some(s), Some(n)) => Some(format!("HTTP {s}  {n}")),
        (Some(s), None) => Some(format!("HTTP {s}")),
        (None, n) => n.clone(),
    };
    if let Some(otlp) = &entry.otlp_done {
        let said = format!("OpenTelemetry: {otlp}");
        note = Some(note.map_or(said.clone(), |n| format!("{n}; {said}")));
    }
    let mut slot = STORE.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        match Store::open(layout) {
            Ok(store) => *slot = Some(store),
            Err(why) => return crate::store::note(layout, Some(why)),
        }
    }
    let store = slot.as_ref().expect("opened");
    let written = store
        .record(&Record {
            uid: &uid,
            payload: &entry.payload,
            source: if entry.payload.contains_key("backfill") {
                "import"
            } else {
                "hook"
            },
            state,
            tracker: tracker.as_deref(),
            note: note.as_deref(),
            call_ids: &entry.call_ids,
        })
        .and_then(|()| {
            // Retention: now and then (one event in a hundred) the oldest turns go.
            if entry.event_id.ends_with("00") {
                let keep = crate::config::Config::load(layout)
                    .ok()
                    .and_then(|c| c.keep_days)
                    .unwrap_or(crate::store::DEFAULT_KEEP_DAYS);
                store.prune(keep, crate::time::now_ms())?;
            }
            Ok(())
        });
    if written.is_err() {
        // Locked by another process, damaged or full: the next events of this process
        // try once without waiting, so delivery is never held up by the store.
        store.impatient();
    }
    crate::store::note(layout, written.err());
}

/// Keeps an event that waits (for a tracker, or for its tracker to answer) in the local
/// store, once: nothing is lost locally, whatever the queue's bound.
pub fn remember_waiting(layout: &Layout, path: &Path, entry: &mut Entry) {
    if entry.stored || entry.usage_from.is_some() {
        return;
    }
    remember(layout, entry, State::Pending.name());
    entry.stored = true;
    let _ = rewrite(path, entry);
}

/// Every event still known, with its state, oldest first.
pub fn all(layout: &Layout) -> Vec<(State, Entry)> {
    let mut out: Vec<(PathBuf, State)> = Vec::new();
    for (dir, state) in [
        (&layout.sent, State::Delivered),
        (&layout.failed, State::Failed),
        (&layout.queue, State::Pending),
    ] {
        out.extend(list(dir).into_iter().map(|p| (p, state)));
    }
    out.sort_by(|a, b| a.0.file_name().cmp(&b.0.file_name()));
    out.into_iter()
        .filter_map(|(p, s)| read_entry(&p).map(|e| (s, e)))
        .collect()
}

/// The events waiting for a tracker (emitted when their folder had none) that would go
/// to `url` now.
fn waiting_paths(
    layout: &Layout,
    config: &crate::config::Config,
    url: &str,
) -> Vec<(PathBuf, Entry)> {
    list(&layout.queue)
        .into_iter()
        .filter_map(|p| read_entry(&p).map(|e| (p, e)))
        .filter(|(_, e)| e.ping_url.is_none())
        .filter(|(_, e)| {
            config
                .tracker_for(Path::new(e.folder.as_deref().unwrap_or("")))
                .is_some_and(|r| r.url == url)
        })
        .collect()
}

pub fn waiting_for(layout: &Layout, config: &crate::config::Config, url: &str) -> usize {
    waiting_paths(layout, config, url).len()
}

/// Keeps the events waiting for a tracker that would now go to `url` on this machine:
/// recorded in the store as local, and out of the queue. Returns how many.
pub fn keep_local(
    layout: &Layout,
    config: &crate::config::Config,
    url: &str,
    read_usage: super::sender::ReadUsage,
) -> usize {
    let mut kept = 0;
    for (path, mut entry) in waiting_paths(layout, config, url) {
        // Its usage, if the sender has not read it yet: what is kept is the whole turn.
        if let Some(source) = entry.usage_from.take()
            && let Some(turn) = read_usage(&source)
        {
            entry.call_ids = turn.calls.iter().filter_map(|c| c.id.clone()).collect();
            super::payload::add_turn(&mut entry.payload, turn, &config.prices);
        }
        remember(layout, &entry, "local");
        if fs::remove_file(&path).is_ok() {
            kept += 1;
        }
    }
    close_store();
    kept
}
