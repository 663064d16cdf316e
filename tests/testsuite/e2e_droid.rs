//! End to end with the real Factory Droid (0.225.2, the native binary from npm via
//! tests/e2e/agent-cli.sh) in Airgap Mode with a custom model pointing at the project's
//! own Chat Completions mock on loopback: no account, no network. Install beside the
//! user's own Stop hook (which must keep running), a headless turn with a tool call and a
//! canary in the prompt, the pings with the mock's exact usage, two turns in one session
//! each with its own usage (not the running total), uninstall byte for byte.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mock_models::MockModels;
use crate::support::mock_responses;
use crate::support::{Mode, Receiver, TestHome, events, npm_agent, stderr};

/// The user's own Droid settings: the mock as a custom model, and a Stop hook of theirs.
fn user_settings(api: &MockModels) -> String {
    format!(
        r#"{{
  "customModels": [
    {{
      "model": "mock-model",
      "displayName": "Mock",
      "baseUrl": "{}/v1",
      "apiKey": "${{MOCK_API_KEY}}",
      "provider": "generic-chat-completion-api",
      "maxOutputTokens": 4096
    }}
  ],
  "hooks": {{
    "Stop": [ {{ "hooks": [ {{ "type": "command", "command": "date >> \"$HOME/user-stop.log\"", "timeout": 5 }} ] }} ]
  }}
}}
"#,
        api.base_url()
    )
}

struct Droid {
    bin: PathBuf,
    api: MockModels,
}

impl Droid {
    fn new() -> Option<Droid> {
        Some(Droid {
            bin: npm_agent("droid")?,
            api: MockModels::start(),
        })
    }

    /// `droid exec` with these prompts in one session (one process, stream-json input).
    fn turns(&self, t: &TestHome, prompts: &[&str]) -> Output {
        let mut cmd = t.agent_cmd(&self.bin);
        cmd.args(["exec", "-m", "custom:Mock-0", "--auto", "high"])
            .env("FACTORY_AIRGAP_ENABLED", "true")
            .env("FACTORY_DROID_AUTO_UPDATE_ENABLED", "false")
            .env("MOCK_API_KEY", "not-a-real-key")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = if let [prompt] = prompts {
            cmd.args(["-o", "json", prompt]).output().unwrap()
        } else {
            let mut child = cmd
                .args(["--input-format", "stream-json", "-o", "stream-json"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            for p in prompts {
                writeln!(stdin, "{}", json!({"role": "user", "content": p})).unwrap();
            }
            drop(stdin);
            child.wait_with_output().unwrap()
        };
        assert!(out.status.success(), "droid failed: {}", stderr(&out));
        out
    }
}

fn turn_ends(r: &Receiver) -> Vec<Value> {
    r.delivered()
        .into_iter()
        .filter(|p| p["event"] == "Stop")
        .collect()
}

#[test]
fn droid_turns_ping_with_the_mocks_usage_beside_the_users_own_stop_hook() {
    let Some(d) = Droid::new() else { return };
    let t = TestHome::new();
    let settings = t.home.join(".factory/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let user = user_settings(&d.api);
    std::fs::write(&settings, &user).unwrap();
    let r = Receiver::start(Mode::Ok);
    let out = t.install(&[
        "--global",
        "--agent",
        "droid",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    // The user's Stop hooks are in settings.json: a Stop list in hooks.json would hide
    // them, so telemhq's go beside them.
    assert!(stderr(&out).contains("settings.json"), "{}", stderr(&out));
    assert!(!t.home.join(".factory/hooks.json").exists());

    let canary = "CANARY_droid_61af";
    d.turns(&t, &[&format!("run echo for me {canary}")]);
    r.wait_for(2, Duration::from_secs(30));
    t.wait_sender_idle(None);
    let pings = r.delivered();
    let mut names = events(&pings);
    names.sort();
    assert_eq!(names, ["PostToolUse", "Stop"], "{pings:#?}");
    let end = &turn_ends(&r)[0];
    assert_eq!(end["provider"], "factory");
    assert_eq!(end["tool"], "droid");
    assert_eq!(end["model"], "mock-model", "{end:#}");
    let calls = 2; // the tool call, then the answer
    assert_eq!(end["api_calls"], calls, "{end:#}");
    assert_eq!(
        end["usage"],
        mock_responses::expected_usage(calls, mock_responses::Reported::OpenAi)
            .as_object()
            .map(|u| {
                let mut u = u.clone();
                // Droid keeps no reasoning count apart for this provider.
                u["reasoning_output_tokens"] = json!(0);
                Value::Object(u)
            })
            .unwrap(),
        "{end:#}"
    );
    assert_eq!(end["tool_calls"], json!({"Execute": 1}));
    let tool = pings.iter().find(|p| p["event"] == "PostToolUse").unwrap();
    assert_eq!(tool["tool_name"], "Execute");
    let log = std::fs::read_to_string(t.home.join("user-stop.log")).unwrap_or_default();
    assert_eq!(
        log.lines().count(),
        1,
        "the user's own Stop hook still runs"
    );
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    for never in [canary, "mock-tool-ran", "MOCK DONE"] {
        assert!(!raw.contains(never), "{never} was sent");
    }

    // Two turns in one session: each its own usage, not the running total.
    d.turns(&t, &["run echo for me", "and answer once more"]);
    r.wait_for(5, Duration::from_secs(30));
    t.wait_sender_idle(None);
    let ends = turn_ends(&r);
    assert_eq!(ends.len(), 3, "{ends:#?}");
    assert_eq!(ends[1]["api_calls"], 2, "{:#}", ends[1]);
    assert_eq!(ends[1]["usage"]["output_tokens"], 90, "{:#}", ends[1]);
    assert_eq!(ends[2]["api_calls"], 1, "{:#}", ends[2]);
    assert_eq!(ends[2]["usage"]["output_tokens"], 45, "{:#}", ends[2]);
    assert_eq!(ends[2]["usage"]["input_tokens"], 116, "{:#}", ends[2]);

    let out = t.run(&["uninstall", "--global", "--agent", "droid"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), user);
}
