//! What the administrative `kai` commands do.
//!
//! `kai user`, `kai token` and `kai keys` work directly on the database and
//! key file the server uses (a running server picks up new keys by
//! itself); `kai plugin` calls the admin API of a running server.
//!
//! - [`keys`]: the master keys of the credential store.
//! - [`plugin`]: installing and managing plugins on a running server.
//! - [`build`]: building a plugin crate and checking it, with no server.
//! - [`new`]: creating a plugin crate from the built-in template.
//! - [`dev`]: the author's loop: build, install, and again on every save.
//! - [`admin_api`]: the token and the refusals of a server's admin API.

mod admin_api;
mod build;
mod dev;
mod keys;
mod new;
mod plugin;

pub use keys::keys;
pub use plugin::plugin;

use crate::cli::{StoreArgs, TokenCommand, UserCommand};
use crate::config::Config;
use crate::domain::Role;
use crate::services::users;
use crate::store::Db;
use anyhow::Context;

/// The settings and database of `kai serve` with these flags.
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
            let found = users::find_by_email(&db, &user)
                .await?
                .with_context(|| format!("no user with email {user}"))?;
            let created = users::create_token(&db, &found.id, &name, expires_in_days).await?;
            // The only time the token is shown.
            println!("{}", created.token.secret);
        }
    }
    Ok(())
}
