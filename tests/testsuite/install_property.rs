//! Property: any settings document survives install then uninstall byte for byte, and
//! installing twice equals installing once. Runs the same pure core the commands use.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use telemhq::claude::hooks::{plan_install, plan_uninstall};
use telemhq::hook_groups::{Created, ToolActivity};
use telemhq::jsonfile::{SettingsFile, parse_strict};
use telemhq::settings_change::render;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec(("\\PC{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Hooks a user might have: other commands, in the same events telemhq uses and others.
fn user_hooks() -> impl Strategy<Value = Value> {
    let events = prop::sample::select(vec![
        "Stop",
        "StopFailure",
        "PostToolUse",
        "PreToolUse",
        "SessionStart",
    ]);
    prop::collection::vec(
        (events, "[a-z ]{1,10}", prop::option::of("[A-Za-z|*]{1,6}")),
        0..4,
    )
    .prop_map(|items| {
        let mut hooks = Map::new();
        for (event, command, matcher) in items {
            let mut group = json!({"hooks": [{"type": "command", "command": command}]});
            if let Some(m) = matcher {
                group["matcher"] = json!(m);
            }
            hooks
                .entry(event.to_string())
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap()
                .push(group);
        }
        Value::Object(hooks)
    })
}

fn document() -> impl Strategy<Value = (String, Value)> {
    (
        prop::collection::vec(("[a-zA-Zé日本_]{1,8}", value()), 0..5),
        prop::option::of(user_hooks()),
        0..3usize,
        any::<bool>(),
        prop::sample::select(vec!["", " ", "\n", "\n    "]),
    )
        .prop_map(|(members, hooks, indent, trailing_newline, blank)| {
            let mut doc: Map<String, Value> =
                members.into_iter().filter(|(k, _)| k != "hooks").collect();
            if let Some(h) = hooks {
                doc.insert("hooks".into(), h);
            }
            let doc = Value::Object(doc);
            let mut text = if indent == 3 {
                serde_json::to_string(&doc).unwrap() // all on one line
            } else {
                let indent = ["  ", "    ", "\t"][indent];
                let mut buf = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
                let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
                serde::Serialize::serialize(&doc, &mut ser).unwrap();
                String::from_utf8(buf).unwrap()
            };
            if trailing_newline {
                text.push('\n');
            }
            // Empty containers as people leave them: `{ }`, `[\n    ]`.
            // (A "{}" inside a string would get a raw newline: keep such documents as they are.)
            let spaced = text
                .replace("{}", &format!("{{{blank}}}"))
                .replace("[]", &format!("[{blank}]"));
            let text = if parse_strict(&spaced).is_ok() {
                spaced
            } else {
                text
            };
            (text, doc)
        })
}

fn file(text: &str) -> SettingsFile {
    SettingsFile {
        text: Some(text.to_string()),
        value: parse_strict(text).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn install_then_uninstall_gives_back_the_same_bytes((text, _doc) in document(), tools in any::<bool>()) {
        let activity = if tools { ToolActivity::On } else { ToolActivity::Keep };
        let plan = plan_install(&parse_strict(&text).unwrap(), activity, &Created::default()).unwrap();
        let mut blank_inner = Default::default();
        let installed = render(&file(&text), &plan, &mut blank_inner, true).unwrap();
        prop_assert_ne!(&installed, &text);

        // Installing again changes nothing.
        let again = plan_install(&parse_strict(&installed).unwrap(), ToolActivity::Keep, &plan.created).unwrap();
        prop_assert!(again.ops.is_empty(), "second install planned {:?}", again.ops);

        let undo = plan_uninstall(&parse_strict(&installed).unwrap(), &plan.created).unwrap();
        let restored = render(&file(&installed), &undo, &mut blank_inner, false).unwrap();
        prop_assert_eq!(restored, text);
    }
}
