//! `telemhq uninstall`: take exactly telemhq's entries out of each agent's file for a
//! scope (one transaction for all of them), and the containers install created that are
//! empty now; the repository's tracker goes once no agent there has telemhq's hooks.

use std::path::Path;

use crate::agents::{self, Scope};
use crate::cli::UninstallArgs;
use crate::config;
use crate::env::Env;
use crate::error::Result;
use crate::term;
use crate::transaction::{self, Action, Change, IfRecordDamaged, Role, Target};

pub fn run(args: &UninstallArgs, env: &Env) -> Result<i32> {
    let scope = super::pick_scope(args.scope, "uninstall")?;
    let targets = super::targets(&args.agent, env, scope, false)?;
    let layout = env.layout()?;
    // A damaged record does not stop an uninstall: telemhq's entries are known by their
    // exact command; only the containers install created cannot be told apart.
    let records = match transaction::load_records(&layout) {
        Ok(records) => records,
        Err(e) => {
            eprintln!("telemhq: warning: {e}");
            Default::default()
        }
    };
    let changes = transaction::plan(env, &targets, Action::Uninstall, &records)?;
    let changing: Vec<&Change> = changes.iter().filter(|c| c.changes_anything()).collect();
    // With `--agent all`, only the agents whose files are here are named (as install
    // names only the agents it found).
    let all = args.agent.iter().any(|a| a == "all");
    for c in changes
        .iter()
        .filter(|c| c.role == Role::Hooks && !c.changes_anything())
    {
        let shown = env.show(&c.path);
        if c.old.is_none() {
            if !all {
                eprintln!("{shown}: not present, nothing to remove.");
            }
        } else {
            eprintln!("{shown} has no telemhq hooks: nothing to remove.");
        }
    }
    if all && changes.iter().all(|c| c.old.is_none()) {
        eprintln!(
            "No agent has {} settings here: nothing to remove.",
            scope.flag()
        );
    }
    if !changing.is_empty() {
        if args.dry_run && args.json_patch {
            super::install::print_json_patches(env, &changes);
            return Ok(0);
        }
        if args.dry_run || (term::interactive() && !args.yes) {
            for c in &changing {
                crate::out!(
                    "{}",
                    transaction::diff(&env.show(&c.path), c.old.as_deref(), c.new.as_deref())
                );
            }
        }
        if args.dry_run {
            eprintln!("Dry run: nothing was changed.");
            return Ok(0);
        }
        if term::interactive() && !args.yes && !term::confirm("Remove telemhq's hooks as shown?")? {
            eprintln!("Nothing was changed.");
            return Ok(1);
        }
        let written = transaction::commit(
            env,
            &layout,
            &targets,
            Action::Uninstall,
            IfRecordDamaged::GoOn,
        )?;
        for w in &written {
            let c = &w.change;
            let shown = env.show(&c.path);
            match (c.role, &c.new) {
                (Role::Hooks, None) => {
                    eprintln!("Removed {shown}: install had created it and nothing else is in it.")
                }
                (Role::Hooks, Some(_)) => eprintln!("Removed telemhq's hooks from {shown}."),
                (Role::Trust, _) => eprintln!(
                    "Removed {}'s trust in those hooks from {shown}.",
                    c.agent.display_name()
                ),
            }
            if let Some(b) = &w.backup {
                eprintln!("The previous version is kept in {}.", env.show(b));
            }
        }
    } else if args.dry_run {
        eprintln!("Dry run: nothing was changed.");
        return Ok(0);
    }
    forget_tracker(env, scope)?;
    eprintln!(
        "telemhq's own folder {} (config, queued events) is kept; delete it to remove everything.",
        env.show(&layout.state_dir)
    );
    Ok(0)
}

/// The repository's tracker goes with the last hooks of telemhq in that repository (any
/// agent's, `--repo` or `--local`); events already queued for it still go.
fn forget_tracker(env: &Env, scope: Scope) -> Result<()> {
    let layout = env.layout()?;
    let Some(root) = super::install::tracker_repo(scope, env)? else {
        return Ok(());
    };
    let still: Vec<String> = agents::ALL
        .iter()
        .flat_map(|a| [Scope::Repo, Scope::Local].map(|s| (*a, s)))
        .filter_map(|(agent, s)| {
            let target = Target { agent, scope: s };
            let path = agent.hook_file(env, target.scope)?.ok()?;
            let bytes = crate::fsutil::read_regular(&path).ok()?;
            let text = String::from_utf8_lossy(&bytes);
            (!agent.format_for(&path).installed_events(&text).is_empty())
                .then(|| format!("{} ({})", agent.display_name(), env.show(&path)))
        })
        .collect();
    let current = config::Config::load(&layout)?;
    if !current.repos.contains_key(&root) {
        return Ok(());
    }
    if !still.is_empty() {
        eprintln!(
            "The tracker of repository {} stays: telemhq's hooks are still there for {}.",
            env.show(Path::new(&root)),
            still.join(", ")
        );
        return Ok(());
    }
    let mut removed = None;
    config::update(&layout, |config| {
        removed = config.repos.remove(&root);
        Ok(())
    })?;
    if let Some(url) = removed {
        eprintln!(
            "Removed the tracker of repository {} ({}); events already queued for it still go there.",
            env.show(Path::new(&root)),
            config::mask_url(&url)
        );
    }
    Ok(())
}
