//! `kai keys ...`: list, generate, rotate, verify and remove the master
//! keys of the credential store, against the database and key file a
//! running server uses.

use super::open;
use crate::cli::{Exit, KeysCommand};
use crate::services::secrets::cipher::Binding;
use crate::services::secrets::registry::{self, KeyStatus, RemoveRefused};
use crate::services::secrets::store;
use crate::services::secrets::{KeyRing, Keys};
use anyhow::{Context, bail};

pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { store } => {
            let (config, db) = open(&store).await?;
            let keys = Keys::load(config.key_file())?;
            registry::sync(&db, &keys).await?;
            let records = registry::records(&db).await?;
            let usage = registry::key_usage(&db).await?;
            let sealing = keys.sealing_key_id();
            let held = keys.ids();
            let mut ids: Vec<u32> = held
                .iter()
                .copied()
                .chain(records.iter().map(|r| r.key_id))
                .chain(usage.iter().map(|(id, _)| *id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            println!(
                "{:<5} {:<12} {:>11}  STATE",
                "KEY", "IN KEY FILE", "CREDENTIALS"
            );
            for id in ids {
                let count = usage.iter().find(|(k, _)| *k == id).map_or(0, |(_, n)| *n);
                let record = records.iter().find(|r| r.key_id == id);
                let in_ring = held.contains(&id);
                let state = match (in_ring, record) {
                    (_, Some(r)) if r.retired_at.is_some() => "retired".to_string(),
                    (true, _) if sealing == Some(id) => "seals new secrets".to_string(),
                    (true, _) => match registry::check(&db, &keys, id).await? {
                        KeyStatus::Mismatch => {
                            "WRONG KEY: not the key the database knows by this id".to_string()
                        }
                        _ => "opens old secrets".to_string(),
                    },
                    (false, _) if count > 0 => {
                        "MISSING: credentials need it; add it to the key file".to_string()
                    }
                    (false, _) => "not in the key file".to_string(),
                };
                println!(
                    "{id:<5} {:<12} {count:>11}  {state}",
                    if in_ring { "yes" } else { "no" }
                );
            }
            let nodes = registry::live_nodes(&db).await?;
            if !nodes.is_empty() {
                println!();
                println!("running servers (by heartbeat):");
                for node in nodes {
                    println!(
                        "  {}: seals under key {}, holds {:?}, seen {}s ago",
                        node.description,
                        node.sealing_key,
                        node.key_ids,
                        node.age_micros / 1_000_000
                    );
                }
            }
            println!();
            println!("`kai keys verify` opens every credential and lists any that are damaged.");
        }
        KeysCommand::Generate { store } => {
            let (config, db) = open(&store).await?;
            let keys = Keys::load(config.key_file())?;
            let mut ring = KeyRing::load(None, &config.key_file())?;
            let above = registry::highest_id(&db)
                .await?
                .max(keys.ids().last().copied().unwrap_or(0));
            let id = ring.generate_into(&config.key_file(), above)?;
            keys.reload();
            registry::check(&db, &keys, id).await?;
            println!(
                "generated key {id} into {}; running servers seal new secrets under it within \
                 {}s. Run `kai keys rotate` to re-seal the existing ones",
                config.key_file().display(),
                registry::HEARTBEAT_EVERY.as_secs()
            );
        }
        KeysCommand::Rotate { batch, store } => {
            let (config, db) = open(&store).await?;
            let keys = Keys::load(config.key_file())?;
            registry::sync(&db, &keys).await?;
            let newest = keys
                .sealing_key_id()
                .context("no usable master key is configured; run `kai keys generate`")?;
            let lacking: Vec<String> = registry::wait_for_nodes(
                &db,
                |node| node.key_ids.contains(&newest),
                |_| println!("waiting for the running servers to read key {newest}..."),
            )
            .await?
            .into_iter()
            .map(|node| node.description)
            .collect();
            if !lacking.is_empty() {
                bail!(
                    "running server(s) {} do not hold key {newest}: they could not read the \
                     credentials this rotation re-seals. Give them the key file and try again",
                    lacking.join(", "),
                );
            }
            let rotation = store::rotate(&db, &keys, batch.max(1), |done, total| {
                println!("re-encrypted {done}/{total}");
            })
            .await?;
            println!(
                "{} credential(s) now under key {}",
                rotation.moved, rotation.key_id
            );
            if !rotation.failed.is_empty() {
                eprintln!(
                    "{} credential(s) could not be opened and stay under their old key:",
                    rotation.failed.len()
                );
                for (id, error) in &rotation.failed {
                    eprintln!("  {id}: {error}");
                }
                return Err(Exit::Partial.into());
            }
        }
        KeysCommand::Verify { store } => {
            let (config, db) = open(&store).await?;
            let keys = Keys::load(config.key_file())?;
            registry::verify_at_start(&db, &keys).await?;
            let unreadable = store::unreadable(&db, &keys).await?;
            let total: i64 = registry::key_usage(&db).await?.iter().map(|(_, n)| n).sum();
            println!(
                "keys: every configured key matches the database's record of its id; \
                 credentials: {} of {total} open",
                total - unreadable.len() as i64
            );
            if !unreadable.is_empty() {
                eprintln!("damaged credentials (their owners can set a new secret):");
                for item in &unreadable {
                    let c = &item.credential;
                    eprintln!(
                        "  {} `{}` of user {} (key {})",
                        c.id, c.name, c.owner, c.key_id
                    );
                }
                return Err(Exit::Partial.into());
            }
        }
        KeysCommand::Remove { id, store } => {
            let (config, db) = open(&store).await?;
            let keys = Keys::load(config.key_file())?;
            registry::sync(&db, &keys).await?;
            if !keys.ids().contains(&id) {
                return Err(RemoveRefused::NotInRing(id).into());
            }
            if keys.sealing_key_id() == Some(id) {
                return Err(RemoveRefused::Sealing(id).into());
            }
            registry::wait_for_nodes(
                &db,
                |node| node.sealing_key != id,
                |_| println!("waiting for the running servers to stop sealing under key {id}..."),
            )
            .await?;
            let check_value = keys.seal_under(id, Binding::KeyCheck, b"retired")?;
            registry::retire(&db, id, check_value).await?;
            KeyRing::remove_from(&config.key_file(), id)?;
            println!("removed key {id} from {}", config.key_file().display());
        }
    }
    Ok(())
}
