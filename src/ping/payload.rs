//! The hook event as read from stdin (only the allowlisted fields are ever kept), and
//! the ping payload built from it field by field. No I/O here: the clock reading, the
//! event id and the hash key come in through `Context`.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The fields of a hook event telemhq reads. Free text that is needed to derive a
/// category (the error) is kept only in memory and never copied into a payload.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HookEvent {
    pub hook_event_name: Option<String>,
    pub session_id: Option<String>,
    pub transcript_path: Option<String>,
    /// A sub-agent's own transcript (SubagentStop). Read locally, never sent.
    pub agent_transcript_path: Option<String>,
    pub cwd: Option<String>,
    pub prompt_id: Option<String>,
    pub permission_mode: Option<String>,
    pub tool_name: Option<String>,
    pub tool_use_id: Option<String>,
    pub agent_id: Option<String>,
    /// Raw error: a StopFailure type, or a failed tool's stderr. Never sent as is.
    pub error: Option<String>,
    pub is_interrupt: Option<bool>,
    pub duration_ms: Option<u64>,
    pub last_assistant_message_chars: Option<usize>,
    /// Codex: the turn, to find its usage in the rollout.
    pub turn_id: Option<String>,
    /// Codex: the model, named in its hook events.
    pub model: Option<String>,
    /// When the agent fired the hook, as it wrote it (Copilot CLI: Unix ms; Gemini CLI:
    /// RFC 3339): the same event run from two hook files has the same one.
    pub timestamp: Option<String>,
    /// Copilot CLI: why the agent stopped (`end_turn`).
    pub stop_reason: Option<String>,
    /// Copilot CLI's errorOccurred: where the error happened (`model_call`), and whether
    /// the agent goes on after it.
    pub error_context: Option<String>,
    pub recoverable: Option<bool>,
    /// A tool's result kind (Copilot CLI: `success`, `failure`, `denied`, …).
    pub tool_result_type: Option<String>,
    /// The tool's result carries an error (Gemini CLI's AfterTool).
    pub tool_error: bool,
    /// Cursor: its session and turn (its payloads carry these, also when it runs Claude
    /// Code's hooks), how a turn ended, and the turn's tokens (its `stop`).
    pub conversation_id: Option<String>,
    pub cursor_version: Option<String>,
    pub generation_id: Option<String>,
    pub status: Option<String>,
    pub tokens: EventTokens,
    /// A digest of the tool call's input (never the input): which call an event is, for
    /// an agent whose tool events carry no call id (Cursor).
    pub tool_input_digest: Option<String>,
}

/// Token counts a turn-end payload carries itself (Cursor's `stop`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EventTokens {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

impl HookEvent {
    /// Reads an event leniently: unknown fields are skipped without being kept, wrong
    /// types are ignored, and input that breaks off (truncated, too deep, not JSON)
    /// keeps what was read before the break. Returns whether the whole input parsed.
    /// Values of fields that are not kept (a tool's whole input and output) are skipped
    /// as they stream past, never held, so fields that come after them are still read.
    pub fn read_from(reader: impl std::io::Read) -> (HookEvent, bool) {
        let mut event = HookEvent::default();
        let mut de = serde_json::Deserializer::from_reader(reader);
        let complete = EventSeed(&mut event).deserialize(&mut de).is_ok() && de.end().is_ok();
        (event, complete)
    }

    fn set(&mut self, key: &str, value: Value) {
        let text = || value.as_str().map(str::to_string);
        match key {
            "hook_event_name" => self.hook_event_name = text(),
            "session_id" => self.session_id = text(),
            "transcript_path" => self.transcript_path = text(),
            "agent_transcript_path" => self.agent_transcript_path = text(),
            "cwd" => self.cwd = text(),
            "prompt_id" => self.prompt_id = text(),
            "permission_mode" => self.permission_mode = text(),
            "tool_name" => self.tool_name = text(),
            "tool_use_id" => self.tool_use_id = text(),
            "agent_id" => self.agent_id = text(),
            "error" => self.error = text(),
            "is_interrupt" => self.is_interrupt = value.as_bool(),
            "duration_ms" => {
                self.duration_ms = value.as_u64().or_else(|| value.as_f64().map(|f| f as u64))
            }
            "turn_id" => self.turn_id = text(),
            "model" => self.model = text(),
            // Copilot CLI's native payloads are camelCase.
            "sessionId" => self.session_id = text(),
            "transcriptPath" => self.transcript_path = text(),
            "toolName" => self.tool_name = text(),
            "stopReason" => self.stop_reason = text(),
            "errorContext" => self.error_context = text(),
            "recoverable" => self.recoverable = value.as_bool(),
            "timestamp" => {
                self.timestamp = match &value {
                    Value::Number(n) => Some(n.to_string()),
                    _ => text(),
                }
            }
            "conversation_id" => self.conversation_id = text(),
            "cursor_version" => self.cursor_version = text(),
            "generation_id" => self.generation_id = text(),
            "status" => self.status = text(),
            "input_tokens" => self.tokens.input = value.as_u64(),
            "output_tokens" => self.tokens.output = value.as_u64(),
            "cache_read_tokens" => self.tokens.cache_read = value.as_u64(),
            "cache_write_tokens" => self.tokens.cache_write = value.as_u64(),
            "last_assistant_message" => {
                self.last_assistant_message_chars = value.as_str().map(|s| s.chars().count())
            }
            _ => {}
        }
    }
}

const KEPT_FIELDS: [&str; 31] = [
    "generation_id",
    "status",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "sessionId",
    "transcriptPath",
    "toolName",
    "stopReason",
    "errorContext",
    "recoverable",
    "timestamp",
    "conversation_id",
    "cursor_version",
    "turn_id",
    "model",
    "hook_event_name",
    "session_id",
    "transcript_path",
    "agent_transcript_path",
    "cwd",
    "prompt_id",
    "permission_mode",
    "tool_name",
    "tool_use_id",
    "agent_id",
    "error",
    "is_interrupt",
    "duration_ms",
    "last_assistant_message",
];

struct EventSeed<'a>(&'a mut HookEvent);

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a hook event object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if matches!(key.as_ref(), "toolResult" | "tool_response") {
                map.next_value_seed(ToolResultSeed(self.0))?;
            } else if matches!(key.as_ref(), "tool_input" | "toolArgs") {
                let mut hash = Sha256::new();
                map.next_value_seed(DigestSeed(&mut hash))?;
                self.0.tool_input_digest = Some(crate::hex(&hash.finalize()[..16]));
            } else if KEPT_FIELDS.contains(&key.as_ref()) {
                let value: Value = map.next_value()?;
                self.0.set(&key, value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads of a tool's result only its kind and whether it holds an error; the output
/// itself streams past unkept, whatever its type.
struct ToolResultSeed<'a>(&'a mut HookEvent);

impl<'de> DeserializeSeed<'de> for ToolResultSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ToolResultSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tool result")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "resultType" => {
                    self.0.tool_result_type =
                        map.next_value::<Value>()?.as_str().map(str::to_string)
                }
                "error" => self.0.tool_error |= map.next_value::<Option<IgnoredAny>>()?.is_some(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Hashes a JSON value as it streams past, without keeping it: each value's kind and
/// content, so two different values never feed the same bytes.
struct DigestSeed<'a>(&'a mut Sha256);

impl<'de> DeserializeSeed<'de> for DigestSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl DigestSeed<'_> {
    fn put(&mut self, kind: u8, bytes: &[u8]) {
        self.0.update([kind]);
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }
}

impl<'de> Visitor<'de> for DigestSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.put(b'{', b"");
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            self.put(b'k', key.as_bytes());
            map.next_value_seed(DigestSeed(&mut *self.0))?;
        }
        self.put(b'}', b"");
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.put(b'[', b"");
        while seq.next_element_seed(DigestSeed(&mut *self.0))?.is_some() {}
        self.put(b']', b"");
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<(), E> {
        self.put(b's', v.as_bytes());
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> Result<(), E> {
        self.put(b'b', &[u8::from(v)]);
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<(), E> {
        self.put(b'n', v.to_string().as_bytes());
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<(), E> {
        self.put(b'n', v.to_string().as_bytes());
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<(), E> {
        self.put(b'f', v.to_string().as_bytes());
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.put(b'0', b"");
        Ok(())
    }
}

/// StopFailure error types Claude Code documents; anything else is sent as `other`.
pub const KNOWN_STOP_ERRORS: [&str; 13] = [
    "authentication_failed",
    "oauth_org_not_allowed",
    "account_on_hold",
    "verification_required",
    "billing_error",
    "rate_limit",
    "overloaded",
    "invalid_request",
    "model_not_found",
    "server_error",
    "unknown",
    "max_output_tokens",
    "cloud_credential_error",
];

/// A StopFailure's category: one Claude Code documents, else `other`.
pub fn stop_failure_category(raw: Option<&str>) -> String {
    match raw {
        Some(e) if KNOWN_STOP_ERRORS.contains(&e) => e.to_string(),
        _ => "other".into(),
    }
}

/// A failed tool call's category from the first line of its error (which is never
/// sent): `exit_code_N`, `timeout`, `interrupted`, `not_found` or `other`.
pub fn tool_failure_category(event: &HookEvent) -> String {
    if event.is_interrupt == Some(true) {
        return "interrupted".into();
    }
    let raw = event.error.as_deref().unwrap_or("");
    let first = raw.lines().next().unwrap_or("").trim();
    if let Some(code) = first.strip_prefix("Exit code ")
        && !code.is_empty()
        && code.len() <= 3
        && code.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("exit_code_{code}");
    }
    let lower = first.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") {
        return "timeout".into();
    }
    if lower.contains("interrupted") {
        return "interrupted".into();
    }
    if lower.contains("does not exist") || lower.contains("not found") {
        return "not_found".into();
    }
    "other".into()
}

/// Any other event that carries an error: `other`.
pub fn other_failure(event: &HookEvent) -> Option<String> {
    event.error.as_ref().map(|_| "other".into())
}

/// How path hashes are computed.
#[derive(Clone)]
pub enum PathHasher {
    /// HMAC-SHA256 with a per-install secret: cannot be reversed by guessing paths.
    Keyed(Vec<u8>),
    /// The seed's plain SHA-256 prefix, for users who need those exact values.
    Plain,
}

impl PathHasher {
    pub fn hash(&self, value: &str) -> String {
        let digest = match self {
            PathHasher::Plain => Sha256::digest(value.as_bytes()).to_vec(),
            PathHasher::Keyed(key) => hmac_sha256(key, value.as_bytes()).to_vec(),
        };
        crate::hex(&digest[..6])
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Identifiers are sent only when they look like identifiers (no spaces, no slashes,
/// bounded), so that nothing free-text can ride along in one.
fn identifier(value: &Option<String>) -> Option<Value> {
    let v = value.as_deref()?;
    is_identifier(v).then(|| json!(v))
}

/// Whether a value looks like an identifier: no spaces, no slashes, bounded.
pub fn is_identifier(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:@".contains(&b))
}

/// Everything a payload needs beyond the event itself.
pub struct Context<'a> {
    pub event_id: String,
    pub emitted_at: String,
    pub fallback_cwd: Option<&'a str>,
    pub hasher: &'a PathHasher,
    /// The `telemhq run` this event belongs to (from the hook's environment).
    pub run_id: Option<String>,
    /// Who runs the hook: `provider` and `tool` of the ping (`anthropic`, `claude-code`).
    pub provider: &'static str,
    pub tool: &'static str,
    /// The event's error category (its agent classifies it), if it is a failure.
    pub error: Option<String>,
    /// The repository the event's folder is in (see `project_name`).
    pub repo_root: Option<std::path::PathBuf>,
}

/// A project's name, as pings and reports show it: the folder name of the repository
/// the event's folder is in (`repo_root`, when it holds `cwd`), else the folder's own.
pub fn project_name(cwd: Option<&str>, repo_root: Option<&std::path::Path>) -> String {
    let cwd = cwd.map(std::path::Path::new);
    let folder = match (cwd, repo_root) {
        (Some(c), Some(root)) if c.starts_with(root) => Some(root),
        (c, _) => c,
    };
    folder
        .and_then(|c| c.file_name())
        .map(|n| n.to_string_lossy().chars().take(128).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The repository a folder is in, for `project_name` (a repository at HOME, of dotfiles,
/// names no project).
pub fn repo_root_of(cwd: &str, home: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    crate::env::git_root(std::path::Path::new(cwd)).filter(|root| Some(root.as_path()) != home)
}

/// Builds the payload field by field from the allowlist. Absent fields are left out.
pub fn build(event: &HookEvent, ctx: &Context) -> Map<String, Value> {
    let name = event
        .hook_event_name
        .clone()
        .unwrap_or_else(|| "ClaudeCode".into());
    let error = ctx.error.clone();
    let failed = error.is_some();
    let cwd = event.cwd.as_deref().or(ctx.fallback_cwd);
    let project = project_name(cwd, ctx.repo_root.as_deref());

    let mut p = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            p.insert(key.to_string(), v);
        }
    };
    put("provider", Some(json!(ctx.provider)));
    put("tool", Some(json!(ctx.tool)));
    put(
        "status",
        Some(json!(if failed { "failed" } else { "success" })),
    );
    put("event", identifier(&Some(name)).or(Some(json!("other"))));
    put("project", Some(json!(project)));
    // (Cursor names its session `conversation_id`.)
    put(
        "session_id",
        identifier(&event.session_id).or_else(|| identifier(&event.conversation_id)),
    );
    put("tool_name", identifier(&event.tool_name));
    put("tool_use_id", identifier(&event.tool_use_id));
    put("permission_mode", identifier(&event.permission_mode));
    put(
        "model",
        event
            .model
            .as_deref()
            .and_then(crate::usage::model_name)
            .map(Value::from),
    );
    put(
        "cwd_hash",
        cwd.filter(|c| !c.is_empty())
            .map(|c| json!(ctx.hasher.hash(c))),
    );
    put(
        "transcript_path_hash",
        event
            .transcript_path
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| json!(ctx.hasher.hash(t))),
    );
    put("error", error.map(Value::from));
    put(
        "last_assistant_message_chars",
        event.last_assistant_message_chars.map(Value::from),
    );
    put("duration_ms", event.duration_ms.map(Value::from));
    put("is_interrupt", event.is_interrupt.map(Value::from));
    put("stop_reason", identifier(&event.stop_reason));
    put("recoverable", event.recoverable.map(Value::from));
    put("cursor_version", identifier(&event.cursor_version));
    put("run_id", identifier(&ctx.run_id));
    put("event_id", Some(json!(ctx.event_id)));
    put("emitted_at", Some(json!(ctx.emitted_at)));
    put("telemhq_version", Some(json!(env!("CARGO_PKG_VERSION"))));
    p
}

/// Adds a turn's usage to its payload: the usage fields, the cost (priced with the
/// user's own prices first), and the turn's identity (`turn_uid`, the same whether a hook
/// or `import` records the turn, so that a tracker or the store can tell them apart) with
/// the `event_id` made from it.
pub fn add_turn(
    payload: &mut Map<String, Value>,
    mut turn: crate::usage::Turn,
    own: &crate::prices::Overrides,
) {
    // Whatever reader made the turn, only model names go out (else: an unknown model).
    let model = |m: Option<String>| m.as_deref().and_then(crate::usage::model_name);
    turn.model = model(turn.model.take());
    for call in &mut turn.calls {
        call.model = model(call.model.take());
    }
    match turn
        .fields
        .get("model")
        .and_then(Value::as_str)
        .map(crate::usage::model_name)
    {
        Some(Some(_)) | None => {}
        Some(None) => {
            turn.fields.remove("model");
        }
    }
    let key = turn.key.clone();
    for (k, v) in crate::prices::priced(turn, own) {
        payload.insert(k, v);
    }
    let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
    if let (Some(key), Some(session), Some(tool)) = (key, text("session_id"), text("tool")) {
        let uid = crate::usage::turn_uid(&tool, &session, &key);
        // Whoever sends the turn (its hook, `import --send`, a retry) sends one id.
        payload.insert("event_id".into(), json!(crate::usage::event_id(&uid)));
        payload.insert("turn_uid".into(), json!(uid));
    }
}

/// A random UUID (version 4), unique per event.
pub fn new_event_id() -> Result<String, String> {
    let mut b = crate::fsutil::random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn plain_hash_is_the_seeds_sha256_prefix() {
        // python3 -c 'import hashlib;print(hashlib.sha256(b"/home/dev/projects/api").hexdigest()[:12])'
        let expected = &crate::hex(&Sha256::digest(b"/home/dev/projects/api"))[..12];
        assert_eq!(PathHasher::Plain.hash("/home/dev/projects/api"), expected);
        assert_ne!(
            PathHasher::Keyed(b"k".to_vec()).hash("/home/dev/projects/api"),
            expected
        );
    }

    #[test]
    fn hmac_with_a_key_longer_than_a_block_matches_rfc4231_case_6() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            crate::hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn error_categories_never_carry_text() {
        let failure = |e: &str| HookEvent {
            hook_event_name: Some("PostToolUseFailure".into()),
            error: Some(e.into()),
            ..Default::default()
        };
        assert_eq!(
            tool_failure_category(&failure("Exit code 2\nls: /secret")),
            "exit_code_2"
        );
        assert_eq!(
            tool_failure_category(&failure("Command timed out after 2m")),
            "timeout"
        );
        assert_eq!(tool_failure_category(&failure("boom /secret")), "other");
        assert_eq!(stop_failure_category(Some("rate_limit")), "rate_limit");
        assert_eq!(stop_failure_category(Some("my secret text")), "other");
    }

    #[test]
    fn truncated_input_keeps_the_fields_read_before_the_break() {
        let (event, complete) = HookEvent::read_from(&br#"{"hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"content":"aaaa"#[..]);
        assert!(!complete);
        assert_eq!(event.hook_event_name.as_deref(), Some("PostToolUse"));
        assert_eq!(event.tool_name.as_deref(), Some("Write"));
    }

    #[test]
    fn identifiers_with_free_text_are_dropped() {
        assert_eq!(
            identifier(&Some("e5857229-8cb1".into())),
            Some(json!("e5857229-8cb1"))
        );
        assert_eq!(
            identifier(&Some("mcp__github__create_issue".into())),
            Some(json!("mcp__github__create_issue"))
        );
        assert_eq!(identifier(&Some("has space".into())), None);
        assert_eq!(identifier(&Some("/a/path".into())), None);
    }
}
