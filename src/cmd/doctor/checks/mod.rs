//! doctor's checks: pure verdicts, with their fixes, from the facts read before.

mod agents;
mod codex;
mod command;
mod delivery;
mod privacy;
mod settings;

use super::Report;
use super::facts::{Facts, LayerName};
use crate::cli::DoctorArgs;
use crate::env::Env;

/// Every check, in the order the report shows them.
pub(super) fn all(facts: &Facts, args: &DoctorArgs, env: &Env) -> Report {
    let mut report = Report::default();
    settings::check_layers(facts, env, &mut report);
    settings::check_installed(&facts.layers, args, env, &mut report);
    settings::check_switches(&facts.layers, &mut report);
    command::check_commands(facts, env, &mut report);
    codex::check_codex(facts, env, &mut report);
    agents::check_agent_files(facts, env, &mut report);
    privacy::check_privacy(facts, env, &mut report);
    delivery::check_delivery(facts, &mut report);
    delivery::check_claude(facts, &mut report);
    delivery::check_ping(facts, &mut report);
    report
}

/// The install flag that writes a layer (managed settings: none; `--global` is shown).
fn scope_flag(layer: LayerName) -> &'static str {
    layer.scope().map_or("--global", |s| s.flag())
}
