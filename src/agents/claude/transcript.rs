//! Usage of one turn, read from Claude Code's transcript (JSON Lines) without reading
//! content out of it: model names, token counts, tool names, timestamps, cost.
//!
//! Transcripts reach hundreds of MB, so the file is read backwards from its end in
//! blocks, only as far as the turn's prompt: the cost follows the turn, not the file.
//! Lines that cannot matter (by a cheap substring test) are never parsed, a line longer
//! than `MAX_LINE` is skipped without being held in memory, and anything unexpected
//! (missing file, half-written last line, lines that are not JSON) just gives less.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, json};

use crate::ping::queue::UsageSource;
use crate::usage::{Call, MAX_LINE, Turn};

const BLOCK: usize = 256 * 1024;
/// However the turn looks, never read more than this much of the file.
const MAX_SCAN: u64 = 256 * 1024 * 1024;
/// Later turns' prompts passed before giving up on finding the event's own.
const MAX_OTHER_TURNS: u32 = 3;

/// What a turn used.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TurnUsage {
    /// The turn's prompt id (its key in the session).
    pub key: Option<String>,
    /// The model of the turn's last API call.
    pub model: Option<String>,
    /// Each API call (message) of the turn, in order.
    pub calls: Vec<Call>,
    pub tool_calls: BTreeMap<String, u64>,
    /// Unix ms of the turn's prompt.
    pub prompt_at_ms: Option<i64>,
    pub claude_code_version: Option<String>,
    pub session_cost_usd: Option<f64>,
    /// The turn's last API answer says the turn is over (`stop_reason` other than
    /// `tool_use`): Claude Code has written the turn's end.
    pub ended: bool,
    /// Whether the last assistant line has been seen (reading backwards, the first).
    seen_last_answer: bool,
}

impl TurnUsage {
    /// The sum of the turn's calls.
    pub fn total(&self) -> Call {
        let mut t = Call::default();
        self.calls.iter().for_each(|c| t.add(c));
        t
    }

    /// The ping fields (numbers and names only) and the calls to price. `now_ms` is when
    /// the event fired.
    pub fn read(self, now_ms: i64) -> Turn {
        let mut m = Map::new();
        if let Some(model) = &self.model {
            m.insert("model".into(), json!(model));
        }
        if !self.calls.is_empty() {
            m.insert("usage".into(), self.total().to_json());
        }
        m.insert("api_calls".into(), json!(self.calls.len()));
        m.insert("tool_calls".into(), json!(self.tool_calls));
        if let Some(at) = self.prompt_at_ms {
            m.insert("turn_duration_ms".into(), json!((now_ms - at).max(0)));
        }
        if let Some(v) = &self.claude_code_version {
            m.insert("claude_code_version".into(), json!(v));
        }
        if let Some(c) = self.session_cost_usd {
            m.insert("session_cost_usd".into(), json!(c));
        }
        Turn {
            key: self.key,
            fields: m,
            calls: self.calls,
            model: self.model,
            agent_cost_usd: None,
        }
    }
}

/// A transcript line: only what is read of it, its strings borrowed from the line
/// itself where they have no escapes (they are ids and names: no allocation per line).
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "promptId", borrow)]
    prompt_id: Option<Cow<'a, str>>,
    /// The line's own id; versions before `promptId` (1.0.x to 2.1.2x) key a turn by its
    /// prompt line's.
    #[serde(borrow)]
    uuid: Option<Cow<'a, str>>,
    #[serde(rename = "parentUuid", borrow)]
    parent_uuid: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain")]
    is_sidechain: Option<bool>,
    /// Lines Claude Code adds as the user's that nobody typed (a local command's caveat,
    /// a compacted conversation's summary): never a turn's prompt.
    #[serde(rename = "isMeta")]
    is_meta: Option<bool>,
    #[serde(rename = "isCompactSummary")]
    is_compact_summary: Option<bool>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    #[serde(rename = "toolUseResult")]
    tool_use_result: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
    #[serde(rename = "totalCostUSD")]
    total_cost_usd: Option<f64>,
    #[serde(rename = "sessionId", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
}

/// An optional borrowed string, owned.
fn owned(s: &Option<Cow<'_, str>>) -> Option<String> {
    s.as_deref().map(str::to_string)
}

impl Line<'_> {
    /// A user's prompt: a user line that is not a tool's result nor one Claude Code
    /// added itself.
    fn is_prompt(&self) -> bool {
        self.kind.as_deref() == Some("user")
            && self.tool_use_result.is_none()
            && self.is_meta != Some(true)
            && self.is_compact_summary != Some(true)
            && !self.message.as_ref().is_some_and(|m| {
                m.content
                    .iter()
                    .any(|b| b.kind.as_deref() == Some("tool_result"))
            })
    }

    /// The key of the turn this prompt line starts: its `promptId`, or in versions
    /// without one, the line's own id.
    fn turn_key(&self) -> Option<String> {
        owned(&self.prompt_id)
            .or_else(|| owned(&self.uuid))
            .filter(|k| is_name(k))
    }
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<Usage>,
    #[serde(borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "blocks", borrow)]
    content: Vec<Block<'a>>,
}

impl Message<'_> {
    /// The message's tool calls by name, each with a key that is the same in every copy
    /// of the message (the call's id, else the message's id and the name).
    fn tool_uses(&self) -> impl Iterator<Item = (String, &str)> {
        self.content.iter().filter_map(|block| {
            let name = block
                .name
                .as_deref()
                .filter(|n| block.kind.as_deref() == Some("tool_use") && is_name(n))?;
            let key = owned(&block.id)
                .unwrap_or_else(|| format!("{}#{}", self.id.as_deref().unwrap_or(""), name));
            Some((key, name))
        })
    }
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    /// The cache writes by lifetime (1-hour writes cost more).
    #[serde(default)]
    cache_creation: CacheCreation,
    #[serde(default)]
    output_tokens_details: OutputDetails,
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: u64,
}

#[derive(Deserialize, Default)]
struct OutputDetails {
    #[serde(default)]
    thinking_tokens: u64,
}

/// A content block: only its kind, and a tool call's id and name. Never fails: a field
/// of another type than expected is left out, and everything else streams past.
struct Block<'a> {
    kind: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
}

impl<'de> Deserialize<'de> for Block<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Block<'de>, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Block<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a content block")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Block<'de>, A::Error> {
                let mut b = Block {
                    kind: None,
                    id: None,
                    name: None,
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "type" => &mut b.kind,
                        "id" => &mut b.id,
                        "name" => &mut b.name,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<Text>()?.0;
                }
                Ok(b)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Block<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Block {
                    kind: None,
                    id: None,
                    name: None,
                })
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Block<'de>, E> {
                self.visit_unit()
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Block<'de>, E> {
                self.visit_unit()
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Block<'de>, E> {
                self.visit_unit()
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Block<'de>, E> {
                self.visit_unit()
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Block<'de>, E> {
                self.visit_unit()
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Block<'de>, E> {
                Ok(Block {
                    kind: None,
                    id: None,
                    name: None,
                })
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A string where there is one (borrowed where it has no escapes); anything else
/// streams past as nothing.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Text<'de>, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Text(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Text<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Content is a string (a typed prompt) or a list of blocks; only block kinds and tool
/// names are kept, and anything else streams past unkept (an untagged enum would first
/// copy the whole content, text and all, into memory).
fn blocks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Block<'de>>, D::Error> {
    struct Blocks;
    impl<'de> serde::de::Visitor<'de> for Blocks {
        type Value = Vec<Block<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("message content")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<Block<'de>>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<Block>()? {
                out.push(b);
            }
            Ok(out)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Vec<Block<'de>>, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Vec<Block<'de>>, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(Vec::new())
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<Block<'de>>, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Vec<Block<'de>>, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Vec<Block<'de>>, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Vec<Block<'de>>, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Vec<Block<'de>>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Blocks)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:@[]".contains(&b))
}

/// One API call of a message, in telemhq's meaning (Anthropic's figures already have
/// it: input without the cache, output with the thinking in it). None for a message
/// that is no API answer (no id, no model, Claude Code's own `<synthetic>` ones).
fn call_of(message: Message) -> Option<Call> {
    let id = owned(&message.id).filter(|i| is_name(i))?;
    let model = owned(&message.model).filter(|m| is_name(m) && m != "<synthetic>")?;
    let u = message.usage?;
    let one_hour = u
        .cache_creation
        .ephemeral_1h_input_tokens
        .min(u.cache_creation_input_tokens);
    Some(Call {
        id: Some(id),
        model: Some(model),
        input: u.input_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_creation_input_tokens - one_hour,
        cache_write_1h: one_hour,
        output: u.output_tokens,
        reasoning: u.output_tokens_details.thinking_tokens.min(u.output_tokens),
    })
}

/// What a backward scan of a transcript counts.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// The main conversation's turn whose prompt has this id (None: the last prompt's).
    Main(Option<&'a str>),
    /// A sub-agent's own transcript: all of it is the run.
    OwnFile,
    /// The last sub-agent run written as side-chain lines into the main transcript
    /// (versions before sub-agents had files of their own).
    Sidechain,
}

/// Reads the usage of the turn whose prompt has `prompt_id` (or, without one, of the
/// last prompt). None when the transcript cannot be read or holds no such turn.
pub fn turn_usage(path: &Path, prompt_id: Option<&str>) -> Option<TurnUsage> {
    scan_file(path, Mode::Main(prompt_id))
}

/// Reads the usage of a sub-agent's run: its own transcript (every line is the run), or
/// in versions that wrote it into the main transcript, the last side-chain run there.
pub fn subagent_usage(path: &Path) -> Option<TurnUsage> {
    if is_subagent_file(path) {
        let mut u = scan_file(path, Mode::OwnFile)?;
        u.key = subagent_key(path);
        Some(u)
    } else {
        scan_file(path, Mode::Sidechain)
    }
}

/// The usage of a queued turn-end event, read from its transcript (numbers and names
/// only). The sender calls this a moment after the event.
pub fn read_usage(source: &UsageSource) -> Option<Turn> {
    let path = Path::new(&source.transcript_path);
    let usage = if source.subagent {
        subagent_usage(path)?
    } else {
        turn_usage(path, source.prompt_id.as_deref())?
    };
    Some(usage.read(source.event_ms))
}

/// A sub-agent's own transcript: `<session>/subagents/agent-<id>.jsonl`, or in 2.0.x
/// `agent-<id>.jsonl` beside the sessions' files.
pub fn is_subagent_file(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "subagents")
        || path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("agent-"))
}

/// A sub-agent's run is keyed by its own transcript's name (`agent-<id>`).
pub fn subagent_key(path: &Path) -> Option<String> {
    path.file_stem()
        .map(|s| format!("subagent:{}", s.to_string_lossy()))
}

/// A sub-agent's run written as side-chain lines: keyed by its task prompt's line (the
/// run's first), else by the turn it ran in.
fn sidechain_key(root: Option<&str>, main_key: Option<&str>) -> String {
    format!("sidechain:{}", root.or(main_key).unwrap_or(""))
}

/// A turn being put together by `turns`.
#[derive(Default)]
struct Building {
    usage: crate::usage::TurnUsage,
    /// Calls by message id: the last line of a message has its final usage.
    calls: Vec<Call>,
    tools: HashSet<String>,
}

impl Building {
    fn start(key: String, line: &Line) -> Building {
        let at = line
            .timestamp
            .as_deref()
            .and_then(crate::time::parse_rfc3339_ms);
        Building {
            usage: crate::usage::TurnUsage {
                key: Some(key),
                session: owned(&line.session_id).filter(|s| is_name(s)),
                cwd: owned(&line.cwd),
                started_ms: at,
                ended_ms: at,
                agent_version: owned(&line.version)
                    .filter(|v| is_name(v))
                    .map(|v| ("claude_code_version", v)),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn subagent(mut self) -> Building {
        self.usage.subagent = true;
        self
    }

    fn add(&mut self, line: Line) {
        if let Some(at) = line
            .timestamp
            .as_deref()
            .and_then(crate::time::parse_rfc3339_ms)
        {
            self.usage.ended_ms = Some(self.usage.ended_ms.map_or(at, |e| e.max(at)));
        }
        if self.usage.session.is_none() {
            self.usage.session = owned(&line.session_id).filter(|s| is_name(s));
        }
        if self.usage.cwd.is_none() {
            self.usage.cwd = owned(&line.cwd);
        }
        let Some(message) = line.message else { return };
        for (key, name) in message.tool_uses() {
            if self.tools.insert(key) {
                self.usage.count_tool(name.to_string());
            }
        }
        let Some(call) = call_of(message) else {
            return;
        };
        self.usage.model = call.model.clone();
        // A message written on several lines while it streams: the last counts, once.
        match self.calls.iter_mut().find(|c| c.id == call.id) {
            Some(c) => *c = call,
            None => self.calls.push(call),
        }
    }

    fn finish(mut self) -> Option<crate::usage::TurnUsage> {
        self.usage.calls = self.calls;
        let u = self.usage;
        (!u.calls.is_empty() || !u.tool_calls.is_empty()).then_some(u)
    }
}

/// Sub-agent runs written as side-chain lines into the main transcript, in the order
/// they started: each line belongs to the run its parent line is in (runs in parallel
/// interleave), else to the last run started.
#[derive(Default)]
struct SideRuns {
    runs: Vec<Building>,
    /// Side-chain line ids → the run (index) they are in.
    of_line: std::collections::HashMap<String, usize>,
}

impl SideRuns {
    fn take(&mut self, line: Line, main_key: Option<&str>) {
        let root = line.is_prompt() && line.parent_uuid.is_none();
        let run = match line
            .parent_uuid
            .as_deref()
            .and_then(|p| self.of_line.get(p))
        {
            Some(&i) if !root => i,
            _ if root || self.runs.is_empty() => {
                let key = sidechain_key(line.uuid.as_deref().filter(|_| root), main_key);
                self.runs.push(Building::start(key, &line).subagent());
                self.runs.len() - 1
            }
            _ => self.runs.len() - 1,
        };
        if let Some(id) = owned(&line.uuid) {
            self.of_line.insert(id, run);
        }
        if line.kind.as_deref() == Some("assistant") {
            self.runs[run].add(line);
        }
    }

    fn finish(self) -> impl Iterator<Item = crate::usage::TurnUsage> {
        self.runs.into_iter().filter_map(Building::finish)
    }
}

/// Every turn of a transcript from `from` (a byte offset where a turn starts), for
/// `import`: the turns, and where the next import of the file starts (the last turn's
/// prompt: it may still grow). A sub-agent's own transcript is one run; side-chain
/// lines in the main transcript (older versions) are runs of their own beside the turn
/// they ran in. A line still being written is left for later.
///
/// A turn starts at a prompt line: one with a `promptId` (2.1.3x and later), or in a
/// transcript written by versions without it, any user prompt (keyed by its line's id).
pub fn turns(path: &Path, from: u64) -> (Vec<crate::usage::TurnUsage>, u64) {
    let mut out = Vec::new();
    let Ok(mut file) = crate::fsutil::open_regular(path) else {
        return (out, from);
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return (out, from);
    };
    if from > len || file.seek(SeekFrom::Start(from)).is_err() {
        return (out, 0);
    }
    let own_file = is_subagent_file(path);
    let mut lines = crate::usage::Lines::new(file.take(len - from), len - from, MAX_LINE);
    let mut next = from;
    let mut main: Option<Building> = None;
    // Answers before the file's first prompt (a transcript cut at its start).
    let mut unplaced: Option<Building> = None;
    let mut side = SideRuns::default();
    let mut whole: Option<Building> = None;
    // Once a prompt with a `promptId` is seen, user lines without one are not prompts
    // (a version that writes them writes them on every prompt).
    let mut prompt_ids = false;
    // Up to the end, or a line still being written.
    while let Some(read) = lines.next_line() {
        let start = from + read.at;
        let Some(raw) = read.bytes else { continue };
        let has = |needle: &[u8]| memchr::memmem::find(raw, needle).is_some();
        // (A quoted name matches a key or a whole value, never text inside a string, whose
        // quotes are escaped.) A tool's result is neither a prompt nor an answer: the
        // largest lines are skipped unparsed.
        if !(has(b"\"assistant\"") || has(b"\"user\"") && !has(b"\"toolUseResult\"")) {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Line>(raw) else {
            continue;
        };
        if own_file {
            let b = whole.get_or_insert_with(|| {
                Building::start(subagent_key(path).unwrap_or_default(), &line).subagent()
            });
            if line.kind.as_deref() == Some("assistant") {
                b.add(line);
            }
            continue;
        }
        if line.is_sidechain == Some(true) {
            let main_key = main.as_ref().and_then(|m| m.usage.key.clone());
            side.take(line, main_key.as_deref());
            continue;
        }
        match line.kind.as_deref() {
            Some("user") if line.is_prompt() => {
                prompt_ids |= line.prompt_id.is_some();
                if line.prompt_id.is_none() && prompt_ids {
                    continue;
                }
                if let Some(key) = line.turn_key() {
                    out.extend(main.take().and_then(Building::finish));
                    out.extend(std::mem::take(&mut side).finish());
                    main = Some(Building::start(key, &line));
                    next = start;
                }
            }
            Some("assistant") => {
                let b = main.as_mut().unwrap_or_else(|| {
                    unplaced.get_or_insert_with(|| {
                        let at = line.uuid.as_deref().unwrap_or("");
                        let mut b = Building::start(format!("unplaced:{at}"), &line);
                        b.usage.unplaced = true;
                        b
                    })
                });
                b.add(line);
            }
            _ => {}
        }
    }
    out.extend(unplaced.and_then(Building::finish));
    out.extend(main.and_then(Building::finish));
    out.extend(side.finish());
    out.extend(whole.and_then(Building::finish));
    // A sub-agent's transcript is one run: read it whole each time it grows.
    (out, if own_file { 0 } else { next })
}

fn scan_file(path: &Path, mode: Mode) -> Option<TurnUsage> {
    // Never a FIFO or a device: opening one could block the sender for good.
    let mut file = crate::fsutil::open_regular(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut scan = Scan {
        mode,
        usage: TurnUsage::default(),
        seen_messages: HashSet::new(),
        seen_tools: HashSet::new(),
        found_prompt: false,
        saw_turn: false,
        other_prompts: 0,
        calls: Vec::new(),
    };
    let mut pos = len;
    let mut carry: Vec<u8> = Vec::new();
    let mut skipping_long_line = false;
    let mut block = vec![0u8; BLOCK];
    while pos > 0 && len - pos < MAX_SCAN {
        let n = (pos as usize).min(BLOCK);
        pos -= n as u64;
        file.seek(SeekFrom::Start(pos)).ok()?;
        file.read_exact(&mut block[..n]).ok()?;
        let chunk = &block[..n];
        // Lines wholly inside this block, last first; the head piece may continue
        // in the previous block.
        let mut end = n;
        let mut tail = std::mem::take(&mut carry);
        while let Some(nl) = chunk[..end].iter().rposition(|&b| b == b'\n') {
            let piece = &chunk[nl + 1..end];
            if skipping_long_line {
                skipping_long_line = false;
            } else {
                let line = if tail.is_empty() {
                    piece.to_vec()
                } else {
                    [piece, &tail].concat()
                };
                if scan.line(&line) {
                    return scan.finish();
                }
            }
            tail.clear();
            end = nl;
        }
        if !skipping_long_line {
            carry = [&chunk[..end], &tail[..]].concat();
            if carry.len() > MAX_LINE {
                carry.clear();
                skipping_long_line = true;
            }
        }
    }
    if pos == 0 && !skipping_long_line && !carry.is_empty() {
        scan.line(&carry);
    }
    scan.finish()
}

struct Scan<'a> {
    mode: Mode<'a>,
    usage: TurnUsage,
    seen_messages: HashSet<String>,
    seen_tools: HashSet<String>,
    found_prompt: bool,
    saw_turn: bool,
    other_prompts: u32,
    /// The calls met, backwards.
    calls: Vec<Call>,
}

impl Scan<'_> {
    /// Takes one line (met from the end backwards). Returns true when the turn's prompt
    /// was reached and reading can stop.
    fn line(&mut self, raw: &[u8]) -> bool {
        let has = |needle: &[u8]| memchr::memmem::find(raw, needle).is_some();
        let interesting = has(b"\"assistant\"") || has(b"\"user\"") || has(b"\"cost-state\"");
        if !interesting {
            return false;
        }
        let Ok(line) = serde_json::from_slice::<Line>(raw) else {
            return false;
        };
        if line.kind.as_deref() == Some("cost-state") {
            if self.usage.session_cost_usd.is_none() {
                self.usage.session_cost_usd = line.total_cost_usd;
            }
            return false;
        }
        let sidechain = line.is_sidechain == Some(true);
        match self.mode {
            Mode::OwnFile => self.own_line(line),
            Mode::Sidechain if sidechain => self.side_line(line),
            Mode::Sidechain => {
                // The main conversation's prompt: no side-chain run after it.
                line.is_prompt() && line.turn_key().is_some()
            }
            Mode::Main(_) if sidechain => false,
            Mode::Main(want) => self.main_line(line, want),
        }
    }

    /// A line of a sub-agent's own transcript: all of it counts, back to its task prompt.
    fn own_line(&mut self, line: Line) -> bool {
        match line.kind.as_deref() {
            Some("assistant") => {
                self.assistant(line);
                false
            }
            Some("user") if line.is_prompt() => {
                self.found_prompt = true;
                self.started(&line);
                true
            }
            _ => false,
        }
    }

    /// A side-chain line of the main transcript: the last run's, back to its task prompt.
    fn side_line(&mut self, line: Line) -> bool {
        match line.kind.as_deref() {
            Some("assistant") => {
                self.assistant(line);
                false
            }
            Some("user") if line.is_prompt() => {
                self.found_prompt = true;
                self.usage.key = Some(sidechain_key(line.uuid.as_deref(), None));
                self.started(&line);
                true
            }
            _ => false,
        }
    }

    fn main_line(&mut self, line: Line, want: Option<&str>) -> bool {
        match line.kind.as_deref() {
            Some("assistant") => {
                self.assistant(line);
                false
            }
            Some("user") => {
                let is_prompt = line.is_prompt();
                let ours = match (want, line.prompt_id.as_deref()) {
                    (Some(want), Some(got)) => want == got,
                    (Some(_), None) => false,
                    (None, _) => true,
                };
                if ours {
                    self.saw_turn = true;
                }
                if is_prompt && ours {
                    self.found_prompt = true;
                    self.usage.key = line.turn_key();
                    self.started(&line);
                    return true;
                }
                if is_prompt && (line.prompt_id.is_some() || want.is_none()) {
                    // A later turn's prompt: what was counted so far was that turn's.
                    // Ours is normally the last turn; look only a few turns back.
                    self.other_prompts += 1;
                    if self.saw_turn || self.other_prompts > MAX_OTHER_TURNS {
                        return true;
                    }
                    self.reset();
                }
                false
            }
            _ => false,
        }
    }

    /// The run's first line: when it started, and the version that wrote it.
    fn started(&mut self, line: &Line) {
        self.usage.prompt_at_ms = line
            .timestamp
            .as_deref()
            .and_then(crate::time::parse_rfc3339_ms);
        self.usage.claude_code_version = owned(&line.version).filter(|v| is_name(v));
    }

    fn reset(&mut self) {
        self.usage = TurnUsage {
            session_cost_usd: self.usage.session_cost_usd,
            ..TurnUsage::default()
        };
        self.seen_messages.clear();
        self.seen_tools.clear();
        self.calls.clear();
    }

    fn assistant(&mut self, line: Line) {
        let Some(message) = line.message else { return };
        if !self.usage.seen_last_answer {
            self.usage.seen_last_answer = true;
            self.usage.ended = message
                .stop_reason
                .as_deref()
                .is_some_and(|r| r != "tool_use");
        }
        for (key, name) in message.tool_uses() {
            if self.seen_tools.insert(key) {
                *self.usage.tool_calls.entry(name.to_string()).or_default() += 1;
            }
        }
        // Met backwards: the first line of a message seen is its last written, with its
        // final usage. Earlier lines of the same message are not counted again.
        let Some(id) = owned(&message.id) else { return };
        if !self.seen_messages.insert(id) {
            return;
        }
        let Some(call) = call_of(message) else {
            return;
        };
        if self.usage.model.is_none() {
            self.usage.model = call.model.clone();
        }
        self.calls.push(call);
    }

    fn finish(mut self) -> Option<TurnUsage> {
        if !self.found_prompt && !self.saw_turn && self.calls.is_empty() {
            return None;
        }
        if !self.found_prompt && matches!(self.mode, Mode::Main(Some(_)) | Mode::Sidechain) {
            // The prompt was never met: the lines read may belong to other turns.
            return None;
        }
        self.calls.reverse();
        self.usage.calls = self.calls;
        Some(self.usage)
    }
}
