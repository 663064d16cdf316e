//! telemhq's hooks in Codex's `config.toml`, and the trust entries that let Codex run
//! them. A text editor: it never re-serialises the document. It finds telemhq's own
//! tables with a TOML parser (their byte spans), cuts exactly their lines out and
//! appends new ones at the end, in the file's own line endings, so that every other byte
//! — comments, order, quoting, dotted keys, a byte-order mark, a missing final newline —
//! stays as the user wrote it, and uninstall gives back the bytes install started from.
//!
//! Codex runs a hook that is not managed only once it is trusted, and reads trust only
//! from the user's config (`$CODEX_HOME/config.toml`, the folder resolved as Codex
//! resolves it), whichever file holds the hook:
//! `[hooks.state."<hook file>:<event>:<group>:<handler>"] trusted_hash = "sha256:…"`, the
//! SHA-256 of the hook's canonical JSON. The key holds the group's index, so a group
//! that moves (because telemhq's group before it went) is re-keyed, and the user's own
//! hooks stay trusted.

use std::ops::Range;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use toml_edit::{Document, Item, Table};

use super::{EditError, Edited, Record, ToolActivity};
use crate::jsonfile::ReadError;

/// telemhq's hook groups in a Codex config.
pub struct TomlSet {
    pub command: &'static str,
    /// Seconds Codex gives the hook.
    pub timeout: i64,
    /// The turn's end: always installed.
    pub turn_event: &'static str,
    /// Each tool call: installed with `--tool-activity`, for every tool.
    pub tool_event: &'static str,
    pub tool_matcher: &'static str,
}

/// A parsed config (it keeps the byte spans of every key, value and table header).
pub type Doc<'t> = Document<&'t str>;

/// Parses a config as Codex would, with the place of any error.
pub fn parse(text: &str) -> Result<Doc<'_>, ReadError> {
    Document::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ReadError::Syntax {
            line,
            column,
            problem: e.message().trim().to_string(),
        }
    })
}

/// Codex's event name in trust keys: `PostToolUse` → `post_tool_use`.
pub fn snake(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The hash Codex computes for a command hook: SHA-256 of the compact JSON, keys sorted,
/// of `{"event_name", "hooks": [{"async", "command", "timeout", "type"}], "matcher"?}`.
pub fn trust_hash(event: &str, matcher: Option<&str>, command: &str, timeout: i64) -> String {
    // Written with the keys in sorted order; serde_json keeps that order.
    let handler = serde_json::json!({
        "async": false,
        "command": command,
        "timeout": timeout,
        "type": "command",
    });
    let mut root = serde_json::Map::new();
    root.insert("event_name".into(), serde_json::json!(snake(event)));
    root.insert("hooks".into(), serde_json::json!([handler]));
    if let Some(m) = matcher {
        root.insert("matcher".into(), serde_json::json!(m));
    }
    let text = serde_json::to_string(&root).expect("JSON serialises");
    format!("sha256:{}", crate::hex(&Sha256::digest(text.as_bytes())))
}

/// The trust key of a hook: `<hook file>:<event>:<group>:<handler>`.
pub fn trust_key(source: &str, event: &str, group: usize, handler: usize) -> String {
    format!("{source}:{}:{group}:{handler}", snake(event))
}

/// The groups of an event (`[[hooks.<event>]]`), in order.
fn groups<'d>(doc: &'d Table, event: &str) -> Vec<&'d Table> {
    doc.get("hooks")
        .and_then(|h| h.get(event))
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A group's only handler, if it has exactly one.
fn only_handler(group: &Table) -> Option<&Table> {
    let handlers = group.get("hooks")?.as_array_of_tables()?;
    (handlers.len() == 1).then(|| handlers.get(0)).flatten()
}

/// What Codex hashes of a group: its matcher, and its one command handler's command and
/// timeout (600 seconds when not given). None: not a one-command group.
fn hashed_parts(group: &Table) -> Option<(Option<&str>, &str, i64)> {
    let handler = only_handler(group)?;
    if handler.get("type").and_then(Item::as_str) != Some("command") {
        return None;
    }
    let command = handler.get("command")?.as_str()?;
    let timeout = handler
        .get("timeout")
        .and_then(Item::as_integer)
        .unwrap_or(600);
    let matcher = group.get("matcher").and_then(Item::as_str);
    Some((matcher, command, timeout))
}

/// Start of the line holding `pos`, and the end of the line holding `pos` (after its
/// line break).
fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

/// The last byte an item's text reaches (keys, values, table headers, all the way down).
fn item_end(item: &Item) -> usize {
    match item {
        Item::Value(v) => v.span().map_or(0, |s| s.end),
        Item::Table(t) => table_end(t),
        Item::ArrayOfTables(a) => a.iter().map(table_end).max().unwrap_or(0),
        Item::None => 0,
    }
}

fn table_end(t: &Table) -> usize {
    let own = t.span().map_or(0, |s| s.end);
    t.iter()
        .map(|(k, item)| {
            let key = t
                .get_key_value(k)
                .and_then(|(key, _)| key.span())
                .map_or(0, |s| s.end);
            key.max(item_end(item))
        })
        .fold(own, usize::max)
}

/// Starts of the table headers (`[a]`, `[[b]]`) of an item and everything below it.
fn headers(item: &Item, out: &mut Vec<usize>) {
    match item {
        Item::Table(t) => table_headers(t, out),
        Item::ArrayOfTables(a) => a.iter().for_each(|t| table_headers(t, out)),
        _ => {}
    }
}

fn table_headers(t: &Table, out: &mut Vec<usize>) {
    if !t.is_implicit()
        && !t.is_dotted()
        && let Some(s) = t.span()
    {
        out.push(s.start);
    }
    for (_, item) in t.iter() {
        headers(item, out);
    }
}

/// The lines of text that hold one item (a table with its header, or a key and its
/// value), refusing when another table's header sits among them (cutting them out would
/// take that table too).
fn extent(
    text: &str,
    doc: &Table,
    key_start: Option<usize>,
    item: &Item,
) -> Result<Range<usize>, EditError> {
    let header = match item {
        Item::Table(t) if !t.is_implicit() && !t.is_dotted() => t.span().map(|s| s.start),
        _ => None,
    };
    let from = header
        .or(key_start)
        .ok_or_else(|| EditError::Internal("internal error: an item without a place".into()))?;
    let start = line_start(text, from);
    let end = line_end(text, item_end(item).max(from));
    let mut mine = Vec::new();
    headers(item, &mut mine);
    let mut all = Vec::new();
    table_headers(doc, &mut all);
    if let Some(other) = all
        .iter()
        .find(|h| **h > start && **h < end && !mine.contains(h))
    {
        let line = text[..*other].matches('\n').count() + 1;
        return Err(EditError::CannotEdit(format!(
            "telemhq's entry at line {} is interleaved with another table (line {line}), so \
             it cannot be taken out alone; move that table, or edit the file by hand",
            text[..start].matches('\n').count() + 1
        )));
    }
    Ok(start..end)
}

/// A range of lines with the blank line before it (the one telemhq writes before what
/// it appends).
fn with_blank_line_before(text: &str, r: Range<usize>) -> Range<usize> {
    let before = &text[..r.start];
    if before.ends_with("\r\n\r\n") || before == "\r\n" {
        r.start - 2..r.end
    } else if before.ends_with("\n\n") || before == "\n" {
        r.start - 1..r.end
    } else {
        r
    }
}

/// The ranges (never overlapping), cut out each with the blank line before it.
fn cut(text: &str, mut ranges: Vec<Range<usize>>) -> String {
    ranges.sort_by_key(|r| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for r in ranges {
        out.replace_range(with_blank_line_before(text, r), "");
    }
    out
}

/// The file's line break (that of its first line), `\n` for a new file.
fn eol(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// Appends blocks of lines at the end, after a blank line.
fn append(text: &str, blocks: &[String]) -> String {
    if blocks.is_empty() {
        return text.to_string();
    }
    let eol = eol(text);
    let mut out = text.to_string();
    if !out.is_empty() {
        if !out.ends_with('\n') {
            out.push_str(eol);
        }
        out.push_str(eol);
    }
    out.push_str(&blocks.join("\n").replace('\n', eol));
    out
}

/// A TOML string: basic where it needs no escapes, else literal where it can be (no
/// escapes to read), else basic with escapes.
fn quote(s: &str) -> String {
    let plain = !s.chars().any(char::is_control);
    if plain && !s.contains(['"', '\\']) {
        format!("\"{s}\"")
    } else if plain && !s.contains('\'') {
        format!("'{s}'")
    } else {
        serde_json::to_string(s).expect("a str serialises")
    }
}

/// A table key: bare where TOML allows it, else quoted.
fn quote_key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a str serialises")
    }
}

/// A trust entry's key, split: event (snake case), group, handler.
fn split_key<'k>(key: &'k str, source: &str) -> Option<(&'k str, usize, usize)> {
    let rest = key.strip_prefix(source)?.strip_prefix(':')?;
    let mut parts = rest.rsplitn(3, ':');
    let handler = parts.next()?.parse().ok()?;
    let group = parts.next()?.parse().ok()?;
    Some((parts.next()?, group, handler))
}

impl TomlSet {
    fn events(&self) -> [&'static str; 2] {
        [self.turn_event, self.tool_event]
    }

    fn matcher(&self, event: &str) -> Option<&'static str> {
        (event == self.tool_event).then_some(self.tool_matcher)
    }

    /// Whether a group is telemhq's: one handler, running exactly telemhq's command.
    fn is_own(&self, group: &Table) -> bool {
        only_handler(group)
            .and_then(|h| h.get("command"))
            .and_then(Item::as_str)
            == Some(self.command)
    }

    /// Whether a group of telemhq's is exactly as this release writes it.
    fn is_current(&self, event: &str, group: &Table) -> bool {
        let keys: Vec<&str> = group.iter().map(|(k, _)| k).collect();
        let want_keys: &[&str] = if self.matcher(event).is_some() {
            &["matcher", "hooks"]
        } else {
            &["hooks"]
        };
        let handler_keys: Vec<&str> = only_handler(group)
            .map(|h| h.iter().map(|(k, _)| k).collect())
            .unwrap_or_default();
        keys.len() == want_keys.len()
            && want_keys.iter().all(|k| keys.contains(k))
            && handler_keys.len() == 3
            && hashed_parts(group) == Some((self.matcher(event), self.command, self.timeout))
    }

    /// Indexes of telemhq's groups of an event.
    fn own_groups(&self, doc: &Table, event: &str) -> Vec<usize> {
        groups(doc, event)
            .iter()
            .enumerate()
            .filter(|(_, g)| self.is_own(g))
            .map(|(i, _)| i)
            .collect()
    }

    /// The lines of telemhq's groups of an event.
    fn own_extents(
        &self,
        text: &str,
        doc: &Table,
        event: &str,
        which: &[usize],
    ) -> Result<Vec<Range<usize>>, EditError> {
        let all = groups(doc, event);
        which
            .iter()
            .map(|&i| extent(text, doc, None, &Item::Table(all[i].clone())))
            .collect()
    }

    fn group_block(&self, event: &str) -> String {
        let mut s = format!("[[hooks.{}]]\n", quote_key(event));
        if let Some(m) = self.matcher(event) {
            s.push_str(&format!("matcher = {}\n", quote(m)));
        }
        s.push_str(&format!(
            "[[hooks.{}.hooks]]\ntype = \"command\"\ncommand = {}\ntimeout = {}\n",
            quote_key(event),
            quote(self.command),
            self.timeout
        ));
        s
    }

    /// Events that carry telemhq's hook in this config.
    pub fn installed_events(&self, text: &str) -> Vec<String> {
        let Ok(doc) = parse(text) else {
            return Vec::new();
        };
        self.events()
            .into_iter()
            .filter(|e| !self.own_groups(doc.as_table(), e).is_empty())
            .map(str::to_string)
            .collect()
    }

    fn check_hooks_shape(&self, doc: &Table) -> Result<(), EditError> {
        let Some(hooks) = doc.get("hooks") else {
            return Ok(());
        };
        if !hooks.is_table() {
            return Err(EditError::CannotEdit(
                "`hooks` is not written as [hooks] tables (an inline table or another value), \
                 and telemhq adds its hooks as [[hooks.<event>]] tables: write `hooks` as \
                 tables, or add telemhq's hooks by hand"
                    .into(),
            ));
        }
        for event in self.events() {
            if let Some(item) = hooks.get(event)
                && item.as_array_of_tables().is_none()
            {
                return Err(EditError::CannotEdit(format!(
                    "`hooks.{event}` is not an array of tables ([[hooks.{event}]]), so telemhq \
                     cannot add a group to it without rewriting it"
                )));
            }
        }
        Ok(())
    }

    /// Puts telemhq's hook groups into a config's text (None: no file yet). `trust_here`:
    /// this file also holds Codex's trust for its own hooks, named by this source (the
    /// user's config); else the trust goes elsewhere (`retrust`).
    pub fn install(
        &self,
        text: Option<&str>,
        record: Option<&Record>,
        tool_activity: ToolActivity,
        trust_here: Option<&str>,
    ) -> Result<Edited, EditError> {
        let before = text.unwrap_or("");
        let doc = parse(before)?;
        let root = doc.as_table();
        self.check_hooks_shape(root)?;
        let record = record.cloned().unwrap_or_else(|| Record {
            created_file: text.is_none(),
            no_final_newline: !before.is_empty() && !before.ends_with('\n'),
            ..Record::default()
        });
        let tools_now = !self.own_groups(root, self.tool_event).is_empty();
        let want_tools = match tool_activity {
            ToolActivity::On => true,
            ToolActivity::Off => false,
            ToolActivity::Keep => tools_now,
        };
        let mut cuts = Vec::new();
        let mut blocks = Vec::new();
        for (event, wanted) in [(self.turn_event, true), (self.tool_event, want_tools)] {
            let own = self.own_groups(root, event);
            let all = groups(root, event);
            let in_place = wanted && own.len() == 1 && self.is_current(event, all[own[0]]);
            if in_place {
                continue;
            }
            cuts.extend(self.own_extents(before, root, event, &own)?);
            if wanted {
                blocks.push(self.group_block(event));
            }
        }
        let hooks_done = append(&cut(before, cuts), &blocks);
        let after = match trust_here {
            Some(source) => self.retrust_text(&hooks_done, source, before, &hooks_done)?,
            None => hooks_done,
        };
        if Some(after.as_str()) != text {
            self.verify(before, &after, trust_here)?;
        }
        Ok(Edited {
            text: Some(after),
            record: Some(record),
        })
    }

    /// Takes telemhq's hook groups out of a config (and, with `trust_here`, their trust
    /// entries, re-keying the user's own that move).
    pub fn uninstall(
        &self,
        text: Option<&str>,
        record: Option<&Record>,
        trust_here: Option<&str>,
    ) -> Result<Edited, EditError> {
        let Some(before) = text else {
            return Ok(Edited {
                text: None,
                record: record.cloned(),
            });
        };
        let doc = parse(before)?;
        let root = doc.as_table();
        let mut cuts = Vec::new();
        for event in self.events() {
            let own = self.own_groups(root, event);
            cuts.extend(self.own_extents(before, root, event, &own)?);
        }
        let hooks_done = cut(before, cuts);
        let after = match trust_here {
            Some(source) => self.retrust_text(&hooks_done, source, before, &hooks_done)?,
            None => hooks_done,
        };
        if after == before {
            return Ok(Edited {
                text: text.map(str::to_string),
                record: record.cloned(),
            });
        }
        self.verify(before, &after, trust_here)?;
        Ok(finish(after, record))
    }

    /// The user's config, holding Codex's trust for the hooks of another file (`source`,
    /// a repository's config), brought in line with that file's change from
    /// `hooks_before` to `hooks_after`.
    pub fn retrust(
        &self,
        text: Option<&str>,
        record: Option<&Record>,
        source: &str,
        hooks_before: &str,
        hooks_after: &str,
    ) -> Result<Edited, EditError> {
        let before = text.unwrap_or("");
        let after = self.retrust_text(before, source, hooks_before, hooks_after)?;
        if after == before {
            return Ok(Edited {
                text: text.map(str::to_string),
                record: record.cloned(),
            });
        }
        parse(&after).map_err(|e| {
            EditError::CannotEdit(format!(
                "telemhq's trust entries cannot be added to this file without rewriting it ({}); \
                 add them by hand",
                e.problem()
            ))
        })?;
        let installing = !self.own_groups_of(hooks_after).is_empty();
        let record = record.cloned().unwrap_or_else(|| Record {
            created_file: text.is_none(),
            no_final_newline: !before.is_empty() && !before.ends_with('\n'),
            ..Record::default()
        });
        if installing {
            return Ok(Edited {
                text: Some(after),
                record: Some(record),
            });
        }
        Ok(finish(after, Some(&record)))
    }

    fn own_groups_of(&self, text: &str) -> Vec<(String, usize)> {
        let Ok(doc) = parse(text) else {
            return Vec::new();
        };
        self.events()
            .into_iter()
            .flat_map(|e| {
                self.own_groups(doc.as_table(), e)
                    .into_iter()
                    .map(move |g| (e.to_string(), g))
            })
            .collect()
    }

    /// Every hash telemhq's own hooks can have (an entry holding one is telemhq's).
    fn own_hashes(&self) -> [String; 2] {
        self.events()
            .map(|e| trust_hash(e, self.matcher(e), self.command, self.timeout))
    }

    /// The trust file's text with the entries for `source` in line with its hooks going
    /// from `hooks_before` to `hooks_after`: entries of telemhq's groups that went are
    /// cut, the user's groups that moved are re-keyed, telemhq's groups get an entry
    /// with their hash.
    fn retrust_text(
        &self,
        text: &str,
        source: &str,
        hooks_before: &str,
        hooks_after: &str,
    ) -> Result<String, EditError> {
        let doc = parse(text)?;
        let before_doc = parse(hooks_before)?;
        let after_doc = parse(hooks_after)?;
        let (before, after) = (before_doc.as_table(), after_doc.as_table());
        // The entries there should be: telemhq's groups as they are after.
        let mut wanted: Vec<(String, String)> = Vec::new();
        for event in self.events() {
            let all = groups(after, event);
            for g in self.own_groups(after, event) {
                if let Some((matcher, command, timeout)) = hashed_parts(all[g]) {
                    wanted.push((
                        trust_key(source, event, g, 0),
                        trust_hash(event, matcher, command, timeout),
                    ));
                }
            }
        }
        let own_hashes = self.own_hashes();
        let hooks = doc.as_table().get("hooks");
        let state_item = hooks.and_then(|h| h.get("state"));
        let entries: Vec<(&str, &Item)> = state_item
            .and_then(Item::as_table_like)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        let mut satisfied: Vec<&str> = Vec::new();
        for (key, item) in entries {
            let Some((event_snake, g, h)) = split_key(key, source) else {
                continue;
            };
            let Some(event) = self.events().into_iter().find(|e| snake(e) == event_snake) else {
                continue;
            };
            let hash = item
                .get("trusted_hash")
                .and_then(Item::as_str)
                .unwrap_or("");
            if wanted.iter().any(|(k, v)| k == key && v == hash) {
                satisfied.push(key);
                continue;
            }
            let own_before = self.own_groups(before, event);
            let users = |t: &Table, own: &[usize]| -> Vec<usize> {
                (0..groups(t, event).len())
                    .filter(|i| !own.contains(i))
                    .collect()
            };
            let user_before = users(before, &own_before);
            let user_after = users(after, &self.own_groups(after, event));
            // Cut: telemhq's entry, or a stale one where telemhq's must go; re-key: a
            // group of the user's that moved; anything else is not telemhq's to touch.
            let change = if own_before.contains(&g)
                || wanted.iter().any(|(k, _)| k == key)
                || (!user_before.contains(&g) && own_hashes.iter().any(|o| o == hash))
            {
                Some(None)
            } else {
                user_before
                    .iter()
                    .position(|&u| u == g)
                    .and_then(|pos| user_after.get(pos))
                    .filter(|&&moved| moved != g)
                    .map(|&moved| Some(moved))
            };
            let Some(change) = change else { continue };
            let Some(state) = state_item.and_then(Item::as_table) else {
                return Err(EditError::CannotEdit(
                    "`hooks.state` is an inline table: telemhq cannot change its trust entries \
                     without rewriting it; write it as [hooks.state] tables"
                        .into(),
                ));
            };
            let key_span = state.get_key_value(key).and_then(|(k, _)| k.span());
            match change {
                None => {
                    let range = extent(text, doc.as_table(), key_span.map(|s| s.start), item)?;
                    edits.push((with_blank_line_before(text, range), String::new()));
                }
                Some(moved) => {
                    let span = key_span.ok_or_else(|| {
                        EditError::Internal("internal error: a key without a place".into())
                    })?;
                    edits.push((span, quote_key(&trust_key(source, event, moved, h))));
                }
            }
        }
        // The edits never overlap (each entry its own lines): apply from the end.
        edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut out = text.to_string();
        for (range, with) in edits {
            out.replace_range(range, &with);
        }
        let blocks: Vec<String> = wanted
            .iter()
            .filter(|(k, _)| !satisfied.contains(&k.as_str()))
            .map(|(k, hash)| {
                format!(
                    "[hooks.state.{}]\ntrusted_hash = {}\n",
                    quote_key(k),
                    quote(hash)
                )
            })
            .collect();
        Ok(append(&out, &blocks))
    }

    /// The edited text must be TOML, with the user's own settings as they were, and with
    /// telemhq's groups (and, where they are kept here, trusted).
    fn verify(&self, before: &str, after: &str, trust_here: Option<&str>) -> Result<(), EditError> {
        let doc = parse(after).map_err(|e| {
            EditError::CannotEdit(format!(
                "telemhq's hooks cannot be added to this file without rewriting the parts \
                 around them ({} once added); add them by hand",
                e.problem()
            ))
        })?;
        let old = parse(before)?;
        if self.users_part(old.as_table(), trust_here)
            != self.users_part(doc.as_table(), trust_here)
        {
            return Err(EditError::Internal(
                "internal error: the edit would change settings that are not telemhq's; nothing \
                 was written"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A config as data without telemhq's groups and without the trust entries of this
    /// file's hooks (the user's entries there may be re-keyed).
    fn users_part(&self, doc: &Table, trust_here: Option<&str>) -> Json {
        let mut value = plain_table(doc);
        for event in self.events() {
            let own = self.own_groups(doc, event);
            if let Some(list) = value
                .pointer_mut(&format!("/hooks/{event}"))
                .and_then(Json::as_array_mut)
            {
                for &i in own.iter().rev() {
                    list.remove(i);
                }
                if list.is_empty()
                    && let Some(hooks) = value.get_mut("hooks").and_then(Json::as_object_mut)
                {
                    hooks.shift_remove(event);
                }
            }
        }
        if let Some(source) = trust_here
            && let Some(state) = value
                .pointer_mut("/hooks/state")
                .and_then(Json::as_object_mut)
        {
            state.retain(|k, _| split_key(k, source).is_none());
            if state.is_empty()
                && let Some(hooks) = value.get_mut("hooks").and_then(Json::as_object_mut)
            {
                hooks.shift_remove("state");
            }
        }
        if value
            .get("hooks")
            .and_then(Json::as_object)
            .is_some_and(|h| h.is_empty())
            && let Some(root) = value.as_object_mut()
        {
            root.shift_remove("hooks");
        }
        value
    }

    /// telemhq's groups that are not as this release writes them (a timeout or matcher
    /// changed by hand).
    pub fn changed_by_hand(&self, text: &str) -> Vec<String> {
        let Ok(doc) = parse(text) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for event in self.events() {
            let all = groups(doc.as_table(), event);
            for g in self.own_groups(doc.as_table(), event) {
                if !self.is_current(event, all[g]) {
                    out.push(format!("telemhq's {event} group was changed by hand"));
                }
            }
        }
        out
    }

    /// telemhq's hooks in a file whose trust entry (in `trust`, the user's config) does
    /// not hold the hash Codex computes for the hook as the file holds it now: Codex does
    /// not run them.
    pub fn untrusted_events(&self, hooks: &str, trust: &str, source: &str) -> Vec<String> {
        let (Ok(doc), Ok(trust_doc)) = (parse(hooks), parse(trust)) else {
            return Vec::new();
        };
        let state = trust_doc
            .as_table()
            .get("hooks")
            .and_then(|h| h.get("state"));
        let mut out = Vec::new();
        for event in self.events() {
            let all = groups(doc.as_table(), event);
            for g in self.own_groups(doc.as_table(), event) {
                let Some((matcher, command, timeout)) = hashed_parts(all[g]) else {
                    continue;
                };
                let want = trust_hash(event, matcher, command, timeout);
                let have = state
                    .and_then(|s| s.get(trust_key(source, event, g, 0)))
                    .and_then(|t| t.get("trusted_hash"))
                    .and_then(Item::as_str);
                if have != Some(want.as_str()) && !out.iter().any(|e| e == event) {
                    out.push(event.to_string());
                }
            }
        }
        out
    }
}

/// Every command hook of every event: (event, its group's matcher, command).
pub fn commands(text: &str) -> Vec<super::Hook> {
    let Ok(doc) = parse(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Some(hooks) = doc.as_table().get("hooks").and_then(Item::as_table) else {
        return out;
    };
    for (event, item) in hooks.iter() {
        for group in item.as_array_of_tables().into_iter().flat_map(|a| a.iter()) {
            let matcher = group
                .get("matcher")
                .and_then(Item::as_str)
                .map(str::to_string);
            for handler in group
                .get("hooks")
                .and_then(Item::as_array_of_tables)
                .into_iter()
                .flat_map(|a| a.iter())
            {
                if let Some(command) = handler.get("command").and_then(Item::as_str) {
                    out.push(super::Hook {
                        event: event.to_string(),
                        matcher: matcher.clone(),
                        command: command.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Whether the user's config trusts a project folder (Codex loads a repository's
/// `.codex/` only then): `[projects."<folder>"] trust_level = "trusted"` for the folder
/// or a folder above it.
pub fn project_trusted(user_config: &str, folder: &std::path::Path) -> Option<bool> {
    let doc = parse(user_config).ok()?;
    let projects = doc.as_table().get("projects")?.as_table_like()?;
    let canonical = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    for (path, entry) in projects.iter() {
        let p = std::path::Path::new(path);
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if canonical.starts_with(&p) || folder.starts_with(&p) {
            return Some(entry.get("trust_level").and_then(Item::as_str) == Some("trusted"));
        }
    }
    Some(false)
}

/// The last step of an uninstall: the line break install added to a last line without
/// one goes again, and a file install created and left empty goes.
fn finish(mut text: String, record: Option<&Record>) -> Edited {
    let record = record.cloned().unwrap_or_default();
    if record.no_final_newline {
        if text.ends_with("\r\n") {
            text.truncate(text.len() - 2);
        } else if text.ends_with('\n') {
            text.pop();
        }
    }
    Edited {
        text: Some(text).filter(|t| !(t.is_empty() && record.created_file)),
        record: None,
    }
}

/// A table as plain data (floats as text, so that `nan` equals itself).
fn plain_table(t: &Table) -> Json {
    Json::Object(
        t.iter()
            .map(|(k, item)| (k.to_string(), plain_item(item)))
            .collect(),
    )
}

fn plain_item(item: &Item) -> Json {
    match item {
        Item::None => Json::Null,
        Item::Value(v) => plain_value(v),
        Item::Table(t) => plain_table(t),
        Item::ArrayOfTables(a) => Json::Array(a.iter().map(plain_table).collect()),
    }
}

fn plain_value(v: &toml_edit::Value) -> Json {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Json::String(s.value().clone()),
        V::Integer(i) => serde_json::json!(i.value()),
        V::Float(f) => Json::String(format!("float:{}", f.value())),
        V::Boolean(b) => Json::Bool(*b.value()),
        V::Datetime(d) => Json::String(format!("datetime:{}", d.value())),
        V::Array(a) => Json::Array(a.iter().map(plain_value).collect()),
        V::InlineTable(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), plain_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: TomlSet = TomlSet {
        command: "telemhq-test emit --agent codex",
        timeout: 10,
        turn_event: "Stop",
        tool_event: "PostToolUse",
        tool_matcher: ".*",
    };
    const SOURCE: &str = "/home/dev/.codex/config.toml";

    fn roundtrip(text: Option<&str>, tools: ToolActivity, trust: Option<&str>) -> (String, String) {
        let installed = SET.install(text, None, tools, trust).unwrap();
        let new = installed.text.clone().unwrap();
        let again = SET
            .install(
                Some(&new),
                installed.record.as_ref(),
                ToolActivity::Keep,
                trust,
            )
            .unwrap();
        assert_eq!(
            again.text.as_deref(),
            Some(new.as_str()),
            "installing twice"
        );
        let back = SET
            .uninstall(Some(&new), installed.record.as_ref(), trust)
            .unwrap();
        (new, back.text.unwrap_or_default())
    }

    #[test]
    fn debug_roundtrip() {
        let original =
            "# mine\nmodel = \"gpt-5\"  # default\n\n[profiles.fast]\nmodel = \"gpt-5-mini\"\n";
        let (new, back) = roundtrip(Some(original), ToolActivity::On, Some(SOURCE));
        assert_eq!(back, original, "{new}");
    }
}
