//! Time ranges and UTC days, without a clock or a date library: the
//! request carries the time it was received, and civil dates are computed
//! from day numbers (Howard Hinnant's algorithms).

use kai_sdk::prelude::*;

pub const DAY: i64 = 86_400_000_000;
/// Longest range a series covers.
pub const MAX_DAYS: i64 = 366;

/// The half-open range `[from, to)` in microseconds, from `?from=&to=`
/// (`YYYY-MM-DD` or RFC 3339 in UTC), by default the last 30 UTC days,
/// today included.
pub fn from_request(req: &Request) -> Result<(i64, i64), Error> {
    let to = match req.query("to") {
        Some(text) => {
            parse(text).ok_or_else(|| Error::bad_request(format!("to: `{text}` is not a date")))?
        }
        None => day_start(req.received_at()) + DAY,
    };
    let from = match req.query("from") {
        Some(text) => parse(text)
            .ok_or_else(|| Error::bad_request(format!("from: `{text}` is not a date")))?,
        None => to - 30 * DAY,
    };
    if from >= to {
        return Err(Error::bad_request("from must be before to"));
    }
    if to - from > MAX_DAYS * DAY {
        return Err(Error::bad_request(format!(
            "the range is at most {MAX_DAYS} days"
        )));
    }
    Ok((from, to))
}

/// Microseconds of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS(.fff)Z`.
pub fn parse(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut micros = days_from_civil(year, month, day) * DAY;
    if let Some(time) = time {
        let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
        let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
        let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
        micros += ((h * 60 + m) * 60 + s) * 1_000_000;
        if !fraction.is_empty() {
            let digits: String = fraction.chars().take(6).collect();
            micros += digits.parse::<i64>().ok()? * 10i64.pow(6 - digits.len() as u32);
        }
    }
    Some(micros)
}

/// The UTC day (`YYYY-MM-DD`) of a timestamp.
pub fn date(micros: i64) -> String {
    let (y, m, d) = civil_from_days(micros.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The start of the UTC day of a timestamp.
pub fn day_start(micros: i64) -> i64 {
    micros.div_euclid(DAY) * DAY
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(parse("2026-01-05"), Some(1_767_571_200_000_000));
        assert_eq!(
            parse("2026-01-05T01:00:00Z"),
            Some(1_767_571_200_000_000 + 3_600_000_000)
        );
        assert_eq!(parse("2026-01-05T00:00:00.5Z"), Some(1_767_571_200_500_000));
        assert_eq!(date(1_767_571_200_000_000), "2026-01-05");
        assert_eq!(date(parse("2024-02-29").unwrap()), "2024-02-29");
        assert_eq!(parse("2026-13-01"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
