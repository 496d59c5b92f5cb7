//! The native baseline: the same handlers as the plugins, written as plain
//! axum routes in a tiny server built from the same dependencies (axum,
//! tokio, sqlx, serde_json), with no plugin boundary, no middleware and no
//! authentication cache of its own.
//!
//! - `GET /api/v1/hello/{name}`: the hello plugin's answer.
//! - `GET /api/v1/documents/{id}/versions`: doc-versioning's list, with the
//!   same SQL (token check, visibility check, newest-first page).
//! - `PATCH /api/v1/documents/{id}`: a title change plus its version row,
//!   in one transaction, with the same SQL as the host and the hook.
//! - `POST /api/v1/state-probe/threads/{id}/advance`: the `state-probe`
//!   fixture's step, read the newest checkpoint and put the next on top of
//!   it by compare-and-swap, with the StateManager's SQL.

use crate::servers::NativeArgs;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

#[derive(Clone)]
struct Pools {
    read: AnyPool,
    write: AnyPool,
}

/// The host stores SHA-256 of tokens; the baseline computes the same.
fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn serve(args: NativeArgs) -> anyhow::Result<()> {
    // Like the host: reads on a pool, writes through one connection (SQLite
    // has one writer; queueing in-process beats spinning on SQLITE_BUSY).
    let pool = match &args.database {
        Some(path) => {
            sqlx::any::install_default_drivers();
            // The host's SQLite library settings too: a route compiled into
            // kai would run with them.
            kai_host::store::sqlite_library::configure();
            let url = format!("sqlite://{}?mode=rw", path.display());
            let options = |connections| {
                // The host's pool settings, so the ratio is the boundary's.
                AnyPoolOptions::new().max_connections(connections).test_before_acquire(false).after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::Executor::execute(
                            conn,
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
            };
            Some(Pools {
                read: options(8).connect(&url).await?,
                write: options(1).connect(&url).await?,
            })
        }
        None => None,
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/hello/{name}", get(hello))
        .route("/api/v1/documents/{id}/versions", get(versions))
        .route("/api/v1/documents/{id}", axum::routing::patch(update))
        .route(
            "/api/v1/state-probe/threads/{id}/advance",
            axum::routing::post(advance),
        )
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn hello(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ "message": format!("hello, {name}") }))
}

/// The caller's user id and whether they are an admin.
async fn caller(pool: &AnyPool, headers: &HeaderMap) -> Result<(String, bool), StatusCode> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let row = sqlx::query(
        "SELECT u.id, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
    )
    .bind(hash_token(token))
    .fetch_optional(pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
    .ok_or(StatusCode::UNAUTHORIZED)?;
    let role: String = row.get(1);
    Ok((row.get(0), role == "admin"))
}

async fn versions(
    State(pools): State<Option<Pools>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let pool = pools.ok_or(StatusCode::NOT_FOUND)?.read;
    let (user, admin) = caller(&pool, &headers).await?;
    let latest = sqlx::query(
        "SELECT owner FROM plg_doc_versioning_document_version WHERE document_id = $1 ORDER BY version DESC, id ASC LIMIT 2",
    )
    .bind(&id)
    .fetch_optional(&pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
    .ok_or(StatusCode::NOT_FOUND)?;
    if !admin && latest.get::<String, _>(0) != user {
        return Err(StatusCode::NOT_FOUND);
    }
    let rows = sqlx::query(
        "SELECT id, document_id, version, change_type, changed_fields, title, format, tags, metadata, content_hash, actor, created_at, restored_from \
         FROM plg_doc_versioning_document_version WHERE document_id = $1 ORDER BY version DESC, id ASC LIMIT 51",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let items: Vec<Value> = rows
        .iter()
        .take(50)
        .map(|r| {
            json!({
                "document_id": r.get::<String, _>(1),
                "version": r.get::<i64, _>(2),
                "change_type": r.get::<String, _>(3),
                "changed_fields": serde_json::from_str::<Value>(&r.get::<String, _>(4)).unwrap_or(Value::Null),
                "restored_from": r.get::<Option<i64>, _>(12),
                "title": r.get::<String, _>(5),
                "format": r.get::<String, _>(6),
                "tags": serde_json::from_str::<Value>(&r.get::<String, _>(7)).unwrap_or(Value::Null),
                "metadata": serde_json::from_str::<Value>(&r.get::<String, _>(8)).unwrap_or(Value::Null),
                "content_hash": r.get::<String, _>(9),
                "actor": r.get::<Option<String>, _>(10),
                "created_at": chrono::DateTime::from_timestamp_micros(r.get::<i64, _>(11))
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

async fn update(
    State(pools): State<Option<Pools>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    let pools = pools.ok_or(StatusCode::NOT_FOUND)?;
    let (user, admin) = caller(&pools.read, &headers).await?;
    let pool = pools.write;
    let title = body["title"]
        .as_str()
        .ok_or(StatusCode::UNPROCESSABLE_ENTITY)?
        .to_string();
    let mut tx = pool
        .begin()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let row = sqlx::query("SELECT owner, version, collection_id, content, format, tags, metadata, content_hash FROM documents WHERE id = $1")
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::NOT_FOUND)?;
    let owner: String = row.get(0);
    if !admin && owner != user {
        return Err(StatusCode::NOT_FOUND);
    }
    let version: i64 = row.get(1);
    let now = chrono::Utc::now().timestamp_micros();
    sqlx::query("UPDATE documents SET title = $1, version = $2, updated_at = $3 WHERE id = $4 AND version = $5")
        .bind(&title)
        .bind(version + 1)
        .bind(now)
        .bind(&id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    sqlx::query(
        "INSERT INTO plg_doc_versioning_document_version (id, document_id, collection_id, owner, version, title, content, \
         format, tags, metadata, content_hash, changed_fields, change_type, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '[\"title\"]', 'updated', $12, $13)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&id)
    .bind(row.get::<String, _>(2))
    .bind(&owner)
    .bind(version + 1)
    .bind(&title)
    .bind(row.get::<String, _>(3))
    .bind(row.get::<String, _>(4))
    .bind(row.get::<String, _>(5))
    .bind(row.get::<String, _>(6))
    .bind(row.get::<String, _>(7))
    .bind(&user)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    tx.commit()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(
        json!({ "id": id, "title": title, "version": version + 1 }),
    ))
}

/// Reads the thread and its newest checkpoint, then moves the head by
/// compare-and-swap and inserts the next checkpoint in one transaction:
/// the statements `kai:fusion/state`'s `latest` and `put` run.
async fn advance(
    State(pools): State<Option<Pools>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), StatusCode> {
    let pools = pools.ok_or(StatusCode::NOT_FOUND)?;
    let (user, admin) = caller(&pools.read, &headers).await?;
    let error = |_| StatusCode::INTERNAL_SERVER_ERROR;
    let thread = sqlx::query(
        "SELECT id, owner, plugin, metadata, keep_last, head, head_step, forked_from_thread, \
         forked_from_checkpoint, created_at, updated_at FROM state_threads WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(&pools.read)
    .await
    .map_err(error)?
    .ok_or(StatusCode::NOT_FOUND)?;
    if (!admin && thread.get::<String, _>(1) != user) || thread.get::<String, _>(2) != "state-probe"
    {
        return Err(StatusCode::NOT_FOUND);
    }
    let head: String = thread.get(5);
    let (parent, step) = if head.is_empty() {
        (None, 0)
    } else {
        let latest = sqlx::query(
            "SELECT id, thread_id, parent_id, step, state, metadata, created_at \
             FROM state_checkpoints WHERE id = $1 AND thread_id = $2",
        )
        .bind(&head)
        .bind(&id)
        .fetch_optional(&pools.read)
        .await
        .map_err(error)?
        .ok_or(StatusCode::NOT_FOUND)?;
        (Some(head), latest.get::<i64, _>(3) + 1)
    };
    let checkpoint = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now().timestamp_micros();
    let mut tx = pools.write.begin().await.map_err(error)?;
    let advanced = sqlx::query(
        "UPDATE state_threads SET head = $1, head_step = head_step + 1, updated_at = $2 \
         WHERE id = $3 AND head = $4 AND plugin = $5 RETURNING head_step, keep_last",
    )
    .bind(&checkpoint)
    .bind(now)
    .bind(&id)
    .bind(parent.as_deref().unwrap_or(""))
    .bind("state-probe")
    .fetch_optional(&mut *tx)
    .await
    .map_err(error)?
    .ok_or(StatusCode::CONFLICT)?;
    let new_step: i64 = advanced.get(0);
    sqlx::query(
        "INSERT INTO state_checkpoints (id, thread_id, parent_id, step, state, metadata, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&checkpoint)
    .bind(&id)
    .bind(parent.as_deref())
    .bind(new_step)
    .bind(json!({ "n": step }).to_string())
    .bind("{}")
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(error)?;
    tx.commit().await.map_err(error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": checkpoint, "step": new_step })),
    ))
}
