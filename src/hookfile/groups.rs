//! telemhq's hook groups in a settings document shaped as Claude Code's (Gemini CLI's
//! settings share the shape): `hooks.<event>` holds groups, each with a `matcher` and
//! a `hooks` array of handlers. The pure plans that put telemhq's groups in, or take
//! them out. No file system here: a document in, edits out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jsonedit::{Op, Path, Seg, apply_value, path_to_string};

/// An agent's telemhq hook groups: the command its hooks run, every command a telemhq
/// release installed there (telemhq's entries are recognised by these exact strings and
/// nothing looser), and the groups per event, as JSON templates with `{{command}}`.
pub struct HookSet {
    pub command: &'static str,
    pub own_commands: &'static [&'static str],
    /// Events that end a turn: always installed.
    pub turn_template: &'static str,
    /// Events of tool activity: installed with `--tool-activity`.
    pub tool_template: &'static str,
}

impl HookSet {
    /// Whether a hook command is exactly one that telemhq installs.
    pub fn is_own_command(&self, command: &str) -> bool {
        self.own_commands.contains(&command)
    }

    /// The group telemhq installs for an event.
    pub fn template_group(&self, event: &str) -> Option<Value> {
        for template in [self.turn_template, self.tool_template] {
            let blocks: Value = serde_json::from_str(template).expect("templates are valid JSON");
            if let Some(group) = blocks.get(event) {
                let text = serde_json::to_string(group).expect("a Value serialises");
                let command = serde_json::to_string(self.command).expect("a str serialises");
                let text = text.replace("\"{{command}}\"", &command);
                return Some(serde_json::from_str(&text).expect("template with command is JSON"));
            }
        }
        None
    }

    pub fn turn_events(&self) -> Vec<String> {
        events_of(self.turn_template)
    }

    pub fn tool_events(&self) -> Vec<String> {
        events_of(self.tool_template)
    }
}

fn events_of(template: &str) -> Vec<String> {
    let blocks: Value = serde_json::from_str(template).expect("templates are valid JSON");
    blocks
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn is_telemhq_handler(set: &HookSet, handler: &Value) -> bool {
    let is_command = handler.get("type").is_none_or(|t| t == "command");
    is_command
        && handler
            .get("command")
            .and_then(Value::as_str)
            .is_some_and(|c| set.is_own_command(c))
}

/// Whether tool-activity hooks are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolActivity {
    /// Keep whatever is installed now.
    Keep,
    On,
    Off,
}

/// Which containers install created in a settings file, so that uninstall removes
/// only those (and only when they are empty again). Kept in telemhq's private state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Created {
    #[serde(default)]
    pub hooks: bool,
    #[serde(default)]
    pub events: Vec<String>,
}

impl Created {
    pub fn merge(&mut self, other: &Created) {
        self.hooks |= other.hooks;
        for e in &other.events {
            if !self.events.contains(e) {
                self.events.push(e.clone());
            }
        }
    }
}

/// A settings document of a shape the agent would not accept.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

pub(crate) fn shape_err(path: &[Seg], problem: &str) -> ShapeError {
    ShapeError {
        path: path_to_string(path),
        problem: problem.into(),
    }
}

/// Checks the parts of the document that telemhq reads or edits.
pub fn check_shape(doc: &Value) -> Result<(), ShapeError> {
    let Some(root) = doc.as_object() else {
        return Err(shape_err(&[], "the settings must be a JSON object"));
    };
    let Some(hooks) = root.get("hooks") else {
        return Ok(());
    };
    let mut path = vec![Seg::Key("hooks".into())];
    let Some(hooks) = hooks.as_object() else {
        return Err(shape_err(
            &path,
            "must be an object of events, like {\"Stop\": [...]}",
        ));
    };
    for (event, groups) in hooks {
        path.push(Seg::Key(event.clone()));
        let Some(groups) = groups.as_array() else {
            return Err(shape_err(&path, "must be an array of hook groups"));
        };
        for (i, group) in groups.iter().enumerate() {
            path.push(Seg::Index(i));
            if !group.is_object() {
                return Err(shape_err(&path, "must be an object with a \"hooks\" array"));
            }
            path.push(Seg::Key("hooks".into()));
            let Some(handlers) = group.get("hooks").and_then(Value::as_array) else {
                let problem = if group.get("hooks").is_some() {
                    "must be an array"
                } else {
                    "is missing: a hook group needs a \"hooks\" array"
                };
                return Err(shape_err(&path, problem));
            };
            for (j, handler) in handlers.iter().enumerate() {
                if !handler.is_object() {
                    path.push(Seg::Index(j));
                    return Err(shape_err(&path, "must be an object"));
                }
            }
            path.truncate(path.len() - 2);
        }
        path.pop();
    }
    Ok(())
}

/// Edits planned for a settings document, and the document they lead to.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub new: Value,
    pub created: Created,
}

impl Plan {
    pub fn changes_nothing(&self) -> bool {
        self.ops.is_empty()
    }
}

struct Editor<'a> {
    set: &'a HookSet,
    value: Value,
    ops: Vec<Op>,
    created: Created,
}

impl<'a> Editor<'a> {
    fn new(set: &'a HookSet, doc: &Value) -> Editor<'a> {
        Editor {
            set,
            value: doc.clone(),
            ops: Vec::new(),
            created: Created::default(),
        }
    }

    fn op(&mut self, op: Op) {
        apply_value(&mut self.value, &op).expect("the planner only edits paths it has seen");
        self.ops.push(op);
    }

    fn groups(&self, event: &str) -> Option<&Vec<Value>> {
        self.value.get("hooks")?.get(event)?.as_array()
    }

    /// (group index, handler index) of every telemhq handler of an event.
    fn telemhq_handlers(&self, event: &str) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for (g, group) in self.groups(event).into_iter().flatten().enumerate() {
            for (h, handler) in group["hooks"].as_array().into_iter().flatten().enumerate() {
                if is_telemhq_handler(self.set, handler) {
                    found.push((g, h));
                }
            }
        }
        found
    }

    fn group_len(&self, event: &str, g: usize) -> usize {
        self.groups(event)
            .and_then(|gs| gs[g]["hooks"].as_array())
            .map_or(0, Vec::len)
    }

    /// Removes telemhq handlers of an event (last first, so indices stay valid), and each
    /// group that holds nothing else.
    fn remove_handlers(&mut self, event: &str, handlers: &[(usize, usize)]) {
        for &(g, h) in handlers.iter().rev() {
            let group_path = event_path(event)
                .into_iter()
                .chain([Seg::Index(g)])
                .collect::<Path>();
            if self.group_len(event, g) == 1 {
                self.op(Op::Remove(group_path));
            } else {
                let mut handler_path = group_path;
                handler_path.extend([Seg::Key("hooks".into()), Seg::Index(h)]);
                self.op(Op::Remove(handler_path));
            }
        }
    }

    fn install_event(&mut self, event: &str, template: Value) {
        if self.value.get("hooks").is_none() {
            self.op(Op::Set(
                vec![Seg::Key("hooks".into())],
                Value::Object(Map::new()),
            ));
            self.created.hooks = true;
        }
        if self.groups(event).is_none() {
            self.op(Op::Set(event_path(event), Value::Array(Vec::new())));
            self.created.events.push(event.to_string());
        }
        let handlers = self.telemhq_handlers(event);
        // Prefer a group that holds only telemhq's handler: update it in place.
        let own_group = handlers
            .iter()
            .position(|&(g, _)| self.group_len(event, g) == 1);
        match own_group {
            Some(i) => {
                let (g, _) = handlers[i];
                if self.groups(event).expect("event exists")[g] != template {
                    let mut path = event_path(event);
                    path.push(Seg::Index(g));
                    self.op(Op::Set(path, template));
                }
                let others: Vec<_> = handlers
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, &x)| x)
                    .collect();
                self.remove_handlers(event, &others);
            }
            None => {
                self.remove_handlers(event, &handlers);
                self.op(Op::Append(event_path(event), template));
            }
        }
    }

    fn uninstall_event(&mut self, event: &str, created: &Created) {
        let handlers = self.telemhq_handlers(event);
        if handlers.is_empty() {
            return;
        }
        self.remove_handlers(event, &handlers);
        let now_empty = self.groups(event).is_some_and(Vec::is_empty);
        if now_empty && created.events.iter().any(|e| e == event) {
            self.op(Op::Remove(event_path(event)));
        }
    }

    fn remove_hooks_if_created_and_empty(&mut self, created: &Created) {
        let empty = self
            .value
            .get("hooks")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty);
        if created.hooks && empty {
            self.op(Op::Remove(vec![Seg::Key("hooks".into())]));
        }
    }

    fn finish(self) -> Plan {
        Plan {
            ops: self.ops,
            new: self.value,
            created: self.created,
        }
    }
}

fn event_path(event: &str) -> Path {
    vec![Seg::Key("hooks".into()), Seg::Key(event.into())]
}

/// Every command handler of every event: (event, its group's matcher, command).
pub fn commands(doc: &Value) -> Vec<super::Hook> {
    let mut out = Vec::new();
    for (event, groups) in doc
        .get("hooks")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for group in groups.as_array().into_iter().flatten() {
            let matcher = group
                .get("matcher")
                .and_then(Value::as_str)
                .map(str::to_string);
            for handler in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(command) = handler.get("command").and_then(Value::as_str) {
                    out.push(super::Hook {
                        event: event.clone(),
                        matcher: matcher.clone(),
                        command: command.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Events that carry a telemhq handler in this document.
pub fn installed_events(doc: &Value, set: &HookSet) -> Vec<String> {
    let editor = Editor::new(set, doc);
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return Vec::new();
    };
    hooks
        .keys()
        .filter(|e| !editor.telemhq_handlers(e).is_empty())
        .cloned()
        .collect()
}

/// Puts telemhq's hook groups into a document. `previously_created` says which
/// containers earlier installs created, so `--no-tool-activity` can tidy them away.
pub fn plan_install(
    doc: &Value,
    set: &HookSet,
    tool_activity: ToolActivity,
    previously_created: &Created,
) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut editor = Editor::new(set, doc);
    let tools_installed = set
        .tool_events()
        .iter()
        .any(|e| !editor.telemhq_handlers(e).is_empty());
    let want_tools = match tool_activity {
        ToolActivity::On => true,
        ToolActivity::Off => false,
        ToolActivity::Keep => tools_installed,
    };
    for event in set.turn_events() {
        editor.install_event(&event, set.template_group(&event).expect("turn template"));
    }
    for event in set.tool_events() {
        if want_tools {
            editor.install_event(&event, set.template_group(&event).expect("tool template"));
        } else {
            let mut created = previously_created.clone();
            created.merge(&editor.created);
            editor.uninstall_event(&event, &created);
        }
    }
    Ok(editor.finish())
}

/// Takes telemhq's handlers out of a document, and the containers install created
/// that are empty now. Everything else stays.
pub fn plan_uninstall(doc: &Value, set: &HookSet, created: &Created) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut editor = Editor::new(set, doc);
    let events: Vec<String> = doc
        .get("hooks")
        .and_then(Value::as_object)
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    for event in events {
        editor.uninstall_event(&event, created);
    }
    editor.remove_hooks_if_created_and_empty(created);
    Ok(editor.finish())
}
