//! `telemhq emit`, `flush` and `log`: the payload, privacy, the queue and delivery,
//! against a real HTTP receiver on loopback.

use std::time::{Duration, Instant};

use crate::support::{Mode, Receiver, TestHome, fixture, free_port, stderr, stdout, wait_until};
use serde_json::{Value, json};

const EVENTS: [&str; 11] = [
    "Stop.json",
    "StopFailure.json",
    "PostToolUse-Bash.json",
    "PostToolUse-Write.json",
    "PostToolUseFailure.json",
    "PreToolUse-Bash.json",
    "PreToolUse-Write.json",
    "SessionStart.json",
    "SessionEnd.json",
    "UserPromptSubmit.json",
    "transcript-tool-turn.stop.json",
];

fn emit(t: &TestHome, event: &str) -> std::process::Output {
    let out = t.run_with_stdin(&["emit"], event.as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "emit printed on stdout: {}",
        stdout(&out)
    );
    out
}

fn print(t: &TestHome, event: &str) -> Value {
    let out = t.run_with_stdin(&["emit", "--print"], event.as_bytes());
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn with_url(url: &str) -> TestHome {
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", url]);
    t
}

#[test]
fn every_fixture_event_gives_the_expected_payload() {
    let t = TestHome::new();
    for name in EVENTS {
        let payload = print(&t, &fixture(name));
        insta::assert_json_snapshot!(format!("payload_{name}"), payload, {
            ".event_id" => "[event_id]",
            ".emitted_at" => "[emitted_at]",
            ".cwd_hash" => "[keyed hash]",
            ".transcript_path_hash" => "[keyed hash]",
            ".telemhq_version" => "[version]",
        });
    }
}

#[test]
fn payload_fields_follow_the_seed() {
    let t = TestHome::new();
    let p = print(&t, &fixture("PostToolUseFailure.json"));
    assert_eq!(p["provider"], "anthropic");
    assert_eq!(p["tool"], "claude-code");
    assert_eq!(p["status"], "failed");
    assert_eq!(p["event"], "PostToolUseFailure");
    assert_eq!(p["project"], "api");
    assert_eq!(p["tool_name"], "Bash");
    assert_eq!(
        p["error"], "exit_code_2",
        "a category, never the stderr text"
    );
    assert_eq!(p["is_interrupt"], false);
    assert_eq!(p["duration_ms"], 50);
    assert_eq!(p["cwd_hash"].as_str().unwrap().len(), 12);
    let stop = print(&t, &fixture("Stop.json"));
    assert_eq!(stop["status"], "success");
    assert_eq!(stop["last_assistant_message_chars"], 24);
    assert!(stop.get("error").is_none(), "absent fields are left out");
    let failure = print(&t, &fixture("StopFailure.json"));
    assert_eq!(
        (failure["status"].as_str(), failure["error"].as_str()),
        (Some("failed"), Some("unknown"))
    );
    let ts = stop["emitted_at"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "RFC 3339 UTC: {ts}");
}

#[test]
fn path_hashes_are_keyed_by_default_and_plain_on_request() {
    use sha2::Digest;
    let t = TestHome::new();
    let event = fixture("Stop.json");
    let plain = telemhq::hex(&sha2::Sha256::digest(b"/home/dev/projects/api"))[..12].to_string();
    let keyed = print(&t, &event)["cwd_hash"].as_str().unwrap().to_string();
    assert_ne!(keyed, plain, "a guessed path does not give the keyed hash");
    assert_eq!(
        print(&t, &event)["cwd_hash"],
        keyed.as_str(),
        "stable for one install"
    );
    let other = TestHome::new();
    assert_ne!(
        print(&other, &event)["cwd_hash"],
        keyed.as_str(),
        "another install, another key"
    );
    let config_path = t.state_dir().join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["path_hashes"] = json!("plain");
    std::fs::write(&config_path, config.to_string()).unwrap();
    assert_eq!(
        print(&t, &event)["cwd_hash"],
        plain.as_str(),
        "the seed's exact values"
    );
}

#[test]
fn event_ids_are_unique_per_event() {
    let t = TestHome::new();
    let a = print(&t, &fixture("Stop.json"));
    let b = print(&t, &fixture("Stop.json"));
    assert_ne!(a["event_id"], b["event_id"]);
}

const CANARY: &str = "CANARY7d3f9e";

/// Puts the canary into every free-text field an event can carry, and into its paths.
fn with_canary(event: &str) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    let o = v.as_object_mut().unwrap();
    let secret = |s: &str| json!(format!("{s} {CANARY} /home/{CANARY}/x"));
    for key in [
        "prompt",
        "last_assistant_message",
        "error_details",
        "message",
        "title",
        "reason",
        "source",
    ] {
        if o.contains_key(key) || key == "error_details" || key == "message" {
            o.insert(key.into(), secret(key));
        }
    }
    if o.get("hook_event_name") == Some(&json!("PostToolUseFailure")) {
        o.insert(
            "error".into(),
            json!(format!(
                "Exit code 1\n{CANARY}: No such file /home/{CANARY}"
            )),
        );
    }
    if o.get("hook_event_name") == Some(&json!("StopFailure")) {
        o.insert("error".into(), json!(format!("{CANARY} not a known type")));
    }
    for key in ["tool_input", "tool_response"] {
        if o.contains_key(key) {
            o.insert(key.into(), json!({"command": format!("cat /home/{CANARY}"), "stdout": CANARY, "content": CANARY}));
        }
    }
    o.insert("cwd".into(), json!(format!("/home/{CANARY}/projects/api")));
    o.insert(
        "transcript_path".into(),
        json!(format!("/home/{CANARY}/.claude/projects/{CANARY}.jsonl")),
    );
    o.insert(
        "agent_transcript_path".into(),
        json!(format!("/home/{CANARY}/agent.jsonl")),
    );
    o.insert("notification_type".into(), json!(CANARY));
    v.to_string()
}

#[test]
fn a_canary_in_every_free_text_field_never_leaves_the_machine() {
    let receiver = Receiver::start(Mode::Ok);
    let t = with_url(&receiver.url());
    let mut printed = String::new();
    for name in EVENTS.iter().chain(["PostToolUseFailure.json"].iter()) {
        let event = with_canary(&fixture(name));
        assert!(event.contains(CANARY));
        emit(&t, &event);
        printed.push_str(&stdout(
            &t.run_with_stdin(&["emit", "--print"], event.as_bytes()),
        ));
    }
    // An unknown event type with free text everywhere.
    emit(
        &t,
        &format!(
            r#"{{"hook_event_name":"Notification","message":"{CANARY}","title":"{CANARY}","cwd":"/home/{CANARY}/api"}}"#
        ),
    );
    // A tool name that is not an identifier.
    emit(
        &t,
        &format!(
            r#"{{"hook_event_name":"PostToolUse","tool_name":"Bash {CANARY}","session_id":"{CANARY} x"}}"#
        ),
    );
    let got = receiver.wait_for(EVENTS.len() + 3, Duration::from_secs(30));
    assert_eq!(got.len(), EVENTS.len() + 3);
    let sent = String::from_utf8_lossy(&receiver.raw.lock().unwrap()).into_owned();
    assert!(!sent.contains(CANARY), "the canary was sent: {sent}");
    assert!(!printed.contains(CANARY), "emit --print showed the canary");
    let log = stdout(&t.run(&["log", "-n", "100"]));
    assert!(log.contains("PostToolUseFailure"));
    assert!(!log.contains(CANARY), "log showed the canary");
}

#[test]
fn pings_carry_json_and_identify_telemhq() {
    let receiver = Receiver::start(Mode::Ok);
    let t = with_url(&receiver.url());
    emit(&t, &fixture("Stop.json"));
    receiver.wait_for(1, Duration::from_secs(30));
    let ping = &receiver.pings()[0];
    assert_eq!(ping.path, "/ping/tok_9f8e7d6c5b4a3921");
    assert_eq!(ping.header("content-type"), Some("application/json"));
    assert_eq!(
        ping.header("user-agent"),
        Some(concat!("telemhq/", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn the_environment_url_comes_before_the_stored_one() {
    let stored = Receiver::start(Mode::Ok);
    let from_env = Receiver::start(Mode::Ok);
    let t = with_url(&stored.url()).env("TELEMHQ_PING_URL", &from_env.url());
    emit(&t, &fixture("Stop.json"));
    assert_eq!(from_env.wait_for(1, Duration::from_secs(30)).len(), 1);
    assert!(stored.pings().is_empty());
}

#[test]
fn emit_returns_at_once_while_the_endpoint_hangs() {
    let receiver = Receiver::start(Mode::Hang);
    let t = with_url(&receiver.url());
    emit(&t, &fixture("Stop.json")); // a sender is now stuck on the hanging endpoint
    for name in ["StopFailure.json", "Stop.json", "PostToolUseFailure.json"] {
        let start = Instant::now();
        emit(&t, &fixture(name));
        // The endpoint hangs for minutes; the seed's hook waits 10 s. emit does not wait at all.
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "emit took {:?}",
            start.elapsed()
        );
    }
}

/// Sends SIGTERM and SIGHUP to a process group, as an agent that exits does.
fn term_and_hang_up(group: u32) {
    for signal in ["-TERM", "-HUP"] {
        let sent = std::process::Command::new("kill")
            .args([signal, "--", &format!("-{group}")])
            .status()
            .unwrap();
        assert!(sent.success());
    }
}

/// A headless Claude Code signals its StopFailure hook's process group (SIGTERM)
/// milliseconds after the hook starts, as it exits: the event is queued and sent anyway.
#[test]
fn an_agent_that_exits_and_signals_the_hook_does_not_lose_the_event() {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let receiver = Receiver::start(Mode::Ok);
    let t = with_url(&receiver.url());
    let mut child = t
        .cmd(&["emit"])
        .stdin(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let event = fixture("StopFailure.json");
    let (head, tail) = event.split_at(event.len() / 2);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(head.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // emit is now reading stdin; give it time to set itself up, as a real hook has.
    let start = Instant::now();
    while !(crate::support::catches(child.id(), 15) && crate::support::catches(child.id(), 1))
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    term_and_hang_up(child.id());
    stdin.write_all(tail.as_bytes()).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "emit was killed: {status:?}");
    let pings = receiver.wait_for(1, Duration::from_secs(30));
    assert_eq!(pings[0]["event"], "StopFailure");
}

/// The signal can come before telemhq runs at all: while the hook's shell starts it.
/// The installed command ignores it from the shell's first step, so a telemhq that is
/// slow to start (here a wrapper that waits before it runs the real one) queues the
/// event all the same.
#[test]
fn the_installed_command_outlives_a_signal_that_comes_before_telemhq_starts() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let receiver = Receiver::start(Mode::Ok);
    let t = with_url(&receiver.url());
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    let command = settings["hooks"]["StopFailure"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    let link = t.claude_dir().join("hooks/telemhq");
    let started = t.dir.path().join("wrapper-started");
    std::fs::remove_file(&link).unwrap();
    std::fs::write(
        &link,
        format!(
            "#!/bin/sh\ntouch '{}'\nsleep 0.5\nexec '{}' \"$@\"\n",
            started.display(),
            crate::support::BIN
        ),
    )
    .unwrap();
    std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = t.hook_shell(&command).spawn().unwrap();
    wait_until(Duration::from_secs(10), || started.exists());
    term_and_hang_up(child.id());
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(fixture("StopFailure.json").as_bytes())
        .unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the hook was killed: {status:?}");
    let pings = receiver.wait_for(1, Duration::from_secs(30));
    assert_eq!(pings.len(), 1, "the event was lost");
    assert_eq!(pings[0]["event"], "StopFailure");
}

fn pending(t: &TestHome) -> usize {
    std::fs::read_dir(t.state_dir().join("queue"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn events_emitted_while_the_endpoint_is_down_all_arrive_after_it_recovers() {
    let port = free_port();
    let t = with_url(&format!(
        "http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921"
    ));
    let mut ids = Vec::new();
    for name in [
        "Stop.json",
        "StopFailure.json",
        "PostToolUseFailure.json",
        "Stop.json",
        "StopFailure.json",
    ] {
        emit(&t, &fixture(name));
    }
    for entry in std::fs::read_dir(t.state_dir().join("queue")).unwrap() {
        let v: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        ids.push(v["event_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 5, "all five wait in the queue");
    let receiver = Receiver::start_on(port, Mode::Ok);
    let got = receiver.wait_for(5, Duration::from_secs(20));
    let got_ids: Vec<_> = got
        .iter()
        .map(|p| p["event_id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        assert!(got_ids.contains(id), "{id} was lost");
    }
    // The sender takes an entry off the queue once its answer is read.
    wait_until(Duration::from_secs(10), || pending(&t) == 0);
}

#[test]
fn events_survive_a_failing_endpoint_and_keep_their_event_id() {
    let receiver = Receiver::start(Mode::Status(500));
    let t = with_url(&receiver.url());
    emit(&t, &fixture("Stop.json"));
    emit(&t, &fixture("StopFailure.json"));
    wait_until(Duration::from_secs(10), || receiver.pings().len() >= 3); // retried
    receiver.set_mode(Mode::Ok);
    let got = receiver.wait_for(2, Duration::from_secs(20));
    assert_eq!(got.len(), 2);
    let failed_ids: Vec<_> = receiver
        .pings()
        .iter()
        .filter(|p| p.answered == 500)
        .map(|p| p.json()["event_id"].clone())
        .collect();
    for id in failed_ids {
        assert!(
            got.iter().any(|p| p["event_id"] == id),
            "a retry carries the same event_id"
        );
    }
}

#[test]
fn a_connection_reset_is_retried() {
    let receiver = Receiver::start(Mode::Reset);
    let t = with_url(&receiver.url());
    emit(&t, &fixture("Stop.json"));
    wait_until(Duration::from_secs(10), || {
        !receiver.raw.lock().unwrap().is_empty()
    });
    receiver.set_mode(Mode::Ok);
    assert_eq!(receiver.wait_for(1, Duration::from_secs(20)).len(), 1);
}

#[test]
fn a_refused_url_is_not_retried_and_is_kept_as_failed() {
    let receiver = Receiver::start(Mode::Status(404));
    let t = with_url(&receiver.url());
    let t0 = crate::support::now_ms();
    emit(&t, &fixture("Stop.json"));
    wait_until(Duration::from_secs(10), || pending(&t) == 0);
    t.wait_sender_idle(Some(t0));
    assert_eq!(receiver.pings().len(), 1, "a 404 is not retried");
    let log = stdout(&t.run(&["log"]));
    assert!(log.contains("failed") && log.contains("HTTP 404"), "{log}");
}

#[test]
fn without_a_url_events_wait_and_go_out_once_one_is_set() {
    let t = TestHome::new();
    t.install(&["--global"]);
    let t0 = crate::support::now_ms();
    emit(&t, &fixture("Stop.json"));
    emit(&t, &fixture("StopFailure.json"));
    assert_eq!(pending(&t), 2);
    // (Without a tracker a sender still runs: it keeps the events in the local store.)
    t.wait_sender_idle(Some(t0));
    let flush = t.run(&["flush"]);
    assert!(
        stdout(&flush).contains("no tracker is set for their folder"),
        "{}",
        stdout(&flush)
    );
    let receiver = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let flush = t.run(&["flush"]);
    assert!(flush.status.success(), "{}", stdout(&flush));
    assert!(
        stdout(&flush).contains("Delivered 2 event(s)"),
        "{}",
        stdout(&flush)
    );
    assert_eq!(receiver.delivered().len(), 2);
}

#[test]
fn flush_reports_what_is_still_pending() {
    let port = free_port();
    let t = with_url(&format!("http://127.0.0.1:{port}/p/tok_123456789"));
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    // Wait for the background sender to give up or hold the lock; flush either reports it busy
    // or tries itself and reports the pending event with the reason.
    let out = t
        .cmd(&["flush"])
        .env("TELEMHQ_SENDER_LIFETIME_MS", "0")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("pending"), "{text}");
}

/// Writes `n` queue entries as telemhq names them, oldest first (cheaper than n emits).
fn fill_queue(t: &TestHome, n: usize) -> Vec<std::path::PathBuf> {
    let queue = t.state_dir().join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    (0..n)
        .map(|i| {
            let id = format!("00000000-0000-4000-8000-{i:012}");
            let entry = json!({"event_id": id, "queued_at": "2026-11-25T00:00:00.000Z",
                "payload": {"event": "SessionStart", "event_id": id}});
            let body = serde_json::to_vec(&entry).unwrap();
            let path = queue.join(format!("{:020}-{}-{id}.json", 1_000_000 + i, body.len()));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect()
}

#[test]
fn the_queue_is_bounded_and_the_next_delivered_ping_reports_every_drop_once() {
    let t = TestHome::new();
    t.install(&["--global"]);
    fill_queue(&t, 1009);
    let event = fixture("SessionStart.json");
    let t0 = crate::support::now_ms();
    emit(&t, &event);
    emit(&t, &event);
    // The sender each emit starts keeps the bound: the 11 oldest go.
    t.wait_sender_idle(Some(t0));
    assert_eq!(pending(&t), 1000);
    let receiver = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &receiver.url()]);
    assert!(t.run(&["flush"]).status.success());
    let carrying: Vec<Value> = receiver
        .delivered()
        .into_iter()
        .filter(|p| p.get("dropped_events").is_some())
        .collect();
    assert_eq!(carrying.len(), 1, "exactly one ping reports the drops");
    assert_eq!(carrying[0]["dropped_events"], 11);
    // Reported once: the next ping carries none.
    emit(&t, &event);
    assert!(t.run(&["flush"]).status.success());
    let last = receiver.delivered().pop().unwrap();
    assert!(last.get("dropped_events").is_none(), "{last}");
}

#[test]
fn junk_files_in_the_queue_are_not_counted_evicted_or_removed() {
    let t = TestHome::new();
    t.install(&["--global"]);
    let real = fill_queue(&t, 999);
    let queue = t.state_dir().join("queue");
    for i in 0..50 {
        std::fs::write(queue.join(format!("aaa-junk-{i}.json")), "not telemhq's").unwrap();
    }
    let event = fixture("SessionStart.json");
    let t0 = crate::support::now_ms();
    emit(&t, &event); // 1000 real events now: nothing dropped
    t.wait_sender_idle(Some(t0));
    assert!(real[0].exists(), "no real event was evicted for junk");
    let t0 = crate::support::now_ms();
    emit(&t, &event); // one over: the oldest real event goes, not junk
    t.wait_sender_idle(Some(t0));
    assert!(!real[0].exists());
    assert!(real[1].exists());
    for i in 0..50 {
        assert!(queue.join(format!("aaa-junk-{i}.json")).exists());
    }
    let dropped: Value =
        serde_json::from_slice(&std::fs::read(t.state_dir().join("dropped.json")).unwrap())
            .unwrap();
    assert_eq!(dropped["total"], 1);
    t.wait_sender_idle(Some(t0));
    // The sender sends and settles telemhq's entries only; the junk stays.
    let receiver = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &receiver.url()]);
    assert!(t.run(&["flush", "--wait", "60"]).status.success());
    // (A sender started meanwhile may settle the last one a moment after its answer.)
    receiver.wait_for(1000, Duration::from_secs(60));
    t.wait_sender_idle(None);
    assert_eq!(receiver.delivered().len(), 1000);
    assert_eq!(std::fs::read_dir(&queue).unwrap().count(), 50);
}

#[test]
fn private_files_and_folders_of_the_queue() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestHome::new();
    emit(&t, &fixture("Stop.json"));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&t.claude_dir().join("hooks")), 0o700);
    assert_eq!(mode(&t.state_dir()), 0o700);
    assert_eq!(mode(&t.state_dir().join("queue")), 0o700);
    for entry in std::fs::read_dir(t.state_dir().join("queue")).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    assert_eq!(mode(&t.state_dir().join("config.json")), 0o600);
}

#[test]
fn log_shows_the_exact_json_and_its_state() {
    let receiver = Receiver::start(Mode::Ok);
    let t = with_url(&receiver.url());
    emit(&t, &fixture("Stop.json"));
    let sent = receiver.wait_for(1, Duration::from_secs(30));
    wait_until(Duration::from_secs(5), || {
        stdout(&t.run(&["log"])).contains("delivered")
    });
    let log = stdout(&t.run(&["log", "--payload"]));
    let body = String::from_utf8(receiver.pings()[0].body.clone()).unwrap();
    assert!(
        log.contains(&body),
        "log shows the bytes that were sent:\n{log}\n{body}"
    );
    assert_eq!(sent[0]["event"], "Stop");
}

#[test]
fn garbage_on_stdin_never_fails_and_never_prints() {
    let t = TestHome::new();
    let mut nested = "[".repeat(100_000);
    nested.push_str(&"]".repeat(100_000));
    let mut huge = String::from(
        r#"{"hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"content":""#,
    );
    huge.push_str(&"x".repeat(20 * 1024 * 1024));
    huge.push_str(r#""}}"#);
    let binary: Vec<u8> = (0..65536u32).map(|i| (i * 7919 % 251) as u8).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("whitespace", b"  \n".to_vec()),
        ("binary", binary),
        ("truncated", fixture("Stop.json").as_bytes()[..100].to_vec()),
        ("not an object", b"[1,2,3]".to_vec()),
        ("deeply nested", nested.into_bytes()),
        (
            "deeply nested value",
            format!(r#"{{"hook_event_name":"Stop","x":{}}}"#, "[".repeat(50_000)).into_bytes(),
        ),
        ("huge", huge.into_bytes()),
        (
            "invalid utf-8 in a string",
            b"{\"hook_event_name\":\"Stop\",\"cwd\":\"\xff\xfe\"}".to_vec(),
        ),
    ];
    for (name, input) in cases {
        let start = Instant::now();
        let out = t.run_with_stdin(&["emit"], &input);
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(out.stdout.is_empty(), "{name}: stdout");
        assert!(out.stderr.is_empty(), "{name}: stderr {}", stderr(&out));
        // A guard against a hang, not a speed claim (emit's speed is measured in
        // tests/bench, on a release build).
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_huge_event_still_pings_with_the_fields_read_before_the_bound() {
    let t = TestHome::new();
    let mut huge = String::from(
        r#"{"session_id":"abc","cwd":"/w/api","hook_event_name":"PostToolUse","tool_name":"Write","tool_use_id":"toolu_1","tool_input":{"content":""#,
    );
    huge.push_str(&"x".repeat(10 * 1024 * 1024));
    huge.push_str(r#""}}"#);
    let p: Value = serde_json::from_slice(
        &t.run_with_stdin(&["emit", "--print"], huge.as_bytes())
            .stdout,
    )
    .unwrap();
    assert_eq!(p["event"], "PostToolUse");
    assert_eq!(p["tool_name"], "Write");
    assert_eq!(p["tool_use_id"], "toolu_1");
}

#[test]
fn debug_mode_says_why_a_ping_was_skipped() {
    let t = TestHome::new().env("TELEMHQ_HOOK_DEBUG", "1");
    let out = t.run_with_stdin(&["emit"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no hook event"), "{err}");
    let out = t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    assert!(stderr(&out).contains("no tracker"), "{}", stderr(&out));
}

#[test]
fn retry_after_is_honoured_even_by_the_next_sender() {
    let receiver = Receiver::start(Mode::RetryAfter(60));
    // Senders that live 20 s: the minute asked for outlasts them, so each leaves the
    // event queued (one that lives longer waits the minute out, then sends).
    let t = TestHome::new().env("TELEMHQ_SENDER_LIFETIME_MS", "20000");
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let t0 = crate::support::now_ms();
    emit(&t, &fixture("Stop.json"));
    wait_until(Duration::from_secs(10), || !receiver.pings().is_empty());
    t.wait_sender_idle(Some(t0));
    assert_eq!(receiver.pings().len(), 1, "one 429 with Retry-After: 60");
    receiver.set_mode(Mode::Ok);
    // Neither flush nor the sender a later emit starts calls before the minute is over.
    let out = t.run(&["flush"]);
    assert!(
        stdout(&out).contains("asked to wait until"),
        "{}",
        stdout(&out)
    );
    let t1 = crate::support::now_ms();
    emit(&t, &fixture("Stop.json"));
    t.wait_sender_idle(Some(t1));
    assert_eq!(
        receiver.pings().len(),
        1,
        "nothing sent before the time the endpoint asked for"
    );
    assert_eq!(pending(&t), 2);
}

#[test]
fn pings_go_through_the_proxy_from_the_environment() {
    let proxy = Receiver::start(Mode::Ok);
    let port = free_port();
    let target = format!("http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921");
    let t = with_url(&target).env("HTTP_PROXY", &format!("http://127.0.0.1:{}", proxy.port));
    emit(&t, &fixture("Stop.json"));
    let connect = format!("CONNECT 127.0.0.1:{port}");
    wait_until(Duration::from_secs(10), || {
        String::from_utf8_lossy(&proxy.raw.lock().unwrap()).contains(&connect)
    });
}

#[test]
fn one_sender_delivers_the_backlog_oldest_first_over_one_connection() {
    let port = free_port();
    let t = with_url(&format!(
        "http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921"
    ));
    let names = [
        "SessionStart.json",
        "Stop.json",
        "StopFailure.json",
        "PostToolUse-Bash.json",
        "SessionEnd.json",
    ];
    for name in names {
        emit(&t, &fixture(name));
    }
    assert_eq!(pending(&t), 5, "the endpoint is down: all five wait");
    // The sender retrying in the background delivers the backlog once the endpoint is back.
    let receiver = Receiver::start_on(port, Mode::Ok);
    receiver.wait_for(5, Duration::from_secs(20));
    let got: Vec<String> = receiver
        .delivered()
        .iter()
        .map(|p| p["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        [
            "SessionStart",
            "Stop",
            "StopFailure",
            "PostToolUse",
            "SessionEnd"
        ],
        "oldest first"
    );
    assert_eq!(
        *receiver.connections.lock().unwrap(),
        1,
        "one connection for the whole backlog"
    );
}

/// An agent that exits right after a turn may end its hook's whole process tree (Claude
/// Code does, after an API error, milliseconds after its StopFailure hook starts), and
/// the sender emit starts is in that tree until emit exits: a TERM in the sender's first
/// seconds is outlived, and the event still goes.
#[test]
fn the_sender_outlives_the_agents_sweep_of_the_hooks_tree() {
    let port = free_port();
    let t = with_url(&format!(
        "http://127.0.0.1:{port}/ping/tok_9f8e7d6c5b4a3921"
    ));
    // The event queued with no sender started (as if the sweep took emit's sender).
    let life = std::fs::File::create(t.state_dir().join("sender.life")).unwrap();
    life.lock().unwrap();
    emit(&t, &fixture("StopFailure.json"));
    drop(life);
    let mut sender = t.cmd(&["__send"]).spawn().unwrap();
    // It is at work (trying the endpoint, which is down) when the sweep comes.
    wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(t.state_dir().join("last-error.json"))
            .is_ok_and(|e| e.contains("connection refused"))
    });
    for signal in ["-TERM", "-HUP"] {
        let sent = std::process::Command::new("kill")
            .args([signal, &sender.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    let receiver = Receiver::start_on(port, Mode::Ok);
    let pings = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(pings.len(), 1, "the sender went on");
    assert_eq!(pings[0]["event"], "StopFailure");
    let _ = sender.kill();
    let _ = sender.wait();
}

/// A turn queued while the sender's pass is at work (here, waiting for the first turn's
/// transcript to settle), with a collector down keeping the exports busy: the sender
/// takes the new turn's ping in its next pass, rather than count it as looked at and
/// leave it for the next emit.
#[test]
fn a_turn_queued_during_a_pass_is_delivered_while_a_dead_collector_is_retried() {
    let receiver = Receiver::start(Mode::Ok);
    let dead = crate::support::free_port();
    let t = TestHome::new().env("TELEMHQ_TRANSCRIPT_SETTLE_MS", "2000");
    t.install(&[
        "--global",
        "--ping-url",
        &receiver.url(),
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{dead}"),
    ]);
    let transcript = crate::support::data("claude-code-2.1.328/transcript-tool-turn.jsonl");
    let turn = |session: &str| {
        let mut e: Value =
            serde_json::from_str(&fixture("transcript-tool-turn.stop.json")).unwrap();
        e["transcript_path"] = json!(transcript.display().to_string());
        e["session_id"] = json!(session);
        e.to_string()
    };
    emit(&t, &turn("aaaaaaaa-1111-4111-8111-000000000001"));
    // The sender is now waiting for the first turn's transcript to settle.
    std::thread::sleep(Duration::from_millis(500));
    emit(&t, &turn("bbbbbbbb-2222-4222-8222-000000000002"));
    let pings = receiver.wait_for(2, Duration::from_secs(20));
    assert_eq!(
        pings.len(),
        2,
        "both turns' pings, the exports still retried"
    );
}
