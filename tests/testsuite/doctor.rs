//! `telemhq doctor`: one test per check, each on a broken setup in a temporary HOME.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{Mode, Receiver, TestHome, fixture, free_port, stdout};
use serde_json::{Value, json};

const TOKEN: &str = "tok_5f4e3d2c1b0a99887766";

fn url() -> String {
    format!("https://telemhq.example/ping/{TOKEN}")
}

fn healthy() -> TestHome {
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &url()]);
    t
}

/// Runs doctor --json; returns the exit code and the checks by id.
fn doctor(t: &TestHome, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    let out = t.run(&args);
    let text = stdout(&out);
    assert!(!text.contains(TOKEN), "the token was printed: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap(), v, text)
}

pub(crate) fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn assert_check(report: &Value, id: &str, status: &str, says: &str, fix: Option<&str>) {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{c:#}");
    assert!(c["message"].as_str().unwrap().contains(says), "{id}: {c:#}");
    if let Some(fix) = fix {
        assert!(
            c["fix"].as_str().unwrap_or("").contains(fix),
            "{id} fix: {c:#}"
        );
    }
}

fn redact(t: &TestHome, text: &str) -> String {
    let mut s = text
        .replace(&t.dir.path().display().to_string(), "[TMP]")
        .replace(crate::support::BIN, "[BIN]");
    s = s.replace(env!("CARGO_PKG_VERSION"), "[VERSION]");
    s
}

#[test]
fn a_healthy_setup_passes_and_its_output_is_stable() {
    let t = healthy();
    let (code, report, json_text) = doctor(&t, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["fail"], 0);
    let human = stdout(&t.run(&["doctor"]));
    assert!(!human.contains('\x1b'), "no colour without a terminal");
    assert!(
        human.trim_end().ends_with("pings will arrive.") || human.contains("No problems"),
        "{human}"
    );
    insta::assert_snapshot!("healthy_human", redact(&t, &human));
    insta::assert_snapshot!("healthy_json", redact(&t, &json_text));
}

#[test]
fn nothing_installed_fails_and_says_to_install() {
    let t = TestHome::new();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "hooks.installed",
        "fail",
        "not installed",
        Some("telemhq install --global"),
    );
    let human = stdout(&t.run(&["doctor"]));
    insta::assert_snapshot!("nothing_installed_human", redact(&t, &human));
}

#[test]
fn a_file_that_is_not_strict_json_is_located_and_explained() {
    let t = healthy();
    let text =
        fs::read_to_string(t.global_settings())
            .unwrap()
            .replacen('{', "{\n  // a comment", 1);
    fs::write(t.global_settings(), text).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    let path = t.global_settings().display().to_string();
    assert_check(
        &report,
        "claude.global",
        "fail",
        &format!("{path}:2:3: comments are not allowed"),
        Some(&format!("{path}:2:3")),
    );
    assert_check(&report, "claude.global", "fail", "silently ignores", None);
}

#[test]
fn a_wrong_shape_names_the_json_path() {
    let t = healthy();
    fs::write(
        t.global_settings(),
        r#"{"hooks": {"Stop": [{"matcher": "*"}]}}"#,
    )
    .unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "hooks.Stop[0].hooks",
        None,
    );
}

#[test]
fn a_missing_entry_or_a_wrong_matcher_is_reported_with_its_fix() {
    let t = healthy();
    let mut doc: Value =
        serde_json::from_str(&fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    doc["hooks"]
        .as_object_mut()
        .unwrap()
        .shift_remove("StopFailure");
    fs::write(t.global_settings(), doc.to_string()).unwrap();
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "no StopFailure entry",
        Some("telemhq install --agent claude --global"),
    );

    let t = TestHome::new();
    t.install(&["--global", "--tool-activity", "--ping-url", &url()]);
    let mut doc: Value =
        serde_json::from_str(&fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    doc["hooks"]["PostToolUse"][0]["matcher"] = json!("Read");
    fs::write(t.global_settings(), doc.to_string()).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "PostToolUse has matcher \"Read\", expected \"Bash|Edit|MultiEdit|Write\"",
        Some("telemhq install --agent claude --global"),
    );
}

#[test]
fn hooks_switched_off_follow_claude_codes_precedence() {
    let t = healthy();
    let mut doc: Value =
        serde_json::from_str(&fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    doc["disableAllHooks"] = json!(true);
    fs::write(t.global_settings(), doc.to_string()).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "disableAllHooks\": true in user settings",
        Some("remove \"disableAllHooks\""),
    );
    // A project `false` switches them back on for this folder.
    fs::create_dir_all(t.repo.join(".claude")).unwrap();
    fs::write(t.repo_settings(), r#"{"disableAllHooks": false}"#).unwrap();
    let (_, report, _) = doctor(&t, &[]);
    assert_check(&report, "claude.global", "ok", "reaches this telemhq", None);
}

#[test]
fn managed_hooks_only_is_reported() {
    let t = healthy();
    let managed = t.dir.path().join("managed-settings.json");
    fs::write(&managed, r#"{"allowManagedHooksOnly": true}"#).unwrap();
    let t = t.env("TELEMHQ_MANAGED_SETTINGS", managed.to_str().unwrap());
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "allowManagedHooksOnly",
        Some("administrator"),
    );
}

#[test]
fn a_hook_that_only_mentions_telemhq_is_reported_and_never_run() {
    // A cloned repository's settings: Claude Code runs none of its hooks until the
    // folder is trusted, and doctor must run none of them at all.
    let t = healthy();
    let marker = t.dir.path().join("PWNED");
    let hostile = format!("id > {}; sleep 30; telemhq emit", marker.display());
    repo_stop_hook(&t, &hostile);
    let started = std::time::Instant::now();
    let (_, report, _) = doctor(&t, &[]);
    assert!(
        !marker.exists(),
        "doctor ran a command that is not telemhq's own"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
    // Beside telemhq's own Stop hook in the user settings: each turn would count twice.
    assert_check(
        &report,
        "command.foreign.claude.repo",
        "fail",
        "with a command telemhq did not write",
        Some("remove that entry"),
    );
}

#[test]
fn the_hook_probe_is_bounded_in_time_and_output() {
    let t = healthy();
    let link = t.claude_dir().join("hooks/telemhq");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/usr/bin/yes", &link).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "does not reach telemhq",
        Some("telemhq install --agent claude --global"),
    );
}

#[test]
fn a_link_to_a_binary_that_is_gone_is_found() {
    let t = healthy();
    let link = t.claude_dir().join("hooks/telemhq");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(t.dir.path().join("old/telemhq"), &link).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "claude.global",
        "fail",
        "no longer exists",
        Some("telemhq install --agent claude --global"),
    );
}

#[test]
fn the_hook_command_is_run_and_reaches_this_telemhq() {
    let t = healthy();
    let (_, report, _) = doctor(&t, &[]);
    assert_check(&report, "claude.global", "ok", "reaches this telemhq", None);
    // The probe emitted nothing.
    assert!(
        !t.state_dir().join("queue").exists()
            || fs::read_dir(t.state_dir().join("queue"))
                .unwrap()
                .next()
                .is_none()
    );
}

/// Writes the repository's settings with one Stop hook running `command`.
fn repo_stop_hook(t: &TestHome, command: &str) {
    fs::create_dir_all(t.repo.join(".claude")).unwrap();
    fs::write(
        t.repo_settings(),
        json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": command}]}]}})
            .to_string(),
    )
    .unwrap();
}

#[test]
fn a_second_telemhq_command_in_another_layer_would_ping_twice() {
    let t = healthy();
    let link = t.claude_dir().join("hooks/telemhq");
    repo_stop_hook(&t, &format!("{} emit", link.display()));
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "command.foreign.claude.repo",
        "fail",
        "is counted twice",
        Some("telemhq install --agent claude --repo"),
    );
    // --global alone looks at the user layer only.
    let (_, report, _) = doctor(&t, &["--global"]);
    assert!(
        !report.to_string().contains("command.foreign"),
        "{report:#}"
    );
}

#[test]
fn the_first_releases_command_in_another_layer_is_reported_with_its_fix() {
    let t = healthy();
    let first_release = r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true"#;
    let pings_once = |t: &TestHome| {
        let (_, report, _) = doctor(t, &[]);
        assert_check(
            &report,
            "command.duplicates",
            "ok",
            "each event pings once",
            None,
        );
    };
    pings_once(&t);
    repo_stop_hook(&t, first_release);
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "command.duplicates",
        "warn",
        "each event pings twice",
        Some("telemhq install --agent claude --repo"),
    );
    t.install(&["--repo"]);
    pings_once(&t);
}

#[test]
fn a_readable_hooks_folder_and_loose_files_are_failures() {
    let t = healthy();
    fs::set_permissions(
        t.claude_dir().join("hooks"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::set_permissions(
        t.state_dir().join("config.json"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "folder.hooks",
        "fail",
        "mode 755",
        Some("chmod 700"),
    );
    assert_check(
        &report,
        "files.private",
        "fail",
        "config.json",
        Some("chmod -R go-rwx"),
    );
}

#[test]
fn a_missing_or_bad_ping_url_is_a_failure() {
    // No tracker at all is using telemhq without an account (see attack3): not a failure.
    let t = TestHome::new();
    t.install(&["--global"]);
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 0);
    assert_check(&report, "ping_url", "info", "stays on this machine", None);
    let t = t.env(
        "TELEMHQ_PING_URL",
        "https://telemhq.example/ping/YOUR_TRACKING_TOKEN",
    );
    let (_, report, _) = doctor(&t, &[]);
    assert_check(&report, "ping_url", "fail", "placeholder", None);
    let t = TestHome::new().env(
        "TELEMHQ_PING_URL",
        "http://telemhq.example/ping/abcdefghijk",
    );
    let (_, report, _) = doctor(&t, &[]);
    assert_check(&report, "ping_url", "fail", "https", None);
}

#[test]
fn a_token_in_a_settings_file_or_a_tracked_file_is_found() {
    let t = healthy();
    let mut doc: Value =
        serde_json::from_str(&fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    doc["env"] = json!({"TELEMHQ_PING_URL": url()});
    fs::write(t.global_settings(), doc.to_string()).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "token.exposed",
        "fail",
        "settings.json",
        Some("rotate the token"),
    );

    let t = healthy();
    fs::remove_dir_all(t.repo.join(".git")).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&t.repo)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    fs::write(
        t.repo.join("deploy.sh"),
        format!("curl -X POST {}\n", url()),
    )
    .unwrap();
    git(&["add", "deploy.sh"]);
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(&report, "token.exposed", "fail", "deploy.sh", None);
}

#[test]
fn delivery_problems_are_reported() {
    let receiver = Receiver::start(Mode::Status(403));
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &receiver.url()]);
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    crate::support::wait_until(std::time::Duration::from_secs(10), || {
        t.state_dir()
            .join("failed")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    });
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "queue.failed",
        "fail",
        "HTTP 403",
        Some("wrong or revoked"),
    );

    let port = free_port();
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        &format!("http://127.0.0.1:{port}/p/tok_123456789"),
    ]);
    // An event queued an hour ago that has not gone out.
    t.cmd(&["flush"]).output().unwrap();
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    // The sender has read the usage into the entry and failed once: the entry is ours now.
    crate::support::wait_until(std::time::Duration::from_secs(10), || {
        t.state_dir().join("last-error.json").exists()
    });
    let queued = fs::read_dir(t.state_dir().join("queue"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut entry: Value = serde_json::from_slice(&fs::read(&queued).unwrap()).unwrap();
    entry["queued_at"] = json!("2020-01-01T00:00:00.000Z");
    fs::write(&queued, entry.to_string()).unwrap();
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "queue.pending",
        "warn",
        "1 event(s) waiting; the oldest since 2020-01-01",
        Some("telemhq flush"),
    );
    assert_check(&report, "last_error", "warn", "connection refused", None);
}

#[test]
fn dropped_events_are_reported() {
    let t = healthy();
    fs::write(
        t.state_dir().join("dropped.json"),
        r#"{"total": 7, "unreported": 0}"#,
    )
    .unwrap();
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "queue.dropped",
        "warn",
        "7 ping(s), 0 export(s)",
        None,
    );
}

#[test]
fn the_last_delivered_ping_is_shown() {
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &receiver.url()]);
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    receiver.wait_for(1, std::time::Duration::from_secs(30));
    t.wait_sender_idle(None);
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "last_delivered",
        "ok",
        "last ping delivered at 20",
        None,
    );
}

#[test]
fn a_test_ping_reports_the_answer_and_explains_it() {
    for (mode, status, says) in [
        (Mode::Ok, "ok", "HTTP 200"),
        (Mode::Status(404), "fail", "wrong or its token was revoked"),
        (Mode::Status(503), "fail", "problem on its side"),
    ] {
        let receiver = Receiver::start(mode);
        let t = TestHome::new();
        t.install(&["--global", "--ping-url", &receiver.url()]);
        let (_, report, text) = doctor(&t, &["--ping"]);
        assert_check(&report, "ping", status, says, None);
        assert!(!text.contains("tok_9f8e7d6c5b4a3921"), "token printed");
        let ping = receiver.pings().into_iter().last().unwrap().json();
        assert_eq!(
            (ping["event"].as_str(), ping["status"].as_str()),
            (Some("doctor"), Some("test"))
        );
    }
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        &format!("http://127.0.0.1:{}/p/tok_123456789", free_port()),
    ]);
    let (code, report, _) = doctor(&t, &["--ping"]);
    assert_eq!(code, 1);
    assert_check(&report, "ping", "fail", "could not be reached", None);
}

#[test]
fn doctor_changes_no_file() {
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &receiver.url()]);
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    crate::support::wait_until(std::time::Duration::from_secs(10), || {
        t.state_dir()
            .join("sent")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    });
    t.wait_sender_idle(None);
    let snapshot = |root: &std::path::Path| {
        use sha2::Digest;
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            let meta = fs::symlink_metadata(&p).unwrap();
            let content = if meta.is_file() {
                telemhq::hex(&sha2::Sha256::digest(fs::read(&p).unwrap()))
            } else {
                String::new()
            };
            out.push(format!(
                "{} {:o} {:?} {content}",
                p.display(),
                meta.permissions().mode(),
                meta.modified().unwrap()
            ));
            if meta.is_dir() {
                stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
        out.sort();
        out
    };
    let before = snapshot(t.dir.path());
    t.run(&["doctor"]);
    t.run(&["doctor", "--json"]);
    let after = snapshot(t.dir.path());
    let changed: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(
        changed.is_empty() && before.len() == after.len(),
        "doctor changed: {changed:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let t = TestHome::new();
    assert_eq!(
        t.run(&["doctor", "--global", "--repo"]).status.code(),
        Some(2)
    );
    assert_eq!(t.run(&["doctor", "--bogus"]).status.code(), Some(2));
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let t = TestHome::new();
    let screen = t.on_terminal("doctor", &[]);
    assert!(
        screen.contains("\x1b[31m✗"),
        "a failure is red on a terminal: {screen}"
    );
    assert!(screen.contains("\x1b[32m✓"), "{screen}");
    let t = t.env("NO_COLOR", "1");
    let screen = t.on_terminal("doctor", &[]);
    assert!(
        screen.contains("✗") && !screen.contains("\x1b["),
        "NO_COLOR: {screen}"
    );
    assert!(
        !stdout(&t.run(&["doctor"])).contains('\x1b'),
        "no colour without a terminal"
    );
}

#[test]
fn the_claude_code_version_is_reported() {
    let t = healthy();
    let bin = t.dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(
        bin.join("claude"),
        "#!/bin/sh\necho '2.1.328 (Claude Code)'\n",
    )
    .unwrap();
    fs::set_permissions(bin.join("claude"), fs::Permissions::from_mode(0o755)).unwrap();
    let t = t.env("PATH", &format!("{}:/usr/bin:/bin", bin.display()));
    let (_, report, _) = doctor(&t, &[]);
    assert_check(
        &report,
        "claude",
        "info",
        "Claude Code 2.1.328 (Claude Code) at",
        None,
    );
}

#[test]
fn the_python_hook_left_beside_telemhq_is_reported() {
    let t = healthy();
    let mut doc: Value =
        serde_json::from_str(&fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    doc["hooks"]["Stop"].as_array_mut().unwrap().push(json!({"hooks": [{"type": "command", "command": "python3 ~/.claude/hooks/telemhq_ping.py"}]}));
    fs::write(t.global_settings(), doc.to_string()).unwrap();
    let (code, report, _) = doctor(&t, &[]);
    assert_eq!(code, 0, "a warning, not a failure");
    assert_check(
        &report,
        "command.seed_hook",
        "warn",
        "ping twice",
        Some("telemhq_ping.py"),
    );
}
