//! What the administrative `kai` commands do. They work directly on the
//! database and key file the server uses (a running server picks up new
//! keys by itself).

use crate::cli::{KeysCommand, PluginArgs, PluginCommand, StoreArgs, TokenCommand, UserCommand};
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

/// `kai plugin ...`: calls the admin API of a running server and prints
/// its answer.
pub async fn plugin(args: PluginArgs) -> anyhow::Result<()> {
    let token = match args.remote.token {
        Some(token) => token,
        None => std::fs::read_to_string("data/admin.token")
            .map(|t| t.trim().to_string())
            .context("no token: pass --token or set KAI_TOKEN")?,
    };
    let base = format!(
        "{}/api/v1/admin/plugins",
        args.remote.server.trim_end_matches('/')
    );
    let client = reqwest::Client::new();
    let request = match args.command {
        PluginCommand::Install {
            file,
            force,
            confirm_destructive,
        } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            client
                .post(format!(
                    "{base}?force={force}&confirm_destructive={confirm_destructive}"
                ))
                .header("content-type", "application/wasm")
                .body(wasm)
        }
        PluginCommand::List => client.get(&base),
        PluginCommand::Show { name } => client.get(format!("{base}/{name}")),
        PluginCommand::Rollback { name } => client.post(format!("{base}/{name}/rollback")),
        PluginCommand::Remove { name, purge } => {
            client.delete(format!("{base}/{name}?purge={purge}"))
        }
        PluginCommand::Grant { name } => client
            .post(format!("{base}/{name}/grants"))
            .json(&serde_json::json!({ "accept_requested": true })),
        PluginCommand::Disable { name } => client.post(format!("{base}/{name}/disable")),
        PluginCommand::Enable { name } => client.post(format!("{base}/{name}/enable")),
    };
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("calling {}", args.remote.server))?;
    let status = response.status();
    let text = response.text().await?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or(text.clone()))
        .unwrap_or(text);
    if !pretty.is_empty() {
        println!("{pretty}");
    }
    if !status.is_success() {
        bail!("the server answered {status}");
    }
    Ok(())
}
