//! Listing cursors. A cursor carries the order values of a page's last row
//! and a MAC, under a key of the deployment, over those values and the query
//! they belong to (its table, conditions and order). A cursor edited by
//! hand, or taken to another listing, fails the check and is refused as
//! invalid.
//!
//! The MAC is SipHash-2-4 with a 128-bit output, a keyed PRF made for short
//! inputs: a listing seals a cursor on every page that has a next one, so
//! the MAC must cost little next to the query. A cursor is no capability
//! (the query it continues is scoped like any other), so a forged one could
//! at most move within the caller's own rows.

use super::QueryError;
use super::sql::Param;
use crate::domain::Value;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use siphasher::sip128::{Hasher128, SipHasher24};
use std::hash::Hasher;

/// Bytes of the MAC kept in a cursor.
const TAG: usize = 16;

/// The key cursors are signed with; every node of a deployment has the
/// same one (it is stored in the database).
#[derive(Clone, Copy)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// What a cursor is bound to: the query's SQL before any cursor condition,
/// its parameters, and its ORDER BY.
pub struct Query<'a> {
    pub sql: &'a str,
    pub params: &'a [Param],
    pub order: &'a str,
}

fn mac(key: &CursorKey, query: &Query<'_>, payload: &[u8]) -> [u8; TAG] {
    let mut sip_key = [0u8; 16];
    sip_key.copy_from_slice(&key.0[..16]);
    let mut mac = SipHasher24::new_with_key(&sip_key);
    // Each part with its length, so no two inputs run together.
    let mut part = |bytes: &[u8]| {
        mac.write_u64(bytes.len() as u64);
        mac.write(bytes);
    };
    part(b"kai-fusion/cursor");
    part(query.sql.as_bytes());
    for param in query.params {
        let (kind, bytes): (u8, std::borrow::Cow<'_, [u8]>) = match param {
            Param::Null(ty) => (0, ty.name().as_bytes().into()),
            Param::Int(i) => (1, i.to_le_bytes().to_vec().into()),
            Param::Float(f) => (2, f.to_bits().to_le_bytes().to_vec().into()),
            Param::Text(text) => (3, text.as_bytes().into()),
            Param::Bytes(bytes) => (4, bytes.as_slice().into()),
        };
        part(&[kind]);
        part(&bytes);
    }
    part(query.order.as_bytes());
    part(payload);
    mac.finish128().as_bytes()
}

/// The cursor of the page after the row whose order values are `values`.
pub fn seal(key: &CursorKey, query: &Query<'_>, values: &[Value]) -> String {
    let payload = serde_json::to_vec(values).expect("values serialize");
    let tag = mac(key, query, &payload);
    let mut bytes = payload;
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The order values in `cursor`, if it was sealed for this query and holds
/// `expected` of them.
pub fn open(
    key: &CursorKey,
    query: &Query<'_>,
    cursor: &str,
    expected: usize,
) -> Result<Vec<Value>, QueryError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid_cursor())?;
    if bytes.len() < TAG {
        return Err(invalid_cursor());
    }
    let (payload, tag) = bytes.split_at(bytes.len() - TAG);
    let expected_tag = mac(key, query, payload);
    // Constant-time comparison, as for any MAC.
    let same = tag
        .iter()
        .zip(expected_tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !same {
        return Err(invalid_cursor());
    }
    let values: Vec<Value> = serde_json::from_slice(payload).map_err(|_| invalid_cursor())?;
    if values.len() != expected {
        return Err(invalid_cursor());
    }
    Ok(values)
}

/// The one error for every bad cursor. Its message starts with
/// [`INVALID_CURSOR`], which plugins can rely on.
pub fn invalid_cursor() -> QueryError {
    QueryError::new(format!(
        "{INVALID_CURSOR}: it was edited, or belongs to another listing or query"
    ))
}

/// How the message of a bad cursor starts.
pub const INVALID_CURSOR: &str = "invalid cursor";

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: CursorKey = CursorKey([7; 32]);

    fn query<'a>(sql: &'a str, params: &'a [Param]) -> Query<'a> {
        Query {
            sql,
            params,
            order: " ORDER BY id",
        }
    }

    #[test]
    fn a_cursor_opens_only_for_its_own_query_and_key() {
        let params = [Param::Text("alice".into())];
        let mine = query("SELECT id FROM a WHERE owner = $1", &params);
        let values = [Value::Integer(3), Value::Text("x".into())];
        let cursor = seal(&KEY, &mine, &values);
        assert_eq!(open(&KEY, &mine, &cursor, 2).unwrap().len(), 2);
        // Another table, another filter value, another order, another key.
        let other_params = [Param::Text("bob".into())];
        for other in [
            query("SELECT id FROM b WHERE owner = $1", &params),
            query("SELECT id FROM a WHERE owner = $1", &other_params),
            Query {
                order: " ORDER BY id DESC",
                ..query("SELECT id FROM a WHERE owner = $1", &params)
            },
        ] {
            assert!(open(&KEY, &other, &cursor, 2).is_err());
        }
        assert!(open(&CursorKey([8; 32]), &mine, &cursor, 2).is_err());
        // Edited: any byte changed.
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        bytes[1] ^= 1;
        let edited = URL_SAFE_NO_PAD.encode(bytes);
        let error = open(&KEY, &mine, &edited, 2).unwrap_err();
        assert!(error.0.starts_with(INVALID_CURSOR), "{error}");
        assert!(open(&KEY, &mine, "!!", 2).is_err());
        assert!(open(&KEY, &mine, &cursor, 3).is_err());
    }
}
