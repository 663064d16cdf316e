//! doctor's checks: pure verdicts, with their fixes, from the facts read before.

mod command;
mod delivery;
mod files;
mod privacy;

use super::Report;
use super::facts::Facts;
use crate::cli::DoctorArgs;
use crate::env::Env;

/// Every check, in the order the report shows them.
pub(super) fn all(facts: &Facts, args: &DoctorArgs, env: &Env) -> Report {
    let mut report = Report::default();
    files::check_files(facts, env, &mut report);
    files::check_installed(facts, args, &mut report);
    files::check_record(facts, &mut report);
    command::check_commands(facts, env, &mut report);
    privacy::check_privacy(facts, env, &mut report);
    delivery::check_delivery(facts, &mut report);
    delivery::check_prices(facts, &mut report);
    delivery::check_store(facts, &mut report);
    delivery::check_budgets(facts, &mut report);
    delivery::check_agents(facts, &mut report);
    delivery::check_ping(facts, &mut report);
    delivery::check_otlp(facts, &mut report);
    delivery::check_budget(facts, &mut report);
    report
}

#[cfg(test)]
mod tests;
