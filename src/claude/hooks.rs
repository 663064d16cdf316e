//! telemhq's hook blocks and the pure plans that put them into, or take them out of,
//! a Claude Code settings document. No file system here: a document in, edits out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jsonedit::{Op, Path, Seg, apply_value, path_to_string};

/// The one command every scope installs, byte-identical everywhere, so that Claude Code
/// (which runs identical commands once) never pings twice for a global plus a repo
/// install. The shell expands the variables when the hook runs, so it works without the
/// user's PATH and puts no one's home folder into a committed file. `|| true` keeps a
/// teammate who shares a repo's settings but has no telemhq free of hook errors.
pub const HOOK_COMMAND: &str =
    r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true"#;

const TURN_TEMPLATE: &str = include_str!("../../templates/turn-hooks.json");
const TOOL_TEMPLATE: &str = include_str!("../../templates/tool-activity-hooks.json");

pub const TURN_EVENTS: [&str; 2] = ["Stop", "StopFailure"];
pub const TOOL_EVENTS: [&str; 2] = ["PostToolUse", "PostToolUseFailure"];

/// The group telemhq installs for an event, from the embedded templates.
pub fn template_group(event: &str) -> Option<Value> {
    for template in [TURN_TEMPLATE, TOOL_TEMPLATE] {
        let blocks: Value = serde_json::from_str(template).expect("templates are valid JSON");
        if let Some(group) = blocks.get(event) {
            let text = serde_json::to_string(group).expect("a Value serialises");
            let command = serde_json::to_string(HOOK_COMMAND).expect("a str serialises");
            let text = text.replace("\"{{command}}\"", &command);
            return Some(serde_json::from_str(&text).expect("template with command is JSON"));
        }
    }
    None
}

/// Every command string a telemhq release has installed (this one's first). telemhq's
/// entries are recognised by these exact strings (Claude Code strips unknown keys from
/// hook entries, so no marker key would survive), and nothing looser: a user's own hook
/// that merely mentions telemhq is never replaced, removed or run by telemhq.
pub const OWN_COMMANDS: [&str; 1] = [HOOK_COMMAND];

/// Whether a hook command is exactly one that telemhq installs.
pub fn is_telemhq_command(command: &str) -> bool {
    OWN_COMMANDS.contains(&command)
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

fn is_telemhq_handler(handler: &Value) -> bool {
    let is_command = handler.get("type").is_none_or(|t| t == "command");
    is_command
        && handler
            .get("command")
            .and_then(Value::as_str)
            .is_some_and(is_telemhq_command)
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

/// A settings document of a shape Claude Code would not accept.
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

fn shape_err(path: &[Seg], problem: &str) -> ShapeError {
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

struct Editor {
    value: Value,
    ops: Vec<Op>,
    created: Created,
}

impl Editor {
    fn new(doc: &Value) -> Editor {
        Editor {
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
                if is_telemhq_handler(handler) {
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

/// Events that carry a telemhq handler in this document.
pub fn installed_events(doc: &Value) -> Vec<String> {
    let editor = Editor::new(doc);
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
    tool_activity: ToolActivity,
    previously_created: &Created,
) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut editor = Editor::new(doc);
    let tools_installed = TOOL_EVENTS
        .iter()
        .any(|e| !editor.telemhq_handlers(e).is_empty());
    let want_tools = match tool_activity {
        ToolActivity::On => true,
        ToolActivity::Off => false,
        ToolActivity::Keep => tools_installed,
    };
    for event in TURN_EVENTS {
        editor.install_event(event, template_group(event).expect("turn template"));
    }
    for event in TOOL_EVENTS {
        if want_tools {
            editor.install_event(event, template_group(event).expect("tool template"));
        } else {
            let mut created = previously_created.clone();
            created.merge(&editor.created);
            editor.uninstall_event(event, &created);
        }
    }
    Ok(editor.finish())
}

/// Takes telemhq's handlers out of a document, and the containers install created
/// that are empty now. Everything else stays.
pub fn plan_uninstall(doc: &Value, created: &Created) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut editor = Editor::new(doc);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_telemhq_commands_by_their_exact_string() {
        assert!(is_telemhq_command(HOOK_COMMAND));
        for users_own in [
            "/usr/local/bin/telemhq emit",
            "echo \"telemhq emit check\" >> ~/notes.log",
            "cd ~/src/telemhq && make emit",
            "python3 telemhq_ping.py",
            &format!("{HOOK_COMMAND}; id > /tmp/x"),
        ] {
            assert!(!is_telemhq_command(users_own), "{users_own}");
        }
        assert!(looks_like_telemhq("/usr/local/bin/telemhq emit"));
        assert!(!looks_like_telemhq("echo done"));
    }

    #[test]
    fn templates_carry_the_command_and_a_timeout() {
        for event in TURN_EVENTS.iter().chain(TOOL_EVENTS.iter()) {
            let group = template_group(event).unwrap();
            let handler = &group["hooks"][0];
            assert_eq!(handler["command"], HOOK_COMMAND);
            assert!(
                handler["timeout"].as_u64().is_some(),
                "{event} has a timeout"
            );
        }
        assert_eq!(template_group("StopFailure").unwrap()["matcher"], "*");
        assert_eq!(
            template_group("PostToolUse").unwrap()["matcher"],
            "Bash|Edit|MultiEdit|Write"
        );
        assert_eq!(
            template_group("PostToolUseFailure").unwrap()["matcher"],
            "*"
        );
    }

    #[test]
    fn install_twice_plans_nothing_the_second_time() {
        let doc = json!({"model": "x"});
        let first = plan_install(&doc, ToolActivity::On, &Created::default()).unwrap();
        assert!(first.created.hooks);
        let second = plan_install(&first.new, ToolActivity::Keep, &first.created).unwrap();
        assert!(second.changes_nothing(), "{:?}", second.ops);
    }

    #[test]
    fn a_users_hook_that_mentions_telemhq_is_kept() {
        let users = "cd ~/src/telemhq && make emit";
        let doc = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": users}]}]}});
        let plan = plan_install(&doc, ToolActivity::Keep, &Created::default()).unwrap();
        let stop = plan.new["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], users);
        let back = plan_uninstall(&plan.new, &plan.created).unwrap();
        assert_eq!(back.new, doc);
    }

    #[test]
    fn uninstall_keeps_other_handlers_in_a_shared_group() {
        let doc = json!({"hooks": {"Stop": [{"hooks": [
            {"type": "command", "command": "say done"},
            {"type": "command", "command": HOOK_COMMAND}
        ]}]}});
        let plan = plan_uninstall(
            &doc,
            &Created {
                hooks: true,
                events: vec!["Stop".into()],
            },
        )
        .unwrap();
        assert_eq!(
            plan.new,
            json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}})
        );
    }

    #[test]
    fn wrong_shapes_name_their_path() {
        let cases = [
            (json!([]), "(the top level)"),
            (json!({"hooks": []}), "hooks"),
            (json!({"hooks": {"Stop": {}}}), "hooks.Stop"),
            (
                json!({"hooks": {"Stop": [{"matcher": "*"}]}}),
                "hooks.Stop[0].hooks",
            ),
            (
                json!({"hooks": {"Stop": [{"hooks": {}}]}}),
                "hooks.Stop[0].hooks",
            ),
            (
                json!({"hooks": {"Stop": [{"hooks": [1]}]}}),
                "hooks.Stop[0].hooks[0]",
            ),
        ];
        for (doc, path) in cases {
            let err = plan_install(&doc, ToolActivity::Keep, &Created::default()).unwrap_err();
            assert_eq!(err.path, path, "{doc}");
        }
    }
}
