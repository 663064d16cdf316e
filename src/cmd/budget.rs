//! `telemhq budget`: spending limits per day, week or month, kept in telemhq's config;
//! what is spent and left comes from the local store.

use crate::budget::{Budget, Period, State};
use crate::cli::{BudgetAction, BudgetArgs, BudgetPeriodArgs};
use crate::config;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::store::Store;

/// The period a command names, and the value given with it.
fn period(p: &BudgetPeriodArgs) -> (Period, &str) {
    match (&p.daily, &p.weekly, &p.monthly) {
        (Some(v), _, _) => (Period::Daily, v),
        (_, Some(v), _) => (Period::Weekly, v),
        (_, _, Some(v)) => (Period::Monthly, v),
        _ => unreachable!("clap requires one of them"),
    }
}

/// Every budget's state now, or why the store cannot say.
pub fn current(env: &Env, budgets: &[Budget]) -> std::result::Result<Vec<State>, String> {
    let layout = env.layout().map_err(|e| e.to_string())?;
    let store = Store::open_existing(&layout)?;
    let tz = jiff::tz::TimeZone::system();
    crate::budget::states(store.as_ref(), budgets, crate::time::now_ms(), &tz)
        .ok_or_else(|| "the local store cannot be read".to_string())
}

pub fn run(args: &BudgetArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    match &args.action {
        Some(BudgetAction::Set(set)) => {
            let (period, value) = period(&set.period);
            let usd: f64 = value
                .trim()
                .trim_start_matches('$')
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--{}: a limit is a number of US dollars, 0 or more (like --{} 20)",
                        period.name(),
                        period.name()
                    ))
                })?;
            let budget = Budget {
                period,
                usd,
                agent: set.agent.clone(),
                project: set.project.clone(),
            };
            let mut replaced = false;
            config::update(&layout, |c| {
                replaced = c.budgets.iter().any(|b| b.same_place(&budget));
                c.budgets.retain(|b| !b.same_place(&budget));
                c.budgets.push(budget.clone());
                c.budgets.sort_by_key(|b| b.label());
                Ok(())
            })?;
            eprintln!(
                "{} the {} budget: {} a {}; `telemhq budget` shows what is spent and left.",
                if replaced { "Changed" } else { "Set" },
                budget.label(),
                crate::table::dollars(usd),
                period.noun()
            );
            Ok(0)
        }
        Some(BudgetAction::Unset(place)) => {
            let (period, _) = period(&place.period);
            let wanted = Budget {
                period,
                usd: 0.0,
                agent: place.agent.clone(),
                project: place.project.clone(),
            };
            let mut removed = false;
            config::update(&layout, |c| {
                removed = c.budgets.iter().any(|b| b.same_place(&wanted));
                c.budgets.retain(|b| !b.same_place(&wanted));
                Ok(())
            })?;
            if removed {
                eprintln!("Removed the {} budget.", wanted.label());
                Ok(0)
            } else {
                eprintln!("There is no {} budget: nothing to remove.", wanted.label());
                Ok(1)
            }
        }
        None => {
            let budgets = config::Config::load(&layout)?.budgets;
            let states = current(env, &budgets).map_err(Error::new)?;
            if args.json {
                let out = serde_json::json!({
                    "budgets": states.iter().map(State::to_json).collect::<Vec<_>>(),
                });
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&out).expect("serialises")
                );
                return Ok(0);
            }
            if states.is_empty() {
                crate::outln!(
                    "No budgets. Set one with `telemhq budget set --daily USD` (or --weekly, --monthly; --agent, --project for one of them)."
                );
                return Ok(0);
            }
            crate::out!("{}", table(&states, crate::table::terminal_width()));
            Ok(0)
        }
    }
}

/// Each budget, a row: its period, limit, spent, left, and whether it is passed.
fn table(states: &[State], width: Option<usize>) -> String {
    use crate::table::{Align, Column, KEEP, Kind, Row, Table, dollars};
    let rows = states
        .iter()
        .map(|s| Row {
            cells: vec![
                s.budget.label().into(),
                dollars(s.budget.usd).into(),
                dollars(s.spent).into(),
                dollars(s.left()).into(),
                if s.exceeded() {
                    format!("passed ({:.0} %)", s.share() * 100.0)
                } else {
                    format!("{:.0} %", s.share() * 100.0)
                }
                .into(),
            ],
            kind: Kind::Group,
            bar: None,
        })
        .collect();
    let table = Table {
        columns: vec![
            Column::new("budget", "budget", Align::Left, KEEP),
            Column::new("limit", "limit", Align::Right, KEEP),
            Column::new("spent", "spent", Align::Right, KEEP),
            Column::new("left", "left", Align::Right, 50),
            Column::new("used", "used", Align::Left, KEEP),
        ],
        rows,
        chart: None,
    };
    format!("{}\n", crate::table::render(&table, width).text)
}

/// The line `report` prints above its table when a budget is passed (None: none is).
pub fn passed_line(env: &Env) -> Option<String> {
    let layout = env.layout().ok()?;
    let budgets = config::Config::load(&layout).ok()?.budgets;
    if budgets.is_empty() {
        return None;
    }
    let states = current(env, &budgets).ok()?;
    let passed: Vec<String> = states
        .iter()
        .filter(|s| s.exceeded())
        .map(|s| {
            format!(
                "{} {} (spent {})",
                s.budget.label(),
                crate::table::dollars(s.budget.usd),
                crate::table::dollars(s.spent)
            )
        })
        .collect();
    (!passed.is_empty()).then(|| format!("Over budget: {}.", passed.join("; ")))
}
