//! `telemhq uninstall`: take exactly telemhq's entries out of one settings file, and
//! the containers install created that are empty now.

use super::agent_files::{JsonHooks, json_hooks};
use crate::agent::Agent;
use crate::claude::settings::Scope;
use crate::cli::UninstallArgs;
use crate::config;
use crate::env::Env;
use crate::error::Result;
use crate::fsutil;
use crate::jsonfile::SettingsFile;
use crate::settings_change::{self, IfRecordDamaged, Outcome, Record};
use crate::term;

pub fn run(args: &UninstallArgs, env: &Env) -> Result<i32> {
    let scope = super::pick_scope(args.scope, "uninstall")?;
    let mut code = 0;
    let agents = super::agents(&args.agent, env, scope, "uninstall")?;
    for &agent in &agents {
        code = code.max(match agent {
            Agent::Codex => super::codex::uninstall(args, env, scope)?,
            _ => uninstall_json(args, env, &json_hooks(agent, env, scope)?)?,
        });
    }
    forget_tracker(env, scope)?;
    eprintln!(
        "telemhq's own folder {} (config, queued events) is kept; delete it to remove everything.",
        env.show(&env.layout()?.state_dir)
    );
    Ok(code)
}

/// Uninstalls from an agent's JSON hook file.
fn uninstall_json(args: &UninstallArgs, env: &Env, target: &JsonHooks) -> Result<i32> {
    let layout = env.layout()?;
    let real = fsutil::resolve_symlinks(&target.path);
    let shown = env.show(&target.path);

    let file = (target.read)(&real)?;
    // A damaged record does not stop an uninstall: telemhq's entries are known by their
    // exact command; only the containers install created cannot be told apart.
    let records = match settings_change::load_records(&layout) {
        Ok(records) => records,
        Err(e) => {
            eprintln!("telemhq: warning: {e}");
            Default::default()
        }
    };
    let (preview_new, _) = compute(
        target,
        &file,
        records.get(&settings_change::record_key(&real)),
    )?;
    if preview_new == file.text {
        eprintln!("{shown} has no telemhq hooks: nothing to remove.");
        return Ok(0);
    }
    if args.dry_run && args.json_patch {
        crate::outln!(
            "{}",
            settings_change::json_patch(&file.value, preview_new.as_deref())
        );
        return Ok(0);
    }
    if let Some(code) = preview_removal(args, &shown, file.text.as_deref(), preview_new.as_deref())?
    {
        return Ok(code);
    }
    let outcome = settings_change::commit(
        &layout,
        &real,
        IfRecordDamaged::GoOn,
        target.read,
        |file: &SettingsFile, record: Option<&Record>| {
            compute(target, file, record).map(|(new, _)| (new, None))
        },
    )?;
    match outcome {
        Outcome::UpToDate => eprintln!("{shown} has no telemhq hooks: nothing to remove."),
        Outcome::Written { backup } => {
            if real.exists() {
                eprintln!("Removed telemhq's hooks from {shown}.");
            } else {
                eprintln!("Removed {shown}: install had created it and nothing else is in it.");
            }
            if let Some(b) = backup {
                eprintln!("The previous version is kept in {}.", env.show(&b));
            }
        }
    }
    Ok(0)
}

/// The repository's tracker goes with its hooks; events already queued for it still go.
fn forget_tracker(env: &Env, scope: Scope) -> Result<()> {
    let layout = env.layout()?;
    if let Some(root) = super::install::tracker_repo(scope, env)? {
        let mut removed = None;
        config::update(&layout, |config| {
            removed = config.repos.remove(&root);
            Ok(())
        })?;
        if let Some(url) = removed {
            eprintln!(
                "Removed the tracker of repository {} ({}); events already queued for it still go there.",
                env.show(std::path::Path::new(&root)),
                config::mask_url(&url)
            );
        }
    }
    Ok(())
}

/// Shows the removal (dry run, or on a terminal without `--yes`) and asks for it. Some
/// exit code: stop here (a dry run, or the user said no); None: go on and write.
pub(crate) fn preview_removal(
    args: &UninstallArgs,
    shown: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<Option<i32>> {
    if args.dry_run || (term::interactive() && !args.yes) {
        crate::out!("{}", settings_change::diff(shown, old, new));
    }
    if args.dry_run {
        eprintln!("Dry run: nothing was changed.");
        return Ok(Some(0));
    }
    if term::interactive()
        && !args.yes
        && !term::confirm(&format!("Remove telemhq's hooks from {shown}?"))?
    {
        eprintln!("Nothing was changed.");
        return Ok(Some(1));
    }
    Ok(None)
}

fn compute(
    target: &JsonHooks,
    file: &SettingsFile,
    record: Option<&Record>,
) -> Result<(Option<String>, Option<Record>)> {
    let record = record.cloned().unwrap_or_default();
    let plan =
        (target.plan_uninstall)(&file.value, &record.created).map_err(|e| target.shape_error(e))?;
    if plan.changes_nothing() {
        return Ok((file.text.clone(), Some(record)));
    }
    let emptied = (target.holds_nothing)(&plan.new);
    if emptied && record.created_file {
        return Ok((None, None));
    }
    if emptied && let Some(blank) = &record.blank_text {
        return Ok((Some(blank.clone()), None));
    }
    let mut blank_inner = record.blank_inner.clone();
    Ok((
        Some(settings_change::render(
            file,
            &plan,
            &mut blank_inner,
            false,
        )?),
        None,
    ))
}
