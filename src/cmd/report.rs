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
#[derive(Debug, Clone)]
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
    /// When the first and the last of them ended (Unix ms).
    first_ms: i64,
    last_ms: i64,
    /// Their projects and models (read for sessions only).
    projects: Vec<String>,
    models: Vec<String>,
}

impl Default for Sums {
    fn default() -> Sums {
        Sums {
            turns: 0,
            records: 0,
            input: 0,
            output: 0,
            cache_read: 0,
            cache_write: 0,
            reasoning: 0,
            cost: 0.0,
            unpriced: Vec::new(),
            failed: 0,
            tool_calls: 0,
            priced: 0,
            first_ms: i64::MAX,
            last_ms: i64::MIN,
            projects: Vec::new(),
            models: Vec::new(),
        }
    }
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
        self.first_ms = self.first_ms.min(o.first_ms);
        self.last_ms = self.last_ms.max(o.last_ms);
        for (mine, theirs) in [
            (&mut self.projects, &o.projects),
            (&mut self.models, &o.models),
        ] {
            for x in theirs {
                if !mine.contains(x) {
                    mine.push(x.clone());
                }
            }
            mine.sort();
        }
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
            "first_at": (self.first_ms != i64::MAX).then(|| crate::time::rfc3339(self.first_ms)),
            "last_at": (self.last_ms != i64::MIN).then(|| crate::time::rfc3339(self.last_ms)),
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

/// The model-part row of turns that name no model (an API error before any answer), so
/// that a report's rows add up to its totals.
const NO_MODEL: &str = "(no model)";

/// One row of the report: a group's sums, and each model's part of them (`--breakdown`).
struct Group {
    key: String,
    sums: Sums,
    parts: Vec<(String, Sums)>,
}

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
    let day = |flag: &str, text: &str| {
        crate::time::parse_day(text, &tz).map_err(|e| Error::usage(format!("--{flag}: {e}")))
    };
    let since_day = args.since.as_deref().map(|s| day("since", s)).transpose()?;
    let until_day = args.until.as_deref().map(|s| day("until", s)).transpose()?;
    if let (Some(a), Some(b)) = (since_day, until_day)
        && a > b
    {
        return Err(Error::usage(format!(
            "--since {a} is after --until {b}: no day is in between (swap them?)"
        )));
    }
    if args.by == Grouping::Quota {
        return quota(args, env, &tz);
    }
    let since = since_day.map_or(i64::MIN, |d| crate::time::day_start(d, &tz));
    let until = until_day.map_or(i64::MAX, |d| crate::time::day_end(d, &tz));
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
    if let (Some(name), Some(store)) = (args.project.as_deref(), &store) {
        let known = projects(store)?;
        if !known.iter().any(|p| p == name) {
            let list = if known.is_empty() {
                "none yet".to_string()
            } else {
                known
                    .iter()
                    .map(|p| crate::term::safe(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::new(format!(
                "--project: no turns of a project named {:?} in the local store (the projects: {list})",
                crate::term::safe(name)
            )));
        }
    }
    let filter = Filter {
        since,
        until,
        tool,
        project: args.project.as_deref(),
    };
    let groups = match &store {
        None => Vec::new(),
        Some(store) => groups(args, &layout, store, &filter, &tz)?,
    };
    let mut totals = Sums::default();
    for g in &groups {
        totals.add(&g.sums);
    }
    if args.by == Grouping::Model
        && let Some(store) = &store
    {
        // A turn of several models is one turn in the totals.
        let all = sums_by(&layout, store, Source::turns(GroupBy::Constant), &filter)?
            .into_iter()
            .fold(Sums::default(), |mut all, (_, s)| {
                all.add(&s);
                all
            });
        totals.turns = all.turns;
        totals.failed = all.failed;
        totals.tool_calls = all.tool_calls;
        totals.first_ms = all.first_ms;
        totals.last_ms = all.last_ms;
    }
    if args.json {
        let row = |g: &Group| {
            let mut v = g.sums.to_json(Some(&g.key));
            if args.by == Grouping::Session {
                v["projects"] = json!(g.sums.projects);
                v["models"] = json!(g.sums.models);
            }
            if args.breakdown {
                v["models"] =
                    Value::Array(g.parts.iter().map(|(m, s)| s.to_json(Some(m))).collect());
            }
            v
        };
        let out = json!({
            "rows": groups.iter().map(row).collect::<Vec<_>>(),
            "totals": totals.to_json(None),
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialises")
        );
        return Ok(0);
    }
    if args.csv {
        print_csv(args, &groups, &totals);
        return Ok(0);
    }
    if groups.is_empty() {
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
    let width = crate::table::terminal_width();
    // A budget passed is said first, where the user looks.
    if let Some(line) = super::budget::passed_line(env) {
        crate::outln!("{}", crate::table::wrap(&line, width));
    }
    let chart = !args.no_chart
        && matches!(
            args.by,
            Grouping::Daily | Grouping::Weekly | Grouping::Monthly
        );
    crate::out!("{}", screen(args.by, &groups, &totals, &tz, width, chart));
    Ok(0)
}

/// The report's rows, in order.
fn groups(
    args: &ReportArgs,
    layout: &crate::env::Layout,
    store: &Store,
    filter: &Filter,
    tz: &jiff::tz::TimeZone,
) -> Result<Vec<Group>> {
    let by_period = |key: &GroupKey| match key {
        GroupKey::At(bucket) => period(args.by, bucket * BUCKET_MS, tz),
        GroupKey::Name(n) => n.clone(),
    };
    let group = match args.by {
        Grouping::Daily | Grouping::Weekly | Grouping::Monthly => GroupBy::Quarter,
        Grouping::Session => GroupBy::Column("session"),
        Grouping::Project => GroupBy::Column("project"),
        Grouping::Agent => GroupBy::Column("tool"),
        Grouping::Model | Grouping::Quota => GroupBy::Constant,
    };
    let mut rows: BTreeMap<String, Group> = BTreeMap::new();
    let add_parts = |rows: &mut BTreeMap<String, Group>, parts: Vec<(Key, Sums)>| {
        let mut by: BTreeMap<(String, String), Sums> = BTreeMap::new();
        for (key, s) in parts {
            let model = key.1.unwrap_or_else(|| NO_MODEL.to_string());
            by.entry((by_period(&key.0), model)).or_default().add(&s);
        }
        for ((k, model), s) in by {
            if let Some(g) = rows.get_mut(&k) {
                g.parts.push((model, s));
            }
        }
    };
    if args.by == Grouping::Model {
        // Each model's part is a row; turns that name none are one row more.
        let mut parts = sums_by(layout, store, Source::models(GroupBy::Constant), filter)?;
        parts.extend(sums_by(
            layout,
            store,
            Source::no_model(GroupBy::Constant),
            filter,
        )?);
        for (key, s) in parts {
            let model = key.1.unwrap_or_else(|| NO_MODEL.to_string());
            rows.entry(model.clone())
                .or_insert_with(|| Group {
                    key: model,
                    sums: Sums::default(),
                    parts: Vec::new(),
                })
                .sums
                .add(&s);
        }
        return Ok(rows.into_values().collect());
    }
    let mut turns = Source::turns(group);
    turns.detail = args.by == Grouping::Session;
    for (key, s) in sums_by(layout, store, turns, filter)? {
        let k = by_period(&key.0);
        rows.entry(k.clone())
            .or_insert_with(|| Group {
                key: k,
                sums: Sums::default(),
                parts: Vec::new(),
            })
            .sums
            .add(&s);
    }
    if args.breakdown || args.by == Grouping::Session {
        let mut parts = sums_by(layout, store, Source::models(group), filter)?;
        if args.by == Grouping::Session {
            // A session's models: each model of each of its turns.
            for ((key, model), _) in &parts {
                if let (GroupKey::Name(session), Some(model)) = (key, model)
                    && let Some(g) = rows.get_mut(session)
                    && !g.sums.models.contains(model)
                {
                    g.sums.models.push(model.clone());
                    g.sums.models.sort();
                }
            }
        }
        if args.breakdown {
            parts.extend(sums_by(layout, store, Source::no_model(group), filter)?);
            add_parts(&mut rows, parts);
        }
    }
    let mut out: Vec<Group> = rows.into_values().collect();
    if args.by == Grouping::Session {
        // The latest session last, as a day's report ends with today.
        out.sort_by(|a, b| (a.sums.last_ms, &a.key).cmp(&(b.sums.last_ms, &b.key)));
    }
    Ok(out)
}

/// The projects the store has turns of, by name.
fn projects(store: &Store) -> Result<Vec<String>> {
    let unreadable = |e: rusqlite::Error| Error::new(format!("cannot read the local store: {e}"));
    let mut stmt = store
        .conn()
        .prepare("SELECT DISTINCT project FROM events WHERE turn IN (1, 2) AND project IS NOT NULL ORDER BY project")
        .map_err(unreadable)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(unreadable)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    Ok(names)
}

fn print_csv(args: &ReportArgs, groups: &[Group], totals: &Sums) {
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
        let mut cost = s.cost().map_or(String::new(), |c| format!("{c:.4}"));
        if !s.unpriced.is_empty() {
            cost.push_str(&format!(" + no price: {}", s.unpriced.join(", ")));
        }
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
        .collect()
    };
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
    for g in groups {
        crate::outln!("{}", line(cells(&g.key, &g.sums)));
        if args.breakdown {
            for (m, s) in &g.parts {
                crate::outln!("{}", line(cells(&format!("{} / {m}", g.key), s)));
            }
        }
    }
    crate::outln!("{}", line(cells("total", totals)));
}

/// The report as a table for a screen `width` wide (None: a file or a pipe, every
/// column, no chart), with what it leaves out said below it.
fn screen(
    by: Grouping,
    groups: &[Group],
    totals: &Sums,
    tz: &jiff::tz::TimeZone,
    width: Option<usize>,
    chart: bool,
) -> String {
    use crate::table::{Align, Cell, Column, KEEP, Kind, Row, Table, dollars, thousands};
    let safe = |s: &str| crate::term::safe(s);
    let unpriced_mark = |s: &Sums| if s.unpriced.is_empty() { "" } else { "*" };
    let cost = |s: &Sums| -> Cell {
        let figure = s.cost().map_or("–".to_string(), dollars);
        format!("{figure}{}", unpriced_mark(s)).into()
    };
    let name = |key: &str, kind: Kind| -> Cell {
        let key = safe(key);
        match (by, kind) {
            (_, Kind::Part) => Cell::with_short(
                format!("  └ {key}"),
                format!("  └ {}", crate::table::short_model(&key)),
            ),
            (Grouping::Model, _) => Cell::with_short(key.clone(), crate::table::short_model(&key)),
            (Grouping::Session, Kind::Group) if width.is_some() => {
                // On a screen, the id's first eight characters tell sessions apart.
                key.chars().take(8).collect::<String>().into()
            }
            (Grouping::Project, Kind::Group) => long_name(&key),
            _ => key.into(),
        }
    };
    let total_tokens = |s: &Sums| s.input + s.output + s.cache_read + s.cache_write;
    let mut rows: Vec<(Kind, &str, &Sums)> = Vec::new();
    for g in groups {
        rows.push((Kind::Group, &g.key, &g.sums));
        for (m, s) in &g.parts {
            rows.push((Kind::Part, m, s));
        }
    }
    rows.push((Kind::Total, "Total", totals));
    let priced = groups
        .iter()
        .any(|g| g.sums.cost().is_some_and(|c| c > 0.0));
    let bar = |s: &Sums| {
        if priced {
            s.cost().unwrap_or(0.0)
        } else {
            total_tokens(s) as f64
        }
    };
    let table = if by == Grouping::Session {
        let when = |ms: i64, short: bool| -> String {
            if ms == i64::MAX || ms == i64::MIN {
                return String::new();
            }
            let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let fmt = if short {
                "%m-%d %H:%M"
            } else {
                "%Y-%m-%d %H:%M"
            };
            ts.to_zoned_datetime(tz.clone()).strftime(fmt).to_string()
        };
        let list = |names: &[String]| -> Cell {
            let short: Vec<String> = names
                .iter()
                .map(|m| crate::table::short_model(&safe(m)))
                .collect();
            let shortest = match short.as_slice() {
                [] => String::new(),
                [one] => one.clone(),
                [first, rest @ ..] => format!("{first} +{}", rest.len()),
            };
            Cell::with_short(short.join(", "), shortest)
        };
        Table {
            columns: vec![
                Column::new("session", "session", Align::Left, KEEP),
                Column::new("project", "project", Align::Left, 55),
                Column::new("first", "first", Align::Left, 30),
                Column::new("last", "last", Align::Left, 50),
                Column::new("models", "models", Align::Left, 40),
                Column::new("turns", "turns", Align::Right, 60),
                Column::new("tokens", "tokens", Align::Right, 65),
                Column::new("cost", "cost", Align::Right, KEEP),
            ],
            rows: rows
                .iter()
                .map(|&(kind, key, s)| {
                    let total = kind == Kind::Total;
                    Row {
                        cells: vec![
                            name(key, kind),
                            if total {
                                Cell::from("")
                            } else {
                                long_name(&safe(&s.projects.join(", ")))
                            },
                            Cell::with_short(when(s.first_ms, false), when(s.first_ms, true)),
                            Cell::with_short(when(s.last_ms, false), when(s.last_ms, true)),
                            if total {
                                Cell::from("")
                            } else {
                                list(&s.models)
                            },
                            thousands(s.turns).into(),
                            thousands(total_tokens(s)).into(),
                            cost(s),
                        ],
                        kind,
                        bar: None,
                    }
                })
                .collect(),
            chart: None,
        }
    } else {
        let zero = |f: fn(&Sums) -> u64| totals_zero(&rows, f);
        type Figure = (&'static str, &'static str, u8, fn(&Sums) -> u64);
        let figures: [Figure; 8] = [
            ("turns", "turns", 60, |s| s.turns),
            ("input", "in", 65, |s| s.input),
            ("output", "out", 70, |s| s.output),
            ("cache read", "cache rd", 50, |s| s.cache_read),
            ("cache write", "cache wr", 35, |s| s.cache_write),
            ("reasoning", "reason", 20, |s| s.reasoning),
            ("failed", "fail", 30, |s| s.failed),
            ("tool calls", "tools", 40, |s| s.tool_calls),
        ];
        // A column of zeros in every row tells nothing (turns always shows).
        let figures: Vec<&Figure> = figures
            .iter()
            .filter(|f| f.0 == "turns" || !zero(f.3))
            .collect();
        let mut columns = vec![Column::new(key_name(by), key_short(by), Align::Left, KEEP)];
        for f in &figures {
            columns.push(Column::new(f.0, f.1, Align::Right, f.2));
        }
        columns.push(Column::new("cost", "cost", Align::Right, KEEP));
        Table {
            columns,
            rows: rows
                .iter()
                .map(|&(kind, key, s)| {
                    let mut cells = vec![name(key, kind)];
                    cells.extend(figures.iter().map(|f| Cell::from(thousands((f.3)(s)))));
                    cells.push(cost(s));
                    Row {
                        cells,
                        kind,
                        bar: Some(bar(s)),
                    }
                })
                .collect(),
            // (A bar of cost needs no header beside the cost column; of tokens, it does.)
            chart: chart.then(|| if priced { "" } else { "tokens" }.to_string()),
        }
    };
    let rendered = crate::table::render(&table, width);
    let mut out = rendered.text;
    out.push('\n');
    let mut notes = Vec::new();
    let unpriced = &totals.unpriced;
    if !unpriced.is_empty() {
        notes.push(format!(
            "* No price for {}: their tokens are counted, their cost is not (telemhq prices set MODEL …).",
            unpriced.iter().map(|m| safe(m)).collect::<Vec<_>>().join(", ")
        ));
    }
    if !rendered.left_out.is_empty() {
        notes.push(format!(
            "Left out to fit {} columns: {} (a wider terminal or --json shows them).",
            width.unwrap_or(0),
            rendered.left_out.join(", ")
        ));
    }
    for note in notes {
        out.push_str(&crate::table::wrap(&note, width));
        out.push('\n');
    }
    out
}

/// A name that may be long (a project's folder): on a narrow screen its first 23
/// characters and an ellipsis.
fn long_name(name: &str) -> crate::table::Cell {
    if name.chars().count() <= 24 {
        return name.into();
    }
    let cut: String = name.chars().take(23).collect();
    crate::table::Cell::with_short(name.to_string(), format!("{cut}…"))
}

/// Whether a figure is zero in every row.
fn totals_zero(rows: &[(crate::table::Kind, &str, &Sums)], f: fn(&Sums) -> u64) -> bool {
    rows.iter().all(|(_, _, s)| f(s) == 0)
}

/// Which turns a report counts.
struct Filter<'a> {
    since: i64,
    until: i64,
    tool: Option<&'a str>,
    project: Option<&'a str>,
}

/// What rows are grouped by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupBy {
    /// The quarter-hour they ended in.
    Quarter,
    /// A column of theirs (`session`, `project`, `tool`).
    Column(&'static str),
    /// Nothing: one group.
    Constant,
}

/// Where a report's figures are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// The turns.
    Events,
    /// Each model's part of the turns.
    Models,
    /// The turns no model has a part of.
    NoModel,
}

#[derive(Clone, Copy)]
struct Source {
    table: Table,
    group: GroupBy,
    /// Also each group's projects and models (for sessions).
    detail: bool,
}

impl Source {
    fn turns(group: GroupBy) -> Source {
        Source {
            table: Table::Events,
            group,
            detail: false,
        }
    }
    fn models(group: GroupBy) -> Source {
        Source {
            table: Table::Models,
            group,
            detail: false,
        }
    }
    fn no_model(group: GroupBy) -> Source {
        Source {
            table: Table::NoModel,
            group,
            detail: false,
        }
    }
}

/// A group's key as read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GroupKey {
    At(i64),
    Name(String),
}

/// A group's key, and the model when the figures are a model's part.
type Key = (GroupKey, Option<String>);

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
    let indexed = |index: &str| {
        // (A large import running now may have set the indexes aside.)
        if store.has_report_indexes() {
            format!("INDEXED BY {index}")
        } else {
            String::new()
        }
    };
    let (from_table, extra) = match (source.table, source.group) {
        (Table::Models, _) => (format!("models {}", indexed("models_report")), ""),
        (Table::Events, _) => (format!("events {}", indexed("events_report")), ""),
        // (A turn's parts are its models: one that names none has no part.)
        (Table::NoModel, _) => (
            format!("events {}", indexed("events_no_model")),
            "AND model IS NULL",
        ),
    };
    let span_table = if source.table == Table::Models {
        "models"
    } else {
        "events"
    };
    let (first, last): (Option<i64>, Option<i64>) = store
        .conn()
        .query_row(
            &format!("SELECT min(at_ms), max(at_ms) FROM {span_table} WHERE turn IN (1, 2)"),
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
    let key = match source.group {
        GroupBy::Quarter => "at_ms",
        GroupBy::Column(column) => column,
        GroupBy::Constant => "NULL",
    };
    // A turn with a model that has no price costs what its priced models cost (shown
    // marked as incomplete), so that its models' parts add up to it.
    let (model, unpriced, cost) = match source.table {
        Table::Models => (
            "model",
            "CASE WHEN cost_usd IS NULL THEN model END",
            "cost_usd",
        ),
        Table::NoModel | Table::Events => (
            "NULL",
            "unpriced",
            "CASE WHEN cost_usd IS NULL AND unpriced IS NOT NULL
                 THEN (SELECT sum(cost_usd) FROM models WHERE models.id = events.id)
                 ELSE cost_usd END",
        ),
    };
    let detail = if source.detail { "project" } else { "NULL" };
    let sql = format!(
        "SELECT {key}, input, output, cache_read, cache_write, reasoning, {cost}, {unpriced},
             status = 'failed', tool_calls, turn, at_ms, {model}, {detail}
         FROM {from_table}
         WHERE turn IN (1, 2) AND at_ms >= ?1 AND at_ms < ?2 AND (?3 IS NULL OR tool = ?3)
             AND (?4 IS NULL OR project = ?4) {extra}"
    );
    let bucketed = source.group == GroupBy::Quarter;
    let sum_part =
        |(a, b): (i64, i64), conn: &rusqlite::Connection| -> Result<HashMap<Key, Sums>> {
            let mut stmt = conn.prepare(&sql).map_err(unreadable)?;
            let mut rows = stmt
                .query(rusqlite::params![a, b, filter.tool, filter.project])
                .map_err(unreadable)?;
            // Each group's sums, found by its key spelled into one reused buffer: no
            // allocation per row (only per new group), and rows of the group just seen
            // (turns come in time order) found without hashing.
            let mut groups: Vec<(Key, Sums)> = Vec::new();
            let mut index: HashMap<String, usize> = HashMap::new();
            let mut spelled = String::new();
            let mut last: Option<(String, usize)> = None;
            fn text(v: rusqlite::types::ValueRef<'_>) -> Option<std::borrow::Cow<'_, str>> {
                match v {
                    rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t)),
                    _ => None,
                }
            }
            while let Some(r) = rows.next().map_err(unreadable)? {
                use std::fmt::Write;
                let g = r.get_ref(0).map_err(unreadable)?;
                let m = text(r.get_ref(12).map_err(unreadable)?);
                spelled.clear();
                match g {
                    rusqlite::types::ValueRef::Integer(ms) if bucketed => {
                        let _ = write!(spelled, "q{}", ms.div_euclid(BUCKET_MS));
                    }
                    v => {
                        spelled.push('n');
                        let fallback = if source.group == GroupBy::Constant {
                            ""
                        } else {
                            "unknown"
                        };
                        spelled.push_str(text(v).as_deref().unwrap_or(fallback));
                    }
                }
                if let Some(m) = &m {
                    spelled.push('\0');
                    spelled.push_str(m);
                }
                let at = match &last {
                    Some((k, i)) if *k == spelled => *i,
                    _ => {
                        let i = match index.get(spelled.as_str()) {
                            Some(&i) => i,
                            None => {
                                let group = match g {
                                    rusqlite::types::ValueRef::Integer(ms) if bucketed => {
                                        GroupKey::At(ms.div_euclid(BUCKET_MS))
                                    }
                                    _ => GroupKey::Name(
                                        spelled[1..].split('\0').next().unwrap_or("").to_string(),
                                    ),
                                };
                                let model = m.as_deref().map(str::to_string);
                                groups.push(((group, model), Sums::default()));
                                index.insert(spelled.clone(), groups.len() - 1);
                                groups.len() - 1
                            }
                        };
                        match &mut last {
                            Some((k, li)) => {
                                k.clone_from(&spelled);
                                *li = i;
                            }
                            None => last = Some((spelled.clone(), i)),
                        }
                        i
                    }
                };
                let s = &mut groups[at].1;
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
                if let Some(t) = text(r.get_ref(7).map_err(unreadable)?) {
                    for m in t.split(',') {
                        if !m.is_empty() && !s.unpriced.iter().any(|x| x == m) {
                            s.unpriced.push(m.to_string());
                            s.unpriced.sort();
                        }
                    }
                }
                s.failed += n(8).map_err(unreadable)? * u64::from(turn);
                s.tool_calls += n(9).map_err(unreadable)?;
                let at = r.get::<_, i64>(11).map_err(unreadable)?;
                s.first_ms = s.first_ms.min(at);
                s.last_ms = s.last_ms.max(at);
                if source.detail
                    && let Some(project) = text(r.get_ref(13).map_err(unreadable)?)
                    && !s.projects.iter().any(|x| *x == project)
                {
                    s.projects.push(project.into_owned());
                    s.projects.sort();
                }
            }
            Ok(groups.into_iter().collect())
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

fn key_short(by: Grouping) -> &'static str {
    match by {
        Grouping::Weekly => "week",
        _ => key_name(by),
    }
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
        Grouping::Quota => "quota",
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

/// `report quota`: each agent's quota windows as last seen (percent used, when they
/// reset, when seen), and each day's highest use of each window.
fn quota(args: &ReportArgs, env: &Env, tz: &jiff::tz::TimeZone) -> Result<i32> {
    use crate::table::{Align, Column, KEEP, Kind, Row, Table};
    let layout = env.layout()?;
    let latest = crate::quota::latest(&layout);
    let mut days: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for s in crate::quota::history(&layout)
        .into_iter()
        .chain(latest.iter().cloned())
    {
        let Some(ms) = crate::time::parse_rfc3339_ms(&s.at) else {
            continue;
        };
        let day = period(Grouping::Daily, ms, tz);
        let top = days
            .entry((day, s.agent.clone(), s.window.clone()))
            .or_insert(0.0);
        *top = top.max(s.used_percent);
    }
    if args.json {
        let out = json!({
            "latest": latest,
            "days": days.iter().map(|((day, agent, window), used)| json!({
                "day": day, "agent": agent, "window": window, "max_used_percent": used,
            })).collect::<Vec<_>>(),
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialises")
        );
        return Ok(0);
    }
    if latest.is_empty() {
        crate::outln!(
            "No quota seen yet. Claude Code shows its 5-hour and 7-day windows to its status line on a subscription: `telemhq install --statusline` makes telemhq that status line."
        );
        return Ok(0);
    }
    let when = |at: &str| {
        crate::time::parse_rfc3339_ms(at)
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| {
                t.to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let window_name = |w: &str| match w {
        "five_hour" => "5 hours".to_string(),
        "seven_day" => "7 days".to_string(),
        other => crate::term::safe(other),
    };
    let rows = latest
        .iter()
        .map(|s| Row {
            cells: vec![
                crate::term::safe(&s.agent).into(),
                window_name(&s.window).into(),
                format!("{:.0} %", s.used_percent).into(),
                s.resets_at.as_deref().map(when).unwrap_or_default().into(),
                when(&s.at).into(),
            ],
            kind: Kind::Group,
            bar: None,
        })
        .collect();
    let table = Table {
        columns: vec![
            Column::new("agent", "agent", Align::Left, KEEP),
            Column::new("window", "window", Align::Left, KEEP),
            Column::new("used", "used", Align::Right, KEEP),
            Column::new("resets", "resets", Align::Left, 50),
            Column::new("seen", "seen", Align::Left, 40),
        ],
        rows,
        chart: None,
    };
    let width = crate::table::terminal_width();
    crate::outln!("{}", crate::table::render(&table, width).text);
    if !days.is_empty() {
        crate::outln!("Each day's highest:");
        let rows = days
            .iter()
            .map(|((day, agent, window), used)| Row {
                cells: vec![
                    day.as_str().into(),
                    crate::term::safe(agent).into(),
                    window_name(window).into(),
                    format!("{used:.0} %").into(),
                ],
                kind: Kind::Group,
                bar: Some(*used),
            })
            .collect();
        let table = Table {
            columns: vec![
                Column::new("day", "day", Align::Left, KEEP),
                Column::new("agent", "agent", Align::Left, 50),
                Column::new("window", "window", Align::Left, KEEP),
                Column::new("highest", "max", Align::Right, KEEP),
            ],
            rows,
            chart: (!args.no_chart).then(String::new),
        };
        crate::outln!("{}", crate::table::render(&table, width).text);
    }
    Ok(0)
}
