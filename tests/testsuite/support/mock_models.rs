//! Stand-ins on loopback for the OpenAI Chat Completions API (what Copilot CLI calls with
//! a custom provider) and Gemini's generateContent API (Gemini CLI), good enough for the
//! real CLIs to run whole turns against them so that their hooks fire for real. The
//! first request of a turn asks for one shell tool call (`echo mock-tool-ran`); the
//! follow-up, which carries the tool's result, answers "MOCK DONE". Every answer reports
//! the same usage as the Responses mock: input 123 (7 cached), output 45 (3 reasoning).

use std::io::{BufReader, Write};
use std::net::TcpStream;

use serde_json::{Value, json};

use super::mock_responses::{CACHED_TOKENS, INPUT_TOKENS, OUTPUT_TOKENS, REASONING_TOKENS};

pub struct MockModels {
    pub port: u16,
}

impl MockModels {
    pub fn start() -> MockModels {
        MockModels {
            port: super::serve_on_loopback(serve),
        }
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
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let route = path.split('?').next().unwrap_or("");
        let reply = if method == "POST" && route.ends_with("/chat/completions") {
            let (answer, events) = chat(&request);
            if request["stream"] == true {
                return stream_events(&mut out, &events);
            }
            answer
        } else if method == "POST" && route.contains(":streamGenerateContent") {
            return stream_events(&mut out, &[gemini(&request)]);
        } else if method == "POST" && route.contains(":generateContent") {
            gemini(&request)
        } else if route.contains(":countTokens") {
            json!({"totalTokens": 42})
        } else if route.trim_end_matches('/').ends_with("/models") {
            json!({"object": "list", "data": [{"id": "mock-model", "object": "model"}], "models": []})
        } else {
            json!({})
        };
        if !super::reply_json(&mut out, 200, &reply) {
            return;
        }
    }
}

/// Server-sent events, then the connection closes.
fn stream_events(out: &mut TcpStream, events: &[Value]) {
    let mut text = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    );
    for event in events {
        text.push_str(&format!("data: {event}\n\n"));
    }
    if events.first().is_some_and(|e| e.get("choices").is_some()) {
        text.push_str("data: [DONE]\n\n");
    }
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A Chat Completions answer, whole and as stream chunks.
fn chat(request: &Value) -> (Value, Vec<Value>) {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let has_result = messages.iter().any(|m| m["role"] == "tool");
    let shell = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .find(|n| {
            // Copilot CLI's bash, Qwen Code's run_shell_command, Factory Droid's Execute.
            let n = n.to_ascii_lowercase();
            n.contains("bash") || n == "run_shell_command" || n == "execute"
        })
        .map(str::to_string);
    let model = request["model"]
        .as_str()
        .unwrap_or("mock-model")
        .to_string();
    let usage = json!({"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS}});
    let (message, finish) = match shell {
        Some(name) if !has_result => (
            json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_mock_1", "type": "function",
                "function": {"name": name, "arguments": shell_arguments(&name)}}]}),
            "tool_calls",
        ),
        _ => (json!({"role": "assistant", "content": "MOCK DONE"}), "stop"),
    };
    let id = "chatcmpl-mock";
    let whole = json!({"id": id, "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage});
    let chunks = vec![
        json!({"id": id, "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": message, "finish_reason": null}]}),
        json!({"id": id, "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
        json!({"id": id, "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}),
    ];
    (whole, chunks)
}

/// The shell call's arguments: Droid's `Execute` rejects a call without its summary and
/// risk fields before any hook fires.
fn shell_arguments(tool: &str) -> String {
    let mut args = json!({"command": "echo mock-tool-ran", "description": "echo"});
    if tool == "Execute" {
        args["summary"] = json!("Print a mock line");
        args["riskLevelReason"] = json!("Only prints a line.");
        args["riskLevel"] = json!("low");
    }
    args.to_string()
}

/// A Gemini generateContent answer. Gemini CLI's own helper calls (which ask for JSON)
/// get a plain JSON answer.
fn gemini(request: &Value) -> Value {
    let contents = request["contents"].as_array().cloned().unwrap_or_default();
    let has_result = contents.iter().any(|c| {
        c["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p.get("functionResponse").is_some())
    });
    let offers_shell = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["functionDeclarations"].as_array())
        .flatten()
        .any(|d| d["name"] == "run_shell_command");
    let config = &request["generationConfig"];
    let wants_json = config["responseMimeType"] == "application/json"
        || config.get("responseJsonSchema").is_some()
        || config.get("responseSchema").is_some();
    let parts = if offers_shell && !has_result {
        json!([{"functionCall": {"name": "run_shell_command",
            "args": {"command": "echo mock-tool-ran", "description": "echo"}}}])
    } else if wants_json {
        json!([{"text": json!({"reasoning": "mock", "next_speaker": "user", "model_choice": "flash"}).to_string()}])
    } else {
        json!([{"text": "MOCK DONE"}])
    };
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": OUTPUT_TOKENS,
            "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS, "cachedContentTokenCount": CACHED_TOKENS,
            "thoughtsTokenCount": REASONING_TOKENS},
        "modelVersion": "mock"
    })
}
