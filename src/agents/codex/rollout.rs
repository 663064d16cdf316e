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
const WORTH_PARSING: [&str; 7] = [
    "\"session_meta\"",
    "\"turn_context\"",
    "\"task_started\"",
    "\"task_complete\"",
    "\"token_usage_record\"",
    "\"function_call\"",
    "\"error\"",
];

/// Reads the usage of turn `turn_id` from a rollout file. None when the file cannot be
/// read or does not hold the turn.
pub fn turn_usage(path: &Path, turn_id: &str) -> Option<TurnUsage> {
    let mut usage = TurnUsage {
        key: Some(turn_id.to_string()),
        ..TurnUsage::default()
    };
    let mut in_turn = false;
    let mut found = false;
    let read = scan_lines(path, Span::Tail, &WORTH_PARSING, |v| {
        found |= take_line(v, turn_id, &mut usage, &mut in_turn);
    });
    (read && found).then_some(usage)
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

/// Every turn of a rollout file, for `import`. Older rollouts carry no
/// `token_usage_record`: their calls come from the `token_count` events' last usage.
pub fn turns(path: &Path) -> Vec<TurnUsage> {
    let mut worth = WORTH_PARSING.to_vec();
    worth.push("\"token_count\"");
    let (mut session, mut cwd, mut version) = (None, None, None);
    let mut order: Vec<String> = Vec::new();
    let mut turns: std::collections::HashMap<String, (TurnUsage, bool)> = Default::default();
    let mut current: Option<String> = None;
    let mut counted: Vec<(String, Call)> = Vec::new();
    let mut records = false;
    scan_lines(path, Span::Whole, &worth, |v| {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let payload = v.get("payload").unwrap_or(&Value::Null);
        let sub = payload.get("type").and_then(Value::as_str);
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
        if sub == Some("task_started") {
            current = own.clone();
        }
        if kind == "token_usage_record" {
            records = true;
        }
        let Some(turn) = own.or_else(|| current.clone()) else {
            return;
        };
        if kind == "event_msg" && sub == Some("token_count") {
            let u = payload
                .pointer("/info/last_token_usage")
                .unwrap_or(&Value::Null);
            if u.is_object() {
                counted.push((turn, openai_call(u, None)));
            }
            return;
        }
        let (usage, in_turn) = turns.entry(turn.clone()).or_insert_with(|| {
            order.push(turn.clone());
            (
                TurnUsage {
                    key: Some(turn.clone()),
                    ..TurnUsage::default()
                },
                false,
            )
        });
        if let Some(at) = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_rfc3339_ms)
        {
            usage.ended_ms = Some(usage.ended_ms.map_or(at, |e| e.max(at)));
        }
        take_line(v, &turn, usage, in_turn);
    });
    if !records {
        for (turn, call) in counted {
            if let Some((usage, _)) = turns.get_mut(&turn) {
                usage.calls.push(call);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|t| turns.remove(&t))
        .map(|(mut u, _)| {
            u.session = session.clone();
            u.cwd = cwd.clone();
            u.agent_version = version.clone().map(|v| ("codex_version", v));
            u
        })
        .filter(|u| !u.calls.is_empty())
        .collect()
}

/// Takes what a line says of the turn; true when the line belongs to it.
fn take_line(v: &Value, turn_id: &str, usage: &mut TurnUsage, in_turn: &mut bool) -> bool {
    let mut found = false;
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let payload = v.get("payload").unwrap_or(&Value::Null);
    let of_turn = payload.get("turn_id").and_then(Value::as_str) == Some(turn_id)
        || payload
            .pointer("/internal_chat_message_metadata_passthrough/turn_id")
            .and_then(Value::as_str)
            == Some(turn_id);
    match (kind, payload.get("type").and_then(Value::as_str)) {
        ("session_meta", _) => {
            usage.agent_version = payload
                .get("cli_version")
                .and_then(name)
                .map(|v| ("codex_version", v));
        }
        ("turn_context", _) if of_turn => {
            if let Some(model) = payload.get("model").and_then(name) {
                usage.model = Some(model);
            }
        }
        ("event_msg", Some("task_started")) => {
            *in_turn = of_turn;
            if of_turn {
                found = true;
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
            found = true;
            let u = payload.get("usage").unwrap_or(&Value::Null);
            usage
                .calls
                .push(openai_call(u, payload.get("response_id").and_then(name)));
        }
        ("response_item", Some("function_call")) if of_turn || *in_turn => {
            if let Some(tool) = payload.get("name").and_then(name) {
                usage.count_tool(tool_name(&tool));
            }
        }
        _ => {}
    }
    found
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
