//! Timestamps as the host's API shows them: RFC 3339 in UTC with
//! microseconds, `2026-01-05T01:00:00.000000Z`. The host stores and passes
//! microseconds since the Unix epoch; plugins answer with this text, as
//! core routes do.

use chrono::{DateTime, Datelike, SecondsFormat};

/// `micros` (since the Unix epoch) as RFC 3339 in UTC.
pub fn rfc3339(micros: i64) -> String {
    let mut out = Vec::with_capacity(27);
    write_rfc3339(micros, &mut out);
    String::from_utf8(out).expect("ASCII")
}

/// Appends [`rfc3339`] of `micros` to `out`. Listings write one per row:
/// chrono does the calendar (the date of the day), the time of day is
/// plain arithmetic, and the digits go into one fixed buffer.
pub fn write_rfc3339(micros: i64, out: &mut Vec<u8>) {
    const DAY: i64 = 86_400_000_000;
    let date = DateTime::from_timestamp(micros.div_euclid(DAY) * 86_400, 0).map(|t| t.date_naive());
    let Some(date) = date.filter(|d| (0..=9999).contains(&d.year())) else {
        // Beyond four-digit years, chrono's own form (or the raw number
        // past its range, some 262,000 years).
        match DateTime::from_timestamp_micros(micros) {
            Some(time) => {
                out.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes())
            }
            None => out.extend_from_slice(micros.to_string().as_bytes()),
        }
        return;
    };
    let in_day = micros.rem_euclid(DAY) as u64;
    let seconds = in_day / 1_000_000;
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    for (at, width, value) in [
        (0, 4, date.year() as u64),
        (5, 2, u64::from(date.month())),
        (8, 2, u64::from(date.day())),
        (11, 2, seconds / 3600),
        (14, 2, seconds / 60 % 60),
        (17, 2, seconds % 60),
        (20, 6, in_day % 1_000_000),
    ] {
        let mut value = value;
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out.extend_from_slice(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_the_host_writes_them() {
        for micros in [
            0,
            1_767_571_200_000_000,
            1_767_574_800_500_001,
            -1,
            253_402_300_799_999_999,
            -62_135_596_800_000_000,
            -62_135_596_800_000_001,
            253_402_300_800_000_000,
        ] {
            let expected = DateTime::from_timestamp_micros(micros)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(rfc3339(micros), expected, "{micros}");
        }
        assert_eq!(
            rfc3339(1_767_574_800_500_001),
            "2026-01-05T01:00:00.500001Z"
        );
    }
}
