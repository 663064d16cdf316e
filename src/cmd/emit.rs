//! `telemhq emit`: the hook runtime. Reads the event on stdin (bounded), builds the
//! metadata-only payload, writes it to the durable queue, starts the detached sender
//! and exits: always 0, nothing on stdout, nothing on stderr unless TELEMHQ_HOOK_DEBUG=1.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::claude::transcript;
use crate::cli::EmitArgs;
use crate::config;
use crate::env::{Env, Layout};
use crate::fsutil;
use crate::ping::payload::{self, Context, HookEvent, PathHasher};
use crate::ping::queue::{self, UsageSource};

/// Stdin past this is not read: the fields telemhq keeps come first in every event, and
/// a PostToolUse event can carry a whole file after them.
pub const MAX_STDIN: u64 = 4 * 1024 * 1024;

/// Input past MAX_STDIN that is read and thrown away before emit stops reading.
const MAX_DRAIN: u64 = 64 * 1024 * 1024;

/// Events whose pings carry the turn's usage from the transcript.
const TURN_END_EVENTS: [&str; 3] = ["Stop", "StopFailure", "SubagentStop"];

pub fn run(args: &EmitArgs, env: &Env) {
    if std::env::var_os("TELEMHQ_DOCTOR_PROBE").is_some() {
        // `telemhq doctor` runs the hook command to see that it reaches telemhq: say
        // which telemhq it reached, and emit nothing.
        let exe = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!("telemhq-probe {} {exe}", env!("CARGO_PKG_VERSION"));
        return;
    }
    if !env.debug {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let outcome = std::panic::catch_unwind(|| emit(args, env));
    let reason = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(reason)) => reason,
        Err(_) => "internal error (panic)".to_string(),
    };
    if env.debug {
        eprintln!("telemhq: ping skipped: {reason}");
    }
}

fn emit(args: &EmitArgs, env: &Env) -> Result<(), String> {
    let mut stdin = std::io::stdin().lock();
    let mut input = Vec::new();
    (&mut stdin)
        .take(MAX_STDIN)
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    // Past the bound, read the rest without keeping it (up to a limit), so that Claude
    // Code's write to this pipe completes instead of failing.
    let _ = std::io::copy(&mut (&mut stdin).take(MAX_DRAIN), &mut std::io::sink());
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err("empty input: no hook event on stdin".into());
    }
    let (event, _complete) = HookEvent::parse(&input);
    drop(input);
    if event.hook_event_name.is_none() {
        return Err("stdin is not a Claude Code hook event (no hook_event_name)".into());
    }
    let layout = env.layout().map_err(|e| e.to_string())?;
    let config = config::load_with_secret(&layout).unwrap_or_default();
    let hasher = match (&config.hash_secret, config.plain_path_hashes()) {
        (_, true) => PathHasher::Plain,
        (Some(secret), false) => PathHasher::Keyed(secret.as_bytes().to_vec()),
        // No secret could be stored: a throwaway key still hides the paths.
        (None, false) => PathHasher::Keyed(fsutil::random_bytes::<32>().to_vec()),
    };
    let now_ms = payload::now_ms();
    // --print reads the transcript now; a queued event has the sender read it a moment
    // later, when Claude Code has written the turn's last lines (and off the hot path).
    let usage_from = usage_source(&event, now_ms);
    let usage = if args.print {
        usage_from.as_ref().and_then(read_usage)
    } else {
        None
    };
    let event_id = payload::new_event_id();
    let cwd = env.cwd.to_string_lossy();
    let build = |dropped_events| {
        let ctx = Context {
            event_id: event_id.clone(),
            emitted_at: payload::rfc3339(now_ms),
            fallback_cwd: Some(&cwd),
            hasher: &hasher,
            dropped_events,
            usage: usage.clone(),
        };
        payload::build(&event, &ctx)
    };
    if args.print {
        let text = serde_json::to_string_pretty(&build(0)).expect("a payload serialises");
        println!("{text}");
        return Ok(());
    }
    queue::enqueue(&layout, &event_id, usage_from, build)
        .map_err(|e| format!("cannot queue the event: {e}"))?;
    if config::effective_ping_url(env.ping_url.as_deref(), &config).is_none() {
        return Err(
            "no ping URL is set: the event is queued and will go out once one is set".into(),
        );
    }
    start_sender(&layout);
    if env.debug
        && let Some(last) = crate::ping::deliver::LastError::load(&layout)
    {
        eprintln!(
            "telemhq: an earlier delivery failed at {}: {}",
            last.at, last.reason
        );
    }
    Ok(())
}

fn usage_source(event: &HookEvent, now_ms: i64) -> Option<UsageSource> {
    let name = event.hook_event_name.as_deref()?;
    if !TURN_END_EVENTS.contains(&name) {
        return None;
    }
    let subagent = name == "SubagentStop" && event.agent_transcript_path.is_some();
    let transcript_path = if subagent {
        event.agent_transcript_path.clone()
    } else {
        event.transcript_path.clone()
    };
    Some(UsageSource {
        transcript_path: transcript_path?,
        prompt_id: event.prompt_id.clone(),
        event_ms: now_ms,
        subagent,
    })
}

/// The usage fields of a turn, read from its transcript (numbers and names only).
pub fn read_usage(source: &UsageSource) -> Option<serde_json::Map<String, serde_json::Value>> {
    let path = std::path::Path::new(&source.transcript_path);
    let usage = if source.subagent {
        transcript::subagent_usage(path)?
    } else {
        transcript::turn_usage(path, source.prompt_id.as_deref())?
    };
    Some(usage.to_fields(source.event_ms))
}

/// Starts the background sender unless one is running (it re-checks the queue after
/// it lets go of its lock, so it will see this event). Its own session and stdio on
/// /dev/null: Claude Code neither waits for it nor kills it.
fn start_sender(layout: &Layout) {
    match fsutil::lock_file(&layout.sender_lock, false) {
        Ok(Some(lock)) => drop(lock),
        _ => return,
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let mut cmd = Command::new(exe);
    cmd.arg("__send")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let _ = cmd.spawn();
}
