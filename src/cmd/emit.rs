//! `telemhq emit`: the hook runtime. Reads the event on stdin (bounded), builds the
//! metadata-only payload, writes it to the durable queue, starts the detached sender
//! and exits: always 0, nothing on stdout, nothing on stderr unless TELEMHQ_HOOK_DEBUG=1.

use std::io::{BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::agents::{self, Agent};
use crate::cli::EmitArgs;
use crate::config::{self, PingUrl};
use crate::env::Env;
use crate::ping::payload::{self, Context, HookEvent, PathHasher};
use crate::ping::queue::{self, UsageSource};
use crate::ping::runs;
use crate::ping::sender::{self, Patience};

/// Input past this is not read: a PostToolUse event can carry whole files, and the
/// agent's write to the pipe must complete; only the allowlisted fields are ever kept.
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Runs the hook: always exit status 0 (it never fails the agent). `--print`, which a
/// person runs, says why it built no payload and exits 1.
pub fn run(args: &EmitArgs, env: &Env) -> i32 {
    if std::env::var_os("TELEMHQ_DOCTOR_PROBE").is_some() {
        // `telemhq doctor` runs the hook command to see that it reaches telemhq: say
        // which telemhq it reached, and emit nothing.
        let exe = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        crate::outln!("telemhq-probe {} {exe}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if !env.debug {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| emit(args, env)));
    let reason = match outcome {
        Ok(Ok(())) => return 0,
        Ok(Err(reason)) => reason,
        Err(_) => "internal error (panic)".to_string(),
    };
    if args.print {
        eprintln!("telemhq: no payload: {reason}");
        if args.event.is_none() && reason.contains("no hook_event_name") {
            eprintln!(
                "telemhq: {}'s payloads do not name their event: add --event NAME (its hook command does)",
                args.agent.display_name()
            );
        }
        return 1;
    }
    if env.debug {
        eprintln!("telemhq: ping skipped: {reason}");
    }
    0
}

/// A headless agent that exits right after its turn signals its hooks' process group
/// (Claude Code sends SIGTERM to a StopFailure hook still running, milliseconds after it
/// starts): emit's work is bounded, so it finishes and queues the event rather than lose
/// it. A handler, not SIG_IGN, so that the sender emit starts gets the default back.
/// main calls it first, before parsing arguments: the signal can come that early on a
/// busy machine.
pub fn outlive_the_agent() {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [SIGTERM, SIGHUP] {
        let _ = signal_hook::flag::register(signal, seen.clone());
    }
}

fn emit(args: &EmitArgs, env: &Env) -> Result<(), String> {
    let mut agent = args.agent;
    let stdin = std::io::stdin().lock();
    // An agent that may run the hook twice for one event gives it byte for byte the same
    // input both times: the whole input is what tells duplicates apart.
    let mut input = BufReader::with_capacity(
        64 * 1024,
        Hashing::new(stdin.take(MAX_INPUT), agent.runs_hooks_twice()),
    );
    let (mut event, _complete) = HookEvent::read_from(&mut input);
    // Read what is left (up to the bound) so that the agent's write completes.
    let _ = std::io::copy(&mut input, &mut std::io::sink());
    let input_digest = input.into_inner().digest();
    if event.hook_event_name.is_none() {
        // Copilot CLI's payloads do not name their event: its hook command does.
        event.hook_event_name = args.event.clone();
    }
    if event.hook_event_name.is_none() {
        return Err("stdin holds no hook event (no hook_event_name)".into());
    }
    let layout = env.layout().map_err(|e| e.to_string())?;
    if let Some(digest) = &input_digest
        && !args.print
        && !queue::claim_event(&layout, &format!("{}\n{digest}", agent.id()))
    {
        return Err("the same event already ran this hook (from another hook file)".into());
    }
    // Another tool running this agent's hooks (Cursor, Claude Code's): the event is
    // that tool's, read as its own hooks' events are.
    let mut other = agent.ran_by_other(&event);
    if let Some(tool) = other.and_then(agents::by_id) {
        agent = tool;
        other = None;
    }
    // One event run by several hooks (Cursor's own and Claude Code's): pinged once.
    if let Some(key) = agent.once_per(&event)
        && !args.print
        && !queue::claim_event(&layout, &format!("{}\n{key}", agent.id()))
    {
        return Err("this event was already taken by another of its hooks".into());
    }
    let config = config::load_with_secret(&layout).unwrap_or_default();
    let hasher = match (&config.hash_secret, config.plain_path_hashes()) {
        (_, true) => PathHasher::Plain,
        (Some(secret), false) => PathHasher::Keyed(secret.as_bytes().to_vec()),
        // No secret could be stored: a throwaway key still hides the paths.
        (None, false) => PathHasher::Keyed(crate::fsutil::random_bytes::<32>()?.to_vec()),
    };
    let now_ms = crate::time::now_ms();
    let started = Instant::now();
    // In CI (not inside `telemhq run`, which delivers at the end) the runner may end with
    // the job, taking a detached sender with it: emit delivers its own event before it
    // returns. Elsewhere nothing waits: the sender reads the usage a moment later, when
    // the agent has written the turn's last lines, off the hot path.
    // Only a turn's end waits for delivery: tool activity goes through the queue.
    let turn_end = event
        .hook_event_name
        .as_deref()
        .is_some_and(|e| agent.turn_end_events().contains(&e));
    // Part of a `telemhq run` only if one is under way here with that id (a stray
    // TELEMHQ_RUN_ID in the environment is no run, and switches nothing off).
    let run_id = env.run_id.clone().filter(|id| runs::is_live(&layout, id));
    let deliver_now = env.ci && run_id.is_none() && !args.print && turn_end;
    let mut usage_from = usage_source(agent, &event, now_ms).filter(|_| other.is_none());
    // (What `--print` shows is not a turn's end seen: it leaves no state behind.)
    if let Some(source) = usage_from.as_mut()
        && source.running_total.is_some()
        && !args.print
    {
        source.state_dir = Some(layout.state_dir.to_string_lossy().into_owned());
    }
    let usage = match &usage_from {
        Some(source) if args.print => agent.read_usage(source),
        Some(source) if deliver_now => {
            let usage = agent.read_usage_when_written(source, &event, started + TURN_END_WAIT);
            usage_from = None; // read: the sender need not read it again
            usage
        }
        _ => None,
    };
    let cwd = env.cwd.to_string_lossy();
    let ctx = Context {
        event_id: payload::new_event_id()?,
        emitted_at: crate::time::rfc3339(now_ms),
        fallback_cwd: Some(&cwd),
        hasher: &hasher,
        run_id: run_id.clone(),
        provider: other.unwrap_or(agent.provider()),
        tool: other.unwrap_or(agent.tool()),
        error: agent.failure(&event),
        repo_root: payload::repo_root_of(event.cwd.as_deref().unwrap_or(&cwd), env.home.as_deref()),
    };
    let mut payload = payload::build(&event, &ctx);
    if let Some(turn) = usage {
        payload::add_turn(&mut payload, turn, &config.prices);
    }
    if args.print {
        let text = serde_json::to_string_pretty(&payload).expect("a payload serialises");
        crate::outln!("{text}");
        return Ok(());
    }
    // The tracker is decided now, from the event's folder (or the `telemhq run` it is
    // part of), and travels with the event.
    let folder = event.cwd.as_deref().unwrap_or(&cwd).to_string();
    let run_tracker = match (&env.ping_url, &run_id) {
        (None, Some(id)) => runs::tracker(&layout, id),
        _ => None,
    };
    let route = match run_tracker {
        Some(url) => Some(config::Route {
            url,
            source: config::TrackerSource::Run,
        }),
        None => config::route(env.ping_url.as_deref(), &config, Path::new(&folder)),
    };
    // (A `telemhq run`'s collector, which it keeps out of the job's environment.)
    let otlp = run_id
        .as_deref()
        .and_then(|id| runs::otlp(&layout, id))
        .or_else(|| config::otlp_target(&config));
    queue::enqueue(
        &layout,
        &ctx.event_id,
        usage_from,
        payload,
        route.clone(),
        &folder,
        otlp,
    )
    .map_err(|e| format!("cannot queue the event: {e}"))?;
    let Some(route) = route else {
        // No tracker: the sender still reads the turn and keeps it in the local store.
        sender::start_detached(&layout);
        return Err(
            "no tracker is set for this folder: the event is queued and kept in the local \
             store; it goes to the first tracker its repository (or the global scope) gets"
                .into(),
        );
    };
    if deliver_now {
        // A refused connection (the endpoint is down, not slow) is not retried for the
        // whole budget: the event waits in the queue for the detached sender.
        // The ping only: a collector's export is left to the detached sender.
        let patience = Patience {
            stop_when_refused: true,
            pings_only: true,
            ..Patience::until(started + CI_DELIVERY_BUDGET)
        };
        let report = sender::drain(&layout, patience, agents::read_usage);
        if report.pending == 0 {
            return Ok(());
        }
    }
    sender::start_detached(&layout);
    if let Err(reason) = PingUrl::parse(&route.url) {
        return Err(format!("{reason}; the event is never sent there"));
    }
    if env.debug
        && let Some(last) = sender::LastError::load(&layout)
    {
        eprintln!(
            "telemhq: an earlier delivery failed at {}: {}",
            last.at, last.reason
        );
    }
    Ok(())
}

/// In CI: how long emit waits for the agent to write the turn's end to the transcript.
const TURN_END_WAIT: Duration = Duration::from_millis(1500);
/// In CI: how long emit may take in all, well inside the hook's 5 s timeout.
const CI_DELIVERY_BUDGET: Duration = Duration::from_millis(3500);

/// A reader that hashes what passes through it, when asked to.
struct Hashing<R> {
    inner: R,
    hasher: Option<sha2::Sha256>,
}

impl<R> Hashing<R> {
    fn new(inner: R, on: bool) -> Self {
        Hashing {
            inner,
            hasher: on.then(<sha2::Sha256 as sha2::Digest>::new),
        }
    }

    /// The hash of everything read, when asked for.
    fn digest(self) -> Option<String> {
        self.hasher.map(|h| crate::hex(&sha2::Digest::finalize(h)))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            sha2::Digest::update(h, &buf[..n]);
        }
        Ok(n)
    }
}

fn usage_source(agent: &dyn Agent, event: &HookEvent, now_ms: i64) -> Option<UsageSource> {
    let name = event.hook_event_name.as_deref()?;
    if !agent.turn_end_events().contains(&name) {
        return None;
    }
    // A sub-agent's run: its own transcript, or (versions before those) its side-chain
    // lines in the main one.
    let subagent = name == "SubagentStop";
    let transcript_path = event
        .agent_transcript_path
        .clone()
        .filter(|_| subagent)
        .or_else(|| event.transcript_path.clone());
    // What must be taken now, before the agent's records move on (Droid's running
    // totals), or what the event itself carries (Cursor's tokens).
    let running_total = agent.running_total(event);
    if transcript_path.is_none() && running_total.is_none() {
        return None;
    }
    Some(UsageSource {
        transcript_path: transcript_path.unwrap_or_default(),
        prompt_id: event.prompt_id.clone(),
        event_ms: now_ms,
        subagent,
        agent: agent.queue_name().map(str::to_string),
        turn_id: event
            .turn_id
            .clone()
            .or_else(|| event.generation_id.clone()),
        running_total,
        state_dir: None,
        model: event.model.clone(),
    })
}
