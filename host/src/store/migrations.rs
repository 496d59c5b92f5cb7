//! The host's own tables, migrated in order. One source, `migrations/`,
//! written for SQLite; PostgreSQL's text differs only in the names of two
//! types, so it is derived rather than kept as a twin. The derived text is
//! exactly what the earlier per-backend files held, so databases migrated
//! by earlier releases keep their recorded checksums.

use super::Backend;
use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use std::borrow::Cow;

/// The migrations as written, for SQLite.
static SOURCE: Migrator = sqlx::migrate!("../migrations");

/// Where PostgreSQL names a type differently: (SQLite, PostgreSQL).
const POSTGRES_TYPES: &[(&str, &str)] = &[
    ("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"),
    ("BLOB", "BYTEA"),
];

/// The migrations for `backend`.
pub async fn migrator(backend: Backend) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(ForBackend(backend)).await
}

/// The SQL of one migration as `backend` runs it: lines between
/// `-- begin sqlite` and `-- end sqlite` (or `postgres`) only on that
/// backend, where the engines differ beyond type names (full-text search).
fn sql_for(backend: Backend, sql: &str) -> String {
    let sql = only_for(backend, sql);
    match backend {
        Backend::Sqlite => sql,
        Backend::Postgres => POSTGRES_TYPES
            .iter()
            .fold(sql, |sql, (sqlite, postgres)| sql.replace(sqlite, postgres)),
    }
}

/// `sql` without the sections of the other backend. Text without sections
/// (every migration before 0009) comes back unchanged, so its checksum
/// does too.
fn only_for(backend: Backend, sql: &str) -> String {
    if !sql.contains("-- begin ") {
        return sql.to_string();
    }
    let mine = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let mut kept = String::with_capacity(sql.len());
    let mut section: Option<&str> = None;
    for line in sql.split_inclusive('\n') {
        let marker = line.trim();
        if let Some(name) = marker.strip_prefix("-- begin ") {
            section = Some(name);
        } else if marker.starts_with("-- end ") {
            section = None;
        } else if section.is_none_or(|name| name == mine) {
            kept.push_str(line);
        }
    }
    kept
}

/// [`SOURCE`] as one backend runs it.
#[derive(Debug)]
struct ForBackend(Backend);

impl MigrationSource<'static> for ForBackend {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = SOURCE
            .iter()
            .map(|m| {
                Migration::new(
                    m.version,
                    m.description.clone(),
                    m.migration_type,
                    Cow::Owned(sql_for(self.0, &m.sql)),
                    m.no_tx,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-384 of each migration as released, per backend: what databases
    /// migrated by earlier releases recorded. They must never change.
    const RELEASED: &[(i64, &str, &str)] = &[
        (
            1,
            "3110cfcce0c6502c70f784256fc0806748f2a38cd83c0d75ed2b8514dd956a7a5e035a9df6a3f9a25a3c8ea7e95fd37e",
            "9b187e33b631b675e7be085f63dbf7c094fed4c2d88aa674ed01ce0bc85162d4d90c91397cccac227ba6bedafcf16d0d",
        ),
        (
            2,
            "134bb8d7f13e157c3c9d86855bf6a939d3fbd932db66f82c1328a85dabbff7747b0e7b6dfe5e6de7aadc3aa3b7c786d7",
            "4fa87192a5745174515c2b12334f3eea2ead194b86072aa3d239de9f1bac90e66bba2d77524dcbfa82e27719f32ab548",
        ),
        (
            3,
            "a84062693999640f19b790dfc2066d7227b137d1422543224b61dbfc704411239e1193fdd2eea3a95dfc5d6260af9c14",
            "21624791978f558fb7cec4afc74c470cab0f6af84544241af773286e9e9733be40f7d5e0f085fce751ed675ae6679805",
        ),
        (
            4,
            "ac58cb54def95148d220243f8c708ff9baff0bd0f595a2fb513cb9a140345c60c5c8462a029b01474612a3a45a7c2b23",
            "ac58cb54def95148d220243f8c708ff9baff0bd0f595a2fb513cb9a140345c60c5c8462a029b01474612a3a45a7c2b23",
        ),
        (
            5,
            "d0ec4fb30832b8180239cfb133123aacedd9b168dffd0f1f87215d4627313f489a551bd0b413bdcb49540a980ca6a424",
            "d0ec4fb30832b8180239cfb133123aacedd9b168dffd0f1f87215d4627313f489a551bd0b413bdcb49540a980ca6a424",
        ),
        (
            6,
            "c0443fbd3a2778d0528a5de095e4eee7c329a705eaea715672ee8b24b2a3d009b3882d77135ba6cf158636c931b514ca",
            "d202e44effa90108d899a6a0a48ff528f1f213ae72668adde418a24df29b3b1ca89f5c36e6be938d71b5077d5fdfd3ab",
        ),
    ];

    async fn checksums(backend: Backend) -> Vec<(i64, String)> {
        migrator(backend)
            .await
            .unwrap()
            .iter()
            .map(|m| (m.version, hex::encode(&m.checksum)))
            .collect()
    }

    #[tokio::test]
    async fn released_migrations_keep_their_checksums_on_both_backends() {
        let sqlite = checksums(Backend::Sqlite).await;
        let postgres = checksums(Backend::Postgres).await;
        for (version, on_sqlite, on_postgres) in RELEASED {
            let found = |all: &[(i64, String)]| {
                all.iter()
                    .find(|(v, _)| v == version)
                    .map(|(_, sum)| sum.clone())
            };
            assert_eq!(
                found(&sqlite).as_deref(),
                Some(*on_sqlite),
                "SQLite {version}"
            );
            assert_eq!(
                found(&postgres).as_deref(),
                Some(*on_postgres),
                "PostgreSQL {version}"
            );
        }
    }

    #[test]
    fn each_backend_keeps_its_own_sections() {
        let sql =
            "A;\n-- begin sqlite\nS;\n-- end sqlite\n-- begin postgres\nP;\n-- end postgres\nB;\n";
        assert_eq!(sql_for(Backend::Sqlite, sql), "A;\nS;\nB;\n");
        assert_eq!(sql_for(Backend::Postgres, sql), "A;\nP;\nB;\n");
    }

    #[test]
    fn postgres_gets_its_own_type_names() {
        let sql = "id INTEGER PRIMARY KEY AUTOINCREMENT, v BLOB NOT NULL";
        assert_eq!(sql_for(Backend::Sqlite, sql), sql);
        assert_eq!(
            sql_for(Backend::Postgres, sql),
            "id BIGSERIAL PRIMARY KEY, v BYTEA NOT NULL"
        );
    }
}
