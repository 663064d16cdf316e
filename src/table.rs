//! Tables people read: numbers with thousands separators, money as money, and a layout
//! that fits the terminal's width without ever splitting a number or a word: shorter
//! headers first, then shorter names (by rule), then the least useful columns left out
//! (and said so). Pure: the caller says how wide the terminal is.

use unicode_width::UnicodeWidthStr;

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// US dollars as people write them: `$1,234.56`; below a cent, enough digits to show
/// it (`$0.0042`), and `$0.00` only for nothing at all.
pub fn dollars(usd: f64) -> String {
    let sign = if usd < 0.0 { "-" } else { "" };
    let usd = usd.abs();
    if usd > 0.0 && usd < 0.005 {
        // Two significant digits, at most eight decimals.
        let decimals = (2 - usd.log10().floor() as i32 - 1).clamp(3, 8) as usize;
        return format!("{sign}${usd:.decimals$}");
    }
    let cents = (usd * 100.0).round() as u64;
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// A model's name shortened by rule for a narrow screen: the vendor's prefix
/// (`claude-`, `models/`, `anthropic/`) and a release date at the end (`-20250929`)
/// left out. `claude-sonnet-4-5-20250929` → `sonnet-4-5`.
pub fn short_model(name: &str) -> String {
    let mut s = name;
    for prefix in ["models/", "anthropic/", "openai/", "google/", "claude-"] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    let dated = s.len() > 9
        && s.as_bytes()[s.len() - 9] == b'-'
        && s[s.len() - 8..].bytes().all(|b| b.is_ascii_digit());
    if dated {
        s = &s[..s.len() - 9];
    }
    if s.is_empty() {
        name.to_string()
    } else {
        s.to_string()
    }
}

/// How a cell is lined up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column: its header (and a shorter one), how its cells line up and how much it
/// matters when space runs out (the lowest is left out first; `KEEP` never).
#[derive(Debug, Clone)]
pub struct Column {
    pub head: String,
    pub short: String,
    pub align: Align,
    pub priority: u8,
}

/// A column that is never left out (the row's name, the cost).
pub const KEEP: u8 = u8::MAX;

impl Column {
    pub fn new(head: &str, short: &str, align: Align, priority: u8) -> Column {
        Column {
            head: head.into(),
            short: short.into(),
            align,
            priority,
        }
    }
}

/// A cell: its text, and a shorter form for a narrow screen (a shortened name; a list
/// of names that keeps the first ones and says how many more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub short: Option<String>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, short: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell {
            text: text.into(),
            short: None,
        }
    }
}

impl Cell {
    pub fn with_short(text: String, short: String) -> Cell {
        let short = Some(short).filter(|s| *s != text);
        Cell { text, short }
    }
}

/// What a row is: a group, a part of the group above it (`--breakdown`), or the totals
/// (a rule is drawn above them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Group,
    Part,
    Total,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub kind: Kind,
    /// The value the chart's bar shows (None: no bar).
    pub bar: Option<f64>,
}

/// A table to lay out.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// The chart's header (None: no chart column).
    pub chart: Option<String>,
}

/// The chart column's narrowest useful width, and its widest.
const CHART_MIN: usize = 10;
const CHART_MAX: usize = 40;
/// The chart's priority: it goes before the figures people read, after the details.
const CHART_PRIORITY: u8 = 45;

/// What `render` made: the lines, and the headers of the columns left out to fit.
#[derive(Debug)]
pub struct Rendered {
    pub text: String,
    pub left_out: Vec<String>,
}

/// Lays the table out in `width` columns (None: as wide as it needs, as for a file or a
/// pipe; no chart there), then draws it.
pub fn render(table: &Table, width: Option<usize>) -> Rendered {
    let n = table.columns.len();
    let mut layout = Layout {
        shown: vec![true; n],
        short_heads: false,
        short_cells: vec![false; n],
    };
    let Some(width) = width else {
        return draw(table, &layout, None);
    };
    let mut chart = table.chart.is_some();
    // Short headers first; then the column whose short names save the most; then the
    // least useful column goes (the chart counts as one); and again.
    loop {
        let needed = table_width(table, &layout);
        let fits = |layout: &Layout| {
            let needed = table_width(table, layout);
            if chart {
                width.saturating_sub(needed) > CHART_MIN
            } else {
                needed <= width
            }
        };
        if fits(&layout) {
            // Names shortened before a column went may be whole again.
            for i in 0..n {
                if layout.short_cells[i] {
                    let mut whole = layout.clone();
                    whole.short_cells[i] = false;
                    if fits(&whole) {
                        layout = whole;
                    }
                }
            }
            let room = width.saturating_sub(table_width(table, &layout));
            let bar = chart.then(|| (room - 1).min(CHART_MAX));
            return draw(table, &layout, bar);
        }
        if !layout.short_heads {
            layout.short_heads = true;
            continue;
        }
        let saving = |i: usize| {
            let mut shorter = layout.clone();
            shorter.short_cells[i] = true;
            needed - table_width(table, &shorter)
        };
        if let Some(i) = (0..n)
            .filter(|&i| layout.shown[i] && !layout.short_cells[i])
            .filter(|&i| saving(i) > 0)
            .max_by_key(|&i| (saving(i), std::cmp::Reverse(i)))
        {
            layout.short_cells[i] = true;
            continue;
        }
        let lowest = (0..n)
            .filter(|&i| layout.shown[i] && table.columns[i].priority != KEEP)
            .min_by_key(|&i| (table.columns[i].priority, std::cmp::Reverse(i)));
        match lowest {
            Some(i) if !chart || table.columns[i].priority < CHART_PRIORITY => {
                layout.shown[i] = false;
            }
            _ if chart => chart = false,
            // Only what is never left out remains: drawn as it is, wider than the screen
            // rather than cut.
            _ => return draw(table, &layout, None),
        }
    }
}

/// Which columns show, and in which form.
#[derive(Debug, Clone)]
struct Layout {
    shown: Vec<bool>,
    short_heads: bool,
    short_cells: Vec<bool>,
}

fn cell_text(cell: &Cell, short: bool) -> &str {
    match (&cell.short, short) {
        (Some(s), true) => s,
        _ => &cell.text,
    }
}

fn head_text(column: &Column, short: bool) -> &str {
    if short { &column.short } else { &column.head }
}

fn widths(table: &Table, layout: &Layout) -> Vec<usize> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if !layout.shown[i] {
                return 0;
            }
            let cells = table
                .rows
                .iter()
                .map(|r| cell_text(&r.cells[i], layout.short_cells[i]).width());
            cells
                .chain([head_text(c, layout.short_heads).width()])
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// `│ a │ b │`: each shown column's width and two spaces, and one border more than columns.
fn table_width(table: &Table, layout: &Layout) -> usize {
    let w = widths(table, layout);
    let cols = layout.shown.iter().filter(|s| **s).count();
    w.iter().sum::<usize>() + 3 * cols + 1
}

fn pad(text: &str, width: usize, align: Align) -> String {
    let fill = " ".repeat(width.saturating_sub(text.width()));
    match align {
        Align::Left => format!("{text}{fill}"),
        Align::Right => format!("{fill}{text}"),
    }
}

/// A bar of `value / max` of `width` cells, in eighths of a cell.
pub fn bar(value: f64, max: f64, width: usize) -> String {
    // (NaN, zero and below draw nothing)
    if max.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        || value.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return String::new();
    }
    let eighths = ((value / max).min(1.0) * (width * 8) as f64).round() as usize;
    let eighths = eighths.max(1); // anything at all shows
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push([' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8]);
    }
    s
}

fn draw(table: &Table, layout: &Layout, chart: Option<usize>) -> Rendered {
    let w = widths(table, layout);
    let shown = &layout.shown;
    let cols: Vec<usize> = (0..table.columns.len()).filter(|&i| shown[i]).collect();
    let rule = |left: &str, mid: &str, right: &str| {
        let parts: Vec<String> = cols.iter().map(|&i| "─".repeat(w[i] + 2)).collect();
        format!("{left}{}{right}", parts.join(mid))
    };
    let line = |texts: Vec<String>, tail: Option<String>| {
        let mut s = format!("│ {} │", texts.join(" │ "));
        if let Some(t) = tail {
            s.push(' ');
            s.push_str(t.trim_end());
        }
        s.trim_end().to_string()
    };
    let max = table
        .rows
        .iter()
        .filter(|r| r.kind == Kind::Group)
        .filter_map(|r| r.bar)
        .fold(0.0, f64::max);
    let mut out = Vec::new();
    out.push(rule("┌", "┬", "┐"));
    out.push(line(
        cols.iter()
            .map(|&i| {
                let c = &table.columns[i];
                pad(head_text(c, layout.short_heads), w[i], c.align)
            })
            .collect(),
        chart.and(table.chart.clone()),
    ));
    out.push(rule("├", "┼", "┤"));
    for row in &table.rows {
        if row.kind == Kind::Total {
            out.push(rule("├", "┼", "┤"));
        }
        let tail = match (chart, row.kind, row.bar) {
            (Some(width), Kind::Group, Some(v)) => Some(bar(v, max, width)),
            _ => None,
        };
        out.push(line(
            cols.iter()
                .map(|&i| {
                    let c = &table.columns[i];
                    pad(
                        cell_text(&row.cells[i], layout.short_cells[i]),
                        w[i],
                        c.align,
                    )
                })
                .collect(),
            tail,
        ));
    }
    out.push(rule("└", "┴", "┘"));
    Rendered {
        text: out.join("\n"),
        left_out: table
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !shown[*i])
            .map(|(_, c)| c.head.clone())
            .collect(),
    }
}

/// A line of prose wrapped at spaces to `width` columns (None: as it is). A word longer
/// than the line stays whole.
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// The terminal's width for stdout: `COLUMNS` when set (as shells and `ls` read it),
/// else the terminal's own; None when stdout is no terminal (a file, a pipe).
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    let stdout = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&stdout) {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_money_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(740_741_198), "740,741,198");
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.0584), "$0.06");
        assert_eq!(dollars(4000.8412), "$4,000.84");
        assert_eq!(dollars(1_234_567.891), "$1,234,567.89");
        assert_eq!(dollars(0.0042), "$0.0042");
        assert_eq!(dollars(0.000_012_3), "$0.000012");
        assert_eq!(dollars(0.005), "$0.01");
    }

    #[test]
    fn model_names_are_shortened_by_rule() {
        assert_eq!(short_model("claude-sonnet-4-5-20250929"), "sonnet-4-5");
        assert_eq!(short_model("claude-3-5-haiku-20241022"), "3-5-haiku");
        assert_eq!(short_model("models/gemini-2.5-pro"), "gemini-2.5-pro");
        assert_eq!(short_model("gpt-5-codex"), "gpt-5-codex");
        assert_eq!(short_model("claude-"), "claude-");
    }

    #[test]
    fn bars_are_proportional_in_eighths() {
        assert_eq!(bar(1.0, 1.0, 4), "████");
        assert_eq!(bar(0.5, 1.0, 4), "██");
        assert_eq!(bar(1.0 / 8.0, 1.0, 4), "▌");
        assert_eq!(bar(1.0 / 16.0, 1.0, 4), "▎");
        assert_eq!(bar(0.0, 1.0, 4), "");
        assert_eq!(bar(1e-9, 1.0, 4), "▏", "anything at all shows");
    }

    fn sample() -> Table {
        let columns = vec![
            Column::new("name", "name", Align::Left, KEEP),
            Column::new("input tokens", "in", Align::Right, 60),
            Column::new("reasoning", "rsn", Align::Right, 10),
            Column::new("cost", "cost", Align::Right, KEEP),
        ];
        let row = |name: &str, n: u64, kind| Row {
            cells: vec![
                Cell::with_short(name.into(), short_model(name)),
                thousands(n).into(),
                thousands(n / 10).into(),
                dollars(n as f64 / 1e6).into(),
            ],
            kind,
            bar: Some(n as f64),
        };
        Table {
            columns,
            rows: vec![
                row("claude-sonnet-4-5-20250929", 740_741_198, Kind::Group),
                row("gpt-5", 12, Kind::Group),
                row("total", 740_741_210, Kind::Total),
            ],
            chart: Some("cost".into()),
        }
    }

    #[test]
    fn a_table_fits_by_short_headers_then_short_names_then_fewer_columns() {
        let t = sample();
        for width in [30, 40, 50, 60, 80, 140] {
            let r = render(&t, Some(width));
            for line in r.text.lines() {
                assert!(line.width() <= width, "{width}: {line:?} is wider");
            }
            // Numbers are whole in every layout.
            assert!(r.text.contains("$740.74"), "{width}: {}", r.text);
        }
        let wide = render(&t, Some(140));
        assert!(wide.text.contains("claude-sonnet-4-5-20250929"));
        assert!(wide.text.contains("█"), "a chart where there is room");
        assert!(wide.left_out.is_empty());
        let narrow = render(&t, Some(40));
        assert!(!narrow.text.contains("claude-sonnet"), "{}", narrow.text);
        assert!(narrow.left_out.contains(&"reasoning".to_string()));
        // Piped: everything, in full, no chart.
        let piped = render(&t, None);
        assert!(piped.text.contains("claude-sonnet-4-5-20250929"));
        assert!(piped.text.contains("reasoning") && !piped.text.contains('█'));
    }

    #[test]
    fn prose_wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", Some(5)), "aa bb\ncc dd");
        assert_eq!(wrap("aa bb cc dd", None), "aa bb cc dd");
        assert_eq!(wrap("a verylongword b", Some(4)), "a\nverylongword\nb");
    }

    #[test]
    fn what_never_fits_is_drawn_whole_rather_than_cut() {
        let r = render(&sample(), Some(10));
        assert!(r.text.contains("740.74"));
        assert!(r.text.contains("sonnet-4-5"));
    }
}
