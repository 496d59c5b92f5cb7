//! What the administrative `kai` commands do. They work directly on the
//! database and key file the server uses (a running server picks up new
//! keys by itself).

use crate::cli::{KeysCommand, StoreArgs, TokenCommand, UserCommand};
use crate::config::Config;
use crate::db::Db;
use crate::db::users::{self, Role};
use crate::secrets::KeyRing;
use crate::secrets::store::{self, Keys};
use anyhow::{Context, bail};
use zeroize::Zeroizing;

async fn open(store: &StoreArgs) -> anyhow::Result<(Config, Db)> {
    let config = store.serve_args().resolve()?;
    let db = match &config.database_url {
        Some(url) => Db::connect(url).await?,
        None => Db::open_sqlite(&config.data_dir).await?,
    };
    db.migrate().await?;
    Ok((config, db))
}

pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            email,
            admin,
            store,
        } => {
            let (_, db) = open(&store).await?;
            let email = email.trim().to_ascii_lowercase();
            if users::find_by_email(&db, &email).await?.is_some() {
                bail!("a user with email {email} exists");
            }
            let role = if admin { Role::Admin } else { Role::Member };
            let user = users::create(&db, &email, role).await?;
            println!("created {} {} ({})", role.as_str(), user.email, user.id);
        }
    }
    Ok(())
}

pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            user,
            name,
            expires_in_days,
            store,
        } => {
            let (_, db) = open(&store).await?;
            let found = users::find_by_email(&db, &user.trim().to_ascii_lowercase())
                .await?
                .with_context(|| format!("no user with email {user}"))?;
            let expires_at =
                expires_in_days.map(|d| crate::util::now_micros() + i64::from(d) * 86_400_000_000);
            let token = users::create_token(&db, &found.id, &name, expires_at).await?;
            // The only time the token is shown.
            println!("{}", token.secret);
        }
    }
    Ok(())
}

fn keys_of(config: &Config) -> anyhow::Result<(KeyRing, Option<Zeroizing<String>>)> {
    let env = std::env::var("KAI_MASTER_KEY").ok().map(Zeroizing::new);
    let ring = KeyRing::load(env.as_deref().map(|s| s.as_str()), &config.key_file())?;
    Ok((ring, env))
}

pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { store } => {
            let (config, db) = open(&store).await?;
            let (ring, _) = keys_of(&config)?;
            let in_use = store::keys_in_use(&db).await?;
            for id in ring.ids() {
                let newest = ring.newest().map(|(n, _)| n) == Some(id);
                let used = in_use.contains(&i64::from(id));
                println!(
                    "key {id}{}{}",
                    if newest { " (encrypts)" } else { "" },
                    if used { " in use" } else { "" }
                );
            }
            for id in in_use
                .iter()
                .filter(|id| !ring.ids().iter().any(|k| i64::from(*k) == **id))
            {
                println!("key {id} MISSING: credentials need it");
            }
        }
        KeysCommand::Generate { store } => {
            let (config, _) = open(&store).await?;
            let (mut ring, _) = keys_of(&config)?;
            let id = ring.generate_into(&config.key_file())?;
            println!(
                "generated key {id} into {}; run `kai keys rotate` to re-encrypt",
                config.key_file().display()
            );
        }
        KeysCommand::Rotate { batch, store } => {
            let (config, db) = open(&store).await?;
            let (ring, env) = keys_of(&config)?;
            let newest = ring
                .newest()
                .map(|(id, _)| id)
                .context("no master key is configured")?;
            let keys = Keys::new(ring, env, config.key_file());
            let moved = store::rotate(&db, &keys, batch.max(1), |done, total| {
                println!("re-encrypted {done}/{total}");
            })
            .await?;
            println!("{moved} credential(s) now under key {newest}");
        }
        KeysCommand::Remove { id, store } => {
            let (config, db) = open(&store).await?;
            if store::keys_in_use(&db).await?.contains(&i64::from(id)) {
                bail!("key {id} still encrypts credentials; run `kai keys rotate` first");
            }
            KeyRing::remove_from(&config.key_file(), id)?;
            println!("removed key {id} from {}", config.key_file().display());
        }
    }
    Ok(())
}
