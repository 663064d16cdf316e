//! End to end with the real Claude Code: `telemhq install` into a temporary HOME, real
//! `claude -p` turns against a mock Anthropic API on loopback, and a loopback ping
//! receiver that records, fails or hangs. Claude Code comes from the npm registry
//! (tests/e2e/claude-code.sh, pinned). Where it cannot be installed a local run skips
//! these tests with a loud message; with CI=true that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::mock_api::{self, MockApi};
use crate::support::{Mode, Receiver, TestHome, events, free_port};
use serde_json::{Value, json};

pub(crate) fn claude_bin() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("TELEMHQ_CLAUDE_BIN") {
            return Some(PathBuf::from(path));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/claude-code.sh");
        let out = Command::new("bash").arg(script).output();
        match out {
            Ok(o) if o.status.success() => {
                Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            }
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                crate::support::cannot_run(
                    "the end-to-end tests with the real Claude Code",
                    &why,
                    "tests/e2e/claude-code.sh installs it (it needs npm and the npm registry)",
                )
            }
        }
    })
    .clone()
}

/// A temporary HOME with a real git repository, the mock API and a receiver.
struct World {
    t: TestHome,
    api: MockApi,
    bin: PathBuf,
}

impl World {
    fn new() -> Option<World> {
        let bin = claude_bin()?;
        let t = TestHome::new();
        std::fs::remove_dir_all(t.repo.join(".git")).unwrap();
        let ok = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&t.repo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git init");
        Some(World {
            t,
            api: MockApi::start(),
            bin,
        })
    }

    /// One headless turn, as a user runs it, without the user's PATH.
    fn turn(&self, prompt: &str) -> Output {
        self.turn_in(prompt, Runner::Plain)
    }

    /// One headless turn, run as `runner` says.
    fn turn_in(&self, prompt: &str, runner: Runner) -> Output {
        let before = transcripts(&self.t.home);
        let claude = [
            self.bin.as_os_str(),
            "-p".as_ref(),
            prompt.as_ref(),
            "--allowedTools".as_ref(),
            "Bash Write".as_ref(),
        ];
        let mut argv: Vec<&std::ffi::OsStr> = Vec::new();
        if runner != Runner::Plain {
            // A container: every process ends when the first one does.
            argv.extend(["unshare", "--pid", "--fork", "--kill-child"].map(std::ffi::OsStr::new));
        }
        if runner == Runner::Wrapped {
            argv.extend([crate::support::BIN, "run", "--"].map(std::ffi::OsStr::new));
        }
        argv.extend(claude);
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        let out = cmd
            .current_dir(&self.t.repo)
            .env_clear()
            .env("HOME", &self.t.home)
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("ANTHROPIC_BASE_URL", self.api.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-e2e-not-a-real-key")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("TELEMHQ_RETRY_BASE_MS", "100")
            .env("TELEMHQ_RETRY_MAX_MS", "500")
            .env("TELEMHQ_SENDER_LIFETIME_MS", "60000")
            .envs(runner_env(runner))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let new: Vec<PathBuf> = transcripts(&self.t.home)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        let report = durations_in(&new);
        println!(
            "turn {prompt:?}: exit {:?}; Stop hook duration Claude Code measured (ms): {report:?}",
            out.status.code()
        );
        out
    }
}

/// How a turn is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    /// `claude -p` on this machine.
    Plain,
    /// `claude -p` with `CI=true` in a PID namespace of its own, as in a container whose
    /// every process ends with the job.
    ContainerCi,
    /// `telemhq run -- claude -p` in such a namespace.
    Wrapped,
}

/// Variables a runner adds (`env_clear` drops the ones set before it).
fn runner_env(runner: Runner) -> Vec<(&'static str, &'static str)> {
    match runner {
        Runner::ContainerCi => vec![("CI", "true")],
        _ => Vec::new(),
    }
}

/// Whether PID namespaces can be made here (`unshare`, as root in CI). Where they cannot,
/// the container tests skip loudly, and fail under CI=true.
fn containers() -> bool {
    let ok = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        crate::support::cannot_run(
            "the container test",
            "`unshare --pid --fork --kill-child` cannot run here",
            "it needs util-linux's unshare, and root or unprivileged user namespaces",
        );
    }
    ok
}

/// Every Stop hook duration Claude Code recorded for telemhq's command, from the
/// transcripts' stop_hook_summary lines.
fn hook_durations(home: &Path) -> Vec<u64> {
    durations_in(&transcripts(home))
}

/// The session transcripts under a HOME.
fn transcripts(home: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![home.join(".claude/projects")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn durations_in(files: &[PathBuf]) -> Vec<u64> {
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap_or_default().lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if v["type"] == "system" && v["subtype"] == "stop_hook_summary" {
                for info in v["hookInfos"].as_array().into_iter().flatten() {
                    if info["command"]
                        .as_str()
                        .is_some_and(|c| c.contains("telemhq"))
                    {
                        out.push(info["durationMs"].as_u64().unwrap_or(u64::MAX));
                    }
                }
            }
        }
    }
    out
}

/// Waits for `n` pings, then until the sender is done, so that an extra one is caught.
fn settle(t: &TestHome, receiver: &Receiver, n: usize, within: Duration) -> Vec<Value> {
    receiver.wait_for(n, within);
    t.wait_sender_idle(None);
    receiver.delivered()
}

fn only<'a>(pings: &'a [Value], event: &str) -> &'a Value {
    let matching: Vec<_> = pings.iter().filter(|p| p["event"] == event).collect();
    assert_eq!(matching.len(), 1, "exactly one {event}: {pings:#?}");
    matching[0]
}

fn assert_usage(stop: &Value, api_calls: u64) {
    assert_eq!(stop["api_calls"], api_calls, "{stop:#}");
    assert_eq!(
        stop["usage"],
        json!({
            "input_tokens": mock_api::INPUT_TOKENS * api_calls,
            "output_tokens": mock_api::OUTPUT_TOKENS * api_calls,
            "cache_creation_input_tokens": mock_api::CACHE_CREATION * api_calls,
            "cache_read_input_tokens": mock_api::CACHE_READ * api_calls,
            "reasoning_output_tokens": 0,
        })
    );
    assert!(
        stop["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("claude")),
        "{stop:#}"
    );
    assert!(stop["turn_duration_ms"].as_u64().is_some());
    assert!(stop["claude_code_version"].as_str().is_some());
}

#[test]
fn each_kind_of_turn_sends_its_events_once_with_the_right_fields() {
    let Some(w) = World::new() else { return };
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--tool-activity", "--ping-url", &receiver.url()]);

    let out = w.turn("hello");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pings = settle(&w.t, &receiver, 1, Duration::from_secs(45));
    assert_eq!(events(&pings), ["Stop"]);
    let stop = only(&pings, "Stop");
    assert_eq!(
        (stop["status"].as_str(), stop["project"].as_str()),
        (Some("success"), Some("api"))
    );
    assert_usage(stop, 1);

    w.turn("TOOL:bash go");
    let pings = settle(&w.t, &receiver, 3, Duration::from_secs(45));
    assert_eq!(events(&pings), ["PostToolUse", "Stop", "Stop"]);
    let tool = only(&pings, "PostToolUse");
    assert_eq!(tool["tool_name"], "Bash");
    assert!(tool["duration_ms"].as_u64().is_some());
    let stop = pings.iter().rfind(|p| p["event"] == "Stop").unwrap();
    assert_usage(stop, 2);
    assert_eq!(stop["tool_calls"], json!({"Bash": 1}));

    w.turn("TOOL:write go");
    let pings = settle(&w.t, &receiver, 5, Duration::from_secs(45));
    assert_eq!(
        pings
            .iter()
            .filter(|p| p["event"] == "PostToolUse" && p["tool_name"] == "Write")
            .count(),
        1
    );

    w.turn("TOOL:fail go");
    let pings = settle(&w.t, &receiver, 7, Duration::from_secs(45));
    let failure = only(&pings, "PostToolUseFailure");
    assert_eq!(
        (failure["status"].as_str(), failure["error"].as_str()),
        (Some("failed"), Some("exit_code_2"))
    );

    let out = w.turn("ERROR:400 please");
    assert!(
        !out.status.success(),
        "an API error ends the run with an error"
    );
    let pings = settle(&w.t, &receiver, 8, Duration::from_secs(45));
    if !pings.iter().any(|p| p["event"] == "StopFailure") {
        // What telemhq knows of it, to tell a hook that never ran from one that queued.
        let log = String::from_utf8_lossy(&w.t.run(&["log", "--json"]).stdout).into_owned();
        let queue: Vec<_> = std::fs::read_dir(w.t.state_dir().join("queue"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        eprintln!("no StopFailure ping; queue: {queue:?}; log:\n{log}");
    }
    let stop_failure = only(&pings, "StopFailure");
    assert_eq!(stop_failure["status"], "failed");
    assert!(stop_failure["error"].as_str().is_some());
    assert_eq!(
        pings.iter().filter(|p| p["event"] == "Stop").count(),
        4,
        "no Stop for the API error"
    );

    let ids: std::collections::HashSet<_> = pings
        .iter()
        .map(|p| p["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), pings.len(), "every event once");
    let durations = hook_durations(&w.t.home);
    println!("Stop hook durations, healthy endpoint (ms): {durations:?}");
}

#[test]
fn secrets_in_prompts_tool_input_output_and_errors_are_never_sent() {
    let Some(w) = World::new() else { return };
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--tool-activity", "--ping-url", &receiver.url()]);
    let secret = "SEKRIT4e9a1c";
    for prompt in [
        "hello",
        "TOOL:bash go",
        "TOOL:write go",
        "TOOL:fail go",
        "ERROR:400 now",
    ] {
        w.turn(&format!("{prompt} SECRET:{secret}"));
    }
    let pings = settle(&w.t, &receiver, 8, Duration::from_secs(30));
    assert_eq!(
        events(&pings),
        [
            "PostToolUse",
            "PostToolUse",
            "PostToolUseFailure",
            "Stop",
            "Stop",
            "Stop",
            "Stop",
            "StopFailure"
        ]
    );
    let sent = String::from_utf8_lossy(&receiver.raw.lock().unwrap()).into_owned();
    assert!(!sent.contains(secret), "the secret was sent");
    // The secret really did reach the hooks: it is in the transcript Claude Code wrote.
    let transcripts = std::process::Command::new("grep")
        .args(["-rl", secret])
        .arg(w.t.home.join(".claude/projects"))
        .output()
        .unwrap();
    assert!(
        !transcripts.stdout.is_empty(),
        "the secret was part of the turns"
    );
}

#[test]
fn a_hanging_endpoint_costs_milliseconds_and_every_event_arrives_after_it_recovers() {
    let Some(w) = World::new() else { return };
    let receiver = Receiver::start(Mode::Hang);
    w.t.install(&["--global", "--ping-url", &receiver.url()]);
    for _ in 0..3 {
        w.turn("hello");
    }
    let durations = hook_durations(&w.t.home);
    println!("Stop hook durations while the endpoint hangs (ms): {durations:?}");
    assert_eq!(durations.len(), 3);
    // The seed's hook takes about 10,100 ms per turn here; telemhq does not wait for the network.
    assert!(durations.iter().all(|&d| d < 1000), "{durations:?}");
    receiver.set_mode(Mode::Ok);
    let pings = receiver.wait_for(3, Duration::from_secs(40));
    assert_eq!(events(&pings)[..3], ["Stop", "Stop", "Stop"], "{pings:#?}");
}

#[test]
fn nothing_is_lost_while_the_endpoint_is_down_including_an_api_error() {
    let Some(mut w) = World::new() else { return };
    // The outage lasts as long as four turns take: on a busy machine more than a test
    // sender's usual lifetime (a real one keeps trying for 15 minutes).
    w.t.envs
        .push(("TELEMHQ_SENDER_LIFETIME_MS".into(), "180000".into()));
    let port = free_port();
    w.t.install(&[
        "--global",
        "--tool-activity",
        "--ping-url",
        &format!("http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921"),
    ]);
    w.turn("hello");
    w.turn("TOOL:bash go");
    w.turn("ERROR:400 now");
    w.turn("hello again");
    let receiver = Receiver::start_on(port, Mode::Ok);
    let pings = settle(&w.t, &receiver, 5, Duration::from_secs(60));
    assert_eq!(
        events(&pings),
        ["PostToolUse", "Stop", "Stop", "Stop", "StopFailure"],
        "{pings:#?}"
    );
}

#[test]
fn a_global_plus_a_repo_install_pings_once_per_event() {
    let Some(w) = World::new() else { return };
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--tool-activity", "--ping-url", &receiver.url()]);
    w.t.install(&["--repo", "--tool-activity"]);
    w.turn("TOOL:bash go");
    let pings = settle(&w.t, &receiver, 2, Duration::from_secs(45));
    assert_eq!(events(&pings), ["PostToolUse", "Stop"], "{pings:#?}");
}

#[test]
fn after_uninstall_a_turn_sends_nothing() {
    let Some(w) = World::new() else { return };
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--ping-url", &receiver.url()]);
    w.turn("hello");
    assert_eq!(settle(&w.t, &receiver, 1, Duration::from_secs(45)).len(), 1);
    let out = w.t.run(&["uninstall", "--global"]);
    assert!(out.status.success());
    let queue = w.t.state_dir().join("queue");
    let before = std::fs::read_dir(&queue).map_or(0, |d| d.count());
    w.turn("hello");
    // The hooks ran before `claude -p` returned: anything they queued would be here.
    assert_eq!(std::fs::read_dir(&queue).map_or(0, |d| d.count()), before);
    w.t.wait_sender_idle(None);
    assert_eq!(receiver.delivered().len(), 1, "no ping after uninstall");
}

#[test]
fn in_a_ci_container_plain_claude_loses_no_stop_ping() {
    let Some(w) = World::new() else { return };
    if !containers() {
        return;
    }
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--ping-url", &receiver.url()]);
    for (n, prompt) in ["hello", "TOOL:bash go"].into_iter().enumerate() {
        let out = w.turn_in(prompt, Runner::ContainerCi);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The container is gone with every process in it: what arrived, emit delivered.
        assert_eq!(receiver.delivered().len(), n + 1, "turn {prompt:?}");
    }
    let pings = receiver.delivered();
    assert_eq!(events(&pings), ["Stop", "Stop"]);
    for p in &pings {
        assert!(
            p["api_calls"].as_u64().unwrap() >= 1,
            "usage is there: {p:#}"
        );
        assert!(p["usage"]["output_tokens"].as_u64().unwrap() > 0, "{p:#}");
    }
    let tool_turn = pings.iter().find(|p| p["tool_calls"]["Bash"] == 1);
    assert!(
        tool_turn.is_some(),
        "the tool turn's whole usage: {pings:#?}"
    );
}

#[test]
fn wrapped_in_telemhq_run_every_turn_and_the_run_ping_arrive() {
    let Some(w) = World::new() else { return };
    if !containers() {
        return;
    }
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--ping-url", &receiver.url()]);
    let canary = "CANARY_run_5e1d";
    let out = w.turn_in(&format!("TOOL:bash go SECRET:{canary}"), Runner::Wrapped);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pings = receiver.delivered();
    assert_eq!(events(&pings), ["Run", "Stop"], "{pings:#?}");
    let stop = only(&pings, "Stop");
    let run = only(&pings, "Run");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["status"], "success");
    assert_eq!(run["command"], "claude");
    assert_eq!(run["turns"], 1);
    assert_eq!(run["run_id"], stop["run_id"]);
    assert_eq!(run["usage"], stop["usage"]);
    assert_eq!(run["tool_calls"], json!({"Bash": 1}));
    let raw = String::from_utf8_lossy(&receiver.raw.lock().unwrap()).into_owned();
    assert!(!raw.contains(canary), "the prompt's canary was sent");
    for dir in ["queue", "sent", "failed"] {
        for f in std::fs::read_dir(w.t.state_dir().join(dir))
            .into_iter()
            .flatten()
        {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap_or_default();
            assert!(!text.contains(canary), "the canary is in telemhq's queue");
        }
    }
}

#[test]
fn wrapped_a_failing_turn_gives_stopfailure_and_a_failed_run() {
    let Some(w) = World::new() else { return };
    if !containers() {
        return;
    }
    let receiver = Receiver::start(Mode::Ok);
    w.t.install(&["--global", "--ping-url", &receiver.url()]);
    let out = w.turn_in("ERROR:400 now", Runner::Wrapped);
    assert_eq!(out.status.code(), Some(1));
    let pings = receiver.delivered();
    assert_eq!(events(&pings), ["Run", "StopFailure"], "{pings:#?}");
    let run = only(&pings, "Run");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["exit_code"], 1);
}
