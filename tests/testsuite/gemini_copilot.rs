//! Gemini CLI and Copilot CLI: their hook events as metadata-only pings (payloads and
//! session files captured from Gemini CLI 0.61.0 and Copilot CLI 1.0.102), install and
//! uninstall of their hook files, `--agent all`, doctor; and Cursor's events.

use serde_json::{Value, json};

use crate::support::{Mode, Receiver, TestHome, data, stderr};

/// A captured payload, pointed at its captured session file.
fn event(agent_dir: &str, name: &str, session_file: &str) -> String {
    let dir = data(agent_dir);
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
    let path = json!(dir.join(session_file).display().to_string());
    match event.get("transcriptPath") {
        Some(_) => event["transcriptPath"] = path,
        None => event["transcript_path"] = path,
    }
    event.to_string()
}

fn gemini(name: &str) -> String {
    event("gemini-cli-0.61.0", name, "session-chat.jsonl")
}

fn copilot(name: &str) -> String {
    event("copilot-cli-1.0.102", name, "events.jsonl")
}

fn print(t: &TestHome, args: &[&str], event: &str) -> Value {
    let mut all = vec!["emit", "--print"];
    all.extend(args);
    let out = t.run_with_stdin(&all, event.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn gemini_pings_never_carry_the_prompt_or_the_answer() {
    let t = TestHome::new();
    let p = print(&t, &["--agent", "gemini"], &gemini("AfterAgent.json"));
    assert_eq!(
        (&p["provider"], &p["tool"]),
        (&json!("google"), &json!("gemini-cli"))
    );
    assert_eq!(p["event"], "AfterAgent");
    assert_eq!(p["session_id"], "38eea033-0a5f-4082-90ee-57b3c9c45d57");
    assert_eq!(p["model"], "gemini-2.5-flash");
    assert_eq!(p["api_calls"], 2);
    assert_eq!(p["usage"]["input_tokens"], 232, "246 less the 14 cached");
    assert_eq!(p["usage"]["output_tokens"], 96, "90 and the 6 thoughts");
    let text = p.to_string();
    for never in ["SECRETWORD", "MOCK DONE", "prompt", "/tmp/cap"] {
        assert!(!text.contains(never), "{never} was sent: {text}");
    }
    let p = print(&t, &["--agent", "gemini"], &gemini("AfterTool-exit3.json"));
    assert_eq!(p["tool_name"], "run_shell_command");
    let text = p.to_string();
    assert!(
        !text.contains("SECRETDIR") && !text.contains("Exit Code"),
        "{text}"
    );
}

#[test]
fn a_gemini_tool_result_with_an_error_is_a_failed_ping_and_later_fields_are_read() {
    let t = TestHome::new();
    let big = "x".repeat(2_000_000);
    let event = json!({"hook_event_name": "AfterTool",
        "tool_response": {"llmContent": big, "error": {"message": "boom SECRET"}},
        "tool_name": "write_file", "session_id": "s-1"});
    let p = print(&t, &["--agent", "gemini"], &event.to_string());
    assert_eq!(
        (&p["status"], &p["error"]),
        (&json!("failed"), &json!("tool_error"))
    );
    assert_eq!(
        p["tool_name"], "write_file",
        "read after the big tool_response"
    );
    assert!(!p.to_string().contains("SECRET"));
    let ok =
        json!({"hook_event_name": "AfterTool", "tool_response": "plain text", "tool_name": "ls"});
    let p = print(&t, &["--agent", "gemini"], &ok.to_string());
    assert_eq!(
        (&p["status"], &p["tool_name"]),
        (&json!("success"), &json!("ls"))
    );
}

#[test]
fn copilot_pings_take_the_event_from_the_command_and_failures_as_categories() {
    let t = TestHome::new();
    let stop = print(
        &t,
        &["--agent", "copilot", "--event", "agentStop"],
        &copilot("agentStop.json"),
    );
    assert_eq!(
        (&stop["provider"], &stop["tool"]),
        (&json!("github"), &json!("copilot-cli"))
    );
    assert_eq!(stop["event"], "agentStop");
    assert_eq!(stop["stop_reason"], "end_turn");
    assert_eq!(stop["session_id"], "9cc16784-0428-4daa-907f-3851f2cf654c");
    assert!(stop["transcript_path_hash"].is_string());

    let tool = print(
        &t,
        &["--agent", "copilot", "--event", "postToolUse"],
        &copilot("postToolUse.json"),
    );
    assert_eq!(
        (&tool["tool_name"], &tool["status"]),
        (&json!("bash"), &json!("success"))
    );

    let failed = print(
        &t,
        &["--agent", "copilot", "--event", "postToolUseFailure"],
        &copilot("postToolUseFailure.json"),
    );
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "not_found");
    assert_eq!(failed["tool_name"], "view");

    let error = print(
        &t,
        &["--agent", "copilot", "--event", "errorOccurred"],
        &copilot("errorOccurred.json"),
    );
    assert_eq!(
        (&error["status"], &error["error"]),
        (&json!("failed"), &json!("model_call"))
    );
    assert_eq!(error["recoverable"], true);

    for p in [&stop, &tool, &failed, &error] {
        let text = p.to_string();
        for never in [
            "SECRET",
            "mock-tool-ran",
            "mock failure",
            "Path does not exist",
            "stack",
        ] {
            assert!(!text.contains(never), "{never} was sent: {text}");
        }
    }
}

#[test]
fn one_copilot_event_run_from_two_hook_files_is_queued_once() {
    let t = TestHome::new();
    let emit = |payload: &str| {
        let out = t.run_with_stdin(
            &["emit", "--agent", "copilot", "--event", "agentStop"],
            payload.as_bytes(),
        );
        assert!(out.status.success() && out.stdout.is_empty());
    };
    let payload = copilot("agentStop.json");
    emit(&payload);
    emit(&payload);
    let queued = || {
        std::fs::read_dir(t.state_dir().join("queue"))
            .unwrap()
            .count()
    };
    assert_eq!(queued(), 1, "the second run of the same event is dropped");
    let mut later: Value = serde_json::from_str(&payload).unwrap();
    later["timestamp"] = json!(later["timestamp"].as_i64().unwrap() + 1);
    emit(&later.to_string());
    assert_eq!(queued(), 2, "another event (another time) is its own");
}

#[test]
fn a_cursor_event_from_claude_codes_hooks_is_sent_as_cursor() {
    let t = TestHome::new();
    let event = json!({"hook_event_name": "Stop", "conversation_id": "c-123",
        "cursor_version": "2.1.0", "session_id": "c-123",
        "transcript_path": data("claude-code-2.1.328").join("transcript-tool-turn.jsonl")});
    let p = print(&t, &[], &event.to_string());
    assert_eq!(
        (&p["provider"], &p["tool"]),
        (&json!("cursor"), &json!("cursor"))
    );
    assert_eq!(p["cursor_version"], "2.1.0");
    assert!(
        p.get("usage").is_none(),
        "Cursor's transcript is not Claude Code's"
    );
    let claude = print(&t, &[], &crate::support::fixture("Stop.json"));
    assert_eq!(claude["tool"], "claude-code");
}

#[test]
fn gemini_install_creates_and_uninstall_removes_only_what_it_made() {
    let t = TestHome::new();
    let settings = t.home.join(".gemini/settings.json");
    let out = t.run(&[
        "install",
        "--global",
        "--agent",
        "gemini",
        "--tool-activity",
        "--dry-run",
    ]);
    assert!(out.status.success());
    assert!(crate::support::stdout(&out).contains("+++ b/~/.gemini/settings.json"));
    assert!(!settings.exists(), "a dry run writes nothing");
    let out = t.run(&[
        "install",
        "--global",
        "--agent",
        "gemini",
        "--tool-activity",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(doc["hooks"]["AfterAgent"][0]["hooks"][0]["timeout"], 5000);
    assert_eq!(doc["hooks"]["AfterTool"][0]["matcher"], "*");
    let out = t.run(&["uninstall", "--global", "--agent", "gemini"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !t.home.join(".gemini").exists(),
        "the folder install made is gone too"
    );
}

#[test]
fn gemini_and_copilot_files_with_comments_keep_them_and_looser_json_is_refused() {
    let t = TestHome::new();
    let settings = t.home.join(".gemini/settings.json");
    let hooks = t.home.join(".copilot/hooks/telemhq.json");
    for file in [&settings, &hooks] {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    }
    let gemini = "{\n  // my theme\n  \"ui\": {\"theme\": \"GitHub\"}, /* sure */\n  \"hooksConfig\": {\"enabled\": true} // on\n}\n";
    let copilot = "// telemhq's file, with a note of mine\n{\"version\": 1}\n";
    std::fs::write(&settings, gemini).unwrap();
    std::fs::write(&hooks, copilot).unwrap();
    t.install(&["--global", "--agent", "gemini", "--agent", "copilot"]);
    for (file, comments) in [
        (&settings, &["// my theme", "/* sure */", "// on"][..]),
        (&hooks, &["// telemhq's file, with a note of mine"][..]),
    ] {
        let installed = std::fs::read_to_string(file).unwrap();
        assert!(
            installed.contains("hooks/telemhq\\\" emit --agent"),
            "{installed}"
        );
        for c in comments {
            assert_eq!(installed.matches(c).count(), 1, "{c} in {installed}");
        }
    }
    let out = t.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for id in ["gemini.global", "copilot.global"] {
        assert_eq!(
            crate::doctor::check(&report, id)["status"],
            "ok",
            "{report:#}"
        );
    }
    let out = t.run(&[
        "uninstall",
        "--global",
        "--agent",
        "gemini",
        "--agent",
        "copilot",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), gemini);
    assert_eq!(std::fs::read_to_string(&hooks).unwrap(), copilot);

    // What neither agent accepts is refused with its place, and nothing changes.
    let loose = "{\n  \"ui\": {\"theme\": \"GitHub\"},\n}\n";
    std::fs::write(&settings, loose).unwrap();
    let out = t.run(&["install", "--global", "--agent", "gemini"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("settings.json:2:"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("trailing comma"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), loose);
}

#[test]
fn copilot_install_keeps_a_handler_added_by_hand_and_uninstall_removes_its_file() {
    let t = TestHome::new();
    let file = t.home.join(".copilot/hooks/telemhq.json");
    let out = t.run(&["install", "--global", "--agent", "copilot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["version"], 1);
    assert!(
        doc["hooks"]["agentStop"][0]["bash"]
            .as_str()
            .unwrap()
            .contains("--event agentStop")
    );
    let out = t.run(&["uninstall", "--global", "--agent", "copilot"]);
    assert!(out.status.success());
    assert!(
        !t.home.join(".copilot").exists(),
        "file and folders install made are gone"
    );

    // A handler of the user's own in telemhq's file stays, and so does the file.
    t.run(&["install", "--global", "--agent", "copilot"]);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    doc["hooks"]["agentStop"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "command", "bash": "./mine.sh"}));
    std::fs::write(&file, doc.to_string()).unwrap();
    t.run(&["uninstall", "--global", "--agent", "copilot"]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        doc["hooks"]["agentStop"],
        json!([{"type": "command", "bash": "./mine.sh"}])
    );
}

#[test]
fn local_scope_is_a_usage_error_for_agents_without_one() {
    let t = TestHome::new();
    for agent in ["gemini", "copilot", "codex"] {
        let out = t.run(&["install", "--local", "--agent", agent]);
        assert_eq!(out.status.code(), Some(2), "{agent}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--global or --repo"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn install_all_installs_into_the_agents_found_and_says_which() {
    let t = TestHome::new();
    let out = t.run(&["install", "--global", "--agent", "all"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("found none of"), "{}", stderr(&out));

    std::fs::create_dir_all(t.home.join(".gemini")).unwrap();
    std::fs::create_dir_all(t.home.join(".copilot")).unwrap();
    let out = t.run(&["install", "--global", "--agent", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("Found Gemini CLI (~/.gemini), Copilot CLI (~/.copilot)."),
        "{said}"
    );
    assert!(t.home.join(".gemini/settings.json").exists());
    assert!(t.home.join(".copilot/hooks/telemhq.json").exists());
    assert!(!t.global_settings().exists(), "Claude Code was not found");
    assert!(
        !t.home.join(".codex/config.toml").exists(),
        "Codex was not found"
    );

    let out = t.run(&["uninstall", "--global", "--agent", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!t.home.join(".copilot/hooks/telemhq.json").exists());
    assert!(!t.home.join(".gemini/settings.json").exists());
}

#[test]
fn doctor_reports_a_switch_that_turns_the_agents_hooks_off() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&[
        "--global",
        "--agent",
        "gemini",
        "--agent",
        "copilot",
        "--ping-url",
        &r.url(),
    ]);
    let doctor = || {
        let out = t.run(&["doctor", "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"] == "gemini.global" || c["id"] == "copilot.global")
            .map(|c| {
                format!(
                    "{} {}",
                    c["id"].as_str().unwrap(),
                    c["status"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(doctor(), ["gemini.global ok", "copilot.global ok"]);
    std::fs::write(
        t.home.join(".copilot/settings.json"),
        "// mine\n{\"disableAllHooks\": true}\n",
    )
    .unwrap();
    let settings = t.home.join(".gemini/settings.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    doc["hooksConfig"] = json!({"disabled": [telemhq::agents::gemini::HOOK_COMMAND]});
    std::fs::write(&settings, doc.to_string()).unwrap();
    assert_eq!(doctor(), ["gemini.global fail", "copilot.global fail"]);
}

#[test]
fn in_ci_a_copilot_turn_is_delivered_with_its_usage_before_emit_returns() {
    let t = TestHome::new().env("CI", "true");
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--agent", "copilot", "--ping-url", &r.url()]);
    let out = t.run_with_stdin(
        &["emit", "--agent", "copilot", "--event", "agentStop"],
        copilot("agentStop.json").as_bytes(),
    );
    assert!(out.status.success() && out.stdout.is_empty());
    let pings = r.delivered();
    assert_eq!(pings.len(), 1, "delivered before emit returned");
    assert_eq!(pings[0]["api_calls"], 2);
    assert_eq!(pings[0]["copilot_version"], "1.0.102");
}
