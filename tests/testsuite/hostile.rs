//! Hostile input, races and odd endpoints: links, FIFOs and foreign files where telemhq
//! expects its own, damaged records, redirects, plain http. One test per rule.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::doctor::check;
use crate::support::{Mode, Receiver, TestHome, fixture, stderr, stdout};

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        out.push(path.display().to_string());
        if entry.file_type().unwrap().is_dir() {
            out.extend(tree(&path));
        }
    }
    out.sort();
    out
}

fn doctor_json(t: &TestHome, extra: &[&str]) -> Value {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&stdout(&t.run(&args))).unwrap()
}

#[test]
fn install_refuses_a_hooks_folder_that_is_a_link_and_changes_nothing() {
    let t = TestHome::new();
    let shared = t.dir.path().join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir_all(t.claude_dir()).unwrap();
    symlink(&shared, t.claude_dir().join("hooks")).unwrap();
    let out = t.run(&["install", "--global"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a link"), "{}", stderr(&out));
    assert_eq!(
        fs::metadata(&shared).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert!(
        tree(&shared).is_empty(),
        "nothing written into the shared folder"
    );
    assert!(!t.global_settings().exists(), "settings untouched");
    // emit refuses it too: nothing lands in the shared folder.
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    assert!(tree(&shared).is_empty());
}

#[test]
fn install_refuses_a_hooks_folder_that_is_a_file() {
    let t = TestHome::new();
    fs::create_dir_all(t.claude_dir()).unwrap();
    let hooks = t.claude_dir().join("hooks");
    fs::write(&hooks, "mine").unwrap();
    fs::set_permissions(&hooks, fs::Permissions::from_mode(0o644)).unwrap();
    let out = t.run(&["install", "--global"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a file"), "{}", stderr(&out));
    assert_eq!(
        fs::metadata(&hooks).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert!(!t.global_settings().exists());
}

#[test]
fn a_queue_folder_that_is_a_link_is_never_followed_or_emptied() {
    let t = TestHome::new();
    let receiver = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let elsewhere = t.dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("precious.json"), "{}").unwrap();
    let queue = t.state_dir().join("queue");
    let _ = fs::remove_dir_all(&queue);
    symlink(&elsewhere, &queue).unwrap();
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    let out = t.run(&["flush"]);
    assert!(elsewhere.join("precious.json").exists());
    assert_eq!(tree(&elsewhere).len(), 1, "nothing written there");
    assert!(stdout(&out).contains("is a link"), "{}", stdout(&out));
    let report = doctor_json(&t, &[]);
    assert_eq!(check(&report, "folder.hooks")["status"], "fail");
}

#[test]
fn a_queue_folder_replaced_by_a_file_is_reported() {
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        "https://telemhq.example/ping/tok_5f4e3d2c1b0a",
    ]);
    let queue = t.state_dir().join("queue");
    let _ = fs::remove_dir_all(&queue);
    fs::write(&queue, "").unwrap();
    fs::set_permissions(&queue, fs::Permissions::from_mode(0o644)).unwrap();
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    assert_eq!(
        fs::metadata(&queue).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let report = doctor_json(&t, &[]);
    let c = check(&report, "folder.hooks");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(c["message"].as_str().unwrap().contains("is a file"));
    let human = stdout(&t.run(&["doctor"]));
    assert!(!human.contains("pings will arrive"), "{human}");
}

#[test]
fn plain_http_to_another_host_is_never_contacted() {
    // From the hook's environment: the event was emitted for that URL, which can never be
    // contacted, so it fails for good, saying why.
    let t = TestHome::new()
        .env(
            "TELEMHQ_PING_URL",
            "http://telemhq.example/ping/tok_5f4e3d2c1b0a",
        )
        .env("TELEMHQ_HOOK_DEBUG", "1");
    let t0 = crate::support::now_ms();
    let out = t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    assert!(stderr(&out).contains("must use https"), "{}", stderr(&out));
    t.wait_sender_idle(Some(t0));
    let log = stdout(&t.run(&["log"]));
    assert!(
        log.contains("failed") && log.contains("must use https"),
        "{log}"
    );
    let report = doctor_json(&t, &["--ping"]);
    let ping = check(&report, "ping");
    assert!(
        ping["message"]
            .as_str()
            .unwrap()
            .contains("no test ping sent"),
        "{ping:#}"
    );
    // A config edited by hand: the event was emitted for that tracker; it fails for good
    // and nothing is sent.
    let t = TestHome::new();
    t.install(&["--global"]);
    let config = t.state_dir().join("config.json");
    let mut doc: Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    doc["ping_url"] = json!("http://telemhq.example/ping/tok_5f4e3d2c1b0a");
    fs::write(&config, doc.to_string()).unwrap();
    let t0 = crate::support::now_ms();
    t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
    t.wait_sender_idle(Some(t0));
    let log = stdout(&t.run(&["log"]));
    assert!(
        log.contains("failed") && log.contains("must use https"),
        "{log}"
    );
    let report = doctor_json(&t, &[]);
    assert_eq!(check(&report, "ping_url")["status"], "fail");
}

#[test]
fn a_redirect_is_an_answer_not_a_delivery() {
    for status in [301, 308] {
        let t = TestHome::new();
        let receiver = Receiver::start(Mode::Redirect(status));
        t.install(&["--global", "--ping-url", &receiver.url()]);
        t.run_with_stdin(&["emit"], fixture("Stop.json").as_bytes());
        let failed = t.state_dir().join("failed");
        crate::support::wait_until(Duration::from_secs(20), || {
            fs::read_dir(&failed).is_ok_and(|d| d.count() == 1)
        });
        // Not delivered, not retried: one request, the event failed for good, and log
        // says where the redirect pointed, without the token.
        assert_eq!(receiver.pings().len(), 1);
        let log = stdout(&t.run(&["log"]));
        assert!(log.contains("failed"), "{log}");
        assert!(
            log.contains("redirects to https://elsewhere.example"),
            "{log}"
        );
        assert!(!log.contains("1234567890"), "the token is masked: {log}");
        // (The sender settles the event, then records it in the local store: done when
        // it lets go of its lock.)
        t.wait_sender_idle(None);
        assert!(stdout(&t.run(&["flush"])).contains("Nothing pending"));
        assert_eq!(receiver.pings().len(), 1);
    }
}

#[test]
fn a_users_hooks_that_mention_telemhq_survive_install_and_uninstall() {
    let t = TestHome::new();
    let doc = json!({"hooks": {"Stop": [
        {"hooks": [{"type": "command", "command": "echo \"telemhq emit check\" >> ~/notes.log"}]},
        {"hooks": [{"type": "command", "command": "cd ~/src/telemhq && make emit"}]}
    ]}});
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    t.write_global(&text);
    t.install(&["--global"]);
    let after: Value =
        serde_json::from_str(&fs::read_to_string(t.global_settings()).unwrap()).unwrap();
    assert_eq!(after["hooks"]["Stop"].as_array().unwrap().len(), 3);
    assert!(t.run(&["uninstall", "--global"]).status.success());
    assert_eq!(fs::read_to_string(t.global_settings()).unwrap(), text);
}

#[test]
fn empty_containers_with_whitespace_come_back_byte_for_byte() {
    for text in [
        "{\n}\n",
        "{ }",
        "{\n  \"hooks\": {\n  }\n}\n",
        "{\n  \"hooks\": {\n    \"Stop\": [\n    ]\n  }\n}\n",
    ] {
        let t = TestHome::new();
        t.write_global(text);
        t.install(&["--global", "--tool-activity"]);
        assert!(t.run(&["uninstall", "--global"]).status.success());
        assert_eq!(fs::read_to_string(t.global_settings()).unwrap(), text);
    }
}

#[test]
fn concurrent_installs_never_lose_a_stored_ping_url() {
    for _ in 0..3 {
        let t = TestHome::new();
        t.install(&["--global"]);
        let url = "https://telemhq.example/ping/tok_5f4e3d2c1b0a9988";
        let children: Vec<_> = (0..6)
            .map(|i| {
                let mut args = vec!["install", "--global"];
                if i == 3 {
                    args.extend(["--ping-url", url]);
                }
                t.cmd(&args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let config: Value =
            serde_json::from_str(&fs::read_to_string(t.state_dir().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["ping_url"], url);
    }
}

#[test]
fn a_users_own_file_where_the_hook_link_goes_is_never_replaced() {
    let t = TestHome::new();
    let link = t.claude_dir().join("hooks/telemhq");
    fs::create_dir_all(link.parent().unwrap()).unwrap();
    fs::set_permissions(link.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(&link, "#!/bin/sh\necho mine\n").unwrap();
    let out = t.run(&["install", "--global"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not the link telemhq makes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(&link).unwrap(), "#!/bin/sh\necho mine\n");
    assert!(!t.global_settings().exists());
}

#[test]
fn a_transcript_that_is_a_fifo_never_wedges_the_sender() {
    let t = TestHome::new();
    let receiver = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let fifo = t.dir.path().join("transcript.jsonl");
    mkfifo(&fifo);
    let mut event: Value = serde_json::from_str(&fixture("Stop.json")).unwrap();
    event["transcript_path"] = json!(fifo.display().to_string());
    t.run_with_stdin(&["emit"], event.to_string().as_bytes());
    t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
    assert_eq!(receiver.wait_for(2, Duration::from_secs(20)).len(), 2);
}

#[test]
fn a_large_tool_event_keeps_the_fields_written_after_the_tool_output() {
    let t = TestHome::new();
    let big = "x".repeat(5 * 1024 * 1024);
    let event = format!(
        r#"{{"hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_input":{{"command":"{big}"}},"tool_use_id":"toolu_01ABC","error":"Exit code 2\nsecret","duration_ms":1234,"is_interrupt":false}}"#
    );
    let out = t.run_with_stdin(&["emit", "--print"], event.as_bytes());
    let payload: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["tool_use_id"], "toolu_01ABC");
    assert_eq!(payload["duration_ms"], 1234);
    assert_eq!(payload["error"], "exit_code_2");
}

#[test]
fn a_fifo_as_settings_file_is_refused_not_waited_on() {
    let t = TestHome::new();
    fs::create_dir_all(t.claude_dir()).unwrap();
    mkfifo(&t.global_settings());
    for args in [&["install", "--global"][..], &["uninstall", "--global"]] {
        let out = t.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("FIFO"), "{}", stderr(&out));
    }
    let report = doctor_json(&t, &[]);
    assert_eq!(check(&report, "claude.global")["status"], "fail");
}

#[test]
fn a_closed_pipe_ends_log_quietly() {
    let t = TestHome::new();
    t.install(&["--global"]);
    for _ in 0..30 {
        t.run_with_stdin(&["emit"], fixture("SessionStart.json").as_bytes());
    }
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{} log | head -1", crate::support::BIN)])
        .env("HOME", &t.home)
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn flush_before_any_install_is_not_busy() {
    let t = TestHome::new();
    let out = t.run(&["flush"]);
    assert!(
        !stdout(&out).contains("background sender"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Nothing pending"), "{}", stdout(&out));
}

#[test]
fn a_bad_byte_gets_the_same_verdict_from_install_and_doctor() {
    let t = TestHome::new();
    fs::create_dir_all(t.claude_dir()).unwrap();
    fs::write(t.global_settings(), b"{\"model\": \"op\xffus\"}\n").unwrap();
    let out = t.run(&["install", "--global"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Claude Code reads the file"),
        "{}",
        stderr(&out)
    );
    let report = doctor_json(&t, &[]);
    let c = check(&report, "settings.claude.global");
    assert_eq!(c["status"], "warn", "{c:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("Claude Code reads the file")
    );
}

#[test]
fn a_relative_claude_config_dir_is_refused() {
    let t = TestHome::new().env("CLAUDE_CONFIG_DIR", "relative/claude");
    let out = t.run(&["install", "--global"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("relative path"), "{}", stderr(&out));
    assert!(!t.repo.join("relative").exists());
}

#[test]
fn root_writing_another_users_settings_keeps_its_owner() {
    if !rustix::process::geteuid().is_root() {
        crate::support::cannot_run(
            "this test",
            "it gives a file to another user, which only root can",
            "run the suite as root, as CI does",
        );
    }
    let t = TestHome::new();
    t.write_global("{\"model\": \"opus\"}\n");
    std::os::unix::fs::chown(t.global_settings(), Some(1234), Some(1234)).unwrap();
    t.install(&["--global"]);
    let meta = fs::metadata(t.global_settings()).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 1234));
}

#[test]
fn a_damaged_install_record_is_explained_and_uninstall_still_works() {
    let t = TestHome::new();
    t.write_global("{\"model\": \"opus\"}\n");
    t.install(&["--global"]);
    let record = t.state_dir().join("installs.json");
    fs::write(&record, "{\n\u{1}").unwrap();
    let out = t.run(&["install", "--global", "--tool-activity"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is damaged"), "{}", stderr(&out));
    assert!(stderr(&out).contains("mv "), "{}", stderr(&out));
    let report = doctor_json(&t, &[]);
    assert_eq!(check(&report, "install_record")["status"], "fail");
    let out = t.run(&["uninstall", "--global"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = fs::read_to_string(t.global_settings()).unwrap();
    assert!(!after.contains("telemhq"), "{after}");
    assert_eq!(
        fs::read_to_string(&record).unwrap(),
        "{\n\u{1}",
        "left as it was"
    );
}

#[test]
fn a_token_in_the_query_is_found_and_masked() {
    let token = "tok_0a1b2c3d4e5f6a7b8c9d";
    let url = format!("https://telemhq.example/ping?token={token}");
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &url]);
    fs::write(t.repo.join("notes.txt"), format!("url: {url}\n")).unwrap();
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&t.repo)
        .status()
        .unwrap();
    std::process::Command::new("git")
        .args(["add", "notes.txt"])
        .current_dir(&t.repo)
        .status()
        .unwrap();
    let out = t.run(&["doctor", "--json"]);
    let text = stdout(&out);
    assert!(!text.contains(token), "the token was printed");
    let report: Value = serde_json::from_str(&text).unwrap();
    let c = check(&report, "token.exposed");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(c["message"].as_str().unwrap().contains("notes.txt"));
}

#[test]
fn repo_and_local_installs_leave_no_empty_folder_behind() {
    for order in [["--repo", "--local"], ["--local", "--repo"]] {
        let t = TestHome::new();
        t.install(&["--repo"]);
        t.install(&["--local"]);
        for scope in order {
            assert!(t.run(&["uninstall", scope]).status.success());
        }
        assert!(!t.repo.join(".claude").exists(), "{order:?}");
    }
}

#[test]
fn install_through_a_dangling_link_is_undone_completely() {
    let t = TestHome::new();
    let target_root = t.dir.path().join("dotfiles");
    fs::create_dir_all(t.claude_dir()).unwrap();
    symlink(
        target_root.join("claude/conf/settings.json"),
        t.global_settings(),
    )
    .unwrap();
    t.install(&["--global"]);
    assert!(target_root.join("claude/conf/settings.json").exists());
    assert!(t.run(&["uninstall", "--global"]).status.success());
    assert!(!target_root.exists(), "{:?}", tree(t.dir.path()));
}

#[test]
fn a_sender_stuck_far_past_its_lifetime_is_reported() {
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--ping-url",
        "https://telemhq.example/ping/tok_5f4e3d2c1b0a",
    ]);
    let lock_path = t.state_dir().join("sender.lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    fs::write(&lock_path, "4242 1000000000000").unwrap(); // held since 2001
    let report = doctor_json(&t, &[]);
    let c = check(&report, "sender.stuck");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(c["fix"].as_str().unwrap().contains("kill 4242"), "{c:#}");
    drop(lock);
    let report = doctor_json(&t, &[]);
    assert!(!report.to_string().contains("sender.stuck"));
}

#[test]
fn a_record_from_the_first_release_still_removes_the_folder_it_made() {
    let t = TestHome::new();
    t.install(&["--repo"]);
    // The first release recorded only `created_dir: true`.
    let path = t.state_dir().join("installs.json");
    let mut records: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    for record in records.as_object_mut().unwrap().values_mut() {
        let record = record.as_object_mut().unwrap();
        record.remove("created_dirs");
        record.insert("created_dir".into(), json!(true));
    }
    fs::write(&path, records.to_string()).unwrap();
    t.install(&["--global"]); // rewrites the record file
    assert!(t.run(&["uninstall", "--repo"]).status.success());
    assert!(!t.repo.join(".claude").exists());
}
