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
            assert_eq!(receiver.wait_for(2, Duration::from_secs(10)).len(), 2);
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
