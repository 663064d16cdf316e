//! OpenTelemetry export: events as OTLP log records, and turn ends as OTLP metrics (delta
//! sums), for a team's OpenTelemetry Collector. Pure: payloads in, request bodies out.
//!
//! The messages are the subset of OTLP's protobuf definitions telemhq sends
//! (`opentelemetry/proto/{common,resource,logs,metrics}/v1`, field numbers as there),
//! encoded with `prost`. Every attribute comes from the ping's allowlisted payload: the
//! same metadata, never free text.

use std::collections::BTreeMap;

use prost::Message;
use serde_json::{Map, Value};

pub mod proto {
    //! OTLP messages (only the fields telemhq uses).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4")]
        pub value: Option<any_value::Value>,
    }
    pub mod any_value {
        // OTLP's own names.
        #[allow(clippy::enum_variant_names)]
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
        }
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogRecord {
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        #[prost(int32, tag = "2")]
        pub severity_number: i32,
        #[prost(string, tag = "3")]
        pub severity_text: String,
        #[prost(message, repeated, tag = "6")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "11")]
        pub observed_time_unix_nano: u64,
        #[prost(string, tag = "12")]
        pub event_name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeLogs {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub log_records: Vec<LogRecord>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceLogs {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_logs: Vec<ScopeLogs>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_logs: Vec<ResourceLogs>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NumberDataPoint {
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
        pub value: Option<number_data_point::Value>,
        #[prost(message, repeated, tag = "7")]
        pub attributes: Vec<KeyValue>,
    }
    pub mod number_data_point {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(double, tag = "4")]
            AsDouble(f64),
            #[prost(sfixed64, tag = "6")]
            AsInt(i64),
        }
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sum {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
        #[prost(bool, tag = "3")]
        pub is_monotonic: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub description: String,
        #[prost(string, tag = "3")]
        pub unit: String,
        #[prost(message, optional, tag = "7")]
        pub sum: Option<Sum>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeMetrics {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub metrics: Vec<Metric>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceMetrics {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_metrics: Vec<ScopeMetrics>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_metrics: Vec<ResourceMetrics>,
    }
}

use proto::{
    AnyValue, ExportLogsServiceRequest, ExportMetricsServiceRequest, InstrumentationScope,
    KeyValue, LogRecord, Metric, NumberDataPoint, Resource, ResourceLogs, ResourceMetrics,
    ScopeLogs, ScopeMetrics, Sum,
};

/// OTLP's delta aggregation temporality.
const DELTA: i32 = 1;
const SEVERITY_INFO: i32 = 9;
const SEVERITY_ERROR: i32 = 17;

fn text(v: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(proto::any_value::Value::StringValue(v.into())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value,
    }
}

fn any(v: &Value) -> Option<AnyValue> {
    use proto::any_value::Value as V;
    let value = match v {
        Value::String(s) => V::StringValue(s.clone()),
        Value::Bool(b) => V::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64()?),
        },
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

/// The names OpenTelemetry's GenAI conventions give some payload fields; the others are
/// `telemhq.<field>` (nested objects with dots: `telemhq.tool_calls.Bash`).
fn attribute_name(path: &str) -> String {
    match path {
        "provider" => "gen_ai.provider.name".into(),
        "model" => "gen_ai.request.model".into(),
        "session_id" => "gen_ai.conversation.id".into(),
        "usage.input_tokens" => "gen_ai.usage.input_tokens".into(),
        "usage.output_tokens" => "gen_ai.usage.output_tokens".into(),
        "tool" => "telemhq.agent".into(),
        "error" => "error.type".into(),
        other => format!("telemhq.{other}"),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<KeyValue>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Array(a) => {
            // (Lists of names: unpriced models.)
            let joined: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            out.push(kv(&attribute_name(prefix), text(joined.join(","))));
        }
        other => {
            if let Some(value) = any(other) {
                out.push(kv(&attribute_name(prefix), Some(value)));
            }
        }
    }
}

fn time_ns(payload: &Map<String, Value>) -> u64 {
    payload
        .get("emitted_at")
        .and_then(Value::as_str)
        .and_then(crate::time::parse_rfc3339_ms)
        .unwrap_or(0)
        .max(0) as u64
        * 1_000_000
}

/// What every export says of its sender.
pub struct Source<'a> {
    /// The resource's attributes besides telemhq's own (the user's: team, cost centre).
    pub resource: &'a BTreeMap<String, String>,
    /// A keyed identity of this machine (never its name in clear).
    pub host_id: &'a str,
}

fn resource(source: &Source) -> Option<Resource> {
    let mut attributes = vec![
        kv("service.name", text("telemhq")),
        kv("service.version", text(env!("CARGO_PKG_VERSION"))),
        kv("host.id", text(source.host_id)),
    ];
    for (k, v) in source.resource {
        attributes.retain(|a| &a.key != k);
        attributes.push(kv(k, text(v.clone())));
    }
    Some(Resource { attributes })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "telemhq".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// One log record per event, its attributes the payload's fields.
pub fn logs(payloads: &[&Map<String, Value>], source: &Source) -> ExportLogsServiceRequest {
    let records = payloads
        .iter()
        .map(|p| {
            let mut attributes = Vec::new();
            flatten("", &Value::Object((*p).clone()), &mut attributes);
            let failed = p.get("status").and_then(Value::as_str) == Some("failed");
            let event = p.get("event").and_then(Value::as_str).unwrap_or("other");
            LogRecord {
                time_unix_nano: time_ns(p),
                observed_time_unix_nano: time_ns(p),
                severity_number: if failed {
                    SEVERITY_ERROR
                } else {
                    SEVERITY_INFO
                },
                severity_text: if failed { "ERROR" } else { "INFO" }.into(),
                event_name: format!("telemhq.{event}"),
                attributes,
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(source),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: records,
            }],
        }],
    }
}

/// Delta sums from turn ends and sub-agents' runs (`usage::Part`): tokens by type and
/// model, cost, tool calls, and (turns only) turns and failed turns. None when no
/// payload has usage.
pub fn metrics(
    payloads: &[&Map<String, Value>],
    source: &Source,
) -> Option<ExportMetricsServiceRequest> {
    use crate::usage::Part;
    let turns: Vec<&&Map<String, Value>> = payloads
        .iter()
        .filter(|p| Part::of(p).has_usage())
        .collect();
    if turns.is_empty() {
        return None;
    }
    let (mut tokens, mut cost, mut count, mut failed, mut tools) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in turns {
        let t = time_ns(p);
        let duration_ns = p
            .get("turn_duration_ms")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            * 1_000_000;
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let base = vec![
            kv("gen_ai.provider.name", text(s("provider"))),
            kv("telemhq.agent", text(s("tool"))),
        ];
        let point = |value, mut attributes: Vec<KeyValue>| {
            let mut a = base.clone();
            a.append(&mut attributes);
            NumberDataPoint {
                start_time_unix_nano: t.saturating_sub(duration_ns),
                time_unix_nano: t,
                value: Some(value),
                attributes: a,
            }
        };
        use proto::number_data_point::Value as N;
        // Per model where the turn used several (each with its own usage), else its one.
        let per_model: Vec<(String, &Value)> = match p.get("models").and_then(Value::as_object) {
            Some(models) => models.iter().map(|(m, v)| (m.clone(), v)).collect(),
            None => p
                .get("usage")
                .map(|u| vec![(s("model"), u)])
                .unwrap_or_default(),
        };
        for (model, usage) in per_model {
            for (field, kind) in [
                ("input_tokens", "input"),
                ("output_tokens", "output"),
                ("cache_read_input_tokens", "cache_read"),
                ("cache_creation_input_tokens", "cache_creation"),
            ] {
                let n = usage.get(field).and_then(Value::as_i64).unwrap_or(0);
                tokens.push(point(
                    N::AsInt(n),
                    vec![
                        kv("gen_ai.token.type", text(kind)),
                        kv("gen_ai.request.model", text(model.clone())),
                    ],
                ));
            }
        }
        if let Some(c) = p.get("cost_usd").and_then(Value::as_f64) {
            cost.push(point(
                N::AsDouble(c),
                vec![kv("gen_ai.request.model", text(s("model")))],
            ));
        }
        let status = s("status");
        let turn = Part::of(p) == Part::Turn;
        if turn {
            count.push(point(
                N::AsInt(1),
                vec![kv("telemhq.status", text(status.clone()))],
            ));
        }
        if turn && status == "failed" {
            failed.push(point(N::AsInt(1), vec![kv("error.type", text(s("error")))]));
        }
        for (tool, n) in p
            .get("tool_calls")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            tools.push(point(
                N::AsInt(n.as_i64().unwrap_or(0)),
                vec![kv("gen_ai.tool.name", text(tool.clone()))],
            ));
        }
    }
    let sum = |name: &str, unit: &str, description: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        sum: Some(Sum {
            data_points: points,
            aggregation_temporality: DELTA,
            is_monotonic: true,
        }),
    };
    let metrics = vec![
        sum(
            "gen_ai.client.token.usage",
            "{token}",
            "Tokens per turn by type (input without cache reads and writes, output with reasoning) and model",
            tokens,
        ),
        sum("telemhq.cost", "USD", "What turns cost, from the model's prices", cost),
        sum("telemhq.turns", "{turn}", "Turns that ended", count),
        sum("telemhq.turns.failed", "{turn}", "Turns that failed", failed),
        sum("telemhq.tool_calls", "{call}", "Tool calls by tool", tools),
    ]
    .into_iter()
    .filter(|m| m.sum.as_ref().is_some_and(|s| !s.data_points.is_empty()))
    .collect();
    Some(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(source),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
            }],
        }],
    })
}

/// A message as the body of an OTLP/HTTP request: protobuf, gzipped.
pub fn body(message: &impl Message) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&message.encode_to_vec())
        .expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// `OTEL_RESOURCE_ATTRIBUTES`-style `key=value,key=value` pairs (values may be
/// percent-encoded, as OpenTelemetry's variable allows).
pub fn parse_pairs(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| {
                let v = url::form_urlencoded::parse(format!("v={}", v.trim()).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                (k.to_string(), v)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn() -> Map<String, Value> {
        json!({"provider": "anthropic", "tool": "claude-code", "status": "success",
            "event": "Stop", "model": "claude-sonnet-4-5", "session_id": "s1",
            "emitted_at": "2026-11-28T10:00:00.000Z", "api_calls": 2, "turn_duration_ms": 5000,
            "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 30,
                      "cache_creation_input_tokens": 40, "reasoning_output_tokens": 5},
            "cost_usd": 0.25, "tool_calls": {"Bash": 2}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_turn_gives_a_log_record_and_delta_sums() {
        let resource = BTreeMap::from([("team".to_string(), "core".to_string())]);
        let source = Source {
            resource: &resource,
            host_id: "h1",
        };
        let p = turn();
        let logs = logs(&[&p], &source);
        let record = &logs.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(record.event_name, "telemhq.Stop");
        let keys: Vec<&str> = record.attributes.iter().map(|a| a.key.as_str()).collect();
        assert!(keys.contains(&"gen_ai.usage.input_tokens"));
        assert!(keys.contains(&"telemhq.tool_calls.Bash"));
        let resource_keys: Vec<&str> = logs.resource_logs[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|a| a.key.as_str())
            .collect();
        assert_eq!(
            resource_keys,
            ["service.name", "service.version", "host.id", "team"]
        );
        let m = metrics(&[&p], &source).unwrap();
        let names: Vec<&str> = m.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "gen_ai.client.token.usage",
                "telemhq.cost",
                "telemhq.turns",
                "telemhq.tool_calls"
            ]
        );
        let tokens = m.resource_metrics[0].scope_metrics[0].metrics[0]
            .sum
            .as_ref()
            .unwrap();
        assert_eq!(tokens.aggregation_temporality, DELTA);
        assert_eq!(tokens.data_points.len(), 4);
        // The body decodes back to the same message.
        let decoded = ExportMetricsServiceRequest::decode(&*{
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body(&m)[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        })
        .unwrap();
        assert_eq!(decoded, m);
    }

    #[test]
    fn events_that_end_no_turn_give_no_metrics() {
        let mut p = turn();
        p.remove("api_calls");
        let none = BTreeMap::new();
        let source = Source {
            resource: &none,
            host_id: "h",
        };
        assert!(metrics(&[&p], &source).is_none());
    }

    /// A sub-agent's run is part of its turn (`usage::Part`): its tokens, cost and tool
    /// calls are in the sums, and `telemhq.turns` counts only the turn.
    #[test]
    fn a_sub_agents_run_adds_tokens_but_no_turn() {
        let none = BTreeMap::new();
        let source = Source {
            resource: &none,
            host_id: "h",
        };
        let main = turn();
        let mut sub = turn();
        sub.insert("event".into(), json!("SubagentStop"));
        let m = metrics(&[&main, &sub], &source).unwrap();
        let metric = |name: &str| {
            m.resource_metrics[0].scope_metrics[0]
                .metrics
                .iter()
                .find(|m| m.name == name)
                .and_then(|m| m.sum.as_ref())
                .map(|s| s.data_points.len())
                .unwrap_or(0)
        };
        assert_eq!(metric("gen_ai.client.token.usage"), 8, "both runs' tokens");
        assert_eq!(metric("telemhq.cost"), 2);
        assert_eq!(metric("telemhq.turns"), 1, "one turn");
        // Only a sub-agent's run: tokens, and no turn.
        let only = metrics(&[&sub], &source).unwrap();
        let names: Vec<&str> = only.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert!(!names.contains(&"telemhq.turns"), "{names:?}");
    }

    #[test]
    fn resource_attribute_pairs() {
        let pairs = parse_pairs("team=core, cost.centre = R%26D ,=x,bad");
        assert_eq!(pairs.get("team").map(String::as_str), Some("core"));
        assert_eq!(pairs.get("cost.centre").map(String::as_str), Some("R&D"));
        assert_eq!(pairs.len(), 2);
    }
}
