//! Usage of one Gemini CLI turn, read from the session's chat file (JSON Lines, the
//! hook's `transcript_path`): a `tokens` object per model message, the model, the tools
//! it called. Messages are read for their numbers and names only, never their content.
//!
//! A message can be written twice (again once its tool calls are done): the last copy
//! of each id counts. The turn is the last user prompt up to the hook's time, and the
//! model messages after it.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::usage::{Call, Span, TurnUsage, name, scan_lines};

const WORTH_PARSING: [&str; 4] = [
    "\"type\":\"gemini\"",
    "\"type\":\"user\"",
    "\"type\": \"gemini\"",
    "\"type\": \"user\"",
];

struct Message {
    id: String,
    at_ms: i64,
    /// A prompt the user typed (a tool's result also comes as a user message).
    prompt: bool,
    /// The tokens of a model answer.
    tokens: Option<Call>,
    model: Option<String>,
    tools: Vec<String>,
}

/// Message ids in file order, the latest version of each message, and the session id.
type Messages = (Vec<String>, HashMap<String, Message>, Option<String>);

/// The messages of a chat file: JSON Lines (0.4x and later: a record per line, a
/// message written again replacing its earlier copy), or one JSON document with a
/// `messages` list (versions before).
fn messages(path: &Path, span: Span) -> Option<Messages> {
    let mut order: Vec<String> = Vec::new();
    let mut messages: HashMap<String, Message> = HashMap::new();
    let mut session = None;
    let mut take = |v: &Value| {
        if session.is_none() {
            session = v.get("sessionId").and_then(name);
        }
        let Some(id) = v.get("id").and_then(Value::as_str) else {
            return;
        };
        let Some(message) = message(v, id) else {
            return;
        };
        if messages.insert(id.to_string(), message).is_none() {
            order.push(id.to_string());
        }
    };
    if path.extension().is_some_and(|e| e == "json") {
        let document = crate::usage::read_document(path)?;
        take(&serde_json::json!({"sessionId": document.get("sessionId")}));
        for m in document.get("messages").and_then(Value::as_array)? {
            take(m);
        }
        return Some((order, messages, session));
    }
    let mut worth = WORTH_PARSING.to_vec();
    worth.push("\"sessionId\"");
    let read = scan_lines(path, span, &worth, take);
    read.then_some((order, messages, session))
}

/// Every turn of a chat file, for `import`: each user prompt and the model's messages
/// after it. The project is the name of the chat file's project folder.
pub fn turns(path: &Path) -> Vec<TurnUsage> {
    let Some((order, messages, session)) = self::messages(path, Span::Whole) else {
        return Vec::new();
    };
    let project = path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    let all: Vec<&Message> = order.iter().map(|id| &messages[id]).collect();
    let starts: Vec<usize> = (0..all.len()).filter(|&i| all[i].prompt).collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(all.len());
            let mut usage = turn_of(&all[start..end]);
            usage.session = session.clone();
            usage.cwd = project.clone();
            usage.ended_ms = all[start..end].iter().map(|m| m.at_ms).max();
            usage
        })
        .filter(|u| !u.calls.is_empty())
        .collect()
}

/// A turn: its prompt, then the model's messages.
fn turn_of(messages: &[&Message]) -> TurnUsage {
    let mut usage = TurnUsage {
        key: Some(messages[0].id.clone()),
        started_ms: Some(messages[0].at_ms),
        ..TurnUsage::default()
    };
    for m in &messages[1..] {
        if let Some(call) = &m.tokens {
            usage.calls.push(Call {
                id: Some(m.id.clone()),
                model: m.model.clone(),
                ..call.clone()
            });
        }
        if m.model.is_some() {
            usage.model = m.model.clone();
        }
        for tool in &m.tools {
            usage.count_tool(tool.clone());
        }
    }
    usage
}

/// The usage of the turn that ended at `event_ms` (Unix ms). None when the file cannot
/// be read or holds no prompt before then.
pub fn turn_usage(path: &Path, event_ms: i64) -> Option<TurnUsage> {
    let (order, messages, _) = self::messages(path, Span::Tail)?;
    let in_time: Vec<&Message> = order
        .iter()
        .map(|id| &messages[id])
        .filter(|m| m.at_ms <= event_ms)
        .collect();
    let start = in_time.iter().rposition(|m| m.prompt)?;
    Some(turn_of(&in_time[start..]))
}

fn message(v: &Value, id: &str) -> Option<Message> {
    let at_ms = v
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(crate::time::parse_rfc3339_ms)?;
    let kind = v.get("type").and_then(Value::as_str)?;
    // (Versions before 0.2x wrote a prompt's content as a plain string.)
    let prompt = kind == "user"
        && v.get("content").is_some_and(|c| {
            c.is_string()
                || c.as_array()
                    .is_some_and(|parts| parts.iter().any(|p| p.get("text").is_some()))
        });
    let tokens = (kind == "gemini")
        .then(|| v.get("tokens"))
        .flatten()
        .map(|t| {
            let n = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
            // Gemini's input counts its cached tokens, and tool-use prompt tokens come
            // apart (billed as input); its output leaves the thoughts out (billed as
            // output): in telemhq's meaning, output has them in.
            Call {
                id: None,
                model: None,
                input: n("input").saturating_sub(n("cached")) + n("tool"),
                cache_read: n("cached"),
                cache_write: 0,
                cache_write_1h: 0,
                output: n("output") + n("thoughts"),
                reasoning: n("thoughts"),
            }
        });
    let tools = v
        .get("toolCalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(name))
        .collect();
    Some(Message {
        id: id.to_string(),
        at_ms,
        prompt,
        tokens,
        model: v.get("model").and_then(name),
        tools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/gemini-cli-0.61.0")
            .join(name)
    }

    /// When the real AfterAgent hook fired (its payload's timestamp).
    const HOOK_MS: i64 = 1_795_586_059_919;

    #[test]
    fn a_real_chat_file_gives_the_turns_usage() {
        let u = turn_usage(&fixture("session-chat.jsonl"), HOOK_MS + 50).unwrap();
        assert_eq!(u.model.as_deref(), Some("gemini-2.5-flash"));
        let t = u.total();
        // Per call: input 123 with 7 cached, output 45 and 3 thoughts apart.
        assert_eq!(
            (t.input, t.cache_read, t.output, t.reasoning),
            (232, 14, 96, 6),
            "two model calls, the first written twice"
        );
        assert_eq!(u.calls.len(), 2);
        assert_eq!(u.tool_calls.get("run_shell_command"), Some(&1));
        let fields = u.read(HOOK_MS + 50).fields;
        assert_eq!(
            fields["turn_duration_ms"], 228,
            "from the prompt to the hook"
        );
        let text = serde_json::to_string(&fields).unwrap();
        assert!(!text.contains("SECRETWORD") && !text.contains("mock-tool-ran"));
        assert!(!text.contains("MOCK DONE"));
    }

    /// Before 0.4x a chat file was one JSON document, and a prompt a plain string.
    #[test]
    fn a_chat_file_of_one_document_gives_the_turns_usage() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/gemini-cli-0.10.0/session-1.json");
        let u = turn_usage(&path, i64::MAX).unwrap();
        let t = u.total();
        assert_eq!(
            (t.input, t.cache_read, t.output, t.reasoning),
            (232, 14, 96, 6)
        );
        assert_eq!(u.calls.len(), 2);
        assert_eq!(turns(&path).len(), 1);
    }

    #[test]
    fn messages_after_the_hook_belong_to_a_later_turn() {
        // At the time of the prompt itself, nothing of the model's is in the turn yet.
        let u = turn_usage(&fixture("session-chat.jsonl"), 1_795_586_059_741).unwrap();
        assert!(u.calls.is_empty());
        assert_eq!(turn_usage(&fixture("session-chat.jsonl"), 0), None);
        assert_eq!(
            turn_usage(Path::new("/nonexistent/chat.jsonl"), HOOK_MS),
            None
        );
    }
}
