//! `telemhq install`: merge telemhq's hook groups into one settings file, set up the
//! private hooks folder and the link the hook command runs, and store the ping URL.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::agent_files::{JsonHooks, json_hooks};
use crate::agent::Agent;
use crate::claude::settings::Scope;
use crate::cli::InstallArgs;
use crate::config;
use crate::env::{Env, Layout};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, DirChange};
use crate::hook_groups::ToolActivity;
use crate::jsonfile::SettingsFile;
use crate::settings_change::{self, IfRecordDamaged, Outcome, Record};
use crate::term;

pub fn run(args: &InstallArgs, env: &Env) -> Result<i32> {
    let scope = super::pick_scope(args.scope, "install")?;
    let agents = super::agents(&args.agent, env, scope, "install")?;
    // Asked for once (on a terminal), whatever the number of agents.
    let ping_url = resolve_ping_url(args, env)?;
    let mut code = 0;
    for agent in agents {
        code = code.max(match agent {
            Agent::Codex => super::codex::install(args, env, scope, ping_url.as_deref())?,
            _ => install_json(
                args,
                env,
                scope,
                &json_hooks(agent, env, scope)?,
                ping_url.as_deref(),
            )?,
        });
    }
    if code == 0 && !args.dry_run {
        say_where_pings_go(env, scope, ping_url.as_deref())?;
    }
    Ok(code)
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
            "No tracker is set for this folder: events stay on this machine, queued in {}, until \
             you set one with `telemhq install {} --ping-url URL`.",
            env.show(&layout.queue),
            scope.flag()
        ),
    }
    Ok(())
}

/// Installs into an agent's JSON hook file (Claude Code's or Gemini CLI's settings,
/// Copilot CLI's hook file).
fn install_json(
    args: &InstallArgs,
    env: &Env,
    scope: Scope,
    target: &JsonHooks,
    ping_url: Option<&str>,
) -> Result<i32> {
    let layout = env.layout()?;
    let settings_path = &target.path;
    let real = fsutil::resolve_symlinks(settings_path);
    let tool_activity = match (args.tool_activity, args.no_tool_activity) {
        (true, _) => ToolActivity::On,
        (_, true) => ToolActivity::Off,
        _ => ToolActivity::Keep,
    };

    // Everything is checked before anything is written.
    check_private_setup(&layout)?;
    let file = (target.read)(&real)?;
    let records = settings_change::load_records(&layout)?;
    let record = records.get(&settings_change::record_key(&real));
    let (preview_new, _) = compute(target, &file, record, tool_activity)?;
    let shown = env.show(settings_path);
    // The hook link points at this binary: it must be found.
    let exe = running_exe()?;

    if args.dry_run && args.json_patch {
        crate::outln!(
            "{}",
            settings_change::json_patch(&file.value, preview_new.as_deref())
        );
        return Ok(0);
    }
    if args.dry_run {
        print_preview(&shown, &file.text, &preview_new);
        crate::outln!("{}", describe_private_setup(env, &layout, &exe, ping_url));
        eprintln!("Dry run: nothing was changed.");
        return Ok(0);
    }
    if preview_new != file.text && term::interactive() && !args.yes {
        print_preview(&shown, &file.text, &preview_new);
        if !term::confirm(&format!("Write these changes to {shown}?"))? {
            eprintln!("Nothing was changed.");
            return Ok(1);
        }
    }

    // The private folder and the link first, so that the hooks have something to run.
    let hooks_dir_change = fsutil::ensure_private_dir(&layout.hooks_dir)?;
    if let DirChange::Tightened { from } = hooks_dir_change {
        eprintln!(
            "Tightened {} from {from:o} to 700: it holds telemhq's private state.",
            env.show(&layout.hooks_dir)
        );
    }
    fsutil::ensure_private_dir(&layout.state_dir)?;
    ensure_link(&layout.link, &exe)?;
    let repo = tracker_repo(scope, env)?;
    store_tracker(&layout, repo.as_deref(), ping_url)?;

    let outcome = settings_change::commit(
        &layout,
        &real,
        IfRecordDamaged::Refuse,
        target.read,
        |file: &SettingsFile, record: Option<&Record>| {
            compute(target, file, record, tool_activity).map(|(new, rec)| (new, Some(rec)))
        },
    )?;
    match outcome {
        Outcome::UpToDate => eprintln!("{shown} is already up to date."),
        Outcome::Written { backup } => {
            let after = (target.read)(&real)?;
            let events = (target.installed_events)(&after.value).join(", ");
            eprintln!(
                "Updated {shown}: telemhq hooks for {events} in {}.",
                target.agent.display_name()
            );
            if let Some(b) = backup {
                eprintln!("The previous version is kept in {}.", env.show(&b));
            }
        }
    }
    if scope == Scope::Repo {
        eprintln!(
            "The hook command has no personal paths in it: the file can be committed and shared."
        );
    }
    Ok(0)
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

/// The repository whose tracker a scope sets (None: the global tracker), by its root.
pub(crate) fn tracker_repo(scope: Scope, env: &Env) -> Result<Option<String>> {
    if scope == Scope::Global {
        return Ok(None);
    }
    let root = crate::env::git_root(&env.cwd).ok_or_else(|| {
        Error::new(format!(
            "{} is not inside a git repository",
            env.cwd.display()
        ))
    })?;
    let root = fs::canonicalize(&root).unwrap_or(root);
    Ok(Some(root.to_string_lossy().into_owned()))
}

/// The new content and record for a settings file, from its current state.
fn compute(
    target: &JsonHooks,
    file: &SettingsFile,
    record: Option<&Record>,
    tool_activity: ToolActivity,
) -> Result<(Option<String>, Record)> {
    let previous = record.cloned().unwrap_or_else(|| Record {
        created_file: file.text.is_none(),
        blank_text: file.text.clone().filter(|t| t.trim().is_empty()),
        ..Record::default()
    });
    let plan = (target.plan_install)(&file.value, tool_activity, &previous.created)
        .map_err(|e| target.shape_error(e))?;
    if plan.changes_nothing() {
        return Ok((file.text.clone(), previous));
    }
    let mut record = previous;
    let text = settings_change::render(file, &plan, &mut record.blank_inner, true)?;
    record.created.merge(&plan.created);
    Ok((Some(text), record))
}

fn print_preview(shown: &str, old: &Option<String>, new: &Option<String>) {
    if old == new {
        crate::outln!("{shown} is already up to date: no change.");
    } else {
        crate::out!(
            "{}",
            settings_change::diff(shown, old.as_deref(), new.as_deref())
        );
    }
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
        exe.display()
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
            layout.link.display(),
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

pub(crate) fn resolve_ping_url(args: &InstallArgs, env: &Env) -> Result<Option<String>> {
    let raw = match (&args.ping_url, &env.ping_url) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(url)) => Some(url.clone()),
        (None, None) if term::interactive() && !args.dry_run && !args.yes => {
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
