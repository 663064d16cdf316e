//! A Droid turn's usage: the session's running totals (`tokenUsage` in
//! `<session>.settings.json` beside the transcript) when the turn's Stop hook ran, less
//! what they were at the session's previous turn end; the turn's model calls and tools
//! from the transcript's assistant messages since then. What the previous turn end saw
//! is kept per session in telemhq's folder (`droid/<session>.json`): a turn end that was
//! missed leaves its usage to the next one, never counted twice, never negative.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ping::queue::UsageSource;
use crate::usage::{Call, Span, TurnUsage, name, scan_lines};

/// The session's settings file, beside its transcript.
fn settings_of(transcript: &Path) -> Option<PathBuf> {
    let stem = transcript.file_stem()?.to_str()?;
    Some(transcript.with_file_name(format!("{stem}.settings.json")))
}

/// The session's settings file is about a kilobyte: one past this bound is not read
/// (the hook reads it, on the agent's path; the turn's ping goes without usage).
const MAX_SETTINGS: u64 = 1024 * 1024;

/// Input (without cache reads: Droid leaves them out already), output, cache reads,
/// cache writes, reasoning: the session's running totals.
pub fn running_total(transcript: &Path) -> Option<[u64; 5]> {
    let bytes =
        crate::fsutil::read_regular_bounded(&settings_of(transcript)?, MAX_SETTINGS).ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    let u = doc.get("tokenUsage")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some([
        n("inputTokens"),
        n("outputTokens"),
        n("cacheReadTokens"),
        n("cacheCreationTokens"),
        n("thinkingTokens"),
    ])
}

/// What a session's last turn end saw.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Seen {
    total: [u64; 5],
    /// Assistant messages in the transcript then, and tool calls by name.
    calls: u64,
    tools: BTreeMap<String, u64>,
}

/// The transcript's assistant messages up to `until_ms`, the model calls' count and the
/// tools they called, the session's model as Droid names it, its folder.
struct Transcript {
    calls: u64,
    tools: BTreeMap<String, u64>,
    cwd: Option<String>,
    started_ms: Option<i64>,
    ended_ms: Option<i64>,
}

fn read_transcript(path: &Path, until_ms: i64, after_calls: u64) -> Option<Transcript> {
    let mut t = Transcript {
        calls: 0,
        tools: BTreeMap::new(),
        cwd: None,
        started_ms: None,
        ended_ms: None,
    };
    let read = scan_lines(
        path,
        Span::Tail,
        &["\"assistant\"", "\"session_start\""],
        |v| {
            if v.get("type").and_then(Value::as_str) == Some("session_start") {
                t.cwd = v.get("cwd").and_then(Value::as_str).map(str::to_string);
                return;
            }
            let message = v.get("message").unwrap_or(&Value::Null);
            if message.get("role").and_then(Value::as_str) != Some("assistant") {
                return;
            }
            let at = v
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(crate::time::parse_rfc3339_ms);
            if at.is_some_and(|at| at > until_ms) {
                return; // a later turn's
            }
            t.calls += 1;
            if t.calls > after_calls {
                if t.started_ms.is_none() {
                    t.started_ms = at;
                }
                t.ended_ms = at.or(t.ended_ms);
            }
            for block in message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if block.get("type").and_then(Value::as_str) == Some("tool_use")
                    && let Some(tool) = block.get("name").and_then(name)
                {
                    *t.tools.entry(tool).or_default() += 1;
                }
            }
        },
    );
    read.then_some(t)
}

/// The model Droid ran, by the name it gives it: a custom model (`custom:<name>-<n>`) by
/// the name the user's settings give its API.
fn model(transcript: &Path) -> Option<String> {
    let bytes =
        crate::fsutil::read_regular_bounded(&settings_of(transcript)?, MAX_SETTINGS).ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    let model = doc.get("model").and_then(Value::as_str)?;
    let custom = model.strip_prefix("custom:").and_then(|rest| {
        let (_, index) = rest.rsplit_once('-')?;
        let index: usize = index.parse().ok()?;
        // `~/.factory/settings.json`: sessions/<folder>/<session>.jsonl is two below.
        let factory = transcript.parent()?.parent()?.parent()?;
        let settings = crate::jsonfile::value_of(
            &factory.join("settings.json"),
            crate::jsonfile::Dialect::Comments,
        )?;
        settings
            .get("customModels")?
            .get(index)?
            .get("model")
            .and_then(name)
    });
    custom.or_else(|| name(&Value::from(model)))
}

fn seen_path(state_dir: &Path, session: &str) -> PathBuf {
    state_dir.join("droid").join(format!("{session}.json"))
}

/// The turn's usage; records what this turn end saw for the next one.
pub fn turn_usage(source: &UsageSource) -> Option<TurnUsage> {
    let transcript = Path::new(&source.transcript_path);
    let session = transcript.file_stem()?.to_str()?.to_string();
    let now = source.running_total.or_else(|| running_total(transcript))?;
    let state_dir = source.state_dir.as_deref().map(Path::new);
    let before: Seen = state_dir
        .and_then(|d| crate::fsutil::read_regular(&seen_path(d, &session)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // A total that went down is another session's counting: start from nothing.
    let base = if now.iter().zip(before.total).all(|(n, b)| *n >= b) {
        before.total
    } else {
        [0; 5]
    };
    let part: Vec<u64> = now.iter().zip(base).map(|(n, b)| n - b).collect();
    let t = read_transcript(transcript, source.event_ms, before.calls)?;
    let calls = t.calls.saturating_sub(before.calls).max(1);
    let tools: BTreeMap<String, u64> = t
        .tools
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v - before.tools.get(k).copied().unwrap_or(0).min(*v),
            )
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    if let Some(dir) = state_dir {
        let seen = Seen {
            total: now,
            calls: t.calls,
            tools: t.tools.clone(),
        };
        let path = seen_path(dir, &session);
        if crate::fsutil::ensure_private_dir(path.parent()?).is_ok() {
            let _ = crate::fsutil::write_private(
                &path,
                &serde_json::to_vec(&seen).expect("serialises"),
            );
        }
    }
    let model = model(transcript);
    // The turn's tokens come as one sum: the first call carries them, the others are
    // counted as calls (Droid keeps no per-call figures).
    let mut per_call = vec![Call::default(); calls as usize];
    per_call[0] = Call {
        id: None,
        model: model.clone(),
        input: part[0],
        output: part[1].max(part[4]),
        cache_read: part[2],
        cache_write: part[3],
        cache_write_1h: 0,
        reasoning: part[4],
    };
    for c in per_call.iter_mut().skip(1) {
        c.model = model.clone();
    }
    Some(TurnUsage {
        key: None,
        session: Some(session),
        cwd: t.cwd,
        ended_ms: t.ended_ms,
        model,
        calls: per_call,
        tool_calls: tools,
        started_ms: t.started_ms,
        ..TurnUsage::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/droid-0.225.2")
            .join(name)
    }

    /// The captured two-turn session, its settings file as each Stop hook saw it: each
    /// turn its own usage, not the running total.
    #[test]
    fn two_turns_each_get_their_own_usage() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("sessions/-home-dev-projects-api");
        std::fs::create_dir_all(&sessions).unwrap();
        let transcript = sessions.join("f2b9d335.jsonl");
        std::fs::copy(fixture("session-two-turns.jsonl"), &transcript).unwrap();
        let state = dir.path().join("state");
        let turn = |settings: &str, at: &str| {
            std::fs::copy(fixture(settings), sessions.join("f2b9d335.settings.json")).unwrap();
            let source = UsageSource {
                transcript_path: transcript.display().to_string(),
                prompt_id: None,
                event_ms: crate::time::parse_rfc3339_ms(at).unwrap(),
                subagent: false,
                agent: Some("droid".into()),
                turn_id: None,
                running_total: running_total(&transcript),
                state_dir: Some(state.display().to_string()),
                model: None,
            };
            turn_usage(&source).unwrap()
        };
        let first = turn(
            "session-two-turns.settings.at-stop-1.json",
            "2026-11-28T20:33:44.050Z",
        );
        let t = first.total();
        assert_eq!((t.input, t.cache_read, t.output), (232, 14, 90));
        assert_eq!(first.calls.len(), 2, "the tool call, then the answer");
        assert_eq!(first.tool_calls.get("Execute"), Some(&1));
        let second = turn(
            "session-two-turns.settings.at-stop-2.json",
            "2026-11-28T20:33:44.600Z",
        );
        let t = second.total();
        assert_eq!((t.input, t.cache_read, t.output), (116, 7, 45));
        assert_eq!(second.calls.len(), 1);
        assert!(second.tool_calls.is_empty());
    }
}
