//! Shared test harness: a temporary HOME with a git repository, the telemhq binary run
//! as a user would run it, and a loopback ping receiver that can misbehave.

/// One test per agent for a scenario `fn NAME(agent: &'static dyn Agent)` of the module
/// it is invoked in: a module `NAME` with a test per agent, so that each agent's failure
/// shows by its name (`conformance::the_per_agent_tests_name_every_agent` keeps the list
/// whole).
macro_rules! for_each_agent {
    // A scenario for some agents only: `for_each_agent!(NAME for claude, codex)`.
    ($scenario:ident for $($agent:ident),+ $(,)?) => {
        mod $scenario {
            use super::$scenario as scenario;
            $(
                #[test]
                fn $agent() {
                    scenario(telemhq::agents::by_id(stringify!($agent)).unwrap())
                }
            )+
        }
    };
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                use super::$scenario as scenario;
                fn agent(id: &str) -> &'static dyn telemhq::agents::Agent {
                    telemhq::agents::by_id(id).unwrap()
                }
                #[test] fn claude() { scenario(agent("claude")) }
                #[test] fn codex() { scenario(agent("codex")) }
                #[test] fn gemini() { scenario(agent("gemini")) }
                #[test] fn copilot() { scenario(agent("copilot")) }
                #[test] fn qwen() { scenario(agent("qwen")) }
                #[test] fn droid() { scenario(agent("droid")) }
                #[test] fn cursor() { scenario(agent("cursor")) }
            }
        )+
    };
}

pub mod mock_api;
pub mod mock_models;
pub mod mock_responses;
pub mod tls;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_telemhq");

/// The command of a pinned agent CLI from npm (tests/e2e/agent-cli.sh, installed once
/// per test run). Where it cannot be installed, a local run skips loudly (None); with
/// CI=true that is a failure.
pub fn npm_agent(agent: &str) -> Option<PathBuf> {
    static BINS: Mutex<Vec<(String, Option<PathBuf>)>> = Mutex::new(Vec::new());
    let mut bins = BINS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, bin)) = bins.iter().find(|(a, _)| a == agent) {
        return bin.clone();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/agent-cli.sh");
    let bin = match Command::new("bash").arg(script).arg(agent).output() {
        Ok(o) if o.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            cannot_run(
                &format!("the {agent} end-to-end tests"),
                &why,
                &format!(
                    "tests/e2e/agent-cli.sh {agent} installs it (it needs npm and the npm registry)"
                ),
            )
        }
    };
    bins.push((agent.to_string(), bin.clone()));
    bin
}

/// A test that cannot run fails, with what it needs and how to get it: it is never
/// counted as passed (nor skipped in silence), with CI=true or without.
pub fn cannot_run(what: &str, why: &str, how: &str) -> ! {
    panic!("{what} cannot run: {} ({how})", why.trim())
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(data("claude-code-2.1.328").join(name)).unwrap()
}

/// A temporary HOME (with `~/.claude`) and a git repository inside it.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub repo: PathBuf,
    pub envs: Vec<(String, String)>,
}

impl TestHome {
    pub fn new() -> TestHome {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let repo = home.join("projects/api");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        TestHome {
            dir,
            home,
            repo,
            envs: Vec::new(),
        }
    }

    pub fn claude_dir(&self) -> PathBuf {
        self.home.join(".claude")
    }

    pub fn global_settings(&self) -> PathBuf {
        self.claude_dir().join("settings.json")
    }

    pub fn repo_settings(&self) -> PathBuf {
        self.repo.join(".claude/settings.json")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.claude_dir().join("hooks/telemhq.d")
    }

    pub fn write_global(&self, text: &str) {
        std::fs::create_dir_all(self.claude_dir()).unwrap();
        std::fs::write(self.global_settings(), text).unwrap();
    }

    pub fn env(mut self, key: &str, value: &str) -> TestHome {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// `program` with this HOME, run from the repository, with a clean environment.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.repo)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .env("TELEMHQ_RETRY_BASE_MS", "50")
            .env("TELEMHQ_RETRY_MAX_MS", "200")
            .env("TELEMHQ_SENDER_LIFETIME_MS", "60000")
            .env("TELEMHQ_TRANSCRIPT_SETTLE_MS", "200")
            // The machine's own managed settings must not change what tests see.
            .env(
                "TELEMHQ_MANAGED_SETTINGS",
                self.dir.path().join("managed-settings.json"),
            );
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// An agent's CLI with this HOME, run from the repository, with a clean environment
    /// whose PATH has only the system's folders and Node.js (the npm CLIs run on it).
    pub fn agent_cmd(&self, program: &Path) -> Command {
        let mut cmd = self.command(&program.to_string_lossy());
        let node_dir = ["/usr/local/bin", "/usr/bin"]
            .into_iter()
            .find(|d| Path::new(d).join("node").exists())
            .map(str::to_string)
            .or_else(|| {
                let out = Command::new("sh")
                    .args(["-c", "command -v node"])
                    .output()
                    .ok()?;
                let node = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                Some(node.parent()?.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "/usr/bin".into());
        cmd.env("PATH", format!("{node_dir}:/usr/bin:/bin"))
            .stdin(Stdio::null());
        cmd
    }

    /// telemhq with this HOME, run from the repository, with a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(BIN);
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        // Write from a thread: emit may stop reading at its bound.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out
    }

    /// Runs telemhq on a pseudo-terminal (util-linux `script`), typing `keys` one piece at
    /// a time as a person would. Returns everything the terminal showed.
    pub fn on_terminal(&self, args: &str, keys: &[&str]) -> String {
        let mut cmd = self.command("script");
        cmd.args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
            .env("TERM", "xterm")
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for key in keys {
            std::thread::sleep(Duration::from_millis(800));
            stdin.write_all(key.as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until no background sender holds the delivery lock (one that started after
    /// `since_ms`, when given, has run and finished): then nothing more is sent by itself.
    pub fn wait_sender_idle(&self, since_ms: Option<i64>) {
        // The detached sender holds `sender.life` for its whole run (and writes when it
        // started into it); the destinations' locks only while it delivers.
        let life = self.state_dir().join("sender.life");
        let locks = ["sender.life", "sender.lock", "export.lock"].map(|l| self.state_dir().join(l));
        wait_until(Duration::from_secs(30), || {
            let ran = since_ms.is_none_or(|t0| {
                std::fs::read_to_string(&life)
                    .ok()
                    .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
                    .is_some_and(|since| since >= t0)
            });
            let free = locks.iter().all(|l| {
                std::fs::File::open(l).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                    || std::fs::File::open(l).is_ok_and(|f| f.try_lock_shared().is_ok())
            });
            ran && free
        });
    }

    /// A hook command as Claude Code runs it: `/bin/sh -c`, no login profile, a PATH
    /// without telemhq, in the repository, in a process group of its own, stdin piped.
    pub fn hook_shell(&self, command: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", command])
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .current_dir(&self.repo)
            .stdin(Stdio::piped())
            .process_group(0);
        cmd
    }

    pub fn install(&self, args: &[&str]) -> Output {
        let mut all = vec!["install"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Status(u16),
    /// Answer 429 with `Retry-After: N` seconds.
    RetryAfter(u64),
    /// Read the request, never answer.
    Hang,
    /// Close the connection without answering.
    Reset,
    /// Answer with this redirect status, pointing at another path on this receiver.
    Redirect(u16),
}

/// One ping the receiver answered.
#[derive(Debug, Clone)]
pub struct Ping {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl Ping {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback ping endpoint. Dropping it stops answering new connections.
pub struct Receiver {
    pub port: u16,
    pub mode: Arc<Mutex<Mode>>,
    pub pings: Arc<Mutex<Vec<Ping>>>,
    /// Every byte received, including requests not answered.
    pub raw: Arc<Mutex<Vec<u8>>>,
    /// Connections accepted.
    pub connections: Arc<Mutex<usize>>,
    stop: Arc<Mutex<bool>>,
}

/// A loopback port that nothing listens on (for "the endpoint is down"), each one once
/// per run. Taken below the kernel's ephemeral range: a receiver (port 0) or an outgoing
/// connection never gets it, so a sender that keeps retrying it never reaches another
/// test's receiver.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let ephemeral_from: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (low, high) = (
        ephemeral_from.saturating_sub(12000).max(1024),
        ephemeral_from,
    );
    let start = low + (std::process::id() % 1000) as u16 * 8;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < high, "no free port left below {high}");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Receiver {
    pub fn start(mode: Mode) -> Receiver {
        Receiver::start_on(0, mode)
    }

    pub fn start_on(port: u16, mode: Mode) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            port,
            mode: Arc::new(Mutex::new(mode)),
            pings: Arc::default(),
            raw: Arc::default(),
            connections: Arc::default(),
            stop: Arc::default(),
        };
        let connections = r.connections.clone();
        let (mode, pings, raw, stop) = (
            r.mode.clone(),
            r.pings.clone(),
            r.raw.clone(),
            r.stop.clone(),
        );
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            loop {
                if *stop.lock().unwrap() {
                    return;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        *connections.lock().unwrap() += 1;
                        let (mode, pings, raw) = (mode.clone(), pings.clone(), raw.clone());
                        std::thread::spawn(move || serve(stream, mode, pings, raw));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ping/tok_9f8e7d6c5b4a3921", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn pings(&self) -> Vec<Ping> {
        self.pings.lock().unwrap().clone()
    }

    /// Answered pings with a 2xx status.
    pub fn delivered(&self) -> Vec<serde_json::Value> {
        self.pings()
            .iter()
            .filter(|p| p.answered < 300)
            .map(Ping::json)
            .collect()
    }

    /// Waits until `n` pings were delivered, or the time is up.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let got = self.delivered();
            if got.len() >= n || start.elapsed() > within {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
    }
}

/// One HTTP/1.1 request as the test servers see it.
pub struct Request {
    pub line: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one request (Content-Length bodies only); None at the end of the connection.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        line,
        method,
        path,
        headers,
        body,
    })
}

fn serve(
    stream: TcpStream,
    mode: Arc<Mutex<Mode>>,
    pings: Arc<Mutex<Vec<Ping>>>,
    raw: Arc<Mutex<Vec<u8>>>,
) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    while let Some(Request {
        line: request_line,
        path,
        headers,
        body,
        ..
    }) = read_request(&mut reader)
    {
        {
            let mut all = raw.lock().unwrap();
            all.extend_from_slice(request_line.as_bytes());
            for (k, v) in &headers {
                all.extend_from_slice(format!("{k}: {v}\n").as_bytes());
            }
            all.extend_from_slice(&body);
        }
        let current = *mode.lock().unwrap();
        let status = match current {
            Mode::Hang => {
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            Mode::Reset => return,
            Mode::Ok => 200,
            Mode::Status(s) => s,
            Mode::RetryAfter(_) => 429,
            Mode::Redirect(s) => s,
        };
        pings.lock().unwrap().push(Ping {
            path,
            headers,
            body,
            answered: status,
        });
        let retry_after = match current {
            Mode::RetryAfter(secs) => format!("retry-after: {secs}\r\n"),
            Mode::Redirect(_) => {
                "location: https://elsewhere.example/ping/tok_moved_1234567890\r\n".into()
            }
            _ => String::new(),
        };
        let reply = format!("HTTP/1.1 {status} X\r\n{retry_after}content-length: 2\r\n\r\nOK");
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Waits until `done` holds, checking every 20 ms; panics after `within`.
pub fn wait_until(within: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "not done within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Now, in unix milliseconds (to compare with what the sender writes).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The `event` of each ping, sorted.
pub fn events(pings: &[serde_json::Value]) -> Vec<String> {
    let mut e: Vec<String> = pings
        .iter()
        .map(|p| p["event"].as_str().unwrap_or("?").to_string())
        .collect();
    e.sort();
    e
}

/// Listens on a free loopback port and hands each connection to `serve` on a thread of
/// its own, for the mock model APIs. Returns the port.
/// Writes a JSON answer with its length (the connection stays open); false when the
/// client has gone.
pub fn reply_json(out: &mut TcpStream, status: u16, body: &serde_json::Value) -> bool {
    let text = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        text.len()
    );
    out.write_all(head.as_bytes()).is_ok() && out.write_all(text.as_bytes()).is_ok()
}

pub fn serve_on_loopback(serve: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

/// One of doctor's checks by id, from `doctor --json`.
pub fn doctor_check(t: &TestHome, id: &str) -> serde_json::Value {
    let out = t.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no check {id}: {report:#}"))
}

/// Every entry telemhq's queue holds or keeps in its history (queue, sent, failed).
pub fn queue_history(t: &TestHome) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for dir in ["queue", "sent", "failed"] {
        let Ok(entries) = std::fs::read_dir(t.state_dir().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(v) = serde_json::from_slice(&std::fs::read(e.path()).unwrap_or_default()) {
                out.push(v);
            }
        }
    }
    out
}

/// Whether a process has a handler for `signal` (its SigCgt mask in /proc).
pub fn catches(pid: u32, signal: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let mask = s
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))?
                .trim()
                .to_string();
            u64::from_str_radix(&mask, 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

/// A process's children, by /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}
