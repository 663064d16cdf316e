//! What a third attack found (each test fails without its fix): free text through a
//! model name, secrets in a job's environment, destinations that held each other up, one
//! bad key switching every tracker off, reads on the hook's path without a bound, and
//! use without an account.

use std::fs;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Mode, Receiver, TestHome, fixture, stderr, stdout};

fn doctor_json(t: &TestHome) -> (Option<i32>, Value) {
    let out = t.run(&["doctor", "--json"]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

fn check<'a>(doctor: &'a Value, id: &str) -> &'a Value {
    doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {doctor:#}"))
}

fn emit(t: &TestHome, event: &str) {
    let out = t.run_with_stdin(&["emit"], event.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
}

// 13. One bad optional key in config.json leaves every tracker working, is named by
// doctor, and stays in the file.
#[test]
fn a_bad_optional_key_in_the_config_switches_no_tracker_off() {
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let path = t.state_dir().join("config.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let secret = config["hash_secret"].clone();
    config["keep_days"] = json!(-5);
    config["repos"] = json!(["not", "a", "map"]);
    config["a_later_key"] = json!({"kept": true});
    fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();

    emit(&t, &fixture("SessionStart.json"));
    emit(&t, &fixture("SessionStart.json"));
    let pings = receiver.wait_for(2, Duration::from_secs(20));
    assert_eq!(pings.len(), 2, "the global tracker still gets the pings");
    // The install's own key hashes the paths (not a throw-away one per event).
    assert_eq!(pings[0]["cwd_hash"], pings[1]["cwd_hash"]);

    let (code, doctor) = doctor_json(&t);
    let values = check(&doctor, "config.values");
    assert_eq!(values["status"], "warn", "{values:#}");
    let message = values["message"].as_str().unwrap();
    assert!(
        message.contains("config.json")
            && message.contains("keep_days")
            && message.contains("repos"),
        "{message}"
    );
    assert_ne!(code, Some(2));

    // An install afterwards keeps what it could not read, as it was.
    t.install(&["--global", "--tool-activity"]);
    let after: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(after["keep_days"], -5, "{after:#}");
    assert_eq!(after["repos"], json!(["not", "a", "map"]));
    assert_eq!(after["a_later_key"], json!({"kept": true}));
    assert_eq!(after["hash_secret"], secret);
    assert!(after["ping_url"].is_string());
}

// 18. Without an account: doctor says the events stay here and exits 0, flush exits 0;
// a ping URL added later says how many recorded meanwhile go to it, or keeps them here.
#[test]
fn without_an_account_the_events_stay_here_and_a_later_tracker_gets_them_or_not() {
    for keep in [false, true] {
        let t = TestHome::new();
        t.install(&["--global"]);
        emit(&t, &fixture("SessionStart.json"));
        emit(&t, &fixture("SessionStart.json"));
        let (code, doctor) = doctor_json(&t);
        assert_eq!(code, Some(0), "{doctor:#}");
        assert_eq!(doctor["local_only"], true);
        assert_eq!(check(&doctor, "ping_url")["status"], "info");
        let human = stdout(&t.run(&["doctor"]));
        assert!(human.contains("stays on this machine"), "{human}");
        assert!(!human.contains("stop pings"), "{human}");
        let flush = t.run(&["flush", "--wait", "10"]);
        assert_eq!(flush.status.code(), Some(0), "{}", stdout(&flush));
        assert!(stdout(&flush).contains("kept on this machine"));

        let receiver = Receiver::start(Mode::Ok);
        let mut args = vec!["--global", "--ping-url"];
        let url = receiver.url();
        args.push(&url);
        if keep {
            args.push("--keep-local");
        }
        let out = t.install(&args);
        let said = stderr(&out);
        if keep {
            assert!(said.contains("Kept 2 event(s)"), "{said}");
            assert!(t.run(&["flush", "--wait", "10"]).status.success());
            assert!(receiver.delivered().is_empty(), "kept here");
            let log = stdout(&t.run(&["log", "--json"]));
            assert_eq!(log.matches("\"local\"").count(), 2, "{log}");
        } else {
            assert!(
                said.contains("2 event(s) recorded while no tracker was set"),
                "{said}"
            );
            assert!(t.run(&["flush", "--wait", "10"]).status.success());
            assert_eq!(receiver.wait_for(2, Duration::from_secs(30)).len(), 2);
        }
    }
}

// 1. Whatever text an agent puts where a model's name goes never leaves the machine, on
// the hook's path (Cursor's stop, whose usage the sender reads) as on import's.
#[test]
fn a_model_name_that_is_not_one_is_left_out_everywhere() {
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--agent",
        "cursor",
        "--ping-url",
        &receiver.url(),
    ]);
    let canary = "SECRET_MODEL_TEXT";
    let mut stop: Value = serde_json::from_slice(
        &fs::read(crate::support::data("cursor-documented/stop.json")).unwrap(),
    )
    .unwrap();
    stop["model"] = json!(format!("claude \u{1b}[31m{canary} please summarise"));
    let out = t.run_with_stdin(
        &["emit", "--agent", "cursor", "--event", "stop"],
        stop.to_string().as_bytes(),
    );
    assert!(out.status.success());
    let pings = receiver.wait_for(1, Duration::from_secs(20));
    assert_eq!(pings.len(), 1);
    let p = &pings[0];
    assert!(p.get("model").is_none(), "{p:#}");
    assert_eq!(p["unpriced_models"], json!(["unknown"]), "{p:#}");
    assert_eq!(p["usage"]["output_tokens"], 15, "the usage is kept");
    t.wait_sender_idle(None);
    let mut seen = serde_json::to_string(&pings).unwrap();
    for args in [
        &["log", "--json"][..],
        &["log"],
        &["report", "model"],
        &["report", "--json"],
    ] {
        seen.push_str(&stdout(&t.run(args)));
    }
    assert!(!seen.contains(canary), "{seen}");
}

// 3. Every column of every report table shows the data's text, never acts on it:
// escape sequences and bidirectional controls come out escaped.
#[test]
fn report_tables_escape_every_column() {
    let t = TestHome::new();
    let sid = "66666666-eeee-4eee-8eee-000000000001";
    let dir = t.claude_dir().join("projects/-home-dev-api");
    fs::create_dir_all(&dir).unwrap();
    let mut lines = vec![crate::ccusage::prompt(
        "p1",
        "2026-11-27T10:00:00.000Z",
        sid,
    )];
    lines.extend(crate::ccusage::answer(
        "m1",
        "claude-sonnet-4-5-20250929",
        "2026-11-27T10:00:05.000Z",
        sid,
        [10, 0, 0, 1],
        1,
    ));
    fs::write(dir.join(format!("{sid}.jsonl")), lines.join("\n") + "\n").unwrap();
    assert!(t.run(&["import"]).status.success());
    // As a store from an earlier telemhq, or one written by hand, may hold.
    let conn = rusqlite::Connection::open(t.state_dir().join("telemhq.db")).unwrap();
    conn.execute(
        "UPDATE events SET unpriced = ?1, project = ?2, cost_usd = NULL",
        rusqlite::params![
            "evil\u{1b}[2J\u{202e}model",
            "api\u{202e}cod.exe\u{1b}]0;title\u{7}"
        ],
    )
    .unwrap();
    conn.execute(
        "UPDATE models SET cost_usd = NULL, project = ?1",
        rusqlite::params!["api\u{202e}x"],
    )
    .unwrap();
    drop(conn);
    for by in ["daily", "project", "session", "model", "agent"] {
        for format in [&[][..], &["--csv"]] {
            let mut args = vec!["report", by];
            args.extend_from_slice(format);
            let out = t.run(&args);
            assert!(out.status.success(), "{}", stderr(&out));
            let text = stdout(&out);
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'),
                "{by} {format:?}: {text:?}"
            );
        }
    }
    let text = stdout(&t.run(&["report", "project"]));
    assert!(text.contains("\\u{202e}"), "{text}");
}

// 2. The README's own cron and CI form, `TELEMHQ_PING_URL=… telemhq run -- …`: the job
// gets neither the ping token nor the collector's headers, and its hooks still find both.
#[test]
fn a_run_keeps_the_token_and_the_collectors_headers_out_of_the_jobs_environment() {
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global"]);
    let token_url = format!("{}/ping/tok_run_env_9c8b7a6f5e4d", receiver.url());
    let seen = t.dir.path().join("job-env.txt");
    let event = t.dir.path().join("event.json");
    fs::write(&event, fixture("SessionStart.json")).unwrap();
    let job = format!(
        "env > '{}'; \"$HOME/.claude/hooks/telemhq\" emit < '{}'",
        seen.display(),
        event.display()
    );
    let out = t
        .cmd(&["run", "--", "/bin/sh", "-c", &job])
        .env("TELEMHQ_PING_URL", &token_url)
        .env("TELEMHQ_OTLP_ENDPOINT", "http://127.0.0.1:1")
        .env("TELEMHQ_OTLP_HEADERS", "x-api-key=HEADER_SECRET_42")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let env = fs::read_to_string(&seen).unwrap();
    assert!(env.contains("TELEMHQ_RUN_ID="), "{env}");
    for secret in [
        "tok_run_env_9c8b7a6f5e4d",
        "HEADER_SECRET_42",
        "TELEMHQ_OTLP",
    ] {
        assert!(!env.contains(secret), "{secret} in the job's environment");
    }
    // The job's hook found the run's tracker, and kept its collector.
    let pings = receiver.delivered();
    assert!(
        pings.iter().any(|p| p["event"] == "SessionStart"),
        "{pings:#?}"
    );
    assert!(pings.iter().any(|p| p["event"] == "Run"));
    let entries: Vec<Value> = crate::support::queue_history(&t);
    let hooked = entries
        .iter()
        .find(|e| e["payload"]["event"] == "SessionStart")
        .expect("the hook's event");
    assert_eq!(hooked["otlp"]["headers"]["x-api-key"], "HEADER_SECRET_42");
}

fn queue_files(t: &TestHome) -> Vec<std::path::PathBuf> {
    fs::read_dir(t.state_dir().join("queue"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

// 4. A collector that never answers holds up no ping: not the next events' (emitted
// while an export hangs), nor `telemhq run`'s run ping.
#[test]
fn a_hanging_collector_holds_up_no_ping() {
    let tracker = Receiver::start(Mode::Ok);
    let collector = Receiver::start(Mode::Hang);
    let t = TestHome::new().env("TELEMHQ_SENDER_LIFETIME_MS", "60000");
    t.install(&[
        "--global",
        "--ping-url",
        &tracker.url(),
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{}", collector.port),
    ]);
    emit(&t, &fixture("SessionStart.json"));
    tracker.wait_for(1, Duration::from_secs(20));
    // The first export hangs now; the next events' pings go all the same.
    crate::support::wait_until(Duration::from_secs(20), || {
        *collector.connections.lock().unwrap() > 0
    });
    emit(&t, &fixture("SessionEnd.json"));
    emit(&t, &fixture("UserPromptSubmit.json"));
    let pings = tracker.wait_for(3, Duration::from_secs(8));
    assert_eq!(
        pings.len(),
        3,
        "the pings went while the export hung: {pings:#?}"
    );
    assert!(collector.delivered().is_empty());

    // `telemhq run`: its run ping arrives, whatever the collector does.
    let out = t.run(&["run", "--flush-timeout", "10", "--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        tracker.delivered().iter().any(|p| p["event"] == "Run"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("OpenTelemetry Collector"),
        "{}",
        stderr(&out)
    );
}

// 5. A collector that refuses every export is reported as the collector's problem, on its
// own: doctor, flush, log; the tracker's state stays the tracker's.
#[test]
fn a_refusing_collector_is_named_on_its_own() {
    let tracker = Receiver::start(Mode::Ok);
    let collector = Receiver::start(Mode::Status(400));
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        &tracker.url(),
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{}", collector.port),
    ]);
    // (No detached sender meanwhile: this flush is the one that meets the refusal.)
    let life = fs::File::create(t.state_dir().join("sender.life")).unwrap();
    life.lock().unwrap();
    emit(&t, &fixture("SessionStart.json"));
    let flush = t.run(&["flush", "--wait", "20"]);
    drop(life);
    let said = stdout(&flush);
    assert!(
        said.contains("Refused for good by the OpenTelemetry Collector"),
        "{said}"
    );
    assert!(!said.contains("by the tracker"), "{said}");
    assert_eq!(flush.status.code(), Some(1));
    assert_eq!(tracker.delivered().len(), 1);
    let (_, doctor) = doctor_json(&t);
    assert_eq!(
        check(&doctor, "export.failed")["status"],
        "fail",
        "{doctor:#}"
    );
    assert_eq!(check(&doctor, "queue.failed")["status"], "ok");
    assert!(
        check(&doctor, "queue.failed")["message"]
            .as_str()
            .unwrap()
            .contains("tracker")
    );
    let log = stdout(&t.run(&["log"]));
    assert!(log.contains("OpenTelemetry: failed"), "{log}");
}

// 6. Events evicted by the queue's bound count as dropped only for the destination that
// never got them: their pings went, their exports did not.
#[test]
fn events_dropped_at_the_bound_count_per_destination() {
    let tracker = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &tracker.url()]);
    let queue = t.state_dir().join("queue");
    fs::create_dir_all(&queue).unwrap();
    // 1,003 events whose pings were delivered, their exports still to go.
    for i in 0..1003u64 {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let entry = json!({"event_id": id, "queued_at": "2026-12-01T00:00:00.000Z",
            "ping_url": tracker.url(), "folder": "/", "ping_done": "delivered",
            "otlp": {"endpoint": "http://127.0.0.1:1"},
            "payload": {"event": "SessionStart", "event_id": id}});
        let body = entry.to_string();
        fs::write(
            queue.join(format!(
                "{:020}-{}-{id}.json",
                1_700_000_000_000_000_000u64 + i,
                body.len()
            )),
            body,
        )
        .unwrap();
    }
    assert_eq!(queue_files(&t).len(), 1003);
    emit(&t, &fixture("SessionStart.json"));
    let pings = tracker.wait_for(1, Duration::from_secs(20));
    assert_eq!(pings.len(), 1);
    assert!(
        pings[0].get("dropped_events").is_none(),
        "no ping was dropped: {:#}",
        pings[0]
    );
    let dropped: Value =
        serde_json::from_slice(&fs::read(t.state_dir().join("dropped.json")).unwrap()).unwrap();
    assert_eq!(dropped["total"], 0, "{dropped}");
    assert!(dropped["exports"].as_u64().unwrap() >= 4, "{dropped}");
}

// 7. Header values a request cannot hold are refused at install; an endpoint's query
// stays after the signal's path; a batch a collector finds too large is split.
#[test]
fn collector_headers_endpoints_and_large_batches() {
    let t = TestHome::new();
    for bad in ["x-key=a\r\nInjected: 1", "x-key=line\nbreak", "bad name=v"] {
        let out = t.run(&[
            "install",
            "--global",
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
            "--otlp-header",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(!t.global_settings().exists(), "nothing written");
    }

    let collector = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{}/ingest/?tenant=a1", collector.port),
    ]);
    emit(&t, &fixture("SessionStart.json"));
    assert!(t.run(&["flush", "--wait", "20"]).status.success());
    let paths: Vec<String> = collector.pings().iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths, ["/ingest/v1/logs?tenant=a1"], "{paths:?}");

    // A collector that takes one event's export at most: three are sent as three.
    let port = crate::support::serve_on_loopback(one_at_a_time);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{port}"),
    ]);
    for _ in 0..3 {
        let out = t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
        assert!(out.status.success());
    }
    t.wait_sender_idle(None);
    assert!(t.run(&["flush", "--wait", "20"]).status.success());
    let exported = crate::support::queue_history(&t)
        .iter()
        .filter(|e| e["otlp_done"] == "delivered")
        .count();
    assert_eq!(exported, 3);
    assert!(
        *TOO_LARGE.lock().unwrap() >= 1,
        "a batch was refused as too large, then split"
    );
}

static TOO_LARGE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// An OTLP endpoint that answers 413 to a request of more than one log record.
fn one_at_a_time(stream: std::net::TcpStream) {
    use std::io::{BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(req) = crate::support::read_request(&mut reader) {
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&req.body[..])
            .read_to_end(&mut body)
            .unwrap();
        use prost::Message;
        let records = telemhq::otlp::proto::ExportLogsServiceRequest::decode(&body[..])
            .map(|r| {
                r.resource_logs
                    .iter()
                    .flat_map(|l| &l.scope_logs)
                    .map(|s| s.log_records.len())
                    .sum::<usize>()
            })
            .unwrap_or(0);
        let status = if req.path.ends_with("/v1/logs") && records > 1 {
            *TOO_LARGE.lock().unwrap() += 1;
            "413 Payload Too Large"
        } else {
            "200 OK"
        };
        let _ = write!(out, "HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
    }
}

/// A home whose tracker is down now (nothing listens on its port), with a sender that
/// waits 15 s between retries, and one event already waiting for it.
fn after_an_outage(ci: bool) -> (TestHome, u16) {
    let port = crate::support::free_port();
    let mut t = TestHome::new()
        .env("TELEMHQ_RETRY_BASE_MS", "15000")
        .env("TELEMHQ_RETRY_MAX_MS", "15000")
        .env("TELEMHQ_SENDER_LIFETIME_MS", "60000");
    if ci {
        t = t.env("CI", "true");
    }
    t.install(&[
        "--global",
        "--ping-url",
        &format!("http://127.0.0.1:{port}/ping/tok_outage_1a2b3c4d5e"),
    ]);
    emit(&t, &fixture("SessionStart.json"));
    // The background sender has tried, and waits for its next try.
    crate::support::wait_until(Duration::from_secs(20), || {
        fs::read_to_string(t.state_dir().join("last-error.json"))
            .is_ok_and(|e| e.contains("connection refused"))
    });
    (t, port)
}

// 8. After an outage, a `telemhq run` delivers its own events at once: it does not wait
// out an older sender's retry delay.
#[test]
fn a_run_after_an_outage_delivers_without_waiting_for_an_older_senders_retry() {
    let (t, port) = after_an_outage(false);
    let tracker = Receiver::start_on(port, Mode::Ok);
    let out = t.run(&["run", "--flush-timeout", "5", "--", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pings = tracker.delivered();
    assert!(
        pings.iter().any(|p| p["event"] == "Run"),
        "the run ping went before run returned: {pings:#?} {}",
        stderr(&out)
    );
    assert!(pings.iter().any(|p| p["event"] == "SessionStart"));
}

// 9. In CI, a later turn end delivers its own ping while an earlier sender waits.
#[test]
fn in_ci_a_later_turn_end_does_not_wait_for_an_earlier_sender() {
    let (t, port) = after_an_outage(true);
    let tracker = Receiver::start_on(port, Mode::Ok);
    emit(&t, &fixture("Stop.json"));
    let pings = tracker.delivered();
    assert!(
        pings.iter().any(|p| p["event"] == "Stop"),
        "delivered before emit returned: {pings:#?}"
    );
}

// 10. Why a run's or a flush's events did not go: the real reason.
#[test]
fn run_and_flush_say_why_nothing_went() {
    let t = TestHome::new();
    let out = t.run(&[
        "run",
        "--ping-url",
        "http://telemhq.example/ping/tok_plain_http_123456",
        "--",
        "true",
    ]);
    assert!(out.status.success());
    let said = stderr(&out);
    assert!(said.contains("https"), "{said}");
    assert!(!said.contains("no time left"), "{said}");

    let (t, _port) = after_an_outage(false);
    let flush = t.run(&["flush", "--wait", "3"]);
    assert_eq!(flush.status.code(), Some(1));
    assert!(
        stdout(&flush).contains("connection refused"),
        "{}",
        stdout(&flush)
    );
}

/// Waits for a child to exit within `within`; None when it is still running then.
fn exited_within(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

// 11. TERM and HUP end a flush that waits on a hanging endpoint, in `flush --wait` and in
// `telemhq run` after its command; a stray TELEMHQ_RUN_ID switches nothing off; a script
// without `#!` runs as a shell would run it.
#[test]
fn signals_end_a_hanging_flush_and_stray_run_ids_and_scripts() {
    use std::os::unix::process::ExitStatusExt;
    for (signal, args) in [
        ("-TERM", vec!["flush", "--wait", "60"]),
        ("-HUP", vec!["run", "--flush-timeout", "60", "--", "true"]),
        ("-TERM", vec!["run", "--flush-timeout", "60", "--", "true"]),
    ] {
        let hang = Receiver::start(Mode::Hang);
        let t = TestHome::new();
        t.install(&["--global", "--ping-url", &hang.url()]);
        if args[0] == "flush" {
            // (No background sender: this flush is the one that waits on the endpoint.)
            let life = fs::File::create(t.state_dir().join("sender.life")).unwrap();
            life.lock().unwrap();
            emit(&t, &fixture("SessionStart.json"));
            std::mem::forget(life);
        }
        let mut child = t
            .cmd(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::support::wait_until(Duration::from_secs(20), || {
            *hang.connections.lock().unwrap() > 0
        });
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = exited_within(&mut child, Duration::from_secs(15));
        let _ = child.kill();
        let status = status.unwrap_or_else(|| panic!("{args:?} ignored {signal}"));
        assert!(
            status.code().is_some_and(|c| c > 128) || status.signal().is_some(),
            "{args:?}: {status:?}"
        );
    }

    // A TELEMHQ_RUN_ID that no run here made: emit in CI still delivers its turn end.
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new()
        .env("CI", "true")
        .env("TELEMHQ_RUN_ID", "not-a-run-of-this-machine");
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let life = fs::File::create(t.state_dir().join("sender.life")).unwrap();
    life.lock().unwrap();
    emit(&t, &fixture("Stop.json"));
    assert!(
        receiver.delivered().iter().any(|p| p["event"] == "Stop"),
        "delivered by emit itself"
    );
    drop(life);

    // A script without `#!`.
    let t = TestHome::new();
    let script = t.dir.path().join("job.sh");
    let marker = t.dir.path().join("ran");
    fs::write(&script, format!("touch '{}'\nexit 3\n", marker.display())).unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = t.run(&["run", "--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(marker.exists());
}

// 14. Every read on the hook's path is bounded: Droid's session settings past the bound
// are not read (the ping goes without usage), however large the file.
#[test]
fn the_droid_hook_reads_no_session_settings_past_its_bound() {
    let t = TestHome::new();
    let dir = t.dir.path().join("sessions");
    fs::create_dir_all(&dir).unwrap();
    let transcript = dir.join("s1.jsonl");
    fs::copy(
        crate::support::data("droid-0.225.2/session-exec.jsonl"),
        &transcript,
    )
    .unwrap();
    let settings = fs::read_to_string(crate::support::data(
        "droid-0.225.2/session-exec.settings.json",
    ))
    .unwrap();
    let mut stop: Value = serde_json::from_str(
        &fs::read_to_string(crate::support::data("droid-0.225.2/Stop.json")).unwrap(),
    )
    .unwrap();
    stop["transcript_path"] = json!(transcript);
    let print = |t: &TestHome| -> Value {
        let out = t.run_with_stdin(
            &["emit", "--print", "--agent", "droid"],
            stop.to_string().as_bytes(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Within the bound: its running totals are the turn's.
    fs::write(dir.join("s1.settings.json"), &settings).unwrap();
    assert_eq!(print(&t)["usage"]["output_tokens"], 90);
    // The same document padded to 24 MiB: not read on the hook's path.
    let mut big = settings.into_bytes();
    big.resize(24 * 1024 * 1024, b' ');
    fs::write(dir.join("s1.settings.json"), &big).unwrap();
    let p = print(&t);
    assert!(p.get("usage").is_none(), "{p:#}");
}

// 15. A store on a read-only file system is read by report and log as it is.
#[test]
fn report_and_log_read_a_store_on_a_read_only_file_system() {
    let t = TestHome::new();
    let sid = "77777777-ffff-4fff-8fff-000000000001";
    let dir = t.claude_dir().join("projects/-home-dev-api");
    fs::create_dir_all(&dir).unwrap();
    let mut lines = vec![crate::ccusage::prompt(
        "p1",
        "2026-11-27T10:00:00.000Z",
        sid,
    )];
    lines.extend(crate::ccusage::answer(
        "m1",
        "claude-sonnet-4-5-20250929",
        "2026-11-27T10:00:05.000Z",
        sid,
        [321, 0, 0, 1],
        1,
    ));
    fs::write(dir.join(format!("{sid}.jsonl")), lines.join("\n") + "\n").unwrap();
    assert!(t.run(&["import"]).status.success());
    assert!(
        !t.state_dir().join("telemhq.db-shm").exists(),
        "closed cleanly"
    );
    // The state folder mounted read-only, in a mount namespace of the test's own.
    let state = t.state_dir();
    let script = format!(
        "mount --bind '{0}' '{0}' && mount -o remount,ro,bind '{0}' && {1} report --json && {1} log --json",
        state.display(),
        crate::support::BIN
    );
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .env_clear()
        .env("HOME", &t.home)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("this test needs unshare (util-linux): {e}"));
    assert!(
        out.status.success(),
        "(needs unprivileged user namespaces for its read-only mount) {}",
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("\"input_tokens\": 321"), "{text}");
    assert!(!stderr(&out).contains("cannot be used"), "{}", stderr(&out));
}

// 16. What Gemini CLI refuses in its settings (a raw control character in a string, a
// form feed as whitespace) telemhq refuses too: named with its place, the file unchanged.
#[test]
fn settings_the_agent_refuses_are_refused_and_left_as_they_were() {
    for (text, what) in [
        ("{\n  \"theme\": \"a\u{1}b\"\n}\n", "control character"),
        ("{\u{c}\n  \"theme\": \"dark\"\n}\n", "U+000C"),
        ("{\n  \"theme\":\t\"dark\"\u{a0}\n}\n", "U+00A0"),
    ] {
        let t = TestHome::new();
        let path = t.home.join(".gemini/settings.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        let out = t.run(&["install", "--global", "--agent", "gemini", "--yes"]);
        assert!(!out.status.success(), "{text:?}");
        let said = stderr(&out);
        assert!(
            said.contains(what) && said.contains("settings.json:"),
            "{said}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "left as it was");
    }
    // What the agent reads still reads: escapes, tabs between tokens, comments.
    let t = TestHome::new();
    let path = t.home.join(".gemini/settings.json");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(
        &path,
        "{\n\t// mine\n\t\"theme\": \"a\\tb\\u0001\" /* ok */\n}\n",
    )
    .unwrap();
    let out = t.run(&["install", "--global", "--agent", "gemini", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

// 17. `doctor --ping` keeps to doctor's one time budget (12 s), whatever the tracker and
// the collector do.
#[test]
fn doctor_ping_keeps_to_its_time_budget() {
    let tracker = Receiver::start(Mode::Hang);
    let collector = Receiver::start(Mode::Hang);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        &tracker.url(),
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{}", collector.port),
    ]);
    let started = std::time::Instant::now();
    let out = t.run(&["doctor", "--ping"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(16),
        "doctor --ping took {took:?}"
    );
    assert!(*tracker.connections.lock().unwrap() > 0 && *collector.connections.lock().unwrap() > 0);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}
