//! Budgets: a limit in US dollars per day, week (from Monday) or month, for every agent or
//! one, every project or one. What was spent is read from the local store; never a
//! network call. Shown where the user already looks: the status line, `report`, doctor,
//! and `run --max-cost` for jobs.

use serde::{Deserialize, Serialize};

use crate::store::Store;

/// The span a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    /// `day`, `week`, `month`.
    pub fn noun(self) -> &'static str {
        match self {
            Period::Daily => "day",
            Period::Weekly => "week",
            Period::Monthly => "month",
        }
    }

    /// `daily`, as the flag and the config say it.
    pub fn name(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// When the period holding `now_ms` began in `tz`: today, this week's Monday, the
    /// first of this month.
    pub fn start(self, now_ms: i64, tz: &jiff::tz::TimeZone) -> i64 {
        let today = jiff::Timestamp::from_millisecond(now_ms)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(tz.clone())
            .date();
        let first = match self {
            Period::Daily => today,
            Period::Weekly => {
                let back = i64::from(today.weekday().to_monday_zero_offset());
                today
                    .checked_sub(jiff::Span::new().days(back))
                    .unwrap_or(today)
            }
            Period::Monthly => today.first_of_month(),
        };
        crate::time::day_start(first, tz)
    }
}

/// One budget, as `config.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub period: Period,
    /// The limit, US dollars.
    pub usd: f64,
    /// Only this agent's turns (its `--agent` id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Only this project's turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Budget {
    /// The same budget's place: its period, agent and project (a second `budget set` for
    /// it replaces the limit).
    pub fn same_place(&self, other: &Budget) -> bool {
        self.period == other.period && self.agent == other.agent && self.project == other.project
    }

    /// `daily`, `weekly (codex)`, `monthly (api)`, `daily (codex in api)`.
    pub fn label(&self) -> String {
        let scope = match (&self.agent, &self.project) {
            (None, None) => String::new(),
            (Some(a), None) => format!(" ({a})"),
            (None, Some(p)) => format!(" ({p})"),
            (Some(a), Some(p)) => format!(" ({a} in {p})"),
        };
        crate::term::safe(&format!("{}{scope}", self.period.name()))
    }
}

/// A budget and what was spent in its period so far.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub budget: Budget,
    /// When its period began (Unix ms).
    pub since_ms: i64,
    pub spent: f64,
}

impl State {
    pub fn left(&self) -> f64 {
        (self.budget.usd - self.spent).max(0.0)
    }

    pub fn exceeded(&self) -> bool {
        self.spent > self.budget.usd
    }

    /// How much of it is spent (1.0: all of it).
    pub fn share(&self) -> f64 {
        if self.budget.usd > 0.0 {
            self.spent / self.budget.usd
        } else if self.spent > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "period": self.budget.period.name(),
            "agent": self.budget.agent,
            "project": self.budget.project,
            "limit_usd": self.budget.usd,
            "since": crate::time::rfc3339(self.since_ms),
            "spent_usd": crate::prices::dollars(self.spent),
            "left_usd": crate::prices::dollars(self.left()),
            "exceeded": self.exceeded(),
        })
    }
}

/// Each budget's state now. Without a store nothing was spent; a store that cannot be
/// read leaves the budgets out (None), never a guess.
pub fn states(
    store: Option<&Store>,
    budgets: &[Budget],
    now_ms: i64,
    tz: &jiff::tz::TimeZone,
) -> Option<Vec<State>> {
    budgets
        .iter()
        .map(|b| {
            let since_ms = b.period.start(now_ms, tz);
            let tool = b
                .agent
                .as_deref()
                .and_then(crate::agents::by_id)
                .map(|a| a.tool());
            let spent = match store {
                None => 0.0,
                Some(s) => s
                    .cost_between(since_ms, i64::MAX, tool, b.project.as_deref())
                    .ok()?,
            };
            Some(State {
                budget: b.clone(),
                since_ms,
                spent,
            })
        })
        .collect()
}

/// The budget nearest its limit (or furthest past it).
pub fn tightest(states: &[State]) -> Option<&State> {
    states.iter().max_by(|a, b| a.share().total_cmp(&b.share()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_begin_today_on_monday_and_on_the_first() {
        let tz = jiff::tz::TimeZone::UTC;
        // Thursday 2026-12-10 15:00 UTC.
        let now = jiff::Timestamp::from_second(1_796_914_800)
            .unwrap()
            .as_millisecond();
        let day = |ms: i64| crate::time::rfc3339(ms);
        assert_eq!(
            day(Period::Daily.start(now, &tz)),
            "2026-12-10T00:00:00.000Z"
        );
        assert_eq!(
            day(Period::Weekly.start(now, &tz)),
            "2026-12-07T00:00:00.000Z"
        );
        assert_eq!(
            day(Period::Monthly.start(now, &tz)),
            "2026-12-01T00:00:00.000Z"
        );
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            day(Period::Daily.start(now, &tokyo)),
            "2026-12-10T15:00:00.000Z"
        );
    }

    #[test]
    fn a_budget_is_exceeded_only_past_its_limit() {
        let b = Budget {
            period: Period::Daily,
            usd: 10.0,
            agent: None,
            project: None,
        };
        let at = |spent| State {
            budget: b.clone(),
            since_ms: 0,
            spent,
        };
        assert!(!at(10.0).exceeded());
        assert!(at(10.01).exceeded());
        assert_eq!(at(12.0).left(), 0.0);
        assert_eq!(tightest(&[at(2.0), at(9.0), at(5.0)]).unwrap().spent, 9.0);
    }
}
