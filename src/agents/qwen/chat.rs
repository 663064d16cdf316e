//! Usage of Qwen Code's turns, read from the session's chat file (JSON Lines, the hook's
//! `transcript_path`): per model call a `ui_telemetry` line `qwen-code.api_response`
//! tagged with the turn's `prompt_id`, per tool call a `qwen-code.tool_call` line. Lines
//! are read for their numbers and names only, never their content.
//!
//! A turn is its `prompt_id` (`<session>########<n>`; before 0.1x, a bare hex id per
//! prompt). Calls Qwen makes on its own (`<session>#managed-auto-memory-extractor-…`,
//! after the turn's Stop) belong to no turn. A session continued in a new process (`-c`)
//! numbers its prompts from 0 again: a prompt id met again after a later prompt of the
//! user's is another turn, keyed `<prompt id>@<its prompt line's id>`.

use std::path::Path;

use serde_json::Value;

use crate::usage::{Call, Span, TurnUsage, name, scan_lines};

const WORTH_PARSING: [&str; 4] = [
    "\"qwen-code.api_response\"",
    "\"qwen-code.tool_call\"",
    "\"type\":\"user\"",
    "\"type\": \"user\"",
];

/// A turn's prompt id, as Qwen numbers the user's prompts (not its own background calls,
/// whose ids carry `#managed-…`).
fn is_turn(prompt_id: &str) -> bool {
    prompt_id.contains("########") || !prompt_id.contains('#')
}

/// One telemetry line: its prompt id, when, and what it says.
struct Line {
    prompt_id: String,
    at_ms: i64,
    session: Option<String>,
    cwd: Option<String>,
    version: Option<String>,
    call: Option<(Call, Option<String>, u64)>,
    tool: Option<String>,
}

fn line(v: &Value) -> Option<Line> {
    let event = v.pointer("/systemPayload/uiEvent")?;
    let prompt_id = event.get("prompt_id").and_then(Value::as_str)?.to_string();
    let at_ms = v
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(crate::time::parse_rfc3339_ms)?;
    let kind = event.get("event.name").and_then(Value::as_str)?;
    let n = |k: &str| event.get(k).and_then(Value::as_u64).unwrap_or(0);
    let call = (kind == "qwen-code.api_response").then(|| {
        // Qwen's input counts its cached tokens (Gemini's meaning). Its output has the
        // thoughts in it from an OpenAI-style provider (whose total is input + output)
        // and leaves them out from Gemini's (whose total adds them): in telemhq's
        // meaning, input without cache reads, output with the reasoning in it.
        let (output, thoughts) = (n("output_token_count"), n("thoughts_token_count"));
        let apart =
            thoughts > 0 && n("total_token_count") == n("input_token_count") + output + thoughts;
        let call = Call {
            // Each line's own id: a response id may repeat (a provider's fixed one).
            id: v.get("uuid").and_then(name),
            model: None,
            input: n("input_token_count").saturating_sub(n("cached_content_token_count")),
            cache_read: n("cached_content_token_count"),
            cache_write: 0,
            cache_write_1h: 0,
            output: if apart { output + thoughts } else { output },
            reasoning: thoughts,
        };
        (call, event.get("model").and_then(name), n("duration_ms"))
    });
    let tool = (kind == "qwen-code.tool_call")
        .then(|| event.get("function_name").and_then(name))
        .flatten();
    Some(Line {
        prompt_id,
        at_ms,
        session: v.get("sessionId").and_then(name),
        cwd: v.get("cwd").and_then(Value::as_str).map(str::to_string),
        version: v.get("version").and_then(name),
        call,
        tool,
    })
}

fn add(turn: &mut TurnUsage, l: Line) {
    if let Some((mut call, model, duration)) = l.call {
        call.model = model.clone();
        if turn.started_ms.is_none() {
            turn.started_ms = Some(l.at_ms - duration as i64);
        }
        if model.is_some() {
            turn.model = model;
        }
        turn.calls.push(call);
    }
    if let Some(tool) = l.tool {
        turn.count_tool(tool);
    }
    turn.ended_ms = Some(turn.ended_ms.unwrap_or(l.at_ms).max(l.at_ms));
    turn.session = turn.session.take().or(l.session);
    turn.cwd = turn.cwd.take().or(l.cwd);
    if turn.agent_version.is_none() {
        turn.agent_version = l.version.map(|v| ("qwen_code_version", v));
    }
}

/// The usage of the turn with this prompt id (its last run, where the id came again).
/// None when the file cannot be read or holds nothing of that turn.
pub fn turn_usage(path: &Path, prompt_id: &str) -> Option<TurnUsage> {
    let (turns, read) = read(path, Span::Tail, Some(prompt_id));
    turns.into_iter().next_back().filter(|_| read)
}

/// Every turn of a chat file, for `import`, in the order they started.
pub fn turns(path: &Path) -> Vec<TurnUsage> {
    let (mut out, _) = read(path, Span::Whole, None);
    out.retain(|t| !t.calls.is_empty());
    out
}

/// The turns of a chat file (only those of `only`, a prompt id), and whether it read.
fn read(path: &Path, span: Span, only: Option<&str>) -> (Vec<TurnUsage>, bool) {
    let mut out: Vec<TurnUsage> = Vec::new();
    // Per prompt id: its turn, and the user's prompt line that was the last before it.
    let mut runs: std::collections::HashMap<String, (usize, Option<String>)> = Default::default();
    let mut prompt: Option<String> = None;
    let read = scan_lines(path, span, &WORTH_PARSING, |v| {
        if v.get("type").and_then(Value::as_str) == Some("user") {
            prompt = v.get("uuid").and_then(name);
            return;
        }
        let Some(l) = line(v).filter(|l| is_turn(&l.prompt_id)) else {
            return;
        };
        if only.is_some_and(|p| p != l.prompt_id) {
            return;
        }
        let i = match runs.get(&l.prompt_id) {
            Some((i, at)) if *at == prompt => *i,
            again => {
                let key = match (again, &prompt) {
                    (Some(_), Some(at)) => format!("{}@{at}", l.prompt_id),
                    _ => l.prompt_id.clone(),
                };
                out.push(TurnUsage {
                    key: Some(key),
                    ..TurnUsage::default()
                });
                runs.insert(l.prompt_id.clone(), (out.len() - 1, prompt.clone()));
                out.len() - 1
            }
        };
        add(&mut out[i], l);
    });
    (out, read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/qwen-code-0.24.4/chat-two-turns.jsonl")
    }

    const SESSION: &str = "6596f7a6-3ebf-4dec-9ed6-c159e6b922a8";

    #[test]
    fn a_turn_is_the_calls_of_its_prompt_id() {
        let u = turn_usage(&fixture(), &format!("{SESSION}########0")).unwrap();
        let t = u.total();
        // Two calls, each input 123 with 7 cached, output 45.
        assert_eq!((t.input, t.cache_read, t.output), (232, 14, 90));
        assert_eq!(u.calls.len(), 2);
        assert_eq!(u.model.as_deref(), Some("mock-model"));
        assert_eq!(u.tool_calls.get("run_shell_command"), Some(&1));
        let second = turn_usage(&fixture(), &format!("{SESSION}########2")).unwrap();
        assert_eq!(
            second.calls.len(),
            1,
            "the background call after it is no turn's"
        );
    }

    /// Thoughts are in the output when the total says so (an OpenAI-style provider), and
    /// added to it when the total counts them apart (Gemini's API).
    #[test]
    fn reasoning_is_in_the_output_once() {
        let record = |total: u64| {
            json!({"type": "system", "subtype": "ui_telemetry", "timestamp": "2026-11-28T20:33:16.383Z",
                "uuid": "u1", "systemPayload": {"uiEvent": {"event.name": "qwen-code.api_response",
                "prompt_id": "s########0", "input_token_count": 123, "output_token_count": 45,
                "cached_content_token_count": 7, "thoughts_token_count": 3,
                "total_token_count": total}}})
        };
        let openai = line(&record(168)).unwrap().call.unwrap().0;
        assert_eq!((openai.output, openai.reasoning), (45, 3));
        let gemini = line(&record(171)).unwrap().call.unwrap().0;
        assert_eq!((gemini.output, gemini.reasoning), (48, 3));
    }

    #[test]
    fn import_reads_each_turn_and_leaves_background_calls_out() {
        let turns = turns(&fixture());
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].calls.len() + turns[1].calls.len(), 3);
        assert_eq!(turns[0].session.as_deref(), Some(SESSION));
        assert_eq!(turns[0].cwd.as_deref(), Some("/home/dev/projects/api"));
        let ids: Vec<_> = turns
            .iter()
            .flat_map(|t| t.calls.iter().map(|c| c.id.clone()))
            .collect();
        assert!(ids.iter().all(Option::is_some));
    }
}
