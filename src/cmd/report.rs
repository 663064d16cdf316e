//! `telemhq report`: turns, tokens, cost, failures and tool calls from the local store,
//! grouped by day, week, month, session, project, model or agent, with totals: a table
//! that fits the terminal, or JSON, or CSV. A model without a price is named, never
//! counted as $0.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::cli::{Grouping, ReportArgs};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::store::Store;

/// One group's sums.
#[derive(Debug, Default, Clone)]
struct Sums {
    turns: u64,
    /// Turns and sub-agents' runs summed (see `usage::Part`).
    records: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
    cost: f64,
    unpriced: Vec<String>,
    failed: u64,
    tool_calls: u64,
    /// Turns (or a model's turns) with a cost.
    priced: u64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.turns += o.turns;
        self.records += o.records;
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.reasoning += o.reasoning;
        self.cost += o.cost;
        for m in &o.unpriced {
            if !self.unpriced.contains(m) {
                self.unpriced.push(m.clone());
            }
        }
        self.unpriced.sort();
        self.failed += o.failed;
        self.tool_calls += o.tool_calls;
        self.priced += o.priced;
    }

    /// The cost of the priced turns; None when no turn had one (never a $0 for what has
    /// no price).
    fn cost(&self) -> Option<f64> {
        (self.priced > 0 || self.records == 0).then_some(self.cost)
    }

    fn to_json(&self, key: Option<&str>) -> Value {
        let mut v = json!({
            "turns": self.turns,
            "usage": {
                "input_tokens": self.input,
                "output_tokens": self.output,
                "cache_creation_input_tokens": self.cache_write,
                "cache_read_input_tokens": self.cache_read,
                "reasoning_output_tokens": self.reasoning,
            },
            "cost_usd": self.cost().map(crate::prices::dollars),
            "unpriced_models": self.unpriced,
            "failed_turns": self.failed,
            "tool_calls": self.tool_calls,
        });
        if let Some(k) = key {
            v["key"] = json!(k);
        }
        v
    }
}

/// 15 minutes: every time zone's offset is a whole number of them, so turns bucketed by
/// quarter-hour in SQL fall into the right local day.
const BUCKET_MS: i64 = 15 * 60 * 1000;

pub fn run(args: &ReportArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    let tz = match &args.tz {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
            Error::usage(format!(
                "--tz: {name:?} is not a time zone (use an IANA name, like Europe/Berlin)"
            ))
        })?,
        None => jiff::tz::TimeZone::system(),
    };
    let since = args
        .since
        .as_deref()
        .map(|s| super::import::parse_since(s, &tz))
        .transpose()?
        .unwrap_or(i64::MIN);
    let until = match args.until.as_deref() {
        Some(s) => super::import::parse_since(s, &tz)? + 86_400_000,
        None => i64::MAX,
    };
    let tool = args
        .agent
        .as_deref()
        .and_then(crate::agents::by_id)
        .map(|a| a.tool());
    let store = match Store::open_existing(&layout) {
        Ok(Some(s)) => Some(s),
        Ok(None) => None,
        Err(why) => {
            return Err(Error::new(format!(
                "{why}; hooks and delivery are not affected. Move it aside and run `telemhq import` to read your agents' history into a new one"
            )));
        }
    };
    let filter = Filter {
        since,
        until,
        tool,
        project: args.project.as_deref(),
    };
    let rows: Vec<(String, Sums)> = match &store {
        None => Vec::new(),
        Some(store) => match args.by {
            Grouping::Daily | Grouping::Weekly | Grouping::Monthly => {
                let mut by: BTreeMap<String, Sums> = BTreeMap::new();
                for (key, s) in sums_by(&layout, store, Source::Quarter, &filter)? {
                    let Key::At(bucket) = key else { continue };
                    by.entry(period(args.by, bucket * BUCKET_MS, &tz))
                        .or_default()
                        .add(&s);
                }
                by.into_iter().collect()
            }
            Grouping::Session => {
                named(sums_by(&layout, store, Source::Events("session"), &filter)?)
            }
            Grouping::Project => {
                named(sums_by(&layout, store, Source::Events("project"), &filter)?)
            }
            Grouping::Agent => named(sums_by(&layout, store, Source::Events("tool"), &filter)?),
            Grouping::Model => named(sums_by(&layout, store, Source::Models, &filter)?),
        },
    };
    let mut totals = Sums::default();
    for (_, s) in &rows {
        totals.add(s);
    }
    if args.by == Grouping::Model
        && let Some(store) = &store
    {
        // A turn of several models is one turn in the totals.
        let mut all = Sums::default();
        for (_, s) in sums_by(&layout, store, Source::Events("tool"), &filter)? {
            all.add(&s);
        }
        totals.turns = all.turns;
        totals.failed = all.failed;
        totals.tool_calls = all.tool_calls;
    }
    if args.json {
        let out = json!({
            "rows": rows.iter().map(|(k, s)| s.to_json(Some(k))).collect::<Vec<_>>(),
            "totals": totals.to_json(None),
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialises")
        );
        return Ok(0);
    }
    let head = [
        key_name(args.by),
        "turns",
        "input",
        "output",
        "cache read",
        "cache write",
        "reasoning",
        "cost (USD)",
        "failed",
        "tool calls",
    ];
    let cells = |k: &str, s: &Sums| -> Vec<String> {
        let mut cost = s.cost().map_or("–".to_string(), |c| format!("{c:.4}"));
        if !s.unpriced.is_empty() {
            cost.push_str(&format!(" + no price: {}", s.unpriced.join(", ")));
        }
        // Every cell as text a terminal shows, never acts on (names come from the data).
        [
            k.to_string(),
            s.turns.to_string(),
            s.input.to_string(),
            s.output.to_string(),
            s.cache_read.to_string(),
            s.cache_write.to_string(),
            s.reasoning.to_string(),
            cost,
            s.failed.to_string(),
            s.tool_calls.to_string(),
        ]
        .iter()
        .map(|c| crate::term::safe(c))
        .collect::<Vec<String>>()
    };
    if args.csv {
        let line = |cells: Vec<String>| {
            cells
                .iter()
                .map(|c| {
                    if c.contains([',', '"', '\n']) {
                        format!("\"{}\"", c.replace('"', "\"\""))
                    } else {
                        c.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        crate::outln!("{}", line(head.iter().map(|h| h.to_string()).collect()));
        for (k, s) in &rows {
            crate::outln!("{}", line(cells(k, s)));
        }
        crate::outln!("{}", line(cells("total", &totals)));
        return Ok(0);
    }
    if rows.is_empty() {
        crate::outln!(
            "No turns in the local store{}. They are kept as your agents run telemhq's hooks; \
             `telemhq import` reads your agents' history from before.",
            if store.is_some() {
                " for these filters"
            } else {
                " yet"
            }
        );
        return Ok(0);
    }
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(head.to_vec());
    for (k, s) in &rows {
        table.add_row(cells(k, s));
    }
    table.add_row(cells("Total", &totals));
    crate::outln!("{table}");
    Ok(0)
}

/// Which turns a report counts.
struct Filter<'a> {
    since: i64,
    until: i64,
    tool: Option<&'a str>,
    project: Option<&'a str>,
}

/// What rows are grouped by, and where their figures are.
#[derive(Clone, Copy)]
enum Source {
    /// Turns, by the quarter-hour they ended in.
    Quarter,
    /// Turns, by a column of theirs (`session`, `project`, `tool`).
    Events(&'static str),
    /// Each model's part of the turns, by model.
    Models,
}

/// A group's key as read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    At(i64),
    Name(String),
}

fn named(sums: Vec<(Key, Sums)>) -> Vec<(String, Sums)> {
    let mut out: Vec<(String, Sums)> = sums
        .into_iter()
        .map(|(k, s)| match k {
            Key::Name(n) => (n, s),
            Key::At(n) => (n.to_string(), s),
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Sums per group. The figures are read from the store's covering indexes and summed
/// here (SQLite's GROUP BY sorts every row first), over as many parts of the time span as
/// there are cores, each part on its own connection.
fn sums_by(
    layout: &crate::env::Layout,
    store: &Store,
    source: Source,
    filter: &Filter,
) -> Result<Vec<(Key, Sums)>> {
    let unreadable = |e: rusqlite::Error| Error::new(format!("cannot read the local store: {e}"));
    let (table, index) = match source {
        Source::Models => ("models", "models_report"),
        _ => ("events", "events_report"),
    };
    // (A large import running now may have set the indexes aside.)
    let indexed = if store.has_report_indexes() {
        format!("INDEXED BY {index}")
    } else {
        String::new()
    };
    let (first, last): (Option<i64>, Option<i64>) = store
        .conn()
        .query_row(
            &format!("SELECT min(at_ms), max(at_ms) FROM {table} WHERE turn IN (1, 2)"),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(unreadable)?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Vec::new());
    };
    let (from, to) = (
        filter.since.max(first),
        filter.until.min(last.saturating_add(1)),
    );
    if from >= to {
        return Ok(Vec::new());
    }
    let parts = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8) as i64;
    let step = ((to - from) / parts).max(1);
    let ranges: Vec<(i64, i64)> = (0..parts)
        .map(|i| {
            let a = from.saturating_add(i * step);
            let b = if i == parts - 1 { to } else { a + step };
            (a, b)
        })
        .filter(|(a, b)| a < b)
        .collect();
    let (key, unpriced) = match source {
        Source::Quarter => ("at_ms", "unpriced"),
        Source::Events(column) => (column, "unpriced"),
        Source::Models => ("model", "CASE WHEN cost_usd IS NULL THEN model END"),
    };
    let sql = format!(
        "SELECT {key}, input, output, cache_read, cache_write, reasoning, cost_usd, {unpriced},
             status = 'failed', tool_calls, turn
         FROM {table} {indexed}
         WHERE turn IN (1, 2) AND at_ms >= ?1 AND at_ms < ?2 AND (?3 IS NULL OR tool = ?3)
             AND (?4 IS NULL OR project = ?4)"
    );
    let sum_part = |(a, b): (i64, i64),
                    conn: &rusqlite::Connection|
     -> Result<HashMap<Key, Sums>> {
        let mut stmt = conn.prepare(&sql).map_err(unreadable)?;
        let mut rows = stmt
            .query(rusqlite::params![a, b, filter.tool, filter.project])
            .map_err(unreadable)?;
        let (mut at, mut by_name): (HashMap<i64, Sums>, HashMap<String, Sums>) = Default::default();
        while let Some(r) = rows.next().map_err(unreadable)? {
            let s = match r.get_ref(0).map_err(unreadable)? {
                rusqlite::types::ValueRef::Integer(ms) if matches!(source, Source::Quarter) => {
                    at.entry(ms.div_euclid(BUCKET_MS)).or_default()
                }
                v => {
                    let name = match v {
                        rusqlite::types::ValueRef::Text(t) => {
                            std::str::from_utf8(t).unwrap_or("unknown")
                        }
                        _ => "unknown",
                    };
                    if !by_name.contains_key(name) {
                        by_name.insert(name.to_string(), Sums::default());
                    }
                    by_name.get_mut(name).expect("just added")
                }
            };
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            // A sub-agent's run adds to the totals, not to the turns (`usage::Part`).
            let turn = n(10).map_err(unreadable)? == crate::usage::Part::Turn as u64;
            s.turns += u64::from(turn);
            s.records += 1;
            s.input += n(1).map_err(unreadable)?;
            s.output += n(2).map_err(unreadable)?;
            s.cache_read += n(3).map_err(unreadable)?;
            s.cache_write += n(4).map_err(unreadable)?;
            s.reasoning += n(5).map_err(unreadable)?;
            if let Some(c) = r.get::<_, Option<f64>>(6).map_err(unreadable)? {
                s.cost += c;
                s.priced += 1;
            }
            if let rusqlite::types::ValueRef::Text(t) = r.get_ref(7).map_err(unreadable)? {
                for m in std::str::from_utf8(t).unwrap_or("").split(',') {
                    if !m.is_empty() && !s.unpriced.iter().any(|x| x == m) {
                        s.unpriced.push(m.to_string());
                        s.unpriced.sort();
                    }
                }
            }
            s.failed += n(8).map_err(unreadable)? * u64::from(turn);
            s.tool_calls += n(9).map_err(unreadable)?;
        }
        Ok(at
            .into_iter()
            .map(|(k, s)| (Key::At(k), s))
            .chain(by_name.into_iter().map(|(k, s)| (Key::Name(k), s)))
            .collect())
    };
    let results: Vec<Result<HashMap<Key, Sums>>> = if ranges.len() == 1 {
        vec![sum_part(ranges[0], store.conn())]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&range| {
                    scope.spawn(move || {
                        let store = Store::open_existing(layout)
                            .map_err(Error::new)?
                            .ok_or_else(|| Error::new("the local store went away"))?;
                        sum_part(range, store.conn())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::new("a reader failed")))
                })
                .collect()
        })
    };
    let mut all: HashMap<Key, Sums> = HashMap::new();
    for part in results {
        for (key, s) in part? {
            all.entry(key).or_default().add(&s);
        }
    }
    Ok(all.into_iter().collect())
}

fn key_name(by: Grouping) -> &'static str {
    match by {
        Grouping::Daily => "day",
        Grouping::Weekly => "week (from Monday)",
        Grouping::Monthly => "month",
        Grouping::Session => "session",
        Grouping::Project => "project",
        Grouping::Model => "model",
        Grouping::Agent => "agent",
    }
}

/// The day, week (its Monday) or month a moment falls in, in a time zone.
fn period(by: Grouping, at_ms: i64, tz: &jiff::tz::TimeZone) -> String {
    let ts = jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let date = ts.to_zoned_datetime(tz.clone()).date();
    match by {
        Grouping::Weekly => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            let monday = date
                .checked_sub(jiff::Span::new().days(back))
                .unwrap_or(date);
            monday.to_string()
        }
        Grouping::Monthly => format!("{:04}-{:02}", date.year(), date.month()),
        _ => date.to_string(),
    }
}
