//! What `telemhq run` keeps about a run while its command runs, in telemhq's private
//! folder: the run's tracker (so that the command's hooks send there without the ping
//! token ever being in the command's environment, where every tool it runs could print
//! it), and a tally of the run's events as they are settled (so that the run ping counts
//! every turn, however many events the run had and whichever left the history).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::env::Layout;
use crate::error::Result;
use crate::fsutil;

/// A run id as `telemhq run` makes them (a UUID): nothing else names a file.
fn valid(run_id: &str) -> bool {
    run_id.len() == 36 && run_id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn file(layout: &Layout, run_id: &str, ext: &str) -> Option<PathBuf> {
    valid(run_id).then(|| {
        layout
            .state_dir
            .join("runs")
            .join(format!("{run_id}.{ext}"))
    })
}

/// Marks a run as under way (its command's hooks check it: a `TELEMHQ_RUN_ID` that no
/// run of this machine's set is not one).
pub fn begin(layout: &Layout, run_id: &str) -> Result<()> {
    let path = file(layout, run_id, "live").expect("telemhq makes valid run ids");
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir.join("runs"))?;
    fsutil::write_private(&path, b"")
}

/// Whether a run id is one of a `telemhq run` under way here.
pub fn is_live(layout: &Layout, run_id: &str) -> bool {
    file(layout, run_id, "live").is_some_and(|p| p.is_file())
}

/// Keeps the run's tracker (mode 600).
pub fn set_tracker(layout: &Layout, run_id: &str, url: &str) -> Result<()> {
    let path = file(layout, run_id, "url").expect("telemhq makes valid run ids");
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir.join("runs"))?;
    fsutil::write_private(&path, url.as_bytes())
}

/// Keeps the run's OpenTelemetry Collector (its headers are secrets: mode 600).
pub fn set_otlp(layout: &Layout, run_id: &str, otlp: &crate::config::Otlp) -> Result<()> {
    let path = file(layout, run_id, "otlp").expect("telemhq makes valid run ids");
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir.join("runs"))?;
    fsutil::write_private(&path, &serde_json::to_vec(otlp).expect("serialises"))
}

/// The collector of a run, if `telemhq run` was given one in its environment.
pub fn otlp(layout: &Layout, run_id: &str) -> Option<crate::config::Otlp> {
    let bytes = fsutil::read_regular(&file(layout, run_id, "otlp")?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The tracker of a run, if `telemhq run` was given one.
pub fn tracker(layout: &Layout, run_id: &str) -> Option<String> {
    let bytes = fsutil::read_regular(&file(layout, run_id, "url")?).ok()?;
    String::from_utf8(bytes).ok().filter(|u| !u.is_empty())
}

/// Adds a settled event of a run to its tally (one line, appended).
pub fn record(layout: &Layout, payload: &Map<String, Value>) {
    let Some(run_id) = payload.get("run_id").and_then(Value::as_str) else {
        return;
    };
    let Some(path) = file(layout, run_id, "jsonl") else {
        return;
    };
    if fsutil::ensure_private_dir(&layout.state_dir.join("runs")).is_err() {
        return;
    }
    let mut line = serde_json::to_vec(payload).expect("a payload serialises");
    line.push(b'\n');
    if let Ok(mut f) = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
    {
        // One write of one line: appends of several senders never interleave.
        let _ = f.write_all(&line);
    }
}

/// The payloads of a run's settled events.
pub fn tally(layout: &Layout, run_id: &str) -> Vec<Map<String, Value>> {
    let Some(bytes) = file(layout, run_id, "jsonl").and_then(|p| fsutil::read_regular(&p).ok())
    else {
        return Vec::new();
    };
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// Forgets a run once its run ping is queued.
pub fn forget(layout: &Layout, run_id: &str) {
    for ext in ["url", "otlp", "jsonl", "live"] {
        if let Some(p) = file(layout, run_id, ext) {
            let _ = fs::remove_file(p);
        }
    }
}
