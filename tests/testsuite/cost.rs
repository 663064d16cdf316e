//! Cost per turn for every agent, from real model names in each agent's real session
//! format (the captured files, with their model names and numbers changed), through
//! `emit --print`. Every expected cost is written out from the providers' published
//! per-million prices (as the embedded LiteLLM snapshot of 2026-11-28 holds them).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{TestHome, data, stderr, stdout};

fn print(t: &TestHome, args: &[&str], event: &Value) -> Value {
    let mut all = vec!["emit", "--print"];
    all.extend_from_slice(args);
    let out = t.run_with_stdin(&all, event.to_string().as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("no cost: {v}"));
    assert!((got - want).abs() < 1e-9, "cost {got}, expected {want}");
}

/// A captured session file with each JSON line changed by `edit`.
fn edited(from: &str, to: &Path, edit: impl Fn(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(data(from)).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(mut v) => {
                edit(&mut v);
                v.to_string()
            }
            Err(_) => l.to_string(),
        })
        .collect();
    std::fs::write(to, lines.join("\n") + "\n").unwrap();
    to.to_path_buf()
}

fn claude_line(id: &str, model: &str, usage: Value) -> Value {
    json!({"type": "assistant", "isSidechain": false, "timestamp": "2026-11-24T00:00:02.000Z",
           "message": {"id": id, "model": model, "role": "assistant", "stop_reason": "end_turn",
                       "content": [{"type": "text", "text": "words"}], "usage": usage}})
}

fn claude_turn(t: &TestHome, assistants: &[Value]) -> Value {
    let prompt = json!({"type": "user", "promptId": "p1", "timestamp": "2026-11-24T00:00:00.000Z",
        "version": "2.1.328", "isSidechain": false, "message": {"role": "user", "content": "words"}});
    let path = t.dir.path().join("transcript.jsonl");
    let mut text = format!("{prompt}\n");
    for a in assistants {
        text.push_str(&format!("{a}\n"));
    }
    std::fs::write(&path, text).unwrap();
    let event = json!({"session_id": "s1", "transcript_path": path, "cwd": "/home/dev/projects/api",
        "hook_event_name": "Stop", "prompt_id": "p1"});
    print(t, &[], &event)
}

#[test]
fn claude_code_turns_with_cache_reads_one_hour_writes_and_two_models() {
    let t = TestHome::new();
    let sonnet = claude_line(
        "m1",
        "claude-sonnet-4-5-20250929",
        json!({"input_tokens": 1000, "cache_read_input_tokens": 20000,
               "cache_creation_input_tokens": 3000, "output_tokens": 500,
               "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 2000},
               "output_tokens_details": {"thinking_tokens": 100}}),
    );
    let haiku = claude_line(
        "m2",
        "claude-haiku-4-5-20251001",
        json!({"input_tokens": 200, "output_tokens": 50}),
    );
    let p = claude_turn(&t, &[sonnet.clone(), haiku.clone()]);
    // Sonnet 4.5: $3 input, $0.30 cache read, $3.75 5-minute write, $6 1-hour write, $15
    // output (thinking included) per million; Haiku 4.5: $1 input, $5 output.
    let sonnet_cost =
        (1000.0 * 3.0 + 20000.0 * 0.3 + 2000.0 * 3.75 + 1000.0 * 6.0 + 500.0 * 15.0) / 1e6;
    let haiku_cost = (200.0 * 1.0 + 50.0 * 5.0) / 1e6;
    close(&p["cost_usd"], sonnet_cost + haiku_cost);
    assert_eq!(p["cost_source"], "prices");
    assert!(
        p["prices_version"]
            .as_str()
            .unwrap()
            .starts_with("litellm ")
    );
    close(
        &p["models"]["claude-sonnet-4-5-20250929"]["cost_usd"],
        sonnet_cost,
    );
    close(
        &p["models"]["claude-haiku-4-5-20251001"]["cost_usd"],
        haiku_cost,
    );
    assert_eq!(p["usage"]["reasoning_output_tokens"], 100);
    assert_eq!(p["usage"]["cache_creation_input_tokens"], 3000);

    // A model the table does not know: no cost at all, and it is named.
    let unknown = claude_line(
        "m3",
        "claude-nonexistent-9",
        json!({"input_tokens": 5, "output_tokens": 5}),
    );
    let p = claude_turn(&t, &[sonnet.clone(), unknown]);
    assert!(p.get("cost_usd").is_none(), "{p:#}");
    assert_eq!(p["unpriced_models"], json!(["claude-nonexistent-9"]));

    // The user's own price wins over the table's (named without its date suffix).
    let out = t.run(&[
        "prices",
        "set",
        "claude-haiku-4-5",
        "--input",
        "2",
        "--output",
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = claude_turn(&t, &[sonnet, haiku]);
    close(
        &p["cost_usd"],
        sonnet_cost + (200.0 * 2.0 + 50.0 * 10.0) / 1e6,
    );
    let shown = stdout(&t.run(&["prices", "claude-haiku-4-5-20251001"]));
    assert!(
        shown.contains("your own prices for claude-haiku-4-5"),
        "{shown}"
    );
}

#[test]
fn codex_turns_price_cached_and_reasoning_tokens() {
    let t = TestHome::new();
    let rollout = edited(
        "codex-0.169.0/rollout.jsonl",
        &t.dir.path().join("r.jsonl"),
        |v| {
            if v["type"] == "turn_context" {
                v["payload"]["model"] = json!("gpt-5-2025-08-07");
            }
        },
    );
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(data("codex-0.169.0/Stop.json")).unwrap()).unwrap();
    event["transcript_path"] = json!(rollout);
    let p = print(&t, &["--agent", "codex"], &event);
    // Two responses of 123 input (7 cached), 45 output (3 reasoning); GPT-5: $1.25 input,
    // $0.125 cached, $10 output (reasoning too) per million.
    assert_eq!(p["usage"]["input_tokens"], 232);
    close(
        &p["cost_usd"],
        2.0 * (116.0 * 1.25 + 7.0 * 0.125 + 45.0 * 10.0) / 1e6,
    );
}

#[test]
fn gemini_turns_price_thoughts_and_a_request_over_200k_whole() {
    let t = TestHome::new();
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(data("gemini-cli-0.61.0/AfterAgent.json")).unwrap())
            .unwrap();
    event["transcript_path"] = json!(data("gemini-cli-0.61.0/session-chat.jsonl"));
    let p = print(&t, &["--agent", "gemini"], &event);
    // Gemini 2.5 Flash: $0.30 input, $0.03 cached, $2.50 output and thoughts per million;
    // two calls of 123 input (7 cached), 45 output and 3 thoughts.
    close(
        &p["cost_usd"],
        2.0 * (116.0 * 0.3 + 7.0 * 0.03 + 48.0 * 2.5) / 1e6,
    );

    // Gemini 2.5 Pro, one request of 250k prompt tokens: all of it at the higher prices
    // ($2.50 input, $15 output), the other at $1.25 / $10.
    let chat = edited(
        "gemini-cli-0.61.0/session-chat.jsonl",
        &t.dir.path().join("c.jsonl"),
        |v| {
            if v["type"] == "gemini" && v.get("tokens").is_some() {
                v["model"] = json!("gemini-2.5-pro");
                // The call that asked for the tool reads the big prompt.
                let big = v["toolCalls"].as_array().is_some_and(|c| !c.is_empty());
                v["tokens"] = if big {
                    json!({"input": 250000, "output": 1000, "cached": 0, "thoughts": 0, "tool": 0})
                } else {
                    json!({"input": 1000, "output": 10, "cached": 0, "thoughts": 0, "tool": 0})
                };
            }
        },
    );
    event["transcript_path"] = json!(chat);
    let p = print(&t, &["--agent", "gemini"], &event);
    assert_eq!(p["api_calls"], 2, "{p:#}");
    assert_eq!(p["usage"]["input_tokens"], 251000, "{p:#}");
    let want = (250000.0 * 2.5 + 1000.0 * 15.0 + 1000.0 * 1.25 + 10.0 * 10.0) / 1e6;
    close(&p["cost_usd"], want);
}

#[test]
fn copilot_turns_are_priced_at_the_models_list_price() {
    let t = TestHome::new();
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(data("copilot-cli-1.0.102/agentStop.json")).unwrap())
            .unwrap();
    event["transcriptPath"] = json!(data("copilot-cli-1.0.102/events.jsonl"));
    let p = print(&t, &["--agent", "copilot", "--event", "agentStop"], &event);
    // GPT-4.1: $2 input, $0.50 cached, $8 output per million. Copilot's own `cost` (in
    // premium requests, not dollars) is not the turn's cost.
    close(
        &p["cost_usd"],
        2.0 * (116.0 * 2.0 + 7.0 * 0.5 + 45.0 * 8.0) / 1e6,
    );
    assert_eq!(p["cost_source"], "prices");
}

#[test]
fn prices_says_how_a_name_is_matched_and_never_guesses() {
    let t = TestHome::new();
    let shown = stdout(&t.run(&["prices", "claude-opus-4-1-20250805"]));
    assert!(
        shown.contains("the same model without date suffix or provider prefix"),
        "{shown}"
    );
    assert!(shown.contains("input $15, output $75"), "{shown}");
    let out = t.run(&["prices", "claude-sonnet-4-5-turbo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no price"), "{}", stdout(&out));
}

#[test]
fn log_and_doctor_name_the_models_without_a_price() {
    let r = crate::support::Receiver::start(crate::support::Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &r.url()]);
    let unknown = claude_line(
        "m1",
        "claude-nonexistent-9",
        json!({"input_tokens": 5, "output_tokens": 5}),
    );
    let prompt = json!({"type": "user", "promptId": "p1", "timestamp": "2026-11-24T00:00:00.000Z",
        "isSidechain": false, "message": {"role": "user", "content": "words"}});
    let path = t.dir.path().join("transcript.jsonl");
    std::fs::write(&path, format!("{prompt}\n{unknown}\n")).unwrap();
    let event = json!({"session_id": "s1", "transcript_path": path, "cwd": "/home/dev/projects/api",
        "hook_event_name": "Stop", "prompt_id": "p1"});
    t.run_with_stdin(&["emit"], event.to_string().as_bytes());
    t.run(&["flush", "--wait", "20"]);
    let sent = r.delivered();
    assert_eq!(
        sent[0]["unpriced_models"],
        json!(["claude-nonexistent-9"]),
        "{sent:#?}"
    );
    assert!(sent[0].get("cost_usd").is_none());
    let log = stdout(&t.run(&["log", "--payload"]));
    assert!(
        log.contains("no cost: no price for claude-nonexistent-9"),
        "{log}"
    );
    let report: Value = serde_json::from_slice(&t.run(&["doctor", "--json"]).stdout).unwrap();
    let c = crate::doctor::check(&report, "cost.unpriced");
    assert_eq!(c["status"], "warn");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("claude-nonexistent-9"),
        "{c:#}"
    );
}
