//! The agent seam as users meet it: `--agent all` finds the agents that are really here,
//! one transaction plans every file before it writes any, and help is made from the list
//! of agents.

use crate::support::{TestHome, stderr, stdout};

fn exists(t: &TestHome, rel: &str) -> bool {
    t.home.join(rel).exists()
}

#[test]
fn agent_all_does_not_take_telemhqs_own_folder_for_claude_code() {
    let t = TestHome::new();
    std::fs::create_dir_all(t.home.join(".gemini")).unwrap();
    for _ in 0..2 {
        let out = t.run(&["install", "--global", "--agent", "all"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let said = stderr(&out);
        assert!(said.contains("Found Gemini CLI"), "{said}");
        assert!(!said.contains("Claude Code"), "{said}");
    }
    // telemhq's own state is in ~/.claude/hooks; Claude Code's settings were never made.
    assert!(exists(&t, ".claude/hooks/telemhq.d"));
    assert!(!exists(&t, ".claude/settings.json"));
    assert!(exists(&t, ".gemini/settings.json"));
}

#[test]
fn one_broken_file_stops_the_whole_install_and_every_problem_is_named() {
    let t = TestHome::new();
    for dir in [".claude", ".codex", ".gemini", ".copilot"] {
        std::fs::create_dir_all(t.home.join(dir)).unwrap();
    }
    t.write_global("{\"model\": \"opus\"}\n");
    let gemini = t.home.join(".gemini/settings.json");
    let codex = t.home.join(".codex/config.toml");
    std::fs::write(&gemini, "{\"ui\": {\"theme\": \"x\"},}\n").unwrap();
    std::fs::write(&codex, "model = \n").unwrap();
    let out = t.run(&["install", "--global", "--agent", "all"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(
        said.contains("2 files cannot be changed, so none was"),
        "{said}"
    );
    assert!(said.contains(".gemini/settings.json:1:"), "{said}");
    assert!(said.contains(".codex/config.toml:1:"), "{said}");
    // Nothing was written: not Claude Code's settings, not Copilot's hook file.
    assert_eq!(
        std::fs::read_to_string(t.global_settings()).unwrap(),
        "{\"model\": \"opus\"}\n"
    );
    assert!(!exists(&t, ".copilot/hooks/telemhq.json"));
    assert!(!exists(&t, ".claude/hooks"));

    // Uninstall likewise: with a broken file among them, nothing is removed anywhere.
    std::fs::write(&gemini, "{}\n").unwrap();
    std::fs::write(&codex, "").unwrap();
    let out = t.run(&["install", "--global", "--agent", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let installed_claude = std::fs::read_to_string(t.global_settings()).unwrap();
    std::fs::write(&codex, "model = \n").unwrap();
    let out = t.run(&["uninstall", "--global", "--agent", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".codex/config.toml:1:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(t.global_settings()).unwrap(),
        installed_claude
    );
    assert!(exists(&t, ".copilot/hooks/telemhq.json"));
}

#[test]
fn an_agent_without_the_scope_is_a_usage_error_and_all_skips_it() {
    let t = TestHome::new();
    let out = t.run(&["install", "--local", "--agent", "codex"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Codex CLI has no personal per-repository settings"));
    t.write_global("{}\n");
    std::fs::create_dir_all(t.home.join(".gemini")).unwrap();
    let out = t.run(&["install", "--local", "--agent", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped Gemini CLI"),
        "{}",
        stderr(&out)
    );
    assert!(t.repo.join(".claude/settings.local.json").exists());
}

/// Help names every agent, and `install --help` lists each agent's file per scope.
#[test]
fn help_is_made_from_the_list_of_agents() {
    let t = TestHome::new();
    let mut all = String::new();
    for args in [
        &["--help"][..],
        &["install", "--help"],
        &["uninstall", "--help"],
        &["emit", "--help"],
        &["flush", "--help"],
        &["run", "--help"],
        &["log", "--help"],
        &["import", "--help"],
        &["report", "--help"],
        &["prices", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["doctor", "--help"],
    ] {
        let out = t.run(args);
        assert!(out.status.success());
        let text = stdout(&out);
        let name = format!("help_{}", args[0].trim_start_matches('-'));
        insta::assert_snapshot!(name, text);
        all.push_str(&text);
    }
    let install = stdout(&t.run(&["install", "--help"]));
    for agent in telemhq::agents::ALL {
        assert!(install.contains(agent.display_name()), "{install}");
        assert!(install.contains(agent.global_file_help()), "{install}");
    }
    let top = stdout(&t.run(&["--help"]));
    assert!(top.contains("Qwen Code, Factory Droid and Cursor"), "{top}");
}
