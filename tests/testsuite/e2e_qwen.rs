//! End to end with the real Qwen Code (0.24.4, from npm via tests/e2e/agent-cli.sh)
//! against the project's own Chat Completions mock on loopback: install beside the user's
//! own settings, a headless turn with a tool call and a canary in the prompt, the pings
//! with the mock's exact usage, uninstall byte for byte.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_models::MockModels;
use crate::support::mock_responses;
use crate::support::{Mode, Receiver, TestHome, events, npm_agent, stderr};

/// The user's own Qwen Code settings, in their own layout, pointing at the mock (as a
/// user's point at their provider), with a Stop hook of their own. (`$version` is what
/// Qwen Code adds on its first run to a file without it.)
fn user_settings(api: &MockModels) -> String {
    format!(
        r#"{{
  "$version": 4,
  "security": {{
    "auth": {{ "selectedType": "openai", "baseUrl": "{}/v1" }}
  }},
  "model": {{ "name": "mock-model" }},
  "hooks": {{
    "Stop": [ {{ "hooks": [ {{ "type": "command", "command": "true", "timeout": 3 }} ] }} ]
  }}
}}
"#,
        api.base_url()
    )
}

struct Qwen {
    bin: PathBuf,
    api: MockModels,
}

impl Qwen {
    fn new() -> Option<Qwen> {
        Some(Qwen {
            bin: npm_agent("qwen")?,
            api: MockModels::start(),
        })
    }

    fn turn(&self, t: &TestHome, prompt: &str) -> Output {
        let out = t
            .agent_cmd(&self.bin)
            .args(["--yolo", "-o", "json", prompt])
            .env("OPENAI_API_KEY", "not-a-real-key")
            .env("QWEN_CODE_SUPPRESS_YOLO_WARNING", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "qwen failed: {}", stderr(&out));
        out
    }
}

#[test]
fn qwen_turns_ping_with_the_mocks_usage_and_uninstall_gives_back_the_settings() {
    let Some(q) = Qwen::new() else { return };
    let t = TestHome::new();
    let settings = t.home.join(".qwen/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let user = user_settings(&q.api);
    std::fs::write(&settings, &user).unwrap();
    let r = Receiver::start(Mode::Ok);
    let out = t.install(&[
        "--global",
        "--agent",
        "qwen",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    assert!(stderr(&out).contains("in Qwen Code"), "{}", stderr(&out));
    let installed = std::fs::read_to_string(&settings).unwrap();
    assert!(installed.contains("emit --agent qwen"), "{installed}");
    assert!(
        installed.contains(r#""command": "true""#),
        "the user's own Stop hook stays: {installed}"
    );

    let canary = "CANARY_qwen_4be1";
    let out = q.turn(&t, &format!("run echo for me {canary}"));
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("MOCK DONE"), "{answer}");
    r.wait_for(2, Duration::from_secs(30));
    t.wait_sender_idle(None);
    let pings: Vec<Value> = r.delivered();
    let mut names = events(&pings);
    names.sort();
    assert_eq!(names, ["PostToolUse", "Stop"], "{pings:#?}");
    let end = pings.iter().find(|p| p["event"] == "Stop").unwrap();
    assert_eq!(end["provider"], "qwen");
    assert_eq!(end["tool"], "qwen-code");
    assert_eq!(end["status"], "success");
    assert_eq!(end["model"], "mock-model");
    let calls = 2; // the tool call, then the answer
    assert_eq!(end["api_calls"], calls, "{end:#}");
    assert_eq!(
        end["usage"],
        mock_responses::expected_usage(calls, mock_responses::Reported::OpenAi),
        "{end:#}"
    );
    assert_eq!(end["tool_calls"], json!({"run_shell_command": 1}));
    let tool = pings.iter().find(|p| p["event"] == "PostToolUse").unwrap();
    assert_eq!(tool["tool_name"], "run_shell_command");
    assert_eq!(tool["tool"], "qwen-code");
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    for never in [canary, "mock-tool-ran", "MOCK DONE"] {
        assert!(!raw.contains(never), "{never} was sent");
    }
    // Doctor for a Qwen Code user.
    let out = t.run(&["doctor", "--json"]);
    let doctor: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "qwen.global")
        .cloned()
        .unwrap_or_else(|| panic!("{doctor:#}"));
    assert_eq!(check["status"], "ok", "{check:#}");

    let out = t.run(&["uninstall", "--global", "--agent", "qwen"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), user);
}
