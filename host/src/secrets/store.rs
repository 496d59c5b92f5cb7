//! Credentials in the database. The secret (a JSON object) goes in sealed
//! and never comes out through this module's REST-facing functions: they
//! return names, types, timestamps and the plugins allowed to use it. Only
//! [`reveal`] decrypts, for host code that injects a secret into an
//! outbound request, or for a plugin holding the explicit reveal grant.

use super::KeyRing;
use super::cipher::{self, Binding, CryptoError};
use crate::db::Db;
use crate::models::Actor;
use crate::runtime::manifest::is_plugin_name;
use crate::util::{format_micros, now_micros};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::RwLock;
use zeroize::Zeroizing;

const COLUMNS: &str =
    "id, owner, name, service_type, key_id, allowed_plugins, created_at, updated_at";
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
}

impl Credential {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let allowed: String = row.try_get(5)?;
        Ok(Self {
            id: row.try_get(0)?,
            owner: row.try_get(1)?,
            name: row.try_get(2)?,
            service_type: row.try_get(3)?,
            key_id: row.try_get(4)?,
            allowed_plugins: serde_json::from_str(&allowed).unwrap_or_default(),
            created_at: row.try_get(6)?,
            updated_at: row.try_get(7)?,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "service_type": self.service_type,
            "allowed_plugins": self.allowed_plugins,
            "key_id": self.key_id,
            "created_at": format_micros(self.created_at),
            "updated_at": format_micros(self.updated_at),
        })
    }

    fn binding(&self) -> Binding<'_> {
        Binding {
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

/// The key ring, behind a lock: reloaded when a secret needs a key added
/// after start (by `kai keys generate` and `kai keys rotate`), so rotation
/// needs no restart.
pub struct Keys {
    ring: RwLock<KeyRing>,
    env: Option<Zeroizing<String>>,
    file: std::path::PathBuf,
}

impl Keys {
    pub fn new(ring: KeyRing, env: Option<Zeroizing<String>>, file: std::path::PathBuf) -> Self {
        Self {
            ring: RwLock::new(ring),
            env,
            file,
        }
    }

    fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<(u32, Vec<u8>), CryptoError> {
        cipher::seal(
            &self.ring.read().expect("key ring lock"),
            binding,
            plaintext,
        )
    }

    fn open(&self, binding: Binding<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let first = cipher::open(&self.ring.read().expect("key ring lock"), binding, sealed);
        match first {
            Err(CryptoError::UnknownKey(_)) => {
                self.reload();
                cipher::open(&self.ring.read().expect("key ring lock"), binding, sealed)
            }
            other => other,
        }
    }

    /// Re-reads the key sources, keeping the current ring if that fails.
    pub fn reload(&self) {
        match KeyRing::load(self.env.as_deref().map(|s| s.as_str()), &self.file) {
            Ok(ring) if !ring.is_empty() => *self.ring.write().expect("key ring lock") = ring,
            Ok(_) => {}
            Err(error) => tracing::error!(error = %error, "reloading the master keys failed"),
        }
    }

    pub fn newest_id(&self) -> Option<u32> {
        self.ring
            .read()
            .expect("key ring lock")
            .newest()
            .map(|(id, _)| id)
    }
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
    actor: &Actor,
    input: CredentialInput,
) -> Result<Credential, CredentialError> {
    check_input(&input, true)?;
    let now = now_micros();
    let mut credential = Credential {
        id: uuid::Uuid::now_v7().to_string(),
        owner: actor.user_id.clone(),
        name: input.name.unwrap_or_default(),
        service_type: input.service_type.unwrap_or_default(),
        key_id: 0,
        allowed_plugins: input.allowed_plugins.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    let secret = input.secret.expect("checked");
    let (key_id, sealed) = keys.seal(credential.binding(), secret.as_bytes())?;
    credential.key_id = key_id.into();
    let result = sqlx::query(&format!(
        "INSERT INTO credentials ({COLUMNS}, secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&credential.id)
    .bind(&credential.owner)
    .bind(&credential.name)
    .bind(&credential.service_type)
    .bind(credential.key_id)
    .bind(serde_json::to_string(&credential.allowed_plugins).expect("names serialize"))
    .bind(now)
    .bind(now)
    .bind(sealed)
    .execute(db.writer())
    .await;
    match result {
        Ok(_) => Ok(credential),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Err(CredentialError::Conflict(format!(
                "you already have a credential named `{}`",
                credential.name
            )))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(db: &Db, actor: &Actor) -> Result<Vec<Credential>, CredentialError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM credentials WHERE owner = $1 OR $2 = 1 ORDER BY name, id"
    ))
    .bind(&actor.user_id)
    .bind(i64::from(actor.admin))
    .fetch_all(db.reader())
    .await?;
    Ok(rows
        .iter()
        .map(Credential::from_row)
        .collect::<Result<_, _>>()?)
}

pub async fn get(db: &Db, actor: &Actor, id: &str) -> Result<Credential, CredentialError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM credentials WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref()
        .map(Credential::from_row)
        .transpose()?
        .filter(|c| actor.can_see(&c.owner))
        .ok_or_else(|| CredentialError::NotFound(format!("credential {id} not found")))
}

pub async fn update(
    db: &Db,
    keys: &Keys,
    actor: &Actor,
    id: &str,
    input: CredentialInput,
) -> Result<Credential, CredentialError> {
    check_input(&input, false)?;
    let mut credential = get(db, actor, id).await?;
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
    let mut query =
        "UPDATE credentials SET name = $1, service_type = $2, allowed_plugins = $3, updated_at = $4".to_string();
    let sealed = match &input.secret {
        Some(secret) => {
            let (key_id, sealed) = keys.seal(credential.binding(), secret.as_bytes())?;
            credential.key_id = key_id.into();
            query.push_str(", key_id = $6, secret = $7");
            Some(sealed)
        }
        None => None,
    };
    query.push_str(" WHERE id = $5");
    let mut statement = sqlx::query(&query)
        .bind(&credential.name)
        .bind(&credential.service_type)
        .bind(serde_json::to_string(&credential.allowed_plugins).expect("names serialize"))
        .bind(credential.updated_at)
        .bind(&credential.id);
    if let Some(sealed) = sealed {
        statement = statement.bind(credential.key_id).bind(sealed);
    }
    match statement.execute(db.writer()).await {
        Ok(_) => Ok(credential),
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            Err(CredentialError::Conflict(format!(
                "you already have a credential named `{}`",
                credential.name
            )))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(db: &Db, actor: &Actor, id: &str) -> Result<(), CredentialError> {
    let credential = get(db, actor, id).await?;
    sqlx::query("DELETE FROM credentials WHERE id = $1")
        .bind(&credential.id)
        .execute(db.writer())
        .await?;
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
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, secret FROM credentials WHERE owner = $1 AND name = $2"
    ))
    .bind(owner)
    .bind(name)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else {
        return Err(CredentialError::NotFound(format!(
            "you have no credential named `{name}`"
        )));
    };
    let credential = Credential::from_row(&row)?;
    if !credential.allowed_plugins.iter().any(|p| p == plugin) {
        return Err(CredentialError::Denied(format!(
            "credential `{name}` does not allow plugin `{plugin}`; its owner can add it to allowed_plugins"
        )));
    }
    let sealed: Vec<u8> = row.try_get(8)?;
    let plaintext = keys.open(credential.binding(), &sealed)?;
    String::from_utf8(plaintext.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| CredentialError::Crypto(CryptoError::Authentication))
}

/// Re-encrypts every credential not under the newest key, `batch` at a
/// time (each batch one transaction, so the server keeps serving), calling
/// `progress(done, total)` after each batch. Returns how many moved.
pub async fn rotate(
    db: &Db,
    keys: &Keys,
    batch: i64,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, CredentialError> {
    let newest = i64::from(keys.newest_id().ok_or(CryptoError::NoKey)?);
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM credentials WHERE key_id <> $1")
        .bind(newest)
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    let mut done = 0u64;
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, secret FROM credentials WHERE key_id <> $1 ORDER BY id LIMIT $2"
        ))
        .bind(newest)
        .bind(batch)
        .fetch_all(db.reader())
        .await?;
        if rows.is_empty() {
            break;
        }
        let mut tx = db.writer().begin().await?;
        for row in &rows {
            let credential = Credential::from_row(row)?;
            let sealed: Vec<u8> = row.try_get(8)?;
            let plaintext = keys.open(credential.binding(), &sealed)?;
            let (key_id, resealed) = keys.seal(credential.binding(), &plaintext)?;
            // Only if nobody changed it meanwhile (it would then already be
            // under the newest key).
            sqlx::query(
                "UPDATE credentials SET key_id = $1, secret = $2 WHERE id = $3 AND key_id = $4",
            )
            .bind(i64::from(key_id))
            .bind(resealed)
            .bind(&credential.id)
            .bind(credential.key_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        done += rows.len() as u64;
        progress(done, total as u64);
    }
    Ok(done)
}

/// The ids of the keys stored credentials use.
pub async fn keys_in_use(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query("SELECT DISTINCT key_id FROM credentials ORDER BY key_id")
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// Fails unless every stored credential's key is in the ring and opens a
/// sample secret of each: the server must not start unable to decrypt.
pub async fn verify(db: &Db, keys: &Keys) -> anyhow::Result<()> {
    for key_id in keys_in_use(db).await? {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, secret FROM credentials WHERE key_id = $1 LIMIT 1"
        ))
        .bind(key_id)
        .fetch_one(db.reader())
        .await?;
        let credential = Credential::from_row(&row)?;
        let sealed: Vec<u8> = row.try_get(8)?;
        if let Err(error) = keys.open(credential.binding(), &sealed) {
            anyhow::bail!(
                "stored credentials cannot be decrypted with the configured master keys ({error}); \
                 refusing to start. Configure the right keys (KAI_MASTER_KEY or the key file)"
            );
        }
    }
    Ok(())
}
