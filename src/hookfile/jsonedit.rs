//! Minimal, formatting-preserving edits of a JSON text.
//!
//! Settings files are edited in place: only the bytes of the members and elements
//! that change are touched, so key order, indentation, spacing, line endings and the
//! trailing newline of everything else stay exactly as the user wrote them. The text
//! must already be valid JSON, or JSON with comments (checked by a parser before it gets
//! here). Comments are never removed or copied: new text takes only the layout
//! (newlines and indentation) of its neighbours.

use serde_json::Value;

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub type Path = Vec<Seg>;

/// An edit, expressed on the document as it is when the edit is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Replace the value at an existing path, or add a member to an existing object.
    Set(Path, Value),
    /// Append an element to an existing array.
    Append(Path, Value),
    /// Remove an existing member or element.
    Remove(Path),
}

/// Renders a JSON path for messages: `hooks.Stop[0].hooks`.
pub fn path_to_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "(the top level)".into()
    } else {
        out
    }
}

#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    Scalar,
}

#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    key_end: usize,
    value: Node,
}

impl Member {
    fn start(&self) -> usize {
        self.key_start
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// Skips whitespace and comments.
    fn ws(&mut self) {
        loop {
            while self.pos < self.s.len()
                && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r')
            {
                self.pos += 1;
            }
            match self.s.get(self.pos..self.pos + 2) {
                Some(b"//") => {
                    while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                Some(b"/*") => {
                    self.pos += 2;
                    while self.pos < self.s.len() && !self.s[self.pos..].starts_with(b"*/") {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(self.s.len());
                }
                _ => return,
            }
        }
    }

    fn string_end(&mut self) -> usize {
        // at the opening quote
        self.pos += 1;
        while self.s[self.pos] != b'"' {
            if self.s[self.pos] == b'\\' {
                self.pos += 1;
            }
            self.pos += 1;
        }
        self.pos += 1;
        self.pos
    }

    fn value(&mut self, text: &str) -> Node {
        self.ws();
        let start = self.pos;
        match self.s[self.pos] {
            b'{' => {
                self.pos += 1;
                let mut members = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.pos] == b'}' {
                        self.pos += 1;
                        break;
                    }
                    if self.s[self.pos] == b',' {
                        self.pos += 1;
                        self.ws();
                    }
                    let key_start = self.pos;
                    let key_end = self.string_end();
                    let key: String =
                        serde_json::from_str(&text[key_start..key_end]).unwrap_or_default();
                    self.ws();
                    self.pos += 1; // colon
                    let value = self.value(text);
                    members.push(Member {
                        key,
                        key_start,
                        key_end,
                        value,
                    });
                }
                Node {
                    start,
                    end: self.pos,
                    kind: Kind::Object(members),
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.pos] == b']' {
                        self.pos += 1;
                        break;
                    }
                    if self.s[self.pos] == b',' {
                        self.pos += 1;
                    }
                    items.push(self.value(text));
                }
                Node {
                    start,
                    end: self.pos,
                    kind: Kind::Array(items),
                }
            }
            b'"' => {
                let end = self.string_end();
                Node {
                    start,
                    end,
                    kind: Kind::Scalar,
                }
            }
            _ => {
                while self.pos < self.s.len()
                    && !matches!(
                        self.s[self.pos],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' | b'/'
                    )
                {
                    self.pos += 1;
                }
                Node {
                    start,
                    end: self.pos,
                    kind: Kind::Scalar,
                }
            }
        }
    }
}

fn parse(text: &str) -> Node {
    Parser {
        s: text.as_bytes(),
        pos: 0,
    }
    .value(text)
}

/// How the file is laid out, so that new text looks like the old.
#[derive(Debug, Clone)]
pub struct Style {
    pub indent: String,
    pub newline: &'static str,
    pub pretty: bool,
}

impl Style {
    pub fn detect(text: &str) -> Style {
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut style = Style {
            indent: "  ".into(),
            newline,
            pretty: true,
        };
        if text.trim().is_empty() {
            return style;
        }
        let root = parse(text);
        let first_child_start = match &root.kind {
            Kind::Object(m) if !m.is_empty() => m[0].start(),
            Kind::Array(a) if !a.is_empty() => a[0].start,
            _ => return style,
        };
        let sep = &text[root.start + 1..first_child_start];
        match sep.rfind('\n') {
            Some(i) => {
                let ws = &sep[i + 1..];
                if !ws.is_empty() {
                    style.indent = ws.to_string();
                }
            }
            None => style.pretty = false,
        }
        style
    }

    /// Serialises a value whose first line starts at `depth` levels of indentation.
    pub fn render(&self, value: &Value, depth: usize) -> String {
        if !self.pretty {
            return serde_json::to_string(value).expect("a Value always serialises");
        }
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(value, &mut ser).expect("a Value always serialises");
        let text = String::from_utf8(buf).expect("serde_json writes UTF-8");
        let lead = format!("{}{}", self.newline, self.indent.repeat(depth));
        text.replace('\n', &lead)
    }

    /// Renders a value going into a container whose members are separated by `sep`: on
    /// one line where the container is on one line, else like the rest of the file.
    fn render_in(&self, value: &Value, depth: usize, sep: &str) -> String {
        if sep.contains('\n') {
            self.render(value, depth)
        } else {
            serde_json::to_string(value).expect("a Value always serialises")
        }
    }

    fn sep(&self, depth: usize) -> String {
        if self.pretty {
            format!("{}{}", self.newline, self.indent.repeat(depth))
        } else {
            String::new()
        }
    }

    fn colon(&self) -> &'static str {
        if self.pretty { ": " } else { ":" }
    }
}

fn find<'n>(root: &'n Node, path: &[Seg]) -> Option<&'n Node> {
    let mut node = root;
    for seg in path {
        node = match (&node.kind, seg) {
            (Kind::Object(members), Seg::Key(k)) => {
                &members.iter().rev().find(|m| &m.key == k)?.value
            }
            (Kind::Array(items), Seg::Index(i)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{}{}", &text[..start], with, &text[end..])
}

fn has_comment(s: &str) -> bool {
    s.contains("//") || s.contains("/*")
}

/// The layout of a separator without its comments: from its last line break on (so the
/// indentation of the next line), or one space.
fn layout_of(sep: &str) -> String {
    if !has_comment(sep) {
        return sep.to_string();
    }
    match sep.rfind('\n') {
        Some(i) if i > 0 && sep.as_bytes()[i - 1] == b'\r' => sep[i - 1..].to_string(),
        Some(i) => sep[i..].to_string(),
        None => " ".to_string(),
    }
}

/// The position of the comma in the gap between two items, outside comments.
fn comma_in(text: &str, from: usize, to: usize) -> Option<usize> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: from,
    };
    p.ws();
    (p.pos < to && p.s[p.pos] == b',').then_some(p.pos)
}

/// Removes the item at `spans[index]` with the comma that separates it, keeping every
/// comment around it.
fn remove_item(
    text: &str,
    spans: &[(usize, usize)],
    index: usize,
    open: usize,
    close: usize,
) -> String {
    let (start, end) = spans[index];
    if spans.len() == 1 {
        if has_comment(&text[open + 1..start]) || has_comment(&text[end..close - 1]) {
            return splice(text, start, end, "");
        }
        let brackets = &text[open..open + 1];
        let closing = &text[close - 1..close];
        return splice(text, open, close, &format!("{brackets}{closing}"));
    }
    if index == spans.len() - 1 {
        let prev_end = spans[index - 1].1;
        if !has_comment(&text[prev_end..start]) {
            return splice(text, prev_end, end, "");
        }
        let text = splice(text, start, end, "");
        return match comma_in(&text, prev_end, start) {
            Some(c) => splice(&text, c, c + 1, ""),
            None => text,
        };
    }
    let next_start = spans[index + 1].0;
    if !has_comment(&text[end..next_start]) {
        return splice(text, start, next_start, "");
    }
    match comma_in(text, end, next_start) {
        Some(c) => {
            let text = splice(text, c, c + 1, "");
            splice(&text, start, end, "")
        }
        None => splice(text, start, end, ""),
    }
}

/// Applies one edit to the text. Returns None when the path does not fit the text
/// (a bug in the caller: the planner only emits edits for paths it has seen).
pub fn apply(text: &str, op: &Op, style: &Style) -> Option<String> {
    let root = parse(text);
    match op {
        Op::Set(path, value) => {
            if let Some(node) = find(&root, path) {
                return Some(splice(
                    text,
                    node.start,
                    node.end,
                    &style.render(value, path.len()),
                ));
            }
            let (Seg::Key(key), parent_path) = path.split_last().map(|(l, p)| (l.clone(), p))?
            else {
                return None;
            };
            let parent = find(&root, parent_path)?;
            let Kind::Object(members) = &parent.kind else {
                return None;
            };
            let depth = parent_path.len() + 1;
            let key_json = serde_json::to_string(&key).ok()?;
            match members.last() {
                Some(last) => {
                    let first = &members[0];
                    let sep = layout_of(&text[parent.start + 1..first.start()]);
                    let colon = &text[first.key_end..first.value.start];
                    let colon = if has_comment(colon) {
                        style.colon()
                    } else {
                        colon
                    };
                    let add = format!(
                        ",{sep}{key_json}{colon}{}",
                        style.render_in(value, depth, &sep)
                    );
                    Some(splice(text, last.value.end, last.value.end, &add))
                }
                None => {
                    let member = format!(
                        "{}{key_json}{}{}",
                        style.sep(depth),
                        style.colon(),
                        style.render(value, depth),
                    );
                    Some(fill_empty(text, parent, &member, style, depth))
                }
            }
        }
        Op::Append(path, value) => {
            let node = find(&root, path)?;
            let Kind::Array(items) = &node.kind else {
                return None;
            };
            let depth = path.len() + 1;
            match items.last() {
                Some(last) => {
                    let sep = layout_of(&text[node.start + 1..items[0].start]);
                    let add = format!(",{sep}{}", style.render_in(value, depth, &sep));
                    Some(splice(text, last.end, last.end, &add))
                }
                None => {
                    let item = format!("{}{}", style.sep(depth), style.render(value, depth));
                    Some(fill_empty(text, node, &item, style, depth))
                }
            }
        }
        Op::Remove(path) => {
            let (last_seg, parent_path) = path.split_last()?;
            let parent = find(&root, parent_path)?;
            // (start, end) of every child of the parent, and the index of the one to remove
            let (spans, index): (Vec<(usize, usize)>, usize) = match (&parent.kind, last_seg) {
                (Kind::Object(members), Seg::Key(k)) => (
                    members.iter().map(|m| (m.start(), m.value.end)).collect(),
                    members.iter().rposition(|m| &m.key == k)?,
                ),
                (Kind::Array(items), Seg::Index(i)) if *i < items.len() => {
                    (items.iter().map(|n| (n.start, n.end)).collect(), *i)
                }
                _ => return None,
            };
            Some(remove_item(text, &spans, index, parent.start, parent.end))
        }
    }
}

/// Puts the first item into an empty container: its brackets get fresh layout, unless a
/// comment sits between them, which stays where it is, before the item.
fn fill_empty(text: &str, node: &Node, item: &str, style: &Style, depth: usize) -> String {
    let inner = &text[node.start + 1..node.end - 1];
    let (open, close) = (
        &text[node.start..node.start + 1],
        &text[node.end - 1..node.end],
    );
    let kept = if has_comment(inner) {
        inner.trim_end()
    } else {
        ""
    };
    let closing_sep = style.sep(depth - 1);
    splice(
        text,
        node.start,
        node.end,
        &format!("{open}{kept}{item}{closing_sep}{close}"),
    )
}

/// The path as a JSON Pointer (RFC 6901): `/hooks/Stop`; the top level is `""`.
pub fn pointer(path: &[Seg]) -> String {
    path.iter()
        .map(|seg| match seg {
            Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// What is between the brackets of the container at `path`, if it is empty: the
/// whitespace a user left inside `{ }` or `[\n]`.
pub fn empty_inner<'t>(text: &'t str, path: &[Seg]) -> Option<&'t str> {
    let root = parse(text);
    let node = find(&root, path)?;
    match &node.kind {
        Kind::Object(m) if m.is_empty() => Some(&text[node.start + 1..node.end - 1]),
        Kind::Array(a) if a.is_empty() => Some(&text[node.start + 1..node.end - 1]),
        _ => None,
    }
}

/// Puts `inner` between the brackets of the empty container at `path` (None when it is
/// not an empty container), so that a container emptied again looks as it did.
pub fn set_empty_inner(text: &str, path: &[Seg], inner: &str) -> Option<String> {
    let root = parse(text);
    let node = find(&root, path)?;
    let empty = match &node.kind {
        Kind::Object(m) => m.is_empty(),
        Kind::Array(a) => a.is_empty(),
        Kind::Scalar => false,
    };
    empty.then(|| splice(text, node.start + 1, node.end - 1, inner))
}

/// Applies a value-level edit to a serde Value, mirroring `apply` on the text.
pub fn apply_value(doc: &mut Value, op: &Op) -> Option<()> {
    fn at<'v>(doc: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
        let mut v = doc;
        for seg in path {
            v = match seg {
                Seg::Key(k) => v.as_object_mut()?.get_mut(k)?,
                Seg::Index(i) => v.as_array_mut()?.get_mut(*i)?,
            };
        }
        Some(v)
    }
    match op {
        Op::Set(path, value) => {
            let (last, parent) = path.split_last()?;
            let parent = at(doc, parent)?;
            match last {
                Seg::Key(k) => {
                    parent.as_object_mut()?.insert(k.clone(), value.clone());
                }
                Seg::Index(i) => *parent.as_array_mut()?.get_mut(*i)? = value.clone(),
            }
        }
        Op::Append(path, value) => at(doc, path)?.as_array_mut()?.push(value.clone()),
        Op::Remove(path) => {
            let (last, parent) = path.split_last()?;
            let parent = at(doc, parent)?;
            match last {
                Seg::Key(k) => {
                    parent.as_object_mut()?.shift_remove(k)?;
                }
                Seg::Index(i) => {
                    let arr = parent.as_array_mut()?;
                    if *i >= arr.len() {
                        return None;
                    }
                    arr.remove(*i);
                }
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    fn roundtrip(text: &str, ops: &[Op]) -> String {
        let style = Style::detect(text);
        let mut t = text.to_string();
        for op in ops {
            t = apply(&t, op, &style).expect("op applies");
        }
        t
    }

    #[test]
    fn insert_then_remove_member_gives_back_the_same_bytes() {
        for text in [
            "{\n  \"a\": 1\n}\n",
            "{\n\t\"a\": [1, 2],\n\t\"b\": {}\n}",
            "{\"a\":1}",
            "{}",
            "{\r\n    \"a\": \"é\"\r\n}\r\n",
        ] {
            let added = roundtrip(text, &[Op::Set(vec![key("hooks")], json!({"Stop": []}))]);
            assert_ne!(added, text);
            let v: Value = serde_json::from_str(&added).unwrap();
            assert_eq!(v["hooks"], json!({"Stop": []}));
            assert_eq!(roundtrip(&added, &[Op::Remove(vec![key("hooks")])]), text);
        }
    }

    #[test]
    fn append_uses_the_indentation_of_the_file() {
        let text = "{\n    \"a\": [\n        1\n    ]\n}";
        let out = roundtrip(text, &[Op::Append(vec![key("a")], json!({"x": 2}))]);
        assert_eq!(
            out,
            "{\n    \"a\": [\n        1,\n        {\n            \"x\": 2\n        }\n    ]\n}"
        );
    }

    #[test]
    fn a_container_on_one_line_stays_on_one_line() {
        let text = "{\n  \"hooks\": {\"Stop\": [{\"hooks\": []}]}\n}\n";
        let op = Op::Append(vec![key("hooks"), key("Stop")], json!({"hooks": [1]}));
        let out = roundtrip(text, &[op]);
        assert_eq!(
            out,
            "{\n  \"hooks\": {\"Stop\": [{\"hooks\": []},{\"hooks\":[1]}]}\n}\n"
        );
        assert_eq!(
            roundtrip(
                &out,
                &[Op::Remove(vec![key("hooks"), key("Stop"), Seg::Index(1)])]
            ),
            text
        );
    }

    #[test]
    fn remove_first_and_middle_elements() {
        let text = "[1, 2, 3]";
        assert_eq!(
            roundtrip(text, &[Op::Remove(vec![Seg::Index(0)])]),
            "[2, 3]"
        );
        assert_eq!(
            roundtrip(text, &[Op::Remove(vec![Seg::Index(1)])]),
            "[1, 3]"
        );
        assert_eq!(
            roundtrip(text, &[Op::Remove(vec![Seg::Index(2)])]),
            "[1, 2]"
        );
        assert_eq!(roundtrip("[ 1 ]", &[Op::Remove(vec![Seg::Index(0)])]), "[]");
    }

    #[test]
    fn set_replaces_only_that_value() {
        let text = "{ \"a\" :  { \"b\" : 1 },\n\"c\":2 }";
        let out = roundtrip(text, &[Op::Set(vec![key("a"), key("b")], json!(5))]);
        assert_eq!(out, "{ \"a\" :  { \"b\" : 5 },\n\"c\":2 }");
    }

    #[test]
    fn comments_stay_where_they_are_and_are_never_copied() {
        let text = "{\n  // my settings\n  \"a\": [ // none yet\n  ],\n  \"b\": 1 /* one */\n}\n";
        let add = [
            Op::Set(vec![key("hooks")], json!({"Stop": []})),
            Op::Append(vec![key("a")], json!({"x": 1})),
        ];
        let added = roundtrip(text, &add);
        assert_eq!(added.matches("my settings").count(), 1, "{added}");
        assert_eq!(added.matches("none yet").count(), 1, "{added}");
        assert_eq!(added.matches("one */").count(), 1, "{added}");
        let parsed = crate::jsonfile::parse_with_comments(&added).unwrap();
        assert_eq!(parsed["hooks"], json!({"Stop": []}));
        assert_eq!(parsed["a"], json!([{"x": 1}]));
        let removed = roundtrip(
            &added,
            &[
                Op::Remove(vec![key("hooks")]),
                Op::Remove(vec![key("a"), Seg::Index(0)]),
            ],
        );
        for comment in ["my settings", "none yet", "/* one */"] {
            assert!(removed.contains(comment), "{removed}");
        }
        let parsed = crate::jsonfile::parse_with_comments(&removed).unwrap();
        assert_eq!(parsed, json!({"a": [], "b": 1}));
    }

    #[test]
    fn removing_an_item_keeps_the_comments_beside_it() {
        let text = "[\n  1, // about two\n  2 // after two\n]";
        for i in 0..2 {
            let out = roundtrip(text, &[Op::Remove(vec![Seg::Index(i)])]);
            assert!(
                out.contains("// about two") && out.contains("// after two"),
                "{out}"
            );
            let v = crate::jsonfile::parse_with_comments(&out).unwrap();
            assert_eq!(v.as_array().unwrap().len(), 1, "{out}");
        }
    }

    #[test]
    fn keys_with_escapes_are_found() {
        let text = r#"{"a\"b": 1, "c": 2}"#;
        let out = roundtrip(text, &[Op::Remove(vec![key("a\"b")])]);
        assert_eq!(out, r#"{"c": 2}"#);
    }
}
