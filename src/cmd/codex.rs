//! `telemhq install --agent codex` and `uninstall --agent codex`: telemhq's hooks, and the
//! trust entries that let Codex run them, in Codex's `config.toml`, with the same
//! guarantees as for Claude Code (checked first, atomic, backup, idempotent, dry-run
//! diff, uninstall byte for byte).

use std::path::{Path, PathBuf};

use crate::claude::settings::Scope;
use crate::cli::{InstallArgs, UninstallArgs};
use crate::codex::hooks;
use crate::env::{Env, git_root};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::settings_change::{self, IfRecordDamaged, Outcome, Record};
use crate::term;

/// Codex's config file for a scope: `$CODEX_HOME/config.toml` (else `~/.codex`), or the
/// repository's `.codex/config.toml`.
pub fn config_path(env: &Env, scope: Scope) -> Result<PathBuf> {
    match scope {
        Scope::Global => {
            let dir = std::env::var_os("CODEX_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| env.home.as_ref().map(|h| h.join(".codex")))
                .ok_or_else(|| Error::new("cannot find Codex's folder: set HOME or CODEX_HOME"))?;
            if dir.is_relative() {
                return Err(Error::new(format!(
                    "CODEX_HOME is a relative path ({}): set it to an absolute path",
                    dir.display()
                )));
            }
            Ok(dir.join("config.toml"))
        }
        Scope::Repo => {
            let root = git_root(&env.cwd).ok_or_else(|| {
                Error::new(format!(
                    "{} is not inside a git repository, so there is no project config for --repo; \
                     run this inside your project, or use --global",
                    env.cwd.display()
                ))
            })?;
            Ok(root.join(".codex/config.toml"))
        }
        Scope::Local => Err(Error::usage(
            "Codex has no personal per-repository config: use --global or --repo with --agent codex",
        )),
    }
}

/// Reads a config.toml as text (missing: None), refusing what is not a regular UTF-8
/// file, and checking that it is TOML, with the place of any error.
fn read(path: &Path) -> Result<Option<String>> {
    let bytes = match fsutil::read_regular(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, &e)),
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::new(format!(
            "{}: not UTF-8 text; fix it and run again (your file was not changed)",
            path.display()
        ))
    })?;
    if let Err(e) = text.parse::<toml_edit::DocumentMut>() {
        return Err(Error::new(format!(
            "{}: not valid TOML: {}\n  fix it and run again (your file was not changed)",
            path.display(),
            e.to_string().trim()
        )));
    }
    Ok(Some(text))
}

fn planned(path: &Path, e: hooks::ConfigError) -> Error {
    Error::new(format!("{}: {}; nothing was changed", path.display(), e.0))
}

pub fn install(args: &InstallArgs, env: &Env, scope: Scope, ping_url: Option<&str>) -> Result<i32> {
    let layout = env.layout()?;
    let path = config_path(env, scope)?;
    let real = fsutil::resolve_symlinks(&path);
    // Codex names the file in its trust keys as it reaches it.
    let source = path.to_string_lossy().into_owned();
    let tool_activity = match (args.tool_activity, args.no_tool_activity) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    super::install::check_private_setup(&layout)?;
    let text = read(&real)?;
    settings_change::load_records(&layout)?;
    let (preview, _) = hooks::plan_install(text.as_deref(), &source, tool_activity)
        .map_err(|e| planned(&path, e))?;
    let preview = Some(preview).filter(|p| !(text.is_none() && p.is_empty()));
    let shown = env.show(&path);
    let exe = super::install::running_exe()?;
    if args.dry_run || (preview != text && term::interactive() && !args.yes) {
        if preview == text {
            crate::outln!("{shown} is already up to date: no change.");
        } else {
            crate::out!(
                "{}",
                settings_change::diff(&shown, text.as_deref(), preview.as_deref())
            );
            crate::outln!(
                "Trusted for Codex: exactly telemhq's own hooks above (the [hooks.state] entries hold their hashes)."
            );
        }
    }
    if args.dry_run {
        eprintln!("Dry run: nothing was changed.");
        return Ok(0);
    }
    if preview != text
        && term::interactive()
        && !args.yes
        && !term::confirm(&format!("Write these changes to {shown}?"))?
    {
        eprintln!("Nothing was changed.");
        return Ok(1);
    }
    fsutil::ensure_private_dir(&layout.hooks_dir)?;
    fsutil::ensure_private_dir(&layout.state_dir)?;
    super::install::ensure_link(&layout.link, &exe)?;
    let repo = super::install::tracker_repo(scope, env)?;
    super::install::store_tracker(&layout, repo.as_deref(), ping_url)?;
    let outcome = settings_change::commit(
        &layout,
        &real,
        IfRecordDamaged::Refuse,
        read,
        |text: &Option<String>, record: Option<&Record>| {
            let mut record = record.cloned().unwrap_or_else(|| Record {
                created_file: text.is_none(),
                ..Record::default()
            });
            let (new, created) = hooks::plan_install(text.as_deref(), &source, tool_activity)
                .map_err(|e| planned(&path, e))?;
            let mut codex = record.codex.take().unwrap_or_default();
            codex.hooks |= created.hooks;
            codex.state |= created.state;
            for e in created.events {
                if !codex.events.contains(&e) {
                    codex.events.push(e);
                }
            }
            record.codex = Some(codex);
            Ok((
                Some(new).filter(|n| !(text.is_none() && n.is_empty())),
                Some(record),
            ))
        },
    )?;
    match outcome {
        Outcome::UpToDate => eprintln!("{shown} is already up to date."),
        Outcome::Written { backup } => {
            let after = read(&real)?.unwrap_or_default();
            eprintln!(
                "Updated {shown}: telemhq hooks for {} in Codex, trusted (Codex runs only trusted hooks).",
                hooks::installed_events(&after).join(", ")
            );
            if let Some(b) = backup {
                eprintln!("The previous version is kept in {}.", env.show(&b));
            }
        }
    }
    Ok(0)
}

pub fn uninstall(args: &UninstallArgs, env: &Env, scope: Scope) -> Result<i32> {
    let layout = env.layout()?;
    let path = config_path(env, scope)?;
    let real = fsutil::resolve_symlinks(&path);
    let source = path.to_string_lossy().into_owned();
    let shown = env.show(&path);
    let text = read(&real)?;
    let records = match settings_change::load_records(&layout) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("telemhq: warning: {e}");
            Default::default()
        }
    };
    let record = records.get(&settings_change::record_key(&real)).cloned();
    let compute = |text: &Option<String>,
                   record: Option<&Record>|
     -> Result<(Option<String>, Option<Record>)> {
        let created = record.and_then(|r| r.codex.clone()).unwrap_or_default();
        let new = hooks::plan_uninstall(text.as_deref(), &source, &created)
            .map_err(|e| planned(&path, e))?;
        if Some(new.as_str()) == text.as_deref() || (text.is_none() && new.is_empty()) {
            return Ok((text.clone(), record.cloned()));
        }
        if new.is_empty() && record.is_some_and(|r| r.created_file) {
            return Ok((None, None));
        }
        Ok((Some(new), None))
    };
    let (preview, _) = compute(&text, record.as_ref())?;
    if preview == text {
        eprintln!("{shown} has no telemhq hooks: nothing to remove.");
        return Ok(0);
    }
    if let Some(code) =
        super::uninstall::preview_removal(args, &shown, text.as_deref(), preview.as_deref())?
    {
        return Ok(code);
    }
    settings_change::commit(&layout, &real, IfRecordDamaged::GoOn, read, compute)?;
    eprintln!("Removed telemhq's hooks and their trust entries from {shown}.");
    Ok(0)
}
