//! doctor's checks: each turns facts into verdicts with their fixes.

use std::fs;
use std::time::Instant;

use serde_json::{Value, json};

use super::facts::{self, Layer, LayerName, LayerProblem};
use super::{CLAUDE, COMMAND, DELIVERY, PING, PRIVACY, Report, SETTINGS, SWITCHES};
use crate::claude::hooks::{self, TOOL_EVENTS, TURN_EVENTS};
use crate::claude::settings::ReadError;
use crate::claude::settings_change;
use crate::cli::DoctorArgs;
use crate::config::{self, Config, PingUrl};
use crate::env::{Env, Layout};
use crate::fsutil;
use crate::ping::deliver::{self, Attempt};
use crate::ping::queue::{self, Dropped, State};
use crate::ping::sender::{self, LastError};
use crate::time;

fn scope_flag(layer: LayerName) -> &'static str {
    layer.scope().map_or("--global", |s| s.flag())
}

/// How each layer reads: missing, unreadable, not strict JSON, of a wrong shape, valid.
pub(super) fn check_layers(layers: &[Layer], env: &Env, layout: &Layout, report: &mut Report) {
    for layer in layers {
        let name = layer.name.name();
        let id = format!("settings.{name}");
        let shown = env.show(&layer.path);
        match &layer.problem {
            None if layer.text.is_none() => {
                report.ok(SETTINGS, id, format!("{name} settings: {shown} not present"))
            }
            None => report.ok(
                SETTINGS,
                id,
                format!("{name} settings: {shown} is valid JSON"),
            ),
            Some(LayerProblem::Read(ReadError::Io(why))) => report.fail(
                SETTINGS,
                id,
                format!("{name} settings: cannot read {shown}: {why}"),
                format!("make {shown} a regular file you can read"),
            ),
            Some(LayerProblem::Read(err)) => {
                let (line, column) = err.position().unwrap_or((1, 1));
                let at = format!("{}:{line}:{column}", layer.path.display());
                let message = format!("{name} settings: {at}: {}", err.describe());
                let fix = format!(
                    "fix the file at {at} (backups of files telemhq changed are in {})",
                    layout.backups.display()
                );
                if err.claude_code_reads_it() {
                    report.warn(SETTINGS, id, message, fix);
                } else {
                    report.fail(SETTINGS, id, message, fix);
                }
            }
            Some(LayerProblem::Shape(e)) => report.fail(
                SETTINGS,
                id,
                format!("{name} settings: {shown}: wrong shape at {e}"),
                format!("edit {shown} so that {} has the shape {{\"hooks\": {{\"Stop\": [{{\"hooks\": [...]}}]}}}}", e.path),
            ),
        }
    }
    match settings_change::load_records(layout) {
        Ok(_) => report.ok(
            SETTINGS,
            "install_record",
            "telemhq's record of what it installed is readable",
        ),
        Err(e) => report.fail(
            SETTINGS,
            "install_record",
            format!("{e}"),
            format!(
                "mv {0} {0}.damaged, then telemhq install again",
                layout.installs.display()
            ),
        ),
    }
}

pub(super) fn check_installed(layers: &[Layer], args: &DoctorArgs, env: &Env, report: &mut Report) {
    let mut any = false;
    for layer in layers {
        let Some(value) = &layer.value else { continue };
        let events = hooks::installed_events(value);
        if events.is_empty() {
            continue;
        }
        any = true;
        let id = format!("hooks.{}", layer.name.name());
        let fix = format!("telemhq install {}", scope_flag(layer.name));
        let shown = env.show(&layer.path);
        let mut problems = Vec::new();
        let tools = TOOL_EVENTS.iter().any(|e| events.iter().any(|x| x == e));
        let expected: Vec<&str> = TURN_EVENTS
            .iter()
            .chain(if tools { TOOL_EVENTS.iter() } else { [].iter() })
            .copied()
            .collect();
        for event in &expected {
            let entries = facts::telemhq_entries(value, event);
            let want = hooks::template_group(event)
                .and_then(|g| g.get("matcher").and_then(Value::as_str).map(str::to_string));
            match entries.len() {
                0 => problems.push(format!("no {event} entry")),
                1 if entries[0].0 != want && !(want.is_none() && event == &"Stop") => {
                    let shown = |m: &Option<String>| {
                        m.as_deref()
                            .map_or("none".to_string(), |m| format!("\"{m}\""))
                    };
                    problems.push(format!(
                        "{event} has matcher {}, expected {}",
                        shown(&entries[0].0),
                        shown(&want)
                    ))
                }
                1 => {}
                n => problems.push(format!("{event} has {n} telemhq entries")),
            }
        }
        if problems.is_empty() {
            report.ok(
                SETTINGS,
                id,
                format!(
                    "{} settings: telemhq hooks for {}",
                    layer.name.name(),
                    expected.join(", ")
                ),
            );
        } else {
            report.fail(
                SETTINGS,
                id,
                format!(
                    "{} settings {shown}: {}",
                    layer.name.name(),
                    problems.join("; ")
                ),
                fix,
            );
        }
    }
    if !any {
        let flag = if args.repo { "--repo" } else { "--global" };
        report.fail(
            SETTINGS,
            "hooks.installed",
            "telemhq is not installed in any settings layer checked",
            format!("telemhq install {flag}"),
        );
    }
}

pub(super) fn check_switches(layers: &[Layer], report: &mut Report) {
    // Ordinary keys: the highest layer that sets one decides (managed > local > project > user).
    let order = [
        LayerName::Managed,
        LayerName::Local,
        LayerName::Project,
        LayerName::User,
    ];
    let decided = order
        .iter()
        .filter_map(|name| layers.iter().find(|l| l.name == *name))
        .find_map(|l| {
            l.value
                .as_ref()?
                .get("disableAllHooks")?
                .as_bool()
                .map(|b| (l, b))
        });
    match decided {
        Some((layer, true)) => report.fail(
            SWITCHES,
            "hooks.disabled",
            format!(
                "\"disableAllHooks\": true in {} settings ({}): Claude Code runs no hooks",
                layer.name.name(),
                layer.path.display()
            ),
            format!(
                "remove \"disableAllHooks\" from {}{}",
                layer.path.display(),
                if layer.name == LayerName::Managed {
                    " (ask your administrator)"
                } else {
                    ""
                }
            ),
        ),
        _ => report.ok(
            SWITCHES,
            "hooks.disabled",
            "hooks are not switched off (disableAllHooks)",
        ),
    }
    let managed_only = layers
        .iter()
        .find(|l| l.name == LayerName::Managed)
        .and_then(|l| l.value.as_ref()?.get("allowManagedHooksOnly")?.as_bool())
        .unwrap_or(false);
    if managed_only {
        report.fail(
            SWITCHES,
            "hooks.managed_only",
            "\"allowManagedHooksOnly\": true in managed settings: user and project hooks do not run",
            "ask your administrator to add telemhq's hooks to the managed settings, or to lift allowManagedHooksOnly",
        );
    } else {
        report.ok(
            SWITCHES,
            "hooks.managed_only",
            "user and project hooks are allowed (allowManagedHooksOnly)",
        );
    }
}

pub(super) fn check_commands(layers: &[Layer], env: &Env, layout: &Layout, report: &mut Report) {
    let mut commands: Vec<String> = Vec::new();
    for layer in layers {
        let Some(value) = &layer.value else { continue };
        for event in TURN_EVENTS.iter().chain(TOOL_EVENTS.iter()) {
            for (_, cmd) in facts::telemhq_entries(value, event) {
                if !commands.contains(&cmd) {
                    commands.push(cmd);
                }
            }
        }
        let foreign = facts::foreign_telemhq_events(value);
        if !foreign.is_empty() {
            let flag = scope_flag(layer.name);
            report.warn(
                COMMAND,
                format!("command.foreign.{}", layer.name.name()),
                format!(
                    "{} settings ({}) run telemhq for {} with a command telemhq did not write: \
                     doctor does not run it, install and uninstall leave it alone, and beside \
                     telemhq's own entry each event would ping twice",
                    layer.name.name(),
                    env.show(&layer.path),
                    foreign.join(", ")
                ),
                format!("remove that entry, then telemhq install {flag}"),
            );
        }
    }
    check_seed_hook(layers, env, report);
    if commands.is_empty() {
        return;
    }
    report.ok(
        COMMAND,
        "command.duplicates",
        "one command string in every layer: each event pings once",
    );
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| fs::canonicalize(p).ok());
    for (i, cmd) in commands.iter().enumerate() {
        let id = format!("command.runs.{i}");
        if cmd == hooks::HOOK_COMMAND {
            match fs::read_link(&layout.link) {
                Err(_) if !layout.link.exists() => {
                    report.fail(
                        COMMAND,
                        format!("command.link.{i}"),
                        format!(
                            "{} is missing: the hook command has nothing to run",
                            env.show(&layout.link)
                        ),
                        "telemhq install --global",
                    );
                    continue;
                }
                Ok(target) if !target.exists() => {
                    report.fail(
                        COMMAND,
                        format!("command.link.{i}"),
                        format!(
                            "{} points at {}, which no longer exists",
                            env.show(&layout.link),
                            target.display()
                        ),
                        "telemhq install --global (run the telemhq you want the hooks to use)",
                    );
                    continue;
                }
                _ => {}
            }
        }
        match facts::probe(cmd, env) {
            Some((version, exe)) => {
                let same = me.as_deref().is_some_and(|m| std::path::Path::new(&exe) == m);
                if same {
                    report.ok(COMMAND, id, format!("the hook command runs with `sh -c` and a bare PATH and reaches this telemhq ({version})"));
                } else {
                    report.warn(COMMAND, id, format!("the hook command reaches telemhq {version} at {exe}, not this one"), "telemhq install --global with the telemhq you want the hooks to use");
                }
            }
            None => report.fail(
                COMMAND,
                id,
                format!("the hook command does not reach telemhq when run as Claude Code runs it (`sh -c`, PATH=/usr/bin:/bin): {cmd}"),
                "telemhq install --global (it installs a command that needs no PATH)",
            ),
        }
    }
}

/// The Python hook telemhq replaces, still installed next to it, pings every event a
/// second time (and sends a failed command's stderr).
pub(super) fn check_seed_hook(layers: &[Layer], env: &Env, report: &mut Report) {
    let with_seed: Vec<String> = layers
        .iter()
        .filter(|l| {
            l.value
                .as_ref()
                .and_then(|v| v.get("hooks"))
                .is_some_and(|h| h.to_string().contains("telemhq_ping.py"))
        })
        .map(|l| env.show(&l.path))
        .collect();
    if with_seed.is_empty() {
        return;
    }
    report.warn(
        COMMAND,
        "command.seed_hook",
        format!("the Python hook telemhq_ping.py is still installed in {}: events ping twice, and it sends error text", with_seed.join(", ")),
        "remove the hook entries that run telemhq_ping.py from those files",
    );
}

pub(super) fn check_privacy(
    layers: &[Layer],
    env: &Env,
    layout: &Layout,
    report: &mut Report,
) -> Config {
    // Every private folder: a real folder of the user's own, 700 (never a link or a file).
    let mut problems = Vec::new();
    for dir in layout.private_dirs() {
        match fsutil::check_private_dir(dir) {
            Err(e) => problems.push((
                e.to_string(),
                format!(
                    "move {} aside, then telemhq install --global",
                    dir.display()
                ),
            )),
            Ok(Some(mode)) if mode & 0o077 != 0 => problems.push((
                format!(
                    "{} has mode {mode:o}: others can read telemhq's config and queue",
                    env.show(dir)
                ),
                format!("chmod 700 {}", dir.display()),
            )),
            Ok(_) => {}
        }
    }
    let hooks_missing = matches!(fsutil::check_private_dir(&layout.hooks_dir), Ok(None));
    match problems.into_iter().next() {
        Some((message, fix)) => report.fail(PRIVACY, "folder.hooks", message, fix),
        None if hooks_missing => report.fail(
            PRIVACY,
            "folder.hooks",
            format!(
                "the private hooks folder {} does not exist",
                env.show(&layout.hooks_dir)
            ),
            "telemhq install --global",
        ),
        None => report.ok(
            PRIVACY,
            "folder.hooks",
            format!(
                "{} and its folders are private (700, yours, no links)",
                env.show(&layout.hooks_dir)
            ),
        ),
    }
    let loose = facts::loose_files(&layout.state_dir);
    if loose.is_empty() {
        report.ok(
            PRIVACY,
            "files.private",
            "telemhq's config and queue files are private (600)",
        );
    } else {
        let first = &loose[0];
        report.fail(
            PRIVACY,
            "files.private",
            format!(
                "{} of telemhq's files can be read by others, e.g. {}",
                loose.len(),
                env.show(first)
            ),
            format!("chmod -R go-rwx {}", layout.state_dir.display()),
        );
    }
    let config = match Config::load(layout) {
        Ok(c) => c,
        Err(e) => {
            report.fail(
                PRIVACY,
                "config.readable",
                e.to_string(),
                format!(
                    "fix or remove {}, then run telemhq install --global",
                    layout.config.display()
                ),
            );
            Config::default()
        }
    };
    let url = config::effective_ping_url(env.ping_url.as_deref(), &config);
    let source = if env.ping_url.is_some() {
        "TELEMHQ_PING_URL"
    } else {
        "telemhq's config"
    };
    match &url {
        None => report.fail(
            PRIVACY,
            "ping_url",
            "no ping URL is set: events wait on this machine and nothing reaches TelemHQ",
            "telemhq install --global --ping-url URL (the URL of your TelemHQ job)",
        ),
        Some(u) => match config::validate_ping_url(u) {
            Ok(_) => report.ok(
                PRIVACY,
                "ping_url",
                format!("ping URL from {source}: {}", config::mask_url(u)),
            ),
            Err(e) => report.fail(
                PRIVACY,
                "ping_url",
                format!("ping URL from {source}: {e}"),
                "telemhq install --global --ping-url URL",
            ),
        },
    }
    let secrets = url.as_deref().map(config::secret_parts).unwrap_or_default();
    if !secrets.is_empty() {
        let mut exposed: Vec<String> = layers
            .iter()
            .filter(|l| {
                l.text
                    .as_deref()
                    .is_some_and(|t| secrets.iter().any(|s| t.contains(s.as_str())))
            })
            .map(|l| env.show(&l.path))
            .collect();
        exposed.extend(facts::tracked_files_with(&secrets, env));
        if exposed.is_empty() {
            report.ok(
                PRIVACY,
                "token.exposed",
                "the ping token is in no settings file and no file tracked by git here",
            );
        } else {
            report.fail(
                PRIVACY,
                "token.exposed",
                format!("the ping token appears in {}", exposed.join(", ")),
                "remove it from those files (telemhq keeps the URL in its private config), and rotate the token in TelemHQ if the file was shared",
            );
        }
    }
    config
}

pub(super) fn check_delivery(layout: &Layout, report: &mut Report) {
    // A sender holds its lock for at most its lifetime; far longer means it is stuck
    // (and no other sender can deliver meanwhile).
    if let Some(holder) = sender::running_sender(layout) {
        let held_ms = time::now_ms() - holder.since_ms;
        let limit = sender::lifetime().as_millis() as i64 + 5 * 60 * 1000;
        if held_ms > limit {
            report.fail(
                DELIVERY,
                "sender.stuck",
                format!(
                    "a background sender (pid {}) has held the delivery lock since {} ({}), far longer than a sender runs: nothing is delivered meanwhile",
                    holder.pid,
                    time::rfc3339(holder.since_ms),
                    human_age(held_ms)
                ),
                format!("kill {} (the next emit or telemhq flush starts a new sender)", holder.pid),
            );
        }
    }
    let entries = queue::all(layout);
    let pending: Vec<_> = entries
        .iter()
        .filter(|(s, _)| *s == State::Pending)
        .collect();
    match pending.first() {
        None => report.ok(DELIVERY, "queue.pending", "no events waiting in the queue"),
        Some((_, oldest)) => {
            let age = crate::time::parse_rfc3339_ms(&oldest.queued_at)
                .map(|t| crate::time::now_ms() - t)
                .unwrap_or(0);
            let message = format!(
                "{} event(s) waiting; the oldest since {} ({})",
                pending.len(),
                oldest.queued_at,
                human_age(age)
            );
            if age > 10 * 60 * 1000 {
                report.warn(
                    DELIVERY,
                    "queue.pending",
                    message,
                    "telemhq flush (it says why they are not going out)",
                );
            } else {
                report.ok(DELIVERY, "queue.pending", message);
            }
        }
    }
    let failed: Vec<_> = entries
        .iter()
        .filter(|(s, _)| *s == State::Failed)
        .collect();
    if let Some((_, last)) = failed.last() {
        let status = last.http_status.map_or("?".to_string(), |s| s.to_string());
        let why = last
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        report.fail(
            DELIVERY,
            "queue.failed",
            format!("{} event(s) refused for good, the last with HTTP {status} at {}{why}", failed.len(), last.failed_at.as_deref().unwrap_or("?")),
            "check the ping URL (telemhq doctor --ping); a 401/403/404 means a wrong or revoked URL: telemhq install --global --ping-url URL",
        );
    } else {
        report.ok(
            DELIVERY,
            "queue.failed",
            "no events refused by the endpoint",
        );
    }
    let dropped = Dropped::load(layout);
    if dropped.total > 0 {
        report.warn(
            DELIVERY,
            "queue.dropped",
            format!(
                "{} event(s) dropped because the queue was full",
                dropped.total
            ),
            "make sure pings can go out (telemhq flush); the queue keeps the newest 1000",
        );
    } else {
        report.ok(
            DELIVERY,
            "queue.dropped",
            "no events dropped at the queue's bound",
        );
    }
    if let Some((_, last)) = entries.iter().rev().find(|(s, _)| *s == State::Delivered) {
        report.verified_delivery = Some(format!(
            "the last ping was delivered at {}",
            last.delivered_at.as_deref().unwrap_or("?")
        ));
        report.ok(
            DELIVERY,
            "last_delivered",
            format!(
                "last ping delivered at {}",
                last.delivered_at.as_deref().unwrap_or("?")
            ),
        );
    } else {
        report.ok(DELIVERY, "last_delivered", "no ping delivered yet");
    }
    if let Some(last) = LastError::load(layout)
        && !pending.is_empty()
    {
        report.warn(
            DELIVERY,
            "last_error",
            format!(
                "the last delivery attempt failed at {}: {}",
                last.at, last.reason
            ),
            "telemhq doctor --ping to test the endpoint; telemhq flush to retry now",
        );
    }
}

fn human_age(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        ..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

pub(super) fn check_claude(report: &mut Report) {
    match facts::claude_version() {
        None => report.ok(
            CLAUDE,
            "claude",
            "no `claude` on PATH (information only: Claude Code may be installed elsewhere)",
        ),
        Some((path, version)) => report.ok(
            CLAUDE,
            "claude",
            format!("Claude Code {version} at {}", path.display()),
        ),
    }
}

pub(super) fn check_ping(env: &Env, config: &Config, report: &mut Report) {
    let Some(raw) = config::effective_ping_url(env.ping_url.as_deref(), config) else {
        report.fail(
            PING,
            "ping",
            "no ping URL to test",
            "telemhq install --global --ping-url URL",
        );
        return;
    };
    // An invalid URL is never contacted (its check above says why).
    let url = match PingUrl::parse(&raw) {
        Ok(url) => url,
        Err(e) => {
            report.fail(
                PING,
                "ping",
                format!("no test ping sent: {e}"),
                "telemhq install --global --ping-url URL",
            );
            return;
        }
    };
    let body = json!({
        "provider": "anthropic",
        "tool": "claude-code",
        "status": "test",
        "event": "doctor",
        "event_id": crate::ping::payload::new_event_id().unwrap_or_default(),
        "emitted_at": crate::time::rfc3339_now(),
        "telemhq_version": env!("CARGO_PKG_VERSION"),
    });
    let started = Instant::now();
    let attempt = deliver::post(&deliver::agent(), &url, body.to_string().as_bytes());
    let ms = started.elapsed().as_millis();
    let masked = url.masked();
    match attempt {
        Attempt::Delivered(s) => {
            report.verified_delivery = Some(format!("the test ping was answered with HTTP {s}"));
            report.ok(PING, "ping", format!("test ping to {masked}: HTTP {s} in {ms} ms"))
        }
        Attempt::Redirected { .. } => report.fail(
            PING,
            "ping",
            format!("test ping to {masked}: {}", attempt.refusal().unwrap_or_default()),
            "copy the ping URL again from your TelemHQ job: telemhq install --global --ping-url URL",
        ),
        Attempt::Rejected(s) => report.fail(
            PING,
            "ping",
            format!("test ping to {masked}: HTTP {s}: the endpoint refused it, so the URL is wrong or its token was revoked"),
            "copy the ping URL again from your TelemHQ job: telemhq install --global --ping-url URL",
        ),
        Attempt::Retry { reason, .. } => {
            let why = if reason.starts_with("HTTP 5") {
                "the TelemHQ endpoint has a problem on its side; queued events are retried"
            } else if reason.contains("timed out") {
                "no answer in time: a firewall, a proxy (HTTPS_PROXY) or the endpoint is slow"
            } else if reason.to_ascii_lowercase().contains("tls") || reason.to_ascii_lowercase().contains("certificate") {
                "TLS failed: a proxy that intercepts HTTPS, or a wrong system clock"
            } else if reason.to_ascii_lowercase().contains("proxy") {
                "the proxy from HTTPS_PROXY/ALL_PROXY refused or failed"
            } else {
                "the endpoint could not be reached"
            };
            report.fail(PING, "ping", format!("test ping to {masked} after {ms} ms: {reason}: {why}"), "check the network and proxy settings, then run telemhq doctor --ping again");
        }
    }
}
