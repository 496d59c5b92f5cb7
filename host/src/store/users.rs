//! Users and their API tokens.
//!
//! A token is 256 random bits, shown once when created and stored only as
//! its SHA-256: a leaked database does not leak working tokens, and a
//! high-entropy secret needs no slow password hash.

use super::Db;
use crate::domain::{Principal, Role};
use crate::util::now_micros;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Prefix that makes KAI-Fusion tokens recognisable (for secret scanners).
const TOKEN_PREFIX: &str = "kai_";

/// How stale `last_used_at` may get before an authentication refreshes it;
/// keeps a busy client from turning every request into a write.
const LAST_USED_RESOLUTION_MICROS: i64 = 60 * 1_000_000;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// A token as anyone may see it: never the secret, never its hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const USER_COLUMNS: &str = "id, email, role, created_at, disabled_at";

pub async fn list(db: &Db) -> anyhow::Result<Vec<User>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id"
    ))
    .fetch_all(db.reader())
    .await?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await
}

pub async fn find_by_email(db: &Db, email: &str) -> anyhow::Result<Option<User>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(db.reader())
    .await?)
}

/// What [`update`] did.
#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(User),
    NotFound,
    /// Refused: the change would leave no active admin.
    LastAdmin,
}

/// Changes a user's role or disabled state, unless that leaves no active
/// admin. The check and the change are one transaction in which the active
/// admins are locked (`FOR UPDATE` on PostgreSQL; SQLite has one writer), so
/// two admins disabling each other at once cannot both succeed.
pub async fn update(
    db: &Db,
    id: &str,
    role: Option<Role>,
    disabled: Option<bool>,
) -> anyhow::Result<UpdateOutcome> {
    let mut tx = db.writer().begin().await?;
    if db.backend() == super::Backend::Postgres {
        sqlx::query("SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL FOR UPDATE")
            .fetch_all(&mut *tx)
            .await?;
    }
    let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Ok(UpdateOutcome::NotFound);
    }
    if let Some(role) = role {
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(disabled) = disabled {
        // Disabling keeps the first time it happened.
        sqlx::query("UPDATE users SET disabled_at = CASE WHEN $1 THEN COALESCE(disabled_at, $2) ELSE NULL END WHERE id = $3")
            .bind(disabled)
            .bind(now_micros())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let admins: i64 =
        sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
    if admins == 0 {
        tx.rollback().await?;
        return Ok(UpdateOutcome::LastAdmin);
    }
    let user: User = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(UpdateOutcome::Updated(user))
}

const TOKEN_COLUMNS: &str = "id, user_id, name, created_at, expires_at, revoked_at, last_used_at";

pub async fn tokens_of(db: &Db, user_id: &str) -> anyhow::Result<Vec<TokenInfo>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(db.reader())
    .await?)
}

pub async fn token(db: &Db, id: &str) -> anyhow::Result<Option<TokenInfo>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.reader())
    .await?)
}

/// Revokes a token; it stops working at once.
pub async fn revoke_token(db: &Db, id: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_micros())
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Who a valid token belongs to.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub principal: Principal,
    pub email: String,
}

/// A freshly created token: the secret exists only in this value.
pub struct NewToken {
    pub id: String,
    pub secret: String,
}

pub async fn count(db: &Db) -> anyhow::Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(db.reader())
        .await?
        .try_get(0)?)
}

pub async fn create(db: &Db, email: &str, role: Role) -> anyhow::Result<User> {
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.to_string(),
        role,
        created_at: now_micros(),
        disabled_at: None,
    };
    sqlx::query("INSERT INTO users (id, email, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&user.id)
        .bind(&user.email)
        .bind(role.as_str())
        .bind(user.created_at)
        .execute(db.writer())
        .await?;
    Ok(user)
}

pub async fn create_token(
    db: &Db,
    user_id: &str,
    name: &str,
    expires_at: Option<i64>,
) -> anyhow::Result<NewToken> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(name)
    .bind(hash_token(&secret))
    .bind(now_micros())
    .bind(expires_at)
    .execute(db.writer())
    .await?;
    Ok(NewToken { id, secret })
}

/// The principal behind `secret`, if it is a live token of an enabled user.
pub async fn authenticate(db: &Db, secret: &str) -> anyhow::Result<Option<TokenOwner>> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let now = now_micros();
    let row = sqlx::query(
        "SELECT t.id, t.last_used_at, u.id, u.email, u.role \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
           AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled_at IS NULL",
    )
    .bind(hash_token(secret))
    .bind(now)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let token_id: String = row.try_get(0)?;
    let owner = TokenOwner {
        principal: Principal::new(
            row.try_get::<String, _>(2)?,
            Role::parse(row.try_get::<String, _>(4)?.as_str()),
        ),
        email: row.try_get(3)?,
    };
    let last_used: Option<i64> = row.try_get(1)?;
    if last_used.is_none_or(|t| now - t > LAST_USED_RESOLUTION_MICROS) {
        // Off the request's path: a failed bookkeeping write must not fail
        // the request.
        let db = db.clone();
        tokio::spawn(async move {
            let result = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&token_id)
                .execute(db.writer())
                .await;
            if let Err(error) = result {
                tracing::warn!(%error, "could not record token use");
            }
        });
    }
    Ok(Some(owner))
}

fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
