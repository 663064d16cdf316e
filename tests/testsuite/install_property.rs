//! Property: any settings document survives install then uninstall byte for byte, and
//! installing twice equals installing once, for every agent whose settings have Claude
//! Code's shape (in strict JSON, and with comments where the agent accepts them). Runs
//! the same pure editors the commands use.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use telemhq::hookfile::ToolActivity;
use telemhq::jsonfile::{Dialect, parse_strict};

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

/// Comments where a user might write them: before the document, after its first `{`,
/// and at the end.
fn with_comments(text: &str) -> String {
    let mut out = format!("// my settings\n{}", text.replacen('{', "{ /* kept */", 1));
    out.push_str("\n// the end\n");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn install_then_uninstall_gives_back_the_same_bytes(
        (text, _doc) in document(),
        tools in any::<bool>(),
        agent in prop::sample::select(vec!["claude", "gemini"]),
        comments in any::<bool>(),
    ) {
        let format = telemhq::agents::by_id(agent).unwrap().format();
        let text = if comments && format.dialect() == Some(Dialect::Comments) {
            with_comments(&text)
        } else {
            text
        };
        let activity = if tools { ToolActivity::On } else { ToolActivity::Keep };
        let installed = format.install(Some(&text), None, activity).unwrap();
        let record = installed.record.clone();
        let installed = installed.text.unwrap();
        prop_assert_ne!(&installed, &text);
        for comment in ["my settings", "/* kept */", "the end"] {
            prop_assert_eq!(installed.contains(comment), text.contains(comment));
        }

        // Installing again changes nothing.
        let again = format.install(Some(&installed), record.as_ref(), ToolActivity::Keep).unwrap();
        prop_assert_eq!(again.text.as_deref(), Some(installed.as_str()));

        let restored = format.uninstall(Some(&installed), record.as_ref()).unwrap();
        prop_assert_eq!(restored.text.as_deref(), Some(text.as_str()));
    }
}
