//! Timestamps as the host's API shows them: RFC 3339 in UTC with
//! microseconds, `2026-01-05T01:00:00.000000Z`. The host stores and passes
//! microseconds since the Unix epoch; plugins answer with this text, as
//! core routes do.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike};

/// `micros` (since the Unix epoch) as RFC 3339 in UTC.
pub fn rfc3339(micros: i64) -> String {
    let mut out = Vec::with_capacity(27);
    write_rfc3339(micros, &mut out);
    String::from_utf8(out).expect("ASCII")
}

/// Appends [`rfc3339`] of `micros` to `out`. Listings write one per row, so
/// the usual years are written digit by digit rather than through a
/// formatter; chrono does the calendar.
pub fn write_rfc3339(micros: i64, out: &mut Vec<u8>) {
    let Some(time) = DateTime::from_timestamp_micros(micros) else {
        // Beyond chrono's range (some 262,000 years): the raw number.
        out.extend_from_slice(micros.to_string().as_bytes());
        return;
    };
    let year = time.year();
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
        return;
    }
    digits(year as u32, 4, out);
    for (separator, value, width) in [
        (b'-', time.month(), 2),
        (b'-', time.day(), 2),
        (b'T', time.hour(), 2),
        (b':', time.minute(), 2),
        (b':', time.second(), 2),
        (b'.', time.timestamp_subsec_micros(), 6),
    ] {
        out.push(separator);
        digits(value, width, out);
    }
    out.push(b'Z');
}

/// `value` in `width` decimal digits, zero-padded.
fn digits(mut value: u32, width: usize, out: &mut Vec<u8>) {
    let mut buffer = [b'0'; 10];
    for digit in buffer[..width].iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.extend_from_slice(&buffer[..width]);
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
