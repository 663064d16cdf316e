//! History written by older versions of the agents, as long-time users have it: real files
//! captured from those versions (tests/data/<agent>-<version>/), read by `import` and by the
//! hooks' readers, each turn counted once. Where a count is given here it is the calls the
//! capture made (its mock's usage), worked out from the files themselves, not from telemhq.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::ccusage::copy_tree;
use crate::support::{TestHome, data, stderr};

fn ran(t: &TestHome, args: &[&str]) -> std::process::Output {
    let out = t.run(args);
    assert!(out.status.success(), "telemhq {args:?}: {}", stderr(&out));
    out
}

fn totals(t: &TestHome) -> Value {
    let out = ran(t, &["report", "--json", "--tz", "UTC"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["totals"].clone()
}

fn tokens(v: &Value) -> [u64; 4] {
    let n = |k: &str| v["usage"][k].as_u64().unwrap();
    [
        n("input_tokens"),
        n("output_tokens"),
        n("cache_read_input_tokens"),
        n("cache_creation_input_tokens"),
    ]
}

fn jsonl_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            jsonl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
}

/// What Claude Code's API answers in these files used: each message id once (its last
/// line), whatever file or line it is on. [input, output, cache read, cache write].
fn claude_calls(dir: &Path) -> (usize, [u64; 4]) {
    let mut files = Vec::new();
    jsonl_files(dir, &mut files);
    let mut calls: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let m = &v["message"];
            if v["type"] != "assistant" || m["model"] == "<synthetic>" {
                continue;
            }
            let (Some(id), Some(u)) = (m["id"].as_str(), m.get("usage")) else {
                continue;
            };
            let n = |k: &str| u[k].as_u64().unwrap_or(0);
            calls.insert(
                id.to_string(),
                [
                    n("input_tokens"),
                    n("output_tokens"),
                    n("cache_read_input_tokens"),
                    n("cache_creation_input_tokens"),
                ],
            );
        }
    }
    let mut sum = [0; 4];
    for c in calls.values() {
        for (s, n) in sum.iter_mut().zip(c) {
            *s += n;
        }
    }
    (calls.len(), sum)
}

/// The Claude Code versions captured, and the API calls each capture made: four prompts
/// (a Bash call, an answer streamed as two lines with a tool call, a Task sub-agent, a
/// plain answer; 2.0.50 makes warm-up calls of its own at each start, in sub-agents' files).
const CLAUDE_VERSIONS: [(&str, usize); 6] = [
    ("1.0.30", 8),
    ("1.0.60", 8),
    ("1.0.100", 8),
    ("2.0.0", 8),
    ("2.0.50", 16),
    ("2.1.20", 8),
];

#[test]
fn claude_code_transcripts_of_every_older_version_are_read_each_call_once() {
    for (version, calls) in CLAUDE_VERSIONS {
        let t = TestHome::new();
        let projects = data(&format!("claude-code-{version}/projects"));
        copy_tree(&projects, &t.claude_dir().join("projects"));
        let (n, expected) = claude_calls(&projects);
        assert_eq!(n, calls, "{version}: the capture's calls");
        let out = ran(&t, &["import"]);
        let said = stderr(&out);
        assert!(
            said.contains("4 turn(s) read: 4 new, 0 already recorded"),
            "{version}: {said}"
        );
        if version.starts_with("1.0.") {
            // Each --continue copied the session into a new file: counted once.
            assert!(said.contains("resumed-session copies"), "{version}: {said}");
        }
        let all = totals(&t);
        assert_eq!(tokens(&all), expected, "{version}: {all:#}");
        assert_eq!(all["turns"], 4, "{version}: {all:#}");

        // Idempotent, and nothing left unread.
        let out = ran(&t, &["import"]);
        assert!(stderr(&out).contains("0 turn(s) read"), "{}", stderr(&out));
        assert_eq!(tokens(&totals(&t)), expected, "{version}");
    }
}

/// Rewrites a captured hook payload's paths to where the test put its files.
fn hook_payload(dir: &Path, n: &str, transcript: &Path, agent: Option<&Path>) -> String {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{n}.json"))).unwrap())
            .unwrap();
    v["transcript_path"] = json!(transcript);
    if let Some(a) = agent {
        v["agent_transcript_path"] = json!(a);
    }
    v.to_string()
}

/// The hooks of versions before `promptId` (and before sub-agents had files of their
/// own) give each turn and each sub-agent run the identity and usage `import` gives it.
#[test]
fn older_versions_hooks_read_what_import_reads() {
    for version in ["1.0.60", "2.0.0", "2.1.20"] {
        let t = TestHome::new();
        let hooks = data(&format!("claude-code-{version}/hooks"));
        // Each session's file as its last hook saw it, where import finds it, written in
        // the order the sessions were (1.0.x continues a session into a new file).
        let project = t.claude_dir().join("projects/-home-dev-api");
        std::fs::create_dir_all(&project).unwrap();
        let mut session = String::new();
        for (i, n) in ["1-Stop", "3-Stop"].iter().enumerate() {
            let hook: Value = serde_json::from_str(
                &std::fs::read_to_string(hooks.join(format!("{n}.json"))).unwrap(),
            )
            .unwrap();
            session = hook["session_id"].as_str().unwrap().to_string();
            let file = project.join(format!("{session}.jsonl"));
            std::fs::copy(hooks.join(format!("{n}.transcript.jsonl")), &file).unwrap();
            let at = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_796_000_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        let session = session.as_str();
        let agent_file = hooks.join("2-SubagentStop.agent.jsonl");
        let agent = agent_file.exists().then(|| {
            let sub: Value = serde_json::from_str(
                &std::fs::read_to_string(hooks.join("2-SubagentStop.json")).unwrap(),
            )
            .unwrap();
            let path = project
                .join(session)
                .join("subagents")
                .join(format!("agent-{}.jsonl", sub["agent_id"].as_str().unwrap()));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(&agent_file, &path).unwrap();
            path
        });
        ran(&t, &["import"]);
        let imported: Vec<Value> =
            crate::support::stdout(&ran(&t, &["log", "--json", "--limit", "1000"]))
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["payload"].clone())
                .collect();

        for n in ["1-Stop", "2-SubagentStop", "3-Stop"] {
            // Each hook's usage is read from the transcript as it was when it ran, except
            // a side-chain sub-agent's: its lines are written with its result, just after
            // its hook, and the sender reads them a moment later (as the next hook saw it).
            let sub = n.ends_with("SubagentStop");
            let seen = if sub && agent.is_none() { "3-Stop" } else { n };
            let snapshot = t.dir.path().join(format!("{n}.jsonl"));
            std::fs::copy(hooks.join(format!("{seen}.transcript.jsonl")), &snapshot).unwrap();
            let payload = hook_payload(&hooks, n, &snapshot, agent.as_deref().filter(|_| sub));
            let out = t.run_with_stdin(&["emit", "--print"], payload.as_bytes());
            assert!(out.status.success(), "{version} {n}: {}", stderr(&out));
            let hook: Value = serde_json::from_slice(&out.stdout).unwrap();
            let uid = hook["turn_uid"]
                .as_str()
                .unwrap_or_else(|| panic!("{version} {n}: no turn identity: {hook:#}"));
            let same = imported
                .iter()
                .find(|p| p["turn_uid"] == uid)
                .unwrap_or_else(|| panic!("{version} {n}: import has no {uid}: {imported:#?}"));
            for key in ["usage", "api_calls", "model", "tool_calls", "event_id"] {
                assert_eq!(hook[key], same[key], "{version} {n}: {key}");
            }
            assert_eq!(
                same["event"],
                if sub { "SubagentStop" } else { "Stop" },
                "{version} {n}"
            );
            assert!(hook["api_calls"].as_u64().unwrap() >= 1, "{version} {n}");
        }
    }
}

/// The calls a Codex capture made, each input 123 (7 cached), output 45 (3 reasoning).
fn codex_calls(calls: u64) -> [u64; 4] {
    [116 * calls, 45 * calls, 7 * calls, 0]
}

#[test]
fn codex_rollouts_of_every_older_version_are_read_each_call_once() {
    // (version, turns, calls): 0.20.0 recorded no usage at all.
    for (version, turns, calls) in [
        ("0.20.0", 0, 0),
        ("0.39.0", 1, 2),
        ("0.63.0", 2, 3),
        ("0.98.0", 2, 3),
        ("0.130.0", 2, 3),
    ] {
        let t = TestHome::new();
        let dir = t.home.join(".codex/sessions/2026/12/07");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            data(&format!("codex-{version}/rollout.jsonl")),
            dir.join("rollout-2026-12-07T23-00-00-01a252bc.jsonl"),
        )
        .unwrap();
        let out = ran(&t, &["import"]);
        assert!(
            stderr(&out).contains(&format!("{turns} turn(s) read: {turns} new")),
            "{version}: {}",
            stderr(&out)
        );
        let all = totals(&t);
        assert_eq!(tokens(&all), codex_calls(calls), "{version}: {all:#}");
        assert_eq!(all["turns"], turns, "{version}");
        assert_eq!(
            all["usage"]["reasoning_output_tokens"],
            3 * calls,
            "{version}"
        );
    }
}

#[test]
fn gemini_copilot_and_qwen_files_of_older_versions_are_read() {
    // Gemini CLI before 0.4x: one JSON document per chat; two sessions of two calls,
    // each input 123 with 7 cached, output 45 with 3 thoughts apart.
    for version in ["0.10.0", "0.30.0"] {
        let t = TestHome::new();
        let chats = t.home.join(".gemini/tmp/project/chats");
        std::fs::create_dir_all(&chats).unwrap();
        for n in 1..=2 {
            std::fs::copy(
                data(&format!("gemini-cli-{version}/session-{n}.json")),
                chats.join(format!("session-2026-12-07T23-13-0000000{n}.json")),
            )
            .unwrap();
        }
        let out = ran(&t, &["import"]);
        assert!(
            stderr(&out).contains("2 turn(s) read: 2 new"),
            "gemini {version}: {}",
            stderr(&out)
        );
        let all = totals(&t);
        assert_eq!(
            tokens(&all),
            [4 * 116, 4 * 48, 4 * 7, 0],
            "gemini {version}"
        );
    }

    // Copilot CLI 1.0.40: per call only the answer's output; what the run used in all is
    // in session.shutdown. The day's totals have all of it; the turn has its output.
    let t = TestHome::new();
    let session = t
        .home
        .join(".copilot/session-state/18c26a8c-f9a2-49fb-a276-1f3dd3fc8e82");
    std::fs::create_dir_all(&session).unwrap();
    std::fs::copy(
        data("copilot-cli-1.0.40/events.jsonl"),
        session.join("events.jsonl"),
    )
    .unwrap();
    let out = ran(&t, &["import"]);
    assert!(
        stderr(&out).contains("1 turn(s) read: 1 new")
            && stderr(&out).contains("1 record(s) of usage no turn holds"),
        "copilot: {}",
        stderr(&out)
    );
    let all = totals(&t);
    assert_eq!(tokens(&all), [232, 90, 14, 0], "copilot: {all:#}");
    assert_eq!(all["turns"], 1);

    // Qwen Code: bare hex prompt ids (0.5.2); a continued session numbering its prompts
    // from 0 again (0.21.10). Two turns, three calls, the background call left out.
    for version in ["0.5.2", "0.21.10"] {
        let t = TestHome::new();
        let chats = t.home.join(".qwen/projects/-home-dev-api/chats");
        std::fs::create_dir_all(&chats).unwrap();
        std::fs::copy(
            data(&format!("qwen-code-{version}/chat.jsonl")),
            chats.join("5c462700-8996-4688-811e-4f6ff042fdad.jsonl"),
        )
        .unwrap();
        let out = ran(&t, &["import"]);
        assert!(
            stderr(&out).contains("2 turn(s) read: 2 new"),
            "qwen {version}: {}",
            stderr(&out)
        );
        let all = totals(&t);
        assert_eq!(tokens(&all), [3 * 116, 3 * 45, 3 * 7, 0], "qwen {version}");
        assert_eq!(all["turns"], 2);
    }
}

use crate::ccusage::{answer, line, prompt};
use crate::support::{Mode, Receiver};
use std::time::Duration;

/// A day this many days ago, at 10:00 UTC, as Claude Code writes times.
fn days_ago(days: i64, second: u32) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days);
    let day = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    format!("{day}T10:00:{second:02}.000Z")
}

/// A Claude Code session of turns `days` ago, each with an answer of `input` tokens.
fn session_file(t: &TestHome, sid: &str, turns: &[(i64, u64)]) -> std::path::PathBuf {
    let mut lines = Vec::new();
    for (n, (days, input)) in turns.iter().enumerate() {
        let pid = format!("{sid}-p{n}");
        lines.push(prompt(&pid, &days_ago(*days, 0), sid));
        lines.extend(answer(
            &format!("msg-{sid}-{n}"),
            "claude-sonnet-4-5-20250929",
            &days_ago(*days, 5),
            sid,
            [*input, 0, 0, 10],
            1,
        ));
    }
    let path = t
        .claude_dir()
        .join(format!("projects/-home-dev-api/{sid}.jsonl"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn set_keep_days(t: &TestHome, days: u32) {
    std::fs::create_dir_all(t.state_dir()).unwrap();
    let path = t.state_dir().join("config.json");
    let mut config: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(json!({}));
    config["keep_days"] = json!(days);
    std::fs::write(path, config.to_string()).unwrap();
}

#[test]
fn since_and_keep_days_limit_what_is_recorded_not_what_is_read() {
    let t = TestHome::new();
    session_file(
        &t,
        "11111111-aaaa-4aaa-8aaa-000000000001",
        &[(40, 4000), (10, 1000), (1, 100)],
    );
    let out = ran(&t, &["import", "--since", "7d"]);
    assert!(stderr(&out).contains("1 turn(s) read"), "{}", stderr(&out));
    assert_eq!(totals(&t)["usage"]["input_tokens"], 100);
    // Without --since, the older turns of the same (unchanged) file are read now.
    let out = ran(&t, &["import"]);
    assert!(
        stderr(&out).contains("3 turn(s) read: 2 new, 1 already recorded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(totals(&t)["usage"]["input_tokens"], 5100);

    // A store that keeps 20 days records the last two turns; kept longer, the third.
    let t = TestHome::new();
    session_file(
        &t,
        "11111111-aaaa-4aaa-8aaa-000000000002",
        &[(40, 4000), (10, 1000), (1, 100)],
    );
    set_keep_days(&t, 20);
    ran(&t, &["import"]);
    assert_eq!(totals(&t)["usage"]["input_tokens"], 1100);
    set_keep_days(&t, 400);
    ran(&t, &["import"]);
    assert_eq!(totals(&t)["usage"]["input_tokens"], 5100);
}

fn turn_pings(r: &Receiver) -> Vec<Value> {
    r.delivered()
        .into_iter()
        .filter(|p| p["event"] == "Stop")
        .collect()
}

/// A turn reaches its tracker once, whoever sends it: its hook, `import --send` after
/// it, or another machine importing a copy of the history: one `event_id`, made from the
/// turn's identity.
#[test]
fn a_turn_reaches_its_tracker_once_whoever_sends_it() {
    let r = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &r.url()]);
    let sid = "22222222-bbbb-4bbb-8bbb-000000000001";
    let path = session_file(&t, sid, &[(1, 300)]);
    // The hook delivers the turn.
    let stop = json!({"session_id": sid, "transcript_path": path, "cwd": "/home/dev/api",
        "hook_event_name": "Stop", "prompt_id": format!("{sid}-p0")});
    let out = t.run_with_stdin(&["emit"], stop.to_string().as_bytes());
    assert!(out.status.success());
    let hooked = r.wait_for(1, Duration::from_secs(20));
    assert_eq!(hooked.len(), 1, "{hooked:#?}");
    t.wait_sender_idle(None);

    // A later turn in the same session; then `import --send`: only the new one goes.
    let path = session_file(&t, sid, &[(1, 300), (0, 500)]);
    let out = ran(&t, &["import", "--send", "--yes"]);
    assert!(
        stderr(&out).contains("Queued 1 past turn(s)"),
        "{}",
        stderr(&out)
    );
    r.wait_for(2, Duration::from_secs(20));
    t.wait_sender_idle(None);
    let pings = turn_pings(&r);
    assert_eq!(pings.len(), 2, "{pings:#?}");
    let ids: Vec<&Value> = pings.iter().map(|p| &p["event_id"]).collect();
    assert_ne!(ids[0], ids[1]);
    // Sending again sends nothing more.
    let out = ran(&t, &["import", "--send", "--yes"]);
    assert!(stderr(&out).contains("Nothing to send"), "{}", stderr(&out));

    // Another machine with a copy of the history sends the same two ids.
    let other = TestHome::new();
    other.install(&["--global", "--ping-url", &r.url()]);
    let copy = other
        .claude_dir()
        .join(format!("projects/-home-dev-api/{sid}.jsonl"));
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&path, &copy).unwrap();
    ran(&other, &["import", "--send", "--yes"]);
    r.wait_for(4, Duration::from_secs(20));
    other.wait_sender_idle(None);
    let pings = turn_pings(&r);
    assert_eq!(pings.len(), 4, "{pings:#?}");
    let mut first: Vec<&Value> = pings[..2].iter().map(|p| &p["event_id"]).collect();
    let mut second: Vec<&Value> = pings[2..].iter().map(|p| &p["event_id"]).collect();
    first.sort_by_key(|v| v.to_string());
    second.sort_by_key(|v| v.to_string());
    assert_eq!(
        first, second,
        "each turn under one event_id on every machine"
    );
    for p in &pings {
        assert!(p["turn_uid"].is_string(), "{p:#}");
    }
}

/// A sub-agent's run is part of the turn that started it: its tokens are in every total,
/// and it is not a turn of its own: in the report (import, and the hooks' records), in
/// `telemhq run`'s ping and in the OpenTelemetry metrics alike (those two are checked
/// where they are built, `cmd::run` and `ping::otlp`).
#[test]
fn a_sub_agents_run_counts_in_the_totals_but_not_as_a_turn() {
    let t = TestHome::new();
    let sid = "33333333-cccc-4ccc-8ccc-000000000001";
    let project = t.claude_dir().join("projects/-home-dev-api");
    std::fs::create_dir_all(project.join(sid).join("subagents")).unwrap();
    let mut main = vec![prompt("p1", &days_ago(1, 0), sid)];
    main.extend(answer(
        "msg_main",
        "claude-sonnet-4-5-20250929",
        &days_ago(1, 5),
        sid,
        [100, 0, 0, 10],
        1,
    ));
    std::fs::write(project.join(format!("{sid}.jsonl")), main.join("\n") + "\n").unwrap();
    let mut task: Value = serde_json::from_str(&prompt("task", &days_ago(1, 1), sid)).unwrap();
    task["isSidechain"] = json!(true);
    let mut sub = vec![line(task)];
    sub.extend(answer(
        "msg_sub",
        "claude-haiku-4-5-20251001",
        &days_ago(1, 3),
        sid,
        [40, 0, 0, 4],
        1,
    ));
    std::fs::write(
        project.join(sid).join("subagents/agent-a1.jsonl"),
        sub.join("\n") + "\n",
    )
    .unwrap();
    let out = ran(&t, &["import"]);
    assert!(
        stderr(&out).contains("1 turn(s) read: 1 new, 0 already recorded; 1 sub-agent run(s)"),
        "{}",
        stderr(&out)
    );
    let all = totals(&t);
    assert_eq!(all["turns"], 1, "{all:#}");
    assert_eq!(all["usage"]["input_tokens"], 140, "{all:#}");
    for by in ["daily", "session", "project", "model", "agent"] {
        let out = ran(&t, &["report", by, "--json"]);
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["totals"]["turns"], 1, "{by}: {r:#}");
        assert_eq!(r["totals"]["usage"]["input_tokens"], 140, "{by}: {r:#}");
    }
}

/// A store written by the previous layout: its sub-agents' runs become parts of turns,
/// and the history import read with fewer formats is read again, once.
#[test]
fn a_store_of_the_previous_layout_is_migrated_and_its_history_read_again() {
    let t = TestHome::new();
    let sid = "44444444-dddd-4ddd-8ddd-000000000001";
    session_file(&t, sid, &[(2, 700)]);
    ran(&t, &["import"]);
    // Back to layout 1: what an earlier telemhq left (a hook's SubagentStop counted as a
    // turn; import's record of the file).
    let db = t.state_dir().join("telemhq.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "ALTER TABLE imported DROP COLUMN since_ms; ALTER TABLE imported DROP COLUMN fingerprint;
             DROP INDEX models_report; DROP INDEX events_no_model;
             ALTER TABLE models DROP COLUMN session;
             CREATE INDEX models_report ON models (turn, at_ms, tool, project, model, input,
                 output, cache_read, cache_write, reasoning, cost_usd, status, tool_calls);
             INSERT INTO events (uid, event_id, at_ms, tool, event, turn, status, input, source, state)
                 SELECT 'sub-1', 'e-sub', at_ms, tool, 'SubagentStop', 1, 'success', 50, 'hook', 'delivered'
                 FROM events LIMIT 1;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let before = totals(&t);
    assert_eq!(before["turns"], 2, "layout 1 as it was: {before:#}");
    let out = ran(&t, &["import"]);
    assert!(
        stderr(&out).contains("Reading the history again")
            && stderr(&out).contains("1 turn(s) read: 1 new"),
        "{}",
        stderr(&out)
    );
    let after = totals(&t);
    assert_eq!(after["turns"], 1, "{after:#}");
    assert_eq!(after["usage"]["input_tokens"], 750, "{after:#}");
    // Once.
    let out = ran(&t, &["import"]);
    assert!(!stderr(&out).contains("Reading the history again"));
    // Each model's part knows its session now.
    let r: serde_json::Value =
        serde_json::from_slice(&ran(&t, &["report", "session", "--json"]).stdout).unwrap();
    assert!(
        !r["rows"][0]["models"].as_array().unwrap().is_empty(),
        "{r:#}"
    );
}
