//! telemhq's hooks for Copilot CLI, in a hook file of telemhq's own
//! (`~/.copilot/hooks/telemhq.json`, a repository's `.github/hooks/telemhq.json`):
//! `{"version": 1, "hooks": {"agentStop": [{"type": "command", "bash": …}]}}`, one flat
//! list of handlers per event. The pure plans that put them in or take them out; a
//! handler someone added to the file by hand stays.

use serde_json::{Map, Value, json};

use crate::hook_groups::{Created, Plan, ShapeError, ToolActivity, shape_err};
use crate::jsonedit::{Op, Path, Seg, apply_value};

/// The turn's end: always installed.
pub const TURN_EVENTS: [&str; 1] = ["agentStop"];
/// Tool activity and errors: installed with `--tool-activity`.
pub const TOOL_EVENTS: [&str; 3] = ["postToolUse", "postToolUseFailure", "errorOccurred"];

/// Seconds Copilot CLI gives the hook (emit returns in milliseconds).
const TIMEOUT_SEC: u64 = 5;

/// The command for an event. Copilot CLI's native payloads do not name their event,
/// and its hooks' environment has `CLAUDE_PROJECT_DIR` too: the command says both. No
/// PATH needed, no personal path in a committed file, never fails the turn.
pub fn command(event: &str) -> String {
    format!(
        r#""${{CLAUDE_CONFIG_DIR:-$HOME/.claude}}/hooks/telemhq" emit --agent copilot --event {event} || true"#
    )
}

/// Whether a hook command is exactly one that telemhq installs (for any event).
pub fn is_telemhq_command(command_text: &str) -> bool {
    TURN_EVENTS
        .iter()
        .chain(TOOL_EVENTS.iter())
        .any(|e| command(e) == command_text)
}

fn handler(event: &str) -> Value {
    json!({"type": "command", "bash": command(event), "timeoutSec": TIMEOUT_SEC})
}

fn is_telemhq_handler(handler: &Value) -> bool {
    handler.get("type").is_none_or(|t| t == "command")
        && handler
            .get("bash")
            .and_then(Value::as_str)
            .is_some_and(is_telemhq_command)
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
            "must be an object of events, like {\"agentStop\": [...]}",
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

struct Editor {
    value: Value,
    ops: Vec<Op>,
    created: Created,
}

impl Editor {
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
            .filter(|(_, h)| is_telemhq_handler(h))
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
            self.op(Op::Set(vec![Seg::Key("version".into())], json!(1)));
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
        let wanted = handler(event);
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

fn editor(doc: &Value) -> Editor {
    Editor {
        value: doc.clone(),
        ops: Vec::new(),
        created: Created::default(),
    }
}

/// Events that carry a telemhq handler in this file.
pub fn installed_events(doc: &Value) -> Vec<String> {
    let e = editor(doc);
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
    tool_activity: ToolActivity,
    previously_created: &Created,
) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut e = editor(doc);
    let want_tools = match tool_activity {
        ToolActivity::On => true,
        ToolActivity::Off => false,
        ToolActivity::Keep => TOOL_EVENTS.iter().any(|t| !e.own(t).is_empty()),
    };
    for event in TURN_EVENTS {
        e.install_event(event);
    }
    for event in TOOL_EVENTS {
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
pub fn plan_uninstall(doc: &Value, created: &Created) -> Result<Plan, ShapeError> {
    check_shape(doc)?;
    let mut e = editor(doc);
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

    #[test]
    fn a_new_file_gets_the_version_and_one_handler_per_event() {
        let plan = plan_install(&json!({}), ToolActivity::On, &Created::default()).unwrap();
        assert_eq!(plan.new["version"], 1);
        for event in TURN_EVENTS.iter().chain(TOOL_EVENTS.iter()) {
            let handlers = plan.new["hooks"][event].as_array().unwrap();
            assert_eq!(handlers.len(), 1, "{event}");
            assert_eq!(handlers[0]["timeoutSec"], 5);
            let bash = handlers[0]["bash"].as_str().unwrap();
            assert!(bash.ends_with(&format!("--agent copilot --event {event} || true")));
        }
        let again = plan_install(&plan.new, ToolActivity::Keep, &plan.created).unwrap();
        assert!(again.changes_nothing(), "{:?}", again.ops);
        let back = plan_uninstall(&plan.new, &plan.created).unwrap();
        assert!(holds_nothing(&back.new), "{}", back.new);
    }

    #[test]
    fn a_handler_added_by_hand_stays_and_a_stale_one_is_replaced() {
        let users = json!({"type": "command", "bash": "./log-stop.sh", "timeoutSec": 3});
        let stale = json!({"type": "command", "bash": command("agentStop"), "timeoutSec": 99});
        let doc = json!({"version": 1, "hooks": {"agentStop": [users.clone(), stale]}});
        let plan = plan_install(&doc, ToolActivity::Off, &Created::default()).unwrap();
        assert_eq!(plan.new["hooks"]["agentStop"][0], users);
        assert_eq!(plan.new["hooks"]["agentStop"][1]["timeoutSec"], 5);
        let back = plan_uninstall(&plan.new, &plan.created).unwrap();
        assert_eq!(
            back.new,
            json!({"version": 1, "hooks": {"agentStop": [users]}})
        );
    }

    #[test]
    fn turning_tool_activity_off_removes_what_it_added() {
        let on = plan_install(&json!({}), ToolActivity::On, &Created::default()).unwrap();
        let off = plan_install(&on.new, ToolActivity::Off, &on.created).unwrap();
        assert_eq!(installed_events(&off.new), ["agentStop"]);
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
            let err = plan_install(&doc, ToolActivity::Keep, &Created::default()).unwrap_err();
            assert_eq!(err.path, path, "{doc}");
        }
    }
}
