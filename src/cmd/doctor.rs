//! `telemhq doctor`: every reason pings would not arrive, each with its fix.
//! Facts first (settings layers, the hooks folder, config, queue, the command), then
//! independent checks, then one rendering: a checklist for people or JSON for scripts.
//! It only reads; `--ping` sends one test ping and nothing else.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::claude::hooks::{self, TOOL_EVENTS, TURN_EVENTS};
use crate::claude::settings;
use crate::cli::DoctorArgs;
use crate::config::{self, Config};
use crate::env::{Env, Layout, git_root};
use crate::error::Result;
use crate::ping::deliver::{self, Attempt, LastError};
use crate::ping::queue::{self, Dropped, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: String,
    pub group: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn add(
        &mut self,
        group: &'static str,
        id: impl Into<String>,
        status: Status,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id: id.into(),
            group,
            status,
            message: message.into(),
            fix,
        });
    }
    fn ok(&mut self, group: &'static str, id: impl Into<String>, message: impl Into<String>) {
        self.add(group, id, Status::Ok, message, None);
    }
    fn warn(
        &mut self,
        group: &'static str,
        id: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(group, id, Status::Warn, message, Some(fix.into()));
    }
    fn fail(
        &mut self,
        group: &'static str,
        id: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(group, id, Status::Fail, message, Some(fix.into()));
    }
}

/// One settings layer as found on disk.
struct Layer {
    name: &'static str,
    path: PathBuf,
    text: Option<String>,
    value: Option<Value>,
}

const SETTINGS: &str = "Settings";
const SWITCHES: &str = "Hooks switched on";
const COMMAND: &str = "Hook command";
const PRIVACY: &str = "Privacy and permissions";
const DELIVERY: &str = "Delivery";
const CLAUDE: &str = "Claude Code";
const PING: &str = "Test ping";

pub fn run(args: &DoctorArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    let mut report = Report::default();
    let layers = read_layers(env, args, &mut report);
    check_installed(&layers, args, env, &mut report);
    check_switches(&layers, &mut report);
    check_commands(&layers, env, &layout, &mut report);
    let config = check_privacy(&layers, env, &layout, &mut report);
    check_delivery(&layout, &mut report);
    check_claude(&mut report);
    if args.ping {
        check_ping(env, &config, &mut report);
    }
    let failed = report.checks.iter().any(|c| c.status == Status::Fail);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&report)).expect("serialises")
        );
    } else {
        print!("{}", render_human(&report, crate::term::colour_stdout()));
    }
    Ok(if failed { 1 } else { 0 })
}

fn to_json(report: &Report) -> Value {
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    json!({
        "telemhq_version": env!("CARGO_PKG_VERSION"),
        "checks": report.checks,
        "summary": {"ok": count(Status::Ok), "warn": count(Status::Warn), "fail": count(Status::Fail)},
    })
}

fn render_human(report: &Report, colour: bool) -> String {
    let paint = |s: Status, text: &str| -> String {
        if !colour {
            return text.to_string();
        }
        let code = match s {
            Status::Ok => "32",
            Status::Warn => "33",
            Status::Fail => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let mut out = String::new();
    let mut group = "";
    for c in &report.checks {
        if c.group != group {
            group = c.group;
            out.push_str(&format!(
                "{}{group}\n",
                if out.is_empty() { "" } else { "\n" }
            ));
        }
        let mark = match c.status {
            Status::Ok => "✓",
            Status::Warn => "⚠",
            Status::Fail => "✗",
        };
        out.push_str(&format!("  {} {}\n", paint(c.status, mark), c.message));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    let (fails, warns) = (count(Status::Fail), count(Status::Warn));
    let summary = match (fails, warns) {
        (0, 0) => "All good: pings will arrive.".to_string(),
        (0, w) => format!("No problems that stop pings; {w} warning(s)."),
        (f, w) => format!("{f} problem(s) stop pings from arriving; {w} warning(s)."),
    };
    out.push_str(&format!("\n{summary}\n"));
    out
}

fn read_layers(env: &Env, args: &DoctorArgs, report: &mut Report) -> Vec<Layer> {
    let mut layers = Vec::new();
    for (name, path) in settings::layers(env) {
        let wanted = match name {
            "user" => !args.repo,
            "project" | "local" => !args.global,
            _ => true, // managed settings can switch hooks off everywhere
        };
        if !wanted {
            continue;
        }
        let id = format!("settings.{name}");
        let shown = env.show(&path);
        let mut layer = Layer {
            name,
            path: path.clone(),
            text: None,
            value: None,
        };
        match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.ok(
                    SETTINGS,
                    id,
                    format!("{name} settings: {shown} not present"),
                );
            }
            Err(e) => {
                report.fail(
                    SETTINGS,
                    id,
                    format!("{name} settings: cannot read {shown}: {e}"),
                    format!("make {shown} readable by you"),
                );
            }
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                match settings::parse_strict(&text) {
                    Err(e) => report.fail(
                        SETTINGS,
                        id,
                        format!("{name} settings: {}:{e}: Claude Code silently skips this whole file", path.display()),
                        format!("fix the JSON at {}:{} (backups of files telemhq changed are in ~/.claude/hooks/telemhq.d/backups)", path.display(), e.split(": ").next().unwrap_or("")),
                    ),
                    Ok(value) => match hooks::check_shape(&value) {
                        Err(e) => report.fail(
                            SETTINGS,
                            id,
                            format!("{name} settings: {shown}: wrong shape at {e}"),
                            format!("edit {shown} so that {} has the shape {{\"hooks\": {{\"Stop\": [{{\"hooks\": [...]}}]}}}}", e.path),
                        ),
                        Ok(()) => {
                            report.ok(SETTINGS, id, format!("{name} settings: {shown} is valid JSON"));
                            layer.value = Some(value);
                        }
                    },
                }
                layer.text = Some(text);
            }
        }
        layers.push(layer);
    }
    layers
}

/// The telemhq handlers of a layer, per event: (matcher, command).
fn telemhq_entries(value: &Value, event: &str) -> Vec<(Option<String>, String)> {
    let mut found = Vec::new();
    for group in value
        .get("hooks")
        .and_then(|h| h.get(event))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for handler in group
            .get("hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(cmd) = handler
                .get("command")
                .and_then(Value::as_str)
                .filter(|c| hooks::is_telemhq_command(c))
            {
                found.push((
                    group
                        .get("matcher")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    cmd.to_string(),
                ));
            }
        }
    }
    found
}

fn scope_flag(layer: &str) -> &'static str {
    match layer {
        "user" => "--global",
        "project" => "--repo",
        "local" => "--local",
        _ => "--global",
    }
}

fn check_installed(layers: &[Layer], args: &DoctorArgs, env: &Env, report: &mut Report) {
    let mut any = false;
    for layer in layers {
        let Some(value) = &layer.value else { continue };
        let events = hooks::installed_events(value);
        if events.is_empty() {
            continue;
        }
        any = true;
        let id = format!("hooks.{}", layer.name);
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
            let entries = telemhq_entries(value, event);
            let want = hooks::template_group(event)
                .and_then(|g| g.get("matcher").and_then(Value::as_str).map(str::to_string));
            match entries.len() {
                0 => problems.push(format!("no {event} entry")),
                1 if entries[0].0 != want && !(want.is_none() && event == &"Stop") => problems
                    .push(format!(
                        "{event} has matcher {:?}, expected {:?}",
                        entries[0].0, want
                    )),
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
                    layer.name,
                    expected.join(", ")
                ),
            );
        } else {
            report.fail(
                SETTINGS,
                id,
                format!("{} settings {shown}: {}", layer.name, problems.join("; ")),
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

fn check_switches(layers: &[Layer], report: &mut Report) {
    // Ordinary keys: the highest layer that sets one decides (managed > local > project > user).
    let order = ["managed", "local", "project", "user"];
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
                layer.name,
                layer.path.display()
            ),
            format!(
                "remove \"disableAllHooks\" from {}{}",
                layer.path.display(),
                if layer.name == "managed" {
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
        .find(|l| l.name == "managed")
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

fn check_commands(layers: &[Layer], env: &Env, layout: &Layout, report: &mut Report) {
    let mut commands: Vec<String> = Vec::new();
    for layer in layers {
        let Some(value) = &layer.value else { continue };
        for event in TURN_EVENTS.iter().chain(TOOL_EVENTS.iter()) {
            for (_, cmd) in telemhq_entries(value, event) {
                if !commands.contains(&cmd) {
                    commands.push(cmd);
                }
            }
        }
    }
    check_seed_hook(layers, env, report);
    if commands.is_empty() {
        return;
    }
    if commands.len() > 1 {
        report.fail(
            COMMAND,
            "command.duplicates",
            format!("{} different telemhq command strings across layers: each event would ping once per string", commands.len()),
            "run `telemhq install` again in each scope: it rewrites every entry to the one shared command",
        );
    } else {
        report.ok(
            COMMAND,
            "command.duplicates",
            "one command string in every layer: each event pings once",
        );
    }
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
        match probe(cmd, env) {
            Some((version, exe)) => {
                let same = me.as_deref().is_some_and(|m| Path::new(&exe) == m);
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
fn check_seed_hook(layers: &[Layer], env: &Env, report: &mut Report) {
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

/// Runs a hook command as Claude Code would (`/bin/sh -c`, no login profile, a bare
/// PATH) with telemhq's probe variable set: a telemhq that it reaches prints its version
/// and path instead of emitting anything.
fn probe(cmd: &str, env: &Env) -> Option<(String, String)> {
    let mut c = Command::new("/bin/sh");
    c.args(["-c", cmd])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TELEMHQ_DOCTOR_PROBE", "1");
    if let Some(home) = &env.home {
        c.env("HOME", home);
    }
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR") {
        c.env("CLAUDE_CONFIG_DIR", dir);
    }
    let out = c
        .current_dir(&env.cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("telemhq-probe "))?;
    let mut parts = line.splitn(3, ' ').skip(1);
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

fn check_privacy(layers: &[Layer], env: &Env, layout: &Layout, report: &mut Report) -> Config {
    let uid = unsafe { libc::getuid() };
    match fs::metadata(&layout.hooks_dir) {
        Err(_) => report.fail(
            PRIVACY,
            "folder.hooks",
            format!(
                "the private hooks folder {} does not exist",
                env.show(&layout.hooks_dir)
            ),
            "telemhq install --global",
        ),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if meta.uid() != uid {
                report.fail(
                    PRIVACY,
                    "folder.hooks",
                    format!(
                        "{} is owned by user {}, not you",
                        env.show(&layout.hooks_dir),
                        meta.uid()
                    ),
                    format!("sudo chown -R $(id -u) {}", layout.hooks_dir.display()),
                );
            } else if mode != 0o700 {
                report.fail(
                    PRIVACY,
                    "folder.hooks",
                    format!(
                        "{} has mode {mode:o}: others can read telemhq's config and queue",
                        env.show(&layout.hooks_dir)
                    ),
                    format!("chmod 700 {}", layout.hooks_dir.display()),
                );
            } else {
                report.ok(
                    PRIVACY,
                    "folder.hooks",
                    format!("{} is private (700, yours)", env.show(&layout.hooks_dir)),
                );
            }
        }
    }
    let loose = loose_files(&layout.state_dir);
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
    if let Some(token) = url.as_deref().and_then(token_of) {
        let mut exposed: Vec<String> = layers
            .iter()
            .filter(|l| l.text.as_deref().is_some_and(|t| t.contains(&token)))
            .map(|l| env.show(&l.path))
            .collect();
        exposed.extend(tracked_files_with(&token, env));
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

/// The secret part of a ping URL: its last path segment, if long enough to be one.
fn token_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let last = parsed
        .path_segments()?
        .rfind(|s| !s.is_empty())?
        .to_string();
    (last.len() >= 8).then_some(last)
}

fn loose_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if meta.permissions().mode() & 0o077 != 0 {
                out.push(path.clone());
            }
            out.extend(loose_files(&path));
        } else if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            out.push(path);
        }
    }
    out
}

fn tracked_files_with(token: &str, env: &Env) -> Vec<String> {
    let Some(root) = git_root(&env.cwd) else {
        return Vec::new();
    };
    let Ok(out) = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z"])
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let path = root.join(String::from_utf8_lossy(name).as_ref());
        let small = fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() < 4 * 1024 * 1024);
        if small
            && fs::read(&path).is_ok_and(|b| b.windows(token.len()).any(|w| w == token.as_bytes()))
        {
            found.push(env.show(&path));
        }
    }
    found
}

fn check_delivery(layout: &Layout, report: &mut Report) {
    let entries = queue::all(layout);
    let pending: Vec<_> = entries
        .iter()
        .filter(|(s, _)| *s == State::Pending)
        .collect();
    match pending.first() {
        None => report.ok(DELIVERY, "queue.pending", "no events waiting in the queue"),
        Some((_, oldest)) => {
            let age = crate::ping::payload::parse_rfc3339_ms(&oldest.queued_at)
                .map(|t| crate::ping::payload::now_ms() - t)
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
        report.fail(
            DELIVERY,
            "queue.failed",
            format!("{} event(s) refused for good, the last with HTTP {status} at {}", failed.len(), last.failed_at.as_deref().unwrap_or("?")),
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

fn check_claude(report: &mut Report) {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("claude"))
            .find(|p| p.is_file())
    });
    match found {
        None => report.ok(
            CLAUDE,
            "claude",
            "no `claude` on PATH (information only: Claude Code may be installed elsewhere)",
        ),
        Some(path) => {
            let version = Command::new(&path)
                .arg("--version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "version unknown".into());
            report.ok(
                CLAUDE,
                "claude",
                format!("Claude Code {version} at {}", path.display()),
            );
        }
    }
}

fn check_ping(env: &Env, config: &Config, report: &mut Report) {
    let Some(url) = config::effective_ping_url(env.ping_url.as_deref(), config) else {
        report.fail(
            PING,
            "ping",
            "no ping URL to test",
            "telemhq install --global --ping-url URL",
        );
        return;
    };
    let body = json!({
        "provider": "anthropic",
        "tool": "claude-code",
        "status": "test",
        "event": "doctor",
        "event_id": crate::ping::payload::new_event_id(),
        "emitted_at": crate::ping::payload::rfc3339_now(),
        "telemhq_version": env!("CARGO_PKG_VERSION"),
    });
    let started = Instant::now();
    let attempt = deliver::post(&deliver::agent(), &url, body.to_string().as_bytes());
    let ms = started.elapsed().as_millis();
    let masked = config::mask_url(&url);
    match attempt {
        Attempt::Delivered(s) => report.ok(PING, "ping", format!("test ping to {masked}: HTTP {s} in {ms} ms")),
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
