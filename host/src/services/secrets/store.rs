//! Credentials in the database. The secret (a JSON object) goes in sealed
//! and never comes out through this module's REST-facing functions: they
//! return names, types, timestamps and the plugins allowed to use it. Only
//! [`reveal`] decrypts, for host code that injects a secret into an
//! outbound request, or for a plugin holding the explicit reveal grant.
//!
//! A secret is written in the transaction that locks the record of the key
//! it is sealed under (see [`super::registry`]), so it is never written
//! under a key that `kai keys remove` has taken away. A credential whose
//! secret no longer opens (damaged or tampered) answers
//! [`CredentialError::Unreadable`] and affects nothing else.

use super::cipher::{Binding, CryptoError};
use super::keys::Keys;
use super::registry;
use crate::domain::{Principal, is_plugin_name};
use crate::store::Db;
use crate::store::credentials::{self as rows, CredentialRow};
use crate::store::keys::lock_for_sealing;
use crate::util::now_micros;
use zeroize::Zeroizing;

const MAX_SECRET_BYTES: usize = 64 * 1024;

/// A credential as anyone may see it: everything but the secret.
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub service_type: String,
    pub key_id: i64,
    pub allowed_plugins: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Whether the stored secret opens with this server's keys; `None`
    /// where it was not tried.
    pub readable: Option<bool>,
}

impl Credential {
    fn from_row(row: &CredentialRow) -> Self {
        Self {
            id: row.id.clone(),
            owner: row.owner.clone(),
            name: row.name.clone(),
            service_type: row.service_type.clone(),
            key_id: row.key_id,
            allowed_plugins: serde_json::from_str(&row.allowed_plugins).unwrap_or_default(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            readable: None,
        }
    }

    /// A row with whether its secret opens. The plaintext is dropped (and
    /// zeroized) at once.
    fn checked_from_row(row: &CredentialRow, keys: &Keys) -> Self {
        let mut credential = Self::from_row(row);
        credential.readable = Some(open_secret(keys, &credential, &row.secret).is_ok());
        credential
    }

    /// The row that stores this credential with `secret`.
    fn to_row(&self, secret: Vec<u8>) -> CredentialRow {
        CredentialRow {
            id: self.id.clone(),
            owner: self.owner.clone(),
            name: self.name.clone(),
            service_type: self.service_type.clone(),
            key_id: self.key_id,
            allowed_plugins: serde_json::to_string(&self.allowed_plugins).expect("names serialize"),
            created_at: self.created_at,
            updated_at: self.updated_at,
            secret,
        }
    }

    fn binding(&self) -> Binding<'_> {
        Binding::Credential {
            credential_id: &self.id,
            owner: &self.owner,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Denied(String),
    /// The stored secret does not open with its key: it was damaged or
    /// tampered with. Setting a new secret repairs it.
    #[error(
        "the stored secret of credential `{name}` ({id}) cannot be decrypted: it is damaged \
         or was tampered with. Its owner can set a new secret with \
         PATCH /api/v1/credentials/{id}"
    )]
    Unreadable { id: String, name: String },
    /// No key may seal: the ring's keys are all retired, or one the
    /// database lacks could not be registered.
    #[error(
        "no master key of this server may seal new secrets (key {0:?} is retired or unknown \
         to the database); give it the current key file"
    )]
    NoSealingKey(Option<u32>),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn invalid(field: &str, message: impl Into<String>) -> CredentialError {
    CredentialError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// What a create or update carries.
#[derive(Debug, Default)]
pub struct CredentialInput {
    pub name: Option<String>,
    pub service_type: Option<String>,
    /// The secret JSON object; zeroized when dropped.
    pub secret: Option<Zeroizing<String>>,
    pub allowed_plugins: Option<Vec<String>>,
}

fn check_input(input: &CredentialInput, creating: bool) -> Result<(), CredentialError> {
    if let Some(name) = &input.name {
        let ok = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(invalid("name", "1 to 100 letters, digits, `-`, `_` or `.`"));
        }
    } else if creating {
        return Err(invalid("name", "is required"));
    }
    if let Some(service_type) = &input.service_type {
        if service_type.trim().is_empty() || service_type.len() > 100 || service_type.contains('\0')
        {
            return Err(invalid("service_type", "1 to 100 characters"));
        }
    } else if creating {
        return Err(invalid("service_type", "is required"));
    }
    match &input.secret {
        Some(secret) if secret.len() > MAX_SECRET_BYTES => {
            return Err(invalid(
                "secret",
                format!("at most {MAX_SECRET_BYTES} bytes"),
            ));
        }
        None if creating => return Err(invalid("secret", "is required")),
        _ => {}
    }
    if let Some(plugins) = &input.allowed_plugins
        && let Some(bad) = plugins.iter().find(|p| !is_plugin_name(p))
    {
        return Err(invalid(
            "allowed_plugins",
            format!("`{bad}` is not a plugin name"),
        ));
    }
    Ok(())
}

pub async fn create(
    db: &Db,
    keys: &Keys,
    principal: &Principal,
    input: CredentialInput,
) -> Result<Credential, CredentialError> {
    check_input(&input, true)?;
    let now = now_micros();
    let mut credential = Credential {
        id: uuid::Uuid::now_v7().to_string(),
        owner: principal.user_id.clone(),
        name: input.name.unwrap_or_default(),
        service_type: input.service_type.unwrap_or_default(),
        key_id: 0,
        allowed_plugins: input.allowed_plugins.unwrap_or_default(),
        created_at: now,
        updated_at: now,
        readable: Some(true),
    };
    let secret = input.secret.expect("checked");
    let (mut tx, key_id, sealed) =
        seal_in_transaction(db, keys, credential.binding(), secret.as_bytes()).await?;
    credential.key_id = key_id.into();
    if !rows::insert(&mut tx, &credential.to_row(sealed)).await? {
        return Err(name_taken(&credential.name));
    }
    tx.commit().await?;
    Ok(credential)
}

fn name_taken(name: &str) -> CredentialError {
    CredentialError::Conflict(format!("you already have a credential named `{name}`"))
}

/// The credentials `principal` may see, each with whether its secret opens.
pub async fn list(
    db: &Db,
    keys: &Keys,
    principal: &Principal,
) -> Result<Vec<Credential>, CredentialError> {
    let rows = rows::list(db, &principal.user_id, principal.is_admin()).await?;
    Ok(rows
        .iter()
        .map(|row| Credential::checked_from_row(row, keys))
        .collect())
}

/// Credential `id` if `principal` may see it, with whether its secret opens.
pub async fn get(
    db: &Db,
    keys: &Keys,
    principal: &Principal,
    id: &str,
) -> Result<Credential, CredentialError> {
    rows::get(db, id)
        .await?
        .map(|row| Credential::checked_from_row(&row, keys))
        .filter(|c| principal.can_see(&c.owner))
        .ok_or_else(|| CredentialError::NotFound(format!("credential {id} not found")))
}

pub async fn update(
    db: &Db,
    keys: &Keys,
    principal: &Principal,
    id: &str,
    input: CredentialInput,
) -> Result<Credential, CredentialError> {
    check_input(&input, false)?;
    let mut credential = get(db, keys, principal, id).await?;
    if let Some(name) = input.name {
        credential.name = name;
    }
    if let Some(service_type) = input.service_type {
        credential.service_type = service_type;
    }
    if let Some(plugins) = input.allowed_plugins {
        credential.allowed_plugins = plugins;
    }
    credential.updated_at = now_micros();
    let (mut tx, sealed) = match &input.secret {
        Some(secret) => {
            let (tx, key_id, sealed) =
                seal_in_transaction(db, keys, credential.binding(), secret.as_bytes()).await?;
            credential.key_id = key_id.into();
            credential.readable = Some(true);
            (tx, Some(sealed))
        }
        None => (db.writer().begin().await?, None),
    };
    let with_secret = sealed.is_some();
    let row = credential.to_row(sealed.unwrap_or_default());
    if !rows::update(&mut tx, &row, with_secret).await? {
        return Err(name_taken(&credential.name));
    }
    tx.commit().await?;
    Ok(credential)
}

/// Seals `plaintext` under a key the database lets seal, and opens the
/// write transaction holding that key's record locked. A key found retired
/// (or not yet registered) makes the server sync with the database and try
/// once more.
async fn seal_in_transaction<'d>(
    db: &'d Db,
    keys: &Keys,
    binding: Binding<'_>,
    plaintext: &[u8],
) -> Result<(sqlx::Transaction<'d, sqlx::Any>, u32, Vec<u8>), CredentialError> {
    let mut last = None;
    for _ in 0..2 {
        let (key_id, sealed) = match keys.seal(binding, plaintext) {
            Ok(sealed) => sealed,
            Err(CryptoError::NoKey) => return Err(CredentialError::NoSealingKey(last)),
            Err(error) => return Err(error.into()),
        };
        let mut tx = db.writer().begin().await?;
        if lock_for_sealing(&mut tx, key_id).await? {
            return Ok((tx, key_id, sealed));
        }
        tx.rollback().await?;
        last = Some(key_id);
        registry::sync(db, keys).await?;
    }
    Err(CredentialError::NoSealingKey(last))
}

pub async fn delete(
    db: &Db,
    keys: &Keys,
    principal: &Principal,
    id: &str,
) -> Result<(), CredentialError> {
    let credential = get(db, keys, principal, id).await?;
    rows::delete(db, &credential.id).await?;
    Ok(())
}

/// The secret of `owner`'s credential `name` for `plugin`, if the owner
/// allowed that plugin. The caller checks the plugin's grant.
pub async fn reveal(
    db: &Db,
    keys: &Keys,
    owner: &str,
    name: &str,
    plugin: &str,
) -> Result<Zeroizing<String>, CredentialError> {
    let Some(row) = rows::by_name(db, owner, name).await? else {
        return Err(CredentialError::NotFound(format!(
            "you have no credential named `{name}`"
        )));
    };
    let credential = Credential::from_row(&row);
    if !credential.allowed_plugins.iter().any(|p| p == plugin) {
        return Err(CredentialError::Denied(format!(
            "credential `{name}` does not allow plugin `{plugin}`; its owner can add it to allowed_plugins"
        )));
    }
    open_secret(keys, &credential, &row.secret)
}

/// Opens a credential's stored secret.
fn open_secret(
    keys: &Keys,
    credential: &Credential,
    sealed: &[u8],
) -> Result<Zeroizing<String>, CredentialError> {
    let unreadable = || CredentialError::Unreadable {
        id: credential.id.clone(),
        name: credential.name.clone(),
    };
    let plaintext = keys
        .open(credential.binding(), sealed)
        .map_err(|error| match error {
            e if registry::is_damage(&e) => unreadable(),
            e => CredentialError::Crypto(e),
        })?;
    String::from_utf8(plaintext.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| unreadable())
}

/// What a rotation did.
#[derive(Debug, Default)]
pub struct Rotation {
    /// The key every moved credential is now sealed under.
    pub key_id: u32,
    pub moved: u64,
    /// Credentials that could not be opened, with why: they stay under
    /// their old key.
    pub failed: Vec<(String, CredentialError)>,
}

/// Re-seals every credential not under the sealing key, `batch` at a time
/// (each batch one transaction, so the server keeps serving), calling
/// `progress(done, total)` after each batch. A credential that does not open
/// is skipped and reported; the rest move.
pub async fn rotate(
    db: &Db,
    keys: &Keys,
    batch: i64,
    mut progress: impl FnMut(u64, u64),
) -> Result<Rotation, CredentialError> {
    registry::sync(db, keys).await?;
    let key_id = keys.sealing_key_id().ok_or(CryptoError::NoKey)?;
    let target = i64::from(key_id);
    let total = rows::count_not_under(db, target).await?;
    let mut rotation = Rotation {
        key_id,
        ..Rotation::default()
    };
    let mut after = String::new();
    loop {
        let page = rows::page(db, Some(target), &after, batch).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        let mut tx = db.writer().begin().await?;
        if !lock_for_sealing(&mut tx, key_id).await? {
            return Err(CredentialError::NoSealingKey(Some(key_id)));
        }
        for row in &page {
            let credential = Credential::from_row(row);
            let plaintext = match open_secret(keys, &credential, &row.secret) {
                Ok(plaintext) => plaintext,
                Err(error) => {
                    rotation.failed.push((credential.id, error));
                    continue;
                }
            };
            let resealed = keys.seal_under(key_id, credential.binding(), plaintext.as_bytes())?;
            // Only if nobody changed it meanwhile (it would then already be
            // under the sealing key).
            if rows::reseal(
                &mut tx,
                &credential.id,
                credential.key_id,
                target,
                &resealed,
            )
            .await?
            {
                rotation.moved += 1;
            }
        }
        tx.commit().await?;
        progress(rotation.moved + rotation.failed.len() as u64, total as u64);
    }
    Ok(rotation)
}

/// A credential whose secret does not open.
#[derive(Debug)]
pub struct Unreadable {
    pub credential: Credential,
    pub error: CredentialError,
}

/// Opens every stored secret and returns those that fail (`kai keys
/// verify`).
pub async fn unreadable(db: &Db, keys: &Keys) -> Result<Vec<Unreadable>, CredentialError> {
    let mut found = Vec::new();
    let mut after = String::new();
    loop {
        let page = rows::page(db, None, &after, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for row in &page {
            let credential = Credential::from_row(row);
            if let Err(error) = open_secret(keys, &credential, &row.secret) {
                found.push(Unreadable { credential, error });
            }
        }
    }
    Ok(found)
}
