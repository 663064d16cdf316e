//! What doctor reads, gathered without judging it: settings layers, hook entries, the
//! output of telemhq's own hook command, files tracked by git.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::claude::hooks::{self, ShapeError};
use crate::claude::settings::{self, ReadError};
use crate::cli::DoctorArgs;
use crate::env::{Env, git_root};

pub use crate::claude::settings::Layer as LayerName;

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
        let parsed = match settings::load(&path) {
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
                    layer.value = settings::parse_strict(&text).ok();
                    layer.text = Some(text);
                }
                layer.problem = Some(LayerProblem::Read(err));
                None
            }
        };
        if let Some(value) = parsed.or(layer.value.take()) {
            match hooks::check_shape(&value) {
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
pub struct Ran {
    pub stdout: Vec<u8>,
    /// Stopped at the time limit, not finished.
    pub timed_out: bool,
}

/// Runs a command with its own process group, stdin and stderr on /dev/null, keeping at
/// most `limit` bytes of its output and stopping it (with everything it started) after
/// `timeout` or once it has printed `limit` bytes: a hook link pointed at `yes`, or a
/// command that sleeps, never holds doctor up or fills its memory.
pub fn run_bounded(mut cmd: Command, timeout: Duration, limit: u64) -> Option<Ran> {
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
pub fn probe(cmd: &str, env: &Env) -> Option<(String, String)> {
    debug_assert!(hooks::is_telemhq_command(cmd));
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
pub fn claude_version() -> Option<(PathBuf, String)> {
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
pub fn loose_files(dir: &Path) -> Vec<PathBuf> {
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
pub fn tracked_files_with(secrets: &[String], env: &Env) -> Vec<String> {
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

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
