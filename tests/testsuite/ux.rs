//! The conventions of the ecosystem: shell completions and a manual page made from the
//! same definitions as `--help`, `--json` where a script looks, and errors that say how
//! to fix them.

use std::process::Command;

use serde_json::Value;

use crate::support::{TestHome, stderr, stdout};

/// The bash script completes commands and flags in a real bash.
#[test]
fn bash_completion_completes_commands_and_flags() {
    let t = TestHome::new();
    let script = stdout(&t.run(&["completions", "bash"]));
    let path = t.dir.path().join("telemhq.bash");
    std::fs::write(&path, script).unwrap();
    let complete = |line: &str| -> String {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; _telemhq telemhq '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display(),
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            words.len() - 1,
            line.len(),
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = Command::new("bash")
            .args(["-c", &program])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(complete("telemhq rep").lines().any(|l| l == "report"));
    assert!(
        complete("telemhq install --ag")
            .lines()
            .any(|l| l == "--agent")
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = t.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        assert!(stdout(&out).contains("report"), "{shell}");
    }
    let out = t.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_manual_page_names_every_command() {
    let t = TestHome::new();
    let page = stdout(&t.run(&["man"]));
    assert!(page.contains(".TH telemhq 1"), "{page}");
    for command in [
        "install",
        "uninstall",
        "emit",
        "flush",
        "run",
        "log",
        "doctor",
        "import",
        "report",
    ] {
        assert!(page.contains(command), "{command}");
    }
}

/// `flush --json`: one object a script can read.
#[test]
fn flush_reports_in_json() {
    let t = TestHome::new();
    let out = t.run(&["flush", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for key in ["delivered", "failed", "pending", "busy"] {
        assert!(report.get(key).is_some(), "{key}: {report:#}");
    }
}

/// `emit --print`, run by a person, says why it built no payload and exits 1; the hook
/// itself (without --print) never fails the agent.
#[test]
fn emit_print_says_why_there_is_no_payload() {
    let t = TestHome::new();
    let out = t.run_with_stdin(
        &["emit", "--print", "--agent", "copilot"],
        br#"{"sessionId": "s"}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no hook_event_name"), "{err}");
    assert!(err.contains("--event"), "{err}");
    let out = t.run_with_stdin(&["emit", "--agent", "copilot"], br#"{"sessionId": "s"}"#);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).is_empty());
}

/// The main error messages, as a user sees them (each says what to do).
#[test]
fn main_error_messages() {
    let t = TestHome::new();
    let mut all = String::new();
    for args in [
        &[
            "install",
            "--global",
            "--ping-url",
            "telemhq.example/ping/abc",
        ][..],
        &[
            "install",
            "--global",
            "--ping-url",
            "<the ping URL of your TelemHQ job>",
        ],
        &[
            "install",
            "--global",
            "--ping-url",
            "http://telemhq.example/ping/abcdefgh",
        ],
        &["report", "--tz", "Mars/Olympus"],
        &["report", "--since", "last tuesday"],
        &["import", "--send"],
        &["install", "--repo", "--agent", "claude"],
    ] {
        let out = t.run(args);
        all.push_str(&format!(
            "$ telemhq {}\nexit {}\n{}\n",
            args.join(" "),
            out.status.code().unwrap_or(-1),
            stderr(&out).replace(&t.home.display().to_string(), "~")
        ));
    }
    insta::assert_snapshot!("main_error_messages", all);
}

/// The README's commands for shell completions and the manual page work as written, in a
/// HOME that has none of their folders yet.
#[test]
fn the_readmes_completion_and_man_commands_run_in_a_fresh_home() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let from = readme
        .find("Shell completions and a manual page:")
        .expect("the README's completions paragraph");
    let block = &readme[from..];
    let start = block.find("```sh\n").unwrap() + "```sh\n".len();
    let script = &block[start..start + block[start..].find("```").unwrap()];
    assert!(script.contains("telemhq man"), "{script}");
    let t = TestHome::new();
    let bin = std::path::Path::new(crate::support::BIN).parent().unwrap();
    let out = Command::new("/bin/sh")
        .args(["-ec", script])
        .env_clear()
        .env("HOME", &t.home)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}\n{}", stderr(&out));
    let completions = t
        .home
        .join(".local/share/bash-completion/completions/telemhq");
    assert!(
        std::fs::read_to_string(completions)
            .unwrap()
            .contains("_telemhq")
    );
    let man = t.home.join(".local/share/man/man1/telemhq.1");
    assert!(
        std::fs::read_to_string(man)
            .unwrap()
            .contains(".TH telemhq")
    );
}

#[test]
fn prices_list_shows_the_tables_models_and_yours_matching_a_pattern() {
    let t = TestHome::new();
    let out = t.run(&["prices", "--list", "SONNET-4-5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    assert!(
        list.contains("claude-sonnet-4-5") && list.contains("$15"),
        "{list}"
    );
    assert!(
        !list.contains("haiku"),
        "only what the pattern picks: {list}"
    );
    let all = stdout(&t.run(&["prices", "--list"]));
    assert!(all.contains("haiku") && all.lines().count() > list.lines().count());
    let out = t.run(&[
        "prices",
        "set",
        "my-local-model",
        "--input",
        "1",
        "--output",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mine = stdout(&t.run(&["prices", "--list", "my-local"]));
    assert!(
        mine.contains("my-local-model") && mine.contains("yours"),
        "{mine}"
    );
    let none = t.run(&["prices", "--list", "no-such-model-anywhere"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stdout(&none).contains("no-such-model-anywhere"),
        "{}",
        stdout(&none)
    );
}
