//! Side by side with a usage tool users already trust: the same Claude Code history
//! priced by `ccusage` (20.0.24, from npm, with its own bundled price snapshot:
//! `--offline`) and by telemhq (its embedded LiteLLM snapshot, 1.110.2 of 2026-11-28),
//! per turn, summed per session. Tokens agree exactly; costs within 0.5 % (what the two
//! snapshots may differ by; for these models they agree to the cent).

use serde_json::{Value, json};

use crate::support::{TestHome, stderr};

fn ccusage_bin() -> Option<std::path::PathBuf> {
    crate::support::npm_agent("ccusage")
}

/// Claude Code writes compact JSON, one line per content block of a message while it
/// streams (the same message id, each line with the message's usage).
pub(crate) fn line(v: Value) -> String {
    serde_json::to_string(&v).unwrap()
}

pub(crate) fn prompt(pid: &str, ts: &str, sid: &str) -> String {
    line(
        json!({"type": "user", "promptId": pid, "timestamp": ts, "sessionId": sid,
        "version": "2.1.328", "isSidechain": false, "uuid": format!("{pid}-u"),
        "message": {"role": "user", "content": "words"}}),
    )
}

pub(crate) fn answer(
    id: &str,
    model: &str,
    ts: &str,
    sid: &str,
    usage: [u64; 4],
    blocks: usize,
) -> Vec<String> {
    (0..blocks)
        .map(|b| {
            line(json!({"type": "assistant", "isSidechain": false, "timestamp": ts,
                "sessionId": sid, "requestId": format!("req_{id}"), "uuid": format!("{id}-{b}"),
                "version": "2.1.328",
                "message": {"id": id, "model": model, "role": "assistant", "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": "w"}],
                    "usage": {"input_tokens": usage[0], "cache_read_input_tokens": usage[1],
                              "cache_creation_input_tokens": usage[2], "output_tokens": usage[3]}}}))
        })
        .collect()
}

struct Session {
    id: &'static str,
    project: &'static str,
    /// Turns: (prompt id, answers).
    turns: Vec<(&'static str, Vec<Vec<String>>)>,
}

#[test]
fn costs_and_tokens_per_session_agree_with_ccusage() {
    let Some(ccusage) = ccusage_bin() else { return };
    let t = TestHome::new();
    let sonnet = "claude-sonnet-4-5-20250929";
    let haiku = "claude-haiku-4-5-20251001";
    let opus = "claude-opus-4-1-20250805";
    let s1 = "11111111-1111-4111-8111-111111111111";
    let s2 = "22222222-2222-4222-8222-222222222222";
    let sessions = [
        Session {
            id: s1,
            project: "-home-dev-api",
            turns: vec![
                (
                    "p1",
                    vec![
                        answer(
                            "msg_a",
                            sonnet,
                            "2026-11-20T10:00:05.000Z",
                            s1,
                            [1200, 30000, 4000, 800],
                            3,
                        ),
                        answer(
                            "msg_b",
                            haiku,
                            "2026-11-20T10:00:09.000Z",
                            s1,
                            [300, 0, 0, 90],
                            1,
                        ),
                    ],
                ),
                (
                    "p2",
                    vec![answer(
                        "msg_c",
                        opus,
                        "2026-11-20T10:05:05.000Z",
                        s1,
                        [2000, 10000, 1000, 1500],
                        2,
                    )],
                ),
            ],
        },
        Session {
            id: s2,
            project: "-home-dev-web",
            turns: vec![(
                "p3",
                vec![
                    answer(
                        "msg_d",
                        sonnet,
                        "2026-11-21T09:00:05.000Z",
                        s2,
                        [5000, 120000, 20000, 3000],
                        2,
                    ),
                    answer(
                        "msg_e",
                        sonnet,
                        "2026-11-21T09:00:20.000Z",
                        s2,
                        [40, 150000, 900, 2500],
                        1,
                    ),
                ],
            )],
        },
    ];
    let mut telemhq: Vec<(String, f64, u64, u64)> = Vec::new();
    for s in &sessions {
        let dir = t.claude_dir().join("projects").join(s.project);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.jsonl", s.id));
        let mut text = String::new();
        for (i, (pid, answers)) in s.turns.iter().enumerate() {
            text.push_str(&prompt(
                pid,
                &format!("2026-11-2{}T0{i}:00:00.000Z", 0),
                s.id,
            ));
            text.push('\n');
            for lines in answers {
                for l in lines {
                    text.push_str(l);
                    text.push('\n');
                }
            }
        }
        std::fs::write(&path, text).unwrap();
        let (mut cost, mut input, mut output) = (0.0, 0, 0);
        for (pid, _) in &s.turns {
            let event = json!({"session_id": s.id, "transcript_path": path, "cwd": "/home/dev/api",
                "hook_event_name": "Stop", "prompt_id": pid});
            let out = t.run_with_stdin(&["emit", "--print"], event.to_string().as_bytes());
            assert!(out.status.success(), "{}", stderr(&out));
            let p: Value = serde_json::from_slice(&out.stdout).unwrap();
            cost += p["cost_usd"]
                .as_f64()
                .unwrap_or_else(|| panic!("no cost: {p:#}"));
            input += p["usage"]["input_tokens"].as_u64().unwrap();
            output += p["usage"]["output_tokens"].as_u64().unwrap();
        }
        telemhq.push((s.id.to_string(), cost, input, output));
    }
    let out = t
        .agent_cmd(&ccusage)
        .args(["claude", "session", "--json", "--offline"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (id, cost, input, output) in telemhq {
        let theirs = report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sessionId"] == id.as_str())
            .unwrap_or_else(|| panic!("ccusage has no session {id}: {report:#}"));
        assert_eq!(
            theirs["inputTokens"], input,
            "{id}: each message counted once"
        );
        assert_eq!(theirs["outputTokens"], output, "{id}");
        let their_cost = theirs["totalCost"].as_f64().unwrap();
        assert!(
            (their_cost - cost).abs() <= 0.005 * their_cost,
            "{id}: telemhq ${cost}, ccusage ${their_cost}"
        );
    }
}

fn sidechain(id: &str, model: &str, ts: &str, sid: &str, usage: [u64; 4]) -> String {
    let mut v: Value = serde_json::from_str(&answer(id, model, ts, sid, usage, 1)[0]).unwrap();
    v["isSidechain"] = json!(true);
    line(v)
}

/// A Codex rollout as versions before `token_usage_record` wrote it: only the running
/// `token_count` totals (each with its last call's usage), compact JSON.
fn old_rollout(sid: &str, day: &str, turns: &[[u64; 4]]) -> String {
    let mut out = vec![line(
        json!({"timestamp": format!("{day}T08:00:00.000Z"), "type": "session_meta",
               "payload": {"id": sid, "cwd": "/home/dev/web", "cli_version": "0.40.0"}}),
    )];
    let (mut total_in, mut total_cached, mut total_out) = (0, 0, 0);
    for (i, [input, cached, output, reasoning]) in turns.iter().enumerate() {
        let turn = format!("turn-{i}");
        let at = |s: u32| format!("{day}T08:{i:02}:{s:02}.000Z");
        out.push(line(json!({"timestamp": at(1), "type": "event_msg",
                   "payload": {"type": "task_started", "turn_id": turn}})));
        out.push(line(json!({"timestamp": at(2), "type": "turn_context",
                   "payload": {"turn_id": turn, "cwd": "/home/dev/web", "model": "gpt-5-codex"}})));
        (total_in, total_cached, total_out) =
            (total_in + input, total_cached + cached, total_out + output);
        let last = json!({"input_tokens": input, "cached_input_tokens": cached,
            "output_tokens": output, "reasoning_output_tokens": reasoning,
            "total_tokens": input + output});
        let total = json!({"input_tokens": total_in, "cached_input_tokens": total_cached,
            "output_tokens": total_out, "reasoning_output_tokens": 0,
            "total_tokens": total_in + total_out});
        out.push(line(
            json!({"timestamp": at(3), "type": "event_msg", "payload": {"type": "token_count",
                   "info": {"total_token_usage": total, "last_token_usage": last}}}),
        ));
        out.push(line(json!({"timestamp": at(4), "type": "event_msg",
                   "payload": {"type": "task_complete", "turn_id": turn}})));
    }
    out.join("\n") + "\n"
}

/// The Claude Code and Codex history of a machine, as `ccusage daily` and `telemhq
/// import` + `telemhq report daily` see it: a message streamed over several lines, a
/// session resumed into a new file (its earlier lines copied), a sub-agent in its own
/// file and one as side-chain lines, turns on both sides of midnight, Codex rollouts
/// with and without `token_usage_record`. Tokens per day are equal, in two time zones.
#[test]
fn daily_tokens_from_imported_history_agree_with_ccusage() {
    let Some(ccusage) = ccusage_bin() else { return };
    let t = TestHome::new();
    let sonnet = "claude-sonnet-4-5-20250929";
    let haiku = "claude-haiku-4-5-20251001";
    let s1 = "33333333-3333-4333-8333-333333333333";
    let s2 = "44444444-4444-4444-8444-444444444444";
    let project = t.claude_dir().join("projects/-home-dev-api");
    std::fs::create_dir_all(project.join(s1).join("subagents")).unwrap();
    let mut first = vec![prompt("p1", "2026-11-20T23:40:00.000Z", s1)];
    first.extend(answer(
        "msg_a",
        sonnet,
        "2026-11-20T23:40:05.000Z",
        s1,
        [1200, 30000, 4000, 800],
        3,
    ));
    first.push(sidechain(
        "msg_side",
        haiku,
        "2026-11-20T23:40:07.000Z",
        s1,
        [50, 0, 10, 20],
    ));
    first.push(prompt("p2", "2026-11-21T07:10:00.000Z", s1));
    first.extend(answer(
        "msg_b",
        sonnet,
        "2026-11-21T07:10:05.000Z",
        s1,
        [2000, 10000, 1000, 1500],
        2,
    ));
    std::fs::write(project.join(format!("{s1}.jsonl")), first.join("\n") + "\n").unwrap();
    let sub = answer(
        "msg_sub",
        haiku,
        "2026-11-21T07:10:03.000Z",
        s1,
        [700, 0, 300, 200],
        2,
    );
    std::fs::write(
        project.join(s1).join("subagents/agent-a1b2.jsonl"),
        sub.join("\n") + "\n",
    )
    .unwrap();
    // Resumed on the 22nd: the earlier lines copied into the new session's file first.
    let mut resumed = first.clone();
    resumed.push(prompt("p3", "2026-11-22T12:00:00.000Z", s2));
    resumed.extend(answer(
        "msg_c",
        sonnet,
        "2026-11-22T12:00:05.000Z",
        s2,
        [40, 150000, 900, 2500],
        1,
    ));
    std::fs::write(
        project.join(format!("{s2}.jsonl")),
        resumed.join("\n") + "\n",
    )
    .unwrap();
    let sessions = t.home.join(".codex/sessions/2026/11");
    std::fs::create_dir_all(sessions.join("25")).unwrap();
    std::fs::create_dir_all(sessions.join("21")).unwrap();
    std::fs::copy(
        crate::support::data("codex-0.169.0/rollout.jsonl"),
        sessions.join("25/rollout-2026-11-25T05-07-01-01a21119.jsonl"),
    )
    .unwrap();
    std::fs::write(
        sessions.join("21/rollout-2026-11-21T08-00-00-0199aaaa.jsonl"),
        old_rollout(
            "0199aaaa-0000-7000-8000-000000000001",
            "2026-11-21",
            &[[5000, 1000, 700, 100], [8000, 6000, 300, 0]],
        ),
    )
    .unwrap();

    // History the agents' older versions wrote, as captured from them: Claude Code before
    // `promptId` (2.0.0: side-chain sub-agent lines; 2.0.50: sub-agents' files beside the
    // sessions; 2.1.20: in `subagents/`), Codex before `token_usage_record` (no turn ids;
    // turn ids with `token_count` only; repeated and rate-limit-only events).
    for version in ["2.0.0", "2.0.50", "2.1.20"] {
        copy_tree(
            &crate::support::data(&format!("claude-code-{version}/projects")),
            &t.claude_dir().join("projects"),
        );
    }
    std::fs::create_dir_all(sessions.join("../12/07")).unwrap();
    for (n, version) in ["0.39.0", "0.63.0", "0.98.0", "0.130.0"].iter().enumerate() {
        std::fs::copy(
            crate::support::data(&format!("codex-{version}/rollout.jsonl")),
            sessions.join(format!(
                "../12/07/rollout-2026-12-07T23-00-0{n}-01a252b{n}.jsonl"
            )),
        )
        .unwrap();
    }
    let out = t.run(&["import"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for tz in ["UTC", "America/Los_Angeles"] {
        let out = t.run(&["report", "daily", "--json", "--tz", tz]);
        assert!(out.status.success(), "{}", stderr(&out));
        let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
        let out = t
            .agent_cmd(&ccusage)
            .args(["daily", "--json", "--offline", "--timezone", tz])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        let days = |v: &Value, key: &str, fields: [&str; 4]| -> Vec<(String, [u64; 4])> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let day = d["key"].as_str().or(d["period"].as_str()).unwrap();
                    let n = |f: &str| d.pointer(f).and_then(Value::as_u64).unwrap_or(0);
                    (
                        day.to_string(),
                        [n(fields[0]), n(fields[1]), n(fields[2]), n(fields[3])],
                    )
                })
                .collect()
        };
        // Cost per day, where every model of the day has a price in both snapshots.
        let mut compared = 0;
        for (row, day) in ours["rows"]
            .as_array()
            .unwrap()
            .iter()
            .zip(theirs["daily"].as_array().unwrap())
        {
            let Some(cost) = row["cost_usd"].as_f64() else {
                continue;
            };
            if !row["unpriced_models"].as_array().unwrap().is_empty() {
                continue;
            }
            let their_cost = day["totalCost"].as_f64().unwrap();
            assert!(
                (their_cost - cost).abs() <= 0.005 * their_cost,
                "{tz} {}: telemhq ${cost}, ccusage ${their_cost}",
                row["key"]
            );
            compared += 1;
        }
        assert!(compared >= 3, "{tz}: {ours:#}");
        let ours = days(
            &ours,
            "rows",
            [
                "/usage/input_tokens",
                "/usage/output_tokens",
                "/usage/cache_read_input_tokens",
                "/usage/cache_creation_input_tokens",
            ],
        );
        let theirs = days(
            &theirs,
            "daily",
            [
                "/inputTokens",
                "/outputTokens",
                "/cacheReadTokens",
                "/cacheCreationTokens",
            ],
        );
        assert!(ours.len() >= 4, "{tz}: {ours:?}");
        assert_eq!(
            ours, theirs,
            "{tz}: per day [input, output, cache read, cache write], telemhq then ccusage"
        );
    }
}

pub(crate) fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Claude Code 1.0.x continued a session into a new file that copies the earlier lines
/// without their `requestId`: ccusage, which tells copies apart by message id and request
/// id together, counts each copy again; telemhq counts each API call once (README,
/// "Compared with ccusage").
#[test]
fn a_1_0_x_session_continued_into_a_new_file_is_counted_once() {
    let Some(ccusage) = ccusage_bin() else { return };
    let t = TestHome::new();
    let projects = crate::support::data("claude-code-1.0.30/projects");
    copy_tree(&projects, &t.claude_dir().join("projects"));
    let out = t.run(&["import"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t.run(&["report", "--json", "--tz", "UTC"]);
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The eight calls the capture made (its mock: input 1000 + n for the n-th request).
    assert_eq!(ours["totals"]["usage"]["input_tokens"], 8064, "{ours:#}");
    let out = t
        .agent_cmd(&ccusage)
        .args(["daily", "--json", "--offline", "--timezone", "UTC"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let their_input = theirs["totals"]["inputTokens"].as_u64().unwrap();
    assert!(
        their_input > 8064,
        "ccusage no longer counts the copies again ({their_input}): the README's comparison is out of date"
    );
}
