//! The `credentials` table. Rows carry the secret sealed; sealing and
//! opening, and who may see what, are `crate::services::secrets`'s.

use super::{Db, is_unique_violation};
use sqlx::{AnyConnection, Row};

const COLUMNS: &str =
    "id, owner, name, service_type, key_id, allowed_plugins, created_at, updated_at, secret";

/// A credential row, its secret still sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub service_type: String,
    /// The master key the secret is sealed under.
    pub key_id: i64,
    /// The plugins its owner allowed, as a JSON list of names.
    pub allowed_plugins: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `version || key id || nonce || ciphertext+tag`.
    pub secret: Vec<u8>,
}

/// Writes a new credential in `conn`'s transaction; `false` (and nothing
/// written) when its owner already has one of that name.
pub async fn insert(conn: &mut AnyConnection, row: &CredentialRow) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(&format!(
        "INSERT INTO credentials ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&row.id)
    .bind(&row.owner)
    .bind(&row.name)
    .bind(&row.service_type)
    .bind(row.key_id)
    .bind(&row.allowed_plugins)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(&row.secret)
    .execute(conn)
    .await;
    unless_name_taken(result)
}

/// Writes a credential's name, type, allowed plugins and `updated_at`, and
/// with `with_secret` its key id and sealed secret too; `false` (and
/// nothing written) when the new name is taken.
pub async fn update(
    conn: &mut AnyConnection,
    row: &CredentialRow,
    with_secret: bool,
) -> Result<bool, sqlx::Error> {
    let sql = if with_secret {
        "UPDATE credentials SET name = $1, service_type = $2, allowed_plugins = $3, \
         updated_at = $4, key_id = $6, secret = $7 WHERE id = $5"
    } else {
        "UPDATE credentials SET name = $1, service_type = $2, allowed_plugins = $3, \
         updated_at = $4 WHERE id = $5"
    };
    let mut statement = sqlx::query(sql)
        .bind(&row.name)
        .bind(&row.service_type)
        .bind(&row.allowed_plugins)
        .bind(row.updated_at)
        .bind(&row.id);
    if with_secret {
        statement = statement.bind(row.key_id).bind(&row.secret);
    }
    unless_name_taken(statement.execute(conn).await)
}

fn unless_name_taken<T>(result: Result<T, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Moves credential `id` from key `from` to key `to` with its re-sealed
/// secret, only if nobody changed its key meanwhile; whether it moved.
pub async fn reseal(
    conn: &mut AnyConnection,
    id: &str,
    from: i64,
    to: i64,
    secret: &[u8],
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE credentials SET key_id = $1, secret = $2 WHERE id = $3 AND key_id = $4",
    )
    .bind(to)
    .bind(secret)
    .bind(id)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM credentials WHERE id = $1")
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM credentials WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await
}

/// `owner`'s credential called `name`.
pub async fn by_name(
    db: &Db,
    owner: &str,
    name: &str,
) -> Result<Option<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credentials WHERE owner = $1 AND name = $2"
    ))
    .bind(owner)
    .bind(name)
    .fetch_optional(db.reader())
    .await
}

/// `owner`'s credentials, or everyone's with `all`, by name.
pub async fn list(db: &Db, owner: &str, all: bool) -> Result<Vec<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credentials WHERE owner = $1 OR $2 = 1 ORDER BY name, id"
    ))
    .bind(owner)
    .bind(i64::from(all))
    .fetch_all(db.reader())
    .await
}

/// Up to `limit` credentials after id `after`, in id order; with
/// `not_under`, only those sealed under another key.
pub async fn page(
    db: &Db,
    not_under: Option<i64>,
    after: &str,
    limit: i64,
) -> Result<Vec<CredentialRow>, sqlx::Error> {
    // Key ids are positive: every credential is under a key other than -1.
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credentials WHERE key_id <> $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(not_under.unwrap_or(-1))
    .bind(after)
    .bind(limit)
    .fetch_all(db.reader())
    .await
}

/// How many credentials are sealed under another key than `key_id`.
pub async fn count_not_under(db: &Db, key_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) FROM credentials WHERE key_id <> $1")
        .bind(key_id)
        .fetch_one(db.reader())
        .await?
        .try_get(0)
}

/// The credentials sealed under `key_id`.
pub async fn sealed_under(db: &Db, key_id: i64) -> Result<Vec<CredentialRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM credentials WHERE key_id = $1"
    ))
    .bind(key_id)
    .fetch_all(db.reader())
    .await
}
