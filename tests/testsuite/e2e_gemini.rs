//! End to end with the real Gemini CLI (0.61.0, from npm via tests/e2e/agent-cli.sh)
//! against the project's own mock of Gemini's API on loopback: install into a HOME with
//! the user's settings, a headless turn with a tool call, the pings, uninstall.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_models::MockModels;
use crate::support::mock_responses;
use crate::support::{Mode, Receiver, TestHome, events, npm_agent};

/// The user's own Gemini CLI settings, in their own layout.
const USER_SETTINGS: &str = r#"{
    "security": {
        "auth": { "selectedType": "gemini-api-key" }
    },
    "ui": { "theme": "GitHub" },
    "hooks": {
        "SessionEnd": [
            { "matcher": "*", "hooks": [ { "type": "command", "command": "true" } ] }
        ]
    }
}
"#;

pub(crate) struct Gemini {
    bin: PathBuf,
    api: MockModels,
}

impl Gemini {
    pub(crate) fn new() -> Option<Gemini> {
        Some(Gemini {
            bin: npm_agent("gemini")?,
            api: MockModels::start(),
        })
    }

    /// Writes the user's settings into `t`'s HOME; returns their path.
    pub(crate) fn user_settings(&self, t: &TestHome) -> PathBuf {
        let path = t.home.join(".gemini/settings.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, USER_SETTINGS).unwrap();
        path
    }

    /// One headless turn, as a user runs it, without the user's PATH.
    pub(crate) fn turn(&self, t: &TestHome, prompt: &str) -> Output {
        let out = t
            .agent_cmd(&self.bin)
            .args(["-p", prompt, "-m", "gemini-2.5-flash"])
            .args(["--output-format", "json", "--approval-mode", "yolo"])
            .env("GEMINI_API_KEY", "not-a-real-key")
            .env("GOOGLE_GEMINI_BASE_URL", self.api.base_url())
            .env("GEMINI_CLI_TRUST_WORKSPACE", "true")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gemini failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A hook that printed anything but JSON would have broken this.
        let answer: Value = serde_json::from_slice(&out.stdout).expect("gemini's JSON output");
        assert_eq!(answer["response"], "MOCK DONE");
        out
    }
}

#[test]
fn gemini_turns_ping_with_the_mocks_usage_and_uninstall_gives_back_the_settings() {
    let Some(g) = Gemini::new() else { return };
    let t = TestHome::new();
    let settings = g.user_settings(&t);
    let r = Receiver::start(Mode::Ok);
    let out = t.install(&[
        "--global",
        "--agent",
        "gemini",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    assert!(
        crate::support::stderr(&out).contains("AfterAgent, AfterTool in Gemini CLI"),
        "{}",
        crate::support::stderr(&out)
    );
    let installed = std::fs::read_to_string(&settings).unwrap();
    assert!(
        installed.starts_with("{\n    \"security\": {"),
        "the user's layout is kept:\n{installed}"
    );
    let canary = "CANARY_gemini_5c1e";
    g.turn(&t, &format!("run echo please {canary}"));
    let pings = r.wait_for(2, Duration::from_secs(30));
    t.wait_sender_idle(None);
    let mut names = events(&pings);
    names.sort();
    assert_eq!(names, ["AfterAgent", "AfterTool"], "{pings:#?}");
    let end = pings.iter().find(|p| p["event"] == "AfterAgent").unwrap();
    assert_eq!(end["provider"], "google");
    assert_eq!(end["tool"], "gemini-cli");
    assert_eq!(end["status"], "success");
    assert_eq!(end["model"], "gemini-2.5-flash");
    let calls = 2; // the tool call, then the answer
    assert_eq!(end["api_calls"], calls);
    assert_eq!(
        end["usage"],
        mock_responses::expected_usage(calls, mock_responses::Reported::Gemini)
    );
    assert_eq!(end["tool_calls"], json!({"run_shell_command": 1}));
    assert!(end["turn_duration_ms"].as_u64().is_some());
    let tool = pings.iter().find(|p| p["event"] == "AfterTool").unwrap();
    assert_eq!(tool["tool_name"], "run_shell_command");
    assert_eq!(tool["tool"], "gemini-cli");
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    for never in [canary, "mock-tool-ran", "MOCK DONE", "prompt_response"] {
        assert!(!raw.contains(never), "{never} was sent");
    }
    let out = t.run(&["uninstall", "--global", "--agent", "gemini"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), USER_SETTINGS);
}
