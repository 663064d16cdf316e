//! Usage of one Codex turn, read from the session's rollout file (JSON Lines, the hook's
//! `transcript_path`) without reading content out of it: token counts, tool names, the
//! model, the turn's duration, Codex's version, whether the turn hit an error.
//!
//! Codex says the rollout is not a stable interface, so it is read leniently: unknown
//! lines and fields are skipped, and anything missing just gives less. Only lines that
//! can matter (a cheap substring test) are parsed, and only the file's last
//! `MAX_SCAN` bytes are read.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value, json};

/// However long the session, never read more than this much of the rollout's end.
const MAX_SCAN: u64 = 64 * 1024 * 1024;

/// Line kinds worth parsing; every other line is skipped unparsed.
const WORTH_PARSING: [&str; 7] = [
    "\"session_meta\"",
    "\"turn_context\"",
    "\"task_started\"",
    "\"task_complete\"",
    "\"token_usage_record\"",
    "\"function_call\"",
    "\"error\"",
];

/// What a turn used.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TurnUsage {
    pub model: Option<String>,
    pub input: u64,
    pub cached_input: u64,
    pub cache_write_input: u64,
    pub output: u64,
    pub reasoning_output: u64,
    pub api_calls: u64,
    pub tool_calls: BTreeMap<String, u64>,
    /// Unix ms the turn started (`task_started`), and its duration (`task_complete`).
    pub started_ms: Option<i64>,
    pub duration_ms: Option<u64>,
    pub codex_version: Option<String>,
    /// The turn recorded an error (Codex has no failure hook event).
    pub failed: bool,
    /// Whether the turn was found at all.
    found: bool,
}

impl TurnUsage {
    /// The ping fields, with Claude Code's key names. `event_ms` is when the hook fired.
    pub fn to_fields(&self, event_ms: i64) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(model) = &self.model {
            m.insert("model".into(), json!(model));
        }
        if self.api_calls > 0 {
            m.insert(
                "usage".into(),
                json!({
                    "input_tokens": self.input,
                    "output_tokens": self.output,
                    "cache_read_input_tokens": self.cached_input,
                    "cache_creation_input_tokens": self.cache_write_input,
                    "reasoning_output_tokens": self.reasoning_output,
                }),
            );
        }
        m.insert("api_calls".into(), json!(self.api_calls));
        m.insert("tool_calls".into(), json!(self.tool_calls));
        let duration = self
            .duration_ms
            .map(|d| d as i64)
            .or_else(|| self.started_ms.map(|s| (event_ms - s).max(0)));
        if let Some(d) = duration {
            m.insert("turn_duration_ms".into(), json!(d));
        }
        if let Some(v) = &self.codex_version {
            m.insert("codex_version".into(), json!(v));
        }
        if self.failed {
            m.insert("status".into(), json!("failed"));
            m.insert("error".into(), json!("api_error"));
        }
        m
    }
}

/// Reads the usage of turn `turn_id` from a rollout file. None when the file cannot be
/// read or does not hold the turn.
pub fn turn_usage(path: &Path, turn_id: &str) -> Option<TurnUsage> {
    let mut file = crate::fsutil::open_regular(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(MAX_SCAN);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    if start > 0 {
        reader.read_until(b'\n', &mut line).ok()?; // a partial first line
    }
    let mut usage = TurnUsage::default();
    let mut in_turn = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if !WORTH_PARSING.iter().any(|k| text.contains(k)) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue; // a line still being written, or not JSON
        };
        take_line(&v, turn_id, &mut usage, &mut in_turn);
    }
    usage.found.then_some(usage)
}

fn take_line(v: &Value, turn_id: &str, usage: &mut TurnUsage, in_turn: &mut bool) {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let payload = v.get("payload").unwrap_or(&Value::Null);
    let of_turn = payload.get("turn_id").and_then(Value::as_str) == Some(turn_id)
        || payload
            .pointer("/internal_chat_message_metadata_passthrough/turn_id")
            .and_then(Value::as_str)
            == Some(turn_id);
    let name = |v: &Value| v.as_str().filter(|s| is_name(s)).map(str::to_string);
    match (kind, payload.get("type").and_then(Value::as_str)) {
        ("session_meta", _) => {
            usage.codex_version = payload.get("cli_version").and_then(name);
        }
        ("turn_context", _) if of_turn => {
            if let Some(model) = payload.get("model").and_then(name) {
                usage.model = Some(model);
            }
        }
        ("event_msg", Some("task_started")) => {
            *in_turn = of_turn;
            if of_turn {
                usage.found = true;
                usage.started_ms = v
                    .get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(crate::time::parse_rfc3339_ms);
            }
        }
        ("event_msg", Some("task_complete")) if of_turn => {
            usage.duration_ms = payload.get("duration_ms").and_then(Value::as_u64);
            *in_turn = false;
        }
        ("event_msg", Some("error" | "stream_error")) if *in_turn || of_turn => {
            usage.failed = true;
        }
        ("token_usage_record", _) if of_turn => {
            usage.found = true;
            let u = payload.get("usage").unwrap_or(&Value::Null);
            let n = |key: &str| u.get(key).and_then(Value::as_u64).unwrap_or(0);
            usage.input += n("input_tokens");
            usage.cached_input += n("cached_input_tokens");
            usage.cache_write_input += n("cache_write_input_tokens");
            usage.output += n("output_tokens");
            usage.reasoning_output += n("reasoning_output_tokens");
            usage.api_calls += 1;
        }
        ("response_item", Some("function_call")) if of_turn || *in_turn => {
            if let Some(tool) = payload.get("name").and_then(name) {
                *usage.tool_calls.entry(tool_name(&tool)).or_default() += 1;
            }
        }
        _ => {}
    }
}

/// Codex's shell tool is reported to hooks as `Bash`: name it so in counts too.
fn tool_name(function: &str) -> String {
    match function {
        "exec_command" | "shell" | "local_shell" => "Bash".into(),
        other => other.to_string(),
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:@[]/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/codex-0.169.0/rollout.jsonl")
    }

    const TURN: &str = "01a21119-9ec9-7000-85f6-b26d16d74e3a";

    #[test]
    fn a_real_rollout_gives_the_turns_usage() {
        let u = turn_usage(&fixture(), TURN).unwrap();
        assert_eq!(u.model.as_deref(), Some("mock-model"));
        assert_eq!(
            (u.input, u.cached_input, u.output, u.reasoning_output),
            (246, 14, 90, 6)
        );
        assert_eq!(u.api_calls, 2);
        assert_eq!(u.tool_calls.get("Bash"), Some(&1));
        assert_eq!(u.duration_ms, Some(205));
        assert_eq!(u.codex_version.as_deref(), Some("0.169.0"));
        assert!(!u.failed);
        let fields = u.to_fields(0);
        assert_eq!(fields["usage"]["cache_read_input_tokens"], 14);
        assert_eq!(fields["usage"]["reasoning_output_tokens"], 6);
        assert_eq!(fields["turn_duration_ms"], 205);
        let text = serde_json::to_string(&fields).unwrap();
        assert!(!text.contains("SECRET_CANARY_1") && !text.contains("mock-tool-ran"));
    }

    #[test]
    fn another_turn_or_a_missing_file_gives_nothing() {
        assert_eq!(turn_usage(&fixture(), "no-such-turn"), None);
        assert_eq!(
            turn_usage(Path::new("/nonexistent/rollout.jsonl"), TURN),
            None
        );
    }

    #[test]
    fn an_error_in_the_turn_marks_it_failed_and_unknown_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        let lines = [
            json!({"type": "session_meta", "payload": {"cli_version": "9.9.9"}}),
            json!({"type": "event_msg", "timestamp": "2026-11-25T00:00:00.000Z",
                   "payload": {"type": "task_started", "turn_id": "t1"}}),
            json!({"type": "something_new", "payload": {"type": "error", "turn_id": "t1"}}),
            json!({"type": "event_msg", "payload": {"type": "error", "message": "quota exceeded: secret"}}),
        ];
        let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        text.push_str("{\"type\": \"token_usage_record\", \"payload\": {\"turn_id\": \"t1\""); // cut
        std::fs::write(&path, text).unwrap();
        let u = turn_usage(&path, "t1").unwrap();
        assert!(u.failed);
        assert_eq!(u.api_calls, 0);
        let fields = u.to_fields(1_795_000_000_000);
        assert_eq!(fields["status"], "failed");
        assert_eq!(fields["error"], "api_error");
        assert!(!serde_json::to_string(&fields).unwrap().contains("quota"));
    }
}
