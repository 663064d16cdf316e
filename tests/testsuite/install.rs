//! `telemhq install` and `uninstall`, one test per rule, each in a temporary HOME.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{Mode, Receiver, TestHome, stderr, stdout};
use serde_json::Value;

const COMMAND: &str =
    r#"trap '' TERM HUP; "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true"#;
/// What the first release installed.
const FIRST_RELEASE_COMMAND: &str =
    r#""${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true"#;

const USER_SETTINGS: &str = r#"{
    "model": "opus",
    "permissions": {
        "allow": ["Bash(ls:*)"]
    },
    "hooks": {
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": "notify-send done"
                    }
                ]
            }
        ]
    },
    "zzz": "last key stays last"
}"#;

fn read(path: &std::path::Path) -> String {
    fs::read_to_string(path).unwrap()
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// All telemhq handlers of an event.
fn telemhq_handlers(doc: &Value, event: &str) -> Vec<Value> {
    doc["hooks"][event]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["hooks"].as_array().unwrap().clone())
        .filter(|h| h["command"].as_str().is_some_and(|c| c.contains("telemhq")))
        .collect()
}

#[test]
fn global_install_writes_the_user_settings() {
    let t = TestHome::new();
    t.install(&["--global"]);
    let doc = json(&t.global_settings());
    assert_eq!(telemhq_handlers(&doc, "Stop").len(), 1);
    assert_eq!(telemhq_handlers(&doc, "StopFailure").len(), 1);
    assert!(doc["hooks"].get("PostToolUse").is_none());
    insta::assert_snapshot!("fresh_global_settings", read(&t.global_settings()));
}

#[test]
fn global_install_follows_claude_config_dir() {
    let t = TestHome::new();
    let custom = t.dir.path().join("custom-claude");
    let t = t.env("CLAUDE_CONFIG_DIR", custom.to_str().unwrap());
    t.install(&["--global"]);
    assert!(custom.join("settings.json").exists());
    assert!(
        custom.join("hooks/telemhq").exists(),
        "the hook link lives in the config dir"
    );
    assert!(!t.global_settings().exists());
}

#[test]
fn repo_install_finds_the_repository_root_from_a_subfolder() {
    let t = TestHome::new();
    let sub = t.repo.join("src/deep");
    fs::create_dir_all(&sub).unwrap();
    let out = t
        .cmd(&["install", "--repo"])
        .current_dir(&sub)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(t.repo_settings().exists());
    assert!(!sub.join(".claude").exists());
}

#[test]
fn local_install_writes_the_personal_project_file() {
    let t = TestHome::new();
    t.install(&["--local"]);
    assert!(t.repo.join(".claude/settings.local.json").exists());
    assert!(!t.repo_settings().exists());
}

#[test]
fn repo_install_outside_a_repository_is_a_clear_error() {
    let t = TestHome::new();
    let outside = t.dir.path().join("not-a-repo");
    fs::create_dir_all(&outside).unwrap();
    let out = t
        .cmd(&["install", "--repo"])
        .current_dir(&outside)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not inside a git repository"),
        "{}",
        stderr(&out)
    );
    assert!(!outside.join(".claude").exists());
}

#[test]
fn no_scope_without_a_terminal_is_a_usage_error_and_writes_nothing() {
    let t = TestHome::new();
    let out = t.run(&["install"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--global"), "{}", stderr(&out));
    assert!(!t.claude_dir().exists());
}

#[test]
fn tool_activity_adds_the_tool_blocks_with_their_matchers() {
    let t = TestHome::new();
    t.install(&["--global", "--tool-activity"]);
    let doc = json(&t.global_settings());
    let groups = |e: &str| doc["hooks"][e].as_array().unwrap().clone();
    assert_eq!(
        groups("PostToolUse")[0]["matcher"],
        "Bash|Edit|MultiEdit|Write"
    );
    assert_eq!(groups("PostToolUseFailure")[0]["matcher"], "*");
    assert_eq!(groups("StopFailure")[0]["matcher"], "*");
    for e in ["Stop", "StopFailure", "PostToolUse", "PostToolUseFailure"] {
        let h = &groups(e)[0]["hooks"][0];
        assert_eq!(h["type"], "command");
        assert_eq!(h["command"], COMMAND);
        assert!(
            h["timeout"].as_u64().is_some_and(|s| s > 0 && s <= 30),
            "{e} has a timeout in seconds"
        );
    }
}

#[test]
fn install_again_without_the_flag_keeps_tool_activity_and_no_flag_removes_it() {
    let t = TestHome::new();
    t.install(&["--global", "--tool-activity"]);
    let with_tools = read(&t.global_settings());
    let out = t.install(&["--global"]);
    assert_eq!(read(&t.global_settings()), with_tools);
    assert!(stderr(&out).contains("already up to date"));
    t.install(&["--global", "--no-tool-activity"]);
    let doc = json(&t.global_settings());
    assert!(
        doc["hooks"].get("PostToolUse").is_none(),
        "the array install created is gone"
    );
    assert!(doc["hooks"].get("PostToolUseFailure").is_none());
    assert_eq!(telemhq_handlers(&doc, "Stop").len(), 1);
}

#[test]
fn the_command_is_identical_in_every_scope_and_holds_no_home_path() {
    let t = TestHome::new();
    t.install(&["--global", "--tool-activity"]);
    t.install(&["--repo", "--tool-activity"]);
    let home = t.home.to_str().unwrap();
    let repo_text = read(&t.repo_settings());
    assert!(
        !repo_text.contains(home),
        "a committed file must not name this user's home"
    );
    for path in [t.global_settings(), t.repo_settings()] {
        let doc = json(&path);
        for e in ["Stop", "StopFailure", "PostToolUse", "PostToolUseFailure"] {
            assert_eq!(telemhq_handlers(&doc, e)[0]["command"], COMMAND);
        }
    }
}

#[test]
fn the_installed_command_reaches_telemhq_without_the_users_path() {
    let receiver = Receiver::start(Mode::Ok);
    let t = TestHome::new();
    t.install(&["--global", "--ping-url", &receiver.url()]);
    let doc = json(&t.global_settings());
    let command = telemhq_handlers(&doc, "Stop")[0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    let mut child = t
        .hook_shell(&command)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(crate::support::fixture("Stop.json").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let got = receiver.wait_for(1, std::time::Duration::from_secs(30));
    assert_eq!(
        got.len(),
        1,
        "the ping arrived through the installed command"
    );
    assert_eq!(got[0]["event"], "Stop");
}

/// A settings file as the first release left it: its command in Stop and StopFailure.
fn first_release_settings() -> String {
    let handler = serde_json::json!([{"hooks": [
        {"type": "command", "command": FIRST_RELEASE_COMMAND, "timeout": 5}
    ]}]);
    serde_json::to_string_pretty(&serde_json::json!({
        "model": "opus",
        "hooks": {"Stop": handler, "StopFailure": handler}
    }))
    .unwrap()
}

#[test]
fn install_over_the_first_releases_command_puts_todays_in_its_place() {
    let t = TestHome::new();
    t.write_global(&first_release_settings());
    t.install(&["--global"]);
    let doc = json(&t.global_settings());
    for e in ["Stop", "StopFailure"] {
        let handlers = telemhq_handlers(&doc, e);
        assert_eq!(handlers.len(), 1, "{e}: one handler, not two: {doc:#}");
        assert_eq!(handlers[0]["command"], COMMAND);
    }
}

#[test]
fn uninstall_removes_the_first_releases_command_too() {
    let t = TestHome::new();
    t.write_global(&first_release_settings());
    let out = t.run(&["uninstall", "--global"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&t.global_settings());
    for e in ["Stop", "StopFailure"] {
        assert!(telemhq_handlers(&doc, e).is_empty(), "{doc:#}");
    }
    assert_eq!(doc["model"], "opus");
}

#[test]
fn the_hooks_folder_is_private_and_a_loose_one_is_tightened() {
    let t = TestHome::new();
    fs::create_dir_all(t.claude_dir().join("hooks")).unwrap();
    fs::set_permissions(
        t.claude_dir().join("hooks"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let out = t.install(&[
        "--global",
        "--ping-url",
        "https://telemhq.example/ping/abcdefghijkl",
    ]);
    assert_eq!(mode(&t.claude_dir().join("hooks")), 0o700);
    assert!(stderr(&out).contains("Tightened"), "{}", stderr(&out));
    assert_eq!(mode(&t.state_dir()), 0o700);
    assert_eq!(mode(&t.state_dir().join("config.json")), 0o600);
    let again = t.install(&["--global"]);
    assert!(!stderr(&again).contains("Tightened"));
}

#[test]
fn the_ping_url_is_stored_privately_and_never_in_settings_nor_printed_in_full() {
    let t = TestHome::new();
    let token = "tok_5f4e3d2c1b0a99887766";
    let url = format!("https://telemhq.example/ping/{token}");
    let out = t.install(&["--global", "--ping-url", &url]);
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!printed.contains(token), "{printed}");
    assert!(printed.contains("tok_"), "a masked URL is shown: {printed}");
    assert!(!read(&t.global_settings()).contains(token));
    let config = json(&t.state_dir().join("config.json"));
    assert_eq!(config["ping_url"], url);
}

#[test]
fn the_ping_url_can_come_from_the_environment() {
    let t = TestHome::new().env(
        "TELEMHQ_PING_URL",
        "https://telemhq.example/ping/fromenv123456",
    );
    t.install(&["--global"]);
    let config = json(&t.state_dir().join("config.json"));
    assert_eq!(
        config["ping_url"],
        "https://telemhq.example/ping/fromenv123456"
    );
}

#[test]
fn bad_ping_urls_are_refused_and_nothing_is_written() {
    for (url, says) in [
        (
            "https://telemhq.example/ping/YOUR_TRACKING_TOKEN",
            "placeholder",
        ),
        (
            "<the ping URL of your TelemHQ job>",
            "a ping URL starts with https://",
        ),
        (
            "telemhq.example/ping/abc",
            "a ping URL starts with https:// — copy it",
        ),
        ("", "a ping URL starts with https://"),
        ("http://telemhq.example/ping/abc", "https"),
        ("not a url", "no https:// in front"),
        ("https://", "a ping URL starts with https://"),
    ] {
        let t = TestHome::new();
        t.write_global(USER_SETTINGS);
        let out = t.run(&["install", "--global", "--ping-url", url]);
        assert!(!out.status.success(), "{url}");
        assert!(stderr(&out).contains(says), "{url}: {}", stderr(&out));
        assert_eq!(read(&t.global_settings()), USER_SETTINGS);
        assert!(!t.claude_dir().join("hooks").exists());
    }
}

#[test]
fn without_a_ping_url_hooks_are_installed_and_it_says_events_stay_local() {
    let t = TestHome::new();
    let out = t.install(&["--global"]);
    assert!(
        stderr(&out).contains("events are kept on this machine (`telemhq report`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        telemhq_handlers(&json(&t.global_settings()), "Stop").len(),
        1
    );
}

#[test]
fn everything_else_in_the_file_stays_as_it_was() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    fs::set_permissions(t.global_settings(), fs::Permissions::from_mode(0o640)).unwrap();
    t.install(&["--global"]);
    let text = read(&t.global_settings());
    let doc: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<_> = doc.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["model", "permissions", "hooks", "zzz"],
        "key order kept"
    );
    assert_eq!(
        doc["hooks"]["Stop"][0]["hooks"][0]["command"], "notify-send done",
        "other hooks kept"
    );
    assert!(
        text.contains("\"allow\": [\"Bash(ls:*)\"]"),
        "untouched parts keep their exact bytes"
    );
    assert!(
        text.contains("\n                        \"command\": \"trap"),
        "4-space indentation followed"
    );
    assert!(!text.ends_with('\n'), "no trailing newline added");
    assert_eq!(mode(&t.global_settings()), 0o640, "mode kept");
    insta::assert_snapshot!("merged_user_settings", text);
}

#[test]
fn tab_indentation_is_followed() {
    let t = TestHome::new();
    t.write_global("{\n\t\"model\": \"opus\"\n}\n");
    t.install(&["--global"]);
    let text = read(&t.global_settings());
    assert!(
        text.starts_with("{\n\t\"model\": \"opus\",\n\t\"hooks\": {\n\t\t\"Stop\": ["),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
}

#[test]
fn a_second_identical_run_changes_nothing_and_says_so() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    t.install(&["--global", "--tool-activity"]);
    let first = read(&t.global_settings());
    let backups = fs::read_dir(t.state_dir().join("backups")).unwrap().count();
    let out = t.install(&["--global", "--tool-activity"]);
    assert_eq!(read(&t.global_settings()), first);
    assert!(stderr(&out).contains("already up to date"));
    assert_eq!(
        fs::read_dir(t.state_dir().join("backups")).unwrap().count(),
        backups,
        "no new backup"
    );
}

#[test]
fn a_symlinked_settings_file_is_updated_through_the_link() {
    let t = TestHome::new();
    let dotfiles = t.dir.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    fs::write(dotfiles.join("claude.json"), "{}\n").unwrap();
    fs::create_dir_all(t.claude_dir()).unwrap();
    std::os::unix::fs::symlink(dotfiles.join("claude.json"), t.global_settings()).unwrap();
    t.install(&["--global"]);
    assert!(
        fs::symlink_metadata(t.global_settings())
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
    assert_eq!(
        telemhq_handlers(&json(&dotfiles.join("claude.json")), "Stop").len(),
        1
    );
}

#[test]
fn the_backup_is_kept_in_the_private_folder_not_beside_the_file() {
    let t = TestHome::new();
    fs::create_dir_all(t.repo.join(".claude")).unwrap();
    fs::write(t.repo_settings(), "{\"model\": \"x\"}\n").unwrap();
    let out = t.install(&["--repo"]);
    let beside: Vec<_> = fs::read_dir(t.repo.join(".claude"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        beside,
        ["settings.json"],
        "nothing else next to a committed file"
    );
    let backups: Vec<_> = fs::read_dir(t.state_dir().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(read(&backups[0]), "{\"model\": \"x\"}\n");
    assert_eq!(mode(&backups[0]), 0o600);
    assert!(stderr(&out).contains("previous version is kept"));
}

#[test]
fn eight_concurrent_installs_leave_exactly_one_entry_per_event() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let args: &[&str] = if i % 2 == 0 {
                &["install", "--global", "--tool-activity"]
            } else {
                &["install", "--global"]
            };
            t.cmd(args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let doc = json(&t.global_settings());
    for e in ["Stop", "StopFailure", "PostToolUse", "PostToolUseFailure"] {
        assert_eq!(telemhq_handlers(&doc, e).len(), 1, "{e}");
    }
    assert_eq!(
        doc["hooks"]["Stop"][0]["hooks"][0]["command"],
        "notify-send done"
    );
}

#[test]
fn dry_run_shows_the_change_and_changes_nothing_at_all() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    let out = t.run(&[
        "install",
        "--global",
        "--tool-activity",
        "--dry-run",
        "--ping-url",
        "https://telemhq.example/ping/abcdefghijkl",
    ]);
    assert!(out.status.success());
    assert_eq!(read(&t.global_settings()), USER_SETTINGS);
    assert!(!t.claude_dir().join("hooks").exists(), "not even folders");
    let shown = stdout(&out)
        .replace(t.home.to_str().unwrap(), "[HOME]")
        .replace(crate::support::BIN, "[BIN]");
    assert!(!shown.contains("abcdefghijkl"));
    insta::assert_snapshot!("dry_run_preview", shown);
}

#[test]
fn uninstall_gives_back_the_original_bytes() {
    for original in [
        USER_SETTINGS,
        "{}",
        "{\n\t\"a\": 1\n}\n",
        "{\"compact\":true,\"hooks\":{}}",
        "{\r\n  \"crlf\": \"é\"\r\n}\r\n",
    ] {
        let t = TestHome::new();
        t.write_global(original);
        t.install(&["--global", "--tool-activity"]);
        assert_ne!(read(&t.global_settings()), original);
        let out = t.run(&["uninstall", "--global"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(read(&t.global_settings()), original);
    }
}

#[test]
fn uninstall_removes_a_file_that_install_created() {
    let t = TestHome::new();
    t.install(&["--repo", "--tool-activity"]);
    assert!(t.repo_settings().exists());
    let out = t.run(&["uninstall", "--repo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!t.repo_settings().exists());
    assert!(
        !t.repo.join(".claude").exists(),
        "the folder install created is gone too"
    );
}

#[test]
fn uninstall_keeps_changes_made_in_between() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    t.install(&["--global"]);
    let mut doc = json(&t.global_settings());
    doc["theme"] = "dark".into();
    doc["hooks"]["StopFailure"][0]["hooks"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "command", "command": "mine"}));
    fs::write(
        t.global_settings(),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    t.run(&["uninstall", "--global"]);
    let after = json(&t.global_settings());
    assert_eq!(after["theme"], "dark");
    assert_eq!(
        after["hooks"]["StopFailure"][0]["hooks"],
        serde_json::json!([{"type": "command", "command": "mine"}])
    );
    assert!(telemhq_handlers(&after, "Stop").is_empty());
    assert_eq!(
        after["hooks"]["Stop"][0]["hooks"][0]["command"],
        "notify-send done"
    );
}

#[test]
fn uninstall_dry_run_changes_nothing() {
    let t = TestHome::new();
    t.install(&["--global"]);
    let before = read(&t.global_settings());
    let out = t.run(&["uninstall", "--global", "--dry-run"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("-            \"hooks\"") || stdout(&out).contains("telemhq"),
        "{}",
        stdout(&out)
    );
    assert_eq!(read(&t.global_settings()), before);
}

#[test]
fn files_that_are_not_strict_json_get_a_located_error_and_stay_untouched() {
    let cases = [
        (
            "{\n  // my comment\n  \"a\": 1\n}\n",
            ":2:3: comments are not allowed",
        ),
        ("{\n  \"a\": 1,\n}\n", ":3:1: trailing comma"),
        ("\u{feff}{\"a\": 1}", ":1:1: starts with a byte-order mark"),
        ("{\n  \"a\": [1, 2", ":2:12: the file ends too early"),
    ];
    for (text, says) in cases {
        let t = TestHome::new();
        t.write_global(text);
        for args in [&["install", "--global"][..], &["uninstall", "--global"][..]] {
            let out = t.run(args);
            assert_eq!(out.status.code(), Some(1), "{text:?}");
            let err = stderr(&out);
            let expected = format!("{}{says}", t.global_settings().display());
            assert!(
                err.contains(&expected),
                "{text:?}: wanted {expected:?} in {err}"
            );
            assert!(err.contains("Claude Code silently ignores"), "{err}");
            assert_eq!(read(&t.global_settings()), text);
            assert!(!t.claude_dir().join("hooks").exists());
        }
    }
}

#[test]
fn wrong_shapes_name_the_json_path() {
    for (text, path) in [
        (r#"{"hooks": []}"#, "at hooks:"),
        (r#"{"hooks": {"Stop": {"command": "x"}}}"#, "at hooks.Stop:"),
        (
            r#"{"hooks": {"Stop": [{"matcher": "*"}]}}"#,
            "at hooks.Stop[0].hooks:",
        ),
        (r#"[1, 2]"#, "at (the top level):"),
    ] {
        let t = TestHome::new();
        t.write_global(text);
        let out = t.run(&["install", "--global"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(path), "{text}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&t.global_settings().display().to_string()),
            "names the file: {}",
            stderr(&out)
        );
        assert_eq!(read(&t.global_settings()), text);
    }
}

#[test]
fn an_unreadable_settings_path_names_the_path_and_why() {
    let t = TestHome::new();
    fs::create_dir_all(t.global_settings()).unwrap(); // a folder where the file should be
    let out = t.run(&["install", "--global"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot read {}", t.global_settings().display())),
        "{err}"
    );
}

#[test]
fn a_missing_home_folder_is_named() {
    let t = TestHome::new();
    let gone = t.dir.path().join("no-such-home");
    let out = t
        .cmd(&["install", "--global"])
        .env("HOME", &gone)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "your home folder {} does not exist",
            gone.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!gone.exists());
}

#[test]
fn an_unwritable_folder_names_the_path_and_leaves_the_file() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    // A file where the private hooks folder must go: creating it fails for everyone, root included.
    fs::write(t.claude_dir().join("hooks"), "not a folder").unwrap();
    let out = t.run(&["install", "--global"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&t.claude_dir().join("hooks").display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(&t.global_settings()), USER_SETTINGS);
}

#[test]
fn a_write_by_someone_else_during_install_is_kept() {
    // Claude Code (or an editor) rewrites the file while install is between its read and
    // its write: install notices, plans again on the new content, and nothing is lost.
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    let child = t
        .cmd(&["install", "--global"])
        .env("TELEMHQ_TEST_PAUSE_BEFORE_WRITE_MS", "600")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The backup is written just before the pause: install is between read and write now.
    let backups = t.state_dir().join("backups");
    crate::support::wait_until(std::time::Duration::from_secs(10), || {
        fs::read_dir(&backups).is_ok_and(|mut d| d.next().is_some())
    });
    let mut doc = json(&t.global_settings());
    doc["theme"] = "dark".into();
    let tmp = t.claude_dir().join("other-writer.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    fs::rename(&tmp, t.global_settings()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let after = json(&t.global_settings());
    assert_eq!(after["theme"], "dark", "the other writer's change survived");
    assert_eq!(telemhq_handlers(&after, "Stop").len(), 1);
    assert_eq!(telemhq_handlers(&after, "StopFailure").len(), 1);
}

#[test]
fn on_a_terminal_install_shows_the_change_and_asks_first() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    let screen = t.on_terminal(
        "install --global --ping-url https://telemhq.example/ping/abcdefghijkl",
        &["n"],
    );
    assert!(
        screen.contains("+                        \"type\": \"command\","),
        "the diff is shown: {screen}"
    );
    assert!(
        screen.contains("Write these changes to ~/.claude/settings.json?"),
        "{screen}"
    );
    assert!(screen.contains("Nothing was changed"), "{screen}");
    assert_eq!(read(&t.global_settings()), USER_SETTINGS);
    assert!(!t.claude_dir().join("hooks").exists());

    let screen = t.on_terminal(
        "install --global --ping-url https://telemhq.example/ping/abcdefghijkl",
        &["y"],
    );
    assert!(
        screen.contains("Updated ~/.claude/settings.json"),
        "{screen}"
    );
    assert_eq!(
        telemhq_handlers(&json(&t.global_settings()), "Stop").len(),
        1
    );
}

#[test]
fn on_a_terminal_the_ping_url_is_asked_for_without_echo() {
    let t = TestHome::new();
    let token = "tok_0a1b2c3d4e5f6a7b";
    let url = format!("https://telemhq.example/ping/{token}");
    let screen = t.on_terminal("install --global", &[&format!("{url}\r"), "y"]);
    assert!(screen.contains("TelemHQ ping URL"), "{screen}");
    assert!(
        !screen.contains(token),
        "the typed token was shown: {screen}"
    );
    assert_eq!(json(&t.state_dir().join("config.json"))["ping_url"], url);
}

/// A second install on a terminal keeps the scope's tracker without asking again.
#[test]
fn on_a_terminal_a_scope_that_has_its_tracker_is_not_asked_again() {
    let t = TestHome::new();
    let url = "https://telemhq.example/ping/tok_keepme123456";
    t.install(&["--global", "--ping-url", url]);
    let screen = t.on_terminal("install --global --tool-activity", &["y"]);
    assert!(
        !screen.contains("TelemHQ ping URL"),
        "asked again: {screen}"
    );
    assert!(screen.contains("Keeping this scope's tracker"), "{screen}");
    assert_eq!(json(&t.state_dir().join("config.json"))["ping_url"], url);
}

#[test]
fn on_a_terminal_without_a_scope_install_asks_where() {
    let t = TestHome::new();
    let screen = t.on_terminal(
        "install --ping-url https://telemhq.example/ping/abcdefghijkl",
        &["\r", "y"],
    );
    assert!(screen.contains("Where should telemhq install?"), "{screen}");
    assert!(
        t.global_settings().exists(),
        "the first choice, --global: {screen}"
    );
}

#[test]
fn dry_run_can_show_the_change_as_a_json_patch() {
    let t = TestHome::new();
    t.write_global(USER_SETTINGS);
    let out = t.run(&["install", "--global", "--dry-run", "--json-patch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let patch: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Applying the patch to the file gives what install would write.
    let mut doc: Value = serde_json::from_str(USER_SETTINGS).unwrap();
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
    json_patch::patch(&mut doc, &ops).unwrap();
    assert_eq!(telemhq_handlers(&doc, "Stop").len(), 1);
    assert_eq!(
        doc["hooks"]["Stop"][0]["hooks"][0]["command"],
        "notify-send done"
    );
    assert_eq!(read(&t.global_settings()), USER_SETTINGS, "nothing written");
    insta::assert_json_snapshot!("dry_run_json_patch", patch);
    let refused = t.run(&["install", "--global", "--json-patch"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "--json-patch goes with --dry-run"
    );
}

#[test]
fn install_says_created_for_a_file_it_made_and_updated_for_one_it_changed() {
    let t = TestHome::new();
    let out = t.install(&["--global"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("Created ~/.claude/settings.json"), "{said}");
    let t = TestHome::new();
    fs::create_dir_all(t.claude_dir()).unwrap();
    fs::write(t.global_settings(), "{\"model\": \"opus\"}\n").unwrap();
    let said = String::from_utf8_lossy(&t.install(&["--global"]).stderr).into_owned();
    assert!(said.contains("Updated ~/.claude/settings.json"), "{said}");
}

#[test]
fn uninstall_for_all_agents_names_only_the_agents_whose_files_are_here() {
    let t = TestHome::new();
    t.install(&["--global", "--agent", "claude", "--agent", "gemini"]);
    let out = t.run(&["uninstall", "--global", "--agent", "all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("~/.claude/settings.json") && said.contains("~/.gemini/settings.json"),
        "{said}"
    );
    for absent in [
        ".codex",
        ".copilot",
        ".qwen",
        ".factory",
        ".cursor",
        "not present",
    ] {
        assert!(
            !said.contains(absent),
            "{absent} is not here, so not named: {said}"
        );
    }
    let again = t.run(&["uninstall", "--global", "--agent", "all"]);
    let said = String::from_utf8_lossy(&again.stderr).into_owned();
    assert!(!said.contains("not present"), "{said}");
}
