//! A [`Page`] written as JSON bytes directly, for responses.
//!
//! The serde path (`Response::json(200, &page.json_page())`) asks the
//! serializer for every key and value, so a page of ten fields escapes
//! every field name again on every row and goes through several layers of
//! calls per value. Here each key is escaped once per page, text is
//! scanned for characters that need escaping eight bytes at a time, and
//! numbers are written with `itoa`. The output is byte for byte what
//! serde_json writes for the same page (tested below); that is what the
//! serde path stays for: nesting a page inside other serialized values.

use super::{Page, ValueRef};
use serde_json::value::RawValue;

/// Writes `{"items": [...], "next_cursor": ...}`.
pub(super) fn write_page(page: &Page, with_id: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"items\":");
    write_rows(page, with_id, out);
    out.extend_from_slice(b",\"next_cursor\":");
    match &page.next_cursor {
        Some(cursor) => write_str(cursor, out),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// Writes the rows as an array of objects, fields in page order.
pub(super) fn write_rows(page: &Page, with_id: bool, out: &mut Vec<u8>) {
    // `"name":` for every field, escaped once, one after the other.
    let mut keys = Vec::with_capacity(page.columns.iter().map(|c| c.name.len() + 3).sum());
    let mut key_ends = Vec::with_capacity(page.columns.len());
    for column in &page.columns {
        write_str(&column.name, &mut keys);
        keys.push(b':');
        key_ends.push(keys.len());
    }
    out.push(b'[');
    for row in page.rows() {
        if row.index > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if with_id {
            out.extend_from_slice(b"\"id\":");
            write_str(row.id(), out);
        }
        let mut key_start = 0;
        for (i, (column, &key_end)) in page.columns.iter().zip(&key_ends).enumerate() {
            if i > 0 || with_id {
                out.push(b',');
            }
            out.extend_from_slice(&keys[key_start..key_end]);
            key_start = key_end;
            write_value(row.value(column), out);
        }
        out.push(b'}');
    }
    out.push(b']');
}

fn write_value(value: ValueRef<'_>, out: &mut Vec<u8>) {
    match value {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Boolean(true) => out.extend_from_slice(b"true"),
        ValueRef::Boolean(false) => out.extend_from_slice(b"false"),
        ValueRef::Integer(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        ValueRef::Timestamp(t) => {
            out.push(b'"');
            crate::time::write_rfc3339(t, out);
            out.push(b'"');
        }
        // Rare in listings; serde_json's own formatting (and its `null` for
        // NaN and infinities) keeps the output identical.
        ValueRef::Float(f) => {
            serde_json::to_writer(&mut *out, &f).expect("writing to a Vec cannot fail")
        }
        ValueRef::Text(s) | ValueRef::Uuid(s) => write_str(s, out),
        // Checked, then embedded as stored (null if it is not JSON), as the
        // serde path does.
        ValueRef::Json(s) => match serde_json::from_str::<&RawValue>(s) {
            Ok(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Err(_) => out.extend_from_slice(b"null"),
        },
    }
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it.
fn write_str(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if is_plain(bytes) {
        // Most text in a listing (ids, hashes, names) needs no escaping:
        // one check, one copy.
        out.extend_from_slice(bytes);
    } else {
        write_escaped(bytes, out);
    }
    out.push(b'"');
}

/// Whether no byte of `bytes` needs escaping, checked eight bytes at a
/// time. The last word may overlap the one before it; checking some bytes
/// twice is cheaper than checking the tail byte by byte.
fn is_plain(bytes: &[u8]) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
    }
    let word_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"));
    let last = bytes.len() - 8;
    (0..last).step_by(8).all(|i| !needs_escape(word_at(i))) && !needs_escape(word_at(last))
}

/// Writes `bytes`, some of which need escaping, without the quotes.
fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Runs of eight bytes that need no escaping are skipped at once.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let byte = bytes[i];
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
                i += 1;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether any of the eight bytes of `word` is a control character, `"` or
/// `\`. (The usual zero-byte test: a byte below `n` borrows into its top
/// bit when `n` is subtracted from every byte; it is exact for "any".)
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        write_str(text, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut samples: Vec<String> = [
            "",
            "plain",
            "exactly8",
            "a \"quoted\" word and a \\ backslash, past eight bytes",
            "tab\there, newline\nthere, return\r, bell\u{7}, nul\u{0}, esc\u{1b}, del\u{7f}",
            "héllo wörld — ✓ 😀 non-ASCII is written as it is",
            "\u{8}\u{c}\u{1f}\"\\",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every ASCII character at every offset of a longer string.
        for c in 0u8..0x80 {
            for offset in 0..10 {
                let mut s = "x".repeat(offset);
                s.push(char::from(c));
                s.push_str("tail of the string");
                samples.push(s);
            }
        }
        // One special character at every position of strings around the
        // eight-byte word boundaries, where the plain-text check changes
        // from bytes to words and its last word overlaps.
        for len in 1..=20 {
            for position in 0..len {
                for special in ["\u{0}", "\u{1f}", "\"", "\\", "é"] {
                    let mut s = "x".repeat(position);
                    s.push_str(special);
                    s.push_str(&"y".repeat(len - position - 1));
                    samples.push(s);
                }
            }
            samples.push("z".repeat(len));
        }
        for sample in &samples {
            assert_eq!(
                escaped(sample),
                serde_json::to_string(sample).unwrap(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn the_escape_test_finds_each_special_byte_in_any_lane() {
        for lane in 0..8 {
            for byte in 0u8..=255 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = byte;
                let expected = byte < 0x20 || byte == b'"' || byte == b'\\';
                assert_eq!(
                    needs_escape(u64::from_le_bytes(bytes)),
                    expected,
                    "byte {byte:#x} in lane {lane}"
                );
            }
        }
    }
}
