//! `telemhq run -- COMMAND`: the wrapper for scheduled jobs and CI, where the machine
//! (or container) ends with the command. It runs the command with stdio passed through
//! and signals forwarded, then delivers everything queued (the command's hook pings, with
//! their usage) and one run ping, within `--flush-timeout`, and exits as the command did.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::agents;
use crate::cli::RunArgs;
use crate::config::{self, Config, PingUrl};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::ping::payload;
use crate::ping::queue;
use crate::ping::runs;
use crate::ping::sender::{self, Patience};

/// The variable that carries the run id to the command's hooks.
pub const RUN_ID_VAR: &str = "TELEMHQ_RUN_ID";

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signalled(i32),
    /// It could not be started: 127 not found, 126 not executable (as shells say).
    NotStarted(i32),
}

impl Ended {
    pub fn from_status(status: ExitStatus) -> Ended {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(signal)) => Ended::Signalled(signal),
            (None, None) => Ended::Exited(1),
        }
    }

    /// The exit status telemhq itself exits with: the command's, 128+N for a signal.
    pub fn exit_code(self) -> i32 {
        match self {
            Ended::Exited(code) | Ended::NotStarted(code) => code,
            Ended::Signalled(signal) => 128 + signal,
        }
    }

    fn succeeded(self) -> bool {
        self == Ended::Exited(0)
    }
}

pub fn run(args: &RunArgs, env: &Env) -> Result<i32> {
    // Monitoring never stops the job it monitors: whatever is wrong with telemhq's own
    // setup, the command runs, and stderr says why its pings cannot be sent.
    let mut problems: Vec<String> = Vec::new();
    let layout = env.layout().map_err(|e| problems.push(e.to_string())).ok();
    // The tracker from --ping-url, or from TELEMHQ_PING_URL (the form a cron line or a
    // CI step uses).
    let (given, from) = match (&args.ping_url, &env.ping_url) {
        (Some(url), _) => (Some(url), "--ping-url"),
        (None, Some(url)) => (Some(url), "TELEMHQ_PING_URL"),
        (None, None) => (None, ""),
    };
    let ping_url = match given {
        Some(url) => match PingUrl::parse(url) {
            Ok(url) => Some(url),
            Err(e) => {
                problems.push(format!("{from}: {e}"));
                None
            }
        },
        None => None,
    };
    let run_id = payload::new_event_id().map_err(Error::new)?;
    if let Some(layout) = &layout
        && let Err(e) = runs::begin(layout, &run_id)
    {
        problems.push(format!("cannot keep the run's record: {e}"));
    }
    // The run's tracker and collector are kept privately, by run id: the ping token and
    // the collector's headers never enter the command's environment, where every tool
    // the job runs could print them.
    if let (Some(layout), Some(url)) = (&layout, &ping_url)
        && let Err(e) = runs::set_tracker(layout, &run_id, url.as_str())
    {
        problems.push(format!("cannot keep the run's tracker: {e}"));
    }
    let env_otlp = std::env::var_os("TELEMHQ_OTLP_ENDPOINT").is_some()
        || std::env::var_os("TELEMHQ_OTLP_HEADERS").is_some();
    if let Some(layout) = &layout
        && env_otlp
        && let Some(otlp) = config::otlp_target(&Config::load(layout).unwrap_or_default())
        && let Err(e) = runs::set_otlp(layout, &run_id, &otlp)
    {
        problems.push(format!("cannot keep the run's collector: {e}"));
    }
    let program = &args.command[0];
    let started = Instant::now();
    let emitted_ms = crate::time::now_ms();
    // Without a terminal (a scheduler, a CI runner), the command gets a process group
    // of its own: a signal sent to telemhq's whole group (`timeout`, a runner cancelling
    // a step) reaches it once, from telemhq. On a terminal it stays in the foreground
    // group, where the terminal's own signals reach it directly.
    let own_group = !std::io::stdin().is_terminal();
    let job = |argv: &[&OsStr]| {
        let mut command = Command::new(argv[0]);
        command
            .args(&argv[1..])
            .env(RUN_ID_VAR, &run_id)
            .env_remove("TELEMHQ_PING_URL")
            .env_remove("TELEMHQ_OTLP_HEADERS")
            .env_remove("TELEMHQ_OTLP_ENDPOINT");
        if own_group {
            command.process_group(0);
        }
        command
    };
    let argv: Vec<&OsStr> = args.command.iter().map(OsStr::new).collect();
    let spawned = match job(&argv).spawn() {
        // A script without `#!`: run by the shell, as a shell would.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOEXEC.raw_os_error()) => {
            let mut with_shell = vec![OsStr::new("/bin/sh")];
            with_shell.extend(&argv);
            job(&with_shell).spawn()
        }
        other => other,
    };
    let ended = match spawned {
        Ok(child) => Ended::from_status(wait_forwarding_signals(child, own_group)?),
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!(
                "telemhq: cannot run {}: {}",
                crate::term::path(Path::new(program)),
                crate::error::io_reason(&e)
            );
            Ended::NotStarted(code)
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    // The command is done: a TERM, HUP or INT now (a cancelled step, `timeout`) ends
    // telemhq at once (what is not delivered stays queued), as if signal handlers had
    // never been installed for the command's sake.
    let now = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, now.clone());
    }
    let Some(layout) = layout else {
        eprintln!(
            "telemhq: this run's pings cannot be sent: {}",
            problems.join("; ")
        );
        return Ok(ended.exit_code());
    };
    for p in &problems {
        eprintln!("telemhq: {p}");
    }
    let deadline = Instant::now() + Duration::from_secs(args.flush_timeout);

    // The hooks' pings first (their usage is read as they go out), a collector never
    // holding them up; a tracker that refuses connections is down: not waited for.
    let first = sender::drain(
        &layout,
        Patience {
            pings_only: true,
            stop_when_refused: true,
            ..Patience::until(deadline)
        },
        agents::read_usage,
    );
    let mut events = runs::tally(&layout, &run_id);
    for (_, entry) in queue::all(&layout) {
        let id = entry.payload.get("event_id");
        let this_run = entry.payload.get("run_id").and_then(Value::as_str) == Some(run_id.as_str());
        if this_run && !events.iter().any(|e| e.get("event_id") == id) {
            events.push(entry.payload);
        }
    }
    let cost: f64 = events.iter().map(turn_cost).sum();
    let ping = run_payload(&RunFacts {
        run_id: &run_id,
        event_id: payload::new_event_id().map_err(Error::new)?,
        emitted_at: crate::time::rfc3339(emitted_ms + duration_ms as i64),
        command: program,
        ended,
        duration_ms,
        turns: &events,
    });
    let config = Config::load(&layout).unwrap_or_default();
    let run_url = ping_url.as_ref().map(|u| u.as_str().to_string());
    let env_url = run_url.as_deref().or(env.ping_url.as_deref());
    let route = config::route(env_url, &config, &env.cwd);
    let event_id = ping["event_id"].as_str().unwrap_or_default().to_string();
    let queued = queue::enqueue(
        &layout,
        &event_id,
        None,
        ping,
        route.clone(),
        &env.cwd.to_string_lossy(),
        config::otlp_target(&config),
    );
    runs::forget(&layout, &run_id);
    let report = sender::drain(
        &layout,
        Patience {
            stop_when_refused: true,
            ..Patience::until(deadline)
        },
        agents::read_usage,
    );
    if report.arrived {
        // Queued by another process while this drain held the lock.
        sender::start_detached(&layout);
    }
    if let Err(e) = queued {
        eprintln!("telemhq: the run ping could not be queued: {e}");
    }
    for (id, why) in first.failed.iter().chain(&report.failed) {
        if *id == event_id {
            eprintln!("telemhq: the run ping was refused by the tracker: {why}");
        } else {
            eprintln!("telemhq: an event of this run was refused by the tracker: {why}");
        }
    }
    if let Some((_, why)) = report.export_failed.first() {
        eprintln!(
            "telemhq: {} event(s) of this run were refused by the OpenTelemetry Collector: {why}",
            report.export_failed.len()
        );
    }
    if report.export_pending > 0 {
        eprintln!(
            "telemhq: {} event(s) not exported to the OpenTelemetry Collector within {} s ({}); they stay queued",
            report.export_pending,
            args.flush_timeout,
            report.export_error.as_deref().unwrap_or("no time left")
        );
    }
    let pings_pending = queue::all(&layout)
        .iter()
        .filter(|(s, e)| *s == queue::State::Pending && e.ping_done.is_none())
        .count();
    if pings_pending > 0 && route.is_none() && report.last_error.is_none() {
        // Without an account: the store is where the events go.
        eprintln!(
            "telemhq: no tracker is set: this run's events are kept on this machine (`telemhq report` shows them)"
        );
    } else if pings_pending > 0 {
        // Ours, or a detached sender's (that held the lock meanwhile).
        let last_error = report
            .last_error
            .clone()
            .or(first.last_error)
            .or_else(|| sender::LastError::load(&layout).map(|e| e.reason));
        let why = match (&last_error, &route) {
            (Some(e), _) => e.clone(),
            (None, None) => "no tracker is set: --ping-url, TELEMHQ_PING_URL or telemhq install --global --ping-url".into(),
            (None, Some(r)) => match PingUrl::parse(&r.url) {
                Err(e) => e,
                Ok(_) if report.busy || first.busy => {
                    "another telemhq was delivering and did not finish in time".into()
                }
                Ok(_) => format!("not delivered within {} s", args.flush_timeout),
            },
        };
        eprintln!(
            "telemhq: {pings_pending} event(s) not delivered to the tracker ({why}); they stay queued and go out with the next emit or `telemhq flush`"
        );
    }
    if let Some(max) = args.max_cost
        && cost > max
    {
        eprintln!(
            "telemhq: this run's turns cost {}, more than --max-cost {}",
            crate::table::dollars(cost),
            crate::table::dollars(max)
        );
        // (A command that failed keeps its own status: that is the news.)
        if ended.exit_code() == 0 {
            return Ok(OVER_MAX_COST);
        }
    }
    Ok(ended.exit_code())
}

/// `run`'s exit status when the command succeeded but its turns cost more than
/// `--max-cost`.
pub const OVER_MAX_COST: i32 = 3;

/// What a turn of the run cost: its `cost_usd`, or where a model had no price, what its
/// priced models cost. Other events cost nothing.
fn turn_cost(p: &Map<String, Value>) -> f64 {
    if let Some(c) = p.get("cost_usd").and_then(Value::as_f64) {
        return c;
    }
    p.get("models")
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(|v| v.get("cost_usd").and_then(Value::as_f64))
                .sum()
        })
        .unwrap_or(0.0)
}

/// Waits for the command, passing SIGINT, SIGTERM and SIGHUP that were sent to telemhq
/// (by `kill`, a CI runner, a scheduler) on to it, once. In the terminal's group, one
/// from the terminal is not passed on: the command got it already.
fn wait_forwarding_signals(mut child: std::process::Child, own_group: bool) -> Result<ExitStatus> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::new(format!("cannot handle signals: {e}")))?;
    let handle = signals.handle();
    let pid = rustix::process::Pid::from_raw(child.id() as i32);
    let forwarder = std::thread::spawn(move || {
        // One sender that signals telemhq and then its group (as `timeout` does) sends
        // the same signal twice within moments: the command gets it once.
        let mut last: Option<(i32, i32, Instant)> = None;
        for origin in signals.forever() {
            let sender = origin.process.map_or(0, |p| p.pid);
            let repeat = last.is_some_and(|(sig, from, at)| {
                sig == origin.signal && from == sender && at.elapsed() < Duration::from_millis(500)
            });
            last = Some((origin.signal, sender, Instant::now()));
            if repeat {
                continue;
            }
            if let (true, Some(pid)) = (sender > 0 || own_group, pid)
                && let Some(signal) = rustix::process::Signal::from_named_raw(origin.signal)
            {
                let _ = rustix::process::kill_process(pid, signal);
            }
        }
    });
    let status = child
        .wait()
        .map_err(|e| Error::new(format!("cannot wait for the command: {e}")));
    handle.close();
    let _ = forwarder.join();
    status
}

/// What a run ping is made of.
pub struct RunFacts<'a> {
    pub run_id: &'a str,
    pub event_id: String,
    pub emitted_at: String,
    pub command: &'a OsStr,
    pub ended: Ended,
    pub duration_ms: u64,
    /// The payloads of the hook pings this run's command sent (they carry its run id).
    pub turns: &'a [Map<String, Value>],
}

const TOKEN_KEYS: [&str; 5] = [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "reasoning_output_tokens",
];

/// The run ping: how the command ended, how long it took, and the usage of its own
/// turns summed; the program's base name only, never its arguments (they carry prompts).
pub fn run_payload(facts: &RunFacts) -> Map<String, Value> {
    let mut usage: Map<String, Value> = TOKEN_KEYS[..4]
        .iter()
        .map(|k| (k.to_string(), json!(0)))
        .collect();
    let (mut api_calls, mut turns) = (0u64, 0u64);
    let mut cost = 0.0f64;
    let mut unpriced: Vec<String> = Vec::new();
    let mut tool_calls: Map<String, Value> = Map::new();
    for p in facts.turns {
        // (One definition of a turn: `usage::Part`.)
        if crate::usage::Part::of(p) == crate::usage::Part::Turn {
            turns += 1;
        }
        if let Some(u) = p.get("usage").and_then(Value::as_object) {
            for key in TOKEN_KEYS {
                // (A key no turn has stays out: the run ping has its turns' fields.)
                let Some(add) = u.get(key).and_then(Value::as_u64) else {
                    continue;
                };
                let sum = usage.get(key).and_then(Value::as_u64).unwrap_or(0) + add;
                usage.insert(key.into(), json!(sum));
            }
        }
        api_calls += p.get("api_calls").and_then(Value::as_u64).unwrap_or(0);
        cost += p.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0);
        for model in p
            .get("unpriced_models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !unpriced.iter().any(|m| m == model) {
                unpriced.push(model.to_string());
            }
        }
        for (tool, n) in p
            .get("tool_calls")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let sum =
                tool_calls.get(tool).and_then(Value::as_u64).unwrap_or(0) + n.as_u64().unwrap_or(0);
            tool_calls.insert(tool.clone(), json!(sum));
        }
    }
    let program = Path::new(facts.command)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| payload::is_identifier(n))
        .unwrap_or_else(|| "other".into());
    let mut p = Map::new();
    p.insert("event".into(), json!("Run"));
    p.insert(
        "status".into(),
        json!(if facts.ended.succeeded() {
            "success"
        } else {
            "failed"
        }),
    );
    match facts.ended {
        Ended::Exited(code) | Ended::NotStarted(code) => {
            p.insert("exit_code".into(), json!(code));
        }
        Ended::Signalled(signal) => {
            p.insert("signal".into(), json!(signal));
        }
    }
    p.insert("duration_ms".into(), json!(facts.duration_ms));
    p.insert("command".into(), json!(program));
    p.insert("run_id".into(), json!(facts.run_id));
    p.insert("turns".into(), json!(turns));
    p.insert("usage".into(), Value::Object(usage));
    p.insert("api_calls".into(), json!(api_calls));
    p.insert("tool_calls".into(), Value::Object(tool_calls));
    // The run's cost is its turns' cost: whole, or (a model without a price) none.
    if unpriced.is_empty() {
        if facts.turns.iter().any(|t| t.get("cost_usd").is_some()) {
            p.insert("cost_usd".into(), crate::prices::dollars(cost));
        }
    } else {
        p.insert("unpriced_models".into(), json!(unpriced));
    }
    p.insert("event_id".into(), json!(facts.event_id));
    p.insert("emitted_at".into(), json!(facts.emitted_at));
    p.insert("telemhq_version".into(), json!(env!("CARGO_PKG_VERSION")));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_map_as_shells_do() {
        assert_eq!(
            Ended::from_status(ExitStatus::from_raw(0)),
            Ended::Exited(0)
        );
        assert_eq!(
            Ended::from_status(ExitStatus::from_raw(3 << 8)),
            Ended::Exited(3)
        );
        let term = Ended::from_status(ExitStatus::from_raw(15));
        assert_eq!(term, Ended::Signalled(15));
        assert_eq!(term.exit_code(), 143);
        assert_eq!(Ended::NotStarted(127).exit_code(), 127);
        assert!(Ended::Exited(0).succeeded());
        assert!(!Ended::Exited(1).succeeded());
    }

    #[test]
    fn the_run_ping_sums_its_turns_and_names_only_the_program() {
        let turn = |event: &str, input: u64, tools: Value| {
            json!({"event": event, "usage": {"input_tokens": input, "output_tokens": 1,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2},
                "api_calls": 2, "tool_calls": tools})
            .as_object()
            .unwrap()
            .clone()
        };
        let mut tool_event = turn("PostToolUse", 0, json!({"Bash": 2}));
        tool_event.remove("api_calls");
        tool_event.remove("usage");
        let turns = [
            turn("Stop", 10, json!({"Bash": 1})),
            turn("StopFailure", 5, json!({})),
            // Part of a turn: its usage counts, it is not a turn of its own.
            turn("SubagentStop", 7, json!({"Read": 1})),
            tool_event,
        ];
        let p = run_payload(&RunFacts {
            run_id: "r1",
            event_id: "e1".into(),
            emitted_at: "2026-11-25T00:00:00.000Z".into(),
            command: OsStr::new("/usr/local/bin/claude"),
            ended: Ended::Exited(1),
            duration_ms: 1234,
            turns: &turns,
        });
        assert_eq!(p["command"], "claude");
        assert_eq!(p["status"], "failed");
        assert_eq!(p["exit_code"], 1);
        assert_eq!(p["turns"], 2);
        assert_eq!(p["usage"]["input_tokens"], 22);
        assert_eq!(p["usage"]["cache_read_input_tokens"], 6);
        assert_eq!(p["api_calls"], 6);
        assert_eq!(p["tool_calls"]["Bash"], 3);
        assert_eq!(p["tool_calls"]["Read"], 1);
        let signalled = run_payload(&RunFacts {
            ended: Ended::Signalled(15),
            command: OsStr::new("has space/prog name"),
            turns: &[],
            run_id: "r1",
            event_id: "e2".into(),
            emitted_at: String::new(),
            duration_ms: 1,
        });
        assert_eq!(signalled["signal"], 15);
        assert!(signalled.get("exit_code").is_none());
        assert_eq!(signalled["command"], "other");
    }
}
