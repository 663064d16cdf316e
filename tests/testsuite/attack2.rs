//! What a second attack and a new user's try found (each test fails without its fix):
//! code run from places telemhq does not trust, `run` jobs that never started or
//! miscounted, doctor's word about routing, and delivery that stopped or repeated.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::tls::TlsReceiver;
use crate::support::{Mode, Receiver, TestHome, data, events, fixture, free_port, stderr, stdout};

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn doctor_json(t: &TestHome) -> (Option<i32>, Value) {
    let out = t.run(&["doctor", "--json"]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

// 1. doctor runs nothing a repository's git config points at.
#[test]
fn doctor_runs_no_program_a_repositorys_git_config_names() {
    let token = "tok_5f4e3d2c1b0a99887766";
    let url = format!("https://telemhq.example/ping/{token}");
    for gitdir_elsewhere in [false, true] {
        let t = TestHome::new();
        fs::remove_dir_all(t.repo.join(".git")).unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .args(args)
                .current_dir(&t.repo)
                .env("HOME", &t.home)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        if gitdir_elsewhere {
            let elsewhere = t.dir.path().join("elsewhere.git");
            git(&[
                "init",
                "-q",
                "--separate-git-dir",
                elsewhere.to_str().unwrap(),
            ]);
            assert!(t.repo.join(".git").is_file());
        } else {
            git(&["init", "-q"]);
        }
        fs::write(t.repo.join("deploy.sh"), format!("curl -X POST {url}\n")).unwrap();
        git(&["add", "deploy.sh"]);
        // Every kind of program a checkout's config can point git at.
        let marker = |kind: &str| t.dir.path().join(format!("ran-{kind}"));
        let bin = t.dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        for kind in ["fsmonitor", "hook", "diff", "ssh", "pager"] {
            script(
                &bin.join(kind),
                &format!("touch {}", marker(kind).display()),
            );
        }
        let hooks = t.dir.path().join("hooks");
        fs::create_dir_all(&hooks).unwrap();
        for hook in ["post-index-change", "reference-transaction", "pre-auto-gc"] {
            script(
                &hooks.join(hook),
                &format!("touch {}", marker("hook").display()),
            );
        }
        for (key, value) in [
            ("core.fsmonitor", bin.join("fsmonitor")),
            ("core.hooksPath", hooks.clone()),
            ("diff.external", bin.join("diff")),
            ("core.sshCommand", bin.join("ssh")),
            ("core.pager", bin.join("pager")),
        ] {
            git(&["config", key, value.to_str().unwrap()]);
        }
        t.install(&["--global", "--ping-url", &url]);
        let (code, report) = doctor_json(&t);
        for kind in ["fsmonitor", "hook", "diff", "ssh", "pager"] {
            assert!(
                !marker(kind).exists(),
                "doctor ran the repository's {kind} program"
            );
        }
        // The scan still happened: the token in a tracked file is found.
        assert_eq!(code, Some(1));
        let c = crate::doctor::check(&report, "token.exposed");
        assert!(
            c["message"].as_str().unwrap().contains("deploy.sh"),
            "{c:#}"
        );
    }
}

// 2. doctor never runs a program from the current folder.
#[test]
fn doctor_never_runs_a_claude_from_the_current_folder() {
    let t = TestHome::new();
    t.install(&["--global"]);
    let marker = t.dir.path().join("PWNED");
    script(
        &t.repo.join("claude"),
        &format!("touch {}", marker.display()),
    );
    for path in [
        ":/usr/bin:/bin",
        "/usr/bin::/bin",
        "/usr/bin:/bin:",
        ".:/usr/bin:/bin",
    ] {
        let t2 = TestHome {
            dir: tempfile::tempdir().unwrap(),
            home: t.home.clone(),
            repo: t.repo.clone(),
            envs: vec![("PATH".into(), path.into())],
        };
        t2.run(&["doctor"]);
        assert!(!marker.exists(), "PATH={path}: doctor ran ./claude");
    }
}

fn run_job(t: &TestHome, args: &[&str]) -> std::process::Output {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    t.run(&all)
}

// 7. Monitoring never stops the job it monitors.
#[test]
fn run_starts_the_job_whatever_is_wrong_with_telemhqs_setup() {
    for (case, key, value, extra) in [
        (
            "a HOME that does not exist",
            "HOME",
            "/nonexistent/home",
            None,
        ),
        (
            "a relative CLAUDE_CONFIG_DIR",
            "CLAUDE_CONFIG_DIR",
            "rel/claude",
            None,
        ),
        (
            "a ping URL telemhq refuses",
            "X_UNUSED",
            "",
            Some("http://telemhq.example/ping/tok_12345678901"),
        ),
    ] {
        let t = TestHome::new();
        let marker = t.dir.path().join("job-ran");
        let t = t.env(key, value);
        let mut args: Vec<String> = Vec::new();
        if let Some(url) = extra {
            args.extend(["--ping-url".into(), url.into()]);
        }
        args.extend([
            "--".into(),
            "sh".into(),
            "-c".into(),
            format!("touch {}; exit 3", marker.display()),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_job(&t, &args);
        assert!(marker.exists(), "{case}: the job did not run");
        assert_eq!(out.status.code(), Some(3), "{case}: the job's status");
        assert!(
            stderr(&out).starts_with("telemhq: "),
            "{case}: {}",
            stderr(&out)
        );
    }
}

// 8. The run ping refused, or redirected: said on stderr.
#[test]
fn a_refused_run_ping_is_said_on_stderr() {
    for mode in [
        Mode::Status(404),
        Mode::Status(410),
        Mode::Status(413),
        Mode::Redirect(308),
    ] {
        let r = Receiver::start(mode);
        let t = TestHome::new();
        let out = run_job(&t, &["--ping-url", &r.url(), "--", "true"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stderr(&out).contains("the run ping was refused by the tracker: HTTP"),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
}

// 9. The run ping counts every agent's turns, however many events the run had.
#[test]
fn the_run_ping_counts_every_turn_of_every_agent_in_a_long_run() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--agent", "claude", "--ping-url", &r.url()]);
    let claude_stop = {
        let mut e: Value =
            serde_json::from_str(&fixture("transcript-tool-turn.stop.json")).unwrap();
        e["transcript_path"] = json!(data("claude-code-2.1.328/transcript-tool-turn.jsonl"));
        e.to_string()
    };
    let gemini_turn = {
        let mut e: Value =
            serde_json::from_slice(&fs::read(data("gemini-cli-0.61.0/AfterAgent.json")).unwrap())
                .unwrap();
        e["transcript_path"] = json!(data("gemini-cli-0.61.0/session-chat.jsonl"));
        e.to_string()
    };
    let dir = t.dir.path();
    fs::write(dir.join("stop.json"), claude_stop).unwrap();
    fs::write(dir.join("after.json"), gemini_turn).unwrap();
    fs::write(dir.join("tool.json"), fixture("PostToolUse-Bash.json")).unwrap();
    let hook = "\"$HOME/.claude/hooks/telemhq\" emit";
    let job = dir.join("job.sh");
    script(
        &job,
        &format!(
            "{hook} < {d}/stop.json\ni=0\nwhile [ $i -lt 240 ]; do {hook} < {d}/tool.json; i=$((i+1)); done\n{hook} --agent gemini < {d}/after.json",
            d = dir.display()
        ),
    );
    let out = run_job(&t, &["--flush-timeout", "120", "--", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pings = r.delivered();
    let run = pings
        .iter()
        .find(|p| p["event"] == "Run")
        .expect("a run ping");
    assert_eq!(run["turns"], 2, "{run:#}");
    let stop = pings.iter().find(|p| p["event"] == "Stop").unwrap();
    let after = pings.iter().find(|p| p["event"] == "AfterAgent").unwrap();
    for key in ["input_tokens", "output_tokens", "reasoning_output_tokens"] {
        let sum =
            stop["usage"][key].as_u64().unwrap_or(0) + after["usage"][key].as_u64().unwrap_or(0);
        assert_eq!(run["usage"][key], sum, "{key}: {run:#}");
    }
    assert!(after["usage"]["reasoning_output_tokens"].as_u64().unwrap() > 0);
}

// 10. A huge wait is refused before the job starts.
#[test]
fn a_huge_flush_timeout_is_refused_before_the_job_runs() {
    let t = TestHome::new();
    let marker = t.dir.path().join("job-ran");
    let out = run_job(
        &t,
        &[
            "--flush-timeout",
            "18446744073709551615",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!marker.exists());
    let out = t.run(&["flush", "--wait", "99999999999999"]);
    assert_eq!(out.status.code(), Some(2));
}

// 11. A signal sent to the whole process group reaches the job once.
#[test]
fn a_signal_to_the_whole_group_reaches_the_job_once() {
    let t = TestHome::new();
    let count = t.dir.path().join("terms");
    let job = t.dir.path().join("job.sh");
    script(
        &job,
        &format!(
            "trap 'echo TERM >> {c}' TERM\necho ready > {c}.ready\nn=0\nwhile [ $n -lt 40 ]; do sleep 0.1; n=$((n+1)); done",
            c = count.display()
        ),
    );
    let telemhq = crate::support::BIN;
    // `timeout` signals telemhq, then its whole process group (as CI runners do).
    let out = Command::new("sh")
        .args([
            "-c",
            &format!(
                "timeout -s TERM 1 {telemhq} run --flush-timeout 1 -- {}",
                job.display()
            ),
        ])
        .env("HOME", &t.home)
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&t.repo)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = out;
    let terms = fs::read_to_string(&count).unwrap_or_default();
    assert_eq!(terms.matches("TERM").count(), 1, "the job saw: {terms:?}");
}

// 12. The token never enters the job's environment, and the job's hooks use it.
#[test]
fn the_ping_url_of_a_run_is_not_in_the_jobs_environment() {
    let t = TestHome::new();
    t.install(&["--global"]);
    let r = Receiver::start(Mode::Ok);
    let url = format!("{}/run-tracker", r.url());
    let env_dump = t.dir.path().join("env");
    fs::write(t.dir.path().join("stop.json"), fixture("Stop.json")).unwrap();
    let job = format!(
        "env > {}; \"$HOME/.claude/hooks/telemhq\" emit < {}",
        env_dump.display(),
        t.dir.path().join("stop.json").display()
    );
    let out = run_job(&t, &["--ping-url", &url, "--", "sh", "-c", &job]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let env = fs::read_to_string(&env_dump).unwrap();
    assert!(!env.contains("tok_9f8e7d6c5b4a3921"), "{env}");
    assert!(env.contains("TELEMHQ_RUN_ID="));
    let paths: Vec<String> = r.pings().iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths.iter().all(|p| p.ends_with("/run-tracker")),
        "{paths:?}"
    );
}

// 13. doctor says where pings really go: a repository's settings can redirect them.
#[test]
fn doctor_says_when_a_repositorys_settings_redirect_the_pings() {
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        "https://telemhq.example/ping/tok_mine_12345678",
    ]);
    fs::create_dir_all(t.repo.join(".claude")).unwrap();
    fs::write(
        t.repo_settings(),
        r#"{"env": {"TELEMHQ_PING_URL": "https://collector.example/ping/tok_theirs_87654321"}}"#,
    )
    .unwrap();
    let (_, report) = doctor_json(&t);
    let route = crate::doctor::check(&report, "ping_url");
    let says = route["message"].as_str().unwrap();
    assert!(says.contains("collector.example"), "{route:#}");
    assert!(says.contains("project settings"), "{route:#}");
    let warn = crate::doctor::check(&report, "ping_url.redirected");
    assert_eq!(warn["status"], "warn", "{warn:#}");
    assert!(!report.to_string().contains("tok_theirs_87654321"));
}

// 14. A command naming a telemhq that is not there; a second one for the same event.
#[test]
fn doctor_names_a_missing_telemhq_and_fails_on_a_second_command_for_one_event() {
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        "https://telemhq.example/ping/tok_5f4e3d2c1b0a",
    ]);
    let mut doc: Value = serde_json::from_slice(&fs::read(t.global_settings()).unwrap()).unwrap();
    doc["hooks"]["Stop"]
        .as_array_mut()
        .unwrap()
        .push(json!({"hooks": [{"type": "command", "command": "/opt/gone/telemhq emit"}]}));
    fs::write(t.global_settings(), doc.to_string()).unwrap();
    let (code, report) = doctor_json(&t);
    assert_eq!(code, Some(1), "{report:#}");
    let c = crate::doctor::check(&report, "command.foreign.claude.global");
    assert_eq!(c["status"], "fail", "{c:#}");
    let says = c["message"].as_str().unwrap();
    assert!(
        says.contains("/opt/gone/telemhq, a program that is not there"),
        "{says}"
    );
    assert!(says.contains("counted twice"), "{says}");
    assert!(!Path::new("/opt/gone").exists());
}

// 15. A folder's name can never forge a line of telemhq's output.
#[test]
fn control_characters_in_folder_names_are_escaped() {
    let t = TestHome::new();
    let forged = "x\n  ✓ All good: pings will arrive (forged)\x1b[0m";
    let repo = t.home.join(forged);
    fs::create_dir_all(repo.join(".git")).unwrap();
    let t = TestHome {
        dir: t.dir,
        home: t.home.clone(),
        repo,
        envs: Vec::new(),
    };
    let install = t.run(&[
        "install",
        "--repo",
        "--ping-url",
        "https://telemhq.example/ping/tok_5f4e3d2c1b0a",
    ]);
    assert!(install.status.success(), "{}", stderr(&install));
    let doctor = t.run(&["doctor"]);
    for text in [stderr(&install), stdout(&doctor), stderr(&doctor)] {
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("✓ All good")),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text}");
    }
    assert!(
        stdout(&doctor).contains("x\\n  ✓ All good"),
        "{}",
        stdout(&doctor)
    );
}

// 16. In CI, only a turn's end waits for delivery, and not for a refused connection.
#[test]
fn in_ci_tool_activity_and_a_down_endpoint_never_hold_the_hook() {
    let hanging = Receiver::start(Mode::Hang);
    let t = TestHome::new().env("CI", "true");
    t.install(&["--global", "--tool-activity", "--ping-url", &hanging.url()]);
    let started = Instant::now();
    let out = t.run_with_stdin(&["emit"], fixture("PostToolUse-Bash.json").as_bytes());
    assert!(out.status.success());
    // (A hang guard, not a benchmark: the CI budget is 3.5 s.)
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let down = format!("http://127.0.0.1:{}/ping/tok_down_1234567", free_port());
    let t = TestHome::new().env("CI", "true");
    t.install(&["--global", "--ping-url", &down]);
    let started = Instant::now();
    let out = t.run_with_stdin(&["emit"], fixture("StopFailure.json").as_bytes());
    assert!(out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let queued = fs::read_dir(t.state_dir().join("queue")).unwrap().count();
    assert_eq!(queued, 1, "the event waits in the queue");
}

// 17. In CI, a session file that keeps growing is read within bounds.
#[test]
fn in_ci_a_growing_session_file_is_read_within_bounds() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new().env("CI", "true");
    t.install(&["--global", "--agent", "gemini", "--ping-url", &r.url()]);
    let session = t.dir.path().join("growing.jsonl");
    fs::copy(data("gemini-cli-0.61.0/session-chat.jsonl"), &session).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (session, stop) = (session.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(session).unwrap();
            let line = format!(
                "{{\"type\":\"gemini\",\"content\":\"{}\"}}\n",
                "x".repeat(1 << 16)
            );
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(60)
            {
                let _ = f.write_all(line.as_bytes());
            }
        })
    };
    // Once the file is growing.
    crate::support::wait_until(Duration::from_secs(20), || {
        fs::metadata(&session).is_ok_and(|m| m.len() > 1 << 20)
    });
    let mut event: Value =
        serde_json::from_slice(&fs::read(data("gemini-cli-0.61.0/AfterAgent.json")).unwrap())
            .unwrap();
    event["transcript_path"] = json!(session.display().to_string());
    let started = Instant::now();
    let out = t.run_with_stdin(&["emit", "--agent", "gemini"], event.to_string().as_bytes());
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(out.status.success());
    // (A hang guard: the hook's timeout is 5 s.)
    assert!(took < Duration::from_secs(5), "{took:?}");
}

// 18. A wait recorded far ahead (a clock that jumped) never stops delivery for good.
#[test]
fn a_retry_after_years_ahead_does_not_stop_delivery() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &r.url()]);
    let far = crate::support::now_ms() + 10 * 365 * 24 * 3600 * 1000;
    fs::write(
        t.state_dir().join("last-error.json"),
        json!({"at": "2026-01-01T00:00:00.000Z", "reason": "HTTP 429", "not_before_ms": far})
            .to_string(),
    )
    .unwrap();
    t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
    let out = t.run(&["flush", "--wait", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(r.delivered().len(), 1);
}

// 19. A company's CA (a TLS-intercepting proxy) is trusted from the system's store or
// SSL_CERT_FILE; without it nothing is sent, and never over plain http.
#[test]
fn a_company_ca_is_trusted_through_ssl_cert_file() {
    let tls = TlsReceiver::start();
    // The detached sender gives up quickly, so that flush is the one that tries.
    let t = TestHome::new().env("TELEMHQ_SENDER_LIFETIME_MS", "200");
    t.install(&["--global", "--ping-url", &tls.url()]);
    let t0 = crate::support::now_ms();
    t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
    t.wait_sender_idle(Some(t0));
    let out = t.run(&["flush"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).to_lowercase().contains("certificate"),
        "{}",
        stdout(&out)
    );
    assert!(
        tls.bodies.lock().unwrap().is_empty(),
        "sent without trusting the server"
    );

    let t = t.env("SSL_CERT_FILE", tls.ca_file.to_str().unwrap());
    let out = t.run(&["flush", "--wait", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(tls.bodies.lock().unwrap().len(), 1);
}

// 20. A delivery that cannot be recorded (a full disk) is still recorded once.
#[test]
fn a_delivery_whose_history_cannot_be_written_is_not_sent_again() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &r.url()]);
    let state = t.state_dir();
    fs::create_dir_all(&state).unwrap();
    // The history folder cannot be written (as with a full disk).
    fs::write(state.join("sent"), "not a folder").unwrap();
    for name in [
        "SessionStart.json",
        "SessionEnd.json",
        "UserPromptSubmit.json",
    ] {
        t.run_with_stdin(&["emit"], fixture(name).as_bytes());
    }
    t.wait_sender_idle(None);
    let first = t.run(&["flush"]);
    let second = t.run(&["flush"]);
    assert!(
        stdout(&second).contains("Nothing pending"),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        r.delivered().len(),
        3,
        "{}{}",
        stdout(&first),
        stdout(&second)
    );
}

// 21. Copilot CLI: different tool calls in the same millisecond are different events.
#[test]
fn copilot_tool_calls_in_the_same_millisecond_are_all_sent() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--agent",
        "copilot",
        "--tool-activity",
        "--ping-url",
        &r.url(),
    ]);
    let base: Value =
        serde_json::from_slice(&fs::read(data("copilot-cli-1.0.102/postToolUse.json")).unwrap())
            .unwrap();
    let mut sent = Vec::new();
    for command in ["ls", "pwd", "date"] {
        let mut e = base.clone();
        e["toolArgs"]["command"] = json!(command);
        sent.push(e.to_string());
    }
    // The same event, run from the user's and the repository's hook file: once.
    sent.push(sent[0].clone());
    for e in &sent {
        t.run_with_stdin(
            &["emit", "--agent", "copilot", "--event", "postToolUse"],
            e.as_bytes(),
        );
    }
    t.run(&["flush", "--wait", "20"]);
    assert_eq!(events(&r.delivered()).len(), 3);
}

// 22. doctor has one time budget: a slow hook target does not hold it up.
#[test]
fn doctor_finishes_within_its_budget_when_the_hook_target_is_slow() {
    let t = TestHome::new();
    for agent in ["claude", "codex", "gemini", "copilot"] {
        t.install(&["--global", "--agent", agent]);
    }
    let slow = t.dir.path().join("slow");
    script(&slow, "sleep 30");
    let link = t.claude_dir().join("hooks/telemhq");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&slow, &link).unwrap();
    let started = Instant::now();
    let (code, report) = doctor_json(&t);
    // (A hang guard: one probe at a time would take 20 s and more.)
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        crate::doctor::check(&report, "codex.global")["status"],
        "fail"
    );
}
