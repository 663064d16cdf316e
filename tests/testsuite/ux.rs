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
