//! All four agents installed side by side in one HOME with `install --agent all`, each
//! real CLI running a turn against its mock: each turn pings once, under its own `tool`.

use std::time::Duration;

use crate::e2e_copilot::Copilot;
use crate::e2e_gemini::Gemini;
use crate::support::mock_api::MockApi;
use crate::support::mock_responses::MockResponses;
use crate::support::{Mode, Receiver, TestHome, stderr};

#[test]
fn four_agents_side_by_side_each_turn_pings_once_under_its_own_tool() {
    let (Some(claude), Some(codex), Some(gemini), Some(copilot)) = (
        crate::e2e_claude_code::claude_bin(),
        crate::e2e_codex::codex_bin(),
        Gemini::new(),
        Copilot::new(),
    ) else {
        return;
    };
    let t = TestHome::new();
    let responses = MockResponses::start();
    // Claude Code's own folder, as it leaves it (telemhq's `hooks/` alone does not count).
    t.write_global("{}\n");
    let codex_config = t.home.join(".codex/config.toml");
    std::fs::create_dir_all(codex_config.parent().unwrap()).unwrap();
    std::fs::write(&codex_config, crate::e2e_codex::user_config(&responses)).unwrap();
    gemini.user_settings(&t);
    copilot.user_files(&t);
    let r = Receiver::start(Mode::Ok);
    let out = t.install(&["--global", "--agent", "all", "--ping-url", &r.url()]);
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    for name in ["Claude Code", "Codex CLI", "Gemini CLI", "Copilot CLI"] {
        assert!(
            said.contains(name),
            "install said which agents it found: {said}"
        );
    }

    let anthropic = MockApi::start();
    let out = t
        .agent_cmd(&claude)
        .args(["-p", "hello"])
        .env("ANTHROPIC_BASE_URL", anthropic.base_url())
        .env("ANTHROPIC_API_KEY", "sk-ant-e2e-not-a-real-key")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t
        .agent_cmd(&codex)
        .args(["exec", "--skip-git-repo-check", "--json", "hello"])
        .env("MOCK_API_KEY", "not-a-real-key")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    gemini.turn(&t, "hello");
    copilot.turn(&t, "hello");

    r.wait_for(4, Duration::from_secs(30));
    t.wait_sender_idle(None);
    let mut seen: Vec<String> = r
        .delivered()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["tool"].as_str().unwrap(),
                p["event"].as_str().unwrap()
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "claude-code Stop",
            "codex Stop",
            "copilot-cli agentStop",
            "gemini-cli AfterAgent"
        ]
    );
}
