//! The report people read: tables that fit an 80-, 100- or 140-column terminal without
//! splitting a number or a word, money as money, a bar per day, each model's part
//! (`--breakdown`), sessions with their project, times and models, and dates as people
//! write them. Piped, the table is whole (every column, no chart).

use serde_json::{Value, json};

use crate::ccusage::{answer, line};
use crate::store::{HAIKU, SONNET, keys, ok, prompt_in, report, row, write_lines};
use crate::support::{TestHome, stderr, stdout};

const WIDTHS: [usize; 3] = [80, 100, 140];

/// Large figures and small ones: a day of 740,741,198 input tokens and thousands of
/// dollars beside a day of cents; a project with a long folder name; a Codex session
/// whose model has no price, and one whose records name no model.
fn big_history(t: &TestHome) {
    let (a, b) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000002",
    );
    let mut s1 = vec![prompt_in(
        "p1",
        "2026-11-20T09:30:00.000Z",
        a,
        "/home/dev/api",
    )];
    s1.extend(answer(
        "m1",
        SONNET,
        "2026-11-20T09:30:05.000Z",
        a,
        [740_741_198, 1_234_567_890, 9_876_543, 12_345_678],
        1,
    ));
    s1.push(prompt_in(
        "p2",
        "2026-11-21T10:00:00.000Z",
        a,
        "/home/dev/api",
    ));
    s1.extend(answer(
        "m2",
        HAIKU,
        "2026-11-21T10:00:05.000Z",
        a,
        [200, 50, 10, 20],
        1,
    ));
    write_lines(
        &t.claude_dir()
            .join(format!("projects/-home-dev-api/{a}.jsonl")),
        &s1,
    );
    let long = "/home/dev/a-project-with-a-rather-long-folder-name";
    let mut s2 = vec![prompt_in("p3", "2026-11-27T12:00:00.000Z", b, long)];
    s2.extend(answer(
        "m3",
        SONNET,
        "2026-11-27T12:00:05.000Z",
        b,
        [3000, 120_000, 0, 300],
        1,
    ));
    s2.extend(answer(
        "m4",
        "claude-nonexistent-9",
        "2026-11-27T12:00:09.000Z",
        b,
        [5, 0, 0, 5],
        1,
    ));
    write_lines(
        &t.claude_dir()
            .join(format!("projects/-home-dev-a-project/{b}.jsonl")),
        &s2,
    );
    let codex = t
        .home
        .join(".codex/sessions/2026/11/25/rollout-2026-11-25T05-07-01-01a21119.jsonl");
    std::fs::create_dir_all(codex.parent().unwrap()).unwrap();
    std::fs::copy(crate::support::data("codex-0.169.0/rollout.jsonl"), &codex).unwrap();
    // The same session written without its model (another session's ids): a turn whose
    // calls name no model.
    fn unnamed(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("model");
                o.values_mut().for_each(unnamed);
            }
            Value::Array(a) => a.iter_mut().for_each(unnamed),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(&codex)
        .unwrap()
        .replace("01a21119", "02b32229")
        .replace("resp_", "resp_9");
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            unnamed(&mut v);
            line(v)
        })
        .collect();
    write_lines(
        &codex.with_file_name("rollout-2026-11-25T06-07-01-02b32229.jsonl"),
        &lines,
    );
    ok(t, &["import"]);
}

/// The report as a terminal `width` columns wide shows it.
fn on_screen(t: &TestHome, args: &[&str], width: usize) -> String {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let out = t
        .cmd(&all)
        .env("COLUMNS", width.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The table's rows by their first cell: each shown column's header and cell.
fn parse(table: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let cells = |l: &str| -> Vec<String> {
        l.trim_start_matches('│')
            .split('│')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = table.lines().filter(|l| l.starts_with('│'));
    let mut head = cells(lines.next().unwrap());
    // (the chart's header, after the last border, is no column of figures)
    let columns = table.lines().next().unwrap().matches('┬').count() + 1;
    head.truncate(columns);
    let rows = lines
        .map(|l| {
            let mut c = cells(l);
            c.truncate(columns);
            c
        })
        .collect();
    (head, rows)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[test]
fn every_report_fits_the_terminal_and_never_splits_a_number() {
    let t = TestHome::new().env("TZ", "UTC");
    big_history(&t);
    for by in [
        "daily", "weekly", "monthly", "project", "model", "agent", "session",
    ] {
        let json = report(&t, &[by, "--tz", "UTC"]);
        let rows = json["rows"].as_array().unwrap();
        for width in WIDTHS {
            let screen = on_screen(&t, &[by, "--tz", "UTC"], width);
            let table: String = screen
                .lines()
                .take_while(|l| !l.starts_with('*') && !l.starts_with("Left out"))
                .collect::<Vec<_>>()
                .join("\n");
            for l in screen.lines() {
                assert!(
                    l.chars().count() <= width,
                    "{by} at {width}: a line of {} columns:\n{screen}",
                    l.chars().count()
                );
            }
            // One line per row: header, the rows and the totals, and four rules.
            assert_eq!(
                table.lines().count(),
                1 + rows.len() + 1 + 4,
                "{by} at {width}: a row took more than one line:\n{screen}"
            );
            // Every figure shown is the JSON's, whole, with its separators.
            let (head, cells) = parse(&table);
            let figure = |h: &str| match h {
                "turns" => Some("/turns"),
                "input" | "in" => Some("/usage/input_tokens"),
                "output" | "out" => Some("/usage/output_tokens"),
                "cache read" | "cache rd" => Some("/usage/cache_read_input_tokens"),
                "cache write" | "cache wr" => Some("/usage/cache_creation_input_tokens"),
                "reasoning" | "reason" => Some("/usage/reasoning_output_tokens"),
                "tool calls" | "tools" => Some("/tool_calls"),
                _ => None,
            };
            let all: Vec<&Value> = rows.iter().chain([&json["totals"]]).collect();
            for (i, h) in head.iter().enumerate() {
                if let Some(pointer) = figure(h) {
                    for (r, v) in all.iter().enumerate() {
                        assert_eq!(
                            cells[r][i],
                            thousands(v.pointer(pointer).unwrap().as_u64().unwrap()),
                            "{by} at {width}, {h}, row {r}:\n{screen}"
                        );
                    }
                }
                if h == "cost" {
                    for (r, v) in all.iter().enumerate() {
                        let cell = cells[r][i].trim_end_matches('*');
                        match v["cost_usd"].as_f64() {
                            None => assert_eq!(cell, "–"),
                            Some(c) if c >= 0.01 => assert_eq!(
                                cell,
                                format!(
                                    "${}.{:02}",
                                    thousands(c as u64),
                                    ((c * 100.0).round() as u64) % 100
                                ),
                                "{by} at {width}:\n{screen}"
                            ),
                            Some(_) => assert!(cell.starts_with("$0.0"), "{cell}"),
                        }
                    }
                }
            }
            insta::assert_snapshot!(format!("report_{by}_{width}"), screen);
        }
    }
}

#[test]
fn piped_the_table_is_whole_and_has_no_chart() {
    let t = TestHome::new();
    big_history(&t);
    let piped = ok(&t, &["report", "--tz", "UTC"]);
    for want in [
        "day",
        "turns",
        "input",
        "output",
        "cache read",
        "cache write",
        "reasoning",
        "tool calls",
        "cost",
        "740,741,198",
        "2026-11-27",
    ] {
        assert!(piped.contains(want), "{want}:\n{piped}");
    }
    assert!(
        !piped.contains('█') && !piped.contains("Left out"),
        "{piped}"
    );
    // On a screen the bars show where the money went, and go with --no-chart.
    let screen = on_screen(&t, &["--tz", "UTC"], 140);
    assert!(screen.contains('█'), "{screen}");
    let plain = on_screen(&t, &["--tz", "UTC", "--no-chart"], 140);
    assert!(!plain.contains('█'), "{plain}");
    // The piped session table keeps whole ids; the screen shows their first characters.
    let sessions = ok(&t, &["report", "session", "--tz", "UTC"]);
    assert!(
        sessions.contains("aaaaaaaa-0000-4000-8000-000000000001"),
        "{sessions}"
    );
    let short = on_screen(&t, &["session", "--tz", "UTC"], 140);
    assert!(
        !short.contains("aaaaaaaa-0000") && short.contains("aaaaaaaa "),
        "{short}"
    );
}

#[test]
fn a_breakdown_gives_each_models_part_and_the_parts_add_up() {
    let t = TestHome::new();
    big_history(&t);
    for by in ["daily", "weekly", "monthly", "project", "agent", "session"] {
        let r = report(&t, &[by, "--breakdown", "--tz", "UTC"]);
        for row in r["rows"].as_array().unwrap() {
            let parts = row["models"].as_array().unwrap();
            assert!(!parts.is_empty(), "{by}: {row:#}");
            for pointer in [
                "/usage/input_tokens",
                "/usage/output_tokens",
                "/usage/cache_read_input_tokens",
                "/usage/cache_creation_input_tokens",
            ] {
                let sum: u64 = parts
                    .iter()
                    .map(|p| p.pointer(pointer).unwrap().as_u64().unwrap())
                    .sum();
                assert_eq!(
                    sum,
                    row.pointer(pointer).unwrap().as_u64().unwrap(),
                    "{by} {pointer}: {row:#}"
                );
            }
            // (What has no price adds nothing, and is named.)
            let cost: f64 = parts.iter().filter_map(|p| p["cost_usd"].as_f64()).sum();
            assert!(
                (cost - row["cost_usd"].as_f64().unwrap_or(0.0)).abs() < 1e-6,
                "{by}: {row:#}"
            );
        }
    }
    let day = report(&t, &["--breakdown", "--tz", "UTC"]);
    let parts: Vec<&str> = row(&day, "2026-11-25")["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["(no model)", "mock-model"]);
    let screen = on_screen(&t, &["--breakdown", "--tz", "UTC"], 140);
    assert!(
        screen.contains("└ sonnet-4-5") || screen.contains(&format!("└ {SONNET}")),
        "{screen}"
    );
    let csv = ok(&t, &["report", "--breakdown", "--csv", "--tz", "UTC"]);
    assert!(csv.contains(&format!("2026-11-27 / {SONNET},")), "{csv}");
}

#[test]
fn model_rows_add_up_to_the_totals_with_a_row_for_turns_without_a_model() {
    let t = TestHome::new();
    big_history(&t);
    let models = report(&t, &["model"]);
    let daily = report(&t, &["daily"]);
    assert_eq!(row(&models, "(no model)")["turns"], 1, "{models:#}");
    for pointer in ["/usage/input_tokens", "/usage/output_tokens", "/turns"] {
        assert_eq!(
            models["totals"].pointer(pointer),
            daily["totals"].pointer(pointer),
            "{pointer}"
        );
    }
}

#[test]
fn sessions_show_their_project_times_and_models() {
    let t = TestHome::new();
    big_history(&t);
    let r = report(&t, &["session"]);
    let b = row(&r, "bbbbbbbb-0000-4000-8000-000000000002");
    assert_eq!(
        b["projects"],
        json!(["a-project-with-a-rather-long-folder-name"])
    );
    assert_eq!(
        b["models"],
        json!(["claude-nonexistent-9", SONNET]),
        "each model of a turn"
    );
    let a = row(&r, "aaaaaaaa-0000-4000-8000-000000000001");
    assert_eq!(a["models"], json!([HAIKU, SONNET]));
    assert_eq!(a["first_at"], "2026-11-20T09:30:05.000Z");
    assert_eq!(a["last_at"], "2026-11-21T10:00:05.000Z");
    // The latest session last.
    assert_eq!(
        keys(&r).last().unwrap(),
        "bbbbbbbb-0000-4000-8000-000000000002"
    );
    assert_eq!(
        keys(&r).first().unwrap(),
        "aaaaaaaa-0000-4000-8000-000000000001"
    );
    let screen = on_screen(&t, &["session", "--tz", "UTC"], 140);
    for want in [
        "2026-11-21 10:00",
        "a-project-with-a-rather",
        "haiku-4-5",
        "api",
    ] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
}

#[test]
fn dates_are_taken_as_people_write_them() {
    let t = TestHome::new();
    big_history(&t);
    // A turn today, in the report's time zone.
    let now = jiff::Timestamp::now();
    let sid = "cccccccc-0000-4000-8000-000000000003";
    let at = now.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string();
    let mut s = vec![prompt_in("p9", &at, sid, "/home/dev/api")];
    s.extend(answer("m9", SONNET, &at, sid, [10, 0, 0, 1], 1));
    write_lines(
        &t.claude_dir()
            .join(format!("projects/-home-dev-api/{sid}.jsonl")),
        &s,
    );
    ok(&t, &["import"]);
    let today = now
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    assert_eq!(
        keys(&report(&t, &["--since", "0d", "--tz", "UTC"])),
        std::slice::from_ref(&today),
        "0d is today"
    );
    let before = report(&t, &["--until", "1d", "--tz", "UTC"]);
    assert!(
        !keys(&before).contains(&today),
        "--until 1d ends with yesterday: {before:#}"
    );
    assert!(keys(&before).contains(&"2026-11-20".to_string()));
    // --until takes what --since takes.
    for until in ["2026-11-21", "3m", "2w", "0d"] {
        let out = t.run(&["report", "--until", until, "--json"]);
        assert!(out.status.success(), "--until {until}: {}", stderr(&out));
    }
    let span = report(
        &t,
        &[
            "--since",
            "2026-11-21",
            "--until",
            "2026-11-25",
            "--tz",
            "UTC",
        ],
    );
    assert_eq!(keys(&span), ["2026-11-21", "2026-11-25"]);
    // A range that ends before it begins is refused, saying so.
    let out = t.run(&["report", "--since", "2026-11-25", "--until", "2026-11-21"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is after --until"),
        "{}",
        stderr(&out)
    );
    let out = t.run(&["report", "--until", "yesterdayish"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--until") && stderr(&out).contains("0d"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_project_that_matches_nothing_is_named_with_the_known_ones() {
    let t = TestHome::new();
    big_history(&t);
    let out = t.run(&["report", "--project", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("\"nope\"")
            && err.contains("api")
            && err.contains("a-project-with-a-rather-long-folder-name"),
        "{err}"
    );
    assert_eq!(keys(&report(&t, &["project", "--project", "api"])), ["api"]);
}

#[test]
fn a_project_is_named_by_its_repositorys_folder() {
    let t = TestHome::new();
    let repo = t.home.join("code/shop");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("services/api")).unwrap();
    let sid = "dddddddd-0000-4000-8000-000000000004";
    let cwd = repo.join("services/api");
    let mut s = vec![prompt_in(
        "p1",
        "2026-11-20T09:30:00.000Z",
        sid,
        cwd.to_str().unwrap(),
    )];
    s.extend(answer(
        "m1",
        SONNET,
        "2026-11-20T09:30:05.000Z",
        sid,
        [10, 0, 0, 1],
        1,
    ));
    write_lines(
        &t.claude_dir().join(format!("projects/-shop/{sid}.jsonl")),
        &s,
    );
    ok(&t, &["import"]);
    assert_eq!(keys(&report(&t, &["project"])), ["shop"]);
    // A hook's event in a subfolder: the same project.
    let event = json!({"session_id": sid, "hook_event_name": "SessionStart",
        "cwd": cwd, "source": "startup"});
    let out = t.run_with_stdin(&["emit", "--print"], event.to_string().as_bytes());
    let payload: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(payload["project"], "shop", "{payload:#}");
}

#[test]
fn log_shows_one_line_per_event_newest_first() {
    let t = TestHome::new().env("TZ", "UTC");
    big_history(&t);
    let out = t.cmd(&["log"]).env("COLUMNS", "100").output().unwrap();
    let log = stdout(&out);
    let rows: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("│ 2026") || l.starts_with("│ 11"))
        .collect();
    assert!(rows.len() >= 4, "{log}");
    let first = rows.iter().position(|l| l.contains("11-27")).unwrap();
    let last = rows.iter().position(|l| l.contains("11-20")).unwrap();
    assert!(first < last, "newest first:\n{log}");
    for l in log.lines() {
        assert!(l.chars().count() <= 100, "{l}");
    }
    assert!(!log.contains("\"event_id\""), "no JSON unless asked: {log}");
    let payload = ok(&t, &["log", "--payload"]);
    assert!(payload.contains("\"event_id\""), "{payload}");
    insta::assert_snapshot!("log_100", log);
}

#[test]
fn doctors_findings_wrap_at_the_terminals_width() {
    let t = TestHome::new();
    for width in [60, 80] {
        let out = t
            .cmd(&["doctor"])
            .env("COLUMNS", width.to_string())
            .output()
            .unwrap();
        let said = stdout(&out);
        assert!(said.contains("fix: telemhq install"), "{said}");
        for l in said.lines() {
            assert!(l.chars().count() <= width, "{width}: {l:?}\n{said}");
        }
    }
    // Piped, each finding is one line, as before.
    let piped = stdout(&t.run(&["doctor"]));
    assert!(
        piped.lines().any(|l| l.chars().count() > 80),
        "unwrapped when piped:\n{piped}"
    );
}
