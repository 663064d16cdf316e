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
