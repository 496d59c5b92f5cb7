//! Listing cursors. A cursor carries the order values of a page's last row
//! and a MAC, under a key of the deployment, over those values and the query
//! they belong to (its table, filter, scope, fields and order). A cursor
//! edited by hand, or taken to another listing, fails the check and is
//! refused as invalid.

use super::QueryError;
use super::sql::Param;
use crate::runtime::bindings::kai::fusion::types::Value;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("any key length works");
    mac.update(b"kai-fusion/cursor\0");
    mac.update(query.sql.as_bytes());
    mac.update(b"\0");
    // The parameters' debug form: stable for a given build, which is all a
    // cursor needs to outlive.
    let _ =
        std::fmt::Write::write_fmt(&mut MacWriter(&mut mac), format_args!("{:?}", query.params));
    mac.update(b"\0");
    mac.update(query.order.as_bytes());
    mac.update(b"\0");
    mac.update(payload);
    let mut tag = [0u8; TAG];
    tag.copy_from_slice(&mac.finalize().into_bytes()[..TAG]);
    tag
}

/// Feeds formatted text into a MAC without building a string.
struct MacWriter<'a>(&'a mut Hmac<Sha256>);

impl std::fmt::Write for MacWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
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
