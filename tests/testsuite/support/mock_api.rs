//! A stand-in for the Anthropic Messages API on loopback, good enough for the real
//! Claude Code to run whole turns against it, so that its hooks fire for real.
//!
//! A keyword in the newest user text picks the turn:
//!   (none)       a plain text answer                      -> Stop
//!   TOOL:bash    runs `echo hello-from-tool` with Bash     -> PostToolUse (Bash), Stop
//!   TOOL:fail    runs a Bash command that exits 2          -> PostToolUseFailure, Stop
//!   TOOL:write   writes mock-output.txt with Write         -> PostToolUse (Write), Stop
//!   ERROR:400    answers HTTP 400 invalid_request_error    -> StopFailure
//!   SECRET:WORD  puts WORD into the answer and every tool input
//! Every API call reports input 1234, output 42, cache creation 100, cache read 200.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

pub const INPUT_TOKENS: u64 = 1234;
pub const OUTPUT_TOKENS: u64 = 42;
pub const CACHE_CREATION: u64 = 100;
pub const CACHE_READ: u64 = 200;

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub struct MockApi {
    pub port: u16,
}

impl MockApi {
    pub fn start() -> MockApi {
        let port = super::serve_on_loopback(serve);
        MockApi { port }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(super::Request {
        method, path, body, ..
    }) = super::read_request(&mut reader)
    {
        let keep = match (method.as_str(), path.as_str()) {
            ("POST", p) if p.contains("count_tokens") => {
                super::reply_json(&mut out, 200, &json!({"input_tokens": 10}))
            }
            ("POST", _) => messages(&mut out, &body),
            ("HEAD", _) => write_all(&mut out, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            _ => super::reply_json(&mut out, 200, &json!({})),
        };
        if !keep {
            return;
        }
    }
}

fn write_all(out: &mut TcpStream, bytes: &[u8]) -> bool {
    out.write_all(bytes).is_ok()
}

/// The newest user text, and whether that message carries a tool result.
fn newest_user_text(messages: &[Value]) -> (String, bool) {
    for m in messages.iter().rev() {
        if m["role"] != "user" {
            continue;
        }
        return match &m["content"] {
            Value::String(s) => (s.clone(), false),
            other => {
                let has_result = other
                    .as_array()
                    .is_some_and(|a| a.iter().any(|c| c["type"] == "tool_result"));
                (other.to_string(), has_result)
            }
        };
    }
    (String::new(), false)
}

fn secret_in(text: &str) -> String {
    text.split_once("SECRET:")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches(|c| "\"\\,.]}".contains(c))
                .to_string()
        })
        .unwrap_or_default()
}

fn tool_for(text: &str) -> Option<(&'static str, Value)> {
    let secret = secret_in(text);
    if text.contains("TOOL:bash") {
        return Some((
            "Bash",
            json!({"command": format!("echo hello-from-tool {secret}").trim(), "description": "Echo"}),
        ));
    }
    if text.contains("TOOL:fail") {
        return Some((
            "Bash",
            json!({"command": format!("ls /definitely/not/here/{secret}"), "description": "Fail"}),
        ));
    }
    if text.contains("TOOL:write") {
        return Some((
            "Write",
            json!({"file_path": "mock-output.txt", "content": format!("written by the mock {secret}\n")}),
        ));
    }
    None
}

fn sse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

fn messages(out: &mut TcpStream, body: &[u8]) -> bool {
    let request: Value = serde_json::from_slice(body).unwrap_or(json!({}));
    let model = request["model"]
        .as_str()
        .unwrap_or("claude-sonnet-4-5")
        .to_string();
    let (text, has_result) = newest_user_text(
        request["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    if text.contains("ERROR:400") && !has_result {
        return super::reply_json(
            out,
            400,
            &json!({"type": "error", "error": {"type": "invalid_request_error", "message": "mock says no"}}),
        );
    }
    let tool = if has_result { None } else { tool_for(&text) };
    let answer = format!("Hello from the mock API. {}", secret_in(&text))
        .trim()
        .to_string();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let usage = json!({"input_tokens": INPUT_TOKENS, "output_tokens": 1, "cache_creation_input_tokens": CACHE_CREATION, "cache_read_input_tokens": CACHE_READ});
    let message = json!({"id": format!("msg_mock{n}"), "type": "message", "role": "assistant", "model": model,
                         "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage});
    let (block, delta, stop_reason) = match &tool {
        Some((name, input)) => (
            json!({"type": "tool_use", "id": format!("toolu_mock{n}"), "name": name, "input": {}}),
            json!({"type": "input_json_delta", "partial_json": input.to_string()}),
            "tool_use",
        ),
        None => (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": answer}),
            "end_turn",
        ),
    };
    if request["stream"] != true {
        let mut final_message = message.clone();
        final_message["stop_reason"] = json!(stop_reason);
        final_message["usage"]["output_tokens"] = json!(OUTPUT_TOKENS);
        final_message["content"] = match &tool {
            Some((name, input)) => {
                json!([{"type": "tool_use", "id": format!("toolu_mock{n}"), "name": name, "input": input}])
            }
            None => json!([{"type": "text", "text": answer}]),
        };
        return super::reply_json(out, 200, &final_message);
    }
    let mut stream = String::new();
    stream += &sse(
        "message_start",
        json!({"type": "message_start", "message": message}),
    );
    stream += &sse(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": block}),
    );
    stream += &sse(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": delta}),
    );
    stream += &sse(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    stream += &sse(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": OUTPUT_TOKENS}}),
    );
    stream += &sse("message_stop", json!({"type": "message_stop"}));
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    write_all(out, head.as_bytes());
    write_all(out, stream.as_bytes());
    let _ = out.flush();
    false // connection: close
}
