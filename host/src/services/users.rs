//! The rules of users and API tokens: who may see whom, unique emails, the
//! last active admin, and what a token's name and lifetime may be.
//! Whether the caller is an admin at all is checked at the edge (an admin
//! route); the rules here are those that depend on the rows.

use crate::domain::{Principal, Role};
use crate::store::Db;
use crate::store::users::{self as rows, UpdateOutcome};
pub use crate::store::users::{NewToken, TokenInfo, TokenOwner, User};
use crate::util::now_micros;

/// Why an operation on users or tokens failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// No such user or token, or not one the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// Input broke a rule; `field` names where.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for UserError {
    fn from(error: sqlx::Error) -> Self {
        UserError::Internal(error.into())
    }
}

/// The principal behind `secret`, if it is a live token of an enabled user.
pub async fn authenticate(db: &Db, secret: &str) -> anyhow::Result<Option<TokenOwner>> {
    rows::authenticate(db, secret).await
}

/// Every user.
pub async fn list(db: &Db) -> anyhow::Result<Vec<User>> {
    rows::list(db).await
}

/// The user `id`, if `principal` may see them (admins see everyone,
/// members only themselves).
pub async fn get(db: &Db, principal: &Principal, id: &str) -> Result<User, UserError> {
    rows::get(db, id)
        .await?
        .filter(|u| principal.is_admin() || u.id == principal.user_id)
        .ok_or_else(|| UserError::NotFound(format!("user {id} not found")))
}

/// The user `id` as a principal who may still act (not disabled): what
/// work they started in the background runs as.
pub async fn acting(db: &Db, id: &str) -> Result<Option<Principal>, sqlx::Error> {
    Ok(rows::get(db, id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .map(|u| Principal::new(u.id, u.role)))
}

/// The caller's own user.
pub async fn me(db: &Db, principal: &Principal) -> Result<User, UserError> {
    rows::get(db, &principal.user_id)
        .await?
        .ok_or_else(|| UserError::NotFound("user not found".into()))
}

/// A plausible email address, lower-cased.
pub fn valid_email(email: &str) -> Result<String, UserError> {
    let email = email.trim().to_ascii_lowercase();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(UserError::Invalid {
            field: "email",
            message: "is not a valid email address",
        })
    }
}

/// The user with `email` (compared lower-cased), if there is one.
pub async fn find_by_email(db: &Db, email: &str) -> anyhow::Result<Option<User>> {
    rows::find_by_email(db, &email.trim().to_ascii_lowercase()).await
}

/// Creates a user; an email is taken at most once.
pub async fn create(db: &Db, email: &str, role: Role) -> Result<User, UserError> {
    let email = valid_email(email)?;
    if rows::find_by_email(db, &email).await?.is_some() {
        return Err(UserError::Conflict(format!(
            "a user with email `{email}` exists"
        )));
    }
    Ok(rows::create(db, &email, role).await?)
}

/// Changes a user's role or disabled state; the last active admin keeps
/// both.
pub async fn update(
    db: &Db,
    id: &str,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<User, UserError> {
    match rows::update(db, id, role, disabled).await? {
        UpdateOutcome::Updated(user) => Ok(user),
        UpdateOutcome::NotFound => Err(UserError::NotFound(format!("user {id} not found"))),
        UpdateOutcome::LastAdmin => Err(UserError::Conflict(
            "this is the last active admin; make another admin first".into(),
        )),
    }
}

/// Whose tokens a request is about: the caller's, or (admins only) those
/// of `user_id`.
pub async fn token_owner(
    db: &Db,
    principal: &Principal,
    user_id: Option<&str>,
) -> Result<String, UserError> {
    match user_id {
        None => Ok(principal.user_id.clone()),
        Some(id) if id == principal.user_id => Ok(id.to_string()),
        Some(id) if principal.is_admin() => rows::get(db, id)
            .await?
            .map(|u| u.id)
            .ok_or_else(|| UserError::NotFound(format!("user {id} not found"))),
        Some(_) => Err(UserError::Denied(
            "only admins manage other users' tokens".into(),
        )),
    }
}

/// The tokens of `owner` (see [`token_owner`]).
pub async fn tokens_of(db: &Db, owner: &str) -> anyhow::Result<Vec<TokenInfo>> {
    rows::tokens_of(db, owner).await
}

/// A token created for `owner`, with its lifetime's end if it has one.
pub struct CreatedToken {
    pub token: NewToken,
    pub owner: String,
    pub name: String,
    pub expires_at: Option<i64>,
}

/// Creates a token named `name` for the user `owner` (see
/// [`token_owner`]), expiring after `days` if set.
pub async fn create_token(
    db: &Db,
    owner: &str,
    name: &str,
    days: Option<u32>,
) -> Result<CreatedToken, UserError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.contains('\0') {
        return Err(UserError::Invalid {
            field: "name",
            message: "1 to 100 characters",
        });
    }
    if days == Some(0) {
        return Err(UserError::Invalid {
            field: "expires_in_days",
            message: "must be at least 1",
        });
    }
    let expires_at = days.map(|days| now_micros() + i64::from(days) * 86_400_000_000);
    let token = rows::create_token(db, owner, name, expires_at).await?;
    Ok(CreatedToken {
        token,
        owner: owner.to_string(),
        name: name.to_string(),
        expires_at,
    })
}

/// Revokes the token `id` if `principal` owns it or is an admin.
pub async fn revoke_token(db: &Db, principal: &Principal, id: &str) -> Result<(), UserError> {
    let token = rows::token(db, id)
        .await?
        .filter(|t| principal.is_admin() || t.user_id == principal.user_id)
        .ok_or_else(|| UserError::NotFound(format!("token {id} not found")))?;
    Ok(rows::revoke_token(db, &token.id).await?)
}
