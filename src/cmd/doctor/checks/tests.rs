//! The checks as pure verdicts over hand-built facts.

use std::path::PathBuf;

use super::super::facts::{Facts, FileProblem, HookFile, Link};
use super::super::{Report, Status};
use crate::agents::{self, Agent, Blocker, Scope};
use crate::cli::DoctorArgs;
use crate::env::{Env, Layout};
use crate::hookfile::Hook;

fn env() -> Env {
    Env {
        home: Some("/home/dev".into()),
        claude_dir: Some("/home/dev/.claude".into()),
        cwd: "/home/dev/src/api".into(),
        ping_url: None,
        debug: false,
        run_id: None,
        ci: false,
    }
}

fn facts(files: Vec<HookFile>) -> Facts {
    Facts {
        layout: Layout::new(&PathBuf::from("/home/dev/.claude")),
        files,
        managed_problem: None,
        record: Ok(()),
        private_dirs: Vec::new(),
        loose_files: Vec::new(),
        link: Link::Present,
        config: Ok(Default::default()),
        route: None,
        settings_route: None,
        trackers: Vec::new(),
        exposed: Vec::new(),
        tracked_checked: true,
        me: Some("/usr/bin/telemhq".into()),
        queue: Vec::new(),
        dropped: Default::default(),
        last_error: None,
        last_export_error: None,
        sender: None,
        found: Vec::new(),
        claude: None,
        test_ping: None,
        otlp: None,
        test_export: None,
        store: Ok(None),
        store_write_error: None,
        budgets: Some(Vec::new()),
        unfinished: Vec::new(),
        now_ms: 0,
    }
}

fn agent(id: &str) -> &'static dyn Agent {
    agents::by_id(id).unwrap()
}

fn file(id: &str, scope: Scope, events: &[&str]) -> HookFile {
    let agent = agent(id);
    let command = agent.format().turn_command();
    HookFile {
        agent,
        scope,
        path: format!("/home/dev/{id}-{}", scope.flag()).into(),
        text: Some(String::new()),
        problem: None,
        events: events.iter().map(|e| e.to_string()).collect(),
        entry_problems: Vec::new(),
        hooks: events
            .iter()
            .map(|e| Hook {
                event: e.to_string(),
                matcher: None,
                command: command.clone(),
            })
            .collect(),
        blockers: Vec::new(),
        reached: Some(Some(("0.1.0".into(), "/usr/bin/telemhq".into()))),
    }
}

fn verdicts(facts: &Facts) -> Report {
    let mut report = Report::default();
    super::files::check_files(facts, &env(), &mut report);
    super::files::check_installed(
        facts,
        &DoctorArgs {
            global: false,
            repo: false,
            json: false,
            ping: false,
        },
        &mut report,
    );
    super::command::check_commands(facts, &env(), &mut report);
    report
}

fn status(report: &Report, id: &str) -> (Status, String, Option<String>) {
    let c = report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no {id}: {:#?}", report.checks));
    (c.status, c.message.clone(), c.fix.clone())
}

#[test]
fn a_file_with_hooks_that_reach_this_telemhq_is_ok_for_any_agent() {
    for id in ["claude", "codex", "gemini", "copilot"] {
        let report = verdicts(&facts(vec![file(id, Scope::Global, &["Stop"])]));
        assert_eq!(status(&report, &format!("{id}.global")).0, Status::Ok);
        assert!(!report.checks.iter().any(|c| c.id == "hooks.installed"));
    }
}

#[test]
fn nothing_installed_names_the_agents_found() {
    let mut f = facts(vec![file("gemini", Scope::Global, &[])]);
    f.found = vec![(agent("gemini"), "~/.gemini".into())];
    let report = verdicts(&f);
    let (s, _, fix) = status(&report, "hooks.installed");
    assert_eq!(s, Status::Fail);
    assert_eq!(
        fix.as_deref(),
        Some("telemhq install --global --agent gemini")
    );
    assert_eq!(status(&report, "gemini.global").0, Status::Info);
}

#[test]
fn entry_problems_blockers_and_a_missing_link_fail_with_the_agents_own_fix() {
    let mut broken = file("codex", Scope::Repo, &["Stop"]);
    broken.entry_problems = vec!["no Stop entry".into()];
    let report = verdicts(&facts(vec![broken]));
    let (s, message, fix) = status(&report, "codex.repo");
    assert_eq!(s, Status::Fail);
    assert!(message.contains("no Stop entry"));
    assert_eq!(fix.as_deref(), Some("telemhq install --agent codex --repo"));

    let blocker = Blocker {
        why: "hooks are switched off".into(),
        fix: "switch them on".into(),
    };
    let mut a = file("claude", Scope::Global, &["Stop"]);
    let mut b = file("claude", Scope::Repo, &["Stop"]);
    a.blockers = vec![blocker.clone()];
    b.blockers = vec![blocker];
    let report = verdicts(&facts(vec![a, b]));
    let fails: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.message.clone())
        .collect();
    assert_eq!(fails.len(), 2);
    assert_eq!(
        fails.iter().filter(|m| m.contains("switched off")).count(),
        1,
        "said once: {fails:?}"
    );

    let mut f = facts(vec![file("gemini", Scope::Global, &["AfterAgent"])]);
    f.link = Link::Missing;
    let (s, message, _) = status(&verdicts(&f), "gemini.global");
    assert_eq!(s, Status::Fail);
    assert!(message.contains("is missing"), "{message}");
}

#[test]
fn a_file_the_agent_reads_anyway_warns_and_is_still_judged() {
    let mut f = file("claude", Scope::Global, &["Stop"]);
    f.problem = Some(FileProblem {
        why: "a byte that is not UTF-8".into(),
        place: Some((3, 7)),
        agent_reads_it: true,
    });
    let report = verdicts(&facts(vec![f]));
    assert_eq!(status(&report, "settings.claude.global").0, Status::Warn);
    assert_eq!(status(&report, "claude.global").0, Status::Ok);
    let mut g = file("gemini", Scope::Global, &[]);
    g.problem = Some(FileProblem {
        why: "trailing comma".into(),
        place: Some((2, 1)),
        agent_reads_it: false,
    });
    let (s, message, _) = status(&verdicts(&facts(vec![g])), "gemini.global");
    assert_eq!(s, Status::Fail);
    assert!(
        message.contains("gemini---global:2:1: trailing comma"),
        "{message}"
    );
}

#[test]
fn a_second_command_for_an_event_telemhq_already_pings_fails() {
    let mut f = file("claude", Scope::Global, &["Stop"]);
    f.hooks.push(Hook {
        event: "Stop".into(),
        matcher: None,
        command: "/opt/gone/telemhq emit".into(),
    });
    f.hooks.push(Hook {
        event: "Notification".into(),
        matcher: None,
        command: "~/bin/telemhq emit".into(),
    });
    let report = verdicts(&facts(vec![f]));
    let (s, message, fix) = status(&report, "command.foreign.claude.global");
    assert_eq!(s, Status::Fail);
    assert!(message.contains("Stop, Notification"), "{message}");
    assert!(
        message.contains("/opt/gone/telemhq, a program that is not there"),
        "{message}"
    );
    assert!(
        fix.unwrap()
            .contains("telemhq install --agent claude --global")
    );
}

/// doctor never contradicts itself: a repository's hooks that do not run while the
/// agent's global ones do are a warning about the repository; a hand-written second
/// telemhq command beside telemhq's own leaves no "each event pings once"; files git
/// tracks that were not looked through are not vouched for.
#[test]
fn doctor_never_says_one_thing_and_its_opposite() {
    let mut repo = file("codex", Scope::Repo, &["Stop"]);
    repo.blockers = vec![Blocker {
        why: "Codex does not trust this project".into(),
        fix: "trust it in Codex".into(),
    }];
    let report = verdicts(&facts(vec![file("codex", Scope::Global, &["Stop"]), repo]));
    let (s, message, _) = status(&report, "codex.repo");
    assert_eq!(s, Status::Warn, "{message}");
    assert!(message.contains("global hooks ping"), "{message}");
    // Without the global hooks, nothing pings: a failure.
    let mut alone = file("codex", Scope::Repo, &["Stop"]);
    alone.blockers = vec![Blocker {
        why: "Codex does not trust this project".into(),
        fix: "trust it in Codex".into(),
    }];
    assert_eq!(
        status(&verdicts(&facts(vec![alone])), "codex.repo").0,
        Status::Fail
    );

    let mut doubled = file("claude", Scope::Global, &["Stop"]);
    doubled.hooks.push(Hook {
        event: "Stop".into(),
        matcher: None,
        command: "/usr/local/bin/telemhq emit".into(),
    });
    let report = verdicts(&facts(vec![doubled]));
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.status == Status::Fail && c.id.starts_with("command.foreign"))
    );
    let (s, message, _) = status(&report, "command.duplicates");
    assert_ne!(s, Status::Ok);
    assert!(!message.contains("pings once"), "{message}");

    let mut unchecked = facts(Vec::new());
    unchecked.tracked_checked = false;
    unchecked.route = Some(crate::config::Route {
        url: "https://telemhq.example/ping/tok_abcdefghijkl".into(),
        source: crate::config::TrackerSource::Global,
    });
    let mut report = Report::default();
    super::privacy::check_privacy(&unchecked, &env(), &mut report);
    let (s, message, _) = status(&report, "token.exposed");
    assert_eq!(s, Status::Info);
    assert!(message.contains("not checked"), "{message}");
}
