//! What one turn used, as read from an agent's own session records (Codex's rollout,
//! Gemini CLI's chat file, Copilot CLI's events.jsonl), and the ping fields it gives.
//! Only numbers and names are ever taken from those files, never content.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value, json};

/// However long the session, never read more than this much of a record file's end.
const MAX_SCAN: u64 = 64 * 1024 * 1024;

/// One API call's tokens, in the one meaning telemhq gives each field for every agent
/// (Anthropic's): input without cache reads and cache writes; cache reads, cache writes
/// (5-minute and 1-hour) beside it; output with reasoning in it, and the reasoning part.
/// Each agent's reader maps its own figures to these.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Call {
    /// The agent's own id of the call (a message or response id), where it has one: a
    /// call copied into another session file is counted once.
    pub id: Option<String>,
    /// The model, where the record names it (else the turn's).
    pub model: Option<String>,
    pub input: u64,
    pub cache_read: u64,
    /// Cache writes of the default (5-minute) kind.
    pub cache_write: u64,
    pub cache_write_1h: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Call {
    /// The tokens of the request's prompt (what a provider's long-context tier counts).
    pub fn prompt(&self) -> u64 {
        self.input + self.cache_read + self.cache_write + self.cache_write_1h
    }

    pub fn add(&mut self, o: &Call) {
        self.input += o.input;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.cache_write_1h += o.cache_write_1h;
        self.output += o.output;
        self.reasoning += o.reasoning;
    }

    /// The `usage` object of a ping.
    pub fn to_json(&self) -> Value {
        json!({
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation_input_tokens": self.cache_write + self.cache_write_1h,
            "reasoning_output_tokens": self.reasoning,
        })
    }
}

/// What an event counts for. One definition for the store, `report`, a run's ping and
/// the OpenTelemetry metrics:
/// - a **turn** is a turn-end event whose records telemhq read (its payload carries
///   `api_calls`): one prompt and everything the agent did for it;
/// - a **sub-agent's run** (`SubagentStop`) is part of the turn that started it: its
///   tokens, cost and tool calls count in every total, but it is not a turn of its own;
///   so are calls `import` found in an agent's records but could not place in a turn
///   (`Unplaced`: lines before a session's first prompt, say);
/// - a run's ping (`Run`) sums other events and counts for nothing itself; tool events
///   carry no usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Nothing = 0,
    Turn = 1,
    WithinTurn = 2,
}

/// The event name of a sub-agent's run, from a hook or from import.
pub const SUBAGENT_EVENT: &str = "SubagentStop";
/// The event name `import` gives calls it could not place in a turn.
pub const UNPLACED_EVENT: &str = "Unplaced";

impl Part {
    pub fn of(payload: &Map<String, Value>) -> Part {
        let event = payload.get("event").and_then(Value::as_str);
        match event {
            Some("Run") => Part::Nothing,
            _ if !payload.contains_key("api_calls") => Part::Nothing,
            Some(SUBAGENT_EVENT | UNPLACED_EVENT) => Part::WithinTurn,
            _ => Part::Turn,
        }
    }

    /// Its usage counts in totals.
    pub fn has_usage(self) -> bool {
        self != Part::Nothing
    }
}

/// A turn's identity, the same whether a hook or `import` records it: its agent (the
/// ping's `tool`), its session, and the agent's own key of the turn in the session
/// (Claude Code's prompt id, Codex's turn id, the id of the prompt's record in Gemini
/// CLI's and Copilot CLI's files).
pub fn turn_uid(tool: &str, session: &str, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{tool}\n{session}\n{key}").as_bytes());
    crate::hex(&digest[..16])
}

/// A turn-end event's `event_id`: a UUID (version 4 layout) made from the turn's identity,
/// so that the hook, `import --send`, a retry or another copy of the history all send the
/// turn under one id (a tracker drops what it already has by `event_id`).
pub fn event_id(turn_uid: &str) -> String {
    let h = format!("{turn_uid:0<32}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A turn's usage as read from an agent's records: the ping fields, and the calls that
/// are priced (by the sender, with telemhq's prices; see `prices`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Turn {
    /// The agent's own key of the turn in its session (see `turn_uid`).
    pub key: Option<String>,
    pub fields: Map<String, Value>,
    pub calls: Vec<Call>,
    /// The model of calls that do not name their own.
    pub model: Option<String>,
    /// What the agent itself recorded as the turn's cost, in US dollars.
    pub agent_cost_usd: Option<f64>,
}

/// What a turn used.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TurnUsage {
    /// The agent's own key of the turn in its session (see `turn_uid`).
    pub key: Option<String>,
    /// The session, as the agent names it (import: from the records).
    pub session: Option<String>,
    /// The folder the turn ran in (import: from the records), for the ping's `project`.
    pub cwd: Option<String>,
    /// Unix ms of the turn's last record (import: when it ended).
    pub ended_ms: Option<i64>,
    pub model: Option<String>,
    /// Each API call of the turn.
    pub calls: Vec<Call>,
    pub tool_calls: BTreeMap<String, u64>,
    /// Unix ms the turn started, and its duration when the agent recorded one.
    pub started_ms: Option<i64>,
    pub duration_ms: Option<u64>,
    /// The agent's version, under the ping key that names it (`codex_version`).
    pub agent_version: Option<(&'static str, String)>,
    /// What the agent says the turn cost, in US dollars.
    pub cost_usd: Option<f64>,
    /// The turn recorded an error (for agents without a failure hook event).
    pub failed: bool,
    /// A sub-agent's run: part of the turn that started it (see `Part`).
    pub subagent: bool,
    /// Calls found in the records outside any turn (see `Part`).
    pub unplaced: bool,
}

impl TurnUsage {
    /// The sum of the turn's calls.
    pub fn total(&self) -> Call {
        let mut t = Call::default();
        self.calls.iter().for_each(|c| t.add(c));
        t
    }

    /// The ping fields, with Claude Code's key names, and the calls to price. `event_ms`
    /// is when the hook fired.
    pub fn read(self, event_ms: i64) -> Turn {
        let mut m = Map::new();
        if let Some(model) = &self.model {
            m.insert("model".into(), json!(model));
        }
        if !self.calls.is_empty() {
            m.insert("usage".into(), self.total().to_json());
        }
        m.insert("api_calls".into(), json!(self.calls.len()));
        m.insert("tool_calls".into(), json!(self.tool_calls));
        let duration = self
            .duration_ms
            .map(|d| d as i64)
            .or_else(|| self.started_ms.map(|s| (event_ms - s).max(0)));
        if let Some(d) = duration {
            m.insert("turn_duration_ms".into(), json!(d));
        }
        if let Some((key, v)) = &self.agent_version {
            m.insert((*key).into(), json!(v));
        }
        if self.failed {
            m.insert("status".into(), json!("failed"));
            m.insert("error".into(), json!("api_error"));
        }
        Turn {
            key: self.key,
            fields: m,
            calls: self.calls,
            model: self.model,
            agent_cost_usd: self.cost_usd,
        }
    }

    pub fn count_tool(&mut self, name: String) {
        *self.tool_calls.entry(name).or_default() += 1;
    }
}

/// A value from a record file that is a name (a model, a tool, a version), never text.
pub fn name(v: &Value) -> Option<String> {
    v.as_str().filter(|s| is_name(s)).map(str::to_string)
}

/// A model's name as an agent gave it, if it is one (a model id's characters, bounded):
/// anything else is left out and counted as an unknown model, on every path.
pub fn model_name(s: &str) -> Option<String> {
    is_name(s).then(|| s.to_string())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:@[]/".contains(&b))
}

/// How much of a record file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Its last `MAX_SCAN` bytes (a hook, which must stay quick however long the session).
    Tail,
    /// All of it (`import`, which reads the whole history once).
    Whole,
}

/// Longer lines are skipped without being held in memory (no record line of an agent's
/// is near this; a pasted file in a prompt can be).
pub const MAX_LINE: usize = 8 * 1024 * 1024;

/// The lines of a reader, each handed out where it lies in a large buffer (no copy per
/// line: history is read at the speed of the disk cache). A line longer than the bound
/// is consumed without being held, and a last line without its newline (still being
/// written) is never handed out.
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes handed out (or skipped) so far.
    pos: u64,
    eof: bool,
    max: usize,
}

/// One line from `Lines`.
pub struct Line<'a> {
    /// Where it starts, from where reading began.
    pub at: u64,
    /// Its bytes with the newline, or None when it was longer than the bound.
    pub bytes: Option<&'a [u8]>,
}

const LINES_BLOCK: usize = 1024 * 1024;

thread_local! {
    /// Each thread's line buffer, kept from one file to the next (a fresh one per file
    /// would be zeroed each time).
    static LINE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<R> Drop for Lines<R> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() <= LINES_BLOCK {
            LINE_BUFFER.with(|b| *b.borrow_mut() = buf);
        }
    }
}

impl<R: Read> Lines<R> {
    /// Lines of `inner`, which holds about `size` bytes (the buffer starts no larger).
    pub fn new(inner: R, size: u64, max: usize) -> Lines<R> {
        let first = (size as usize)
            .saturating_add(1)
            .clamp(64, LINES_BLOCK)
            .min(max + 1);
        let mut buf = LINE_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        if buf.len() < first {
            buf.resize(first, 0);
        }
        Lines {
            inner,
            buf,
            start: 0,
            end: 0,
            pos: 0,
            eof: false,
            max,
        }
    }

    /// The next whole line, or None at the end (or at a line still being written).
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let mut skipped: Option<u64> = None;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (from, to) = (self.start, self.start + i + 1);
                self.start = to;
                let at = self.pos;
                if let Some(before) = skipped {
                    // The end of a line too long to hold.
                    self.pos += before + (to - from) as u64;
                    return Some(Line { at, bytes: None });
                }
                self.pos += (to - from) as u64;
                return Some(Line {
                    at,
                    bytes: Some(&self.buf[from..to]),
                });
            }
            if self.eof {
                return None;
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                if self.buf.len() <= self.max {
                    let grown = (self.buf.len() * 2).min(self.max + 1);
                    self.buf.resize(grown, 0);
                } else {
                    // Longer than the bound: dropped as it is read.
                    *skipped.get_or_insert(0) += self.end as u64;
                    self.end = 0;
                }
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) | Err(_) => self.eof = true,
                Ok(n) => self.end += n,
            }
        }
    }
}

/// Parses one JSON line; a line with bytes that are not UTF-8 is read with them replaced.
pub fn parse_line<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes)
        .ok()
        .or_else(|| serde_json::from_str(&String::from_utf8_lossy(bytes)).ok())
}

/// Calls `take` with each JSON line of the file (its last `MAX_SCAN` bytes for a hook)
/// that contains one of `worth` (a cheap substring test: every other line is skipped
/// unparsed). A line still being written, longer than `MAX_LINE`, or not JSON, is
/// skipped. False when the file cannot be read.
pub fn scan_lines(path: &Path, span: Span, worth: &[&str], mut take: impl FnMut(&Value)) -> bool {
    let Ok(mut file) = crate::fsutil::open_regular(path) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    let start = match span {
        Span::Tail => meta.len().saturating_sub(MAX_SCAN),
        Span::Whole => 0,
    };
    if file.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    // A file still growing is read up to the length it had when opened: the read is
    // bounded by size, and so by time.
    let mut lines = Lines::new(file.take(meta.len() - start), meta.len() - start, MAX_LINE);
    let mut first = start > 0; // (a partial first line is dropped)
    while let Some(line) = lines.next_line() {
        let Some(bytes) = line.bytes.filter(|_| !std::mem::take(&mut first)) else {
            continue;
        };
        if !worth
            .iter()
            .any(|k| memchr::memmem::find(bytes, k.as_bytes()).is_some())
        {
            continue;
        }
        if let Some(v) = parse_line::<Value>(bytes) {
            take(&v);
        }
    }
    true
}

/// A record file that is one JSON document (Gemini CLI's chat files before 0.4x), read
/// whole if it is no larger than a hook may read (`MAX_SCAN`). None when it cannot be read,
/// is larger, or is not JSON.
pub fn read_document(path: &Path) -> Option<Value> {
    let mut file = crate::fsutil::open_regular(path).ok()?;
    if file.metadata().ok()?.len() > MAX_SCAN {
        return None;
    }
    let mut bytes = Vec::new();
    (&mut file).take(MAX_SCAN).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}
