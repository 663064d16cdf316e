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
