//! The local store, `import` and `report`: what telemhq records is the user's to see on
//! their machine, with or without a tracker. Each agent's real session files give the
//! same turn through `import` as through its hook (one record when both meet it); a
//! store that is locked or damaged never stops a hook or a delivery; report groups,
//! filters and totals as documented, in any time zone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use telemhq::agents::{self, Agent};

use crate::ccusage::{answer, line, prompt};
use crate::support::{Mode, Receiver, TestHome, data, doctor_check, stderr, stdout, wait_until};

/// Runs telemhq, which must succeed.
fn ran(t: &TestHome, args: &[&str]) -> std::process::Output {
    let out = t.run(args);
    assert!(out.status.success(), "telemhq {args:?}: {}", stderr(&out));
    out
}

pub(crate) fn ok(t: &TestHome, args: &[&str]) -> String {
    let out = t.run(args);
    assert!(
        out.status.success(),
        "telemhq {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Every event `log --json` shows.
fn logged(t: &TestHome) -> Vec<Value> {
    ok(t, &["log", "--json", "--limit", "100000"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub(crate) fn report(t: &TestHome, args: &[&str]) -> Value {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&ok(t, &all)).unwrap()
}

pub(crate) fn keys(report: &Value) -> Vec<String> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key}: {report:#}"))
}

/// Agents whose records hold each turn's usage: the history `import` reads. (Cursor's
/// `stop` payload carries it and its transcript has none; Droid keeps only a session's
/// running total.)
fn with_history() -> impl Iterator<Item = &'static dyn Agent> {
    agents::ALL
        .into_iter()
        .filter(|a| !["cursor", "droid"].contains(&a.id()))
}

/// Where each agent keeps a session's file under HOME, as its history reader looks.
fn history_path(t: &TestHome, agent: &dyn Agent) -> PathBuf {
    match agent.id() {
        "claude" => t
            .claude_dir()
            .join("projects/-home-dev-projects-api/7ee36f97.jsonl"),
        "codex" => t.home.join(
            ".codex/sessions/2026/11/25/rollout-2026-11-25T05-07-01-01a21119-9eb3-7be0-a711-4be802888739.jsonl",
        ),
        "gemini" => t
            .home
            .join(".gemini/tmp/project/chats/session-2026-11-25T05-54-38eea033.jsonl"),
        "copilot" => t
            .home
            .join(".copilot/session-state/9cc16784-0428-4daa-907f-3851f2cf654c/events.jsonl"),
        "qwen" => t.home.join(
            ".qwen/projects/-home-dev-projects-api/chats/6596f7a6-3ebf-4dec-9ed6-c159e6b922a8.jsonl",
        ),
        "droid" => t
            .home
            .join(".factory/sessions/-home-dev-projects-api/57413cee-babc-4559-975b-d863d109570e.jsonl"),
        other => panic!("{other} has no history layout in this test: add it"),
    }
}

/// The agent's turn-end hook event and its session file (the conformance data), with
/// the session file placed in the agent's history in this HOME.
fn turn_end(t: &TestHome, agent: &dyn Agent, edit: impl Fn(&mut Value)) -> (Value, Vec<String>) {
    let dir = data("conformance").join(agent.id());
    let specs: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("events.json")).unwrap()).unwrap();
    let Some(spec) = specs.iter().find(|s| s.get("session").is_some()) else {
        // No records to read: the turn-end payload is all there is (Cursor's).
        let event = serde_json::from_slice(
            &std::fs::read(data(specs[0]["payload"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let args = specs[0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        return (event, args);
    };
    let path = history_path(t, agent);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text = std::fs::read_to_string(data(spec["session"].as_str().unwrap())).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(mut v) => {
                edit(&mut v);
                serde_json::to_string(&v).unwrap()
            }
            Err(_) => l.to_string(),
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    // Droid's running totals live beside the transcript.
    let source = data(spec["session"].as_str().unwrap());
    let beside = source.with_extension("settings.json");
    if beside.exists() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        std::fs::copy(beside, path.with_file_name(format!("{stem}.settings.json"))).unwrap();
    }
    // (Claude Code's captured Stop is of another turn than its captured transcript; the
    // transcript's own Stop was captured beside it.)
    let payload = match agent.id() {
        "claude" => "claude-code-2.1.328/transcript-tool-turn.stop.json",
        _ => spec["payload"].as_str().unwrap(),
    };
    let mut event: Value = serde_json::from_slice(&std::fs::read(data(payload)).unwrap()).unwrap();
    let session = json!(path.display().to_string());
    match event.get("transcriptPath") {
        Some(_) => event["transcriptPath"] = session,
        None => event["transcript_path"] = session,
    }
    let args = spec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    (event, args)
}

fn emit(t: &TestHome, args: &[String], event: &Value, print: bool) -> Option<Value> {
    let mut all = vec!["emit".to_string()];
    if print {
        all.push("--print".into());
    }
    all.extend(args.iter().cloned());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = t.run_with_stdin(&all, event.to_string().as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    print.then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// The fields of a turn that must be the same however it was read.
fn turn_fields(p: &Value) -> Value {
    json!({
        "turn_uid": p["turn_uid"], "usage": p["usage"], "model": p["model"],
        "models": p.get("models"), "api_calls": p["api_calls"], "cost_usd": p.get("cost_usd"),
        "unpriced_models": p.get("unpriced_models"), "tool": p["tool"], "provider": p["provider"],
        "session_id": p.get("session_id"),
    })
}

fn import_reads_each_agents_session_files_as_its_hook_does_and_keeps_one_record_per_turn(
    agent: &'static dyn Agent,
) {
    let id = agent.id();
    // Import alone: the turn its hook would have sent, with the same identity.
    let t = TestHome::new();
    let (event, args) = turn_end(&t, agent, |_| {});
    let hook = emit(&t, &args, &event, true).unwrap();
    assert!(
        hook["usage"]["input_tokens"].as_u64().unwrap() > 0,
        "{hook:#}"
    );
    let out = t.run(&["import"]);
    assert!(out.status.success(), "{id}: {}", stderr(&out));
    let rows = logged(&t);
    let turn: Vec<&Value> = rows
        .iter()
        .filter(|r| r["payload"]["turn_uid"] == hook["turn_uid"])
        .collect();
    assert_eq!(turn.len(), 1, "{id}: {rows:#?}");
    assert_eq!(turn[0]["source"], "import");
    assert_eq!(turn[0]["state"], "local");
    assert_eq!(turn_fields(&turn[0]["payload"]), turn_fields(&hook), "{id}");

    // Idempotent: a second import adds nothing.
    let out = t.run(&["import"]);
    assert!(
        stderr(&out).contains("0 turn(s) read"),
        "{id}: {}",
        stderr(&out)
    );
    assert_eq!(logged(&t).len(), rows.len(), "{id}");

    // Hook first (no tracker: the store is where it goes), then import: one record,
    // the hook's.
    let t = TestHome::new();
    let (event, args) = turn_end(&t, agent, |_| {});
    let t0 = crate::support::now_ms();
    emit(&t, &args, &event, false);
    t.wait_sender_idle(Some(t0));
    ok(&t, &["import"]);
    let rows = logged(&t);
    let turns: Vec<&Value> = rows
        .iter()
        .filter(|r| r["payload"]["turn_uid"] == hook["turn_uid"])
        .collect();
    assert_eq!(turns.len(), 1, "{id}: one record per turn: {rows:#?}");
    assert_eq!(turns[0]["source"], "hook", "{id}");
    assert_eq!(turns[0]["state"], "pending (no tracker yet)", "{id}");
    assert_eq!(
        turn_fields(&turns[0]["payload"]),
        turn_fields(&hook),
        "{id}"
    );
    // Every turn of the file once: the hook's, and the others import found.
    let r = report(&t, &["agent"]);
    assert_eq!(r["totals"]["turns"], rows.len(), "{id}: {r:#}");
}

/// A canary in every free-text string of every agent's session file reaches no row of
/// the store, no report and no log.
#[test]
fn imported_history_keeps_no_free_text() {
    fn fill(v: &mut Value, canary: &str) {
        match v {
            Value::String(s) if s.contains(' ') => *s = format!("{canary} {s}"),
            Value::Array(a) => a.iter_mut().for_each(|x| fill(x, canary)),
            Value::Object(o) => o.values_mut().for_each(|x| fill(x, canary)),
            _ => {}
        }
    }
    let canary = "CANARY_store_91c4";
    let t = TestHome::new();
    for agent in with_history() {
        turn_end(&t, agent, |v| fill(v, canary));
    }
    let out = t.run(&["import"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        logged(&t).len() >= with_history().count(),
        "{}",
        stderr(&out)
    );
    let mut seen = String::new();
    for args in [
        &["log", "--json"][..],
        &["log"],
        &["report"],
        &["report", "session", "--json"],
        &["report", "project", "--csv"],
        &["report", "model"],
    ] {
        seen.push_str(&ok(&t, args));
    }
    for entry in std::fs::read_dir(t.state_dir()).unwrap().flatten() {
        if entry.path().is_file() {
            seen.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    assert!(seen.contains("gemini-cli"), "the store was read: {seen}");
    assert!(
        !seen.contains(canary),
        "free text in the store or its reports"
    );
}

/// Claude Code's lines for a prompt, in a folder.
pub(crate) fn prompt_in(pid: &str, ts: &str, sid: &str, cwd: &str) -> String {
    let mut v: Value = serde_json::from_str(&prompt(pid, ts, sid)).unwrap();
    v["cwd"] = json!(cwd);
    line(v)
}

pub(crate) fn write_lines(path: &Path, lines: &[String]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

pub(crate) const SONNET: &str = "claude-sonnet-4-5-20250929";
pub(crate) const HAIKU: &str = "claude-haiku-4-5-20251001";

/// What import said it read ("…, 1.2 KiB read …").
fn bytes_read(out: &std::process::Output) -> String {
    let text = stderr(out);
    let (head, _) = text
        .split_once(" read into")
        .unwrap_or_else(|| panic!("no bytes read in {text}"));
    head.rsplit(", ").next().unwrap().to_string()
}

#[test]
fn a_reimport_reads_only_what_was_appended_and_waits_for_a_line_still_being_written() {
    let t = TestHome::new();
    let sid = "55555555-5555-4555-8555-555555555555";
    let path = t
        .claude_dir()
        .join("projects/-home-dev-api")
        .join(format!("{sid}.jsonl"));
    let mut lines = vec![prompt_in(
        "p1",
        "2026-11-27T10:00:00.000Z",
        sid,
        "/home/dev/api",
    )];
    lines.extend(answer(
        "msg_1",
        SONNET,
        "2026-11-27T10:00:05.000Z",
        sid,
        [1000, 0, 0, 100],
        2,
    ));
    lines.push(prompt_in(
        "p2",
        "2026-11-27T10:30:00.000Z",
        sid,
        "/home/dev/api",
    ));
    lines.extend(answer(
        "msg_2",
        SONNET,
        "2026-11-27T10:30:05.000Z",
        sid,
        [200, 0, 0, 20],
        1,
    ));
    write_lines(&path, &lines);
    ok(&t, &["import"]);
    assert_eq!(report(&t, &[])["totals"]["usage"]["input_tokens"], 1200);

    // A third turn appended, its answer's line not finished yet. A re-import reads from
    // the last turn it read (which may have gone on), and no further back; the unfinished
    // line waits for its end.
    let last_turn_at = std::fs::read_to_string(&path)
        .unwrap()
        .find("\"p2\"")
        .map(|i| {
            std::fs::read_to_string(&path).unwrap()[..i]
                .rfind('\n')
                .unwrap()
                + 1
        })
        .unwrap() as u64;
    let third = answer(
        "msg_3",
        HAIKU,
        "2026-11-27T11:00:05.000Z",
        sid,
        [300, 0, 0, 30],
        1,
    );
    append(
        &path,
        &format!(
            "{}\n{}",
            prompt_in("p3", "2026-11-27T11:00:00.000Z", sid, "/home/dev/api"),
            &third[0][..40]
        ),
    );
    let size = std::fs::metadata(&path).unwrap().len();
    let out = ran(&t, &["import"]);
    assert_eq!(
        bytes_read(&out),
        indicatif::HumanBytes(size - last_turn_at).to_string(),
        "only what follows the last turn read: {}",
        stderr(&out)
    );
    let r = report(&t, &[]);
    assert_eq!(r["totals"]["turns"], 2, "{r:#}");
    assert_eq!(r["totals"]["usage"]["input_tokens"], 1200);

    append(&path, &format!("{}\n", &third[0][40..]));
    ok(&t, &["import"]);
    let r = report(&t, &[]);
    assert_eq!(r["totals"]["turns"], 3, "{r:#}");
    assert_eq!(r["totals"]["usage"]["input_tokens"], 1500, "{r:#}");
    // Nothing new: nothing read, nothing added.
    let out = t.run(&["import"]);
    assert!(
        stderr(&out).contains("0 turn(s) read: 0 new, 0 already recorded"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("1 file(s) unchanged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(report(&t, &[])["totals"]["turns"], 3);
}

/// A transcript rewritten in place, of the same size or shorter, is read again from
/// its start (what was read is fingerprinted, not only its size and time).
#[test]
fn a_transcript_rewritten_in_place_is_read_again_from_its_start() {
    let t = TestHome::new();
    let sid = "56565656-5656-4565-8565-565656565656";
    let path = t
        .claude_dir()
        .join("projects/-home-dev-api")
        .join(format!("{sid}.jsonl"));
    let turn = |n: u32, input: u64| {
        let mut lines = vec![prompt_in(
            &format!("p{n}"),
            &format!("2026-11-27T1{n}:00:00.000Z"),
            sid,
            "/home/dev/api",
        )];
        lines.extend(answer(
            &format!("msg_{n}"),
            SONNET,
            &format!("2026-11-27T1{n}:00:05.000Z"),
            sid,
            [input, 0, 0, 10],
            1,
        ));
        lines
    };
    let all: Vec<String> = (1..=3).flat_map(|n| turn(n, 1000 * u64::from(n))).collect();
    write_lines(&path, &all);
    ok(&t, &["import"]);
    assert_eq!(report(&t, &[])["totals"]["usage"]["input_tokens"], 6000);

    // The same size, other figures (1000 → 7000 in the first turn).
    let text = std::fs::read_to_string(&path).unwrap();
    let rewritten = text.replacen("\"input_tokens\":1000", "\"input_tokens\":7000", 1);
    assert_eq!(rewritten.len(), text.len());
    assert_ne!(rewritten, text);
    std::fs::write(&path, &rewritten).unwrap();
    let out = ran(&t, &["import"]);
    assert_eq!(
        bytes_read(&out),
        indicatif::HumanBytes(rewritten.len() as u64).to_string(),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("3 turn(s) read: 0 new, 3 already recorded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(report(&t, &[])["totals"]["usage"]["input_tokens"], 12000);

    // Shorter: the last turn gone, the first one's figure back. Read from the start; the
    // turn recorded before stays recorded.
    write_lines(&path, &all[..4]);
    let out = ran(&t, &["import"]);
    assert_eq!(
        bytes_read(&out),
        indicatif::HumanBytes(std::fs::metadata(&path).unwrap().len()).to_string()
    );
    let r = report(&t, &[]);
    assert_eq!(r["totals"]["turns"], 3, "{r:#}");
    assert_eq!(r["totals"]["usage"]["input_tokens"], 6000, "{r:#}");
}

#[test]
fn import_skips_links_fifos_and_overlong_lines_and_reads_the_rest() {
    let t = TestHome::new();
    let projects = t.claude_dir().join("projects/-home-dev-api");
    // A transcript outside the history, linked into it: never followed.
    let outside = t.dir.path().join("elsewhere.jsonl");
    let sid = "66666666-6666-4666-8666-666666666666";
    let mut lines = vec![prompt_in(
        "p1",
        "2026-11-27T10:00:00.000Z",
        sid,
        "/home/dev/api",
    )];
    lines.extend(answer(
        "msg_l",
        SONNET,
        "2026-11-27T10:00:05.000Z",
        sid,
        [777, 0, 0, 7],
        1,
    ));
    write_lines(&outside, &lines);
    std::fs::create_dir_all(&projects).unwrap();
    std::os::unix::fs::symlink(&outside, projects.join(format!("{sid}.jsonl"))).unwrap();
    // A FIFO named like a transcript: opening it to read would wait forever.
    let fifo = projects.join("77777777-7777-4777-8777-777777777777.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // A transcript with a line of 9 MB (a pasted file) before a turn.
    let big = "88888888-8888-4888-8888-888888888888";
    let mut lines = vec![line(json!({"type": "user", "sessionId": big,
        "message": {"role": "user", "content": "x".repeat(9 * 1024 * 1024)}}))];
    lines.push(prompt_in(
        "p2",
        "2026-11-27T12:00:00.000Z",
        big,
        "/home/dev/api",
    ));
    lines.extend(answer(
        "msg_b",
        SONNET,
        "2026-11-27T12:00:05.000Z",
        big,
        [300, 0, 0, 30],
        1,
    ));
    write_lines(&projects.join(format!("{big}.jsonl")), &lines);

    // (were a FIFO opened, the import would never end: it is killed after a minute)
    let child = t
        .cmd(&["import"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&t, &["session"]);
    assert_eq!(keys(&r), vec![big.to_string()], "{r:#}");
    assert_eq!(r["totals"]["usage"]["input_tokens"], 300);
}

/// A store with two projects' Claude Code sessions and a Codex session: turns late on
/// the 20th (UTC), on the 21st, a Codex turn on the 25th (its model has no price), and
/// on the 27th a turn of two models, one of them without a price.
pub(crate) fn history(t: &TestHome) {
    let (a, b) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000002",
    );
    let mut s1 = vec![prompt_in(
        "p1",
        "2026-11-20T23:30:00.000Z",
        a,
        "/home/dev/api",
    )];
    s1.extend(answer(
        "m1",
        SONNET,
        "2026-11-20T23:30:05.000Z",
        a,
        [1000, 0, 0, 100],
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
    let mut s2 = vec![prompt_in(
        "p3",
        "2026-11-27T12:00:00.000Z",
        b,
        "/home/dev/web",
    )];
    s2.extend(answer(
        "m3",
        SONNET,
        "2026-11-27T12:00:05.000Z",
        b,
        [3000, 0, 0, 300],
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
            .join(format!("projects/-home-dev-web/{b}.jsonl")),
        &s2,
    );
    let codex = t
        .home
        .join(".codex/sessions/2026/11/25/rollout-2026-11-25T05-07-01-01a21119.jsonl");
    std::fs::create_dir_all(codex.parent().unwrap()).unwrap();
    std::fs::copy(data("codex-0.169.0/rollout.jsonl"), codex).unwrap();
    ok(t, &["import"]);
}

fn sum_rows(r: &Value, pointer: &str) -> u64 {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.pointer(pointer).and_then(Value::as_u64).unwrap())
        .sum()
}

#[test]
fn report_groups_filters_and_totals() {
    let t = TestHome::new();
    history(&t);

    let daily = report(&t, &["--tz", "UTC"]);
    assert_eq!(
        keys(&daily),
        ["2026-11-20", "2026-11-21", "2026-11-25", "2026-11-27"]
    );
    // The documented shape.
    let first = &daily["rows"][0];
    for field in [
        "/key",
        "/turns",
        "/usage/input_tokens",
        "/usage/output_tokens",
        "/usage/cache_creation_input_tokens",
        "/usage/cache_read_input_tokens",
        "/usage/reasoning_output_tokens",
        "/cost_usd",
        "/unpriced_models",
        "/failed_turns",
        "/tool_calls",
    ] {
        assert!(first.pointer(field).is_some(), "{field}: {first:#}");
    }
    // Totals are the sum of the rows.
    for pointer in [
        "/turns",
        "/usage/input_tokens",
        "/usage/output_tokens",
        "/usage/cache_creation_input_tokens",
        "/usage/cache_read_input_tokens",
        "/usage/reasoning_output_tokens",
        "/tool_calls",
    ] {
        assert_eq!(
            daily["totals"]
                .pointer(pointer)
                .and_then(Value::as_u64)
                .unwrap(),
            sum_rows(&daily, pointer),
            "{pointer}"
        );
    }
    let priced: f64 = daily["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["cost_usd"].as_f64())
        .sum();
    assert!((daily["totals"]["cost_usd"].as_f64().unwrap() - priced).abs() < 1e-9);
    assert_eq!(daily["totals"]["turns"], 4);
    // Sonnet 4.5 at $3 / $15 per million.
    let day = row(&daily, "2026-11-20");
    assert!(
        (day["cost_usd"].as_f64().unwrap() - (1000.0 * 3.0 + 100.0 * 15.0) / 1e6).abs() < 1e-12
    );
    // A model without a price: named, and never a $0.
    let codex_day = row(&daily, "2026-11-25");
    assert_eq!(codex_day["cost_usd"], Value::Null, "{codex_day:#}");
    assert_eq!(codex_day["unpriced_models"], json!(["mock-model"]));
    assert_eq!(
        row(&daily, "2026-11-27")["unpriced_models"],
        json!(["claude-nonexistent-9"])
    );
    assert_eq!(
        daily["totals"]["unpriced_models"],
        json!(["claude-nonexistent-9", "mock-model"])
    );

    // Time zones around midnight: 23:30 UTC on the 20th is the 21st in Tokyo, still the
    // 20th in New York.
    let tokyo = report(&t, &["--tz", "Asia/Tokyo"]);
    assert_eq!(keys(&tokyo)[0], "2026-11-21");
    assert_eq!(row(&tokyo, "2026-11-21")["turns"], 2);
    let new_york = report(&t, &["daily", "--tz", "America/New_York"]);
    assert_eq!(row(&new_york, "2026-11-20")["turns"], 1);
    let out = t.run(&["report", "--tz", "Mars/Olympus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Mars/Olympus"), "{}", stderr(&out));

    let weekly = report(&t, &["weekly", "--tz", "UTC"]);
    assert_eq!(
        keys(&weekly),
        ["2026-11-16", "2026-11-23"],
        "weeks from Monday"
    );
    assert_eq!(row(&weekly, "2026-11-16")["turns"], 2);
    let monthly = report(&t, &["monthly", "--tz", "UTC"]);
    assert_eq!(keys(&monthly), ["2026-11"]);
    assert_eq!(monthly["totals"], daily["totals"]);

    let sessions = report(&t, &["session"]);
    assert_eq!(sessions["rows"].as_array().unwrap().len(), 3);
    assert_eq!(
        row(&sessions, "aaaaaaaa-0000-4000-8000-000000000001")["usage"]["input_tokens"],
        1200
    );
    let projects = report(&t, &["project"]);
    assert_eq!(keys(&projects), ["api", "proj", "web"]);
    let agents = report(&t, &["agent"]);
    assert_eq!(keys(&agents), ["claude-code", "codex"]);
    let models = report(&t, &["model"]);
    assert_eq!(row(&models, SONNET)["turns"], 2);
    assert_eq!(
        row(&models, "claude-nonexistent-9")["cost_usd"],
        Value::Null
    );
    // A turn of two models is one turn in the totals.
    assert_eq!(models["totals"]["turns"], 4);
    assert_eq!(
        models["totals"]["usage"]["input_tokens"],
        daily["totals"]["usage"]["input_tokens"]
    );

    // Filters.
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
    let codex = report(&t, &["agent", "--agent", "codex"]);
    assert_eq!(keys(&codex), ["codex"]);
    let web = report(&t, &["session", "--project", "web"]);
    assert_eq!(keys(&web), ["bbbbbbbb-0000-4000-8000-000000000002"]);
    // (days counted back from today: `report::dates_are_taken_as_people_write_them`)
    let out = t.run(&["report", "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", stderr(&out));

    // CSV: a header, one line per group, then the totals; as many cells on each line.
    let csv = ok(&t, &["report", "--csv", "--tz", "UTC"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1, "{csv}");
    assert!(lines[0].starts_with("day,turns,input,output"), "{csv}");
    assert!(lines[1].starts_with("2026-11-20,1,1000,100,"), "{csv}");
    assert!(lines[5].starts_with("total,4,"), "{csv}");
    let cells = |l: &str| {
        let mut quoted = false;
        1 + l
            .chars()
            .filter(|&c| {
                quoted ^= c == '"';
                c == ',' && !quoted
            })
            .count()
    };
    assert!(lines.iter().all(|l| cells(l) == cells(lines[0])), "{csv}");

    // The table: every day and the totals, with the unpriced model named.
    let table = ok(&t, &["report", "--tz", "UTC"]);
    for want in [
        "2026-11-20",
        "2026-11-27",
        "Total",
        "No price for claude-nonexistent-9, mock-model",
    ] {
        assert!(table.contains(want), "{want}: {table}");
    }
    assert!(!table.contains('\x1b'), "no colour codes: {table}");
}

#[test]
fn retention_drops_turns_older_than_the_store_keeps() {
    let t = TestHome::new();
    history(&t);
    assert_eq!(report(&t, &[])["totals"]["turns"], 4);
    // Keep 3 days only (config.json's `keep_days`): a re-import prunes, and does not
    // read back what is older.
    let config = t.state_dir().join("config.json");
    let mut c: Value = std::fs::read(&config)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(json!({}));
    c["keep_days"] = json!(3);
    std::fs::write(&config, c.to_string()).unwrap();
    std::fs::remove_file(t.state_dir().join("telemhq.db-wal")).ok();
    let now = crate::support::now_ms();
    let out = t.run(&["import"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&t, &["--tz", "UTC"]);
    for day in keys(&r) {
        let date: jiff::civil::Date = day.parse().unwrap();
        let at = jiff::tz::TimeZone::UTC
            .to_timestamp(date.at(0, 0, 0, 0))
            .unwrap()
            .as_millisecond();
        assert!(at + 86_400_000 >= now - 3 * 86_400_000, "{day} kept: {r:#}");
    }
    assert!(r["totals"]["turns"].as_u64().unwrap() < 4, "{r:#}");
}

/// The store holds nothing but the allowlist: what was delivered is exactly what it
/// keeps, field by field, for every agent.
fn every_delivered_field_round_trips_through_the_store(agent: &'static dyn Agent) {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    let url = format!("{}/store-{}", r.url(), agent.id());
    t.install(&["--global", "--agent", agent.id(), "--ping-url", &url]);
    let (event, args) = turn_end(&t, agent, |_| {});
    emit(&t, &args, &event, false);
    ok(&t, &["flush", "--wait", "20"]);
    let sent: Vec<Value> = r
        .pings()
        .iter()
        .filter(|p| p.path.ends_with(&format!("/store-{}", agent.id())))
        .map(|p| p.json())
        .collect();
    assert_eq!(sent.len(), 1, "{}", agent.id());
    let rows = logged(&t);
    let stored = rows
        .iter()
        .find(|r| r["payload"]["event_id"] == sent[0]["event_id"])
        .unwrap_or_else(|| panic!("{}: not in the store: {rows:#?}", agent.id()));
    assert_eq!(stored["payload"], sent[0], "{}", agent.id());
    assert_eq!(stored["state"], "delivered");
    assert!(stored["tracker"].is_string(), "{stored:#}");
    let mode = std::fs::metadata(t.state_dir().join("telemhq.db")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.permissions().mode() & 0o777,
        0o600,
        "the store is private"
    );
}

/// Events with no tracker at all are kept in the store, and stay there whatever
/// happens to the queue (which keeps at most 1,000 waiting).
#[test]
fn events_without_a_tracker_are_kept_in_the_store() {
    let t = TestHome::new();
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    let t0 = crate::support::now_ms();
    emit(&t, &args, &event, false);
    let mut tool = event.clone();
    tool["hook_event_name"] = json!("PostToolUse");
    tool["tool_name"] = json!("Bash");
    emit(&t, &args, &tool, false);
    t.wait_sender_idle(Some(t0));
    wait_until(Duration::from_secs(10), || logged(&t).len() == 2);
    // As when the queue's bound drops the oldest: the store still has them.
    for entry in std::fs::read_dir(t.state_dir().join("queue"))
        .unwrap()
        .flatten()
    {
        std::fs::remove_file(entry.path()).unwrap();
    }
    let rows = logged(&t);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| r["state"] == "pending (no tracker yet)"),
        "{rows:#?}"
    );
    assert_eq!(report(&t, &[])["totals"]["turns"], 1);
}

#[test]
fn a_locked_store_never_holds_up_delivery_and_doctor_says_so() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    let url = format!("{}/locked", r.url());
    t.install(&["--global", "--ping-url", &url]);
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    emit(&t, &args, &event, false);
    ok(&t, &["flush", "--wait", "20"]);
    assert_eq!(r.pings().len(), 1);
    let check = doctor_check(&t, "store");
    assert_eq!(check["status"], "ok", "{check:#}");

    // Another process holds the store's write lock the whole time.
    let db = rusqlite::Connection::open(t.state_dir().join("telemhq.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut again = event.clone();
    again["prompt_id"] = json!("another-prompt");
    emit(&t, &args, &again, false);
    let out = t.run(&["flush", "--wait", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r.pings().len(), 2, "delivered although the store is locked");
    let check = doctor_check(&t, "store.write");
    assert_eq!(check["status"], "warn", "{check:#}");
    assert!(
        check["message"].as_str().unwrap().contains("locked"),
        "{check:#}"
    );

    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    let out = t.run(&["report"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_damaged_store_never_stops_a_hook_and_report_and_doctor_say_what_to_do() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    let url = format!("{}/damaged", r.url());
    t.install(&["--global", "--ping-url", &url]);
    let db = t.state_dir().join("telemhq.db");
    std::fs::write(
        &db,
        b"this is not a database, it was overwritten by something",
    )
    .unwrap();
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    emit(&t, &args, &event, false);
    ok(&t, &["flush", "--wait", "20"]);
    assert_eq!(
        r.pings().len(),
        1,
        "delivered although the store is damaged"
    );

    let out = t.run(&["report"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("telemhq import"), "{err}");
    let check = doctor_check(&t, "store");
    assert_eq!(check["status"], "warn", "{check:#}");
    // `log` still shows what the queue knows.
    let out = t.run(&["log", "--json"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(
        std::fs::read(&db)
            .unwrap()
            .starts_with(b"this is not a database"),
        "the damaged file is left as it was"
    );
}

/// A turn whose tracker does not answer yet is in the store (and the report) while it
/// waits, then recorded as delivered once it goes.
#[test]
fn a_turn_waiting_for_its_tracker_is_counted_and_then_delivered() {
    let r = Receiver::start(Mode::Status(503));
    let t = TestHome::new();
    let url = format!("{}/waiting", r.url());
    t.install(&["--global", "--ping-url", &url]);
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    emit(&t, &args, &event, false);
    wait_until(Duration::from_secs(20), || {
        t.run(&["report", "--json"]).status.success() && report(&t, &[])["totals"]["turns"] == 1
    });
    let rows = logged(&t);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["state"], "pending", "{rows:#?}");
    assert!(
        rows[0]["payload"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    r.set_mode(Mode::Ok);
    ok(&t, &["flush", "--wait", "20"]);
    let rows = logged(&t);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["state"], "delivered", "{rows:#?}");
    assert_eq!(report(&t, &[])["totals"]["turns"], 1);
}

/// A full disk, as SQLite meets it: the sender may not grow any file past 48 KiB (the
/// store needs more; a queue entry does not). The ping is delivered all the same, and
/// doctor says why the store has nothing.
#[test]
fn a_full_disk_for_the_store_never_holds_up_delivery() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    let url = format!("{}/full", r.url());
    t.install(&["--global", "--ping-url", &url]);
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    // `ulimit -f` counts 512-byte blocks; an ignored SIGXFSZ makes a write past it fail
    // with EFBIG, as on a full disk, instead of killing the process (both are inherited
    // by the detached sender).
    let command = format!(
        "trap '' XFSZ; ulimit -f 96; exec {} emit {}",
        crate::support::BIN,
        args.join(" ")
    );
    let mut child = t
        .hook_shell(&command)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(event.to_string().as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success());
    r.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        r.pings().len(),
        1,
        "delivered although the store cannot grow"
    );
    t.wait_sender_idle(None);
    let check = doctor_check(&t, "store.write");
    assert_eq!(check["status"], "warn", "{check:#}");
    // (SQLite says "disk I/O error" for EFBIG, "database or disk is full" for ENOSPC.)
    let message = check["message"].as_str().unwrap();
    assert!(message.contains("could not keep an event"), "{check:#}");
    assert!(message.contains("disk"), "{check:#}");
}

/// `import --send`: each past turn goes to the tracker of the folder it ran in (as its
/// hook's would have), marked `backfill`, and is recorded as delivered; without a
/// terminal it sends only with `--yes`, and says so before importing anything.
#[test]
fn import_send_routes_each_turn_to_its_folders_tracker() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &format!("{}/global", r.url())]);
    t.install(&["--repo", "--ping-url", &format!("{}/repo", r.url())]);
    let repo = t.repo.display().to_string();
    let (a, b) = (
        "cccccccc-0000-4000-8000-000000000003",
        "dddddddd-0000-4000-8000-000000000004",
    );
    let mut s1 = vec![prompt_in("p1", "2026-11-27T09:00:00.000Z", a, &repo)];
    s1.extend(answer(
        "ma",
        SONNET,
        "2026-11-27T09:00:05.000Z",
        a,
        [100, 0, 0, 10],
        1,
    ));
    write_lines(
        &t.claude_dir().join(format!("projects/-api/{a}.jsonl")),
        &s1,
    );
    let mut s2 = vec![prompt_in(
        "p2",
        "2026-11-27T10:00:00.000Z",
        b,
        "/home/dev/elsewhere",
    )];
    s2.extend(answer(
        "mb",
        SONNET,
        "2026-11-27T10:00:05.000Z",
        b,
        [200, 0, 0, 20],
        1,
    ));
    write_lines(
        &t.claude_dir()
            .join(format!("projects/-elsewhere/{b}.jsonl")),
        &s2,
    );

    let out = t.run(&["import", "--send"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(
        !t.state_dir().join("telemhq.db").exists(),
        "nothing imported"
    );

    let out = t.run(&["import", "--send", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Queued 2 past turn(s)"),
        "{}",
        stderr(&out)
    );
    let pings = r.wait_for(2, Duration::from_secs(20));
    let to = |path: &str| -> Vec<Value> {
        r.pings()
            .iter()
            .filter(|p| p.path.ends_with(path))
            .map(|p| p.json())
            .collect()
    };
    assert_eq!(pings.len(), 2);
    let (repo_pings, global_pings) = (to("/repo"), to("/global"));
    assert_eq!(repo_pings.len(), 1, "{pings:#?}");
    assert_eq!(repo_pings[0]["session_id"], a);
    assert_eq!(global_pings.len(), 1, "{pings:#?}");
    assert_eq!(global_pings[0]["session_id"], b);
    assert!(pings.iter().all(|p| p["backfill"] == true), "{pings:#?}");
    t.wait_sender_idle(None);
    let rows = logged(&t);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r["state"] == "delivered"), "{rows:#?}");
    assert!(rows.iter().all(|r| r["source"] == "import"), "{rows:#?}");
}

#[test]
fn log_filters_by_agent_state_and_tracker_and_import_prints_one_line_when_piped() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &format!("{}/mine-7f2c", r.url())]);
    // Codex's history, imported (kept local); Claude Code's turn, delivered by its hook.
    turn_end(&t, agents::by_id("codex").unwrap(), |_| {});
    let out = t.run(&["import", "--agent", "codex"]);
    assert!(out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    emit(&t, &args, &event, false);
    ok(&t, &["flush", "--wait", "20"]);

    let shown = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["log", "--json"];
        all.extend_from_slice(args);
        ok(&t, &all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(shown(&[]).len(), 2);
    let codex = shown(&["--agent", "codex"]);
    assert_eq!(codex.len(), 1);
    assert_eq!(codex[0]["payload"]["tool"], "codex");
    assert_eq!(codex[0]["state"], "local");
    let delivered = shown(&["--state", "delivered"]);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["payload"]["tool"], "claude-code");
    let tracker = delivered[0]["tracker"].as_str().unwrap().to_string();
    let by_tracker = shown(&["--tracker", &tracker[..tracker.len().min(20)]]);
    assert_eq!(by_tracker.len(), 1, "{tracker}: {by_tracker:#?}");
    assert!(shown(&["--tracker", "no-such-tracker"]).is_empty());
}

/// A Copilot CLI session killed mid-turn has no closing record: its turns are read as
/// they are, with the usage recorded so far.
#[test]
fn a_killed_copilot_session_is_imported_as_far_as_it_went() {
    let t = TestHome::new();
    let copilot = agents::by_id("copilot").unwrap();
    turn_end(&t, copilot, |_| {});
    let path = history_path(&t, copilot);
    let text = std::fs::read_to_string(&path).unwrap();
    // Everything after the second API call's usage record is gone (the process was
    // killed): no turn end, no shutdown.
    let kept: Vec<&str> = text
        .lines()
        .scan(0, |records, l| {
            let keep = *records < 2;
            *records += usize::from(l.contains("\"session.usage_record\""));
            keep.then_some(l)
        })
        .collect();
    assert!(kept.last().unwrap().contains("session.usage_record"));
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    ok(&t, &["import"]);
    let rows = logged(&t);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["payload"]["api_calls"], 2, "{rows:#?}");
}

/// A link where the store goes (to anywhere) is never opened or written: delivery goes
/// on, the file it points at stays as it was, and report and doctor say what to do.
#[test]
fn a_link_in_place_of_the_store_is_left_alone() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &format!("{}/link", r.url())]);
    let elsewhere = t.dir.path().join("precious.db");
    std::fs::write(&elsewhere, b"my own data").unwrap();
    std::os::unix::fs::symlink(&elsewhere, t.state_dir().join("telemhq.db")).unwrap();
    let (event, args) = turn_end(&t, agents::ALL[0], |_| {});
    emit(&t, &args, &event, false);
    ok(&t, &["flush", "--wait", "20"]);
    assert_eq!(r.pings().len(), 1, "delivered");
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"my own data");
    assert!(
        std::fs::symlink_metadata(t.state_dir().join("telemhq.db"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let out = t.run(&["report"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("a link"), "{}", stderr(&out));
    assert_eq!(doctor_check(&t, "store")["status"], "warn");
}

for_each_agent!(
    import_reads_each_agents_session_files_as_its_hook_does_and_keeps_one_record_per_turn
        for claude, codex, gemini, copilot, qwen
);
for_each_agent!(every_delivered_field_round_trips_through_the_store);

/// The store's file exists (600) a moment before its first writer has made its tables:
/// doctor, report and log read that as no store yet, never as a damaged one.
#[test]
fn a_store_being_made_is_no_store_yet_not_a_damaged_one() {
    use std::os::unix::fs::OpenOptionsExt;
    let t = TestHome::new();
    t.install(&["--global"]);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(t.state_dir().join("telemhq.db"))
        .unwrap();
    let check = doctor_check(&t, "store");
    assert_ne!(check["status"], "warn", "{check:#}");
    assert!(
        !check["message"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{check:#}"
    );
    let out = t.run(&["report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("No turns in the local store"),
        "{}",
        stdout(&out)
    );
    assert!(t.run(&["log"]).status.success());
}
