//! OpenTelemetry export against a real OpenTelemetry Collector on loopback: rotel (from
//! PyPI, fetched by tests/e2e/rotel.sh), forwarding what it accepted to a small OTLP/HTTP
//! sink of the test's own, which decodes it. Each agent's captured turn end gives its
//! log record and exactly its tokens by type and model in the metrics; a canary in every
//! free-text field reaches nothing; resource attributes arrive; a collector that is down
//! loses nothing and holds up no ping; a refused export is reported, not retried forever;
//! the collector's headers arrive (at the sink directly: a collector does not pass them on).

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use serde_json::{Value, json};
use telemhq::otlp::proto::{self, ExportLogsServiceRequest, ExportMetricsServiceRequest};

use crate::support::{Mode, Receiver, TestHome, data, free_port, read_request, stderr, wait_until};

/// What a sink answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Ok,
    Status(u16),
    Hang,
}

/// A request as the sink got it: path, headers, body (unzipped).
type Got = (String, Vec<(String, String)>, Vec<u8>);

/// An OTLP/HTTP endpoint of the test's own: records each request, decoded.
#[derive(Clone)]
struct Sink {
    port: u16,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<Mutex<Vec<Got>>>,
}

impl Sink {
    fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = Sink {
            port: listener.local_addr().unwrap().port(),
            answer: Arc::new(Mutex::new(Answer::Ok)),
            requests: Arc::default(),
        };
        let s = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.serve(stream));
            }
        });
        sink
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        while let Some(r) = read_request(&mut reader) {
            let gz = r
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
            let body = if gz {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&r.body[..])
                    .read_to_end(&mut plain)
                    .unwrap();
                plain
            } else {
                r.body.clone()
            };
            self.requests
                .lock()
                .unwrap()
                .push((r.path.clone(), r.headers.clone(), body));
            let answer = *self.answer.lock().unwrap();
            let status = match answer {
                Answer::Hang => {
                    std::thread::sleep(Duration::from_secs(120));
                    return;
                }
                Answer::Ok => 200,
                Answer::Status(s) => s,
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
            );
            if out.write_all(head.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn logs(&self) -> Vec<proto::LogRecord> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _, _)| path == "/v1/logs")
            .filter_map(|(_, _, body)| ExportLogsServiceRequest::decode(&body[..]).ok())
            .flat_map(|r| r.resource_logs)
            .flat_map(|r| r.scope_logs)
            .flat_map(|s| s.log_records)
            .collect()
    }

    fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _, _)| path == "/v1/metrics")
            .filter_map(|(_, _, body)| ExportMetricsServiceRequest::decode(&body[..]).ok())
            .collect()
    }

    fn raw(&self) -> String {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

/// rotel on loopback, forwarding to a sink; None (a loud skip; with CI=true a failure)
/// where it cannot be fetched.
struct Rotel {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    sink: Sink,
}

impl Rotel {
    fn start() -> Option<Rotel> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/rotel.sh");
        let out = Command::new("bash").arg(script).output().unwrap();
        if !out.status.success() {
            let why = stderr(&out);
            crate::support::cannot_run(
                "the OpenTelemetry Collector tests",
                &why,
                "tests/e2e/rotel.sh fetches rotel (it needs pip, PyPI and libpython3.11)",
            );
        }
        let mut rotel = Rotel {
            bin: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            port: free_port(),
            child: None,
            sink: Sink::start(),
        };
        rotel.up();
        Some(rotel)
    }

    fn up(&mut self) {
        let child = Command::new(&self.bin)
            .args(["start", "--otlp-http-endpoint"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{}", free_port()))
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .arg("--otlp-exporter-endpoint")
            .arg(self.sink.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_until(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        self.down();
    }
}

fn attr<'a>(attrs: &'a [proto::KeyValue], key: &str) -> Option<&'a proto::any_value::Value> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(v: Option<&proto::any_value::Value>) -> Option<String> {
    match v? {
        proto::any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// Each agent's captured turn end, with a canary in its free-text fields, and the
/// session file its usage comes from.
fn turn_ends(canary: &str) -> Vec<(String, Vec<String>, Value)> {
    let mut out = Vec::new();
    for agent in telemhq::agents::ALL {
        let specs: Vec<Value> = serde_json::from_slice(
            &std::fs::read(data("conformance").join(agent.id()).join("events.json")).unwrap(),
        )
        .unwrap();
        let spec = &specs[0];
        let mut event: Value = serde_json::from_slice(
            &std::fs::read(data(spec["payload"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        for field in spec["text_fields"].as_array().unwrap() {
            if let Some(v) = event.get_mut(field.as_str().unwrap()) {
                *v = json!(format!("{canary} words"));
            }
        }
        if let Some(session) = spec["session"].as_str() {
            let path = json!(data(session).display().to_string());
            match event.get("transcriptPath") {
                Some(_) => event["transcriptPath"] = path,
                None => event["transcript_path"] = path,
            }
        }
        let args = spec["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        out.push((agent.id().to_string(), args, event));
    }
    out
}

fn emit(t: &TestHome, args: &[String], event: &Value) {
    let mut all = vec!["emit".to_string()];
    all.extend(args.iter().cloned());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = t.run_with_stdin(&all, event.to_string().as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn every_agents_turns_reach_a_real_collector_as_logs_and_metrics() {
    let Some(mut rotel) = Rotel::start() else {
        return;
    };
    let pings = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        &pings.url(),
        "--otlp-endpoint",
        &rotel.url(),
        "--otlp-resource-attribute",
        "team=core",
    ]);
    let canary = "CANARY_otlp_3e7d";
    let ends = turn_ends(canary);
    // What each turn's ping says, to compare the metrics with.
    let mut expected: Vec<Value> = Vec::new();
    for (_, args, event) in &ends {
        let mut all = vec!["emit".to_string(), "--print".into()];
        all.extend(args.iter().cloned());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = t.run_with_stdin(&all, event.to_string().as_bytes());
        expected.push(serde_json::from_slice(&out.stdout).unwrap());
        emit(&t, args, event);
    }
    let out = t.run(&["flush", "--wait", "30"]);
    assert!(out.status.success(), "{}", crate::support::stdout(&out));
    wait_until(Duration::from_secs(20), || {
        rotel.sink.logs().len() >= ends.len()
    });
    let logs = rotel.sink.logs();
    assert_eq!(logs.len(), ends.len(), "one record per event");
    assert_eq!(pings.delivered().len(), ends.len(), "and every ping too");
    for p in &expected {
        let tool = p["tool"].as_str().unwrap();
        let record = logs
            .iter()
            .find(|r| text(attr(&r.attributes, "telemhq.agent")).as_deref() == Some(tool))
            .unwrap_or_else(|| panic!("no log record from {tool}"));
        assert_eq!(
            record.event_name,
            format!("telemhq.{}", p["event"].as_str().unwrap())
        );
        assert_eq!(
            text(attr(&record.attributes, "gen_ai.provider.name")),
            p["provider"].as_str().map(str::to_string)
        );
        assert_eq!(
            text(attr(&record.attributes, "telemhq.event_id")),
            p["event_id"]
                .as_str()
                .map(|_| text(attr(&record.attributes, "telemhq.event_id")).unwrap())
        );
    }
    // Metrics: exactly each turn's tokens by type and model.
    wait_until(Duration::from_secs(20), || !rotel.sink.metrics().is_empty());
    let mut tokens: std::collections::BTreeMap<(String, String, String), i64> = Default::default();
    let mut resource_seen = false;
    for request in rotel.sink.metrics() {
        for rm in request.resource_metrics {
            let attrs = rm.resource.map(|r| r.attributes).unwrap_or_default();
            resource_seen |= text(attr(&attrs, "team")).as_deref() == Some("core")
                && text(attr(&attrs, "service.name")).as_deref() == Some("telemhq");
            for sm in rm.scope_metrics {
                for m in sm
                    .metrics
                    .into_iter()
                    .filter(|m| m.name == "gen_ai.client.token.usage")
                {
                    for dp in m.sum.unwrap().data_points {
                        let key = (
                            text(attr(&dp.attributes, "telemhq.agent")).unwrap(),
                            text(attr(&dp.attributes, "gen_ai.request.model")).unwrap(),
                            text(attr(&dp.attributes, "gen_ai.token.type")).unwrap(),
                        );
                        let Some(proto::number_data_point::Value::AsInt(n)) = dp.value else {
                            panic!("a token count without its value: {key:?}");
                        };
                        *tokens.entry(key).or_default() += n;
                    }
                }
            }
        }
    }
    assert!(resource_seen, "resource attributes arrive");
    for p in expected.iter().filter(|p| p.get("usage").is_some()) {
        let tool = p["tool"].as_str().unwrap().to_string();
        let model = p["model"].as_str().unwrap_or("").to_string();
        for (field, kind) in [
            ("input_tokens", "input"),
            ("output_tokens", "output"),
            ("cache_read_input_tokens", "cache_read"),
        ] {
            assert_eq!(
                tokens
                    .get(&(tool.clone(), model.clone(), kind.to_string()))
                    .copied(),
                p["usage"][field].as_i64(),
                "{tool} {model} {kind}"
            );
        }
    }
    assert!(
        !rotel.sink.raw().contains(canary),
        "free text reached the collector"
    );

    // The collector down: the ping goes, the export waits, then arrives once.
    rotel.down();
    let before = rotel.sink.logs().len();
    emit(&t, &ends[0].1, &ends[0].2);
    pings.wait_for(ends.len() + 1, Duration::from_secs(20));
    assert_eq!(
        pings.delivered().len(),
        ends.len() + 1,
        "the ping did not wait"
    );
    let queued = || {
        std::fs::read_dir(t.state_dir().join("queue"))
            .unwrap()
            .count()
    };
    assert_eq!(queued(), 1, "the export waits in the queue");
    rotel.up();
    let out = t.run(&["flush", "--wait", "30"]);
    assert!(out.status.success(), "{}", crate::support::stdout(&out));
    wait_until(Duration::from_secs(20), || rotel.sink.logs().len() > before);
    std::thread::sleep(Duration::from_millis(500)); // (rotel batches; nothing more comes)
    assert_eq!(rotel.sink.logs().len(), before + 1, "delivered once");
    assert_eq!(
        pings.delivered().len(),
        ends.len() + 1,
        "the ping is not sent again"
    );
}

#[test]
fn headers_a_hanging_collector_and_a_refused_export() {
    let sink = Sink::start();
    let pings = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        &pings.url(),
        "--otlp-endpoint",
        &sink.url(),
        "--otlp-header",
        "x-team-key=sekrit-42",
    ]);
    // The headers are secrets: not in any message.
    let out = t.run(&["doctor"]);
    assert!(!crate::support::stdout(&out).contains("sekrit-42"));
    let ends = turn_ends("CANARY_otlp_h");
    emit(&t, &ends[0].1, &ends[0].2);
    assert!(t.run(&["flush", "--wait", "20"]).status.success());
    let requests = sink.requests.lock().unwrap().clone();
    assert!(!requests.is_empty());
    for (_, headers, _) in &requests {
        assert!(
            headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("x-team-key") && v == "sekrit-42"),
            "{headers:?}"
        );
    }
    // doctor --ping tests the collector too.
    let out = t.run(&["doctor", "--ping", "--json"]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "otlp")
        .cloned()
        .unwrap_or_else(|| panic!("{d:#}"));
    assert_eq!(check["status"], "ok", "{check:#}");
    assert!(!out.stdout.windows(9).any(|w| w == b"sekrit-42"));
    // A hanging collector: the hook returns, the ping still goes.
    sink.set(Answer::Hang);
    let n = pings.delivered().len();
    emit(&t, &ends[0].1, &ends[0].2);
    pings.wait_for(n + 1, Duration::from_secs(20));
    assert_eq!(pings.delivered().len(), n + 1);
    // A refused export: reported, not retried forever.
    sink.set(Answer::Status(400));
    t.wait_sender_idle(None);
    let asked = sink.requests.lock().unwrap().len();
    let t2 = TestHome::new();
    t2.install(&["--global", "--otlp-endpoint", &sink.url()]);
    let t0 = crate::support::now_ms();
    emit(&t2, &ends[0].1, &ends[0].2);
    t2.wait_sender_idle(Some(t0));
    let out = t2.run(&["flush", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pending"], 0, "{report:#}");
    let after = sink.requests.lock().unwrap().len();
    assert_eq!(after, asked + 1, "one refused request, not retried");
    let log = crate::support::stdout(&t2.run(&["log"]));
    assert!(log.contains("OpenTelemetry: failed"), "{log}");
}
