//! Running a migration plan: DDL for each step, in one transaction (both
//! SQLite and PostgreSQL have transactional DDL, so a failure leaves
//! nothing half-applied), under a database-wide lock on PostgreSQL so that
//! several nodes starting together migrate once, and recording the new
//! definitions in `plugin_models`.

use super::definition::{ModelDef, default_literal, table_name};
use super::plan::{MigrationPlan, PlanError, Step, diff};
use crate::store::query::schema::ColumnType;
use crate::store::query::sql::ident;
use crate::store::{Backend, Db};
use crate::util::now_micros;
use semver::Version;
use sqlx::{AnyConnection, Row};

/// Key of the PostgreSQL advisory lock that serializes schema changes.
const SCHEMA_LOCK: i64 = 0x6b61_6953_6368; // "kaiSch"

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("applying the migration failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// The recorded models of `plugin` and the plugin version that declared them.
pub async fn recorded(
    conn: &mut AnyConnection,
    plugin: &str,
) -> Result<(Vec<ModelDef>, Option<Version>), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT definition, plugin_version FROM plugin_models WHERE plugin = $1 ORDER BY model",
    )
    .bind(plugin)
    .fetch_all(&mut *conn)
    .await?;
    let mut models = Vec::new();
    let mut version = None;
    for row in rows {
        let definition: String = row.try_get(0)?;
        let declared: String = row.try_get(1)?;
        models
            .push(serde_json::from_str(&definition).map_err(|e| {
                sqlx::Error::Decode(format!("stored model definition: {e}").into())
            })?);
        version = Version::parse(&declared).ok().max(version);
    }
    Ok((models, version))
}

/// The plan from what is recorded to `models`, checked against the rules,
/// without changing anything.
pub async fn preview(
    db: &Db,
    plugin: &str,
    version: &Version,
    models: &[ModelDef],
    confirmed: bool,
) -> Result<MigrationPlan, MigrateError> {
    let mut conn = db.reader().acquire().await?;
    let (old, old_version) = recorded(&mut conn, plugin).await?;
    let plan = diff(&old, models)?;
    plan.check(old_version.as_ref(), version, confirmed)?;
    Ok(plan)
}

/// Brings the tables of `plugin` to `models` and records them.
pub async fn migrate(
    db: &Db,
    plugin: &str,
    version: &Version,
    models: &[ModelDef],
    confirmed: bool,
) -> Result<MigrationPlan, MigrateError> {
    // Nothing to lock for when nothing differs (the common restart case).
    let quick = preview(db, plugin, version, models, confirmed).await?;
    if quick.is_empty() {
        record(db, plugin, version, models).await?;
        return Ok(quick);
    }
    let mut tx = db.writer().begin().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    // Re-read under the lock: another node may have migrated meanwhile.
    let (old, old_version) = recorded(&mut tx, plugin).await?;
    let plan = diff(&old, models)?;
    plan.check(old_version.as_ref(), version, confirmed)?;
    for step in &plan.steps {
        for statement in ddl(db.backend(), plugin, models, &old, step) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
    }
    write_records(&mut tx, plugin, version, models, &old).await?;
    tx.commit().await?;
    tracing::info!(plugin, steps = plan.steps.len(), "model migration applied");
    Ok(plan)
}

/// Drops every table of `plugin` and forgets its models.
pub async fn purge(db: &Db, plugin: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    let (old, _) = recorded(&mut tx, plugin).await?;
    for model in &old {
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS {}",
            ident(&table_name(plugin, &model.name))
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM plugin_models WHERE plugin = $1")
        .bind(plugin)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Records the definitions when they equal what is stored but the version
/// moved on (keeps `plugin_version` current).
async fn record(
    db: &Db,
    plugin: &str,
    version: &Version,
    models: &[ModelDef],
) -> Result<(), sqlx::Error> {
    if models.is_empty() {
        return Ok(());
    }
    let mut tx = db.writer().begin().await?;
    sqlx::query("UPDATE plugin_models SET plugin_version = $1 WHERE plugin = $2")
        .bind(version.to_string())
        .bind(plugin)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

async fn write_records(
    conn: &mut AnyConnection,
    plugin: &str,
    version: &Version,
    models: &[ModelDef],
    old: &[ModelDef],
) -> Result<(), sqlx::Error> {
    let now = now_micros();
    for model in models {
        let definition = serde_json::to_string(model).expect("definitions serialize");
        let changed = old.iter().find(|m| m.name == model.name) != Some(model);
        sqlx::query(
            "INSERT INTO plugin_models (plugin, model, table_name, definition, schema_version, plugin_version, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $6) \
             ON CONFLICT (plugin, model) DO UPDATE SET definition = excluded.definition, \
             schema_version = plugin_models.schema_version + $7, plugin_version = excluded.plugin_version, \
             updated_at = excluded.updated_at",
        )
        .bind(plugin)
        .bind(&model.name)
        .bind(table_name(plugin, &model.name))
        .bind(definition)
        .bind(version.to_string())
        .bind(now)
        .bind(i64::from(changed))
        .execute(&mut *conn)
        .await?;
    }
    for model in old {
        if !models.iter().any(|m| m.name == model.name) {
            sqlx::query("DELETE FROM plugin_models WHERE plugin = $1 AND model = $2")
                .bind(plugin)
                .bind(&model.name)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The SQL type of a column on `backend`.
fn sql_type(ty: ColumnType, backend: Backend) -> &'static str {
    match (ty, backend) {
        (ColumnType::String | ColumnType::Json | ColumnType::Uuid, _) => "TEXT",
        // Lists are JSON arrays (see `crate::store::query::values::list_json`).
        (
            ColumnType::StringList
            | ColumnType::IntList
            | ColumnType::FloatList
            | ColumnType::TimestampList
            | ColumnType::UuidList,
            _,
        ) => "TEXT",
        (ColumnType::Int | ColumnType::Timestamp, _) => "BIGINT",
        (ColumnType::Bool, _) => "INTEGER",
        (ColumnType::Float, Backend::Sqlite) => "REAL",
        (ColumnType::Float, Backend::Postgres) => "DOUBLE PRECISION",
    }
}

/// The DDL statements of one step.
fn ddl(
    backend: Backend,
    plugin: &str,
    new: &[ModelDef],
    old: &[ModelDef],
    step: &Step,
) -> Vec<String> {
    let find = |models: &[ModelDef], name: &str| models.iter().find(|m| m.name == name).cloned();
    let column_def = |model: &ModelDef, field: &str| {
        let f = model.field(field).expect("planned fields exist");
        let mut def = format!("{} {}", ident(&f.name), sql_type(f.ty, backend));
        if !f.nullable {
            def.push_str(" NOT NULL");
        }
        if let Some(default) = &f.default {
            def.push_str(" DEFAULT ");
            def.push_str(&default_literal(f.ty, default));
        }
        def
    };
    match step {
        Step::CreateTable { model } => {
            let def = find(new, model).expect("created models exist");
            let mut columns = vec![format!("{} TEXT PRIMARY KEY", ident("id"))];
            columns.extend(def.fields.iter().map(|f| column_def(&def, &f.name)));
            vec![format!(
                "CREATE TABLE {} ({})",
                ident(&table_name(plugin, model)),
                columns.join(", ")
            )]
        }
        Step::DropTable { model } => {
            vec![format!("DROP TABLE {}", ident(&table_name(plugin, model)))]
        }
        Step::AddColumn { model, field } => {
            let def = find(new, model).expect("models exist");
            vec![format!(
                "ALTER TABLE {} ADD COLUMN {}",
                ident(&table_name(plugin, model)),
                column_def(&def, field)
            )]
        }
        Step::DropColumn { model, field } => vec![format!(
            "ALTER TABLE {} DROP COLUMN {}",
            ident(&table_name(plugin, model)),
            ident(field)
        )],
        Step::RetypeColumn { model, field, .. } => {
            let def = find(new, model).expect("models exist");
            let table = ident(&table_name(plugin, model));
            vec![
                format!("ALTER TABLE {table} DROP COLUMN {}", ident(field)),
                format!("ALTER TABLE {table} ADD COLUMN {}", column_def(&def, field)),
            ]
        }
        // Defaults are applied by the host on insert; the column default
        // only ever served to fill existing rows when the field was added.
        Step::ChangeDefault { .. } => Vec::new(),
        Step::CreateIndex { model, index } => {
            let table = table_name(plugin, model);
            let fields: Vec<String> = index.fields.iter().map(|f| ident(f)).collect();
            vec![format!(
                "CREATE {}INDEX {} ON {} ({})",
                if index.unique { "UNIQUE " } else { "" },
                ident(&index.sql_name(&table)),
                ident(&table),
                fields.join(", ")
            )]
        }
        Step::DropIndex { model, index } => {
            let table = table_name(plugin, model);
            let _ = old;
            vec![format!("DROP INDEX {}", ident(&index.sql_name(&table)))]
        }
    }
}

/// Checks that the tables of `plugin`, as recorded, serve `models` without
/// any change: every model and field exists with the same type. A rollback
/// uses this to keep the newer (larger) schema instead of dropping data.
pub async fn check_compatible(
    db: &Db,
    plugin: &str,
    models: &[ModelDef],
) -> Result<(), MigrateError> {
    let mut conn = db.reader().acquire().await?;
    let (recorded, _) = recorded(&mut conn, plugin).await?;
    for model in models {
        let Some(current) = recorded.iter().find(|m| m.name == model.name) else {
            return Err(PlanError::Unsupported(format!(
                "model `{}` no longer exists in the database; this version cannot run on the current schema",
                model.name
            ))
            .into());
        };
        for field in &model.fields {
            match current.field(&field.name) {
                Some(existing) if existing.ty == field.ty => {}
                _ => {
                    return Err(PlanError::Unsupported(format!(
                        "field `{}.{}` differs in the current schema; this version cannot run on it",
                        model.name, field.name
                    ))
                    .into());
                }
            }
        }
    }
    Ok(())
}
