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
    assert_eq!(
        stop["usage"],
        mock_responses::expected_usage(calls, mock_responses::Reported::OpenAi)
    );
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

/// What Codex itself says of the hooks it would run in `cwd` (`codex app-server`'s
/// `hooks/list`): each hook's command, key and trust status.
fn hooks_list(
    bin: &std::path::Path,
    t: &TestHome,
    cwd: &std::path::Path,
    codex_home: Option<&str>,
) -> Vec<serde_json::Value> {
    use std::io::{BufRead, Write};
    let mut cmd = Command::new(bin);
    cmd.arg("app-server")
        .current_dir(cwd)
        .env_clear()
        .env("HOME", &t.home)
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(dir) = codex_home {
        cmd.env("CODEX_HOME", dir);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let cwd_json = serde_json::to_string(&cwd.display().to_string()).unwrap();
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"telemhq-test","version":"1"}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","method":"initialized"}"#.to_string(),
        format!(r#"{{"jsonrpc":"2.0","id":2,"method":"hooks/list","params":{{"cwds":[{cwd_json}]}}}}"#),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("\"id\":2") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let answer = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let answer: serde_json::Value =
        serde_json::from_str(&answer.expect("hooks/list answered")).unwrap();
    answer["result"]["data"][0]["hooks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn trust_of(hooks: &[serde_json::Value], command_part: &str) -> Vec<(String, String)> {
    hooks
        .iter()
        .filter(|h| h["command"].as_str().unwrap_or("").contains(command_part))
        .map(|h| {
            (
                h["key"].as_str().unwrap_or("").to_string(),
                h["trustStatus"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_repository_install_is_trusted_where_codex_reads_trust_and_its_turns_ping() {
    let Some(w) = World::new() else { return };
    let repo = std::fs::canonicalize(&w.t.repo).unwrap();
    // The user trusted this project in Codex once (as Codex asks on its first run there).
    let with_project = format!(
        "{}\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        w.original,
        repo.display()
    );
    std::fs::write(&w.config, &with_project).unwrap();
    let r = Receiver::start(Mode::Ok);
    w.t.install(&["--repo", "--agent", "codex", "--ping-url", &r.url()]);
    let repo_config = std::fs::read_to_string(repo.join(".codex/config.toml")).unwrap();
    assert!(
        !repo_config.contains(&w.t.home.display().to_string())
            && !repo_config.contains("hooks.state"),
        "no personal path, no trust in the shared file: {repo_config}"
    );
    let hooks = hooks_list(&w.bin, &w.t, &repo, None);
    assert_eq!(
        trust_of(&hooks, "emit --agent codex"),
        [(
            format!("{}/.codex/config.toml:stop:0:0", repo.display()),
            "trusted".to_string()
        )],
        "{hooks:#?}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&w.t.run(&["doctor", "--json"]).stdout).unwrap();
    let check = crate::doctor::check(&report, "codex.repo");
    assert_eq!(check["status"], "ok", "{check:#}");

    w.turn("hello from the repository");
    let pings = r.wait_for(1, Duration::from_secs(30));
    assert_eq!(events(&pings), ["Stop"], "{pings:#?}");
    assert_eq!(pings[0]["tool"], "codex");

    let out = w.t.run(&["uninstall", "--repo", "--agent", "codex"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert!(
        !repo.join(".codex").exists(),
        "the folder install made is gone"
    );
    assert_eq!(std::fs::read_to_string(&w.config).unwrap(), with_project);

    // Without the project's trust, doctor says so (Codex does not load the folder's config).
    std::fs::write(&w.config, &w.original).unwrap();
    w.t.install(&["--repo", "--agent", "codex"]);
    let report: serde_json::Value =
        serde_json::from_slice(&w.t.run(&["doctor", "--json"]).stdout).unwrap();
    let check = crate::doctor::check(&report, "codex.repo");
    assert_eq!(check["status"], "fail", "{check:#}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("project you trust"),
        "{check:#}"
    );
}

#[test]
fn the_users_own_hooks_stay_trusted_through_install_and_uninstall() {
    let Some(w) = World::new() else { return };
    w.t.install(&["--global", "--agent", "codex"]);
    // The user adds a Stop hook of their own after telemhq's, and trusts it in Codex.
    let marker = w.t.dir.path().join("users-hook-ran");
    let mine = format!("touch {}", marker.display());
    let mut text = std::fs::read_to_string(&w.config).unwrap();
    text.push_str(&format!(
        "\n[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = \"command\"\ncommand = \"{mine}\"\n"
    ));
    let hash = telemhq::hookfile::codex_toml::trust_hash("Stop", None, &mine, 600);
    let source = w.config.display().to_string();
    text.push_str(&format!(
        "\n[hooks.state.\"{source}:stop:1:0\"]\ntrusted_hash = \"{hash}\"\n"
    ));
    std::fs::write(&w.config, &text).unwrap();
    let trusted = |w: &World| trust_of(&hooks_list(&w.bin, &w.t, &w.t.repo, None), "touch ");
    assert_eq!(
        trusted(&w),
        [(format!("{source}:stop:1:0"), "trusted".into())]
    );

    // Reinstalling moves nothing of the user's; uninstalling moves their group to index
    // 0, and its trust moves with it.
    w.t.install(&["--global", "--agent", "codex", "--tool-activity"]);
    assert_eq!(
        trusted(&w),
        [(format!("{source}:stop:1:0"), "trusted".into())]
    );
    let out = w.t.run(&["uninstall", "--global", "--agent", "codex"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert_eq!(
        trusted(&w),
        [(format!("{source}:stop:0:0"), "trusted".into())]
    );
    w.turn("hello");
    assert!(
        marker.exists(),
        "Codex ran the user's own hook after uninstall"
    );
}

#[test]
fn a_codex_home_written_with_dot_dot_is_trusted_under_codexs_own_path() {
    let Some(w) = World::new() else { return };
    let odd = format!("{}/projects/../.codex", w.t.home.display());
    let out =
        w.t.cmd(&["install", "--global", "--agent", "codex"])
            .env("CODEX_HOME", &odd)
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let hooks = hooks_list(&w.bin, &w.t, &w.t.repo, Some(&odd));
    let real = std::fs::canonicalize(&w.config).unwrap();
    assert_eq!(
        trust_of(&hooks, "emit --agent codex"),
        [(
            format!("{}:stop:0:0", real.display()),
            "trusted".to_string()
        )],
        "{hooks:#?}"
    );
}
