//! End to end with the real Codex CLI (0.169.0, from npm via tests/e2e/agent-cli.sh) against
//! the mock Responses API on loopback, *without* `--dangerously-bypass-hook-trust`: the
//! hooks run only because install trusted them. Where Codex cannot be installed a local
//! run skips loudly; with CI=true that is a failure.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;

use crate::support::mock_responses::{self, MockResponses};
use crate::support::{Mode, Receiver, TestHome, events};

pub(crate) fn codex_bin() -> Option<PathBuf> {
    crate::support::npm_agent("codex")
}

/// The user's own Codex config, comments and all.
pub(crate) fn user_config(api: &MockResponses) -> String {
    format!(
        "# my Codex settings\nmodel = \"mock-model\"   # the loopback mock\nmodel_provider = \"mock\"\n\n{}",
        api.provider_toml()
    )
}

struct World {
    t: TestHome,
    api: MockResponses,
    bin: PathBuf,
    config: PathBuf,
    original: String,
}

impl World {
    fn new() -> Option<World> {
        let bin = codex_bin()?;
        let t = TestHome::new();
        let api = MockResponses::start();
        let config = t.home.join(".codex/config.toml");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        let original = user_config(&api);
        std::fs::write(&config, &original).unwrap();
        Some(World {
            t,
            api,
            bin,
            config,
            original,
        })
    }

    /// One headless Codex turn, as a user runs it, without the user's PATH.
    fn turn(&self, prompt: &str) -> Output {
        let _ = &self.api;
        let out = Command::new(&self.bin)
            .args(["exec", "--skip-git-repo-check", "--json", prompt])
            .current_dir(&self.t.repo)
            .env_clear()
            .env("HOME", &self.t.home)
            .env("PATH", "/usr/bin:/bin:/usr/local/bin")
            .env("MOCK_API_KEY", "not-a-real-key")
            .env("TELEMHQ_RETRY_BASE_MS", "100")
            .env("TELEMHQ_TRANSCRIPT_SETTLE_MS", "200")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "codex failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

#[test]
fn codex_turns_ping_with_the_mocks_usage_and_uninstall_gives_back_the_config() {
    let Some(w) = World::new() else { return };
    let r = Receiver::start(Mode::Ok);
    w.t.install(&[
        "--global",
        "--agent",
        "codex",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    let canary = "CANARY_codex_91d2";
    w.turn(&format!("run echo please {canary}"));
    let pings = r.wait_for(2, Duration::from_secs(30));
    w.t.wait_sender_idle(None);
    assert_eq!(events(&pings), ["PostToolUse", "Stop"], "{pings:#?}");
    let stop = pings.iter().find(|p| p["event"] == "Stop").unwrap();
    assert_eq!(stop["provider"], "openai");
    assert_eq!(stop["tool"], "codex");
    assert_eq!(stop["model"], "mock-model");
    let calls = 2; // the tool call, then the answer
    assert_eq!(stop["api_calls"], calls);
    assert_eq!(stop["usage"], mock_responses::expected_usage(calls, true));
    assert_eq!(stop["tool_calls"], json!({"Bash": 1}));
    assert_eq!(stop["codex_version"], "0.169.0");
    let tool = pings.iter().find(|p| p["event"] == "PostToolUse").unwrap();
    assert_eq!(tool["tool_name"], "Bash");
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    for never in [canary, "mock-tool-ran", "MOCK DONE"] {
        assert!(!raw.contains(never), "{never} was sent");
    }
    let out = w.t.run(&["uninstall", "--global", "--agent", "codex"]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&w.config).unwrap(), w.original);
}

#[test]
fn a_hand_edited_hook_is_untrusted_and_codex_does_not_run_it() {
    let Some(w) = World::new() else { return };
    let r = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--agent", "codex", "--ping-url", &r.url()]);
    let text = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(&w.config, text.replace("timeout = 10", "timeout = 11")).unwrap();
    w.turn("run echo please");
    // The hook would have queued its event before Codex returned.
    let queued = std::fs::read_dir(w.t.state_dir().join("queue")).map_or(0, |d| d.count());
    assert_eq!(queued, 0, "Codex ran an untrusted hook");
    assert!(r.pings().is_empty(), "Codex ran an untrusted hook");
}
