//! End to end with the real Copilot CLI (1.0.102, from npm via tests/e2e/agent-cli.sh)
//! against the project's own Chat Completions mock on loopback (a custom provider: no
//! GitHub sign-in): install beside the user's own hook file, a headless turn with a
//! tool call, the pings, uninstall.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::json;

use crate::support::mock_models::MockModels;
use crate::support::mock_responses;
use crate::support::{Mode, Receiver, TestHome, events, npm_agent};

pub(crate) struct Copilot {
    bin: PathBuf,
    api: MockModels,
}

impl Copilot {
    pub(crate) fn new() -> Option<Copilot> {
        Some(Copilot {
            bin: npm_agent("copilot")?,
            api: MockModels::start(),
        })
    }

    /// The user's own Copilot CLI files: settings, and a hook file of their own.
    pub(crate) fn user_files(&self, t: &TestHome) -> Vec<(PathBuf, String)> {
        let files = vec![
            (
                t.home.join(".copilot/settings.json"),
                "{\n  // mine\n  \"theme\": \"dark\"\n}\n".to_string(),
            ),
            (
                t.home.join(".copilot/hooks/mine.json"),
                json!({"version": 1, "hooks": {"sessionEnd": [{"type": "command", "bash": "true"}]}})
                    .to_string(),
            ),
        ];
        for (path, text) in &files {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        files
    }

    /// One headless turn, as a user runs it, without the user's PATH. The CLI unpacks
    /// itself once into a cache shared by the tests.
    pub(crate) fn turn(&self, t: &TestHome, prompt: &str) -> Output {
        let cache = self
            .bin
            .ancestors()
            .nth(3)
            .unwrap()
            .join("copilot-home-cache");
        let out = t
            .agent_cmd(&self.bin)
            .args(["-p", prompt, "--allow-all-tools", "-s"])
            .env("COPILOT_OFFLINE", "true")
            .env(
                "COPILOT_PROVIDER_BASE_URL",
                format!("{}/v1", self.api.base_url()),
            )
            .env("COPILOT_PROVIDER_API_KEY", "not-a-real-key")
            .env("COPILOT_MODEL", "gpt-4.1")
            .env("COPILOT_AUTO_UPDATE", "false")
            .env("COPILOT_CACHE_HOME", cache)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "copilot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "MOCK DONE");
        out
    }

    /// Trusts the repository, so that Copilot CLI loads its hook files.
    pub(crate) fn trust(&self, t: &TestHome) {
        let config = t.home.join(".copilot/config.json");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        let repo = std::fs::canonicalize(&t.repo).unwrap();
        std::fs::write(&config, json!({"trusted_folders": [repo]}).to_string()).unwrap();
    }
}

#[test]
fn copilot_turns_ping_with_the_mocks_usage_and_uninstall_leaves_the_users_files() {
    let Some(c) = Copilot::new() else { return };
    let t = TestHome::new();
    let files = c.user_files(&t);
    let r = Receiver::start(Mode::Ok);
    let out = t.install(&[
        "--global",
        "--agent",
        "copilot",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let canary = "CANARY_copilot_7a3f";
    c.turn(&t, &format!("run echo please {canary}"));
    let pings = r.wait_for(2, Duration::from_secs(30));
    t.wait_sender_idle(None);
    let mut names = events(&pings);
    names.sort();
    assert_eq!(names, ["agentStop", "postToolUse"], "{pings:#?}");
    let end = pings.iter().find(|p| p["event"] == "agentStop").unwrap();
    assert_eq!(end["provider"], "github");
    assert_eq!(end["tool"], "copilot-cli");
    assert_eq!(end["status"], "success");
    assert_eq!(end["stop_reason"], "end_turn");
    assert_eq!(end["model"], "gpt-4.1");
    let calls = 2; // the tool call, then the answer
    assert_eq!(end["api_calls"], calls);
    assert_eq!(
        end["usage"],
        mock_responses::expected_usage(calls, mock_responses::Reported::OpenAi)
    );
    assert_eq!(end["tool_calls"], json!({"bash": 1}));
    assert_eq!(end["copilot_version"], "1.0.102");
    let tool = pings.iter().find(|p| p["event"] == "postToolUse").unwrap();
    assert_eq!(
        (&tool["tool_name"], &tool["status"]),
        (&json!("bash"), &json!("success"))
    );
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    for never in [canary, "mock-tool-ran", "MOCK DONE", "textResultForLlm"] {
        assert!(!raw.contains(never), "{never} was sent");
    }
    let out = t.run(&["uninstall", "--global", "--agent", "copilot"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert!(!t.home.join(".copilot/hooks/telemhq.json").exists());
    for (path, text) in files {
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "{}",
            path.display()
        );
    }
}

#[test]
fn copilot_with_user_and_repository_hooks_pings_once_per_event() {
    let Some(c) = Copilot::new() else { return };
    let t = TestHome::new();
    c.trust(&t);
    let r = Receiver::start(Mode::Ok);
    for scope in ["--global", "--repo"] {
        let out = t.install(&[scope, "--agent", "copilot", "--ping-url", &r.url()]);
        assert!(out.status.success(), "{}", crate::support::stderr(&out));
    }
    assert!(t.repo.join(".github/hooks/telemhq.json").exists());
    c.turn(&t, "run echo please");
    r.wait_for(1, Duration::from_secs(30));
    t.wait_sender_idle(None);
    // Copilot CLI ran the hook from both files; one ping went out.
    assert_eq!(events(&r.delivered()), ["agentStop"]);
}
