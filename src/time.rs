//! Clock readings and RFC 3339 timestamps (UTC, milliseconds), via `jiff`.

use jiff::Timestamp;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// Now, as RFC 3339 in UTC with milliseconds.
pub fn rfc3339_now() -> String {
    rfc3339(now_ms())
}

/// Unix milliseconds as RFC 3339 UTC (`2026-11-24T01:02:03.456Z`).
pub fn rfc3339(unix_ms: i64) -> String {
    let ts = Timestamp::from_millisecond(unix_ms).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses an RFC 3339 timestamp (as Claude Code writes them) to unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// A day as `--since` and `--until` take it: `YYYY-MM-DD`, or that many days, weeks or
/// months before today (`0d` is today, `1d` yesterday, `2w`, `3m`) in time zone `tz`.
/// The error says what is taken.
pub fn parse_day(text: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::civil::Date, String> {
    let bad = || {
        format!(
            "{text:?} is not a day: use YYYY-MM-DD, or 0d (today), 1d, 2w, 3m for that long ago"
        )
    };
    let today = Timestamp::from_millisecond(now_ms())
        .map_err(|_| bad())?
        .to_zoned_datetime(tz.clone())
        .date();
    let text = text.trim();
    if let Some(n) = text.strip_suffix(['d', 'w', 'm']) {
        let n: i32 = n
            .parse()
            .ok()
            .filter(|n| (0..=100_000).contains(n))
            .ok_or_else(bad)?;
        let back = match text.chars().last() {
            Some('d') => jiff::Span::new().days(n),
            Some('w') => jiff::Span::new().weeks(n),
            _ => jiff::Span::new().months(n),
        };
        return today.checked_sub(back).map_err(|_| bad());
    }
    text.parse().map_err(|_| bad())
}

/// When `day` begins in `tz`, as Unix ms.
pub fn day_start(day: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> i64 {
    tz.to_timestamp(day.at(0, 0, 0, 0))
        .map_or(0, |t| t.as_millisecond())
}

/// When the day after `day` begins in `tz` (the end of a range "up to and with `day`").
pub fn day_end(day: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> i64 {
    day.tomorrow().map_or(i64::MAX, |next| day_start(next, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_480_793_372), "2026-11-24T00:39:53.372Z");
        assert_eq!(
            parse_rfc3339_ms("2026-11-24T00:39:53.372Z"),
            Some(1_795_480_793_372)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-24T00:39:53Z"),
            Some(1_795_480_793_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-24T01:39:53+01:00"),
            Some(1_795_480_793_000)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(parse_rfc3339_ms("garbage"), None);
        assert_eq!(parse_rfc3339_ms("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("2026-02-30T00:00:00Z"), None);
    }
}
