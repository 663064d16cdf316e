//! `telemhq import`: the history already on the machine (Claude Code's transcripts,
//! Codex's rollouts, Gemini CLI's chat files, Copilot CLI's session events) read into
//! the local store as turns of the same schema as the hooks' (the same records, usage and
//! cost), each turn once: its identity is the one a hook computes, so a turn a hook
//! already recorded stays one record, and a second import adds nothing. A re-import reads
//! only files that changed, and of a Claude Code transcript only what was appended.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::agents::{self, Agent};
use crate::cli::ImportArgs;
use crate::config;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::ping::payload::{self, PathHasher};
use crate::ping::queue;
use crate::ping::sender::{self, Patience};
use crate::store::{Record, Row, Store};
use crate::usage::{TurnUsage, turn_uid};

/// A day as `--since` takes it (see `time::parse_day`), as the Unix ms it begins.
pub fn parse_since(text: &str, tz: &jiff::tz::TimeZone) -> Result<i64> {
    let day = crate::time::parse_day(text, tz).map_err(Error::usage)?;
    Ok(crate::time::day_start(day, tz))
}

/// `payload::repo_root_of`, looked up once per folder (a history holds many turns of
/// each folder).
fn repo_root_cached(cwd: &str) -> Option<std::path::PathBuf> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static ROOTS: RefCell<HashMap<String, Option<std::path::PathBuf>>> = RefCell::default();
    }
    ROOTS.with(|roots| {
        roots
            .borrow_mut()
            .entry(cwd.to_string())
            .or_insert_with(|| payload::repo_root_of(cwd, dirs::home_dir().as_deref()))
            .clone()
    })
}

/// The ping payload of an imported turn, as a hook would have built it.
fn turn_payload(
    agent: &dyn Agent,
    t: TurnUsage,
    uid: &str,
    hasher: &PathHasher,
    own: &crate::prices::Overrides,
) -> Map<String, Value> {
    let end = t.ended_ms.or(t.started_ms).unwrap_or(0);
    let cwd = t.cwd.clone();
    let session = t.session.clone();
    let mut p = Map::new();
    p.insert("provider".into(), json!(agent.provider()));
    p.insert("tool".into(), json!(agent.tool()));
    p.insert("status".into(), json!("success"));
    // (A sub-agent's run is part of the turn that started it: `usage::Part`.)
    let event = match (t.subagent, t.unplaced) {
        (true, _) => crate::usage::SUBAGENT_EVENT,
        (_, true) => crate::usage::UNPLACED_EVENT,
        _ => agent.turn_end_events()[0],
    };
    p.insert("event".into(), json!(event));
    let root = cwd.as_deref().and_then(repo_root_cached);
    p.insert(
        "project".into(),
        json!(payload::project_name(cwd.as_deref(), root.as_deref())),
    );
    if let Some(s) = session.filter(|s| payload::is_identifier(s)) {
        p.insert("session_id".into(), json!(s));
    }
    if let Some(c) = cwd.filter(|c| c.starts_with('/')) {
        p.insert("cwd_hash".into(), json!(hasher.hash(&c)));
    }
    p.insert("event_id".into(), json!(crate::usage::event_id(uid)));
    p.insert("emitted_at".into(), json!(crate::time::rfc3339(end)));
    p.insert("telemhq_version".into(), json!(env!("CARGO_PKG_VERSION")));
    payload::add_turn(&mut p, t.read(end), own);
    p
}

struct File<'a> {
    agent: &'a dyn Agent,
    path: std::path::PathBuf,
    size: u64,
    mtime_ms: i64,
    from: u64,
    /// What an earlier import recorded of it (from when it recorded turns).
    since_ms: i64,
}

/// A turn read from history, made ready off the main thread: its identity, its payload
/// as a hook would have built it, and what it was made from (to make it again without a
/// call another turn already counted).
struct Prepared {
    uid: String,
    /// What is written to the store.
    row: Row,
    /// The payload, kept only to send it (`--send`).
    payload: Option<Map<String, Value>>,
    turn: TurnUsage,
}

/// The store's row of an imported turn.
fn row_of(uid: &str, payload: &Map<String, Value>, turn: &TurnUsage) -> Row {
    let call_ids: Vec<String> = turn.calls.iter().filter_map(|c| c.id.clone()).collect();
    Row::new(&Record {
        uid,
        payload,
        source: "import",
        state: "local",
        tracker: None,
        note: None,
        call_ids: &call_ids,
    })
}

/// Bytes of a file read for its fingerprint, at each of three places.
const PRINT_WINDOW: u64 = 4096;

/// A fingerprint of what import read of a file up to `offset` (where the next import
/// goes on): its first bytes, the bytes halfway and the last ones before `offset`. A file
/// rewritten in place, shorter or of the same size, differs there; one that only grew
/// does not.
fn fingerprint(path: &Path, offset: u64) -> Option<String> {
    use sha2::Digest;
    use std::io::{Read, Seek, SeekFrom};
    let mut file = crate::fsutil::open_regular(path).ok()?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; PRINT_WINDOW as usize];
    let w = PRINT_WINDOW.min(offset);
    for at in [0, offset / 2, offset - w] {
        let n = w.min(offset - at) as usize;
        file.seek(SeekFrom::Start(at)).ok()?;
        file.read_exact(&mut buf[..n]).ok()?;
        hash.update(at.to_le_bytes());
        hash.update(&buf[..n]);
    }
    Some(crate::hex(&hash.finalize()[..16]))
}

/// Where to read a history file from, given what an earlier import read of it (None: it
/// is unchanged and recorded from early enough: not read at all). A file that shrank or
/// was rewritten in place is read from its start; so is one whose earlier import recorded
/// only later turns (`--since`, a smaller `keep_days`) than this one records.
fn start_at(
    path: &Path,
    size: u64,
    mtime_ms: i64,
    from_ms: i64,
    read: &crate::store::Read,
) -> Option<u64> {
    let earlier_from_later = read.since_ms > from_ms;
    if size == read.size && mtime_ms == read.mtime_ms && !earlier_from_later {
        return None;
    }
    if earlier_from_later || size < read.size || read.offset > size {
        return Some(0);
    }
    match (&read.fingerprint, fingerprint(path, read.offset)) {
        (Some(then), Some(now)) if *then == now => Some(read.offset),
        // (A record from before fingerprints: an offset that still fits is trusted.)
        (None, _) => Some(read.offset),
        _ => Some(0),
    }
}

/// What import did, per agent.
#[derive(Default)]
struct Tally {
    /// Turns (not their sub-agents' runs, nor unplaced usage).
    read: usize,
    new: usize,
    known: usize,
    subagents: usize,
    /// Turns whose every call another turn already counted (a resumed session's copy).
    copies: usize,
    /// Calls found outside any turn, counted in the day's totals all the same.
    unplaced: usize,
}

/// Reads the files on every core (`read` makes each one's turns ready), and hands each
/// file's to `take` in the files' order (so which copy of a call counts never depends on
/// timing).
fn read_in_parallel<T: Send>(
    files: &[File],
    read: &(dyn Fn(&File) -> T + Sync),
    take: &mut dyn FnMut(&File, T) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Unbounded: a reader that finished a later file never waits for an earlier one
        // still being read (what waits is small: turns made ready).
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    if tx.send((i, read(f))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (i, ready) in rx {
            waiting.insert(i, ready);
            while let Some(ready) = waiting.remove(&due) {
                if let Err(e) = take(&files[due], ready) {
                    // Stop the readers: nothing more is taken.
                    next.store(files.len(), std::sync::atomic::Ordering::Relaxed);
                    return Err(e);
                }
                due += 1;
            }
        }
        Ok(())
    })
}

pub fn run(args: &ImportArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    // Turns imported are not imported again: whether they may be sent is settled first.
    if args.send && !args.yes && !crate::term::interactive() {
        return Err(Error::usage(
            "--send asks before sending past turns: add --yes to send them without asking \
             (nothing was imported)",
        ));
    }
    let tz = jiff::tz::TimeZone::system();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, &tz))
        .transpose()?;
    let chosen: Vec<&dyn Agent> = if args.agent.is_empty() {
        agents::ALL.to_vec()
    } else {
        args.agent.iter().filter_map(|a| agents::by_id(a)).collect()
    };
    crate::fsutil::ensure_private_dir(&layout.hooks_dir)?;
    crate::fsutil::ensure_private_dir(&layout.state_dir)?;
    let store = Store::open(&layout).map_err(Error::new)?;
    if store.imports_outdated() {
        // Recorded by readers that knew fewer formats: read the history again whole.
        let forgotten = store.forget_imports().map_err(Error::new)?;
        eprintln!(
            "Reading the history again: this telemhq reads more of the agents' formats \
             ({forgotten} turn(s) imported before are recorded anew)."
        );
    }
    let config = config::load_with_secret(&layout)?;
    let hasher = match (&config.hash_secret, config.plain_path_hashes()) {
        (_, true) => PathHasher::Plain,
        (Some(secret), false) => PathHasher::Keyed(secret.as_bytes().to_vec()),
        (None, false) => PathHasher::Keyed(
            crate::fsutil::random_bytes::<32>()
                .map_err(Error::new)?
                .to_vec(),
        ),
    };
    let keep_days = config.keep_days.unwrap_or(crate::store::DEFAULT_KEEP_DAYS);
    let kept_from = crate::time::now_ms() - i64::from(keep_days) * 86_400_000;
    // `--since` and `keep_days` limit what is recorded, not what is marked read: a file
    // remembers from when its turns were recorded, and an import that records more of
    // the past reads it again.
    let from_ms = since.unwrap_or(0).max(kept_from);

    // Every history file, and what is new in it.
    let (mut files, mut unchanged) = (Vec::new(), 0usize);
    for agent in &chosen {
        for path in agent.history(env) {
            // Regular files only: never a link (it could point anywhere) or a FIFO.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let (size, mtime_ms) = (
                meta.len(),
                meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000,
            );
            let key = path.to_string_lossy().into_owned();
            let earlier = store.imported(&key);
            let from = match &earlier {
                Some(read) => match start_at(&path, size, mtime_ms, from_ms, read) {
                    Some(from) => from,
                    None => {
                        unchanged += 1;
                        continue;
                    }
                },
                None => 0,
            };
            // Read on from where it was: it covers what that import covered, and no more.
            let since_ms = match &earlier {
                Some(read) if from > 0 => read.since_ms.max(from_ms),
                _ => from_ms,
            };
            files.push(File {
                agent: *agent,
                path,
                size,
                mtime_ms,
                from,
                since_ms,
            });
        }
    }
    // Oldest first: a call met in two files (a session resumed into a new file copies
    // the earlier lines) counts in the turn of the file written first, the one its hook
    // saw.
    files.sort_by(|a, b| (a.mtime_ms, &a.path).cmp(&(b.mtime_ms, &b.path)));
    let bytes: u64 = files.iter().map(|f| f.size - f.from).sum();
    let bar = if crate::term::progress_on_stderr() {
        let bar = indicatif::ProgressBar::new(bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading history {bytes}/{total_bytes} ({eta}) {wide_msg}",
            )
            .expect("a valid template"),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    store
        .prune(keep_days, crate::time::now_ms())
        .map_err(Error::new)?;
    // A history much larger than the store (a first import, say): the report's indexes
    // are made once at the end rather than kept up to date turn by turn.
    const BYTES_PER_TURN: u64 = 32 * 1024;
    let bulk = bytes / BYTES_PER_TURN > store.events().max(1000);
    if bulk {
        store.suspend_report_indexes().map_err(Error::new)?;
    } else if !store.has_report_indexes() {
        // (An earlier import that set them aside was stopped before it made them again.)
        store.restore_report_indexes().map_err(Error::new)?;
    }
    let mut counted = store.counted_calls().map_err(Error::new)?;
    let mut imported: Vec<(Map<String, Value>, Option<String>)> = Vec::new();
    let mut tally: Vec<(&'static str, Tally)> = Vec::new();
    let mut batch_open: Option<crate::store::ImportBatch> = None;
    let read = |f: &File| -> (Vec<Prepared>, u64) {
        let (found, next) = f.agent.history_turns(&f.path, f.from);
        let ready = found
            .into_iter()
            .enumerate()
            .filter_map(|(i, mut t)| {
                // Older than --since, or than the store keeps.
                if t.ended_ms.unwrap_or(0) < from_ms {
                    return None;
                }
                let session = t.session.clone().unwrap_or_else(|| {
                    f.path
                        .file_stem()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                });
                // A turn the reader could not key is counted all the same, as unplaced.
                let key = t.key.clone().unwrap_or_else(|| {
                    t.unplaced = true;
                    format!("unplaced:{}:{i}", f.from)
                });
                t.session = Some(session.clone());
                let uid = turn_uid(f.agent.tool(), &session, &key);
                let payload = turn_payload(f.agent, t.clone(), &uid, &hasher, &config.prices);
                Some(Prepared {
                    row: row_of(&uid, &payload, &t),
                    uid,
                    payload: args.send.then_some(payload),
                    turn: t,
                })
            })
            .collect();
        (ready, next)
    };
    let mut take = |f: &File, (ready, next): (Vec<Prepared>, u64)| -> Result<()> {
        bar.set_message(crate::term::safe(
            &f.path.file_name().unwrap_or_default().to_string_lossy(),
        ));
        if batch_open.is_none() {
            batch_open = Some(store.import_batch().map_err(Error::new)?);
        }
        let open = batch_open.as_mut().expect("just opened");
        let tool = f.agent.display_name();
        let t = match tally.iter().position(|(a, _)| *a == tool) {
            Some(i) => &mut tally[i].1,
            None => {
                tally.push((tool, Tally::default()));
                &mut tally.last_mut().expect("just pushed").1
            }
        };
        let mut rows: Vec<Row> = Vec::new();
        for Prepared {
            uid,
            mut row,
            mut payload,
            mut turn,
        } in ready
        {
            // A call already counted in another turn (a resumed session's copy) is not
            // counted again: the turn is made again without it.
            let (calls, turn_digest) = row.digests();
            let elsewhere = |call: &i64| counted.get(call).is_some_and(|t| *t != turn_digest);
            if calls.iter().any(elsewhere) {
                turn.calls.retain(|c| {
                    c.id.as_ref()
                        .is_none_or(|id| !elsewhere(&crate::store::digest(id)))
                });
                if turn.calls.is_empty() {
                    t.copies += 1;
                    continue;
                }
                let p = turn_payload(f.agent, turn.clone(), &uid, &hasher, &config.prices);
                row = row_of(&uid, &p, &turn);
                payload = args.send.then_some(p);
            }
            if turn.calls.is_empty() {
                continue;
            }
            let known = open.known(&uid).map_err(Error::new)?;
            if turn.unplaced {
                t.unplaced += 1;
            } else if turn.subagent {
                t.subagents += 1;
            } else {
                t.read += 1;
                match &known {
                    Some(_) => t.known += 1,
                    None => t.new += 1,
                }
            }
            let (calls, turn_digest) = row.digests();
            for call in calls {
                counted.insert(*call, turn_digest);
            }
            rows.push(row);
            // A turn a hook recorded is its hook's to deliver; one an earlier
            // `--send` delivered is not sent again.
            let sendable = known.is_none_or(|k| k.source == "import" && k.state != "delivered");
            if let (Some(p), true) = (payload, sendable) {
                imported.push((p, turn.cwd));
            }
        }
        let read = crate::store::Read {
            size: f.size,
            mtime_ms: f.mtime_ms,
            offset: next,
            since_ms: f.since_ms,
            fingerprint: fingerprint(&f.path, next),
        };
        open.record_file(&rows, &f.path.to_string_lossy(), &read)
            .map_err(Error::new)?;
        if open.full() {
            batch_open
                .take()
                .expect("open")
                .commit()
                .map_err(Error::new)?;
        }
        bar.inc(f.size - f.from);
        Ok(())
    };
    let done = read_in_parallel(&files, &read, &mut take);
    let committed = match batch_open.take() {
        Some(open) => open.commit().map_err(Error::new),
        None => Ok(()),
    };
    if bulk {
        store.restore_report_indexes().map_err(Error::new)?;
    }
    done?;
    committed?;
    bar.finish_and_clear();
    say_what_was_done(&tally, (files.len(), bytes), unchanged, &layout);
    if args.send {
        return send(args, env, &layout, imported);
    }
    Ok(0)
}

/// "N turns read: X new, Y already recorded", per agent where there were several, and
/// what could not be placed in a turn.
fn say_what_was_done(
    tally: &[(&'static str, Tally)],
    (files, bytes): (usize, u64),
    unchanged: usize,
    layout: &crate::env::Layout,
) {
    let sum = tally.iter().fold(Tally::default(), |mut a, (_, t)| {
        a.read += t.read;
        a.new += t.new;
        a.known += t.known;
        a.subagents += t.subagents;
        a.copies += t.copies;
        a.unplaced += t.unplaced;
        a
    });
    let line = |t: &Tally| {
        let mut text = format!(
            "{} turn(s) read: {} new, {} already recorded",
            t.read, t.new, t.known
        );
        if t.subagents > 0 {
            text.push_str(&format!("; {} sub-agent run(s)", t.subagents));
        }
        if t.copies > 0 {
            text.push_str(&format!(
                "; {} resumed-session copies of turns counted once",
                t.copies
            ));
        }
        if t.unplaced > 0 {
            text.push_str(&format!(
                "; {} record(s) of usage no turn holds (counted in the day's totals)",
                t.unplaced
            ));
        }
        text
    };
    eprintln!(
        "{} from {files} file(s), {} read{} into {}.",
        line(&sum),
        indicatif::HumanBytes(bytes),
        if unchanged > 0 {
            format!(" ({unchanged} file(s) unchanged since the last import)")
        } else {
            String::new()
        },
        crate::term::path(&crate::store::path(layout))
    );
    if tally.len() > 1 {
        for (agent, t) in tally {
            eprintln!("  {agent}: {}", line(t));
        }
    }
}

/// Queues imported turns for the trackers (marked `backfill`), each for the tracker of
/// the folder it ran in (as its hook would have), after asking, and delivers them in
/// batches that fit the queue. Turns with no tracker stay local.
fn send(
    args: &ImportArgs,
    env: &Env,
    layout: &crate::env::Layout,
    turns: Vec<(Map<String, Value>, Option<String>)>,
) -> Result<i32> {
    let config = config::Config::load(layout)?;
    let routed: Vec<(Map<String, Value>, config::Route, String)> = turns
        .into_iter()
        .filter_map(|(p, cwd)| {
            let folder = cwd.unwrap_or_else(|| env.cwd.to_string_lossy().into_owned());
            let route = config::route(env.ping_url.as_deref(), &config, Path::new(&folder))?;
            Some((p, route, folder))
        })
        .collect();
    if routed.is_empty() {
        eprintln!(
            "Nothing to send: no new turn has a tracker (telemhq install --global --ping-url URL sets one)."
        );
        return Ok(0);
    }
    let mut trackers: Vec<String> = routed
        .iter()
        .map(|(_, r, _)| config::mask_url(&r.url))
        .collect();
    trackers.sort();
    trackers.dedup();
    let question = format!(
        "Send {} past turn(s) to {} (marked backfill)?",
        routed.len(),
        trackers.join(", ")
    );
    if !args.yes {
        if !crate::term::interactive() {
            return Err(Error::usage(format!(
                "--send would send {} past turn(s) to {}: add --yes to send them without asking",
                routed.len(),
                trackers.join(", ")
            )));
        }
        if !crate::term::confirm(&question)? {
            eprintln!("Nothing was sent; the turns are in the local store.");
            return Ok(1);
        }
    }
    let mut pending = 0;
    for chunk in routed.chunks(500) {
        for (p, route, folder) in chunk {
            let mut p = p.clone();
            p.insert("backfill".into(), json!(true));
            let id = p["event_id"].as_str().unwrap_or_default().to_string();
            queue::enqueue(
                layout,
                &id,
                None,
                p,
                Some(route.clone()),
                folder,
                config::otlp_target(&config),
            )?;
        }
        let report = sender::drain(
            layout,
            Patience::until(Instant::now() + Duration::from_secs(60)),
            agents::read_usage,
        );
        pending = report.pending;
        if let Some(e) = report.last_error.filter(|_| report.pending > 0) {
            eprintln!(
                "telemhq: {} event(s) not delivered yet ({e}); they stay queued.",
                report.pending
            );
            break;
        }
    }
    eprintln!(
        "Queued {} past turn(s) for {}; {pending} still pending.",
        routed.len(),
        trackers.join(", ")
    );
    Ok(if pending == 0 { 0 } else { 1 })
}
