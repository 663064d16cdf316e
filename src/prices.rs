//! What a turn cost: each API call priced per token, from a table embedded at build time
//! (derived from LiteLLM's price file: `templates/prices.tsv`, refreshed by
//! `templates/refresh-prices.py`), or from the user's own prices (`telemhq prices set`).
//! Never a guess: a model without a price leaves the turn without `cost_usd` and is
//! named in `unpriced_models`.
//!
//! The rules, as providers bill them:
//! - input, output, cache reads and cache writes each at their own price; a price the
//!   table lacks for cache reads or writes is the input price (no discount, no surcharge);
//! - 1-hour cache writes at their own price, else twice the input price (Anthropic's);
//! - a request whose prompt (input with cache reads and writes) is over 200k tokens is
//!   priced whole at the model's `above_200k` prices, where it has them;
//! - reasoning tokens (part of output) at the output price, unless the table prices them;
//! - a model name is matched exactly, else with its date suffix or provider prefix taken
//!   off (on both sides), never by a loose substring. A model the table lists only under
//!   cloud providers' names (Bedrock, Vertex AI) is priced from those entries only when
//!   they all agree; otherwise it is unpriced.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::usage::{Call, Turn};

/// Prices a user set, per million tokens (US dollars).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub input: f64,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
}

pub type Overrides = BTreeMap<String, Override>;

/// Per-token prices of one model (US dollars).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub cache_write_1h: Option<f64>,
    pub reasoning: Option<f64>,
    /// Prices for a request whose prompt is over 200k tokens.
    pub long: Option<LongContext>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LongContext {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

/// The prompt size past which the long-context prices apply to the whole request.
pub const LONG_CONTEXT: u64 = 200_000;

/// How a model's name found its prices.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// `telemhq prices set`.
    Override(String),
    /// The table's entry of that exact name.
    Exact(String),
    /// The table's entry whose name, without its date suffix and provider prefix, is the
    /// same as the model's without them.
    Normalised { entry: String, provider: String },
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Override(name) => write!(f, "your own prices for {name} (telemhq prices set)"),
            Found::Exact(name) => write!(f, "the table's entry {name}"),
            Found::Normalised { entry, provider } => write!(
                f,
                "the table's entry {entry} ({provider}), the same model without date suffix or provider prefix"
            ),
        }
    }
}

/// The embedded table: a header of `#` lines (its version first), then one line per
/// model, tab-separated: name, provider, then the prices (see `Rates::from_fields`).
const TABLE: &str = include_str!("../templates/prices.tsv");

/// Providers whose entries are the model maker's own list prices.
const DIRECT: [&str; 4] = ["anthropic", "openai", "gemini", "vertex_ai-language-models"];

/// The table's models whose name `wanted` picks: (name, provider, prices). Read line by
/// line; only the picked lines' prices are parsed.
fn entries(
    wanted: impl Fn(&str) -> bool,
) -> impl Iterator<Item = (&'static str, &'static str, Rates)> {
    TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(move |l| {
            let (name, rest) = l.split_once('\t')?;
            if !wanted(name) {
                return None;
            }
            let mut fields = rest.split('\t');
            let provider = fields.next()?;
            let prices: Vec<Option<f64>> = fields.map(|f| f.parse().ok()).collect();
            Some((name, provider, Rates::from_fields(&prices)?))
        })
}

impl Rates {
    /// From the table's columns: input, output, cache read, cache write, 1-hour cache
    /// write, reasoning, then the same four above 200k prompt tokens.
    fn from_fields(p: &[Option<f64>]) -> Option<Rates> {
        let at = |i: usize| p.get(i).copied().flatten();
        let long = LongContext {
            input: at(6),
            output: at(7),
            cache_read: at(8),
            cache_write: at(9),
        };
        Some(Rates {
            input: at(0)?,
            output: at(1)?,
            cache_read: at(2),
            cache_write: at(3),
            cache_write_1h: at(4),
            reasoning: at(5),
            long: (long != LongContext::default()).then_some(long),
        })
    }
}

/// The table's models whose name holds `pattern` (any case; every model when empty):
/// (name, provider, input and output per token), in the table's order.
pub fn list(pattern: &str) -> Vec<(&'static str, &'static str, f64, f64)> {
    let pattern = pattern.to_lowercase();
    entries(|name| name.to_lowercase().contains(&pattern))
        .map(|(name, provider, r)| (name, provider, r.input, r.output))
        .collect()
}

/// The version of the embedded table (`litellm 1.110.2, 2026-11-28`).
pub fn version() -> &'static str {
    TABLE
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .unwrap_or("unknown")
}

/// A model name without a provider or region prefix (`anthropic/`, `us.anthropic.`,
/// `vertex_ai/`, …), a cloud version suffix (`-v1:0`) and a date suffix (`-20250514`,
/// `@20250514`, `-2025-08-07`).
pub fn normalise(name: &str) -> String {
    let mut n = name.to_ascii_lowercase();
    if let Some(i) = n.rfind('/') {
        n = n[i + 1..].to_string();
    }
    for prefix in [
        "global.",
        "us.",
        "eu.",
        "apac.",
        "jp.",
        "au.",
        "anthropic.",
        "models/",
    ] {
        if let Some(rest) = n.strip_prefix(prefix) {
            n = rest.to_string();
        }
    }
    if let Some(rest) = n.strip_prefix("anthropic.") {
        n = rest.to_string();
    }
    if let Some(i) = n.rfind("-v") {
        let tail = &n[i + 2..];
        if tail
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            n.truncate(i);
        }
    }
    if let Some(i) = n.rfind('@') {
        n.truncate(i);
    }
    // -YYYYMMDD or -YYYY-MM-DD at the end.
    let bytes = n.as_bytes();
    if n.len() > 9
        && bytes[n.len() - 9] == b'-'
        && bytes[n.len() - 8..].iter().all(u8::is_ascii_digit)
    {
        n.truncate(n.len() - 9);
    } else if n.len() > 11 {
        let tail = &n[n.len() - 11..];
        let b = tail.as_bytes();
        let date = b[0] == b'-'
            && b[5] == b'-'
            && b[8] == b'-'
            && [1, 2, 3, 4, 6, 7, 9, 10]
                .iter()
                .all(|&i| b[i].is_ascii_digit());
        if date {
            n.truncate(n.len() - 11);
        }
    }
    n
}

fn from_override(o: &Override) -> Rates {
    let m = |v: f64| v / 1_000_000.0;
    Rates {
        input: m(o.input),
        output: m(o.output),
        cache_read: o.cache_read.map(m),
        cache_write: o.cache_write.map(m),
        cache_write_1h: o.cache_write_1h.map(m),
        reasoning: None,
        long: None,
    }
}

/// The prices of a model, and how they were found. None: no price (never a guess).
pub fn lookup(model: &str, overrides: &Overrides) -> Option<(Rates, Found)> {
    if let Some(o) = overrides.get(model) {
        return Some((from_override(o), Found::Override(model.to_string())));
    }
    let norm = normalise(model);
    if let Some((name, o)) = overrides.iter().find(|(name, _)| normalise(name) == norm) {
        return Some((from_override(o), Found::Override(name.clone())));
    }
    from_table(model, &norm)
}

/// The table's prices of a model, each name looked up once per process (an import
/// prices thousands of calls of a handful of models; the table is scanned as text).
fn from_table(model: &str, norm: &str) -> Option<(Rates, Found)> {
    type Seen = Vec<(String, Option<(Rates, Found)>)>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, found)) = seen.iter().find(|(m, _)| m == model) {
        return found.clone();
    }
    let found = scan_table(model, norm);
    if seen.len() < 256 {
        seen.push((model.to_string(), found.clone()));
    }
    found
}

fn scan_table(model: &str, norm: &str) -> Option<(Rates, Found)> {
    if let Some((_, _, rates)) = entries(|name| name == model).next() {
        return Some((rates, Found::Exact(model.to_string())));
    }
    let candidates: Vec<(&str, &str, Rates)> = entries(|name| normalise(name) == norm).collect();
    if candidates.is_empty() {
        return None;
    }
    let direct: Vec<&(&str, &str, Rates)> = candidates
        .iter()
        .filter(|(_, provider, _)| DIRECT.contains(provider))
        .collect();
    let mut pool: Vec<&(&str, &str, Rates)> = if direct.is_empty() {
        candidates.iter().collect()
    } else {
        direct
    };
    // Every entry of the pool must agree on the base prices: else it is a guess.
    let first = pool[0].2;
    let agree = pool.iter().all(|(_, _, r)| {
        r.input == first.input && r.output == first.output && r.cache_read == first.cache_read
    });
    if !agree {
        return None;
    }
    pool.sort_by_key(|(name, ..)| *name);
    let (entry, provider, rates) = pool[0];
    Some((
        *rates,
        Found::Normalised {
            entry: entry.to_string(),
            provider: provider.to_string(),
        },
    ))
}

/// What one call cost.
pub fn call_cost(c: &Call, r: &Rates) -> f64 {
    let long = r
        .long
        .filter(|_| c.prompt() > LONG_CONTEXT)
        .unwrap_or_default();
    let input = long.input.unwrap_or(r.input);
    let output = long.output.unwrap_or(r.output);
    let cache_read = long.cache_read.or(r.cache_read).unwrap_or(input);
    let cache_write = long.cache_write.or(r.cache_write).unwrap_or(input);
    let cache_write_1h = r.cache_write_1h.unwrap_or(2.0 * input);
    let reasoning = r.reasoning.unwrap_or(output);
    let reasoning_tokens = c.reasoning.min(c.output);
    c.input as f64 * input
        + c.cache_read as f64 * cache_read
        + c.cache_write as f64 * cache_write
        + c.cache_write_1h as f64 * cache_write_1h
        + (c.output - reasoning_tokens) as f64 * output
        + reasoning_tokens as f64 * reasoning
}

/// US dollars, rounded to a billionth (no float noise in the ping).
pub fn dollars(v: f64) -> Value {
    json!((v * 1e9).round() / 1e9)
}

/// The ping fields of a turn's usage, with its cost: `cost_usd` (left out when a model
/// has no price, which `unpriced_models` then names), `cost_source`, `prices_version`,
/// and per model (where the turn used several) tokens, calls and `cost_usd`.
pub fn priced(turn: Turn, overrides: &Overrides) -> Map<String, Value> {
    let mut fields = turn.fields;
    if let Some(agent) = turn.agent_cost_usd {
        fields.insert("cost_usd".into(), dollars(agent));
        fields.insert("cost_source".into(), json!("agent"));
        return fields;
    }
    if turn.calls.is_empty() {
        return fields;
    }
    // Per model, in order of first use: tokens, calls, cost (None: unpriced).
    let mut per: Vec<(String, Call, u64, Option<f64>)> = Vec::new();
    for call in &turn.calls {
        let model = call
            .model
            .clone()
            .or_else(|| turn.model.clone())
            .unwrap_or_else(|| "unknown".into());
        let cost = lookup(&model, overrides).map(|(rates, _)| call_cost(call, &rates));
        match per.iter_mut().find(|(m, ..)| *m == model) {
            Some((_, tokens, calls, total)) => {
                tokens.add(call);
                *calls += 1;
                *total = total.zip(cost).map(|(a, b)| a + b);
            }
            None => per.push((model, call.clone(), 1, cost)),
        }
    }
    let unpriced: Vec<&str> = per
        .iter()
        .filter(|(.., c)| c.is_none())
        .map(|(m, ..)| m.as_str())
        .collect();
    if unpriced.is_empty() {
        let total: f64 = per.iter().filter_map(|(.., c)| *c).sum();
        fields.insert("cost_usd".into(), dollars(total));
    } else {
        fields.insert("unpriced_models".into(), json!(unpriced));
    }
    fields.insert("cost_source".into(), json!("prices"));
    fields.insert("prices_version".into(), json!(version()));
    if per.len() > 1 {
        let models: Map<String, Value> = per
            .iter()
            .map(|(model, tokens, calls, cost)| {
                let mut v = tokens.to_json();
                v["api_calls"] = json!(calls);
                if let Some(c) = cost {
                    v["cost_usd"] = dollars(*c);
                }
                (model.clone(), v)
            })
            .collect();
        fields.insert("models".into(), Value::Object(models));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(model: &str, input: u64, cache_read: u64, cache_write: u64, output: u64) -> Call {
        Call {
            model: Some(model.into()),
            input,
            cache_read,
            cache_write,
            output,
            ..Call::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn names_are_matched_exactly_or_without_date_and_prefix_never_loosely() {
        let none = Overrides::new();
        assert!(matches!(
            lookup("claude-sonnet-4-5", &none),
            Some((_, Found::Exact(_)))
        ));
        for dated in [
            "claude-sonnet-4-5-20250929",
            "anthropic/claude-sonnet-4-5",
            "models/claude-sonnet-4-5",
        ] {
            let (rates, _) = lookup(dated, &none).unwrap_or_else(|| panic!("{dated}"));
            assert!(close(rates.input, 3e-6), "{dated}");
        }
        // Not a substring: a made-up model near a real one has no price.
        for unknown in [
            "claude-sonnet-4-5-turbo-x",
            "sonnet",
            "gpt-5-mini-unknown",
            "mock-model",
        ] {
            assert!(lookup(unknown, &none).is_none(), "{unknown}");
        }
        assert_eq!(normalise("gpt-5-2025-08-07"), "gpt-5");
        assert_eq!(
            normalise("vertex_ai/claude-opus-4-1@20250805"),
            "claude-opus-4-1"
        );
    }

    #[test]
    fn a_model_only_under_cloud_names_is_priced_when_they_agree() {
        let none = Overrides::new();
        let (rates, found) = lookup("claude-opus-4-1-20250805", &none).expect("priced");
        assert!(
            close(rates.input, 15e-6) && close(rates.output, 75e-6),
            "{rates:?}"
        );
        assert!(matches!(found, Found::Normalised { .. }), "{found:?}");
    }

    #[test]
    fn cache_reads_writes_one_hour_writes_and_reasoning_have_their_own_prices() {
        let none = Overrides::new();
        let (r, _) = lookup("claude-sonnet-4-5", &none).unwrap();
        // Published: input $3, output $15, cache read $0.30, write $3.75, 1-hour write $6 per M.
        let c = Call {
            id: None,
            model: Some("claude-sonnet-4-5".into()),
            input: 1_000,
            cache_read: 10_000,
            cache_write: 2_000,
            cache_write_1h: 1_000,
            output: 500,
            reasoning: 100,
        };
        let want =
            1_000.0 * 3e-6 + 10_000.0 * 0.3e-6 + 2_000.0 * 3.75e-6 + 1_000.0 * 6e-6 + 500.0 * 15e-6;
        assert!(
            close(call_cost(&c, &r), want),
            "{} {want}",
            call_cost(&c, &r)
        );
        // Without a 1-hour price: twice the input price.
        let plain = Rates {
            cache_write_1h: None,
            ..r
        };
        let want_plain = want - 1_000.0 * 6e-6 + 1_000.0 * 6e-6;
        assert!(close(call_cost(&c, &plain), want_plain));
    }

    #[test]
    fn a_request_over_200k_is_priced_whole_at_the_higher_rates() {
        let none = Overrides::new();
        let (r, _) = lookup("gemini-2.5-pro", &none).unwrap();
        // Published: $1.25 / $10 up to 200k, $2.50 / $15 above; cache read $0.125 / $0.25.
        let small = call("gemini-2.5-pro", 150_000, 40_000, 0, 1_000);
        let big = call("gemini-2.5-pro", 150_000, 60_000, 0, 1_000);
        assert!(close(
            call_cost(&small, &r),
            150_000.0 * 1.25e-6 + 40_000.0 * 0.125e-6 + 1_000.0 * 10e-6
        ));
        assert!(close(
            call_cost(&big, &r),
            150_000.0 * 2.5e-6 + 60_000.0 * 0.25e-6 + 1_000.0 * 15e-6
        ));
    }

    #[test]
    fn a_turn_is_priced_per_model_and_an_unknown_model_is_named_not_zero() {
        let none = Overrides::new();
        let turn = Turn {
            calls: vec![
                call("claude-sonnet-4-5", 100, 0, 0, 10),
                call("claude-haiku-4-5", 200, 0, 0, 20),
            ],
            ..Turn::default()
        };
        let f = priced(turn, &none);
        let want = 100.0 * 3e-6 + 10.0 * 15e-6 + 200.0 * 1e-6 + 20.0 * 5e-6;
        assert!(close(f["cost_usd"].as_f64().unwrap(), want), "{f:?}");
        assert_eq!(f["cost_source"], "prices");
        assert!(
            f["models"]["claude-haiku-4-5"]["cost_usd"]
                .as_f64()
                .is_some()
        );
        let turn = Turn {
            calls: vec![
                call("claude-sonnet-4-5", 100, 0, 0, 10),
                call("mock-model", 1, 0, 0, 1),
            ],
            ..Turn::default()
        };
        let f = priced(turn, &none);
        assert!(f.get("cost_usd").is_none(), "{f:?}");
        assert_eq!(f["unpriced_models"], json!(["mock-model"]));
        assert!(f["models"]["mock-model"].get("cost_usd").is_none());
    }

    #[test]
    fn the_users_own_prices_win() {
        let mut own = Overrides::new();
        own.insert(
            "claude-sonnet-4-5".into(),
            Override {
                input: 1.0,
                output: 2.0,
                ..Override::default()
            },
        );
        own.insert(
            "mock-model".into(),
            Override {
                input: 10.0,
                output: 20.0,
                ..Override::default()
            },
        );
        let (r, found) = lookup("claude-sonnet-4-5-20250929", &own).unwrap();
        assert!(close(r.input, 1e-6) && matches!(found, Found::Override(_)));
        let f = priced(
            Turn {
                calls: vec![call("mock-model", 1_000_000, 0, 0, 1_000_000)],
                ..Turn::default()
            },
            &own,
        );
        assert_eq!(f["cost_usd"], 30.0);
    }
}
