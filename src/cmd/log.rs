//! `telemhq log`: recent events, each with the exact JSON that was or will be sent, from
//! the local store (and the queue, for events not in it yet).

use serde_json::{Value, json};

use crate::cli::LogArgs;
use crate::env::Env;
use crate::error::Result;
use crate::ping::queue::{self, State};
use crate::store::{self, Store};

/// One event to show.
struct Shown {
    at: String,
    state: String,
    /// `hook` or `import`.
    source: &'static str,
    tracker: Option<String>,
    note: Option<String>,
    payload: serde_json::Map<String, Value>,
}

pub fn run(args: &LogArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    let tool = args
        .agent
        .as_deref()
        .and_then(crate::agents::by_id)
        .map(|a| a.tool());
    let mut shown: Vec<Shown> = Vec::new();
    match Store::open_existing(&layout) {
        Ok(Some(s)) => match store::recent(
            &s,
            args.limit,
            tool,
            args.state.as_deref(),
            args.tracker.as_deref(),
        ) {
            Ok(rows) => shown.extend(rows.into_iter().map(|r| Shown {
                at: crate::time::rfc3339(r.at_ms),
                state: match (r.state.as_str(), &r.tracker) {
                    ("pending", None) => "pending (no tracker yet)".to_string(),
                    _ => r.state,
                },
                source: if r.source == "import" {
                    "import"
                } else {
                    "hook"
                },
                tracker: r.tracker,
                note: r.note,
                payload: r.payload,
            })),
            Err(e) => eprintln!("telemhq: warning: {e}; showing the queue's recent history only"),
        },
        Ok(None) => {}
        Err(e) => eprintln!("telemhq: warning: {e}; showing the queue's recent history only"),
    }
    // Events not in the store (yet): waiting to go, or only in the queue's history.
    let known: Vec<String> = shown
        .iter()
        .filter_map(|s| {
            s.payload
                .get("event_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    for (state, entry) in queue::all(&layout) {
        // (A turn's payload carries the id made from its identity, see `usage::event_id`.)
        let id = entry.payload.get("event_id").and_then(Value::as_str);
        if id.is_some_and(|id| known.iter().any(|k| k == id)) || known.contains(&entry.event_id) {
            continue;
        }
        let tracker = entry.ping_url.as_deref().map(crate::config::mask_url);
        let keep = tool
            .is_none_or(|t| entry.payload.get("tool").and_then(Value::as_str) == Some(t))
            && args.state.as_deref().is_none_or(|s| s == state.name())
            && args
                .tracker
                .as_deref()
                .is_none_or(|t| tracker.as_deref().is_some_and(|m| m.contains(t)));
        if !keep {
            continue;
        }
        let note = match (&entry.note, entry.http_status) {
            (Some(n), Some(s)) => Some(format!("HTTP {s}  {n}")),
            (Some(n), None) => Some(n.clone()),
            (None, Some(s)) => Some(format!("HTTP {s}")),
            (None, None) => None,
        };
        let state = match (state, &entry.ping_url) {
            (State::Pending, None) => "pending (no tracker yet)".to_string(),
            (s, _) => s.name().to_string(),
        };
        shown.push(Shown {
            at: entry.queued_at.clone(),
            state,
            source: "hook",
            tracker,
            note,
            payload: entry.payload,
        });
    }
    shown.sort_by(|a, b| a.at.cmp(&b.at));
    let skip = shown.len().saturating_sub(args.limit);
    let shown = &shown[skip..];
    if shown.is_empty() {
        if !args.json {
            crate::outln!("No events yet. They appear here once your agents run telemhq's hooks.");
        }
        return Ok(0);
    }
    if args.json {
        for s in shown {
            crate::outln!(
                "{}",
                json!({"at": s.at, "state": s.state, "source": s.source, "tracker": s.tracker,
                       "payload": s.payload})
            );
        }
        return Ok(0);
    }
    // On a screen, the newest first.
    if args.payload {
        for s in shown.iter().rev() {
            print_with_payload(s);
        }
        return Ok(0);
    }
    crate::out!("{}", lines(shown, crate::table::terminal_width()));
    Ok(0)
}

/// One event and the JSON that was or will be sent.
fn print_with_payload(s: &Shown) {
    let event = s
        .payload
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let id = s
        .payload
        .get("event_id")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut head = format!("{}  {:<9}  {event}  {id}", s.at, s.state);
    if let Some(t) = &s.tracker {
        head.push_str(&format!("  -> {t}"));
    }
    if let Some(n) = &s.note {
        head.push_str(&format!("  {n}"));
    }
    if let Some(models) = s.payload.get("unpriced_models").and_then(Value::as_array) {
        let names: Vec<&str> = models.iter().filter_map(Value::as_str).collect();
        head.push_str(&format!(
            "  no cost: no price for {} (telemhq prices set MODEL …)",
            names.join(", ")
        ));
    }
    crate::outln!("{}", crate::term::safe(&head));
    crate::outln!(
        "  {}",
        crate::term::safe(&serde_json::to_string(&s.payload).expect("a payload serialises"))
    );
}

/// One line per event, the newest first: when, which agent, what, the model, tokens,
/// cost, and where it went (the tracker's state, and why, when it failed).
fn lines(shown: &[Shown], width: Option<usize>) -> String {
    use crate::table::{Align, Cell, Column, KEEP, Kind, Row, Table, dollars, thousands};
    let tz = jiff::tz::TimeZone::system();
    let text = |key: &str, s: &Shown| {
        s.payload
            .get(key)
            .and_then(Value::as_str)
            .map(crate::term::safe)
            .unwrap_or_default()
    };
    let rows = shown
        .iter()
        .rev()
        .map(|s| {
            let when = crate::time::parse_rfc3339_ms(&s.at)
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map(|t| t.to_zoned_datetime(tz.clone()));
            let time = when.as_ref().map_or_else(
                || Cell::from(crate::term::safe(&s.at)),
                |z| {
                    Cell::with_short(
                        z.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        z.strftime("%m-%d %H:%M").to_string(),
                    )
                },
            );
            let model = text("model", s);
            let usage = s.payload.get("usage");
            let tokens = [
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            ]
            .iter()
            .map(|k| {
                usage
                    .and_then(|u| u.get(k))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            })
            .sum::<u64>();
            let has_usage = usage.is_some();
            let cost = match s.payload.get("cost_usd").and_then(Value::as_f64) {
                Some(c) => dollars(c),
                None if s.payload.contains_key("unpriced_models") => "no price".into(),
                None => String::new(),
            };
            let mut state = crate::term::safe(&s.state);
            if let Some(n) = &s.note {
                state.push_str(&format!(" ({})", crate::term::safe(n)));
            }
            Row {
                cells: vec![
                    time,
                    text("tool", s).into(),
                    text("event", s).into(),
                    Cell::with_short(model.clone(), crate::table::short_model(&model)),
                    if has_usage {
                        thousands(tokens)
                    } else {
                        String::new()
                    }
                    .into(),
                    cost.into(),
                    state.into(),
                    s.tracker
                        .as_deref()
                        .map(crate::term::safe)
                        .unwrap_or_default()
                        .into(),
                ],
                kind: Kind::Group,
                bar: None,
            }
        })
        .collect();
    let table = Table {
        columns: vec![
            Column::new("time", "time", Align::Left, KEEP),
            Column::new("agent", "agent", Align::Left, 60),
            Column::new("event", "event", Align::Left, KEEP),
            Column::new("model", "model", Align::Left, 50),
            Column::new("tokens", "tokens", Align::Right, 55),
            Column::new("cost", "cost", Align::Right, 52),
            Column::new("state", "state", Align::Left, KEEP),
            Column::new("tracker", "tracker", Align::Left, 20),
        ],
        rows,
        chart: None,
    };
    let rendered = crate::table::render(&table, width);
    let mut out = rendered.text;
    out.push('\n');
    if !rendered.left_out.is_empty() {
        out.push_str(&format!(
            "Left out to fit: {} (a wider terminal shows them; --payload the exact JSON).\n",
            rendered.left_out.join(", ")
        ));
    }
    out
}
