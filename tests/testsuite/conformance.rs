//! The same scenarios for every agent in `agents::ALL`, each with its own files from
//! `tests/data/conformance/<id>/`: a new agent gets all of them by being listed.
//! Install then uninstall gives back the bytes (no file, an empty file, a user's
//! formatted file, one with comments where the agent accepts them), in every scope the
//! agent has; installing twice changes nothing; `--dry-run` writes nothing; doctor exits
//! 0 after installing that agent alone; uninstalling it keeps other agents' hooks and
//! the repository's tracker; each captured payload gives one ping with that agent's
//! provider and tool, and no free text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use telemhq::agents::{self, Agent, Scope};

use crate::support::{Mode, Receiver, TestHome, data, stderr, stdout};

fn conformance(agent: &dyn Agent) -> PathBuf {
    let dir = data("conformance").join(agent.id());
    assert!(
        dir.is_dir(),
        "{} is listed but has no conformance data in {}",
        agent.display_name(),
        dir.display()
    );
    dir
}

/// The user's own files for an agent: (name, text).
fn user_files(agent: &dyn Agent) -> Vec<(String, String)> {
    let dir = conformance(agent);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("user"))
        .map(|n| (n.clone(), std::fs::read_to_string(dir.join(&n)).unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no user file for {}", agent.id());
    files
}

fn env_of(t: &TestHome) -> telemhq::env::Env {
    telemhq::env::Env {
        home: Some(t.home.clone()),
        claude_dir: Some(t.claude_dir()),
        cwd: t.repo.clone(),
        ping_url: None,
        debug: false,
        run_id: None,
        ci: false,
    }
}

fn scopes(agent: &dyn Agent, t: &TestHome) -> Vec<(Scope, PathBuf)> {
    let env = env_of(t);
    Scope::ALL
        .into_iter()
        .filter_map(|s| Some((s, agent.hook_file(&env, s)?.unwrap())))
        .collect()
}

/// Every file and folder under the test's folder, with its content, except telemhq's
/// own private folder (and `~/.claude`, which holds it).
fn snapshot(t: &TestHome) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![t.dir.path().to_path_buf()];
    let private = t.claude_dir().join("hooks");
    while let Some(p) = stack.pop() {
        if p.starts_with(&private) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            if p != t.claude_dir() {
                out.insert(p.clone(), None);
            }
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn run_ok(t: &TestHome, args: &[&str]) -> String {
    let out = t.run(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stderr(&out)
}

fn every_agent_gives_back_the_bytes_in_every_scope_and_installs_once(agent: &'static dyn Agent) {
    let id = agent.id();
    let probe_home = TestHome::new();
    for (scope, _) in scopes(agent, &probe_home) {
        let mut cases: Vec<(String, Option<String>)> = vec![
            ("no file".into(), None),
            ("an empty file".into(), Some(String::new())),
        ];
        cases.extend(user_files(agent).into_iter().map(|(n, t)| (n, Some(t))));
        for (case, text) in cases {
            let what = format!("{id} {} with {case}", scope.flag());
            let t = TestHome::new();
            let path = scopes(agent, &t)
                .into_iter()
                .find(|(s, _)| *s == scope)
                .unwrap()
                .1;
            if let Some(text) = &text {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, text).unwrap();
            }
            let before = snapshot(&t);
            let args = ["install", scope.flag(), "--agent", id, "--tool-activity"];
            let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
            run_ok(&t, &dry);
            assert_eq!(snapshot(&t), before, "{what}: --dry-run wrote something");
            assert!(!t.claude_dir().join("hooks").exists(), "{what}: dry run");

            run_ok(&t, &args);
            let installed = std::fs::read_to_string(&path).unwrap();
            assert!(installed.contains("emit"), "{what}: {installed}");
            let events = agent.format_for(&path).installed_events(&installed);
            assert!(
                events.len() >= 2,
                "{what}: the turn's end and tool activity: {events:?}"
            );
            if let Some(text) = &text {
                for line in text
                    .lines()
                    .filter(|l| l.contains("//") || l.contains("/*"))
                {
                    assert!(installed.contains(line.trim()), "{what}: lost {line:?}");
                }
            }
            let after_install = snapshot(&t);
            let said = run_ok(&t, &["install", scope.flag(), "--agent", id]);
            assert_eq!(snapshot(&t), after_install, "{what}: installing twice");
            assert!(said.contains("already up to date"), "{what}: {said}");

            run_ok(&t, &["uninstall", scope.flag(), "--agent", id]);
            assert_eq!(snapshot(&t), before, "{what}: uninstall left a difference");
        }
    }
}

fn doctor_passes_for_a_user_of_each_agent_alone(agent: &'static dyn Agent) {
    let t = TestHome::new();
    run_ok(
        &t,
        &[
            "install",
            "--global",
            "--agent",
            agent.id(),
            "--ping-url",
            "https://telemhq.example/ping/tok_5f4e3d2c1b0a99887766",
        ],
    );
    let out = t.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}: {report:#}", agent.id());
    let check = crate::doctor::check(&report, &format!("{}.global", agent.id()));
    assert_eq!(check["status"], "ok", "{check:#}");
    let human = stdout(&t.run(&["doctor"]));
    assert!(!human.contains("telemhq install --global\n"), "{human}");
}

fn uninstalling_one_agent_keeps_the_others_and_the_repositorys_tracker(agent: &'static dyn Agent) {
    let i = agents::ALL
        .iter()
        .position(|a| a.id() == agent.id())
        .unwrap();
    let other = agents::ALL[(i + 1) % agents::ALL.len()];
    let t = TestHome::new();
    let url = "https://telemhq.example/ping/tok_repo_5f4e3d2c1b0a";
    for a in [agent, other] {
        run_ok(
            &t,
            &["install", "--repo", "--agent", a.id(), "--ping-url", url],
        );
    }
    let said = run_ok(&t, &["uninstall", "--repo", "--agent", agent.id()]);
    let env = env_of(&t);
    let other_file = other.hook_file(&env, Scope::Repo).unwrap().unwrap();
    let text = std::fs::read_to_string(&other_file).unwrap();
    assert!(
        !other
            .format_for(&other_file)
            .installed_events(&text)
            .is_empty(),
        "{} lost {}'s hooks",
        agent.id(),
        other.id()
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(t.state_dir().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["repos"].as_object().unwrap().len(), 1, "{said}");
    assert!(said.contains("stays"), "{said}");
    let said = run_ok(&t, &["uninstall", "--repo", "--agent", other.id()]);
    let config: Value =
        serde_json::from_slice(&std::fs::read(t.state_dir().join("config.json")).unwrap()).unwrap();
    assert!(config.get("repos").is_none(), "{said}");
}

/// A captured payload with every free-text field filled with `canary`, pointed at its
/// captured session file.
fn payload(spec: &Value, canary: &str) -> String {
    fn fill(v: &mut Value, canary: &str) {
        match v {
            Value::String(s) => *s = format!("{canary} {s}"),
            Value::Array(a) => a.iter_mut().for_each(|x| fill(x, canary)),
            Value::Object(o) => o.values_mut().for_each(|x| fill(x, canary)),
            _ => {}
        }
    }
    let path = data(spec["payload"].as_str().unwrap());
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for field in spec["text_fields"].as_array().unwrap() {
        if let Some(v) = event.get_mut(field.as_str().unwrap()) {
            fill(v, canary);
        }
    }
    if let Some(session) = spec["session"].as_str() {
        let session = json!(data(session).display().to_string());
        match event.get("transcriptPath") {
            Some(_) => event["transcriptPath"] = session,
            None => event["transcript_path"] = session,
        }
    }
    event.to_string()
}

fn files_under(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push(b);
        }
    }
    out
}

fn each_captured_payload_gives_one_ping_from_its_agent_and_no_free_text(agent: &'static dyn Agent) {
    let r = Receiver::start(Mode::Ok);
    let specs: Vec<Value> =
        serde_json::from_slice(&std::fs::read(conformance(agent).join("events.json")).unwrap())
            .unwrap();
    let canary = format!("CANARY_{}_7f3a", agent.id());
    let t = TestHome::new();
    let url = format!("{}/{}", r.url(), agent.id());
    run_ok(
        &t,
        &[
            "install",
            "--global",
            "--agent",
            agent.id(),
            "--ping-url",
            &url,
        ],
    );
    for spec in &specs {
        let mut args = vec!["emit"];
        args.extend(
            spec["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        );
        let out = t.run_with_stdin(&args, payload(spec, &canary).as_bytes());
        assert!(out.status.success() && out.stdout.is_empty());
    }
    t.run(&["flush", "--wait", "20"]);
    let mine: Vec<Value> = r
        .pings()
        .iter()
        .filter(|p| p.path.ends_with(&format!("/{}", agent.id())))
        .map(|p| p.json())
        .collect();
    assert_eq!(
        mine.len(),
        specs.len(),
        "{}: one ping per payload: {mine:#?}",
        agent.id()
    );
    for ping in &mine {
        assert_eq!(ping["provider"], agent.provider(), "{ping:#}");
        assert_eq!(ping["tool"], agent.tool(), "{ping:#}");
    }
    let raw = String::from_utf8_lossy(&r.raw.lock().unwrap()).into_owned();
    assert!(!raw.contains(&canary), "{}: free text was sent", agent.id());
    for file in files_under(&t.state_dir()) {
        assert!(
            !String::from_utf8_lossy(&file).contains(&canary),
            "{}: free text in telemhq's files",
            agent.id()
        );
    }
}

for_each_agent!(
    every_agent_gives_back_the_bytes_in_every_scope_and_installs_once,
    doctor_passes_for_a_user_of_each_agent_alone,
    uninstalling_one_agent_keeps_the_others_and_the_repositorys_tracker,
    each_captured_payload_gives_one_ping_from_its_agent_and_no_free_text,
);

/// The per-agent tests above name every agent telemhq serves.
#[test]
fn the_per_agent_tests_name_every_agent() {
    let named = [
        "claude", "codex", "gemini", "copilot", "qwen", "droid", "cursor",
    ];
    let all: Vec<&str> = agents::ALL.iter().map(|a| a.id()).collect();
    assert_eq!(all, named, "add the new agent to for_each_agent!");
}
