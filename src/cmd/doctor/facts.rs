//! What doctor reads, gathered without judging it: every agent's hook file per scope
//! (through the agent list), telemhq's own state, the output of telemhq's own hook
//! commands, the files git tracks here. All within one time budget: what it could not
//! finish is said, never waited for.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agents::claude::settings::{self as claude_settings, Layer as ClaudeLayer};
use crate::agents::{self, Agent, Blocker, Scope};
use crate::cli::DoctorArgs;
use crate::config::{self, Config, PingUrl, Route, TrackerSource};
use crate::env::{Env, Layout, git_root};
use crate::fsutil;
use crate::hookfile::{EditError, Hook};
use crate::jsonfile::{self, ReadError};
use crate::ping::deliver::{self, Attempt};
use crate::ping::queue::{self, Dropped, Entry, State};
use crate::ping::sender::{self, Holder, LastError};
use crate::transaction;

/// How long doctor may take in all (each command it runs gets at most 5 s of it).
const BUDGET: Duration = Duration::from_secs(12);

/// Everything doctor looks at, read once; the checks only judge these.
pub struct Facts {
    pub layout: Layout,
    /// Every agent's hook file that exists, per scope checked.
    pub files: Vec<HookFile>,
    /// Claude Code's managed settings, when they exist and do not read.
    pub managed_problem: Option<(PathBuf, ReadError)>,
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
    /// A settings layer of Claude Code that sets `TELEMHQ_PING_URL` for its hooks:
    /// (layer, file, the URL). Claude Code gives it to the hook, so it decides.
    pub settings_route: Option<(ClaudeLayer, PathBuf, String)>,
    /// Every stored tracker: its repository (None: the global one), its URL, and whether
    /// the repository is still there.
    pub trackers: Vec<(Option<String>, String, bool)>,
    /// Files (hook files, git-tracked files) that hold a secret part of a URL.
    pub exposed: Vec<String>,
    /// Whether git's tracked files were looked through within the time budget (false:
    /// not checked, and said so).
    pub tracked_checked: bool,
    /// This telemhq binary, resolved.
    pub me: Option<PathBuf>,
    pub queue: Vec<(State, Entry)>,
    pub dropped: Dropped,
    pub last_error: Option<LastError>,
    /// The collector's last problem (kept apart from the tracker's).
    pub last_export_error: Option<LastError>,
    pub sender: Option<Holder>,
    /// The agents found on this machine, with what showed each.
    pub found: Vec<(&'static dyn Agent, String)>,
    pub claude: Option<(PathBuf, String)>,
    /// With `--ping`: the masked URL, the answer and how long it took; or why none was sent.
    pub test_ping: Option<Result<(String, Attempt, u128), String>>,
    /// The OpenTelemetry Collector events are exported to (masked), if any, and with
    /// `--ping` a test export's answer.
    pub otlp: Option<String>,
    pub test_export: Option<Result<(String, Attempt, u128), String>>,
    /// The local store: how many events it holds, or why it cannot be read; and why it
    /// could last not be written.
    pub store: Result<Option<u64>, String>,
    pub store_write_error: Option<String>,
    /// Each spending limit and what its period spent so far (None: the store cannot say).
    pub budgets: Option<Vec<crate::budget::State>>,
    /// What doctor did not finish checking within its time budget.
    pub unfinished: Vec<String>,
    pub now_ms: i64,
}

/// One agent's hook file for one scope, and telemhq's hooks in it.
pub struct HookFile {
    pub agent: &'static dyn Agent,
    pub scope: Scope,
    pub path: PathBuf,
    /// The text (lossily decoded where the agent reads a bad byte).
    pub text: Option<String>,
    /// Why it does not read as the agent's file.
    pub problem: Option<FileProblem>,
    /// telemhq's events in it.
    pub events: Vec<String>,
    /// What is wrong with telemhq's entries.
    pub entry_problems: Vec<String>,
    /// Every command hook in it.
    pub hooks: Vec<Hook>,
    /// What would stop the agent running them.
    pub blockers: Vec<Blocker>,
    /// What running telemhq's command reached: Some(Some((version, exe))), Some(None):
    /// it reached nothing, None: not run (nothing to run, or out of time).
    pub reached: Option<Reached>,
}

/// The telemhq a hook command reached: its version and path (None: none).
pub type Reached = Option<(String, String)>;

/// Why a file does not read as its agent's.
pub struct FileProblem {
    pub why: String,
    /// Line and column, where there is one.
    pub place: Option<(usize, usize)>,
    /// The agent reads it anyway (Claude Code: a bad byte, deep nesting).
    pub agent_reads_it: bool,
}

impl HookFile {
    /// The agent's own commands of telemhq in this file.
    pub fn own_commands(&self) -> Vec<&str> {
        let format = self.agent.format_for(&self.path);
        self.hooks
            .iter()
            .filter(|h| format.is_own_command(&h.command))
            .map(|h| h.command.as_str())
            .collect()
    }
}

/// What is at the hook link's place.
pub enum Link {
    Missing,
    /// A link to a target that does not exist.
    Dangling(PathBuf),
    Present,
}

fn scopes_checked(args: &DoctorArgs) -> Vec<Scope> {
    Scope::ALL
        .into_iter()
        .filter(|s| match s {
            Scope::Global => !args.repo,
            _ => !args.global,
        })
        .collect()
}

/// Reads one agent's file for a scope, if it exists.
fn read_file(agent: &'static dyn Agent, scope: Scope, env: &Env) -> Option<HookFile> {
    let path = agent.hook_file(env, scope)?.ok()?;
    let bytes = match fsutil::read_regular(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let why = format!("cannot read it: {}", crate::error::io_reason(&e));
            return Some(HookFile {
                agent,
                scope,
                path,
                text: None,
                problem: Some(FileProblem {
                    why,
                    place: None,
                    agent_reads_it: false,
                }),
                events: Vec::new(),
                entry_problems: Vec::new(),
                hooks: Vec::new(),
                blockers: Vec::new(),
                reached: None,
            });
        }
    };
    let format = agent.format_for(&path);
    let (text, problem) = match jsonfile::utf8(bytes.clone()) {
        Ok(text) => {
            let problem = format.check(&text).err();
            (text, problem)
        }
        Err(e) => (
            String::from_utf8_lossy(&bytes).into_owned(),
            Some(EditError::Read(e)),
        ),
    };
    let problem = problem.map(|e| match e {
        EditError::Read(e) => FileProblem {
            why: agent.read_problem(&e),
            place: e.position(),
            agent_reads_it: agent.reads_anyway(&e),
        },
        EditError::Shape(at) => FileProblem {
            why: format!("wrong shape at {at}"),
            place: None,
            agent_reads_it: false,
        },
        EditError::CannotEdit(why) | EditError::Internal(why) => FileProblem {
            why,
            place: None,
            agent_reads_it: false,
        },
    });
    let readable = problem.as_ref().is_none_or(|p| p.agent_reads_it);
    let (events, entry_problems, hooks) = if readable {
        (
            format.installed_events(&text),
            format.entry_problems(&text),
            format.commands(&text),
        )
    } else {
        Default::default()
    };
    let blockers = if events.is_empty() {
        Vec::new()
    } else {
        agent.blockers(env, scope, &path)
    };
    Some(HookFile {
        agent,
        scope,
        path,
        text: Some(text),
        problem,
        events,
        entry_problems,
        hooks,
        blockers,
        reached: None,
    })
}

/// Reads everything doctor needs, once, within its time budget. The only commands run
/// are telemhq's own hook commands (all at once) and `claude --version`, each bounded;
/// `--ping` sends one test ping.
pub fn gather(env: &Env, args: &DoctorArgs, layout: Layout) -> Facts {
    let deadline = Instant::now() + BUDGET;
    let mut unfinished = Vec::new();
    let mut files: Vec<HookFile> = Vec::new();
    for agent in agents::ALL {
        for scope in scopes_checked(args) {
            files.extend(read_file(agent, scope, env));
        }
    }
    let managed_path = claude_settings::managed_settings_path();
    let managed_problem = jsonfile::load(&managed_path, jsonfile::Dialect::Strict)
        .err()
        .map(|e| (managed_path.clone(), e));
    let config = Config::load(&layout).map_err(|e| e.to_string());
    let budgets = read_budgets(&layout, &config);
    let stored = config.clone().unwrap_or_default();
    let settings_route = settings_route(env);
    let route = match (&env.ping_url, &settings_route) {
        (None, Some((layer, path, url))) => Some(Route {
            url: url.clone(),
            source: TrackerSource::Settings(format!(
                "TELEMHQ_PING_URL in Claude Code's {} settings {}",
                layer.name(),
                env.show(path)
            )),
        }),
        _ => config::route(env.ping_url.as_deref(), &stored, &env.cwd),
    };
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
    let mut tracked_checked = true;
    if !secrets.is_empty() {
        exposed.extend(
            files
                .iter()
                .filter(|f| {
                    f.text
                        .as_deref()
                        .is_some_and(|t| secrets.iter().any(|s| t.contains(s.as_str())))
                })
                .map(|f| env.show(&f.path)),
        );
        match tracked_files_with(&secrets, env, deadline) {
            Ok(found) => {
                for f in found {
                    if !exposed.contains(&f) {
                        exposed.push(f);
                    }
                }
            }
            Err(why) => {
                tracked_checked = false;
                unfinished.push(why)
            }
        }
    }
    let link = match fs::read_link(&layout.link) {
        Ok(target) if !layout.link.exists() => Link::Dangling(target),
        Err(_) if fs::symlink_metadata(&layout.link).is_err() => Link::Missing,
        _ => Link::Present,
    };
    // Each own command found is run once, all at the same time; with no link there is
    // nothing for them to run.
    let mut commands: Vec<String> = Vec::new();
    for f in files.iter().filter(|f| !f.events.is_empty()) {
        for c in f.own_commands() {
            if !commands.iter().any(|x| x == c) {
                commands.push(c.to_string());
            }
        }
    }
    let reached: Vec<(String, Option<Reached>)> = if matches!(link, Link::Present) {
        std::thread::scope(|s| {
            let handles: Vec<_> = commands
                .iter()
                .map(|c| (c.clone(), s.spawn(|| probe(c, env, deadline))))
                .collect();
            handles
                .into_iter()
                .map(|(c, h)| (c, h.join().ok().flatten()))
                .collect()
        })
    } else {
        Vec::new()
    };
    for f in files.iter_mut().filter(|f| !f.events.is_empty()) {
        let own = f.own_commands().first().map(|c| c.to_string());
        f.reached = own.and_then(|c| {
            reached
                .iter()
                .find(|(x, _)| *x == c)
                .and_then(|(_, r)| r.clone())
        });
    }
    if reached.iter().any(|(_, r)| r.is_none()) {
        unfinished.push("whether every hook command reaches telemhq (out of time)".into());
    }
    let claude = match claude_version(deadline) {
        Ok(v) => v,
        Err(why) => {
            unfinished.push(why);
            None
        }
    };
    let loaded = config.as_ref().cloned().unwrap_or_default();
    let otlp = crate::config::otlp_target(&loaded);
    // Both at once, each within what is left of the one budget.
    let (test_ping, test_export) = std::thread::scope(|s| {
        let export = otlp
            .as_ref()
            .filter(|_| args.ping)
            .map(|o| s.spawn(|| send_test_export(o, &loaded, deadline)));
        let ping = args
            .ping
            .then(|| send_test_ping(route.as_ref().map(|r| r.url.as_str()), deadline));
        let export = export.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("the test export failed".into()))
        });
        (ping, export)
    });
    let otlp = otlp.map(|o| crate::config::mask_url(&o.endpoint));
    Facts {
        files,
        managed_problem,
        record: transaction::load_records(&layout)
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
        settings_route,
        trackers,
        exposed,
        tracked_checked,
        me: std::env::current_exe()
            .ok()
            .and_then(|p| fs::canonicalize(p).ok()),
        queue: queue::all(&layout),
        dropped: Dropped::load(&layout),
        last_error: LastError::load(&layout),
        last_export_error: LastError::load_export(&layout),
        sender: sender::running_sender(&layout),
        found: agents::ALL
            .iter()
            .filter_map(|a| a.found(env).map(|seen| (*a, seen)))
            .collect(),
        claude,
        test_ping,
        otlp,
        test_export,
        store: read_store(&layout),
        store_write_error: crate::store::last_error(&layout),
        budgets,
        unfinished,
        now_ms: crate::time::now_ms(),
        layout,
    }
}

/// Each budget's state now (none set: empty; None: the store cannot be read).
fn read_budgets(
    layout: &Layout,
    config: &Result<Config, String>,
) -> Option<Vec<crate::budget::State>> {
    let budgets = &config.as_ref().ok()?.budgets;
    if budgets.is_empty() {
        return Some(Vec::new());
    }
    let store = crate::store::Store::open_existing(layout).ok()?;
    let tz = jiff::tz::TimeZone::system();
    crate::budget::states(store.as_ref(), budgets, crate::time::now_ms(), &tz)
}

/// How many events the store holds (None: no store yet), or why it cannot be read.
fn read_store(layout: &Layout) -> Result<Option<u64>, String> {
    let Some(store) = crate::store::Store::open_untouched(layout)? else {
        return Ok(None);
    };
    // (A store its first writer is making this moment: none yet.)
    if store.version() == 0 {
        return Ok(None);
    }
    match store
        .conn()
        .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
    {
        Ok(n) => Ok(Some(n as u64)),
        // A new store whose first events are still in its writer's log.
        Err(_) if crate::store::Store::in_use(layout) => Ok(Some(0)),
        Err(e) => Err(format!("the store cannot be read: {e}")),
    }
}

/// The highest settings layer of Claude Code that sets `env.TELEMHQ_PING_URL` (Claude
/// Code puts it into its hooks' environment).
fn settings_route(env: &Env) -> Option<(ClaudeLayer, PathBuf, String)> {
    let layers = claude_settings::layers(env);
    [
        ClaudeLayer::Managed,
        ClaudeLayer::Local,
        ClaudeLayer::Project,
        ClaudeLayer::User,
    ]
    .iter()
    .filter_map(|name| layers.iter().find(|(l, _)| l == name))
    .find_map(|(layer, path)| {
        let value = jsonfile::value_of(path, jsonfile::Dialect::Strict)?;
        let url = value.pointer("/env/TELEMHQ_PING_URL")?.as_str()?.trim();
        (!url.is_empty()).then(|| (*layer, path.clone(), url.to_string()))
    })
}

/// Sends one test ping (`event: "doctor"`, `status: "test"`) to a valid URL only.
fn send_test_ping(url: Option<&str>, deadline: Instant) -> Result<(String, Attempt, u128), String> {
    let raw = url.ok_or("no ping URL to test")?;
    let url = PingUrl::parse(raw).map_err(|e| format!("no test ping sent: {e}"))?;
    let body = serde_json::json!({
        "status": "test",
        "event": "doctor",
        "event_id": crate::ping::payload::new_event_id()?,
        "emitted_at": crate::time::rfc3339_now(),
        "telemhq_version": env!("CARGO_PKG_VERSION"),
    });
    let started = Instant::now();
    // Within doctor's one time budget, whatever the endpoint does.
    let left = deadline.saturating_duration_since(started);
    if left < Duration::from_millis(200) {
        return Err("not sent: doctor's time budget was used up first".into());
    }
    let attempt = deliver::post(
        &deliver::agent(Some(left)),
        &url,
        body.to_string().as_bytes(),
    );
    Ok((url.masked(), attempt, started.elapsed().as_millis()))
}

/// Sends one test export (a log record `telemhq.doctor`, `status: "test"`) to the
/// collector.
fn send_test_export(
    otlp: &crate::config::Otlp,
    config: &crate::config::Config,
    deadline: Instant,
) -> Result<(String, Attempt, u128), String> {
    let url =
        PingUrl::parse_otlp(&otlp.endpoint).map_err(|e| format!("no test export sent: {e}"))?;
    let payload = serde_json::json!({
        "status": "test",
        "event": "doctor",
        "event_id": crate::ping::payload::new_event_id()?,
        "emitted_at": crate::time::rfc3339_now(),
        "telemhq_version": env!("CARGO_PKG_VERSION"),
    });
    let payload = payload.as_object().expect("an object");
    let host = crate::ping::sender::host_id(config);
    let source = crate::ping::otlp::Source {
        resource: &otlp.resource,
        host_id: &host,
    };
    let body = crate::ping::otlp::body(&crate::ping::otlp::logs(&[payload], &source));
    let started = Instant::now();
    // Within doctor's one time budget, whatever the endpoint does.
    let left = deadline.saturating_duration_since(started);
    if left < Duration::from_millis(200) {
        return Err("not sent: doctor's time budget was used up first".into());
    }
    let attempt = deliver::post_otlp(
        &deliver::agent(Some(left)),
        &url,
        "/v1/logs",
        &otlp.headers,
        &body,
    );
    Ok((url.masked(), attempt, started.elapsed().as_millis()))
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

/// The time a command may take: 5 s, or what is left of the budget.
fn slice(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then(|| left.min(Duration::from_secs(5)))
}

/// Runs telemhq's own hook command as an agent would (`/bin/sh -c`, no login profile, a
/// bare PATH) with the probe variable set: a telemhq that it reaches prints its version
/// and path instead of emitting anything. Only ever called with an exact command
/// telemhq installs. None: out of time; Some(None): it reached no telemhq.
fn probe(cmd: &str, env: &Env, deadline: Instant) -> Option<Reached> {
    let timeout = slice(deadline)?;
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
    let Some(ran) = run_bounded(c, timeout, 4096) else {
        return Some(None);
    };
    let text = String::from_utf8_lossy(&ran.stdout);
    let reached = text
        .lines()
        .find(|l| l.starts_with("telemhq-probe "))
        .and_then(|line| {
            let mut parts = line.splitn(3, ' ').skip(1);
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        });
    Some(reached)
}

/// `claude` on PATH (absolute entries only) and what its `--version` says (bounded).
fn claude_version(deadline: Instant) -> Result<Option<(PathBuf, String)>, String> {
    let Some(path) = agents::find_program("claude") else {
        return Ok(None);
    };
    let timeout = slice(deadline).ok_or("Claude Code's version (out of time)")?;
    let mut cmd = Command::new(&path);
    cmd.arg("--version");
    let version = run_bounded(cmd, timeout, 4096)
        .filter(|r| !r.timed_out)
        .map(|r| String::from_utf8_lossy(&r.stdout).trim().to_string())
        .filter(|v| !v.is_empty() && v.len() < 200)
        .unwrap_or_else(|| "version unknown".into());
    Ok(Some((path, crate::term::safe(&version))))
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

/// Files tracked by git in this repository that hold any of `secrets`. The list comes
/// from git's index file, read as data: no git command runs, so nothing a repository's
/// config points at (an fsmonitor, hooks, a diff or ssh program) can run. Err: what was
/// not checked, and why.
fn tracked_files_with(
    secrets: &[String],
    env: &Env,
    deadline: Instant,
) -> Result<Vec<String>, String> {
    let Some(root) = git_root(&env.cwd) else {
        return Ok(Vec::new());
    };
    let names = crate::gitindex::tracked_files(&root)
        .map_err(|why| format!("files tracked by git, for the ping token ({why})"))?;
    let mut found = Vec::new();
    for name in names {
        if Instant::now() >= deadline {
            return Err("files tracked by git, for the ping token (out of time)".into());
        }
        let path = root.join(&name);
        let small =
            fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() < 4 * 1024 * 1024);
        if small
            && fsutil::read_regular(&path)
                .is_ok_and(|b| secrets.iter().any(|s| contains(&b, s.as_bytes())))
        {
            found.push(env.show(&path));
        }
    }
    Ok(found)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
