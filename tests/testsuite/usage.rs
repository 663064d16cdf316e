//! Usage from the transcript: model, tokens, API and tool calls, duration, cost — on the
//! real fixture and on generated transcripts, through `emit --print`.

use std::io::Write;
use std::path::Path;

use crate::support::{TestHome, data, fixture};
use serde_json::{Value, json};

fn stop_event(transcript: &Path, prompt_id: Option<&str>, event: &str) -> String {
    let mut v = json!({
        "session_id": "s1",
        "transcript_path": transcript,
        "cwd": "/home/dev/projects/api",
        "hook_event_name": event,
        "last_assistant_message": "done"
    });
    if let Some(p) = prompt_id {
        v["prompt_id"] = json!(p);
    }
    v.to_string()
}

fn payload(t: &TestHome, event: &str) -> Value {
    let out = t.run_with_stdin(&["emit", "--print"], event.as_bytes());
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn prompt(pid: &str, ts: &str) -> Value {
    json!({"type": "user", "promptId": pid, "timestamp": ts, "version": "2.1.328", "isSidechain": false,
           "message": {"role": "user", "content": "a prompt with words that must not be read"}})
}

fn tool_result(pid: &str) -> Value {
    json!({"type": "user", "promptId": pid, "timestamp": "2026-11-24T00:00:01.000Z", "isSidechain": false,
           "toolUseResult": {"stdout": "x"},
           "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "output"}]}})
}

fn assistant(
    id: &str,
    model: &str,
    tokens: [u64; 4],
    tools: &[(&str, &str)],
    sidechain: bool,
) -> Value {
    let mut content = vec![json!({"type": "text", "text": "words"})];
    for (tool_id, name) in tools {
        content.push(
            json!({"type": "tool_use", "id": tool_id, "name": name, "input": {"command": "ls"}}),
        );
    }
    json!({"type": "assistant", "isSidechain": sidechain, "timestamp": "2026-11-24T00:00:02.000Z",
           "message": {"id": id, "model": model, "role": "assistant", "content": content,
                       "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1],
                                 "cache_creation_input_tokens": tokens[2], "cache_read_input_tokens": tokens[3]}}})
}

fn write_transcript(dir: &Path, lines: &[Value], tail: &str) -> std::path::PathBuf {
    let path = dir.join("t.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.write_all(tail.as_bytes()).unwrap();
    path
}

#[test]
fn the_fixture_turn_gives_its_exact_usage() {
    let t = TestHome::new();
    let transcript = data("claude-code-2.1.328/transcript-tool-turn.jsonl");
    let mut event: Value =
        serde_json::from_str(&fixture("transcript-tool-turn.stop.json")).unwrap();
    event["transcript_path"] = json!(transcript);
    let p = payload(&t, &event.to_string());
    assert_eq!(p["model"], "claude-opus-5-5");
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 2468, "output_tokens": 84, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 400, "reasoning_output_tokens": 0})
    );
    assert_eq!(p["api_calls"], 2);
    assert_eq!(p["tool_calls"], json!({"Bash": 1}));
    assert_eq!(p["claude_code_version"], "2.1.328");
    assert_eq!(p["session_cost_usd"], 0.012632);
    assert!(p["turn_duration_ms"].as_i64().unwrap() > 0);
    assert!(
        p.get("models").is_none(),
        "one model: no per-model breakdown"
    );
}

#[test]
fn only_the_events_turn_counts() {
    let t = TestHome::new();
    let lines = [
        prompt("p1", "2026-11-24T00:00:00.000Z"),
        assistant(
            "m1",
            "claude-opus-5-5",
            [1000, 10, 0, 0],
            &[("t1", "Read")],
            false,
        ),
        prompt("p2", "2026-11-24T00:01:00.000Z"),
        assistant(
            "m2",
            "claude-opus-5-5",
            [5, 6, 7, 8],
            &[("t2", "Bash")],
            false,
        ),
        tool_result("p2"),
        assistant(
            "m3",
            "claude-opus-5-5",
            [1, 2, 3, 4],
            &[("t3", "Bash"), ("t4", "Edit")],
            false,
        ),
        prompt("p3", "2026-11-24T00:02:00.000Z"),
        assistant("m4", "claude-opus-5-5", [900, 900, 900, 900], &[], false),
    ];
    let path = write_transcript(t.dir.path(), &lines, "");
    let p = payload(&t, &stop_event(&path, Some("p2"), "Stop"));
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 6, "output_tokens": 8, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 12, "reasoning_output_tokens": 0})
    );
    assert_eq!(p["api_calls"], 2);
    assert_eq!(p["tool_calls"], json!({"Bash": 2, "Edit": 1}));
    // Without a prompt_id: the last prompt's turn.
    let last = payload(&t, &stop_event(&path, None, "Stop"));
    assert_eq!(last["usage"]["input_tokens"], 900);
    assert_eq!(last["api_calls"], 1);
}

#[test]
fn a_message_written_on_several_lines_counts_once() {
    let t = TestHome::new();
    let lines = [
        prompt("p1", "2026-11-24T00:00:00.000Z"),
        assistant("m1", "claude-opus-5-5", [100, 1, 10, 20], &[], false),
        assistant(
            "m1",
            "claude-opus-5-5",
            [100, 1, 10, 20],
            &[("t1", "Bash")],
            false,
        ),
        assistant(
            "m1",
            "claude-opus-5-5",
            [100, 50, 10, 20],
            &[("t2", "Write")],
            false,
        ),
    ];
    let path = write_transcript(t.dir.path(), &lines, "");
    let p = payload(&t, &stop_event(&path, Some("p1"), "Stop"));
    assert_eq!(p["api_calls"], 1);
    assert_eq!(
        p["usage"],
        json!({"input_tokens": 100, "output_tokens": 50, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 20, "reasoning_output_tokens": 0})
    );
    assert_eq!(p["tool_calls"], json!({"Bash": 1, "Write": 1}));
}

#[test]
fn several_models_are_broken_down_and_the_last_one_is_the_model() {
    let t = TestHome::new();
    let lines = [
        prompt("p1", "2026-11-24T00:00:00.000Z"),
        assistant("m1", "claude-haiku-5", [10, 1, 0, 0], &[], false),
        assistant("m2", "claude-opus-5-5", [20, 2, 0, 0], &[], false),
        assistant("m3", "claude-haiku-5", [30, 3, 0, 0], &[], false),
        assistant("m4", "claude-opus-5-5", [40, 4, 0, 0], &[], false),
    ];
    let path = write_transcript(t.dir.path(), &lines, "");
    let p = payload(&t, &stop_event(&path, Some("p1"), "Stop"));
    assert_eq!(p["model"], "claude-opus-5-5");
    assert_eq!(
        p["models"]["claude-haiku-5"],
        json!({"input_tokens": 40, "output_tokens": 4, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 0, "reasoning_output_tokens": 0, "api_calls": 2})
    );
    assert_eq!(p["models"]["claude-opus-5-5"]["input_tokens"], 60);
    assert_eq!(p["usage"]["input_tokens"], 100);
}

#[test]
fn sidechain_lines_are_not_the_main_turn() {
    let t = TestHome::new();
    let lines = [
        prompt("p1", "2026-11-24T00:00:00.000Z"),
        assistant(
            "m1",
            "claude-opus-5-5",
            [10, 1, 0, 0],
            &[("t1", "Task")],
            false,
        ),
        assistant(
            "s1",
            "claude-haiku-5",
            [500, 500, 0, 0],
            &[("t2", "Grep")],
            true,
        ),
        assistant("m2", "claude-opus-5-5", [20, 2, 0, 0], &[], false),
    ];
    let path = write_transcript(t.dir.path(), &lines, "");
    let p = payload(&t, &stop_event(&path, Some("p1"), "Stop"));
    assert_eq!(p["api_calls"], 2);
    assert_eq!(p["usage"]["input_tokens"], 30);
    assert_eq!(p["tool_calls"], json!({"Task": 1}));
}

#[test]
fn a_cut_last_line_and_lines_that_are_not_json_are_skipped() {
    let t = TestHome::new();
    let lines = [
        prompt("p1", "2026-11-24T00:00:00.000Z"),
        json!("not an object"),
        assistant("m1", "claude-opus-5-5", [10, 1, 0, 0], &[], false),
    ];
    let path = write_transcript(
        t.dir.path(),
        &lines,
        "this is not json\n{\"type\":\"assistant\",\"message\":{\"id\":\"m9\",\"usage\":{\"input_tok",
    );
    let p = payload(&t, &stop_event(&path, Some("p1"), "Stop"));
    assert_eq!(p["api_calls"], 1);
    assert_eq!(p["usage"]["input_tokens"], 10);
}

#[test]
fn a_missing_or_unfamiliar_transcript_gives_a_ping_without_usage() {
    let t = TestHome::new();
    for path in [
        t.dir.path().join("missing.jsonl"),
        t.dir.path().to_path_buf(),
    ] {
        let p = payload(&t, &stop_event(&path, Some("p1"), "Stop"));
        assert_eq!(p["event"], "Stop");
        assert!(p.get("usage").is_none() && p.get("model").is_none());
    }
    let odd = write_transcript(
        t.dir.path(),
        &[json!({"something": "else"}), json!([1, 2])],
        "\u{0}\u{1}binary",
    );
    let p = payload(&t, &stop_event(&odd, Some("p1"), "Stop"));
    assert!(p.get("usage").is_none());
    // A prompt id that is not in the transcript: nothing from other turns is counted.
    let other = write_transcript(
        t.dir.path(),
        &[
            prompt("p1", "2026-11-24T00:00:00.000Z"),
            assistant("m1", "claude-opus-5-5", [1, 1, 1, 1], &[], false),
        ],
        "",
    );
    let p = payload(&t, &stop_event(&other, Some("nope"), "Stop"));
    assert!(p.get("usage").is_none(), "{p}");
}

#[test]
fn stop_failure_and_subagent_stop_carry_usage_but_tool_events_do_not() {
    let t = TestHome::new();
    let lines = [
        prompt("p1", "2026-11-24T00:00:00.000Z"),
        assistant("m1", "claude-opus-5-5", [10, 1, 0, 0], &[], false),
        // Claude Code writes the API error as a synthetic message: not an API call.
        assistant("m2", "<synthetic>", [0, 0, 0, 0], &[], false),
    ];
    let path = write_transcript(t.dir.path(), &lines, "");
    let failure = payload(&t, &stop_event(&path, Some("p1"), "StopFailure"));
    assert_eq!(failure["api_calls"], 1);
    assert_eq!(failure["model"], "claude-opus-5-5");
    // A sub-agent of a version before sub-agents' own files: its side-chain lines in the
    // main transcript are its run, not the main turn's answers.
    let sub = payload(&t, &stop_event(&path, Some("p1"), "SubagentStop"));
    assert!(sub.get("api_calls").is_none(), "{sub}");
    let tool = payload(&t, &stop_event(&path, Some("p1"), "PostToolUse"));
    assert!(tool.get("usage").is_none());
}

#[test]
fn a_long_transcript_is_read_only_back_to_the_turn() {
    // 40 MB of earlier turns with lines larger than the read block, then the turn.
    let t = TestHome::new();
    let path = t.dir.path().join("long.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let blob = json!({"type": "api-request-blob", "message": "y".repeat(600_000)}).to_string();
    for i in 0..64 {
        writeln!(
            f,
            "{}",
            prompt(&format!("old{i}"), "2026-11-23T00:00:00.000Z")
        )
        .unwrap();
        writeln!(f, "{blob}").unwrap();
        writeln!(
            f,
            "{}",
            assistant(
                &format!("old{i}"),
                "claude-opus-5-5",
                [7, 7, 7, 7],
                &[],
                false
            )
        )
        .unwrap();
    }
    writeln!(f, "{}", prompt("now", "2026-11-24T00:00:00.000Z")).unwrap();
    writeln!(f, "{blob}").unwrap();
    writeln!(
        f,
        "{}",
        assistant(
            "m-now",
            "claude-opus-5-5",
            [1, 2, 3, 4],
            &[("t", "Bash")],
            false
        )
    )
    .unwrap();
    drop(f);
    let p = payload(&t, &stop_event(&path, Some("now"), "Stop"));
    assert_eq!(p["api_calls"], 1);
    assert_eq!(p["usage"]["input_tokens"], 1);
    let previous = telemhq::agents::claude::transcript::turn_usage(&path, Some("old63")).unwrap();
    assert_eq!(previous.total().input, 7, "the turn before is found too");
    assert_eq!(
        telemhq::agents::claude::transcript::turn_usage(&path, Some("old0")),
        None,
        "a turn far back is not searched for"
    );
}

#[test]
fn usage_fields_carry_no_text_from_the_transcript() {
    let t = TestHome::new();
    let secret = "CANARY-transcript-41f";
    let mut a = assistant(
        "m1",
        "claude-opus-5-5",
        [1, 1, 1, 1],
        &[("t1", "Bash")],
        false,
    );
    a["message"]["content"][0]["text"] = json!(secret);
    a["message"]["content"][1]["input"] = json!({"command": secret});
    let mut pr = prompt("p1", "2026-11-24T00:00:00.000Z");
    pr["message"]["content"] = json!(secret);
    let weird_tool = assistant(
        "m2",
        &format!("model {secret}"),
        [1, 1, 1, 1],
        &[("t2", &format!("Bash {secret}"))],
        false,
    );
    let path = write_transcript(t.dir.path(), &[pr, a, weird_tool], "");
    let out = t.run_with_stdin(
        &["emit", "--print"],
        stop_event(&path, Some("p1"), "Stop").as_bytes(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("\"Bash\""));
}

#[test]
fn a_queued_turn_gets_its_usage_even_when_claude_code_writes_the_last_lines_after_the_hook() {
    let receiver = crate::support::Receiver::start(crate::support::Mode::Ok);
    let t = TestHome::new().env("TELEMHQ_TRANSCRIPT_SETTLE_MS", "700");
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let path = write_transcript(
        t.dir.path(),
        &[prompt("p1", "2026-11-24T00:00:00.000Z")],
        "",
    );
    let out = t.run_with_stdin(&["emit"], stop_event(&path, Some("p1"), "Stop").as_bytes());
    assert!(out.status.success() && out.stdout.is_empty());
    // Claude Code flushes the turn's assistant line a moment after running the hook.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(
        f,
        "{}",
        assistant(
            "m1",
            "claude-opus-5-5",
            [11, 22, 33, 44],
            &[("t1", "Bash")],
            false
        )
    )
    .unwrap();
    drop(f);
    let got = receiver.wait_for(1, std::time::Duration::from_secs(30));
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["usage"],
        json!({"input_tokens": 11, "output_tokens": 22, "cache_creation_input_tokens": 33, "cache_read_input_tokens": 44, "reasoning_output_tokens": 0})
    );
    assert_eq!(got[0]["tool_calls"], json!({"Bash": 1}));
    // The queue kept what was sent, and no path went out with it.
    t.wait_sender_idle(None);
    let log = String::from_utf8(t.run(&["log", "--payload"]).stdout).unwrap();
    assert!(log.contains("\"input_tokens\":11"), "{log}");
    let sent = String::from_utf8_lossy(&receiver.raw.lock().unwrap()).into_owned();
    assert!(!sent.contains(&path.display().to_string()));
}

#[test]
fn subagent_stop_reads_the_sub_agents_own_transcript() {
    let t = TestHome::new();
    let main = write_transcript(
        t.dir.path(),
        &[
            prompt("p1", "2026-11-24T00:00:00.000Z"),
            assistant(
                "m1",
                "claude-opus-5-5",
                [1, 1, 1, 1],
                &[("t0", "Task")],
                false,
            ),
        ],
        "",
    );
    let agent_path = t.dir.path().join("agent-a1.jsonl");
    let mut task = prompt("p1", "2026-11-24T00:00:01.000Z");
    task["isSidechain"] = json!(true);
    let lines = [
        task,
        assistant(
            "s1",
            "claude-haiku-5",
            [100, 10, 0, 0],
            &[("t1", "Grep")],
            true,
        ),
        assistant(
            "s2",
            "claude-haiku-5",
            [200, 20, 0, 0],
            &[("t2", "Read")],
            true,
        ),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&agent_path, text).unwrap();
    let mut event: Value =
        serde_json::from_str(&stop_event(&main, Some("p1"), "SubagentStop")).unwrap();
    event["agent_id"] = json!("a1");
    event["agent_type"] = json!("general-purpose");
    event["agent_transcript_path"] = json!(agent_path);
    let p = payload(&t, &event.to_string());
    assert_eq!(p["model"], "claude-haiku-5");
    assert_eq!(p["api_calls"], 2);
    assert_eq!(p["usage"]["input_tokens"], 300);
    assert_eq!(p["tool_calls"], json!({"Grep": 1, "Read": 1}));
    assert!(!p.to_string().contains("agent-a1"), "no path is sent");
}
