//! `telemhq install`: merge telemhq's hooks into each agent's file for a scope (one
//! transaction for all of them), set up the private hooks folder and the link the hook
//! command runs, and store the ping URL.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::agents::Scope;
use crate::cli::InstallArgs;
use crate::config;
use crate::env::{Env, Layout};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, DirChange};
use crate::hookfile::{self, ToolActivity};
use crate::term;
use crate::transaction::{self, Action, Change, IfRecordDamaged, Role, Target};

pub fn run(args: &InstallArgs, env: &Env) -> Result<i32> {
    let scope = super::pick_scope(args.scope, "install")?;
    let targets = super::targets(&args.agent, env, scope, true)?;
    let layout = env.layout()?;
    let tool_activity = match (args.tool_activity, args.no_tool_activity) {
        (true, _) => ToolActivity::On,
        (_, true) => ToolActivity::Off,
        _ => ToolActivity::Keep,
    };
    let action = Action::Install(tool_activity);

    // Everything is checked before anything is written: the private folders, every
    // agent's file, the record, the binary the link will point at, the ping URL.
    check_private_setup(&layout)?;
    let records = transaction::load_records(&layout)?;
    let changes = transaction::plan(env, &targets, action, &records)?;
    let exe = running_exe()?;
    // Asked for once (on a terminal), whatever the number of agents.
    let ping_url = resolve_ping_url(args, env)?;
    let otlp = resolve_otlp(args)?;

    if args.dry_run && args.json_patch {
        print_json_patches(env, &changes);
        return Ok(0);
    }
    if args.dry_run {
        print_previews(env, &changes);
        crate::outln!(
            "{}",
            describe_private_setup(env, &layout, &exe, ping_url.as_deref())
        );
        eprintln!("Dry run: nothing was changed.");
        return Ok(0);
    }
    if changes.iter().any(Change::changes_anything) && term::interactive() && !args.yes {
        print_previews(env, &changes);
        let changing: Vec<&Change> = changes.iter().filter(|c| c.changes_anything()).collect();
        let question = match changing.as_slice() {
            [one] => format!("Write these changes to {}?", env.show(&one.path)),
            many => format!("Write these changes to {} files?", many.len()),
        };
        if !term::confirm(&question)? {
            eprintln!("Nothing was changed.");
            return Ok(1);
        }
    }

    // The private folder and the link first, so that the hooks have something to run.
    if let DirChange::Tightened { from } = fsutil::ensure_private_dir(&layout.hooks_dir)? {
        eprintln!(
            "Tightened {} from {from:o} to 700: it holds telemhq's private state.",
            env.show(&layout.hooks_dir)
        );
    }
    fsutil::ensure_private_dir(&layout.state_dir)?;
    let exe = lasting_binary(&layout, &exe)?;
    ensure_link(&layout.link, &exe)?;
    let repo = tracker_repo(scope, env)?;
    // (Before the tracker is stored: a sender running meanwhile would send them.)
    if let Some(url) = &ping_url {
        settle_the_backlog(args, &layout, repo.as_deref(), url)?;
    }
    store_tracker(&layout, repo.as_deref(), ping_url.as_deref())?;
    store_otlp(&layout, &otlp, args.no_otlp)?;

    let written = transaction::commit(env, &layout, &targets, action, IfRecordDamaged::Refuse)?;
    report(env, &targets, &written);
    if scope == Scope::Repo {
        eprintln!(
            "The hook commands have no personal paths in them: the files can be committed and shared."
        );
    }
    say_where_pings_go(env, scope, ping_url.as_deref())?;
    Ok(0)
}

/// Events recorded while there was no tracker go to the first one their folder gets:
/// say how many the new tracker now gets, and let the user keep them on this machine
/// instead (asked on a terminal; `--keep-local` without one; sent by default).
fn settle_the_backlog(
    args: &InstallArgs,
    layout: &crate::env::Layout,
    repo: Option<&str>,
    url: &str,
) -> Result<()> {
    // The config as it is about to be.
    let mut config = config::Config::load(layout)?;
    match repo {
        Some(root) => config.repos.insert(root.to_string(), url.to_string()),
        None => config.ping_url.replace(url.to_string()),
    };
    let waiting = crate::ping::queue::waiting_for(layout, &config, url);
    if waiting == 0 {
        return Ok(());
    }
    let masked = config::mask_url(url);
    let keep = args.keep_local
        || (!args.yes
            && term::interactive()
            && !term::confirm(&format!(
                "{waiting} event(s) were recorded on this machine while no tracker was set. Send them to {masked} too? (no keeps them here)"
            ))?);
    if keep {
        let kept = crate::ping::queue::keep_local(layout, &config, url, crate::agents::read_usage);
        eprintln!(
            "Kept {kept} event(s) recorded without a tracker on this machine (`telemhq report` has them); only new events go to {masked}."
        );
    } else {
        eprintln!(
            "{waiting} event(s) recorded while no tracker was set now go to {masked} too (`--keep-local` keeps them on this machine)."
        );
    }
    Ok(())
}

/// One line per file: what was written (and where the old version is), or that it was
/// up to date.
fn report(env: &Env, targets: &[Target], written: &[transaction::Written]) {
    for target in targets {
        let agent = target.agent;
        let Some(Ok(path)) = agent.hook_file(env, target.scope) else {
            continue;
        };
        let shown = env.show(&path);
        let mine: Vec<&transaction::Written> = written
            .iter()
            .filter(|w| w.change.agent.id() == agent.id())
            .collect();
        if mine.is_empty() {
            eprintln!("{shown} is already up to date.");
            continue;
        }
        for w in mine {
            let shown = env.show(&w.change.path);
            let events = w
                .change
                .new
                .as_deref()
                .map(|t| w.change.format.installed_events(t).join(", "))
                .unwrap_or_default();
            // (A file that was not there before is said to be made, not changed.)
            let done = if w.change.old.is_none() {
                "Created"
            } else {
                "Updated"
            };
            match w.change.role {
                Role::Hooks => eprintln!(
                    "{done} {shown}: telemhq hooks for {events} in {}.",
                    agent.display_name()
                ),
                Role::Trust => eprintln!(
                    "{done} {shown}: {} trusts telemhq's hooks in {} (it runs only trusted hooks).",
                    agent.display_name(),
                    env.show(&path)
                ),
            }
            if let Some(b) = &w.backup {
                eprintln!("The previous version is kept in {}.", env.show(b));
            }
        }
    }
}

/// Each file's diff (or that it is up to date), once per file.
pub(crate) fn print_previews(env: &Env, changes: &[Change]) {
    for c in changes {
        let shown = env.show(&c.path);
        if c.changes_anything() {
            crate::out!(
                "{}",
                transaction::diff(&shown, c.old.as_deref(), c.new.as_deref())
            );
            if matches!(c.format, hookfile::Format::CodexToml(_))
                && c.new
                    .as_deref()
                    .is_some_and(|t| t.contains("[hooks.state."))
            {
                crate::outln!(
                    "Trusted for {}: exactly telemhq's own hooks (the [hooks.state] entries hold their hashes).",
                    c.agent.display_name()
                );
            }
        } else {
            crate::outln!("{shown} is already up to date: no change.");
        }
    }
}

/// `--dry-run --json-patch`: the change of each JSON file as an RFC 6902 JSON Patch (one
/// file: the patch; several: an object of patches by file).
pub(crate) fn print_json_patches(env: &Env, changes: &[Change]) {
    let mut patches = serde_json::Map::new();
    for c in changes {
        match c.format.dialect() {
            Some(dialect) => {
                patches.insert(
                    env.show(&c.path),
                    hookfile::json_patch(c.old.as_deref(), c.new.as_deref(), dialect),
                );
            }
            None => eprintln!(
                "{} is not JSON: no JSON Patch for it (--dry-run alone shows its diff).",
                env.show(&c.path)
            ),
        }
    }
    let out = if patches.len() == 1 {
        patches
            .into_iter()
            .next()
            .map(|(_, p)| p)
            .unwrap_or_default()
    } else {
        serde_json::Value::Object(patches)
    };
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&out).expect("a patch serialises")
    );
}

/// Which tracker install set, and where this folder's pings go now.
fn say_where_pings_go(env: &Env, scope: Scope, ping_url: Option<&str>) -> Result<()> {
    let layout = env.layout()?;
    let repo = tracker_repo(scope, env)?;
    if let Some(url) = ping_url {
        match &repo {
            Some(root) => eprintln!(
                "Tracker for repository {} set: {} (its pings go there; other folders keep theirs).",
                env.show(Path::new(root)),
                config::mask_url(url)
            ),
            None => eprintln!(
                "Global tracker set: {} (pings from folders without a tracker of their own go there).",
                config::mask_url(url)
            ),
        }
    }
    match config::Config::load(&layout)?.tracker_for(&env.cwd) {
        Some(route) => eprintln!(
            "Pings from this folder go to {} ({}).",
            config::mask_url(&route.url),
            route.source
        ),
        None => eprintln!(
            "No tracker is set for this folder: events are kept on this machine (`telemhq report` \
             shows your usage; `telemhq import` adds your agents' history), and wait in {} until \
             you set one with `telemhq install {} --ping-url URL`.",
            env.show(&layout.queue),
            scope.flag()
        ),
    }
    Ok(())
}

/// Whether a binary runs from a package manager's throw-away cache, which it may clear
/// at any time: npx's (`_npx/`, `_cacache/` in npm's cache), pnpm's `dlx` (`pnpm/dlx/`
/// in its cache), bun's `bunx` (`bunx-<uid>-<package>` in the temporary folder, or
/// `.bun/install/cache`).
pub(crate) fn in_throwaway_cache(exe: &Path) -> bool {
    let parts: Vec<String> = exe
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.iter().enumerate().any(|(i, c)| {
        let before = |name: &str| i > 0 && parts[i - 1].contains(name);
        c == "_npx"
            || c == "_cacache"
            || (c == "dlx" && before("pnpm"))
            || c.starts_with("bunx-")
            || (c == "cache" && before("install") && i > 1 && parts[i - 2] == ".bun")
    })
}

/// The binary the hook link is to point at: the running one, unless it lives in a cache
/// that its package manager may clear (see `in_throwaway_cache`): then a copy in
/// telemhq's own folder, so that the hooks never lose it.
fn lasting_binary(layout: &crate::env::Layout, exe: &Path) -> Result<PathBuf> {
    if !in_throwaway_cache(exe) {
        return Ok(exe.to_path_buf());
    }
    let dir = layout.state_dir.join("bin");
    fsutil::ensure_private_dir(&dir)?;
    let copy = dir.join(format!("telemhq-{}", env!("CARGO_PKG_VERSION")));
    let bytes = fs::read(exe).ctx("read", exe)?;
    if fs::read(&copy).ok().as_deref() != Some(bytes.as_slice()) {
        let tmp = dir.join(format!(".telemhq-{}", fsutil::unique_suffix()));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o700)
                .open(&tmp)
                .ctx("create", &tmp)?;
            std::io::Write::write_all(&mut f, &bytes).ctx("write", &tmp)?;
        }
        fs::rename(&tmp, &copy).ctx("replace", &copy)?;
    }
    eprintln!(
        "This telemhq runs from a package manager's cache (npx, pnpm dlx, bunx), which it may clear: the hooks run a copy in {}.",
        crate::term::path(&copy)
    );
    Ok(copy)
}

/// The telemhq binary that is running, resolved: the hook link points at it.
pub(crate) fn running_exe() -> Result<PathBuf> {
    std::env::current_exe()
        .and_then(fs::canonicalize)
        .map_err(|e| {
            Error::new(format!(
                "cannot find the telemhq binary that is running: {e}"
            ))
        })
}

/// Stores a ping URL as the repository's tracker (or, without one, the global tracker).
pub(crate) fn store_tracker(
    layout: &Layout,
    repo: Option<&str>,
    ping_url: Option<&str>,
) -> Result<config::Config> {
    config::update(layout, |config| {
        if let Some(url) = ping_url {
            match repo {
                Some(root) => config.repos.insert(root.to_string(), url.to_string()),
                None => config.ping_url.replace(url.to_string()),
            };
        }
        Ok(())
    })
}

/// The OpenTelemetry destination the flags give (checked before anything is written).
fn resolve_otlp(args: &InstallArgs) -> Result<Option<config::Otlp>> {
    let Some(raw) = &args.otlp_endpoint else {
        return Ok(None);
    };
    let endpoint = config::PingUrl::parse_otlp(raw)
        .map_err(|e| Error::new(format!("{e}; nothing was changed")))?;
    let pairs = |flag: &str, values: &[String]| -> Result<BTreeMap<String, String>> {
        values
            .iter()
            .map(|v| match v.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
                _ => Err(Error::usage(format!(
                    "{flag} takes KEY=VALUE; nothing was changed"
                ))),
            })
            .collect()
    };
    let headers = pairs("--otlp-header", &args.otlp_header)?;
    // What an HTTP header cannot hold would fail every export, forever: refused now.
    for (name, value) in &headers {
        if let Some(why) = config::header_problem(name, value) {
            return Err(Error::usage(format!(
                "--otlp-header: {why}; nothing was changed"
            )));
        }
    }
    Ok(Some(config::Otlp {
        endpoint: endpoint.as_str().trim_end_matches('/').to_string(),
        headers,
        resource: pairs("--otlp-resource-attribute", &args.otlp_resource_attribute)?,
    }))
}

/// Stores (or, with --no-otlp, forgets) the OpenTelemetry destination.
fn store_otlp(layout: &Layout, otlp: &Option<config::Otlp>, remove: bool) -> Result<()> {
    if otlp.is_none() && !remove {
        return Ok(());
    }
    config::update(layout, |config| {
        config.otlp = otlp.clone();
        Ok(())
    })?;
    match otlp {
        Some(o) => eprintln!(
            "OpenTelemetry export: every event also goes to {} (logs and metrics over OTLP/HTTP){}.",
            config::mask_url(&o.endpoint),
            if o.headers.is_empty() {
                String::new()
            } else {
                format!(", with {} header(s) kept private", o.headers.len())
            }
        ),
        None => eprintln!("OpenTelemetry export: off."),
    }
    Ok(())
}

/// The repository whose tracker a scope sets (None: the global tracker), by its root.
pub(crate) fn tracker_repo(scope: Scope, env: &Env) -> Result<Option<String>> {
    if scope == Scope::Global {
        return Ok(None);
    }
    let root = crate::agents::repo_root(env, scope)?;
    let root = fs::canonicalize(&root).unwrap_or(root);
    Ok(Some(root.to_string_lossy().into_owned()))
}

fn describe_private_setup(
    env: &Env,
    layout: &Layout,
    exe: &Path,
    ping_url: Option<&str>,
) -> String {
    let mut lines = vec![format!(
        "Private folder: {} (mode 700)",
        env.show(&layout.hooks_dir)
    )];
    lines.push(format!(
        "Hook link: {} -> {}",
        env.show(&layout.link),
        term::path(exe)
    ));
    if let Some(url) = ping_url {
        lines.push(format!(
            "Ping URL to store (mode 600): {}",
            config::mask_url(url)
        ));
    }
    lines.join("\n")
}

/// Checks, before anything is written, that telemhq's private folders are real folders
/// of the user's own and that the hook link, if present, is a link (a file of the user's
/// own in its place is never replaced).
pub(crate) fn check_private_setup(layout: &Layout) -> Result<()> {
    for dir in layout.private_dirs() {
        fsutil::check_private_dir(dir)?;
    }
    match fs::symlink_metadata(&layout.link) {
        Ok(meta) if !meta.file_type().is_symlink() => Err(Error::new(format!(
            "{} is {} of your own, not the link telemhq makes there: telemhq will not replace \
             it; move it aside and install again (nothing was changed)",
            term::path(&layout.link),
            fsutil::kind_of(&meta)
        ))),
        _ => Ok(()),
    }
}

/// Points `<claude dir>/hooks/telemhq` at this binary (replacing a stale link atomically).
pub(crate) fn ensure_link(link: &Path, exe: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|target| target == exe) {
        return Ok(());
    }
    let tmp: PathBuf = link.with_file_name(format!(".telemhq-link-{}", fsutil::unique_suffix()));
    symlink(exe, &tmp).ctx("create the link", &tmp)?;
    fs::rename(&tmp, link)
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
        .ctx("replace", link)
}

/// The tracker the install's scope already has: the global one for `--global`, this
/// repository's own for `--repo` and `--local`.
fn scope_tracker(args: &InstallArgs, env: &Env) -> Option<String> {
    let config = config::Config::load(&env.layout().ok()?).ok()?;
    if args.scope.global {
        return config.ping_url;
    }
    match config.tracker_for(&env.cwd)? {
        config::Route {
            url,
            source: config::TrackerSource::Repository(_),
        } => Some(url),
        _ => None,
    }
}

pub(crate) fn resolve_ping_url(args: &InstallArgs, env: &Env) -> Result<Option<String>> {
    let raw = match (&args.ping_url, &env.ping_url) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(url)) => Some(url.clone()),
        (None, None) if term::interactive() && !args.dry_run && !args.yes => {
            // A scope that has its tracker keeps it: nothing to ask (--ping-url changes it).
            if let Some(url) = scope_tracker(args, env) {
                eprintln!(
                    "Keeping this scope's tracker ({}); --ping-url URL changes it.",
                    config::mask_url(&url)
                );
                return Ok(None);
            }
            term::secret("TelemHQ ping URL (input hidden; leave empty to set it later)")?
        }
        _ => None,
    };
    match raw {
        None => Ok(None),
        Some(raw) => config::validate_ping_url(&raw)
            .map(|u| Some(u.as_str().to_string()))
            .map_err(|e| Error::new(format!("{e}; nothing was changed"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_caches_of_npx_pnpm_and_bun_are_told_apart_from_installs() {
        for cached in [
            "/home/u/.npm/_npx/1a2b/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/home/u/.cache/pnpm/dlx/abc123/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/home/u/.local/share/pnpm/dlx/x/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/tmp/bunx-1000-telemhq@latest/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/home/u/.bun/install/cache/@telemhq/linux-x64@0.1.0/bin/telemhq",
        ] {
            assert!(in_throwaway_cache(Path::new(cached)), "{cached}");
        }
        for installed in [
            "/usr/lib/node_modules/telemhq/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/home/u/.local/share/pnpm/global/5/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/home/u/.bun/install/global/node_modules/@telemhq/linux-x64/bin/telemhq",
            "/home/u/.cargo/bin/telemhq",
            "/home/u/dlx/telemhq",
        ] {
            assert!(!in_throwaway_cache(Path::new(installed)), "{installed}");
        }
    }
}
