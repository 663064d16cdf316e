//! Usage of one Codex turn, read from the session's rollout file (JSON Lines, the hook's
//! `transcript_path`) without reading content out of it: token counts, tool names, the
//! model, the turn's duration, Codex's version, whether the turn hit an error.
//!
//! Codex says the rollout is not a stable interface, so it is read leniently: unknown
//! lines and fields are skipped, and anything missing just gives less. Only lines that
//! can matter (a cheap substring test) are parsed, and only the file's last
//! 64 MiB are read.

use std::path::Path;

use serde_json::Value;

use crate::usage::{Call, Span, TurnUsage, name, scan_lines};

/// Line kinds worth parsing; every other line is skipped unparsed.
const WORTH_PARSING: [&str; 9] = [
    "\"session_meta\"",
    "\"turn_context\"",
    "\"task_started\"",
    "\"task_complete\"",
    "\"user_message\"",
    "\"token_usage_record\"",
    "\"token_count\"",
    "\"function_call\"",
    "\"error\"",
];

/// Reads the usage of turn `turn_id` from a rollout file (its last 64 MiB). None when
/// the file cannot be read or does not hold the turn.
pub fn turn_usage(path: &Path, turn_id: &str) -> Option<TurnUsage> {
    read(path, Span::Tail)?
        .into_iter()
        .find(|t| t.usage.key.as_deref() == Some(turn_id))
        .map(Reading::finish)
}

/// Every turn of a rollout file that used the model, for `import`.
pub fn turns(path: &Path) -> Vec<TurnUsage> {
    read(path, Span::Whole)
        .unwrap_or_default()
        .into_iter()
        .map(Reading::finish)
        .filter(|u| !u.calls.is_empty())
        .collect()
}

/// One call's usage as Codex records it (OpenAI's meaning: input counts its cached and
/// cache-written tokens, output counts reasoning), in telemhq's meaning.
fn openai_call(u: &Value, id: Option<String>) -> Call {
    let n = |key: &str| u.get(key).and_then(Value::as_u64).unwrap_or(0);
    let (cached, written) = (n("cached_input_tokens"), n("cache_write_input_tokens"));
    Call {
        id,
        model: None,
        input: n("input_tokens").saturating_sub(cached + written),
        cache_read: cached,
        cache_write: written,
        cache_write_1h: 0,
        output: n("output_tokens"),
        reasoning: n("reasoning_output_tokens"),
    }
}

/// The fields of a usage object, for telling one running total from another.
const USAGE_FIELDS: [&str; 5] = [
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
];

fn figures(u: &Value) -> [u64; 5] {
    USAGE_FIELDS.map(|k| u.get(k).and_then(Value::as_u64).unwrap_or(0))
}

/// A turn being read.
struct Reading {
    usage: TurnUsage,
    /// Calls from `token_usage_record` lines (a response each, with its id).
    records: Vec<Call>,
    /// Calls from `token_count` events (versions before the records; and the fallback).
    counted: Vec<Call>,
    /// Started by `task_started` (its own id), and not completed yet.
    open_task: bool,
}

impl Reading {
    fn new(key: String) -> Reading {
        Reading {
            usage: TurnUsage {
                key: Some(key),
                ..TurnUsage::default()
            },
            records: Vec::new(),
            counted: Vec::new(),
            open_task: false,
        }
    }

    /// A turn's calls are its records where it has them, else its counted events: one
    /// response is never counted from both.
    fn finish(mut self) -> TurnUsage {
        self.usage.calls = if self.records.is_empty() {
            self.counted
        } else {
            self.records
        };
        self.usage
    }
}

/// Reads a rollout's turns in one pass. Every format Codex has written:
/// - 0.169 and later: `token_usage_record` per response, keyed by turn id;
/// - turns framed by `task_started` / `task_complete` (turn ids), usage only in
///   `token_count` events (running totals with the last call's usage);
/// - before turn ids (0.3x to 0.9x): a turn runs from one `user_message` event to the
///   next, keyed by its place in the file (`message-N`).
///
/// A `token_count` event counts a call only when the running total moved: Codex repeats
/// the last one (after a tool call, at a resumed session's start) and sends some with
/// rate limits only. Its call is the event's `last_token_usage`, else what the total grew
/// by (a total that went down started again from zero: a resumed session's new process).
fn read(path: &Path, span: Span) -> Option<Vec<Reading>> {
    let (mut session, mut cwd, mut version) = (None, None, None);
    let mut turns: Vec<Reading> = Vec::new();
    let mut by_key: std::collections::HashMap<String, usize> = Default::default();
    let mut current: Option<usize> = None;
    let mut messages = 0usize;
    let mut last_total: Option<[u64; 5]> = None;
    let read = scan_lines(path, span, &WORTH_PARSING, |v| {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let payload = v.get("payload").unwrap_or(&Value::Null);
        let sub = payload.get("type").and_then(Value::as_str);
        let at = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_rfc3339_ms);
        if kind == "session_meta" {
            session = payload
                .get("id")
                .or(payload.get("session_id"))
                .and_then(name);
            cwd = payload
                .get("cwd")
                .and_then(Value::as_str)
                .map(str::to_string);
            version = payload.get("cli_version").and_then(name);
            return;
        }
        let own = payload
            .get("turn_id")
            .or_else(|| payload.pointer("/internal_chat_message_metadata_passthrough/turn_id"))
            .and_then(name);
        let mut index_of = |key: String, turns: &mut Vec<Reading>| {
            *by_key.entry(key.clone()).or_insert_with(|| {
                turns.push(Reading::new(key));
                turns.len() - 1
            })
        };
        let started_here = match (kind, sub) {
            ("event_msg", Some("task_started")) => own.clone(),
            ("event_msg", Some("user_message")) if !current.is_some_and(|i| turns[i].open_task) => {
                messages += 1;
                Some(format!("message-{messages}"))
            }
            _ => None,
        };
        if let Some(key) = started_here {
            let i = index_of(key, &mut turns);
            turns[i].open_task = sub == Some("task_started");
            turns[i].usage.started_ms = at;
            current = Some(i);
        }
        // Before any turn started (a file cut at its start): unplaced, yet counted.
        let placed = own.map(|k| index_of(k, &mut turns)).or(current);
        let i = placed.unwrap_or_else(|| {
            let i = index_of("unplaced".into(), &mut turns);
            turns[i].usage.unplaced = true;
            i
        });
        let turn = &mut turns[i];
        if let Some(at) = at {
            turn.usage.ended_ms = Some(turn.usage.ended_ms.map_or(at, |e| e.max(at)));
        }
        match (kind, sub) {
            ("turn_context", _) => {
                if let Some(model) = payload.get("model").and_then(name) {
                    turn.usage.model = Some(model);
                }
            }
            ("event_msg", Some("task_complete")) => {
                turn.usage.duration_ms = payload.get("duration_ms").and_then(Value::as_u64);
                turn.open_task = false;
            }
            ("event_msg", Some("error" | "stream_error")) => turn.usage.failed = true,
            ("token_usage_record", _) => {
                let u = payload.get("usage").unwrap_or(&Value::Null);
                turn.records
                    .push(openai_call(u, payload.get("response_id").and_then(name)));
            }
            ("event_msg", Some("token_count")) => {
                let info = payload.get("info").unwrap_or(&Value::Null);
                let total = info.get("total_token_usage").filter(|t| t.is_object());
                let last = info.get("last_token_usage").filter(|l| l.is_object());
                let call = match (total.map(figures), last) {
                    (Some(t), _) if last_total == Some(t) => None, // a repeat
                    (_, Some(last)) => Some(openai_call(last, None)),
                    (Some(t), None) => {
                        let before = last_total.filter(|b| b.iter().zip(&t).all(|(b, t)| b <= t));
                        let grown = before.map_or(t, |b| std::array::from_fn(|k| t[k] - b[k]));
                        let as_usage: serde_json::Map<String, Value> = USAGE_FIELDS
                            .iter()
                            .zip(grown)
                            .map(|(k, n)| (k.to_string(), Value::from(n)))
                            .collect();
                        Some(openai_call(&Value::Object(as_usage), None))
                    }
                    (None, None) => None, // rate limits only
                };
                if let Some(t) = total {
                    last_total = Some(figures(t));
                }
                turn.counted.extend(call);
            }
            ("response_item", Some("function_call")) => {
                if let Some(tool) = payload.get("name").and_then(name) {
                    turn.usage.count_tool(tool_name(&tool));
                }
            }
            _ => {}
        }
    });
    if !read {
        return None;
    }
    for t in &mut turns {
        t.usage.session = session.clone();
        t.usage.cwd = cwd.clone();
        t.usage.agent_version = version.clone().map(|v| ("codex_version", v));
    }
    Some(turns)
}

/// Codex's shell tool is reported to hooks as `Bash`: name it so in counts too.
fn tool_name(function: &str) -> String {
    match function {
        "exec_command" | "shell" | "local_shell" => "Bash".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/codex-0.169.0/rollout.jsonl")
    }

    const TURN: &str = "01a21119-9ec9-7000-85f6-b26d16d74e3a";

    #[test]
    fn a_real_rollout_gives_the_turns_usage() {
        let u = turn_usage(&fixture(), TURN).unwrap();
        assert_eq!(u.model.as_deref(), Some("mock-model"));
        let t = u.total();
        // Codex's 246 input tokens count its 14 cached ones: input is the other 232.
        assert_eq!(
            (t.input, t.cache_read, t.output, t.reasoning),
            (232, 14, 90, 6)
        );
        assert_eq!(u.calls.len(), 2);
        assert_eq!(u.tool_calls.get("Bash"), Some(&1));
        assert_eq!(u.duration_ms, Some(205));
        assert_eq!(u.agent_version, Some(("codex_version", "0.169.0".into())));
        assert!(!u.failed);
        let fields = u.read(0).fields;
        assert_eq!(fields["usage"]["cache_read_input_tokens"], 14);
        assert_eq!(fields["usage"]["reasoning_output_tokens"], 6);
        assert_eq!(fields["turn_duration_ms"], 205);
        let text = serde_json::to_string(&fields).unwrap();
        assert!(!text.contains("SECRET_CANARY_1") && !text.contains("mock-tool-ran"));
    }

    /// 0.130 framed turns with ids but wrote their usage only in `token_count` events,
    /// repeating the last one after a tool call and at the next turn's start: the hook's
    /// reader counts each call once, as import does.
    #[test]
    fn a_rollout_with_token_count_events_only_gives_each_turns_calls_once() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/codex-0.130.0/rollout.jsonl");
        let first = turn_usage(&path, "01a252c2-0458-7940-9406-559aa8634c26").unwrap();
        assert_eq!(first.calls.len(), 2);
        let t = first.total();
        assert_eq!(
            (t.input, t.cache_read, t.output, t.reasoning),
            (232, 14, 90, 6)
        );
        assert_eq!(first.tool_calls.get("Bash"), Some(&1));
        let second = turn_usage(&path, "01a252c2-05d4-7f21-b422-772bec664218").unwrap();
        assert_eq!(
            second.calls.len(),
            1,
            "the total repeated at its start is not a call"
        );
        let all = turns(&path);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].calls, first.calls);
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
        assert!(u.calls.is_empty());
        let fields = u.read(1_795_000_000_000).fields;
        assert_eq!(fields["status"], "failed");
        assert_eq!(fields["error"], "api_error");
        assert!(!serde_json::to_string(&fields).unwrap().contains("quota"));
    }
}
