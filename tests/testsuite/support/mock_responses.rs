//! A stand-in for the OpenAI Responses API on loopback (streamed as server-sent events),
//! good enough for the real Codex CLI to run whole turns against it, so that its hooks
//! fire for real. The first request of a turn asks for one shell tool call
//! (`echo mock-tool-ran`); the follow-up, which carries the tool's output, answers
//! "MOCK DONE". Every answer reports input 123 (7 cached), output 45 (3 reasoning).

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

pub const INPUT_TOKENS: u64 = 123;
pub const CACHED_TOKENS: u64 = 7;
pub const OUTPUT_TOKENS: u64 = 45;
pub const REASONING_TOKENS: u64 = 3;

/// How an agent reports the mocks' figures.
#[derive(Clone, Copy)]
pub enum Reported {
    /// OpenAI's way (Codex, Copilot CLI): input counts the cached tokens, output the
    /// reasoning.
    OpenAi,
    /// Gemini's way: input counts the cached tokens; the thoughts come apart from output.
    Gemini,
}

/// The `usage` a turn-end ping carries for `calls` answers of the mocks, in telemhq's one
/// meaning of each field: input without cached tokens, output with reasoning in it.
pub fn expected_usage(calls: u64, reported: Reported) -> serde_json::Value {
    let (output, reasoning) = match reported {
        Reported::OpenAi => (OUTPUT_TOKENS, REASONING_TOKENS),
        Reported::Gemini => (OUTPUT_TOKENS + REASONING_TOKENS, REASONING_TOKENS),
    };
    json!({
        "input_tokens": calls * (INPUT_TOKENS - CACHED_TOKENS),
        "output_tokens": calls * output,
        "cache_read_input_tokens": calls * CACHED_TOKENS,
        "cache_creation_input_tokens": 0,
        "reasoning_output_tokens": calls * reasoning,
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub struct MockResponses {
    pub port: u16,
}

impl MockResponses {
    pub fn start() -> MockResponses {
        let port = super::serve_on_loopback(serve);
        MockResponses { port }
    }

    /// The provider block for Codex's config.toml (its key in `MOCK_API_KEY`).
    pub fn provider_toml(&self) -> String {
        format!(
            "[model_providers.mock]\nname = \"Mock\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nenv_key = \"MOCK_API_KEY\"\nwire_api = \"responses\"\n",
            self.port
        )
    }
}

fn serve(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(super::Request {
        method, path, body, ..
    }) = super::read_request(&mut reader)
    {
        if method == "POST" && path.split('?').next().unwrap_or("").ends_with("/responses") {
            answer(&mut out, &body);
            return; // one streamed answer per connection
        }
        let reply = if path.trim_end_matches('/').ends_with("/models") {
            json!({"object": "list", "data": [{"id": "mock-model", "object": "model"}], "models": []})
        } else {
            json!({})
        };
        if !super::reply_json(&mut out, 200, &reply) {
            return;
        }
    }
}

fn answer(out: &mut TcpStream, body: &[u8]) {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let input = request["input"].as_array().cloned().unwrap_or_default();
    let has_output = input.iter().any(|i| {
        matches!(
            i["type"].as_str(),
            Some("function_call_output" | "custom_tool_call_output")
        )
    });
    let tools: Vec<String> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t["name"]
                .as_str()
                .or(t["type"].as_str())
                .map(str::to_string)
        })
        .collect();
    let id = format!("resp_{}", COUNTER.fetch_add(1, Ordering::Relaxed));
    let item = if !has_output && tools.iter().any(|t| t == "exec_command") {
        json!({"type": "function_call", "id": "fc_1", "call_id": "call_mock_1", "name": "exec_command",
               "arguments": json!({"cmd": "echo mock-tool-ran"}).to_string()})
    } else if !has_output && tools.iter().any(|t| t == "shell") {
        json!({"type": "function_call", "id": "fc_1", "call_id": "call_mock_1", "name": "shell",
               "arguments": json!({"command": ["bash", "-lc", "echo mock-tool-ran"]}).to_string()})
    } else {
        json!({"type": "message", "role": "assistant", "id": "msg_1",
               "content": [{"type": "output_text", "text": "MOCK DONE", "annotations": []}]})
    };
    let usage = json!({"input_tokens": INPUT_TOKENS, "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS});
    let events = [
        (
            "response.created",
            json!({"type": "response.created", "response": {"id": id}}),
        ),
        (
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "response": {"id": id, "status": "completed",
            "model": request["model"], "output": [item], "usage": usage}}),
        ),
    ];
    let mut stream = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    );
    for (name, data) in events {
        stream.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }
    let _ = out.write_all(stream.as_bytes());
    let _ = out.flush();
}
