//! The status line and budgets: what Claude Code's status line shows (the session's cost,
//! today's cost from the local store, quota, the tightest budget), that it never fails or
//! hangs, the quota it keeps for `report quota`, and budgets crossed or not, per period,
//! agent and project, where the user looks (`budget`, `report`, doctor, the status line).

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ccusage::answer;
use crate::store::{SONNET, ok, prompt_in, report, write_lines};
use crate::support::{TestHome, data, doctor_check, stderr, stdout, wait_until};

fn input() -> String {
    std::fs::read_to_string(data("statusline/claude-code-2.1.json")).unwrap()
}

/// The status line for `input`, as Claude Code runs it (no colour asked for here).
fn status(t: &TestHome, input: &[u8]) -> std::process::Output {
    let out = t
        .cmd(&["statusline"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            // (A reader that stops early is no error here.)
            let _ = c.stdin.take().unwrap().write_all(input);
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "nothing on stderr: {}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "one line: {}",
        stdout(&out)
    );
    out
}

/// Turns ended now (so today, in every time zone's today but for a minute at midnight)
/// by Claude Code in `api` and Codex-free: a known cost.
fn turns_today(t: &TestHome, project: &str, n: usize) {
    let sid = format!("{:08x}-0000-4000-8000-{:012x}", n, project.len());
    let at = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    let mut lines = Vec::new();
    for i in 0..n {
        lines.push(prompt_in(
            &format!("p{i}"),
            &at,
            &sid,
            &format!("/home/dev/{project}"),
        ));
        lines.extend(answer(
            &format!("m{project}{i}"),
            SONNET,
            &at,
            &sid,
            [100_000, 0, 0, 10_000],
            1,
        ));
    }
    write_lines(
        &t.claude_dir()
            .join(format!("projects/-home-dev-{project}/{sid}.jsonl")),
        &lines,
    );
    ok(t, &["import"]);
}

#[test]
fn the_status_line_shows_the_session_today_quota_and_budget() {
    let t = TestHome::new().env("TZ", "UTC");
    t.install(&["--global"]);
    turns_today(&t, "api", 3);
    let today = report(&t, &["--since", "0d", "--tz", "UTC"]);
    let cost = today["totals"]["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.5, "{today:#}");
    let line = stdout(&status(&t, input().as_bytes()));
    for want in [
        "Sonnet 4.5".to_string(),
        "session $0.42".to_string(),
        format!("today ${cost:.2}"),
        "5h 42%".to_string(),
        "7d 92%".to_string(),
    ] {
        assert!(line.contains(&want), "{want}: {line}");
    }
    assert!(!line.contains('\x1b'), "NO_COLOR: {line}");
    // With colour, the 7-day window at 91.5 % is red.
    let coloured = t
        .cmd(&["statusline"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(input().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        stdout(&coloured).contains("\x1b[31m7d 92%"),
        "{}",
        stdout(&coloured)
    );
    // The tightest budget.
    ok(&t, &["budget", "set", "--daily", "1000"]);
    ok(&t, &["budget", "set", "--monthly", "0.10"]);
    let line = stdout(&status(&t, input().as_bytes()));
    assert!(
        line.contains(&format!("monthly budget passed: ${cost:.2} of $0.10")),
        "{line}"
    );
    // The quota it was given is kept for `report quota`.
    let quota: Value = serde_json::from_str(&ok(&t, &["report", "quota", "--json"])).unwrap();
    let latest = quota["latest"].as_array().unwrap();
    assert_eq!(latest.len(), 2, "{quota:#}");
    assert_eq!(latest[0]["agent"], "claude-code");
    assert_eq!(latest[0]["window"], "five_hour");
    assert_eq!(latest[0]["used_percent"], 42.0);
    assert_eq!(latest[1]["resets_at"], "2026-12-14T00:00:00.000Z");
    assert_eq!(quota["days"].as_array().unwrap().len(), 2);
    let table = ok(&t, &["report", "quota"]);
    assert!(
        table.contains("5 hours") && table.contains("92 %"),
        "{table}"
    );
}

#[test]
fn the_status_line_never_fails_nor_hangs() {
    let t = TestHome::new();
    t.install(&["--global"]);
    turns_today(&t, "api", 1);
    // Empty, not JSON, the wrong shapes, huge: a short line all the same.
    for bad in [
        b"".to_vec(),
        b"not json".to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"model": 7, "cost": {"total_cost_usd": "a lot"}, "rate_limits": {"five_hour": {"used_percentage": -5}}}"#.to_vec(),
        vec![b'{'; 3 << 20],
    ] {
        let line = stdout(&status(&t, &bad));
        assert!(line.contains("today $"), "{line}");
        assert!(!line.to_lowercase().contains("error"), "{line}");
    }
    // A writer that never closes stdin does not hold the line.
    let mut child = t
        .cmd(&["statusline"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_open = child.stdin.take();
    let child = std::sync::Mutex::new(child);
    wait_until(Duration::from_secs(10), || {
        child.lock().unwrap().try_wait().unwrap().is_some()
    });
    let exit = child.lock().unwrap().wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    // A damaged store, a locked one, none: no figure for today, never an error.
    let db = t.state_dir().join("telemhq.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
            .unwrap();
        let line = stdout(&status(&t, input().as_bytes()));
        assert!(line.contains("session $0.42"), "{line}");
    }
    std::fs::write(&db, b"this is no database, and never was one").unwrap();
    for name in ["telemhq.db-wal", "telemhq.db-shm"] {
        let _ = std::fs::remove_file(t.state_dir().join(name));
    }
    let line = stdout(&status(&t, input().as_bytes()));
    assert!(
        line.contains("session $0.42") && !line.contains("today"),
        "{line}"
    );
    // Nothing recorded yet: nothing spent today.
    let fresh = TestHome::new();
    let line = stdout(&status(&fresh, b"garbage"));
    assert_eq!(line.trim(), "today $0.00", "{line}");
}

#[test]
fn budgets_per_period_agent_and_project_are_crossed_or_not() {
    let t = TestHome::new().env("TZ", "UTC");
    t.install(&["--global"]);
    turns_today(&t, "api", 2);
    turns_today(&t, "web", 1);
    let cost = |project: &str| {
        report(&t, &["project", "--since", "0d"])["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == project)
            .unwrap()["cost_usd"]
            .as_f64()
            .unwrap()
    };
    let (api, web) = (cost("api"), cost("web"));
    assert!(api > web && web > 0.0);
    // Between the two projects' costs: passed for api, not for web; per period.
    let limit = format!("{:.4}", (api + web) / 2.0);
    ok(
        &t,
        &["budget", "set", "--daily", &limit, "--project", "api"],
    );
    ok(
        &t,
        &["budget", "set", "--daily", &limit, "--project", "web"],
    );
    ok(
        &t,
        &["budget", "set", "--weekly", "1000", "--agent", "claude"],
    );
    ok(
        &t,
        &["budget", "set", "--monthly", "1000", "--agent", "codex"],
    );
    let states: Value = serde_json::from_str(&ok(&t, &["budget", "--json"])).unwrap();
    let find = |period: &str, key: &str, value: &str| -> Value {
        states["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["period"] == period && b[key] == value)
            .cloned()
            .unwrap_or_else(|| panic!("{period} {key}={value}: {states:#}"))
    };
    let api_day = find("daily", "project", "api");
    assert_eq!(api_day["exceeded"], true, "{api_day:#}");
    assert!((api_day["spent_usd"].as_f64().unwrap() - api).abs() < 1e-6);
    assert_eq!(find("daily", "project", "web")["exceeded"], false);
    let claude_week = find("weekly", "agent", "claude");
    assert!((claude_week["spent_usd"].as_f64().unwrap() - (api + web)).abs() < 1e-6);
    assert_eq!(claude_week["exceeded"], false);
    assert_eq!(
        find("monthly", "agent", "codex")["spent_usd"],
        0.0,
        "no Codex turns"
    );
    // Where the user looks: report says it above the table, doctor warns.
    let table = ok(&t, &["report"]);
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .starts_with("Over budget: daily (api)"),
        "{table}"
    );
    assert!(
        !ok(&t, &["report", "--json"]).contains("Over budget"),
        "JSON stays JSON"
    );
    let check = doctor_check(&t, "budget");
    assert_eq!(check["status"], "warn", "{check:#}");
    assert!(
        check["message"].as_str().unwrap().contains("daily (api)"),
        "{check:#}"
    );
    // A second `set` for the same place replaces it; unset removes it.
    ok(
        &t,
        &["budget", "set", "--daily", "1000", "--project", "api"],
    );
    let states: Value = serde_json::from_str(&ok(&t, &["budget", "--json"])).unwrap();
    assert_eq!(states["budgets"].as_array().unwrap().len(), 4);
    assert_eq!(doctor_check(&t, "budget")["status"], "ok");
    assert!(!ok(&t, &["report"]).contains("Over budget"));
    ok(&t, &["budget", "unset", "--daily", "--project", "api"]);
    let out = t.run(&["budget", "unset", "--daily", "--project", "api"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = t.run(&["budget", "set", "--daily", "a lot"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--daily"), "{}", stderr(&out));
    let out = t.run(&["budget", "set", "--daily"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // The config keeps them as written.
    let config: Value =
        serde_json::from_slice(&std::fs::read(t.state_dir().join("config.json")).unwrap()).unwrap();
    assert!(
        config["budgets"]
            .as_array()
            .unwrap()
            .contains(&json!({"period": "weekly", "usd": 1000.0, "agent": "claude"})),
        "{config:#}"
    );
}
