//! What doctor reads, gathered without judging it: settings layers, hook entries, the
//! output of telemhq's own hook command, files tracked by git.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::agent::Agent;
use crate::claude::hooks::{self, TOOL_EVENTS, TURN_EVENTS};
use crate::claude::settings;
use crate::cli::DoctorArgs;
use crate::cmd::agent_files::json_hooks;
use crate::config::{self, Config, PingUrl, Route};
use crate::env::{Env, Layout, git_root};
use crate::fsutil;
use crate::hook_groups::ShapeError;
use crate::jsonfile::ReadError;
use crate::ping::deliver::{self, Attempt};
use crate::ping::queue::{self, Dropped, Entry, State};
use crate::ping::sender::{self, Holder, LastError};
use crate::settings_change;

pub use crate::claude::settings::Layer as LayerName;

/// Everything doctor looks at, read once; the checks only judge these.
pub struct Facts {
    pub layout: Layout,
    pub layers: Vec<Layer>,
    /// The install record, or why it cannot be read.
    pub record: Result<(), String>,
    /// Each private folder: its mode (None: missing), or why it is refused.
    pub private_dirs: Vec<(PathBuf, Result<Option<u32>, String>)>,
    pub loose_files: Vec<PathBuf>,
    pub link: Link,
    /// The config, or why it cannot be read.
    pub config: Result<Config, String>,
    /// Where this folder's pings go, and why.
    pub route: Option<Route>,
    /// Every stored tracker: its repository (None: the global one), its URL, and whether
    /// the repository is still there.
    pub trackers: Vec<(Option<String>, String, bool)>,
    /// Files (settings layers, git-tracked files) that hold a secret part of the URL.
    pub exposed: Vec<String>,
    /// telemhq's own hook commands found, each with what running it reached.
    pub probes: Vec<(String, Option<(String, String)>)>,
    /// This telemhq binary, resolved.
    pub me: Option<PathBuf>,
    pub queue: Vec<(State, Entry)>,
    pub dropped: Dropped,
    pub last_error: Option<LastError>,
    pub sender: Option<Holder>,
    pub claude: Option<(PathBuf, String)>,
    /// With `--ping`: the masked URL, the answer and how long it took; or why none was sent.
    pub test_ping: Option<Result<(String, Attempt, u128), String>>,
    /// Codex configs (user, this repository's) that exist.
    pub codex: Vec<CodexConfig>,
    /// Gemini CLI's settings and Copilot CLI's hook files (user, this repository's)
    /// that exist.
    pub agent_files: Vec<AgentFile>,
    pub now_ms: i64,
}

/// A Codex config.toml and telemhq's hooks in it.
pub struct CodexConfig {
    pub path: PathBuf,
    /// The scope flag that installs into it.
    pub flag: &'static str,
    /// Not TOML (the reason), or its telemhq events and those not trusted.
    pub hooks: Result<(Vec<&'static str>, Vec<&'static str>), String>,
    /// With telemhq's hooks in it: what running Codex's hook command reached.
    pub reached: Option<(String, String)>,
}

/// A Gemini CLI settings file or a Copilot CLI hook file, and telemhq's hooks in it.
pub struct AgentFile {
    pub agent: Agent,
    pub path: PathBuf,
    /// The scope flag that installs into it.
    pub flag: &'static str,
    /// Not readable as the agent's file (why), or telemhq's events in it.
    pub hooks: Result<Vec<String>, String>,
    /// With telemhq's hooks in it: what running their command reached.
    pub reached: Option<(String, String)>,
    /// Why the agent would not run them although they are there, and the fix.
    pub not_run: Option<(String, String)>,
}

fn agent_files(env: &Env, args: &DoctorArgs) -> Vec<AgentFile> {
    use crate::claude::settings::Scope;
    let mut out = Vec::new();
    for agent in [Agent::Gemini, Agent::Copilot] {
        for (scope, wanted) in [(Scope::Global, !args.repo), (Scope::Repo, !args.global)] {
            let Some(target) = wanted.then(|| json_hooks(agent, env, scope).ok()).flatten() else {
                continue;
            };
            if !target.path.exists() {
                continue;
            }
            let hooks = match crate::jsonfile::load(&target.path) {
                Err(e) => Err(e.problem()),
                Ok(file) => match (target.plan_uninstall)(&file.value, &Default::default()) {
                    Err(e) => Err(format!(
                        "a shape {} does not accept at {e}",
                        agent.display_name()
                    )),
                    Ok(_) => Ok((target.installed_events)(&file.value)),
                },
            };
            let installed = hooks.as_ref().is_ok_and(|e| !e.is_empty());
            let command = match agent {
                Agent::Gemini => crate::gemini::hooks::HOOK_COMMAND.to_string(),
                _ => crate::copilot::hooks::command("agentStop"),
            };
            let reached = installed.then(|| probe(&command, env)).flatten();
            let not_run = installed.then(|| not_run(agent, scope, env)).flatten();
            out.push(AgentFile {
                agent,
                path: target.path,
                flag: scope.flag(),
                hooks,
                reached,
                not_run,
            });
        }
    }
    out
}

/// Reads a JSON file that may have `//` comment lines (Copilot CLI's and Gemini CLI's
/// own files allow them); None when absent or unreadable.
fn read_lenient_json(path: &Path) -> Option<Value> {
    let bytes = fsutil::read_regular(path).ok()?;
    let text: String = String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&text).ok()
}

/// Why the agent would skip telemhq's hooks (a switch that turns hooks off, a project
/// that is not trusted), with the fix.
fn not_run(
    agent: Agent,
    scope: crate::claude::settings::Scope,
    env: &Env,
) -> Option<(String, String)> {
    use crate::claude::settings::Scope;
    match agent {
        Agent::Gemini => {
            let mut files = vec![
                crate::cmd::agent_files::gemini_dir(env)
                    .ok()?
                    .join("settings.json"),
            ];
            if let Some(root) = crate::env::git_root(&env.cwd) {
                files.push(root.join(".gemini/settings.json"));
            }
            for file in files {
                let Some(doc) = read_lenient_json(&file) else {
                    continue;
                };
                let shown = env.show(&file);
                if doc.pointer("/hooksConfig/enabled") == Some(&Value::Bool(false)) {
                    return Some((
                        format!(
                            "Gemini CLI's hooks are switched off (hooksConfig.enabled is false in {shown})"
                        ),
                        format!("remove \"enabled\": false from hooksConfig in {shown}"),
                    ));
                }
                let disabled = doc
                    .pointer("/hooksConfig/disabled")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|d| d == crate::gemini::hooks::HOOK_COMMAND || d.contains("telemhq"));
                if disabled {
                    return Some((
                        format!("telemhq's hook is listed in hooksConfig.disabled in {shown}"),
                        format!("take it out of hooksConfig.disabled in {shown}"),
                    ));
                }
            }
            None
        }
        Agent::Copilot => {
            let dir = crate::cmd::agent_files::copilot_dir(env).ok()?;
            let settings = dir.join("settings.json");
            if read_lenient_json(&settings).and_then(|d| d.get("disableAllHooks").cloned())
                == Some(Value::Bool(true))
            {
                let shown = env.show(&settings);
                return Some((
                    format!(
                        "Copilot CLI's hooks are switched off (disableAllHooks is true in {shown})"
                    ),
                    format!("set \"disableAllHooks\": false in {shown}"),
                ));
            }
            if scope == Scope::Repo {
                let root = crate::env::git_root(&env.cwd)?;
                let root = std::fs::canonicalize(&root).unwrap_or(root);
                let config = dir.join("config.json");
                let trusted = read_lenient_json(&config)
                    .and_then(|c| c.get("trusted_folders").cloned())
                    .and_then(|t| t.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|f| root.starts_with(f));
                if !trusted {
                    return Some((
                        format!(
                            "Copilot CLI loads {}'s hooks only once the folder is trusted, and it is not ({} has no trusted_folders entry for it)",
                            env.show(&root),
                            env.show(&config)
                        ),
                        "run copilot in the repository once and trust the folder".into(),
                    ));
                }
            }
            None
        }
        _ => None,
    }
}

fn codex_configs(env: &Env, args: &DoctorArgs) -> Vec<CodexConfig> {
    use crate::claude::settings::Scope;
    let mut out = Vec::new();
    for (scope, wanted) in [(Scope::Global, !args.repo), (Scope::Repo, !args.global)] {
        let Some(path) = wanted
            .then(|| crate::cmd::codex::config_path(env, scope).ok())
            .flatten()
        else {
            continue;
        };
        let Ok(bytes) = fsutil::read_regular(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let source = path.to_string_lossy().into_owned();
        let hooks = match text.parse::<toml_edit::DocumentMut>() {
            Err(e) => Err(e.to_string().trim().to_string()),
            Ok(_) => Ok((
                crate::codex::hooks::installed_events(&text),
                crate::codex::hooks::untrusted_events(&text, &source),
            )),
        };
        let installed = hooks.as_ref().is_ok_and(|(events, _)| !events.is_empty());
        let reached = installed
            .then(|| probe(crate::codex::hooks::HOOK_COMMAND, env))
            .flatten();
        out.push(CodexConfig {
            path,
            flag: scope.flag(),
            hooks,
            reached,
        });
    }
    out
}

/// What is at the hook link's place.
pub enum Link {
    Missing,
    /// A link to a target that does not exist.
    Dangling(PathBuf),
    Present,
}

/// Reads everything doctor needs, once. The only command run is telemhq's own hook
/// command (and `claude --version`, `git ls-files`), each bounded; `--ping` sends one
/// test ping.
pub fn gather(env: &Env, args: &DoctorArgs, layout: Layout) -> Facts {
    let layers = read_layers(env, args);
    let config = Config::load(&layout).map_err(|e| e.to_string());
    let stored = config.clone().unwrap_or_default();
    let route = config::route(env.ping_url.as_deref(), &stored, &env.cwd);
    let mut trackers: Vec<(Option<String>, String, bool)> = Vec::new();
    if let Some(url) = &stored.ping_url {
        trackers.push((None, url.clone(), true));
    }
    for (root, url) in &stored.repos {
        let there = Path::new(root).join(".git").exists();
        trackers.push((Some(root.clone()), url.clone(), there));
    }
    // The leak check looks for every tracker's secret parts (and the environment's).
    let mut secrets: Vec<String> = trackers
        .iter()
        .map(|(_, url, _)| url.as_str())
        .chain(env.ping_url.as_deref())
        .flat_map(config::secret_parts)
        .collect();
    secrets.sort();
    secrets.dedup();
    let mut exposed: Vec<String> = Vec::new();
    if !secrets.is_empty() {
        exposed.extend(
            layers
                .iter()
                .filter(|l| {
                    l.text
                        .as_deref()
                        .is_some_and(|t| secrets.iter().any(|s| t.contains(s.as_str())))
                })
                .map(|l| env.show(&l.path)),
        );
        exposed.extend(tracked_files_with(&secrets, env));
    }
    let mut commands: Vec<String> = Vec::new();
    for value in layers.iter().filter_map(|l| l.value.as_ref()) {
        for event in TURN_EVENTS.iter().chain(TOOL_EVENTS.iter()) {
            for (_, cmd) in telemhq_entries(value, event) {
                if !commands.contains(&cmd) {
                    commands.push(cmd);
                }
            }
        }
    }
    let link = match fs::read_link(&layout.link) {
        Ok(target) if !layout.link.exists() => Link::Dangling(target),
        Err(_) if fs::symlink_metadata(&layout.link).is_err() => Link::Missing,
        _ => Link::Present,
    };
    // The command has nothing to run without its link: no use running it then.
    let probes = commands
        .into_iter()
        .map(|cmd| {
            let reached = matches!(link, Link::Present)
                .then(|| probe(&cmd, env))
                .flatten();
            (cmd, reached)
        })
        .collect();
    let test_ping = args
        .ping
        .then(|| send_test_ping(route.as_ref().map(|r| r.url.as_str())));
    Facts {
        layers,
        record: settings_change::load_records(&layout)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        private_dirs: layout
            .private_dirs()
            .iter()
            .map(|d| {
                (
                    d.to_path_buf(),
                    fsutil::check_private_dir(d).map_err(|e| e.to_string()),
                )
            })
            .collect(),
        loose_files: loose_files(&layout.state_dir),
        link,
        config,
        route,
        trackers,
        exposed,
        probes,
        me: std::env::current_exe()
            .ok()
            .and_then(|p| fs::canonicalize(p).ok()),
        queue: queue::all(&layout),
        dropped: Dropped::load(&layout),
        last_error: LastError::load(&layout),
        sender: sender::running_sender(&layout),
        claude: claude_version(),
        test_ping,
        codex: codex_configs(env, args),
        agent_files: agent_files(env, args),
        now_ms: crate::time::now_ms(),
        layout,
    }
}

/// Sends one test ping (`event: "doctor"`, `status: "test"`) to a valid URL only.
fn send_test_ping(url: Option<&str>) -> Result<(String, Attempt, u128), String> {
    let raw = url.ok_or("no ping URL to test")?;
    let url = PingUrl::parse(raw).map_err(|e| format!("no test ping sent: {e}"))?;
    let body = serde_json::json!({
        "provider": "anthropic",
        "tool": "claude-code",
        "status": "test",
        "event": "doctor",
        "event_id": crate::ping::payload::new_event_id()?,
        "emitted_at": crate::time::rfc3339_now(),
        "telemhq_version": env!("CARGO_PKG_VERSION"),
    });
    let started = std::time::Instant::now();
    let attempt = deliver::post(&deliver::agent(None), &url, body.to_string().as_bytes());
    Ok((url.masked(), attempt, started.elapsed().as_millis()))
}

/// One settings layer as found on disk.
pub struct Layer {
    pub name: LayerName,
    pub path: PathBuf,
    /// The text (lossily decoded), None when the file does not exist or cannot be read.
    pub text: Option<String>,
    /// The document, when Claude Code applies it and its shape could be checked.
    pub value: Option<Value>,
    pub problem: Option<LayerProblem>,
}

pub enum LayerProblem {
    Read(ReadError),
    Shape(ShapeError),
}

/// Reads every layer Claude Code reads for this folder (only the user's or only the
/// repository's with `--global` / `--repo`; managed settings always count).
pub fn read_layers(env: &Env, args: &DoctorArgs) -> Vec<Layer> {
    let mut layers = Vec::new();
    for (name, path) in settings::layers(env) {
        let wanted = match name {
            LayerName::User => !args.repo,
            LayerName::Project | LayerName::Local => !args.global,
            LayerName::Managed => true, // it can switch hooks off everywhere
        };
        if !wanted {
            continue;
        }
        let mut layer = Layer {
            name,
            path: path.clone(),
            text: None,
            value: None,
            problem: None,
        };
        let parsed = match crate::jsonfile::load(&path) {
            Ok(file) => {
                layer.text = file.text;
                Some(file.value)
            }
            Err(err) => {
                // Claude Code reads a file with a bad byte (replacing it): so do the checks.
                if let ReadError::NotUtf8 { .. } = err
                    && let Ok(bytes) = crate::fsutil::read_regular(&path)
                {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    layer.value = crate::jsonfile::parse_strict(&text).ok();
                    layer.text = Some(text);
                }
                layer.problem = Some(LayerProblem::Read(err));
                None
            }
        };
        if let Some(value) = parsed.or(layer.value.take()) {
            match crate::hook_groups::check_shape(&value) {
                Ok(()) => layer.value = Some(value),
                Err(e) => {
                    layer.value = None;
                    layer.problem = Some(LayerProblem::Shape(e));
                }
            }
        }
        layers.push(layer);
    }
    layers
}

/// The hook handlers of one event in a document: (matcher, command).
fn handlers(value: &Value, event: &str) -> Vec<(Option<String>, String)> {
    let mut found = Vec::new();
    for group in value
        .get("hooks")
        .and_then(|h| h.get(event))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let matcher = group
            .get("matcher")
            .and_then(Value::as_str)
            .map(str::to_string);
        for handler in group
            .get("hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(cmd) = handler.get("command").and_then(Value::as_str) {
                found.push((matcher.clone(), cmd.to_string()));
            }
        }
    }
    found
}

/// telemhq's own handlers of an event (its exact command): (matcher, command).
pub fn telemhq_entries(value: &Value, event: &str) -> Vec<(Option<String>, String)> {
    handlers(value, event)
        .into_iter()
        .filter(|(_, c)| hooks::is_telemhq_command(c))
        .collect()
}

/// Events whose handlers run telemhq in a form telemhq did not write.
pub fn foreign_telemhq_events(value: &Value) -> Vec<String> {
    let Some(events) = value.get("hooks").and_then(Value::as_object) else {
        return Vec::new();
    };
    events
        .keys()
        .filter(|event| {
            handlers(value, event)
                .iter()
                .any(|(_, c)| !hooks::is_telemhq_command(c) && hooks::looks_like_telemhq(c))
        })
        .cloned()
        .collect()
}

/// What a bounded run of a command printed.
struct Ran {
    stdout: Vec<u8>,
    /// Stopped at the time limit, not finished.
    timed_out: bool,
}

/// Runs a command with its own process group, stdin and stderr on /dev/null, keeping at
/// most `limit` bytes of its output and stopping it (with everything it started) after
/// `timeout` or once it has printed `limit` bytes: a hook link pointed at `yes`, or a
/// command that sleeps, never holds doctor up or fills its memory.
fn run_bounded(mut cmd: Command, timeout: Duration, limit: u64) -> Option<Ran> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().ok()?;
    let mut out = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut out).take(limit).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let stdout = rx.recv_timeout(timeout).ok();
    // The child is not reaped yet, so its group id cannot have been reused.
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.wait();
    Some(Ran {
        timed_out: stdout.is_none(),
        stdout: stdout.unwrap_or_default(),
    })
}

/// Runs telemhq's own hook command as Claude Code would (`/bin/sh -c`, no login
/// profile, a bare PATH) with the probe variable set: a telemhq that it reaches prints
/// its version and path instead of emitting anything. Only ever called with the exact
/// command telemhq installs.
fn probe(cmd: &str, env: &Env) -> Option<(String, String)> {
    debug_assert!(
        hooks::is_telemhq_command(cmd)
            || cmd == crate::codex::hooks::HOOK_COMMAND
            || cmd == crate::gemini::hooks::HOOK_COMMAND
            || crate::copilot::hooks::is_telemhq_command(cmd)
    );
    let mut c = Command::new("/bin/sh");
    c.args(["-c", cmd])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TELEMHQ_DOCTOR_PROBE", "1")
        .current_dir(&env.cwd);
    if let Some(home) = &env.home {
        c.env("HOME", home);
    }
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR") {
        c.env("CLAUDE_CONFIG_DIR", dir);
    }
    let ran = run_bounded(c, Duration::from_secs(5), 4096)?;
    let text = String::from_utf8_lossy(&ran.stdout);
    let line = text.lines().find(|l| l.starts_with("telemhq-probe "))?;
    let mut parts = line.splitn(3, ' ').skip(1);
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

/// `claude` on PATH and what its `--version` says (bounded like the probe).
fn claude_version() -> Option<(PathBuf, String)> {
    let path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("claude"))
            .find(|p| p.is_file())
    })?;
    let mut cmd = Command::new(&path);
    cmd.arg("--version");
    let version = run_bounded(cmd, Duration::from_secs(5), 4096)
        .filter(|r| !r.timed_out)
        .map(|r| String::from_utf8_lossy(&r.stdout).trim().to_string())
        .filter(|v| !v.is_empty() && v.len() < 200)
        .unwrap_or_else(|| "version unknown".into());
    Some((path, version))
}

/// Files under a folder that others can read (mode bits for group or other).
fn loose_files(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
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

/// Files tracked by git in this repository that hold any of `secrets`.
fn tracked_files_with(secrets: &[String], env: &Env) -> Vec<String> {
    let Some(root) = git_root(&env.cwd) else {
        return Vec::new();
    };
    let mut git = Command::new("git");
    git.arg("-C").arg(&root).args(["ls-files", "-z"]);
    let Some(listed) = run_bounded(git, Duration::from_secs(10), 64 * 1024 * 1024) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let path = root.join(String::from_utf8_lossy(name).as_ref());
        let small = fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() < 4 * 1024 * 1024);
        if small
            && crate::fsutil::read_regular(&path)
                .is_ok_and(|b| secrets.iter().any(|s| contains(&b, s.as_bytes())))
        {
            found.push(env.show(&path));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
