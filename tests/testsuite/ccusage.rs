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
fn line(v: Value) -> String {
    serde_json::to_string(&v).unwrap()
}

fn prompt(pid: &str, ts: &str, sid: &str) -> String {
    line(
        json!({"type": "user", "promptId": pid, "timestamp": ts, "sessionId": sid,
        "version": "2.1.328", "isSidechain": false, "uuid": format!("{pid}-u"),
        "message": {"role": "user", "content": "words"}}),
    )
}

fn answer(
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
