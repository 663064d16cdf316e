//! Privacy: private folders and files, the ping URL, and the token in no shared file.

use super::super::facts::Facts;
use super::super::{PRIVACY, Report};
use crate::config;
use crate::env::Env;

pub(super) fn check_privacy(facts: &Facts, env: &Env, report: &mut Report) {
    let layout = &facts.layout;
    // Every private folder: a real folder of the user's own, 700 (never a link or a file).
    let mut problems = Vec::new();
    for (dir, state) in &facts.private_dirs {
        match state {
            Err(e) => problems.push((
                e.clone(),
                format!(
                    "move {} aside, then telemhq install --global",
                    crate::term::path(dir)
                ),
            )),
            Ok(Some(mode)) if *mode & 0o077 != 0 => problems.push((
                format!(
                    "{} has mode {mode:o}: others can read telemhq's config and queue",
                    env.show(dir)
                ),
                format!("chmod 700 {}", crate::term::path(dir)),
            )),
            Ok(_) => {}
        }
    }
    let hooks_missing = matches!(facts.private_dirs.first(), Some((_, Ok(None))));
    match problems.into_iter().next() {
        Some((message, fix)) => report.fail(PRIVACY, "folder.hooks", message, fix),
        None if hooks_missing => report.fail(
            PRIVACY,
            "folder.hooks",
            format!(
                "the private hooks folder {} does not exist",
                env.show(&layout.hooks_dir)
            ),
            "telemhq install --global",
        ),
        None => report.ok(
            PRIVACY,
            "folder.hooks",
            format!(
                "{} and its folders are private (700, yours, no links)",
                env.show(&layout.hooks_dir)
            ),
        ),
    }
    let loose = &facts.loose_files;
    if loose.is_empty() {
        report.ok(
            PRIVACY,
            "files.private",
            "telemhq's config and queue files are private (600)",
        );
    } else {
        let first = &loose[0];
        report.fail(
            PRIVACY,
            "files.private",
            format!(
                "{} of telemhq's files can be read by others, e.g. {}",
                loose.len(),
                env.show(first)
            ),
            format!("chmod -R go-rwx {}", crate::term::path(&layout.state_dir)),
        );
    }
    match &facts.config {
        Err(e) => report.fail(
            PRIVACY,
            "config.readable",
            e.clone(),
            format!(
                "fix or remove {}, then run telemhq install --global",
                crate::term::path(&layout.config)
            ),
        ),
        // A value that does not read is left out with its default: the rest works.
        Ok(c) if !c.problems.is_empty() => report.warn(
            PRIVACY,
            "config.values",
            format!(
                "{}: {} (left out: its default is used)",
                crate::term::path(&layout.config),
                c.problems
                    .iter()
                    .map(|(key, why)| format!(
                        "{}: {}",
                        crate::term::safe(key),
                        crate::term::safe(why)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            format!(
                "correct or remove those keys in {}",
                crate::term::path(&layout.config)
            ),
        ),
        Ok(_) => {}
    }
    let any_tracker = !facts.trackers.is_empty();
    match &facts.route {
        // Without an account: a supported mode, where the events stay here.
        None if !any_tracker => {
            report.local_only = true;
            report.info(
            PRIVACY,
            "ping_url",
            "no tracker is set: every event stays on this machine (telemhq report shows them); \
             to send them to TelemHQ: telemhq install --global --ping-url URL",
            )
        }
        None => report.warn(
            PRIVACY,
            "ping_url",
            "no tracker is set for this folder (other folders have theirs): its events stay on this machine",
            "telemhq install --global --ping-url URL (or --repo in this repository), with the URL of your TelemHQ job",
        ),
        Some(route) => match config::validate_ping_url(&route.url) {
            Ok(_) => report.ok(
                PRIVACY,
                "ping_url",
                format!(
                    "pings from this folder go to {} ({})",
                    config::mask_url(&route.url),
                    route.source
                ),
            ),
            Err(e) => report.fail(
                PRIVACY,
                "ping_url",
                format!("pings from this folder would go to {}: {e}", route.source),
                "telemhq install --global --ping-url URL (or --repo in a repository)",
            ),
        },
    }
    if let Some((layer, path, url)) = &facts.settings_route
        && matches!(
            layer,
            crate::agents::claude::settings::Layer::Project
                | crate::agents::claude::settings::Layer::Local
        )
    {
        report.warn(
            PRIVACY,
            "ping_url.redirected",
            format!(
                "this repository's Claude Code settings ({}) set TELEMHQ_PING_URL for the hooks: \
                 pings from this folder go to {}, not to your trackers",
                env.show(path),
                config::mask_url(url)
            ),
            format!(
                "if that is not your TelemHQ job, remove \"TELEMHQ_PING_URL\" from \"env\" in {}",
                env.show(path)
            ),
        );
    }
    for (repo, url, there) in &facts.trackers {
        let (id, what) = match repo {
            None => (
                "tracker.global".to_string(),
                "the global tracker".to_string(),
            ),
            Some(root) => (
                format!("tracker.{root}"),
                format!(
                    "the tracker of repository {}",
                    env.show(std::path::Path::new(root))
                ),
            ),
        };
        if *there {
            report.ok(PRIVACY, id, format!("{what}: {}", config::mask_url(url)));
        } else {
            report.warn(
                PRIVACY,
                id,
                format!(
                    "{what}: {}; that repository is no longer there (moved or deleted)",
                    config::mask_url(url)
                ),
                format!(
                    "in the repository's new place: telemhq install --repo --ping-url URL; then remove the old entry from \"repos\" in {}",
                    crate::term::path(&layout.config)
                ),
            );
        }
    }
    let url = facts.route.as_ref().map(|r| &r.url);
    if url.is_some() || !facts.trackers.is_empty() {
        let exposed = &facts.exposed;
        if exposed.is_empty() {
            if facts.tracked_checked {
                report.ok(
                    PRIVACY,
                    "token.exposed",
                    "the ping token is in no settings file and no file tracked by git here",
                );
            } else {
                // What was not looked through is not vouched for.
                report.info(
                    PRIVACY,
                    "token.exposed",
                    "the ping token is in no settings file; the files git tracks here were not checked within doctor's time budget",
                );
            }
        } else {
            report.fail(
                PRIVACY,
                "token.exposed",
                format!("the ping token appears in {}", exposed.join(", ")),
                "remove it from those files (telemhq keeps the URL in its private config), and rotate the token in TelemHQ if the file was shared",
            );
        }
    }
}
