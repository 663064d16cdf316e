//! The local store: every event's allowlisted payload (exactly what is or would be sent,
//! usage and cost included) in an embedded SQLite database in telemhq's private folder
//! (`telemhq.d/telemhq.db`, mode 600), with its delivery state; and what `import` has
//! read of the agents' history. The user's own record of what their agents did, with or
//! without a TelemHQ account.
//!
//! Written by the sender (after it read the usage), by emit in CI and by `run`, and by
//! `import`; never on emit's hot path. Several writers at once are safe (SQLite's WAL
//! and a busy timeout); a store that is locked too long, damaged or on a full disk never
//! stops a hook or a delivery: writers give up and say why (doctor reports it).
//!
//! Holds nothing but the allowlist: payloads, and numbers and names taken from them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::env::Layout;

/// Turns kept (oldest go first), unless the config says otherwise.
pub const DEFAULT_KEEP_DAYS: u32 = 400;

pub fn path(layout: &Layout) -> PathBuf {
    layout.state_dir.join("telemhq.db")
}

fn error_path(layout: &Layout) -> PathBuf {
    layout.state_dir.join("store-error.txt")
}

/// Keeps why the store could not be written (None: it could), for doctor.
pub fn note(layout: &Layout, why: Option<Why>) {
    match why {
        Some(why) => {
            let line = format!("{} {why}", crate::time::rfc3339_now());
            let _ = crate::fsutil::write_private(&error_path(layout), line.as_bytes());
        }
        None => {
            let _ = std::fs::remove_file(error_path(layout));
        }
    }
}

/// The last reason the store could not be written, if it still holds.
pub fn last_error(layout: &Layout) -> Option<String> {
    let bytes = crate::fsutil::read_regular(&error_path(layout)).ok()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_string()).filter(|s| !s.is_empty())
}

/// A store that could not be used, and why (in words).
pub type Why = String;

pub struct Store {
    conn: Connection,
}

/// The layout of the store (`PRAGMA user_version`), for later versions to migrate from.
/// 2: `turn` is a `usage::Part` (a sub-agent's run is 2), and `imported` keeps from when
/// a file's turns were recorded and a fingerprint of what was read.
const SCHEMA_VERSION: i64 = 3;

/// Turns' figures in `events`, each model's part of them in `models` (a report reads
/// only their covering indexes), what was or would be sent in `payloads` (by the event's
/// row id), and every API call already counted in `calls` (64-bit digests of the call's
/// and the turn's ids: small keys, as import writes tens of thousands).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    tool TEXT NOT NULL,
    event TEXT NOT NULL,
    turn INTEGER NOT NULL,
    status TEXT NOT NULL,
    session TEXT,
    project TEXT,
    model TEXT,
    input INTEGER NOT NULL DEFAULT 0,
    output INTEGER NOT NULL DEFAULT 0,
    cache_read INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    reasoning INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    unpriced TEXT,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    tracker TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS payloads (
    id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER NOT NULL,
    model TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    turn INTEGER NOT NULL,
    tool TEXT NOT NULL,
    project TEXT,
    session TEXT,
    status TEXT NOT NULL,
    tool_calls INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    reasoning INTEGER NOT NULL,
    cost_usd REAL,
    PRIMARY KEY (id, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls (
    call INTEGER PRIMARY KEY,
    turn INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS imported (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    state TEXT,
    since_ms INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT
);
";

/// The covering indexes `report` reads (see `Store::suspend_report_indexes`).
const REPORT_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS events_report ON events (turn, at_ms, tool, project, session, input,
    output, cache_read, cache_write, reasoning, cost_usd, unpriced, status, tool_calls);
CREATE INDEX IF NOT EXISTS models_report ON models (turn, at_ms, tool, project, model, session,
    input, output, cache_read, cache_write, reasoning, cost_usd, status, tool_calls);
CREATE INDEX IF NOT EXISTS events_no_model ON events (turn, at_ms, tool, project, session, input,
    output, cache_read, cache_write, reasoning, cost_usd, unpriced, status, tool_calls)
    WHERE model IS NULL;
";

/// From layout 1: sub-agents' runs are parts of turns; what import read before is read
/// again (its readers now know older agents' formats), so `state` says so.
const FROM_1: &str = "
UPDATE events SET turn = 2 WHERE turn = 1 AND event = 'SubagentStop';
UPDATE models SET turn = 2 WHERE id IN (SELECT id FROM events WHERE turn = 2);
ALTER TABLE imported ADD COLUMN since_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE imported ADD COLUMN fingerprint TEXT;
UPDATE imported SET state = 'reread';
";

/// From layout 2: each model's part knows its session (`report session` reads its models
/// from the covering index), and turns without a model have an index of their own.
const FROM_2: &str = "
ALTER TABLE models ADD COLUMN session TEXT;
UPDATE models SET session = (SELECT session FROM events WHERE events.id = models.id);
DROP INDEX IF EXISTS models_report;
";

/// What to record of an event.
pub struct Record<'a> {
    /// The turn's identity (`turn_uid`) or, for other events, the event id.
    pub uid: &'a str,
    pub payload: &'a Map<String, Value>,
    /// `hook` or `import`.
    pub source: &'a str,
    /// `pending` (no tracker, or not delivered yet), `delivered`, `failed`, `local`
    /// (imported, not sent).
    pub state: &'a str,
    /// The tracker, masked.
    pub tracker: Option<&'a str>,
    /// What happened at delivery (an HTTP status, why it failed), without the token.
    pub note: Option<&'a str>,
    /// The agent's ids of the turn's calls: a call met again (a resumed session's copy)
    /// is not counted in another turn.
    pub call_ids: &'a [String],
}

fn n(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

impl Store {
    /// Opens (creating it, 600) the store.
    pub fn open(layout: &Layout) -> Result<Store, Why> {
        let path = path(layout);
        refuse_other(&path)?;
        // Made 600 before SQLite opens it (SQLite would make it 644 first, and its
        // write-ahead log and index take the file's mode): never readable by others.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| {
                    format!(
                        "the store {} cannot be made: {}",
                        crate::term::path(&path),
                        crate::error::io_reason(&e)
                    )
                })?;
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| why(&path, &e))?;
        Self::prepare(conn, &path)
    }

    /// Opens the store to read it; None when there is none yet. On a read-only file
    /// system (where SQLite cannot make the write-ahead log's index beside it) the file
    /// is read as it is: nobody can be writing it there.
    pub fn open_existing(layout: &Layout) -> Result<Option<Store>, Why> {
        Self::open_existing_waiting(layout, Duration::from_secs(3))
    }

    /// `open_existing`, waiting at most `wait` for a writer that holds the store (the
    /// status line runs after every turn: it shows less rather than wait).
    pub fn open_existing_waiting(layout: &Layout, wait: Duration) -> Result<Option<Store>, Why> {
        let path = path(layout);
        refuse_other(&path)?;
        if !path.exists() {
            return Ok(None);
        }
        let opened = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| why(&path, &e))
        .and_then(|conn| {
            conn.busy_timeout(wait).map_err(|e| why(&path, &e))?;
            readable(&conn, &path)?;
            Ok(conn)
        });
        let conn = match opened {
            Ok(conn) => conn,
            Err(_) if read_only_folder(&path) => {
                return Ok(Self::open_untouched(layout)?.filter(|s| s.version() > 0));
            }
            Err(e) => return Err(e),
        };
        // A store being made this moment (its tables not written yet) is an empty one.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| why(&path, &e))?;
        if version == 0 {
            return Ok(None);
        }
        Ok(Some(Store { conn }))
    }

    /// Opens the store to look at it without changing a byte of telemhq's folder (no
    /// journal files made: doctor changes no file). What a writer still has open in its
    /// write-ahead log is not seen (see `in_use`).
    pub fn open_untouched(layout: &Layout) -> Result<Option<Store>, Why> {
        let path = path(layout);
        refuse_other(&path)?;
        if !path.exists() {
            return Ok(None);
        }
        let mut uri = String::from("file:");
        for c in path.to_string_lossy().chars() {
            match c {
                '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
                c => uri.push(c),
            }
        }
        uri.push_str("?immutable=1");
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| why(&path, &e))?;
        readable(&conn, &path)?;
        Ok(Some(Store { conn }))
    }

    /// The store's layout version (0: being made this moment).
    /// The store's layout (0: a store being made this moment, its tables not written yet).
    pub fn version(&self) -> i64 {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// A writer has the store open now (its write-ahead log exists).
    pub fn in_use(layout: &Layout) -> bool {
        let mut wal = path(layout).into_os_string();
        wal.push("-wal");
        Path::new(&wal).exists()
    }

    fn prepare(conn: Connection, path: &Path) -> Result<Store, Why> {
        conn.busy_timeout(Duration::from_secs(3))
            .map_err(|e| why(path, &e))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;",
        )
        .map_err(|e| why(path, &e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| why(path, &e))?;
        if version > SCHEMA_VERSION {
            return Err(format!(
                "the store {} was made by a later telemhq (layout {version}): update telemhq",
                crate::term::path(path)
            ));
        }
        if version < SCHEMA_VERSION {
            migrate(&conn).map_err(|e| why(path, &e))?;
        }
        Ok(Store { conn })
    }

    /// Records an event (again: the newest payload and state win, except that a turn a
    /// hook recorded keeps its delivery state when import meets it again).
    pub fn record(&self, r: &Record) -> Result<(), Why> {
        self.record_many(std::slice::from_ref(r))
    }

    /// Records events in one transaction.
    pub fn record_many(&self, records: &[Record]) -> Result<(), Why> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| e.to_string())?;
        for r in records {
            insert(&tx, r).map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    }

    /// Starts recording what import reads: files' turns and how far each was read, in
    /// one transaction per batch of files.
    pub fn import_batch(&self) -> Result<ImportBatch<'_>, Why> {
        // Turns' identities are hashes, so inserts land all over the indexes: a page cache
        // that holds them (64 MiB at most) keeps pages from being spilled and read again.
        // Checkpoints (copying the log into the main file) once at the end rather than
        // every 4 MiB: pages written many times are copied once.
        let _ = self
            .conn
            .execute_batch("PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 50000;");
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| e.to_string())?;
        Ok(ImportBatch {
            tx,
            turns: 0,
            started: std::time::Instant::now(),
        })
    }

    /// Drops events older than `keep_days`.
    pub fn prune(&self, keep_days: u32, now_ms: i64) -> Result<usize, Why> {
        let before = now_ms - i64::from(keep_days) * 86_400_000;
        // (`turn IN (0, 1, 2)` lets the report index find them.)
        let old = "SELECT id FROM events WHERE turn IN (0, 1, 2) AND at_ms < ?1";
        for table in ["models", "payloads"] {
            self.conn
                .execute(
                    &format!("DELETE FROM {table} WHERE id IN ({old})"),
                    params![before],
                )
                .map_err(|e| e.to_string())?;
        }
        self.conn
            .execute(
                "DELETE FROM events WHERE turn IN (0, 1, 2) AND at_ms < ?1",
                params![before],
            )
            .map_err(|e| e.to_string())
    }

    /// Sets the report's covering indexes aside while a large import writes: making
    /// them again once is much cheaper than keeping them up to date row by row. A report
    /// meanwhile reads the tables without them.
    pub fn suspend_report_indexes(&self) -> Result<(), Why> {
        self.conn
            .execute_batch(
                "DROP INDEX IF EXISTS events_report; DROP INDEX IF EXISTS models_report;
                 DROP INDEX IF EXISTS events_no_model;",
            )
            .map_err(|e| e.to_string())
    }

    pub fn restore_report_indexes(&self) -> Result<(), Why> {
        self.conn
            .execute_batch(REPORT_INDEXES)
            .map_err(|e| e.to_string())
    }

    /// Whether `report` can read the covering indexes (an import may have set them aside).
    pub fn has_report_indexes(&self) -> bool {
        report_indexes_present(&self.conn)
    }

    /// What the turns that ended from `from_ms` up to `to_ms` cost, US dollars, of one
    /// agent (`tool`) or project when given: the priced part of each turn (a turn of a
    /// model without a price counts what its priced models cost). From the covering
    /// index, so a day's sum reads only that day's turns.
    pub fn cost_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        tool: Option<&str>,
        project: Option<&str>,
    ) -> Result<f64, Why> {
        let indexed = if self.has_report_indexes() {
            "INDEXED BY events_report"
        } else {
            ""
        };
        self.conn
            .prepare_cached(&format!(
                "SELECT total(CASE WHEN cost_usd IS NULL AND unpriced IS NOT NULL
                     THEN (SELECT sum(cost_usd) FROM models WHERE models.id = events.id)
                     ELSE cost_usd END)
                 FROM events {indexed}
                 WHERE turn IN (1, 2) AND at_ms >= ?1 AND at_ms < ?2
                     AND (?3 IS NULL OR tool = ?3) AND (?4 IS NULL OR project = ?4)"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![from_ms, to_ms, tool, project], |r| {
                    r.get::<_, f64>(0)
                })
            })
            .map_err(|e| e.to_string())
    }

    /// How many events the store holds.
    pub fn events(&self) -> u64 {
        self.conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| n.max(0) as u64)
    }

    /// From now on, a write to a locked store fails at once instead of waiting.
    pub fn impatient(&self) {
        let _ = self.conn.busy_timeout(Duration::ZERO);
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Every call already counted, and the turn that counted it (as `digest`s).
    pub fn counted_calls(&self) -> Result<std::collections::HashMap<i64, i64>, Why> {
        let mut stmt = self
            .conn
            .prepare("SELECT call, turn FROM calls")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| e.to_string())?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    /// What import read of a file.
    pub fn imported(&self, file: &str) -> Option<Read> {
        self.conn
            .query_row(
                "SELECT size, mtime_ms, offset, since_ms, fingerprint FROM imported
                 WHERE path = ?1",
                params![file],
                |r| {
                    Ok(Read {
                        size: r.get::<_, i64>(0)? as u64,
                        mtime_ms: r.get(1)?,
                        offset: r.get::<_, i64>(2)? as u64,
                        since_ms: r.get(3)?,
                        fingerprint: r.get(4)?,
                    })
                },
            )
            .ok()
    }

    /// Import's records were made by readers that knew fewer of the agents' formats (a
    /// store from an earlier telemhq): they are to be read again.
    pub fn imports_outdated(&self) -> bool {
        self.conn
            .query_row(
                "SELECT 1 FROM imported WHERE state = 'reread' LIMIT 1",
                [],
                |_| Ok(()),
            )
            .optional()
            .ok()
            .flatten()
            .is_some()
    }

    /// Forgets every turn import recorded, and what it read, so that the history is
    /// read again whole. Turns the hooks recorded stay as they are.
    pub fn forget_imports(&self) -> Result<usize, Why> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| e.to_string())?;
        let uids: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT uid FROM events WHERE source = 'import'")
                .map_err(|e| e.to_string())?;
            stmt.query_map([], |r| r.get(0))
                .map_err(|e| e.to_string())?
                .filter_map(Result::ok)
                .collect()
        };
        for uid in &uids {
            tx.prepare_cached("DELETE FROM calls WHERE turn = ?1")
                .and_then(|mut st| st.execute(params![digest(uid)]))
                .map_err(|e| e.to_string())?;
        }
        tx.execute_batch(
            "DELETE FROM models WHERE id IN (SELECT id FROM events WHERE source = 'import');
             DELETE FROM payloads WHERE id IN (SELECT id FROM events WHERE source = 'import');
             DELETE FROM events WHERE source = 'import';
             DELETE FROM imported;",
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        Ok(uids.len())
    }
}

/// What import read of a file: its size and modification time then, how far it is done,
/// from when its turns were recorded (`--since`, `keep_days`), and a fingerprint of
/// what was read (see `fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub size: u64,
    pub mtime_ms: i64,
    pub offset: u64,
    pub since_ms: i64,
    pub fingerprint: Option<String>,
}

/// A turn the store has already, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// `hook` or `import`.
    pub source: String,
    pub state: String,
}

fn report_indexes_present(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index'
             AND name IN ('events_report', 'models_report', 'events_no_model')",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n == 3)
}

/// Brings a store up to `SCHEMA_VERSION`, once: the version is read again inside the
/// write transaction, so two processes opening an older store at once migrate it once.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let done = (|| {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        match version {
            0 => conn.execute_batch(&format!("{SCHEMA}{REPORT_INDEXES}"))?,
            1 => conn.execute_batch(&format!("{FROM_1}{FROM_2}{REPORT_INDEXES}"))?,
            2 => conn.execute_batch(&format!("{FROM_2}{REPORT_INDEXES}"))?,
            _ => return Ok(()),
        }
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
    })();
    match done {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Whether the store's folder is on a file system mounted read-only.
fn read_only_folder(path: &Path) -> bool {
    path.parent()
        .and_then(|dir| rustix::fs::statvfs(dir).ok())
        .is_some_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// The store is a regular file of telemhq's own: a link (to anywhere) or anything else
/// in its place is never opened, written or changed.
fn refuse_other(path: &Path) -> Result<(), Why> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => Err(format!(
            "{} is not telemhq's store but {}: it is left as it is (move it aside)",
            crate::term::path(path),
            if meta.file_type().is_symlink() {
                "a link"
            } else {
                "something else than a file"
            }
        )),
        _ => Ok(()),
    }
}

/// SQLite opens lazily: read the schema now, so a damaged file is told apart from an
/// empty result.
fn readable(conn: &Connection, path: &Path) -> Result<(), Why> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|_| ())
    .map_err(|e| why(path, &e))
}

/// Files read by import, recorded together: their turns and how far each was read are
/// written (or, on a failure, not) at once, so the next import reads again exactly what
/// was not recorded.
pub struct ImportBatch<'a> {
    tx: rusqlite::Transaction<'a>,
    turns: usize,
    started: std::time::Instant,
}

impl ImportBatch<'_> {
    pub fn record_file(&mut self, rows: &[Row], file: &str, read: &Read) -> Result<(), Why> {
        for r in rows {
            write_row(&self.tx, r).map_err(|e| e.to_string())?;
        }
        self.turns += rows.len();
        self.tx
            .prepare_cached(
                "INSERT INTO imported (path, size, mtime_ms, offset, since_ms, fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(path) DO UPDATE SET size = ?2, mtime_ms = ?3, offset = ?4,
                     since_ms = ?5, fingerprint = ?6, state = NULL",
            )
            .and_then(|mut st| {
                st.execute(params![
                    file,
                    read.size as i64,
                    read.mtime_ms,
                    read.offset as i64,
                    read.since_ms,
                    read.fingerprint
                ])
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Whether the store has this turn already, and how.
    pub fn known(&self, uid: &str) -> Result<Option<Known>, Why> {
        self.tx
            .prepare_cached("SELECT source, state FROM events WHERE uid = ?1")
            .and_then(|mut st| {
                st.query_row(params![uid], |r| {
                    Ok(Known {
                        source: r.get(0)?,
                        state: r.get(1)?,
                    })
                })
                .optional()
            })
            .map_err(|e| e.to_string())
    }

    /// Big or old enough to commit: a sender waiting to write meanwhile waits at most
    /// about a second.
    pub fn full(&self) -> bool {
        self.turns >= 20_000 || self.started.elapsed() >= Duration::from_millis(500)
    }

    pub fn commit(self) -> Result<(), Why> {
        self.tx.commit().map_err(|e| e.to_string())
    }
}

fn why(path: &Path, e: &rusqlite::Error) -> Why {
    format!("the store {} cannot be used: {e}", crate::term::path(path))
}

/// Everything written for one event: its columns, its payload's text, each model's part
/// and the digests of its calls. Made from a `Record` without I/O (import makes its rows
/// on every core; only the writing is one at a time).
pub struct Row {
    uid: String,
    event_id: String,
    at_ms: i64,
    tool: String,
    event: String,
    turn: crate::usage::Part,
    status: String,
    session: Option<String>,
    project: Option<String>,
    model: Option<String>,
    tokens: Tokens,
    cost: Option<f64>,
    unpriced: Option<String>,
    tool_calls: i64,
    source: String,
    state: String,
    tracker: Option<String>,
    note: Option<String>,
    payload: String,
    models: Vec<(String, Tokens, Option<f64>)>,
    turn_digest: i64,
    call_digests: Vec<i64>,
}

/// Input, output, cache read, cache write, reasoning.
#[derive(Clone, Copy)]
struct Tokens([i64; 5]);

impl Tokens {
    fn of(usage: Option<&Value>) -> Tokens {
        let n = |key| usage.map_or(0, |u| n(u, key));
        Tokens([
            n("input_tokens"),
            n("output_tokens"),
            n("cache_read_input_tokens"),
            n("cache_creation_input_tokens"),
            n("reasoning_output_tokens"),
        ])
    }
}

impl Row {
    pub fn new(r: &Record) -> Row {
        let p = r.payload;
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
        let cost = p.get("cost_usd").and_then(Value::as_f64);
        let unpriced: Vec<&str> = p
            .get("unpriced_models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        // Per model: the turn's `models` where it used several, else its one model.
        let models = match p.get("models").and_then(Value::as_object) {
            Some(models) => models
                .iter()
                .map(|(m, v)| {
                    let cost = v.get("cost_usd").and_then(Value::as_f64);
                    (m.clone(), Tokens::of(Some(v)), cost)
                })
                .collect(),
            None => match (text("model"), p.get("usage")) {
                (Some(m), Some(u)) => vec![(m, Tokens::of(Some(u)), cost)],
                _ => Vec::new(),
            },
        }
        .into_iter()
        .map(|(m, t, c)| {
            let c = c.filter(|_| !unpriced.contains(&m.as_str()));
            (m, t, c)
        })
        .collect();
        Row {
            uid: r.uid.to_string(),
            event_id: text("event_id").unwrap_or_default(),
            at_ms: text("emitted_at")
                .as_deref()
                .and_then(crate::time::parse_rfc3339_ms)
                .unwrap_or(0),
            tool: text("tool").unwrap_or_default(),
            event: text("event").unwrap_or_default(),
            turn: crate::usage::Part::of(p),
            status: text("status").unwrap_or_default(),
            session: text("session_id"),
            project: text("project"),
            model: text("model"),
            tokens: Tokens::of(p.get("usage")),
            cost,
            unpriced: (!unpriced.is_empty()).then(|| unpriced.join(",")),
            tool_calls: p
                .get("tool_calls")
                .and_then(Value::as_object)
                .map(|o| o.values().filter_map(Value::as_i64).sum())
                .unwrap_or(0),
            source: r.source.to_string(),
            state: r.state.to_string(),
            tracker: r.tracker.map(str::to_string),
            note: r.note.map(str::to_string),
            payload: serde_json::to_string(p).expect("a payload serialises"),
            models,
            turn_digest: digest(r.uid),
            call_digests: r.call_ids.iter().map(|c| digest(c)).collect(),
        }
    }

    /// The digests of the turn's calls, and of the turn (see `Store::counted_calls`).
    pub fn digests(&self) -> (&[i64], i64) {
        (&self.call_digests, self.turn_digest)
    }
}

fn insert(tx: &Connection, r: &Record) -> rusqlite::Result<()> {
    write_row(tx, &Row::new(r))
}

fn write_row(tx: &Connection, r: &Row) -> rusqlite::Result<()> {
    let [input, output, cache_read, cache_write, reasoning] = r.tokens.0;
    // A turn a hook recorded (and delivered) stays as it is when import meets it again:
    // then nothing is returned, and nothing else written.
    let id: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO events (uid, event_id, at_ms, tool, event, turn, status, session,
                 project, model, input, output, cache_read, cache_write, reasoning, cost_usd,
                 unpriced, tool_calls, source, state, tracker, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22)
             ON CONFLICT(uid) DO UPDATE SET event_id = ?2, at_ms = ?3, tool = ?4, event = ?5,
                 turn = ?6, status = ?7, session = ?8, project = ?9, model = ?10, input = ?11,
                 output = ?12, cache_read = ?13, cache_write = ?14, reasoning = ?15,
                 cost_usd = ?16, unpriced = ?17, tool_calls = ?18, source = ?19, state = ?20,
                 tracker = ?21, note = ?22
                 WHERE ?19 = 'hook' OR events.source != 'hook'
             RETURNING id",
        )?
        .query_row(
            params![
                r.uid,
                r.event_id,
                r.at_ms,
                r.tool,
                r.event,
                r.turn as i64,
                r.status,
                r.session,
                r.project,
                r.model,
                input,
                output,
                cache_read,
                cache_write,
                reasoning,
                r.cost,
                r.unpriced,
                r.tool_calls,
                r.source,
                r.state,
                r.tracker,
                r.note,
            ],
            |row| row.get(0),
        )
        .optional()?;
    let Some(id) = id else {
        return Ok(());
    };
    tx.prepare_cached("INSERT OR REPLACE INTO payloads (id, payload) VALUES (?1, ?2)")?
        .execute(params![id, r.payload])?;
    for call in &r.call_digests {
        tx.prepare_cached("INSERT OR IGNORE INTO calls (call, turn) VALUES (?1, ?2)")?
            .execute(params![call, r.turn_digest])?;
    }
    tx.prepare_cached("DELETE FROM models WHERE id = ?1")?
        .execute(params![id])?;
    for (model, tokens, cost) in &r.models {
        let [input, output, cache_read, cache_write, reasoning] = tokens.0;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO models (id, model, input, output, cache_read, cache_write,
                 reasoning, cost_usd, at_ms, turn, tool, project, status, tool_calls, session)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            id,
            model,
            input,
            output,
            cache_read,
            cache_write,
            reasoning,
            cost,
            r.at_ms,
            r.turn as i64,
            r.tool,
            r.project,
            r.status,
            r.tool_calls,
            r.session,
        ])?;
    }
    Ok(())
}

/// A 64-bit digest of an id (a call's or a turn's), for the `calls` table.
pub fn digest(id: &str) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(id.as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// A stored event, for `log`.
pub struct Stored {
    pub at_ms: i64,
    pub state: String,
    pub source: String,
    pub tracker: Option<String>,
    pub note: Option<String>,
    pub payload: Map<String, Value>,
}

/// The last `limit` events that pass the filters, oldest first.
pub fn recent(
    store: &Store,
    limit: usize,
    tool: Option<&str>,
    state: Option<&str>,
    tracker: Option<&str>,
) -> Result<Vec<Stored>, Why> {
    let mut stmt = store
        .conn
        .prepare(
            "SELECT e.at_ms, e.state, e.source, e.tracker, p.payload, e.note
             FROM events e JOIN payloads p ON p.id = e.id
             WHERE (?1 IS NULL OR tool = ?1) AND (?2 IS NULL OR state = ?2)
               AND (?3 IS NULL OR instr(ifnull(tracker, ''), ?3) > 0)
             ORDER BY at_ms DESC LIMIT ?4",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map(params![tool, state, tracker, limit as i64], |r| {
            Ok(Stored {
                at_ms: r.get(0)?,
                state: r.get(1)?,
                source: r.get(2)?,
                tracker: r.get(3)?,
                payload: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                note: r.get(5)?,
            })
        })
        .map_err(|e| e.to_string())?;
    let mut out: Vec<Stored> = rows.filter_map(Result::ok).collect();
    out.reverse();
    Ok(out)
}
