//! `telemhq prices`: the price table's version, how a model name is matched and priced,
//! and the user's own prices (`prices set`, `prices unset`), kept in telemhq's config.

use crate::cli::{PricesAction, PricesArgs};
use crate::config;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::prices::{self, Found, Override};

fn per_million(v: f64) -> String {
    let m = v * 1_000_000.0;
    format!("${}", (m * 1e6).round() / 1e6)
}

pub fn run(args: &PricesArgs, env: &Env) -> Result<i32> {
    let layout = env.layout()?;
    match &args.action {
        Some(PricesAction::Set(set)) => {
            for (name, v) in [
                ("--input", Some(set.input)),
                ("--output", Some(set.output)),
                ("--cache-read", set.cache_read),
                ("--cache-write", set.cache_write),
                ("--cache-write-1h", set.cache_write_1h),
            ] {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    return Err(Error::usage(format!(
                        "{name}: a price is a number of dollars, 0 or more"
                    )));
                }
            }
            let own = Override {
                input: set.input,
                output: set.output,
                cache_read: set.cache_read,
                cache_write: set.cache_write,
                cache_write_1h: set.cache_write_1h,
            };
            config::update(&layout, |c| {
                c.prices.insert(set.model.clone(), own);
                Ok(())
            })?;
            eprintln!(
                "Prices of {} set (per million tokens): input ${}, output ${}; turns are priced with them from now on.",
                crate::term::safe(&set.model),
                set.input,
                set.output
            );
            Ok(0)
        }
        Some(PricesAction::Unset { model }) => {
            let mut removed = false;
            config::update(&layout, |c| {
                removed = c.prices.remove(model).is_some();
                Ok(())
            })?;
            if removed {
                eprintln!(
                    "Your prices of {} are gone; the table's apply.",
                    crate::term::safe(model)
                );
                Ok(0)
            } else {
                eprintln!("You have set no prices for {}.", crate::term::safe(model));
                Ok(1)
            }
        }
        None => {
            let own = config::Config::load(&layout)?.prices;
            crate::outln!(
                "Price table: {} (embedded at build time)",
                prices::version()
            );
            if !own.is_empty() {
                let names: Vec<String> = own.keys().map(|k| crate::term::safe(k)).collect();
                crate::outln!("Your own prices: {}", names.join(", "));
            }
            if let Some(pattern) = &args.list {
                return Ok(list(pattern, &own));
            }
            let Some(model) = &args.model else {
                return Ok(0);
            };
            let shown = crate::term::safe(model);
            match prices::lookup(model, &own) {
                None => {
                    crate::outln!(
                        "{shown}: no price. Its turns are sent without cost_usd, naming it in unpriced_models; set one with `telemhq prices set {shown} --input USD --output USD`."
                    );
                    Ok(1)
                }
                Some((r, found)) => {
                    crate::outln!("{shown}: priced from {found}");
                    if let Found::Normalised { .. } = found {
                        crate::outln!(
                            "  (no entry of exactly that name; never matched by a part of a name)"
                        );
                    }
                    crate::outln!(
                        "  per million tokens: input {}, output {}",
                        per_million(r.input),
                        per_million(r.output)
                    );
                    crate::outln!(
                        "  cache read {}, cache write {}, 1-hour cache write {}",
                        per_million(r.cache_read.unwrap_or(r.input)),
                        per_million(r.cache_write.unwrap_or(r.input)),
                        per_million(r.cache_write_1h.unwrap_or(2.0 * r.input))
                    );
                    if let Some(reasoning) = r.reasoning {
                        crate::outln!("  reasoning {}", per_million(reasoning));
                    }
                    if let Some(long) = r.long {
                        crate::outln!(
                            "  a request over {}k prompt tokens, whole: input {}, output {}",
                            prices::LONG_CONTEXT / 1000,
                            per_million(long.input.unwrap_or(r.input)),
                            per_million(long.output.unwrap_or(r.output))
                        );
                    }
                    Ok(0)
                }
            }
        }
    }
}

/// `prices --list [PATTERN]`: the user's own prices and the table's, per million tokens.
fn list(pattern: &str, own: &prices::Overrides) -> i32 {
    use crate::table::{Align, Column, KEEP, Kind, Row, Table};
    let wanted = pattern.to_lowercase();
    let mut rows: Vec<Row> = own
        .iter()
        .filter(|(name, _)| name.to_lowercase().contains(&wanted))
        .map(|(name, o)| {
            (
                crate::term::safe(name),
                "yours".to_string(),
                o.input / 1e6,
                o.output / 1e6,
            )
        })
        .chain(
            prices::list(pattern)
                .into_iter()
                .map(|(n, p, i, o)| (n.to_string(), p.to_string(), i, o)),
        )
        .map(|(name, provider, input, output)| Row {
            cells: vec![
                name.into(),
                provider.into(),
                per_million(input).into(),
                per_million(output).into(),
            ],
            kind: Kind::Group,
            bar: None,
        })
        .collect();
    if rows.is_empty() {
        crate::outln!(
            "No model's name holds {:?}: `telemhq prices --list` lists them all.",
            crate::term::safe(pattern)
        );
        return 1;
    }
    let count = rows.len();
    rows.sort_by(|a, b| a.cells[0].text.cmp(&b.cells[0].text));
    let table = Table {
        columns: vec![
            Column::new("model", "model", Align::Left, KEEP),
            Column::new("from", "from", Align::Left, 10),
            Column::new("input / M", "in/M", Align::Right, KEEP),
            Column::new("output / M", "out/M", Align::Right, KEEP),
        ],
        rows,
        chart: None,
    };
    crate::outln!(
        "{}",
        crate::table::render(&table, crate::table::terminal_width()).text
    );
    crate::outln!("{count} model(s), US dollars per million tokens.");
    0
}
