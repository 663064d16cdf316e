//! Usage of one Copilot CLI turn, read from the session's `events.jsonl` (the hook's
//! `transcriptPath`): a `session.usage_record` per model call, the tools started, the
//! CLI's version, a session error. Events are read for their numbers and names only.
//!
//! The turn is the last `user.message` up to the hook's time, and what follows it.

use std::path::Path;

use serde_json::Value;

use crate::usage::{Call, Span, TurnUsage, name, scan_lines};

const WORTH_PARSING: [&str; 8] = [
    "\"session.start\"",
    "\"session.model_change\"",
    "\"user.message\"",
    "\"session.usage_record\"",
    "\"assistant.message\"",
    "\"session.shutdown\"",
    "\"tool.execution_start\"",
    "\"session.error\"",
];

/// The usage of the turn that ended at `event_ms` (Unix ms). None when the file cannot
/// be read or holds no prompt before then.
pub fn turn_usage(path: &Path, event_ms: i64) -> Option<TurnUsage> {
    let (mut turns, read) = read_turns(path, event_ms, Span::Tail);
    turns.retain(|t| !t.unplaced);
    turns.pop().filter(|_| read)
}

/// Every turn of a session's events, for `import` (a session still running, or killed,
/// has no closing record: its last turn is what the file holds).
pub fn turns(path: &Path) -> Vec<TurnUsage> {
    let (turns, _) = read_turns(path, i64::MAX, Span::Whole);
    turns.into_iter().filter(|t| !t.calls.is_empty()).collect()
}

/// A turn being read: its calls from `session.usage_record` (1.0.4x and later), and the
/// output of each answer as `assistant.message` gives it (the only per-call figure the
/// versions before write).
struct Reading {
    usage: TurnUsage,
    records: Vec<Call>,
    answers: Vec<Call>,
}

impl Reading {
    fn new(usage: TurnUsage) -> Reading {
        Reading {
            usage,
            records: Vec::new(),
            answers: Vec::new(),
        }
    }
}

/// One `session.shutdown`: each model's usage over the run of the CLI it ends, and the
/// turns that run had (by their index).
struct Shutdown {
    at_ms: Option<i64>,
    models: Vec<(String, Call)>,
    turns: std::ops::Range<usize>,
}

/// Copilot's figures in telemhq's meaning (its input counts the cached tokens it
/// reports beside it).
fn call_of(usage: &Value, id: Option<String>, model: Option<String>) -> Call {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (read, write) = (n("cacheReadTokens"), n("cacheWriteTokens"));
    Call {
        id,
        model,
        input: n("inputTokens").saturating_sub(read + write),
        cache_read: read,
        cache_write: write,
        cache_write_1h: 0,
        output: n("outputTokens"),
        reasoning: n("reasoningTokens"),
    }
}

/// The turns up to `until_ms` (each from a user message), and whether the file read.
/// A session whose events hold no `session.usage_record` (versions before 1.0.4x) gives
/// each turn its answers' output tokens; the rest of what each run of the CLI used, which
/// its `session.shutdown` totals per model, cannot be placed in a turn: it is a record of
/// its own (`unplaced`), so the day's totals have it all.
fn read_turns(path: &Path, until_ms: i64, span: Span) -> (Vec<TurnUsage>, bool) {
    let (mut version, mut session, mut cwd, mut model) = (None, None, None, None);
    let mut done: Vec<Reading> = Vec::new();
    let mut turn: Option<Reading> = None;
    let mut shutdowns: Vec<Shutdown> = Vec::new();
    let mut records = false;
    let read = scan_lines(path, span, &WORTH_PARSING, |v| {
        let at_ms = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_rfc3339_ms);
        if at_ms.is_none_or(|at| at > until_ms) {
            return; // a later turn's
        }
        if let (Some(t), Some(at)) = (turn.as_mut(), at_ms) {
            t.usage.ended_ms = Some(at);
        }
        let data = v.get("data").unwrap_or(&Value::Null);
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "session.start" => {
                version = data.get("copilotVersion").and_then(name);
                session = data.get("sessionId").and_then(name);
                cwd = data
                    .pointer("/context/cwd")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            "session.model_change" => model = data.get("newModel").and_then(name),
            "user.message" => {
                done.extend(turn.take());
                turn = Some(Reading::new(TurnUsage {
                    key: v.get("id").and_then(name),
                    started_ms: at_ms,
                    ..TurnUsage::default()
                }))
            }
            "session.usage_record" => {
                records = true;
                if let Some(t) = turn.as_mut() {
                    let usage = data.get("usage").unwrap_or(&Value::Null);
                    let model = usage.get("model").and_then(name);
                    t.records
                        .push(call_of(usage, v.get("id").and_then(name), model.clone()));
                    if model.is_some() {
                        t.usage.model = model;
                    }
                }
            }
            "assistant.message" => {
                if let (Some(t), Some(output)) = (
                    turn.as_mut(),
                    data.get("outputTokens").and_then(Value::as_u64),
                ) {
                    t.answers.push(Call {
                        id: data.get("messageId").and_then(name),
                        model: model.clone(),
                        output,
                        ..Call::default()
                    });
                    t.usage.model = t.usage.model.clone().or(model.clone());
                }
            }
            "session.shutdown" => {
                done.extend(turn.take());
                let from = shutdowns.last().map_or(0, |s| s.turns.end);
                let models = data
                    .get("modelMetrics")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(m, metrics)| {
                        let m = name(&Value::from(m.as_str()))?;
                        let usage = metrics.get("usage")?;
                        Some((m.clone(), call_of(usage, None, Some(m))))
                    })
                    .collect();
                shutdowns.push(Shutdown {
                    at_ms,
                    models,
                    turns: from..done.len(),
                });
            }
            "tool.execution_start" => {
                if let Some(t) = turn.as_mut()
                    && let Some(tool) = data.get("toolName").and_then(name)
                {
                    t.usage.count_tool(tool);
                }
            }
            "session.error" => {
                if let Some(t) = turn.as_mut() {
                    t.usage.failed = true;
                }
            }
            _ => {}
        }
    });
    done.extend(turn);
    let mut out: Vec<TurnUsage> = Vec::new();
    if records {
        out.extend(done.into_iter().map(|mut r| {
            r.usage.calls = r.records;
            r.usage
        }));
    } else {
        let mut turns: Vec<TurnUsage> = done
            .into_iter()
            .map(|mut r| {
                r.usage.calls = r.answers;
                r.usage
            })
            .collect();
        for (n, s) in shutdowns.iter().enumerate() {
            for (model, total) in &s.models {
                let placed: u64 = turns[s.turns.clone()]
                    .iter()
                    .flat_map(|t| &t.calls)
                    .filter(|c| c.model.as_ref() == Some(model))
                    .map(|c| c.output)
                    .sum();
                let rest = Call {
                    id: None,
                    output: total.output.saturating_sub(placed),
                    ..total.clone()
                };
                if rest
                    == (Call {
                        id: None,
                        model: rest.model.clone(),
                        ..Call::default()
                    })
                {
                    continue;
                }
                turns.push(TurnUsage {
                    key: Some(format!("unplaced:shutdown-{n}:{model}")),
                    model: Some(model.clone()),
                    calls: vec![rest],
                    started_ms: s.at_ms,
                    ended_ms: s.at_ms,
                    unplaced: true,
                    ..TurnUsage::default()
                });
            }
        }
        out = turns;
    }
    for t in &mut out {
        t.agent_version = version.clone().map(|v| ("copilot_version", v));
        t.session = session.clone();
        t.cwd = cwd.clone();
    }
    (out, read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/copilot-cli-1.0.102")
            .join(name)
    }

    /// When the real agentStop hook fired (its payload's timestamp).
    const HOOK_MS: i64 = 1_795_586_148_629;

    #[test]
    fn real_session_events_give_the_turns_usage() {
        let u = turn_usage(&fixture("events.jsonl"), HOOK_MS).unwrap();
        assert_eq!(u.model.as_deref(), Some("gpt-4.1"));
        let t = u.total();
        // Per call: input 123 with 7 cache reads in it.
        assert_eq!((t.input, t.cache_read, t.output), (232, 14, 90));
        assert_eq!(u.calls.len(), 2);
        assert_eq!(u.tool_calls.get("bash"), Some(&1));
        assert_eq!(u.agent_version, Some(("copilot_version", "1.0.102".into())));
        assert!(!u.failed);
        let fields = u.read(HOOK_MS).fields;
        assert_eq!(
            fields["turn_duration_ms"], 101,
            "from the prompt to the hook"
        );
        let text = serde_json::to_string(&fields).unwrap();
        assert!(!text.contains("SECRETWORD") && !text.contains("mock-tool-ran"));
    }

    #[test]
    fn a_session_error_marks_the_turn_failed() {
        let u = turn_usage(&fixture("events-error.jsonl"), 1_795_586_150_440).unwrap();
        assert!(u.failed);
        assert!(u.calls.is_empty());
        let fields = u.read(1_795_586_150_440).fields;
        assert_eq!(fields["error"], "api_error");
        assert!(
            !serde_json::to_string(&fields)
                .unwrap()
                .contains("mock failure")
        );
    }

    #[test]
    fn events_after_the_hook_belong_to_a_later_turn() {
        let at_prompt = 1_795_586_148_528;
        let u = turn_usage(&fixture("events.jsonl"), at_prompt).unwrap();
        assert!(u.calls.is_empty());
        assert_eq!(turn_usage(&fixture("events.jsonl"), 0), None);
    }
}
