//! telemhq's handlers in a hook file of flat lists (Copilot CLI's, Cursor's):
//! `{"version": 1, "hooks": {"agentStop": [{"type": "command", "bash": …}]}}`, one list
//! of handlers per event. The pure plans that put them in or take them out; a handler
//! someone added by hand stays.

use serde_json::{Map, Value, json};

use super::groups::{Created, Plan, ShapeError, ToolActivity, shape_err};
use super::jsonedit::{Op, Path, Seg, apply_value};

/// An agent's telemhq handlers in a flat hook file.
pub struct FlatSet {
    /// The member of a handler that holds its command (`bash`, `command`).
    pub command_key: &'static str,
    /// Events that end a turn: always installed.
    pub turn_events: &'static [&'static str],
    /// Tool activity and errors: installed with `--tool-activity`.
    pub tool_events: &'static [&'static str],
    /// The command for an event (the command may name its event, for agents whose
    /// payloads do not).
    pub command: fn(&str) -> String,
    /// The handler telemhq installs for an event, its command in it.
    pub handler: fn(&str) -> Value,
    /// The file's `version`.
    pub version: u64,
}

impl FlatSet {
    fn events(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.turn_events.iter().chain(self.tool_events).copied()
    }

    /// Whether a hook command is exactly one that telemhq installs (for any event).
    pub fn is_own_command(&self, command_text: &str) -> bool {
        self.events().any(|e| (self.command)(e) == command_text)
    }

    fn is_telemhq_handler(&self, handler: &Value) -> bool {
        handler.get("type").is_none_or(|t| t == "command")
            && handler
                .get(self.command_key)
                .and_then(Value::as_str)
                .is_some_and(|c| self.is_own_command(c))
    }
}

/// Checks the parts of the file that telemhq reads or edits.
pub fn check_shape(doc: &Value) -> Result<(), ShapeError> {
    let Some(root) = doc.as_object() else {
        return Err(shape_err(&[], "a hook file must be a JSON object"));
    };
    let Some(hooks) = root.get("hooks") else {
        return Ok(());
    };
    let mut path = vec![Seg::Key("hooks".into())];
    let Some(hooks) = hooks.as_object() else {
        return Err(shape_err(
            &path,
            "must be an object of events, like {\"stop\": [...]}",
        ));
    };
    for (event, handlers) in hooks {
        path.push(Seg::Key(event.clone()));
        let Some(handlers) = handlers.as_array() else {
            return Err(shape_err(&path, "must be an array of hooks"));
        };
        for (i, h) in handlers.iter().enumerate() {
            if !h.is_object() {
                path.push(Seg::Index(i));
                return Err(shape_err(&path, "must be an object"));
            }
        }
        path.pop();
    }
    Ok(())
}

struct Editor<'a> {
    set: &'a FlatSet,
    value: Value,
    ops: Vec<Op>,
    created: Created,
}

impl Editor<'_> {
    fn op(&mut self, op: Op) {
        apply_value(&mut self.value, &op).expect("the planner only edits paths it has seen");
        self.ops.push(op);
    }

    fn handlers(&self, event: &str) -> Vec<Value> {
        self.value
            .get("hooks")
            .and_then(|h| h.get(event))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn own(&self, event: &str) -> Vec<usize> {
        self.handlers(event)
            .iter()
            .enumerate()
            .filter(|(_, h)| self.set.is_telemhq_handler(h))
            .map(|(i, _)| i)
            .collect()
    }

    fn remove(&mut self, event: &str, indices: &[usize]) {
        for &i in indices.iter().rev() {
            self.op(Op::Remove(event_path(event, Some(i))));
        }
    }

    fn install_event(&mut self, event: &str) {
        if self.value.get("version").is_none() {
            let version = self.set.version;
            self.op(Op::Set(vec![Seg::Key("version".into())], json!(version)));
        }
        if self.value.get("hooks").is_none() {
            self.op(Op::Set(
                vec![Seg::Key("hooks".into())],
                Value::Object(Map::new()),
            ));
            self.created.hooks = true;
        }
        if self.value["hooks"].get(event).is_none() {
            self.op(Op::Set(event_path(event, None), Value::Array(Vec::new())));
            self.created.events.push(event.to_string());
        }
        let wanted = (self.set.handler)(event);
        let own = self.own(event);
        match own.split_first() {
            Some((&first, rest)) => {
                self.remove(event, rest);
                if self.handlers(event)[first] != wanted {
                    self.op(Op::Set(event_path(event, Some(first)), wanted));
                }
            }
            None => self.op(Op::Append(event_path(event, None), wanted)),
        }
    }

    fn uninstall_event(&mut self, event: &str, created: &Created) {
        let own = self.own(event);
        if own.is_empty() {
            return;
        }
        self.remove(event, &own);
        if self.handlers(event).is_empty() && created.events.iter().any(|e| e == event) {
            self.op(Op::Remove(event_path(event, None)));
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

fn event_path(event: &str, index: Option<usize>) -> Path {
    let mut path = vec![Seg::Key("hooks".into()), Seg::Key(event.into())];
    path.extend(index.map(Seg::Index));
    path
}

fn editor<'a>(set: &'a FlatSet, doc: &Value) -> Editor<'a> {
    Editor {
        set,
        value: doc.clone(),
        ops: Vec::new(),
        created: Created::default(),
    }
}

/// Every command handler of every event: (event, no matcher, command).
pub fn commands(doc: &Value, set: &FlatSet) -> Vec<super::Hook> {
    let mut out = Vec::new();
    for (event, handlers) in doc
        .get("hooks")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for handler in handlers.as_array().into_iter().flatten() {
            if let Some(command) = handler.get(set.command_key).and_then(Value::as_str) {
                out.push(super::Hook {
                    event: event.clone(),
                    matcher: None,
                    command: command.to_string(),
                });
            }
        }
    }
    out
}

/// Events that carry a telemhq handler in this file.
pub fn installed_events(doc: &Value, set: &FlatSet) -> Vec<String> {
    let e = editor(set, doc);
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return Vec::new();
    };
    hooks
        .keys()
        .filter(|k| !e.own(k).is_empty())
        .cloned()
        .collect()
}

/// Puts telemhq's handlers into a hook file (a missing file is `{}`).
pub fn plan_install(
    doc: &Value,
    set: &FlatSet,
    tool_activity: ToolActivity,
    previously_created: &Created,
) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut e = editor(set, doc);
    let want_tools = match tool_activity {
        ToolActivity::On => true,
        ToolActivity::Off => false,
        ToolActivity::Keep => set.tool_events.iter().any(|t| !e.own(t).is_empty()),
    };
    for event in set.turn_events {
        e.install_event(event);
    }
    for event in set.tool_events {
        if want_tools {
            e.install_event(event);
        } else {
            let mut created = previously_created.clone();
            created.merge(&e.created);
            e.uninstall_event(event, &created);
        }
    }
    Ok(e.finish())
}

/// Takes telemhq's handlers out of a hook file, and the containers install created
/// that are empty now.
pub fn plan_uninstall(doc: &Value, set: &FlatSet, created: &Created) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut e = editor(set, doc);
    let events: Vec<String> = doc
        .get("hooks")
        .and_then(Value::as_object)
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    for event in events {
        e.uninstall_event(&event, created);
    }
    let hooks_empty = e
        .value
        .get("hooks")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty);
    if created.hooks && hooks_empty {
        e.op(Op::Remove(vec![Seg::Key("hooks".into())]));
    }
    Ok(e.finish())
}

/// Whether a hook file holds nothing but its version: nothing of anyone's is lost when
/// uninstall removes the file install created.
pub fn holds_nothing(doc: &Value) -> bool {
    doc.as_object()
        .is_some_and(|o| o.keys().all(|k| k == "version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(event: &str) -> String {
        format!("telemhq-test emit --event {event}")
    }

    fn handler(event: &str) -> Value {
        json!({"type": "command", "bash": command(event), "timeoutSec": 5})
    }

    const SET: FlatSet = FlatSet {
        command_key: "bash",
        turn_events: &["agentStop"],
        tool_events: &["postToolUse", "errorOccurred"],
        command,
        handler,
        version: 1,
    };

    #[test]
    fn a_new_file_gets_the_version_and_one_handler_per_event() {
        let plan = plan_install(&json!({}), &SET, ToolActivity::On, &Created::default()).unwrap();
        assert_eq!(plan.new["version"], 1);
        for event in SET.events() {
            let handlers = plan.new["hooks"][event].as_array().unwrap();
            assert_eq!(handlers.len(), 1, "{event}");
            assert_eq!(handlers[0], handler(event));
        }
        let again = plan_install(&plan.new, &SET, ToolActivity::Keep, &plan.created).unwrap();
        assert!(again.changes_nothing(), "{:?}", again.ops);
        let back = plan_uninstall(&plan.new, &SET, &plan.created).unwrap();
        assert_eq!(back.new, json!({"version": 1}));
    }

    #[test]
    fn a_handler_added_by_hand_stays_and_a_stale_one_is_replaced() {
        let users = json!({"type": "command", "bash": "./log-stop.sh", "timeoutSec": 3});
        let stale = json!({"type": "command", "bash": command("agentStop"), "timeoutSec": 99});
        let doc = json!({"version": 1, "hooks": {"agentStop": [users.clone(), stale]}});
        let plan = plan_install(&doc, &SET, ToolActivity::Off, &Created::default()).unwrap();
        assert_eq!(plan.new["hooks"]["agentStop"][0], users);
        assert_eq!(plan.new["hooks"]["agentStop"][1]["timeoutSec"], 5);
        let back = plan_uninstall(&plan.new, &SET, &plan.created).unwrap();
        assert_eq!(
            back.new,
            json!({"version": 1, "hooks": {"agentStop": [users]}})
        );
    }

    #[test]
    fn turning_tool_activity_off_removes_what_it_added() {
        let on = plan_install(&json!({}), &SET, ToolActivity::On, &Created::default()).unwrap();
        let off = plan_install(&on.new, &SET, ToolActivity::Off, &on.created).unwrap();
        assert_eq!(installed_events(&off.new, &SET), ["agentStop"]);
        assert_eq!(off.new["hooks"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn wrong_shapes_name_their_path() {
        for (doc, path) in [
            (json!([]), "(the top level)"),
            (json!({"hooks": []}), "hooks"),
            (json!({"hooks": {"agentStop": {}}}), "hooks.agentStop"),
            (json!({"hooks": {"agentStop": ["x"]}}), "hooks.agentStop[0]"),
        ] {
            let err =
                plan_install(&doc, &SET, ToolActivity::Keep, &Created::default()).unwrap_err();
            assert_eq!(err.path, path, "{doc}");
        }
    }
}
