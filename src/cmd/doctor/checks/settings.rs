//! Settings layers: how each reads, telemhq's entries in it, and the switches that turn
//! hooks off.

use serde_json::Value;

use super::super::facts::{self, Facts, Layer, LayerName, LayerProblem};
use super::super::{Report, SETTINGS, SWITCHES};
use super::scope_flag;
use crate::claude::hooks::{self, TOOL_EVENTS, TURN_EVENTS};
use crate::cli::DoctorArgs;
use crate::env::Env;
use crate::jsonfile::ReadError;

/// How each layer reads: missing, unreadable, not strict JSON, of a wrong shape, valid.
pub(super) fn check_layers(facts: &Facts, env: &Env, report: &mut Report) {
    for layer in &facts.layers {
        let name = layer.name.name();
        let id = format!("settings.{name}");
        let shown = env.show(&layer.path);
        match &layer.problem {
            None if layer.text.is_none() => {
                report.ok(SETTINGS, id, format!("{name} settings: {shown} not present"))
            }
            None => report.ok(
                SETTINGS,
                id,
                format!("{name} settings: {shown} is valid JSON"),
            ),
            Some(LayerProblem::Read(ReadError::Io(why))) => report.fail(
                SETTINGS,
                id,
                format!("{name} settings: cannot read {shown}: {why}"),
                format!("make {shown} a regular file you can read"),
            ),
            Some(LayerProblem::Read(err)) => {
                let (line, column) = err.position().unwrap_or((1, 1));
                let at = format!("{}:{line}:{column}", layer.path.display());
                let message = format!("{name} settings: {at}: {}", crate::claude::settings::describe(err));
                let fix = format!(
                    "fix the file at {at} (backups of files telemhq changed are in {})",
                    facts.layout.backups.display()
                );
                if crate::claude::settings::claude_code_reads_it(err) {
                    report.warn(SETTINGS, id, message, fix);
                } else {
                    report.fail(SETTINGS, id, message, fix);
                }
            }
            Some(LayerProblem::Shape(e)) => report.fail(
                SETTINGS,
                id,
                format!("{name} settings: {shown}: wrong shape at {e}"),
                format!("edit {shown} so that {} has the shape {{\"hooks\": {{\"Stop\": [{{\"hooks\": [...]}}]}}}}", e.path),
            ),
        }
    }
    match &facts.record {
        Ok(()) => report.ok(
            SETTINGS,
            "install_record",
            "telemhq's record of what it installed is readable",
        ),
        Err(e) => report.fail(
            SETTINGS,
            "install_record",
            e.clone(),
            format!(
                "mv {0} {0}.damaged, then telemhq install again",
                facts.layout.installs.display()
            ),
        ),
    }
}

pub(super) fn check_installed(layers: &[Layer], args: &DoctorArgs, env: &Env, report: &mut Report) {
    let mut any = false;
    for layer in layers {
        let Some(value) = &layer.value else { continue };
        let events = hooks::installed_events(value);
        if events.is_empty() {
            continue;
        }
        any = true;
        let id = format!("hooks.{}", layer.name.name());
        let fix = format!("telemhq install {}", scope_flag(layer.name));
        let shown = env.show(&layer.path);
        let mut problems = Vec::new();
        let tools = TOOL_EVENTS.iter().any(|e| events.iter().any(|x| x == e));
        let expected: Vec<&str> = TURN_EVENTS
            .iter()
            .chain(if tools { TOOL_EVENTS.iter() } else { [].iter() })
            .copied()
            .collect();
        for event in &expected {
            let entries = facts::telemhq_entries(value, event);
            let want = hooks::template_group(event)
                .and_then(|g| g.get("matcher").and_then(Value::as_str).map(str::to_string));
            match entries.len() {
                0 => problems.push(format!("no {event} entry")),
                1 if entries[0].0 != want && !(want.is_none() && event == &"Stop") => {
                    let shown = |m: &Option<String>| {
                        m.as_deref()
                            .map_or("none".to_string(), |m| format!("\"{m}\""))
                    };
                    problems.push(format!(
                        "{event} has matcher {}, expected {}",
                        shown(&entries[0].0),
                        shown(&want)
                    ))
                }
                1 => {}
                n => problems.push(format!("{event} has {n} telemhq entries")),
            }
        }
        if problems.is_empty() {
            report.ok(
                SETTINGS,
                id,
                format!(
                    "{} settings: telemhq hooks for {}",
                    layer.name.name(),
                    expected.join(", ")
                ),
            );
        } else {
            report.fail(
                SETTINGS,
                id,
                format!(
                    "{} settings {shown}: {}",
                    layer.name.name(),
                    problems.join("; ")
                ),
                fix,
            );
        }
    }
    if !any {
        let flag = if args.repo { "--repo" } else { "--global" };
        report.fail(
            SETTINGS,
            "hooks.installed",
            "telemhq is not installed in any settings layer checked",
            format!("telemhq install {flag}"),
        );
    }
}

pub(super) fn check_switches(layers: &[Layer], report: &mut Report) {
    // Ordinary keys: the highest layer that sets one decides (managed > local > project > user).
    let order = [
        LayerName::Managed,
        LayerName::Local,
        LayerName::Project,
        LayerName::User,
    ];
    let decided = order
        .iter()
        .filter_map(|name| layers.iter().find(|l| l.name == *name))
        .find_map(|l| {
            l.value
                .as_ref()?
                .get("disableAllHooks")?
                .as_bool()
                .map(|b| (l, b))
        });
    match decided {
        Some((layer, true)) => report.fail(
            SWITCHES,
            "hooks.disabled",
            format!(
                "\"disableAllHooks\": true in {} settings ({}): Claude Code runs no hooks",
                layer.name.name(),
                layer.path.display()
            ),
            format!(
                "remove \"disableAllHooks\" from {}{}",
                layer.path.display(),
                if layer.name == LayerName::Managed {
                    " (ask your administrator)"
                } else {
                    ""
                }
            ),
        ),
        _ => report.ok(
            SWITCHES,
            "hooks.disabled",
            "hooks are not switched off (disableAllHooks)",
        ),
    }
    let managed_only = layers
        .iter()
        .find(|l| l.name == LayerName::Managed)
        .and_then(|l| l.value.as_ref()?.get("allowManagedHooksOnly")?.as_bool())
        .unwrap_or(false);
    if managed_only {
        report.fail(
            SWITCHES,
            "hooks.managed_only",
            "\"allowManagedHooksOnly\": true in managed settings: user and project hooks do not run",
            "ask your administrator to add telemhq's hooks to the managed settings, or to lift allowManagedHooksOnly",
        );
    } else {
        report.ok(
            SWITCHES,
            "hooks.managed_only",
            "user and project hooks are allowed (allowManagedHooksOnly)",
        );
    }
}
