//! Time ranges and UTC days. The request carries the time it was received
//! (plugins have no clock); dates are parsed and printed with chrono.

use chrono::{DateTime, NaiveDate, Utc};
use kai_sdk::prelude::*;

pub const DAY: i64 = 86_400_000_000;
/// Longest range a series covers.
pub const MAX_DAYS: i64 = 366;

/// The half-open range `[from, to)` in microseconds, from `?from=&to=`
/// (`YYYY-MM-DD`, a UTC day, or an RFC 3339 time), by default the last 30
/// UTC days, today included. A date that is not one, or a range that is
/// empty or too long, is a 422 naming the parameter.
pub fn from_request(req: &Request) -> Result<(i64, i64), Error> {
    let to = match req.query("to") {
        Some(text) => parse("to", text)?,
        None => day_start(req.received_at()) + DAY,
    };
    let from = match req.query("from") {
        Some(text) => parse("from", text)?,
        None => to - 30 * DAY,
    };
    if from >= to {
        return Err(Error::invalid("from: must be before to"));
    }
    if to - from > MAX_DAYS * DAY {
        return Err(Error::invalid(format!(
            "from: the range from it to to is at most {MAX_DAYS} days"
        )));
    }
    Ok((from, to))
}

/// Microseconds of `YYYY-MM-DD` (the start of that UTC day) or of an RFC
/// 3339 time, for years 1 to 9999; the query parameter `name` in errors.
pub fn parse(name: &str, text: &str) -> Result<i64, Error> {
    let time = if text.contains('T') || text.contains('t') {
        DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
    } else {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| d.and_time(Default::default()).and_utc())
    };
    time.ok()
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
        .map(|t| t.timestamp_micros())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{name}: `{text}` is not a date (YYYY-MM-DD or RFC 3339, years 1 to 9999)"
            ))
        })
}

/// The UTC day (`YYYY-MM-DD`) of a timestamp.
pub fn date(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The start of the UTC day of a timestamp.
pub fn day_start(micros: i64) -> i64 {
    micros.div_euclid(DAY) * DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> Option<i64> {
        parse("from", text).ok()
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(micros("1970-01-01"), Some(0));
        assert_eq!(micros("2026-01-05"), Some(1_767_571_200_000_000));
        assert_eq!(
            micros("2026-01-05T01:00:00Z"),
            Some(1_767_571_200_000_000 + 3_600_000_000)
        );
        assert_eq!(
            micros("2026-01-05T02:00:00+01:00"),
            Some(1_767_571_200_000_000 + 3_600_000_000)
        );
        assert_eq!(
            micros("2026-01-05T00:00:00.5Z"),
            Some(1_767_571_200_500_000)
        );
        assert_eq!(date(1_767_571_200_000_000), "2026-01-05");
        assert_eq!(date(micros("2024-02-29").unwrap()), "2024-02-29");
    }

    #[test]
    fn what_is_not_a_date_is_refused_by_name() {
        for text in [
            "2026-13-01",
            "2020-02-31",
            "2026-02-29",
            "yesterday",
            "9223372036854775807-01-01",
            "T00:00:00.-5Z",
            "2026-01-05T25:00:00Z",
            "0000-01-01",
        ] {
            let error = parse("from", text).unwrap_err();
            assert_eq!(error.status, 422, "{text}");
            assert!(
                error.message.starts_with("from: "),
                "{text}: {}",
                error.message
            );
        }
    }
}
