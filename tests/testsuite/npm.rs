//! The npm packages, as a user without Rust gets telemhq: `templates/npm/pack.sh` builds
//! the launcher package and this platform's binary package from the binary under test;
//! they install offline into a fresh prefix; the launcher runs the binary; the hooks run
//! the native binary itself (never the launcher); uninstalling the npm packages leaves a
//! clear doctor message and a hook that still never fails the agent.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{BIN, Mode, Receiver, TestHome, fixture, stderr, stdout};

/// npm, or None (a loud skip; with CI=true a failure).
fn npm() -> Option<()> {
    let ok = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        crate::support::cannot_run(
            "the npm package tests",
            "npm is not installed",
            "install Node.js and npm (Debian: apt-get install nodejs npm)",
        );
    }
    Some(())
}

/// The tarballs, built by pack.sh from the release binary CI built
/// (`TELEMHQ_NPM_BINARY`), else from the binary under test.
fn pack(out: &Path) -> Vec<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/npm/pack.sh");
    let binary = std::env::var("TELEMHQ_NPM_BINARY").unwrap_or_else(|_| BIN.to_string());
    let run = Command::new("bash")
        .arg(script)
        .arg(out)
        .arg(binary)
        .output()
        .unwrap();
    assert!(run.status.success(), "pack.sh: {}", stderr(&run));
    let mut tarballs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    tarballs.sort();
    tarballs
}

#[test]
fn npm_packages_install_offline_and_the_hooks_run_the_native_binary() {
    if npm().is_none() {
        return;
    }
    let t = TestHome::new();
    let out = t.dir.path().join("tarballs");
    let tarballs = pack(&out);
    let names: Vec<String> = tarballs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        names,
        [
            format!("telemhq-{version}.tgz"),
            format!("telemhq-linux-x64-{version}.tgz")
        ]
    );
    let prefix = t.dir.path().join("prefix");
    std::fs::create_dir_all(&prefix).unwrap();
    let install = Command::new("npm")
        .args([
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .arg("--prefix")
        .arg(&prefix)
        .args(&tarballs)
        .env("npm_config_cache", t.dir.path().join("npm-cache"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "npm install: {}",
        stderr(&install)
    );
    let launcher = prefix.join("node_modules/.bin/telemhq");
    let page = std::fs::read_to_string(prefix.join("node_modules/telemhq/man/telemhq.1")).unwrap();
    assert!(page.contains(".TH telemhq 1"), "the manual page ships");
    let native =
        std::fs::canonicalize(prefix.join("node_modules/@telemhq/linux-x64/bin/telemhq")).unwrap();

    let run = |args: &[&str]| {
        let mut c = Command::new(&launcher);
        c.args(args)
            .current_dir(&t.repo)
            .env_clear()
            .env("HOME", &t.home)
            .env("PATH", format!("{}:/usr/bin:/bin", node_dir()));
        c.output().unwrap()
    };
    let v = run(&["--version"]);
    assert_eq!(
        stdout(&v).trim(),
        format!("telemhq {version}"),
        "{}",
        stderr(&v)
    );
    std::fs::create_dir_all(t.home.join(".gemini")).unwrap();
    let dry = run(&["install", "--agent", "all", "--global", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stderr(&dry).contains("Gemini CLI"), "{}", stderr(&dry));

    let r = Receiver::start(Mode::Ok);
    let installed = run(&["install", "--global", "--ping-url", &r.url()]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    // The hook link points at the native binary, not the JavaScript launcher.
    let link = t.claude_dir().join("hooks/telemhq");
    assert_eq!(std::fs::canonicalize(&link).unwrap(), native);
    // A hook as Claude Code runs it, through the link.
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    let command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    let hook = |t: &TestHome| {
        use std::io::Write;
        let mut child = t
            .hook_shell(&command)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // (A hook whose binary is gone exits before it reads: the pipe may break.)
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(fixture("Stop.json").as_bytes());
        child.wait().unwrap()
    };
    assert!(hook(&t).success());
    r.wait_for(1, Duration::from_secs(20));
    assert_eq!(r.pings().len(), 1);

    // The npm packages go: the hook still never fails the agent, and doctor says why
    // nothing arrives and how to fix it.
    let removed = Command::new("npm")
        .args([
            "uninstall",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .arg("--prefix")
        .arg(&prefix)
        .args(["telemhq", "@telemhq/linux-x64"])
        .env("npm_config_cache", t.dir.path().join("npm-cache"))
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(!native.exists());
    assert!(
        hook(&t).success(),
        "a hook whose binary is gone never fails the agent"
    );
    let doctor = t.run(&["doctor"]);
    let said = stdout(&doctor);
    assert!(said.contains("no longer exists"), "{said}");
    assert!(said.contains("telemhq install"), "{said}");
}

/// Run from npm's cache (`npx`), install gives the hooks a copy of the binary in
/// telemhq's own folder: npm may clear its cache.
#[test]
fn run_from_the_npx_cache_the_hooks_get_a_lasting_copy() {
    let t = TestHome::new();
    let cache = t
        .dir
        .path()
        .join("npm/_npx/abc123/node_modules/@telemhq/linux-x64/bin");
    std::fs::create_dir_all(&cache).unwrap();
    let exe = cache.join("telemhq");
    std::fs::copy(BIN, &exe).unwrap();
    let out = Command::new(&exe)
        .args(["install", "--global"])
        .current_dir(&t.repo)
        .env_clear()
        .env("HOME", &t.home)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("package manager's cache"),
        "{}",
        stderr(&out)
    );
    let target = std::fs::read_link(t.claude_dir().join("hooks/telemhq")).unwrap();
    assert!(target.starts_with(t.state_dir()), "{}", target.display());
    std::fs::remove_dir_all(t.dir.path().join("npm")).unwrap();
    assert!(
        t.claude_dir().join("hooks/telemhq").exists(),
        "the copy stays"
    );
}

/// npm installs of the packed tarballs, offline, into `prefix`.
fn npm_install(t: &TestHome, prefix: &Path, args: &[&str], tarballs: &[PathBuf]) {
    std::fs::create_dir_all(prefix).unwrap();
    let install = Command::new("npm")
        .args([
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .args(args)
        .arg("--prefix")
        .arg(prefix)
        .args(tarballs)
        .env("npm_config_cache", t.dir.path().join("npm-cache"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "npm install: {}",
        stderr(&install)
    );
}

/// A signal to the launcher (a cancelled CI step) reaches telemhq and the job it runs:
/// nothing is left as an orphan, and the launcher exits as telemhq did. The launcher
/// runs only the platform package installed with it, never one of a parent folder's.
#[test]
fn the_launcher_forwards_signals_and_runs_only_its_own_binary() {
    if npm().is_none() {
        return;
    }
    let t = TestHome::new();
    let tarballs = pack(&t.dir.path().join("tarballs"));
    let prefix = t.dir.path().join("prefix");
    npm_install(&t, &prefix, &[], &tarballs);
    let launcher = prefix.join("node_modules/.bin/telemhq");
    let pidfile = t.dir.path().join("job.pid");
    let job = format!("echo $$ > '{}'; exec sleep 60", pidfile.display());
    let mut child = Command::new(&launcher)
        .args(["run", "--flush-timeout", "1", "--", "/bin/sh", "-c", &job])
        .current_dir(&t.repo)
        .env_clear()
        .env("HOME", &t.home)
        .env("PATH", format!("{}:/usr/bin:/bin", node_dir()))
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|p| !p.trim().is_empty())
    });
    let job_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.code() == Some(143) || status.signal() == Some(15),
        "the launcher exits as telemhq did: {status:?}"
    );
    crate::support::wait_until(Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{job_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{job_pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
    });

    // The launcher alone, under a folder whose node_modules has someone else's binary.
    let nested = t.dir.path().join("outer/inner");
    let foreign = t.dir.path().join("outer/node_modules/@telemhq/linux-x64");
    std::fs::create_dir_all(foreign.join("bin")).unwrap();
    std::fs::write(
        foreign.join("package.json"),
        format!(
            r#"{{"name":"@telemhq/linux-x64","version":"{}"}}"#,
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
    let fake = foreign.join("bin/telemhq");
    std::fs::write(&fake, "#!/bin/sh\necho FOREIGN_BINARY_RAN\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    npm_install(&t, &nested, &["--omit=optional"], &tarballs[..1]);
    let out = Command::new(nested.join("node_modules/.bin/telemhq"))
        .arg("--version")
        .env("PATH", format!("{}:/usr/bin:/bin", node_dir()))
        .output()
        .unwrap();
    assert!(
        !stdout(&out).contains("FOREIGN_BINARY_RAN"),
        "{}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no native binary"),
        "{}",
        stderr(&out)
    );
}

fn node_dir() -> String {
    ["/usr/local/bin", "/usr/bin"]
        .into_iter()
        .find(|d| Path::new(d).join("node").exists())
        .map(str::to_string)
        .unwrap_or_else(|| "/usr/bin".into())
}
