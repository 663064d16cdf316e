//! `telemhq run`, `flush --wait` and emit in CI: scheduled jobs and CI lose no ping,
//! whatever happens to the runner after the command.

use std::fs;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Mode, Receiver, TestHome, data, events, fixture, free_port, stderr, stdout};

const CANARY: &str = "CANARY_7f3a9e_do_not_send";

/// A stand-in for an agent: a script that runs the hook command as Claude Code would,
/// with a Stop event on stdin for the fixture transcript.
fn fake_agent(t: &TestHome, exit: i32) -> PathBuf {
    let transcript = data("claude-code-2.1.328/transcript-tool-turn.jsonl");
    let mut event: Value =
        serde_json::from_str(&fixture("transcript-tool-turn.stop.json")).unwrap();
    event["transcript_path"] = json!(transcript.display().to_string());
    event["cwd"] = json!(t.repo.display().to_string());
    let event_file = t.dir.path().join("stop.json");
    fs::write(&event_file, event.to_string()).unwrap();
    let script = t.dir.path().join("agent.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\"${{CLAUDE_CONFIG_DIR:-$HOME/.claude}}/hooks/telemhq\" emit < {} || true\nexit {exit}\n",
            event_file.display()
        ),
    )
    .unwrap();
    let mut perms = fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(&script, perms).unwrap();
    script
}

#[test]
fn run_delivers_the_hooks_pings_and_a_run_ping_before_it_exits() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &r.url()]);
    let agent = fake_agent(&t, 0);
    let out = t.run(&["run", "--", agent.to_str().unwrap(), CANARY]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Everything is there when run returns: nothing was left to a detached sender.
    let pings = r.delivered();
    assert_eq!(events(&pings), ["Run", "Stop"], "{pings:#?}");
    let stop = pings.iter().find(|p| p["event"] == "Stop").unwrap();
    let run = pings.iter().find(|p| p["event"] == "Run").unwrap();
    assert_eq!(stop["run_id"], run["run_id"]);
    assert_eq!(stop["api_calls"], 2, "the turn's usage was read: {stop:#}");
    assert_eq!(run["status"], "success");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["command"], "agent.sh");
    assert_eq!(run["turns"], 1);
    assert_eq!(run["api_calls"], 2);
    assert_eq!(run["usage"], stop["usage"]);
    assert_eq!(run["tool_calls"], stop["tool_calls"]);
    for key in ["duration_ms", "event_id", "emitted_at", "telemhq_version"] {
        assert!(run.get(key).is_some(), "{key}: {run:#}");
    }
    // The command's arguments (where prompts go) appear nowhere.
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    assert!(!raw.contains(CANARY));
    assert!(!stderr(&out).contains(CANARY) && !stdout(&out).contains(CANARY));
    for dir in ["queue", "sent", "failed"] {
        for f in fs::read_dir(t.state_dir().join(dir)).into_iter().flatten() {
            let text = fs::read_to_string(f.unwrap().path()).unwrap_or_default();
            assert!(!text.contains(CANARY));
        }
    }
}

#[test]
fn a_failing_command_gives_a_failed_run_ping_and_its_exit_status() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &r.url()]);
    let agent = fake_agent(&t, 3);
    let out = t.run(&["run", "--", agent.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let run = r
        .delivered()
        .into_iter()
        .find(|p| p["event"] == "Run")
        .unwrap();
    assert_eq!(run["status"], "failed");
    assert_eq!(run["exit_code"], 3);
}

#[test]
fn run_works_with_no_hooks_and_a_ping_url_of_its_own() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    let out = t.run(&["run", "--ping-url", &r.url(), "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pings = r.delivered();
    assert_eq!(events(&pings), ["Run"]);
    assert_eq!(pings[0]["turns"], 0);
    assert_eq!(pings[0]["command"], "true");
}

#[test]
fn a_command_that_cannot_start_exits_127_or_126_as_shells_do() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    let out = t.run(&["run", "--ping-url", &r.url(), "--", "/nonexistent/agent"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("cannot run /nonexistent/agent"),
        "{}",
        stderr(&out)
    );
    let not_executable = t.dir.path().join("plain.txt");
    fs::write(&not_executable, "x").unwrap();
    let out = t.run(&[
        "run",
        "--ping-url",
        &r.url(),
        "--",
        not_executable.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(126));
    let runs = r.delivered();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|p| p["status"] == "failed"));
}

#[test]
fn sigterm_reaches_the_command_and_the_exit_status_says_so() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    let marker = t.dir.path().join("got-term");
    let script = format!(
        "trap 'touch {}; exit 143' TERM; sleep 30 >/dev/null 2>&1 & wait",
        marker.display()
    );
    let child = t
        .cmd(&["run", "--ping-url", &r.url(), "--", "sh", "-c", &script])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the shell has set its trap (it catches TERM).
    crate::support::wait_until(Duration::from_secs(20), || {
        crate::support::children(child.id())
            .into_iter()
            .any(|sh| crate::support::catches(sh, 15))
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert!(marker.exists(), "the command got SIGTERM");
    let run = r.delivered().pop().unwrap();
    assert_eq!(run["exit_code"], 143);
    assert_eq!(run["status"], "failed");
}

#[test]
fn a_hanging_endpoint_holds_run_no_longer_than_the_flush_timeout() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Hang);
    let started = Instant::now();
    let out = t.run(&[
        "run",
        "--ping-url",
        &r.url(),
        "--flush-timeout",
        "2",
        "--",
        "true",
    ]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(
        stderr(&out).contains("1 event(s) not delivered to the tracker (timed out)"),
        "{}",
        stderr(&out)
    );
    // Later, the endpoint answers: the run ping goes out.
    r.set_mode(Mode::Ok);
    let out = t.run(&["flush", "--wait", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(events(&r.delivered()), ["Run"]);
}

#[test]
fn an_endpoint_that_is_down_leaves_the_events_queued_and_says_how_many() {
    let t = TestHome::new();
    let url = format!("http://127.0.0.1:{}/ping/tok_9f8e7d6c5b4a3921", free_port());
    t.install(&["--global", "--ping-url", &url]);
    let agent = fake_agent(&t, 0);
    let out = t.run(&["run", "--flush-timeout", "1", "--", agent.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("2 event(s) not delivered")
            && stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn flush_wait_exits_non_zero_with_what_is_still_pending() {
    let t = TestHome::new().env("TELEMHQ_SENDER_LIFETIME_MS", "300");
    let port = free_port();
    t.install(&[
        "--global",
        "--ping-url",
        &format!("http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921"),
    ]);
    let t0 = crate::support::now_ms();
    t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
    t.wait_sender_idle(Some(t0));
    let out = t.run(&["flush", "--wait", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("Still pending: 1"),
        "{}",
        stdout(&out)
    );
    let r = Receiver::start_on(port, Mode::Ok);
    let out = t.run(&["flush", "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(r.delivered().len(), 1);
}

/// A transcript whose last line (the turn's final answer) is not written yet.
fn transcript_missing_its_end(t: &TestHome) -> (PathBuf, String) {
    let full = fs::read_to_string(data("claude-code-2.1.328/transcript-tool-turn.jsonl")).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.contains("\"end_turn\""))
        .expect("the fixture's final answer");
    let path = t.dir.path().join("transcript.jsonl");
    fs::write(&path, lines[..end].join("\n") + "\n").unwrap();
    (path, lines[end..].join("\n") + "\n")
}

#[test]
fn in_ci_emit_delivers_its_own_event_with_the_turns_whole_usage_before_returning() {
    let t = TestHome::new().env("CI", "true");
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &r.url()]);
    let (path, rest) = transcript_missing_its_end(&t);
    let mut event: Value =
        serde_json::from_str(&fixture("transcript-tool-turn.stop.json")).unwrap();
    event["transcript_path"] = json!(path.display().to_string());
    let mut child = t
        .cmd(&["emit"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The agent writes the turn's end just after the hook starts (once emit runs: it
    // has set its signal handlers), while emit waits for it.
    crate::support::wait_until(Duration::from_secs(20), || {
        crate::support::catches(child.id(), 15)
    });
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(event.to_string().as_bytes())
            .unwrap();
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(rest.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    // Delivered before emit returned, with the usage of the whole turn.
    let pings = r.delivered();
    assert_eq!(pings.len(), 1, "delivered by emit itself");
    assert_eq!(pings[0]["api_calls"], 2, "{:#}", pings[0]);
}

#[test]
fn in_ci_an_endpoint_that_is_down_falls_back_to_the_queue() {
    let t = TestHome::new().env("GITHUB_ACTIONS", "true");
    let port = free_port();
    t.install(&[
        "--global",
        "--ping-url",
        &format!("http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921"),
    ]);
    let started = Instant::now();
    let out = t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = Receiver::start_on(port, Mode::Ok);
    assert_eq!(r.wait_for(1, Duration::from_secs(20)).len(), 1);
}

#[test]
fn max_cost_stops_a_job_whose_turns_cost_more_and_only_then() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &r.url()]);
    let agent = fake_agent(&t, 0);
    let agent = agent.to_str().unwrap();
    let out = t.run(&["run", "--max-cost", "0", "--", agent]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than --max-cost $0.00"),
        "{}",
        stderr(&out)
    );
    let out = t.run(&["run", "--max-cost", "1000", "--", agent]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("--max-cost"), "{}", stderr(&out));
    // A command that failed keeps its own status; the cost is said all the same.
    let failing = fake_agent(&t, 5);
    let out = t.run(&["run", "--max-cost", "0", "--", failing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-cost"), "{}", stderr(&out));
    let out = t.run(&["run", "--max-cost", "lots", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
}
