//! The formats of the files telemhq puts its hooks in, as data: each a pure editor, the
//! file's text in, the new text out, with the same guarantees for every agent that uses
//! it: only telemhq's own entries change (recognised by their exact command), every
//! other byte stays, installing twice changes nothing, and uninstall gives back the
//! bytes install started from. No file system here.
//!
//! - `Groups`: Claude Code's hook groups (`hooks.<event>` → groups with `matcher` and
//!   `hooks`), in strict JSON or JSON with comments;
//! - `Flat`: a flat list of handlers per event, in a hook file (Copilot CLI's);
//! - `CodexToml`: Codex's `config.toml`, hook groups as arrays of tables, with trust
//!   entries that Codex keeps in the user's config.

pub mod codex_toml;
pub mod flat;
pub mod groups;
pub mod jsonedit;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jsonfile::{self, Dialect, ReadError};
use flat::FlatSet;
pub use groups::{Created, HookSet, Plan, ShapeError, ToolActivity};
use jsonedit::{Op, Style};

/// How an agent's hook file is written.
#[derive(Clone, Copy)]
pub enum Format {
    Groups {
        set: &'static HookSet,
        dialect: Dialect,
    },
    Flat {
        set: &'static FlatSet,
        dialect: Dialect,
    },
    /// Hook groups in Claude Code's shape, the hooks object being the whole file
    /// (Factory Droid's `hooks.json`): edited as `{"hooks": <file>}` would be.
    BareGroups {
        set: &'static HookSet,
        dialect: Dialect,
    },
    CodexToml(&'static codex_toml::TomlSet),
}

/// A bare hooks object seen as the `hooks` member of a settings document.
fn wrapped(doc: Value) -> Value {
    serde_json::json!({ "hooks": doc })
}

/// A plan made on the wrapped document, for the bare one.
fn unwrapped(plan: groups::Plan) -> groups::Plan {
    let strip = |path: jsonedit::Path| -> jsonedit::Path {
        match path.first() {
            Some(jsonedit::Seg::Key(k)) if k == "hooks" => path[1..].to_vec(),
            _ => path,
        }
    };
    groups::Plan {
        ops: plan
            .ops
            .into_iter()
            .map(|op| match op {
                Op::Set(p, v) => Op::Set(strip(p), v),
                Op::Append(p, v) => Op::Append(strip(p), v),
                Op::Remove(p) => Op::Remove(strip(p)),
            })
            .collect(),
        new: plan
            .new
            .get("hooks")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
        created: plan.created,
    }
}

/// What install created in one file, kept in telemhq's `installs.json`, so that
/// uninstall gives back what was there.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The file did not exist before install.
    #[serde(default)]
    pub created_file: bool,
    /// Written by earlier releases: the file's folder did not exist before install.
    #[serde(default, skip_serializing)]
    pub created_dir: bool,
    /// Folders install created for the file, outermost first; uninstall removes each
    /// that is empty again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_dirs: Vec<String>,
    /// The file held only whitespace before install: this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blank_text: Option<String>,
    #[serde(default)]
    pub created: Created,
    /// Containers that were empty before install with whitespace inside (`{ }`, `[\n]`),
    /// by JSON Pointer: emptied again on uninstall, they get it back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blank_inner: BTreeMap<String, String>,
    /// The file's last line had no line break before install added one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_final_newline: bool,
}

/// Why a file cannot be edited.
#[derive(Debug, Clone, PartialEq)]
pub enum EditError {
    /// It does not read as the agent's format (where, and what is wrong).
    Read(ReadError),
    /// It reads, but a part telemhq edits has a shape the agent does not accept: where
    /// (`hooks.Stop[0]`) and what is wrong.
    Shape(String),
    /// A shape the agent accepts, but one telemhq cannot edit without rewriting what is
    /// around it: why.
    CannotEdit(String),
    /// telemhq's own edit went wrong: nothing is written.
    Internal(String),
}

impl From<ReadError> for EditError {
    fn from(e: ReadError) -> EditError {
        EditError::Read(e)
    }
}

impl From<ShapeError> for EditError {
    fn from(e: ShapeError) -> EditError {
        EditError::Shape(e.to_string())
    }
}

/// A command hook as a file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub event: String,
    pub matcher: Option<String>,
    pub command: String,
}

/// A file's new content (None: no file) and its new record (None: forget it).
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: Option<String>,
    pub record: Option<Record>,
}

impl Format {
    /// Checks that a file reads as the agent reads it.
    pub fn check(&self, text: &str) -> Result<(), EditError> {
        match self {
            Format::Groups { set: _, dialect } => {
                groups::check_shape(&jsonfile::parse(text, *dialect)?)?;
            }
            Format::Flat { set: _, dialect } => {
                flat::check_shape(&jsonfile::parse(text, *dialect)?)?;
            }
            Format::BareGroups { set: _, dialect } => {
                let doc = jsonfile::parse(text, *dialect)?;
                if !doc.is_object() {
                    return Err(groups::shape_err(
                        &[],
                        "the hooks file must be a JSON object of events, like {\"Stop\": [...]}",
                    )
                    .into());
                }
                groups::check_shape(&wrapped(doc))?;
            }
            Format::CodexToml(_) => {
                codex_toml::parse(text)?;
            }
        }
        Ok(())
    }

    /// Which JSON the agent accepts (None: not JSON).
    pub fn dialect(&self) -> Option<Dialect> {
        match self {
            Format::Groups { dialect, .. }
            | Format::Flat { dialect, .. }
            | Format::BareGroups { dialect, .. } => Some(*dialect),
            Format::CodexToml(_) => None,
        }
    }

    /// Events that carry telemhq's hook in this text (none when it does not read).
    pub fn installed_events(&self, text: &str) -> Vec<String> {
        match self {
            Format::Groups { set, dialect } => jsonfile::parse(text, *dialect)
                .map(|v| groups::installed_events(&v, set))
                .unwrap_or_default(),
            Format::Flat { set, dialect } => jsonfile::parse(text, *dialect)
                .map(|v| flat::installed_events(&v, set))
                .unwrap_or_default(),
            Format::BareGroups { set, dialect } => jsonfile::parse(text, *dialect)
                .map(|v| groups::installed_events(&wrapped(v), set))
                .unwrap_or_default(),
            Format::CodexToml(set) => set.installed_events(text),
        }
    }

    /// Whether a hook command is exactly one that a telemhq release installs here.
    pub fn is_own_command(&self, command: &str) -> bool {
        match self {
            Format::Groups { set, .. } | Format::BareGroups { set, .. } => {
                set.is_own_command(command)
            }
            Format::Flat { set, .. } => set.is_own_command(command),
            Format::CodexToml(set) => command == set.command,
        }
    }

    /// Whether an own command is the one this release writes (not an earlier release's).
    pub fn is_current_command(&self, command: &str) -> bool {
        match self {
            Format::Groups { set, .. } | Format::BareGroups { set, .. } => command == set.command,
            Format::Flat { set, .. } => set.is_own_command(command),
            Format::CodexToml(set) => command == set.command,
        }
    }

    /// The command this release installs for the turn's end (what doctor runs to see
    /// that it reaches telemhq).
    pub fn turn_command(&self) -> String {
        match self {
            Format::Groups { set, .. } | Format::BareGroups { set, .. } => set.command.to_string(),
            Format::Flat { set, .. } => (set.command)(set.turn_events[0]),
            Format::CodexToml(set) => set.command.to_string(),
        }
    }

    /// Every command hook in a text: (event, matcher, command), telemhq's and others'.
    pub fn commands(&self, text: &str) -> Vec<Hook> {
        match self {
            Format::Groups { dialect, .. } => jsonfile::parse(text, *dialect)
                .map(|v| groups::commands(&v))
                .unwrap_or_default(),
            Format::Flat { set, dialect } => jsonfile::parse(text, *dialect)
                .map(|v| flat::commands(&v, set))
                .unwrap_or_default(),
            Format::BareGroups { dialect, .. } => jsonfile::parse(text, *dialect)
                .map(|v| groups::commands(&wrapped(v)))
                .unwrap_or_default(),
            Format::CodexToml(_) => codex_toml::commands(text),
        }
    }

    /// What is wrong with telemhq's entries in a text where some are installed: an event
    /// without one, one twice, a matcher or setting changed by hand.
    pub fn entry_problems(&self, text: &str) -> Vec<String> {
        let installed = self.installed_events(text);
        if installed.is_empty() {
            return Vec::new();
        }
        let (turn, tool): (Vec<String>, Vec<String>) = match self {
            Format::Groups { set, .. } | Format::BareGroups { set, .. } => {
                (set.turn_events(), set.tool_events())
            }
            Format::Flat { set, .. } => (
                set.turn_events.iter().map(|e| e.to_string()).collect(),
                set.tool_events.iter().map(|e| e.to_string()).collect(),
            ),
            Format::CodexToml(set) => (vec![set.turn_event.into()], vec![set.tool_event.into()]),
        };
        let with_tools = tool.iter().any(|e| installed.contains(e));
        let expected = turn.iter().chain(tool.iter().filter(|_| with_tools));
        let own: Vec<Hook> = self
            .commands(text)
            .into_iter()
            .filter(|h| self.is_own_command(&h.command))
            .collect();
        let mut problems = Vec::new();
        for event in expected {
            let entries: Vec<&Hook> = own.iter().filter(|h| &h.event == event).collect();
            let want = self.template_matcher(event);
            match entries.len() {
                0 => problems.push(format!("no {event} entry")),
                1 if want.is_some() && entries[0].matcher != want => {
                    let shown = |m: &Option<String>| {
                        m.as_deref()
                            .map_or("none".to_string(), |m| format!("\"{m}\""))
                    };
                    problems.push(format!(
                        "{event} has matcher {}, expected {}",
                        shown(&entries[0].matcher),
                        shown(&want)
                    ))
                }
                1 => {}
                n => problems.push(format!("{event} has {n} telemhq entries")),
            }
        }
        if let Format::CodexToml(set) = self {
            problems.extend(set.changed_by_hand(text));
        }
        problems
    }

    /// The matcher telemhq writes for an event (None: none, or any).
    fn template_matcher(&self, event: &str) -> Option<String> {
        match self {
            Format::Groups { set, .. } | Format::BareGroups { set, .. } => set
                .template_group(event)
                .and_then(|g| g.get("matcher").and_then(Value::as_str).map(str::to_string)),
            Format::Flat { .. } => None,
            Format::CodexToml(set) => {
                (event == set.tool_event).then(|| set.tool_matcher.to_string())
            }
        }
    }

    /// Puts telemhq's hooks into a file's text (None: no file yet).
    pub fn install(
        &self,
        text: Option<&str>,
        record: Option<&Record>,
        tool_activity: ToolActivity,
    ) -> Result<Edited, EditError> {
        match self {
            Format::Groups { set, dialect } => json_install(text, record, *dialect, |v, c| {
                groups::plan_install(v, set, tool_activity, c)
            }),
            Format::Flat { set, dialect } => json_install(text, record, *dialect, |v, c| {
                flat::plan_install(v, set, tool_activity, c)
            }),
            Format::BareGroups { set, dialect } => json_install(text, record, *dialect, |v, c| {
                groups::plan_install(&wrapped(v.clone()), set, tool_activity, c).map(unwrapped)
            }),
            // The hooks only: their trust goes where the agent keeps it (`transaction`).
            Format::CodexToml(set) => set.install(text, record, tool_activity, None),
        }
    }

    /// Takes telemhq's hooks out of a file's text, and what install created around them.
    pub fn uninstall(
        &self,
        text: Option<&str>,
        record: Option<&Record>,
    ) -> Result<Edited, EditError> {
        match self {
            Format::Groups { set, dialect } => json_uninstall(
                text,
                record,
                *dialect,
                |v, c| groups::plan_uninstall(v, set, c),
                |v| v.as_object().is_some_and(|o| o.is_empty()),
            ),
            Format::Flat { set, dialect } => json_uninstall(
                text,
                record,
                *dialect,
                |v, c| flat::plan_uninstall(v, set, c),
                flat::holds_nothing,
            ),
            Format::BareGroups { set, dialect } => json_uninstall(
                text,
                record,
                *dialect,
                |v, c| groups::plan_uninstall(&wrapped(v.clone()), set, c).map(unwrapped),
                |v| v.as_object().is_some_and(|o| o.is_empty()),
            ),
            Format::CodexToml(set) => set.uninstall(text, record, None),
        }
    }
}

/// Whether a command someone else wrote seems to run telemhq's hook (a `telemhq`
/// program with `emit`): doctor mentions such entries, but never runs or edits them.
pub fn looks_like_telemhq(command: &str) -> bool {
    let mut saw_program = false;
    for word in command
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
    {
        if saw_program && word == "emit" {
            return true;
        }
        if word.rsplit('/').next() == Some("telemhq") {
            saw_program = true;
        }
    }
    false
}

fn parse_json(text: Option<&str>, dialect: Dialect) -> Result<Value, EditError> {
    match text {
        None => Ok(Value::Object(Default::default())),
        Some(t) => Ok(jsonfile::parse(t, dialect)?),
    }
}

fn json_install(
    text: Option<&str>,
    record: Option<&Record>,
    dialect: Dialect,
    plan: impl Fn(&Value, &Created) -> Result<Plan, ShapeError>,
) -> Result<Edited, EditError> {
    let value = parse_json(text, dialect)?;
    let previous = record.cloned().unwrap_or_else(|| Record {
        created_file: text.is_none(),
        blank_text: text.filter(|t| blank(t, dialect)).map(str::to_string),
        ..Record::default()
    });
    let plan = plan(&value, &previous.created)?;
    if plan.changes_nothing() {
        return Ok(Edited {
            text: text.map(str::to_string),
            record: Some(previous),
        });
    }
    let mut record = previous;
    let new = render(text, &plan, &mut record.blank_inner, true, dialect)?;
    record.created.merge(&plan.created);
    Ok(Edited {
        text: Some(new),
        record: Some(record),
    })
}

fn json_uninstall(
    text: Option<&str>,
    record: Option<&Record>,
    dialect: Dialect,
    plan: impl Fn(&Value, &Created) -> Result<Plan, ShapeError>,
    holds_nothing: fn(&Value) -> bool,
) -> Result<Edited, EditError> {
    let value = parse_json(text, dialect)?;
    let record = record.cloned().unwrap_or_default();
    let plan = plan(&value, &record.created)?;
    if plan.changes_nothing() {
        return Ok(Edited {
            text: text.map(str::to_string),
            record: Some(record),
        });
    }
    let emptied = holds_nothing(&plan.new);
    if emptied && record.created_file {
        return Ok(Edited {
            text: None,
            record: None,
        });
    }
    if emptied && let Some(blank) = &record.blank_text {
        return Ok(Edited {
            text: Some(blank.clone()),
            record: None,
        });
    }
    let mut blank_inner = record.blank_inner.clone();
    let new = render(text, &plan, &mut blank_inner, false, dialect)?;
    Ok(Edited {
        text: Some(new),
        record: None,
    })
}

/// The text a plan leads to. New or blank files get a fresh, 2-space document.
/// `blank_inner`: install adds the whitespace of each empty container it fills;
/// uninstall gives it back to each container it empties.
pub fn render(
    text: Option<&str>,
    plan: &Plan,
    blank_inner: &mut BTreeMap<String, String>,
    installing: bool,
    dialect: Dialect,
) -> Result<String, EditError> {
    let out = match text {
        Some(t) if !blank(t, dialect) => edit_text(t, plan, blank_inner, installing)?,
        // Only comments: they stay, the new document after them.
        Some(t) if !t.trim().is_empty() => {
            let newline = Style::detect(t).newline;
            let doc = Style::detect("")
                .render(&plan.new, 0)
                .replace('\n', newline);
            format!("{}{newline}{doc}{newline}", t.trim_end())
        }
        _ => {
            let mut s = serde_json::to_string_pretty(&plan.new).expect("a Value serialises");
            s.push('\n');
            s
        }
    };
    // The text edit and the value edit must agree; never write a file that says otherwise.
    let reparsed = jsonfile::parse(&out, dialect).map_err(|e| {
        EditError::Internal(format!(
            "internal error: the edited text does not parse ({}); nothing was written",
            e.problem()
        ))
    })?;
    if reparsed != plan.new {
        return Err(EditError::Internal(
            "internal error: the edited text differs from the planned document; nothing was written"
                .into(),
        ));
    }
    Ok(out)
}

/// Whether a text holds no document: only whitespace (or, where the agent accepts
/// them, comments).
fn blank(text: &str, dialect: Dialect) -> bool {
    text.trim().is_empty() || (dialect == Dialect::Comments && jsonfile::holds_no_value(text))
}

fn edit_text(
    text: &str,
    plan: &Plan,
    blank_inner: &mut BTreeMap<String, String>,
    installing: bool,
) -> Result<String, EditError> {
    let style = Style::detect(text);
    let mut text = text.to_string();
    for op in &plan.ops {
        let filled = match op {
            Op::Set(path, _) => path.split_last().map(|(_, parent)| parent),
            Op::Append(path, _) => Some(path.as_slice()),
            Op::Remove(_) => None,
        };
        if installing
            && let Some(container) = filled
            && let Some(inner) = jsonedit::empty_inner(&text, container)
            && !inner.is_empty()
        {
            blank_inner
                .entry(jsonedit::pointer(container))
                .or_insert_with(|| inner.to_string());
        }
        text = jsonedit::apply(&text, op, &style).ok_or_else(|| {
            EditError::Internal(format!(
                "internal error: could not apply {op:?}; nothing was written"
            ))
        })?;
        if !installing
            && let Op::Remove(path) = op
            && let Some((_, parent)) = path.split_last()
            && let Some(inner) = blank_inner.get(&jsonedit::pointer(parent))
            && let Some(restored) = jsonedit::set_empty_inner(&text, parent, inner)
        {
            text = restored;
        }
    }
    Ok(text)
}

/// The change as an RFC 6902 JSON Patch, for scripts (`--dry-run --json-patch`).
pub fn json_patch(old: Option<&str>, new: Option<&str>, dialect: Dialect) -> Value {
    let parse = |t: Option<&str>| {
        t.and_then(|t| jsonfile::parse(t, dialect).ok())
            .unwrap_or_else(|| Value::Object(Default::default()))
    };
    serde_json::to_value(json_patch::diff(&parse(old), &parse(new))).expect("a patch serialises")
}
