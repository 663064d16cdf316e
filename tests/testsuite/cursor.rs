//! Cursor, from payloads of its documented shape (no Cursor CLI installs without an
//! account): the `stop` payload's own tokens make the turn's usage, and a Cursor event
//! run by both its own hook and Claude Code's (its third-party hooks option) is one ping.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Mode, Receiver, TestHome, data, stderr};

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(data("cursor-documented").join(name)).unwrap()
}

fn emit(t: &TestHome, args: &[&str], body: &[u8]) {
    let mut all = vec!["emit"];
    all.extend_from_slice(args);
    let out = t.run_with_stdin(&all, body);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn turn_ends(r: &Receiver) -> Vec<Value> {
    r.delivered()
        .into_iter()
        .filter(|p| p["event"] == "stop" || p["event"] == "Stop")
        .collect()
}

#[test]
fn a_cursor_turn_is_pinged_once_with_its_own_tokens_whichever_hooks_run_it() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--agent", "cursor", "--ping-url", &r.url()]);
    t.install(&["--global", "--agent", "claude", "--ping-url", &r.url()]);
    // Cursor runs its own stop hook and, with third-party hooks on, Claude Code's Stop.
    emit(
        &t,
        &["--agent", "cursor", "--event", "stop"],
        &payload("stop.json"),
    );
    emit(&t, &[], &payload("Stop-via-claude-hooks.json"));
    assert!(t.run(&["flush", "--wait", "20"]).status.success());
    let pings = turn_ends(&r);
    assert_eq!(pings.len(), 1, "{pings:#?}");
    let p = &pings[0];
    assert_eq!(
        (&p["provider"], &p["tool"]),
        (&json!("cursor"), &json!("cursor"))
    );
    assert_eq!(p["session_id"], "6f1c2b7e-0d4a-4c55-9a8e-2f4b8d1e7a10");
    assert_eq!(p["model"], "claude-4.5-sonnet");
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 20152 - 8704, "output_tokens": 15,
               "cache_read_input_tokens": 8704, "cache_creation_input_tokens": 0,
               "reasoning_output_tokens": 0}),
        "{p:#}"
    );
    assert_eq!(p["api_calls"], 1);
    assert!(p["turn_uid"].is_string(), "{p:#}");

    // Only Claude Code's hooks (no Cursor hook installed): the turn still comes, once.
    let r2 = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--agent", "claude", "--ping-url", &r2.url()]);
    emit(&t, &[], &payload("Stop-via-claude-hooks.json"));
    emit(&t, &[], &payload("Stop-via-claude-hooks.json")); // run again: the same event
    assert!(t.run(&["flush", "--wait", "20"]).status.success());
    r2.wait_for(1, Duration::from_secs(30));
    let pings = turn_ends(&r2);
    assert_eq!(pings.len(), 1, "{pings:#?}");
    assert_eq!(pings[0]["tool"], "cursor");
    assert_eq!(pings[0]["usage"]["output_tokens"], 15);
}

#[test]
fn a_failed_cursor_turn_and_tool() {
    let t = TestHome::new();
    let mut failed: Value = serde_json::from_slice(&payload("stop.json")).unwrap();
    failed["status"] = json!("error");
    let out = t.run_with_stdin(
        &["emit", "--print", "--agent", "cursor", "--event", "stop"],
        failed.to_string().as_bytes(),
    );
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&p["status"], &p["error"]),
        (&json!("failed"), &json!("error"))
    );
    let out = t.run_with_stdin(
        &[
            "emit",
            "--print",
            "--agent",
            "cursor",
            "--event",
            "postToolUseFailure",
        ],
        &payload("postToolUseFailure.json"),
    );
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["status"], "failed", "{p:#}");
    assert_eq!(p["tool_name"], "Shell");
    assert!(!p.to_string().contains("placeholder"), "{p:#}");
}

/// With tool activity, every tool call of a turn is pinged once: the calls share the
/// turn's generation id, and a tool event Cursor runs through both its own hook and
/// Claude Code's is still one ping.
#[test]
fn every_tool_call_of_a_turn_is_pinged_once() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--agent",
        "cursor",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    t.install(&[
        "--global",
        "--agent",
        "claude",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    let call = |n: usize| -> Value {
        let mut p: Value = serde_json::from_slice(&payload("postToolUse.json")).unwrap();
        p["tool_input"] = json!({"command": format!("echo step {n}")});
        p
    };
    for n in 0..5 {
        emit(
            &t,
            &["--agent", "cursor", "--event", "postToolUse"],
            call(n).to_string().as_bytes(),
        );
    }
    // The third call again, as Cursor sends it to Claude Code's hooks.
    let mut via_claude = call(2);
    via_claude["hook_event_name"] = json!("PostToolUse");
    emit(&t, &[], via_claude.to_string().as_bytes());
    assert!(t.run(&["flush", "--wait", "20"]).status.success());
    let tools: Vec<Value> = r
        .delivered()
        .into_iter()
        .filter(|p| {
            p["event"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case("posttooluse"))
        })
        .collect();
    assert_eq!(tools.len(), 5, "{tools:#?}");
    assert!(
        tools
            .iter()
            .all(|p| p["tool"] == "cursor" && p["tool_name"] == "Shell")
    );
    let text = serde_json::to_string(&tools).unwrap();
    assert!(!text.contains("echo step"), "no tool input is sent");
}
