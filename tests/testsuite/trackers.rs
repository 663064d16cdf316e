//! One tracker per repository: every event goes where its folder's install said, decided
//! when it is emitted. A loopback receiver records the path each ping was sent to.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::doctor::check;
use crate::support::{Mode, Receiver, TestHome, fixture, free_port, stderr, stdout};

/// A test home whose senders give up on a down tracker at once (the tests flush later).
fn short_lived() -> TestHome {
    TestHome::new().env("TELEMHQ_SENDER_LIFETIME_MS", "300")
}

fn url_on(port: u16, name: &str) -> String {
    format!("http://127.0.0.1:{port}/ping/tok_{name}_5f4e3d2c1b0a")
}

fn path_of(name: &str) -> String {
    format!("/ping/tok_{name}_5f4e3d2c1b0a")
}

/// A second repository beside the test home's own.
fn repo(t: &TestHome, name: &str) -> PathBuf {
    let dir = t.home.join("projects").join(name);
    fs::create_dir_all(dir.join(".git")).unwrap();
    dir
}

fn install_in(t: &TestHome, dir: &Path, args: &[&str]) {
    let mut all = vec!["install"];
    all.extend_from_slice(args);
    let out = t.cmd(&all).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Emits a Stop event whose `cwd` is `folder`, run from that folder.
fn emit_in(t: &TestHome, folder: &Path, env: &[(&str, &str)]) {
    let mut event: Value = serde_json::from_str(&fixture("Stop.json")).unwrap();
    event["cwd"] = json!(folder.display().to_string());
    let mut cmd = t.cmd(&["emit"]);
    cmd.current_dir(folder)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn paths(receiver: &Receiver) -> Vec<String> {
    receiver.pings().into_iter().map(|p| p.path).collect()
}

#[test]
fn each_folder_pings_its_own_tracker_and_the_environment_overrides() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    let (a, b) = (t.repo.clone(), repo(&t, "web"));
    let outside = t.home.join("notes");
    fs::create_dir_all(&outside).unwrap();
    install_in(
        &t,
        &t.home,
        &["--global", "--ping-url", &url_on(r.port, "g")],
    );
    install_in(&t, &a, &["--repo", "--ping-url", &url_on(r.port, "a1")]);
    install_in(&t, &b, &["--local", "--ping-url", &url_on(r.port, "b")]);
    install_in(&t, &a, &["--repo", "--ping-url", &url_on(r.port, "a")]); // changed once more
    let sub = a.join("src/deep");
    fs::create_dir_all(&sub).unwrap();
    let cases: [(&Path, &str); 4] = [(&a, "a"), (&sub, "a"), (&b, "b"), (&outside, "g")];
    let env_url = url_on(r.port, "env");
    for (folder, _) in &cases {
        emit_in(&t, folder, &[]);
    }
    emit_in(&t, &a, &[("TELEMHQ_PING_URL", &env_url)]);
    r.wait_for(5, Duration::from_secs(20));
    let mut want: Vec<String> = cases.iter().map(|(_, n)| path_of(n)).collect();
    want.push(path_of("env"));
    let mut got = paths(&r);
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn the_innermost_repository_wins() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    let inner = t.repo.join("vendor/lib");
    fs::create_dir_all(inner.join(".git")).unwrap();
    install_in(
        &t,
        &t.repo,
        &["--repo", "--ping-url", &url_on(r.port, "outer")],
    );
    install_in(
        &t,
        &inner,
        &["--repo", "--ping-url", &url_on(r.port, "inner")],
    );
    fs::create_dir_all(inner.join("x")).unwrap();
    emit_in(&t, &inner.join("x"), &[]);
    assert_eq!(r.wait_for(1, Duration::from_secs(20)).len(), 1);
    assert_eq!(paths(&r), [path_of("inner")]);
}

#[test]
fn queued_events_keep_the_tracker_they_were_emitted_for() {
    let t = short_lived();
    let old_port = free_port();
    install_in(
        &t,
        &t.repo,
        &["--repo", "--ping-url", &url_on(old_port, "old")],
    );
    let t0 = crate::support::now_ms();
    emit_in(&t, &t.repo, &[]); // the old tracker is down: the event waits
    t.wait_sender_idle(Some(t0));
    let new = Receiver::start(Mode::Ok);
    install_in(
        &t,
        &t.repo,
        &["--repo", "--ping-url", &url_on(new.port, "new")],
    );
    // Another shell, with another URL in its environment, flushes: nothing moves elsewhere.
    let old = Receiver::start_on(old_port, Mode::Ok);
    let out = t
        .cmd(&["flush"])
        .env("TELEMHQ_PING_URL", url_on(new.port, "env"))
        .output()
        .unwrap();
    assert!(stdout(&out).contains("Delivered 1"), "{}", stdout(&out));
    assert_eq!(paths(&old), [path_of("old")]);
    assert!(new.pings().is_empty());
    // A new event goes to the new tracker.
    emit_in(&t, &t.repo, &[]);
    assert_eq!(new.wait_for(1, Duration::from_secs(20)).len(), 1);
    assert_eq!(paths(&new), [path_of("new")]);
}

#[test]
fn an_event_without_a_tracker_goes_to_the_first_its_folder_gets() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    install_in(&t, &t.repo, &["--repo"]);
    let t0 = crate::support::now_ms();
    emit_in(&t, &t.repo, &[]);
    // (Without a tracker a sender still runs: it keeps the event in the local store.)
    t.wait_sender_idle(Some(t0));
    // The repository gets its tracker first, then the global scope gets one.
    install_in(&t, &t.repo, &["--repo", "--ping-url", &url_on(r.port, "a")]);
    install_in(
        &t,
        &t.home,
        &["--global", "--ping-url", &url_on(r.port, "g")],
    );
    assert!(t.run(&["flush"]).status.success());
    assert_eq!(paths(&r), [path_of("a")]);
}

#[test]
fn concurrent_installs_in_two_repositories_keep_both_trackers() {
    let t = TestHome::new();
    let b = repo(&t, "web");
    t.install(&["--global"]);
    let spawn = |dir: &Path, name: &str| {
        t.cmd(&["install", "--repo", "--ping-url", &url_on(9, name)])
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    for _ in 0..3 {
        let (mut x, mut y) = (spawn(&t.repo, "a"), spawn(&b, "b"));
        assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
    }
    let config: Value =
        serde_json::from_str(&fs::read_to_string(t.state_dir().join("config.json")).unwrap())
            .unwrap();
    let repos = config["repos"].as_object().unwrap();
    assert_eq!(repos.len(), 2, "{config:#}");
}

#[test]
fn uninstall_removes_the_repositorys_tracker_but_queued_events_still_go_to_it() {
    let t = short_lived();
    let port = free_port();
    let g = Receiver::start(Mode::Ok);
    install_in(
        &t,
        &t.home,
        &["--global", "--ping-url", &url_on(g.port, "g")],
    );
    install_in(&t, &t.repo, &["--repo", "--ping-url", &url_on(port, "a")]);
    let t0 = crate::support::now_ms();
    emit_in(&t, &t.repo, &[]);
    t.wait_sender_idle(Some(t0));
    let out = t.run(&["uninstall", "--repo"]);
    assert!(stderr(&out).contains("Removed the tracker of repository"));
    let a = Receiver::start_on(port, Mode::Ok);
    assert!(t.run(&["flush"]).status.success());
    assert_eq!(paths(&a), [path_of("a")]);
    emit_in(&t, &t.repo, &[]);
    assert_eq!(g.wait_for(1, Duration::from_secs(20)).len(), 1);
    assert_eq!(paths(&g), [path_of("g")]);
}

#[test]
fn a_config_from_the_first_release_is_the_global_tracker() {
    let t = TestHome::new();
    let r = Receiver::start(Mode::Ok);
    t.install(&["--global"]);
    let config = t.state_dir().join("config.json");
    fs::write(
        &config,
        json!({"ping_url": url_on(r.port, "old"), "hash_secret": "00ff"}).to_string(),
    )
    .unwrap();
    emit_in(&t, &t.repo, &[]);
    assert_eq!(r.wait_for(1, Duration::from_secs(20)).len(), 1);
    assert_eq!(paths(&r), [path_of("old")]);
}

#[test]
fn doctor_says_where_pings_go_lists_trackers_and_finds_moved_repositories() {
    let t = short_lived();
    let b = repo(&t, "web");
    install_in(&t, &t.home, &["--global", "--ping-url", &url_on(9, "g")]);
    install_in(&t, &t.repo, &["--repo", "--ping-url", &url_on(9, "a")]);
    install_in(&t, &b, &["--local", "--ping-url", &url_on(9, "b")]);
    fs::rename(&b, t.home.join("projects/web-moved")).unwrap();
    let out = t.run(&["doctor", "--json"]);
    let text = stdout(&out);
    assert!(
        !text.contains("5f4e3d2c1b0a"),
        "a token was printed: {text}"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    let here = check(&report, "ping_url")["message"].as_str().unwrap();
    assert!(
        here.contains("repository") && here.contains("projects/api"),
        "{here}"
    );
    let listed = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("tracker."))
        .count();
    assert_eq!(listed, 3);
    let moved = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().unwrap().ends_with("/web"))
        .unwrap();
    assert_eq!(moved["status"], "warn", "{moved:#}");
    // The environment wins, and doctor says so.
    let out = t
        .cmd(&["doctor", "--json"])
        .env("TELEMHQ_PING_URL", url_on(9, "env"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let here = check(&report, "ping_url")["message"].as_str().unwrap();
    assert!(here.contains("TELEMHQ_PING_URL"), "{here}");
}

#[test]
fn install_says_which_tracker_it_set_and_never_prints_the_token() {
    let t = short_lived();
    let out = t.run(&["install", "--repo", "--ping-url", &url_on(9, "a")]);
    let said = stderr(&out);
    assert!(said.contains("Tracker for repository"), "{said}");
    assert!(!said.contains("5f4e3d2c1b0a"), "{said}");
    let out = t.run(&["install", "--global", "--ping-url", &url_on(9, "g")]);
    let said = stderr(&out);
    assert!(said.contains("Global tracker set"), "{said}");
    assert!(said.contains("(the tracker of repository"), "{said}");
    assert!(!said.contains("5f4e3d2c1b0a"), "{said}");
    emit_in(&t, &t.repo, &[]);
    let log = stdout(&t.run(&["log", "--payload"]));
    assert!(log.contains("-> http://127.0.0.1:9/ping/tok_…"), "{log}");
    assert!(!log.contains("5f4e3d2c1b0a"), "{log}");
}
